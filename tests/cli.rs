//! The binary as a subprocess: its flags, its JSON, its one-line errors.
#![cfg(feature = "cli")]

mod common;

use common::tmp;

use fwdrev::npy;
use ndarray::{Array1, Array2, Ix1};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fwdrev(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fwdrev"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn oracle(case: &str, file: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/oracle")
        .join(case)
        .join(file);
    p.to_string_lossy().into_owned()
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "exactly one JSON line: {stdout}"
    );
    serde_json::from_str(&stdout).expect("valid JSON")
}

/// Fails with status 1 and one line on stderr that starts with "fwdrev:" and contains `want`.
fn assert_one_line_error(out: &Output, want: &str) {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("fwdrev: ") && err.contains(want), "{err}");
}

#[test]
fn grad_json_matches_pytorch_in_both_modes() {
    let (a, b, x) = (
        oracle("seed_shape", "A.npy"),
        oracle("seed_shape", "B.npy"),
        oracle("seed_shape", "x.npy"),
    );
    let want = npy::read::<f64, ndarray::IxDyn>(oracle("seed_shape", "grad.npy")).unwrap();
    let f_want = npy::read::<f64, ndarray::IxDyn>(oracle("seed_shape", "f.npy"))
        .unwrap()
        .sum();
    for mode in ["forward", "reverse"] {
        let v = json(&fwdrev(&[
            "grad", "--a", &a, "--b", &b, "--x", &x, "--mode", mode, "--json",
        ]));
        assert_eq!(v["mode"], mode);
        assert!(v["backend"].is_string());
        assert!((v["f"].as_f64().unwrap() - f_want).abs() <= 1e-13 * f_want);
        let g: Vec<f64> = v["grad"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_f64().unwrap())
            .collect();
        assert_eq!(g.len(), 100);
        let scale = want.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        for (p, q) in g.iter().zip(want.iter()) {
            assert!((p - q).abs() <= 1e-12 * scale, "{mode}: {p} vs {q}");
        }
    }
}

#[test]
fn grad_out_writes_the_gradient_as_npy() {
    let out = tmp("g.npy");
    let (a, b, x) = (
        oracle("tall", "A.npy"),
        oracle("tall", "B.npy"),
        oracle("tall", "x.npy"),
    );
    let o = fwdrev(&[
        "grad",
        "--a",
        &a,
        "--b",
        &b,
        "--x",
        &x,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("f = "));
    let g = npy::read::<f64, ndarray::IxDyn>(&out)
        .unwrap()
        .into_dimensionality::<Ix1>()
        .unwrap();
    let want = npy::read::<f64, ndarray::IxDyn>(oracle("tall", "grad.npy"))
        .unwrap()
        .into_dimensionality::<Ix1>()
        .unwrap();
    let scale = want.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    assert!((&g - &want).iter().all(|e| e.abs() <= 1e-12 * scale));
}

#[test]
fn grad_errors_are_one_line_and_nonzero() {
    let (a, b, x) = (
        oracle("tall", "A.npy"),
        oracle("tall", "B.npy"),
        oracle("tall", "x.npy"),
    );
    let wide_b = oracle("wide", "B.npy");
    // A file of int64: a dtype the reader refuses (f4 files are read and widened).
    let int_file = tmp("a_int.npy");
    npy::write(&int_file, Array2::<f64>::ones((40, 3)).view()).unwrap();
    let bytes = std::fs::read(&int_file).unwrap();
    let at = bytes.windows(3).position(|w| w == b"<f8").unwrap();
    let bytes = [&bytes[..at], b"<i8", &bytes[at + 3..]].concat();
    std::fs::write(&int_file, bytes).unwrap();
    let text = tmp("text.npy");
    std::fs::write(&text, "not an array").unwrap();
    let nan_x = tmp("nan_x.npy");
    let mut xv = Array1::<f64>::zeros(3);
    xv[2] = f64::NAN;
    npy::write(&nan_x, xv.view()).unwrap();
    let missing = tmp("missing.npy");
    let cases: [(&[&str], &str); 6] = [
        (
            &[
                "grad",
                "--a",
                missing.to_str().unwrap(),
                "--b",
                &b,
                "--x",
                &x,
            ],
            "missing.npy",
        ),
        (
            &[
                "grad",
                "--a",
                int_file.to_str().unwrap(),
                "--b",
                &b,
                "--x",
                &x,
            ],
            "dtype <i8",
        ),
        (&["grad", "--a", &x, "--b", &b, "--x", &x], "rank 1"),
        (
            &["grad", "--a", &a, "--b", &wide_b, "--x", &x],
            "shape mismatch",
        ),
        (
            &["grad", "--a", text.to_str().unwrap(), "--b", &b, "--x", &x],
            "not an .npy file",
        ),
        (
            &["grad", "--a", &a, "--b", &b, "--x", nan_x.to_str().unwrap()],
            "x has a non-finite entry NaN at index [2]",
        ),
    ];
    for (args, want) in cases {
        assert_one_line_error(&fwdrev(args), want);
    }
}

#[test]
fn time_json_has_the_promised_fields() {
    let v = json(&fwdrev(&[
        "time", "--d", "40", "--d1", "30", "--d2", "20", "--reps", "3", "--json",
    ]));
    assert_eq!(
        (v["d0"].as_u64(), v["d1"].as_u64(), v["d2"].as_u64()),
        (Some(40), Some(30), Some(20))
    );
    assert_eq!(v["dtype"], "f64");
    assert_eq!(v["reps"], 3);
    assert!(v["backend"].is_string());
    assert!(v["bandwidth_gbs"].as_f64().unwrap() > 0.0);
    assert_eq!(
        v["reverse_bytes"].as_f64(),
        Some((2.0 * 40.0 * 30.0 + 30.0 * 20.0) * 8.0)
    );
    for key in ["forward", "reverse", "gemm", "gemv", "read"] {
        let (med, min) = (
            v[key]["median_s"].as_f64().unwrap(),
            v[key]["min_s"].as_f64().unwrap(),
        );
        assert!(min > 0.0 && min <= med, "{key}: {min} {med}");
    }
    // The read's spread brackets its median rate, and reverse mode's ratio to its floor
    // is taken round by round: with its own read, not the median's.
    let [slow, fast] = [0, 1].map(|i| v["bandwidth_spread_gbs"][i].as_f64().unwrap());
    let rate = v["bandwidth_gbs"].as_f64().unwrap();
    assert!(
        0.0 < slow && slow <= rate && rate <= fast,
        "{slow} {rate} {fast}"
    );
    let r = &v["reverse_vs_floor"];
    let [med, min, max] = ["median", "min", "max"].map(|key| r[key].as_f64().unwrap());
    assert!(0.0 < min && min <= med && med <= max, "{r}");
    let v = json(&fwdrev(&[
        "time", "--d", "20", "--mode", "reverse", "--dtype", "f32", "--reps", "1", "--json",
    ]));
    assert_eq!(v["dtype"], "f32");
    assert!(v.get("forward").is_none() && v.get("reverse").is_some());
    // One round: the ratio is the reverse run over the bytes at that round's rate.
    let floor = v["reverse_bytes"].as_f64().unwrap() / (v["bandwidth_gbs"].as_f64().unwrap() * 1e9);
    let want = v["reverse"]["median_s"].as_f64().unwrap() / floor;
    let got = v["reverse_vs_floor"]["median"].as_f64().unwrap();
    assert!((got - want).abs() <= 1e-12 * want, "{got} {want}");
    let v = json(&fwdrev(&[
        "time", "--d", "20", "--mode", "forward", "--reps", "1", "--json",
    ]));
    assert!(v.get("reverse_vs_floor").is_none() && v.get("reverse").is_none());
    // --batch K adds {"k", "median_s", "per_point_s", "floor_s", "vs_floor"}: per point
    // = median / K; the floor is K·2·(d0·d1 + d1·d2) multiply-adds at the bare GEMM's
    // rate (d0·d1·d2 in gemm.median_s), and vs_floor = median / floor.
    let v = json(&fwdrev(&[
        "time", "--d", "30", "--d1", "25", "--d2", "20", "--mode", "reverse", "--batch", "8",
        "--reps", "3", "--json",
    ]));
    let b = &v["batch"];
    assert_eq!(b["k"], 8);
    let [med, per, floor, vs] = ["median_s", "per_point_s", "floor_s", "vs_floor"]
        .map(|key| b[key].as_f64().unwrap_or_else(|| panic!("{key}: {b}")));
    let gemm = v["gemm"]["median_s"].as_f64().unwrap();
    let want = 8.0 * 2.0 * (30.0 * 25.0 + 25.0 * 20.0) * gemm / (30.0 * 25.0 * 20.0);
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * y.abs();
    assert!(med > 0.0 && close(per * 8.0, med), "{b}");
    assert!(close(floor, want) && close(vs, med / floor), "{b}");
    assert_usage_error(&fwdrev(&["time", "--d", "20", "--batch", "0"]), "--batch");
    assert_usage_error(&fwdrev(&["time", "--d", "20", "--reps", "0"]), "--reps");
    assert_usage_error(&fwdrev(&["time", "--d", "0"]), "from 1 to");
}

#[test]
fn demo_checks_then_times() {
    let o = fwdrev(&["demo", "--d", "150", "--reps", "2"]);
    assert!(o.status.success(), "{o:?}");
    let s = String::from_utf8_lossy(&o.stdout);
    for want in [
        "forward vs reverse",
        "finite differences",
        "forward / reverse =",
        "backend:",
    ] {
        assert!(s.contains(want), "{want}: {s}");
    }
}

fn fake_criterion(root: &Path) {
    // forward ∝ d³, reverse ∝ d²: the report must recover the exponents.
    for (group, p, c) in [("forward", 3, 1e-11), ("reverse", 2, 2e-9)] {
        for d in [100usize, 1000, 2000, 4000] {
            let dir = root.join(group).join(d.to_string()).join("new");
            std::fs::create_dir_all(&dir).unwrap();
            let ns = c * (d as f64).powi(p) * 1e9;
            let est = format!(
                r#"{{"median": {{"point_estimate": {ns}}}, "mean": {{"point_estimate": {ns}}}}}"#
            );
            std::fs::write(dir.join("estimates.json"), est).unwrap();
        }
    }
    std::fs::create_dir_all(root.join("report")).unwrap();
}

#[test]
fn report_fits_exponents_and_draws_a_png() {
    let root = tmp("criterion");
    fake_criterion(&root);
    let png = tmp("plot/scaling.png");
    let o = fwdrev(&[
        "report",
        "--criterion",
        root.to_str().unwrap(),
        "--plot",
        png.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{o:?}");
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("exponent of forward: 3.00"), "{s}");
    assert!(s.contains("exponent of reverse: 2.00"), "{s}");
    assert!(s.contains("| 4000 | 640.00 ms | 32.00 ms |"), "{s}");
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000);
    assert_one_line_error(
        &fwdrev(&["report", "--criterion", tmp("nowhere").to_str().unwrap()]),
        "cargo bench",
    );
}

/// The peers script's Rust side: `export` writes the seeded case, `peer` reads it back,
/// times it and leaves its gradients beside it, equal to the library's.
#[test]
fn export_then_peer_round_trips_the_seeded_case() {
    let dir = tmp("peer-case");
    let d = dir.to_string_lossy().into_owned();
    let out = fwdrev(&[
        "export", "--d0", "12", "--d1", "9", "--d2", "7", "--seed", "3", "--k", "5", "--dir", &d,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&fwdrev(&["peer", "--dir", &d, "--reps", "2"]));
    assert_eq!(v["dims"], serde_json::json!([12, 9, 7]));
    assert_eq!(v["batch"]["k"], 5);
    assert!(v["reverse"]["median_s"].as_f64().unwrap() > 0.0);
    let net = common::seeded::<f64>(12, 9, 7, 3).unwrap();
    let x = fwdrev::random::standard_normal_vector::<f64>(12, 3).unwrap();
    let (f, g) = net.value_and_grad(x.view(), fwdrev::Mode::Reverse).unwrap();
    // (serde_json parses decimals to within an ulp, not exactly)
    assert!((v["f"].as_f64().unwrap() - f).abs() <= 1e-15 * f.abs());
    let read = |n: &str| npy::read::<f64, ndarray::IxDyn>(dir.join(n)).unwrap();
    assert_eq!(read("grad.npy").into_dimensionality::<Ix1>().unwrap(), g);
    assert_eq!(read("G.npy").shape(), &[12, 5]);
    assert_one_line_error(&fwdrev(&["peer", "--dir", "/nonexistent"]), "A.npy");

    // The curvature rows: Lanczos from q0.npy finds the dense Hessian's top eigenvalue,
    // and hv.npy is H·q0, for the script to check the peers' HVPs against.
    let v = json(&fwdrev(&[
        "peer",
        "--dir",
        &d,
        "--reps",
        "1",
        "--seed",
        "3",
        "--curvature",
        "--dense",
    ]));
    let c = &v["curvature"];
    let h = read("H.npy").into_dimensionality::<ndarray::Ix2>().unwrap();
    let q0 = read("q0.npy").into_dimensionality::<Ix1>().unwrap();
    let (values, _) = fwdrev::linalg::eigh(h.clone(), false).unwrap();
    let top = values[values.len() - 1];
    let lanczos = c["lanczos"]["top"].as_f64().unwrap();
    assert!(
        (lanczos - top).abs() <= 1e-6 * top.abs(),
        "{lanczos} vs {top}"
    );
    assert_eq!(c["lanczos"]["converged"], true);
    let hv = read("hv.npy").into_dimensionality::<Ix1>().unwrap();
    let want = h.dot(&q0);
    assert!(hv
        .iter()
        .zip(&want)
        .all(|(a, b)| (a - b).abs() <= 1e-12 * (1.0 + b.abs())));
    assert!(c["floor_bytes"].as_u64().unwrap() < c["hvp_bytes"].as_u64().unwrap());
    // A seed other than export's: q0.npy is not that seed's start.
    assert_one_line_error(
        &fwdrev(&["peer", "--dir", &d, "--reps", "1", "--curvature"]),
        "q0.npy",
    );
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_f64().unwrap())
        .collect()
}

#[test]
fn jac_and_hvp_json_match_pytorch() {
    let (a, b, x, v) = (
        oracle("tall", "A.npy"),
        oracle("tall", "B.npy"),
        oracle("tall", "x.npy"),
        oracle("tall", "v.npy"),
    );
    let want = npy::read::<f64, ndarray::IxDyn>(oracle("tall", "jac.npy")).unwrap();
    let scale = want.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    for mode in ["forward", "reverse", "auto"] {
        let j = json(&fwdrev(&[
            "jac", "--a", &a, "--b", &b, "--x", &x, "--mode", mode, "--json",
        ]));
        assert_eq!(j["mode"], mode);
        assert_eq!(j["plan"], "M2·M1");
        let rows = j["jac"].as_array().unwrap();
        assert_eq!(rows.len(), 200);
        let got: Vec<f64> = rows.iter().flat_map(numbers).collect();
        assert_eq!(got.len(), want.len());
        for (p, q) in got.iter().zip(want.iter()) {
            assert!((p - q).abs() <= 1e-12 * scale, "{mode}: {p} vs {q}");
        }
    }
    let out = tmp("J.npy");
    let o = fwdrev(&[
        "jac",
        "--a",
        &a,
        "--b",
        &b,
        "--x",
        &x,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("plan (auto): M2·M1"));
    let j = npy::read::<f64, ndarray::IxDyn>(&out).unwrap();
    assert_eq!(j.shape(), want.shape());
    assert!((&j - &want).iter().all(|e| e.abs() <= 1e-12 * scale));

    let h = json(&fwdrev(&[
        "hvp", "--a", &a, "--b", &b, "--x", &x, "--v", &v, "--json",
    ]));
    let want = npy::read::<f64, ndarray::IxDyn>(oracle("tall", "hvp.npy")).unwrap();
    let scale = want.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let got = numbers(&h["hvp"]);
    assert_eq!(got.len(), 3);
    for (p, q) in got.iter().zip(want.iter()) {
        assert!((p - q).abs() <= 1e-12 * scale, "{p} vs {q}");
    }
    // A direction of the wrong length, a network whose shapes do not chain.
    let wrong_v = oracle("wide", "v.npy");
    let o = fwdrev(&["hvp", "--a", &a, "--b", &b, "--x", &x, "--v", &wrong_v]);
    assert_one_line_error(&o, "300 entries, but the first layer");
    let wide_b = oracle("wide", "B.npy");
    let o = fwdrev(&["jac", "--a", &a, "--b", &wide_b, "--x", &x]);
    assert_one_line_error(&o, "20 columns, but the layer before");
}

/// A deep reference case's files as --w/--bias/--act arguments.
fn deep_args(case: &str) -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/deep")
        .join(case);
    let file = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let acts = std::fs::read_to_string(dir.join("activations.txt")).unwrap();
    let mut args = Vec::new();
    for k in 1..=acts.lines().count() {
        args.extend(["--w".to_string(), file(&format!("W{k}.npy"))]);
        let bias = dir.join(format!("b{k}.npy"));
        let any_bias = (1..=acts.lines().count()).any(|j| dir.join(format!("b{j}.npy")).exists());
        if bias.exists() {
            args.extend(["--bias".to_string(), file(&format!("b{k}.npy"))]);
        } else if any_bias {
            args.extend(["--bias".to_string(), "none".to_string()]);
        }
    }
    let acts: Vec<&str> = acts.lines().collect();
    args.extend([
        "--act".to_string(),
        acts.join(","),
        "--x".into(),
        file("x.npy"),
    ]);
    args
}

/// `curvature` on a general network read with --w/--bias/--act: Lanczos and the dense
/// decomposition agree with numpy's eigh of torch.func's Hessian; the trace estimate
/// is within 4 standard errors of the exact trace; `newton` agrees with numpy's step.
#[test]
fn curvature_and_newton_on_a_general_network_match_numpy() {
    let case = "biased";
    let base = deep_args(case);
    let run = |extra: &[&str]| {
        let mut args: Vec<&str> = vec!["curvature"];
        args.extend(base.iter().map(String::as_str));
        args.extend(extra);
        json(&fwdrev(&args))
    };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/deep")
        .join(case);
    let eig = npy::read::<f64, ndarray::Ix1>(dir.join("eigh.npy")).unwrap();
    let n = eig.len();
    let scale = eig.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    for method in [&["--trace", "40", "--json"][..], &["--dense", "--json"][..]] {
        let mut extra = vec!["--top", "2", "--bottom", "1"];
        extra.extend(method);
        let c = run(&extra);
        let (top, bottom) = (numbers(&c["top"]), numbers(&c["bottom"]));
        assert!((top[0] - eig[n - 1]).abs() <= 1e-10 * scale, "{c}");
        assert!((top[1] - eig[n - 2]).abs() <= 1e-10 * scale, "{c}");
        assert!((bottom[0] - eig[0]).abs() <= 1e-10 * scale, "{c}");
        assert_eq!(c["converged"], true);
        if c["method"] == "lanczos" {
            let exact: f64 = eig.sum();
            let (t, se) = (
                c["trace"]["estimate"].as_f64().unwrap(),
                c["trace"]["stderr"].as_f64().unwrap(),
            );
            assert!((t - exact).abs() <= 4.0 * se, "{t} ± {se} vs {exact}");
            assert!(c["hvps"].as_u64().unwrap() >= 40);
        }
    }
    let png = tmp("density.png");
    let png_arg = png.to_string_lossy().into_owned();
    let c = run(&[
        "--top",
        "0",
        "--density",
        "4,5",
        "--plot",
        &png_arg,
        "--json",
    ]);
    let weights = numbers(&c["density"]["weights"]);
    assert!((weights.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{c}");
    assert!(
        std::fs::metadata(&png).unwrap().len() > 1000,
        "a PNG was drawn"
    );
    // Biases on some layers only (`--bias none` for the others).
    let mut args: Vec<String> = vec!["curvature".into()];
    args.extend(deep_args("some_biases"));
    args.extend([
        "--dense".into(),
        "--top".into(),
        "1".into(),
        "--json".into(),
    ]);
    let c = json(&fwdrev(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    let partial = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/deep/some_biases");
    let eig2 = npy::read::<f64, ndarray::Ix1>(partial.join("eigh.npy")).unwrap();
    let top = numbers(&c["top"])[0];
    let scale2 = eig2.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    assert!((top - eig2[eig2.len() - 1]).abs() <= 1e-10 * scale2, "{c}");

    let damping = std::fs::read_to_string(dir.join("damping.txt")).unwrap();
    let mut args: Vec<&str> = vec!["newton"];
    args.extend(base.iter().map(String::as_str));
    args.extend(["--damping", damping.trim(), "--json"]);
    let step = numbers(&json(&fwdrev(&args))["step"]);
    let want = npy::read::<f64, ndarray::Ix1>(dir.join("newton.npy")).unwrap();
    let scale = want.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    for (p, q) in step.iter().zip(&want) {
        assert!((p - q).abs() <= 1e-10 * scale, "{p} vs {q}");
    }
}

#[test]
fn general_network_arguments_are_checked() {
    let base = deep_args("mixed");
    let with = |cmd: &str, extra: &[&str]| {
        let mut args: Vec<&str> = vec![cmd];
        args.extend(base.iter().map(String::as_str));
        args.extend(extra);
        fwdrev(&args)
    };
    // Three activations for two layers; a damping of 0; a density without steps.
    let (a, b, x) = (
        oracle("tall", "A.npy"),
        oracle("tall", "B.npy"),
        oracle("tall", "x.npy"),
    );
    let o = fwdrev(&[
        "grad",
        "--w",
        &a,
        "--w",
        &b,
        "--act",
        "tanh,relu,gelu",
        "--x",
        &x,
    ]);
    assert_one_line_error(&o, "3 activations for 2 layers");
    assert_usage_error(&with("newton", &["--damping", "0"]), "damping");
    assert_usage_error(&with("curvature", &["--density", "20"]), "PROBES,STEPS");
    // A bias of the wrong length, named with its layer's W.
    let w1 = base[1].clone();
    let wrong = oracle("tall", "x.npy");
    let o = fwdrev(&[
        "grad",
        "--w",
        &w1,
        "--bias",
        &wrong,
        "--x",
        &base[base.len() - 1],
    ]);
    assert_one_line_error(&o, "3 entries, but its layer's W");
}

#[test]
fn plan_reports_the_bracketing_its_cost_and_its_time() {
    let p = json(&fwdrev(&[
        "plan",
        "--widths",
        "1000,1000,10,1000,1000",
        "--stored",
        "--json",
    ]));
    assert_eq!(p["plan"], "(M4·M3)·(M2·M1)");
    assert_eq!(p["mode"], "auto");
    assert_eq!(p["predicted_flops"].as_f64(), Some(3e7));
    assert_eq!(p["widths"], serde_json::json!([1000, 1000, 10, 1000, 1000]));
    assert!(p["median_s"].is_null());
    for (mode, plan) in [
        ("forward", "M4·(M3·(M2·M1))"),
        ("reverse", "((M4·M3)·M2)·M1"),
    ] {
        let p = json(&fwdrev(&[
            "plan",
            "--widths",
            "30,30,3,30,30",
            "--mode",
            mode,
            "--reps",
            "3",
            "--json",
        ]));
        assert_eq!(p["plan"], plan);
        assert!(p["median_s"].as_f64().unwrap() > 0.0);
        assert!(p["predicted_s"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(p["panels"]["count"], 1);
    // Within 64 KiB Auto leaves the unbounded plan, (M5·(M4·(M3·M2)))·M1, whose shared
    // products do not fit, for one cut into panels (reverse mode's, in rows).
    let within = |kib: &str, more: &[&str]| {
        let base = [
            "plan",
            "--widths",
            "199,9,195,278,283,151",
            "--stored",
            "--budget-kib",
            kib,
            "--json",
        ];
        json(&fwdrev(&[&base[..], more].concat()))
    };
    let p = within("64", &["--reps", "1"]);
    assert_eq!(p["budget_bytes"], 65536);
    assert_eq!(p["panels"]["side"], "rows");
    assert!(p["panels"]["count"].as_u64().unwrap() > 1);
    assert!(p["median_s"].as_f64().unwrap() > 0.0);
    assert!(within("1", &[])["panels"].is_null());
    let o = fwdrev(&["plan", "--widths", "5"]);
    assert_one_line_error(&o, "widths must list d0 and at least one layer");
    let o = fwdrev(&["plan", "--widths", "4,3", "--activation", "swish"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "clap rejects an unknown activation"
    );
}

#[cfg(unix)]
#[test]
fn a_closed_stdout_ends_the_binary_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    // 95×100 entries of ~25 characters: far more than a pipe holds, so writing must
    // meet the closed pipe (as in `fwdrev jac … | head -1`).
    let (a, b, x) = (
        oracle("seed_shape", "A.npy"),
        oracle("seed_shape", "B.npy"),
        oracle("seed_shape", "x.npy"),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_fwdrev"))
        .args(["jac", "--a", &a, "--b", &b, "--x", &x])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        out.status.success() || out.status.signal() == Some(13),
        "ended by SIGPIPE or successfully: {:?}",
        out.status
    );
}

#[test]
fn threads_flag_sets_rayon_and_the_blas() {
    for args in [
        [
            "--threads",
            "1",
            "time",
            "--d",
            "20",
            "--mode",
            "reverse",
            "--reps",
            "1",
            "--json",
        ],
        [
            "time",
            "--d",
            "20",
            "--mode",
            "reverse",
            "--reps",
            "1",
            "--json",
            "--threads",
            "1",
        ],
    ] {
        let v = json(&fwdrev(&args));
        assert_eq!(v["rayon_threads"], 1, "{args:?}");
        let detail = v["backend_detail"].as_str().unwrap();
        if v["backend"] == "openblas" {
            assert!(detail.contains(", 1 BLAS threads"), "{detail}");
        }
    }
}

#[test]
fn results_beyond_f64_are_inf_strings_in_json() {
    // tests/data/extreme/adjoint: a two-layer sigmoid network with A ~ ±1.7e308; its
    // gradient is finite near 1e307, its ∇²f·v beyond f64 in every entry (±inf).
    let file = |f: &str| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/extreme/adjoint")
            .join(f)
            .to_string_lossy()
            .into_owned()
    };
    let (a, b, x, v) = (file("W1.npy"), file("W2.npy"), file("x.npy"), file("v.npy"));
    let g = json(&fwdrev(&[
        "grad", "--a", &a, "--b", &b, "--x", &x, "--json",
    ]));
    let want = npy::read::<f64, ndarray::IxDyn>(file("grad.npy")).unwrap();
    let scale = want.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    for (p, q) in numbers(&g["grad"]).iter().zip(want.iter()) {
        assert!((p - q).abs() <= 1e-12 * scale, "{p:e} vs {q:e}");
    }
    let h = json(&fwdrev(&[
        "hvp", "--a", &a, "--b", &b, "--x", &x, "--v", &v, "--json",
    ]));
    let want: Vec<Value> = npy::read::<f64, ndarray::IxDyn>(file("hvp.npy"))
        .unwrap()
        .iter()
        .map(|&v| Value::from(if v > 0.0 { "inf" } else { "-inf" }))
        .collect();
    assert_eq!(h["hvp"], Value::Array(want));
}

#[test]
fn every_computing_command_takes_the_memory_budget() {
    let (a, b, x, v) = (
        oracle("tall", "A.npy"),
        oracle("tall", "B.npy"),
        oracle("tall", "x.npy"),
        oracle("tall", "v.npy"),
    );
    let files = ["--a", &a, "--b", &b, "--x", &x];
    // No room for one panel: forward mode and the Jacobian refuse with the numbers.
    let grad = [
        &["grad", "--mode", "forward", "--budget-mib", "0"][..],
        &files,
    ]
    .concat();
    assert_one_line_error(&fwdrev(&grad), "one panel column");
    let jac = [&["jac", "--budget-mib", "0"][..], &files].concat();
    assert_one_line_error(&fwdrev(&jac), "one panel of plan");
    // A budget that fits gives the default's answer; hvp and time take the flag too.
    let g = |extra: &[&str]| {
        json(&fwdrev(
            &[&["grad", "--mode", "forward", "--json"][..], &files, extra].concat(),
        ))
    };
    assert_eq!(g(&["--budget-mib", "1"])["grad"], g(&[])["grad"]);
    let h = json(&fwdrev(
        &[
            &["hvp", "--v", &v, "--json", "--budget-mib", "1"][..],
            &files,
        ]
        .concat(),
    ));
    assert!(h["hvp"].is_array());
    let t = json(&fwdrev(&[
        "time",
        "--budget-mib",
        "1",
        "--d",
        "30",
        "--reps",
        "1",
        "--json",
    ]));
    assert!(t["forward"]["median_s"].as_f64().unwrap() > 0.0);
    // Commands that compute nothing do not take it.
    let o = fwdrev(&["report", "--budget-mib", "1"]);
    assert_eq!(o.status.code(), Some(2), "a usage error");
}

/// Fails with status 2 (a usage error) and one line on stderr naming `want`.
fn assert_usage_error(out: &Output, want: &str) {
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("fwdrev: ") && err.contains(want), "{err}");
}

#[test]
fn usage_errors_are_one_line_with_status_2() {
    let cases: [(&[&str], &str); 9] = [
        (&["nosuch"], "nosuch"),
        (&["grad", "--a", "x.npy"], "--b"),
        (&["--threads", "0", "time", "--d", "10"], "from 1 to 1024"),
        (
            &["--threads", "100000", "time", "--d", "10"],
            "from 1 to 1024",
        ),
        (&["time", "--d", "10", "--reps", "0"], "from 1 to"),
        (
            &["time", "--d", "10", "--reps", "1000000000000"],
            "out of range",
        ),
        (
            &["time", "--d", "10", "--reps", "-3"],
            "not a count: expected a whole number",
        ),
        (&["time", "--d", "1e3"], "not a count"),
        (
            &["time", "--d", "10", "--batch", "99999999999999999999999"],
            "out of range",
        ),
    ];
    for (args, want) in cases {
        assert_usage_error(&fwdrev(args), want);
    }
    for help in [&["--help"][..], &["--version"], &["grad", "--help"]] {
        let out = fwdrev(help);
        assert_eq!(out.status.code(), Some(0), "{help:?}");
        assert!(!out.stdout.is_empty());
    }
}

#[test]
fn absurd_sizes_are_refused_before_any_work() {
    // Within the counts' bounds, the memory check refuses: 50 × 2³² f64 points.
    let out = fwdrev(&["time", "--d", "50", "--batch", "4294967296", "--reps", "1"]);
    assert_one_line_error(&out, "bytes");
    let out = fwdrev(&[
        "export",
        "--d0",
        "4294967296",
        "--d1",
        "4294967296",
        "--d2",
        "1",
        "--dir",
        tmp("absurd").to_str().unwrap(),
    ]);
    assert_one_line_error(&out, "bytes");
    // Thousands of layers: a bound, not minutes of planning.
    let widths = vec!["2"; 4098].join(",");
    let out = fwdrev(&["plan", "--widths", &widths, "--stored"]);
    assert_one_line_error(&out, "at most 4097");
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_a_one_line_error_not_a_panic() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fwdrev"))
        .args(["plan", "--widths", "3,4,5", "--stored"])
        .stdout(full)
        .output()
        .unwrap();
    assert_one_line_error(&out, "cannot write to standard output");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fwdrev"))
        .arg("--help")
        .stdout(full)
        .output()
        .unwrap();
    assert_one_line_error(&out, "cannot write to standard output");
}

#[test]
fn the_environments_thread_count_is_bounded_like_the_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_fwdrev"))
        .args(["plan", "--widths", "3,4", "--stored"])
        .env("RAYON_NUM_THREADS", "3000")
        .output()
        .unwrap();
    assert_usage_error(&out, "RAYON_NUM_THREADS=3000");
}

/// The tall case with x of `n` entries (a longer gradient to write).
fn network_of(n: usize) -> [PathBuf; 3] {
    let a = tmp(&format!("big_a{n}.npy"));
    let b = tmp(&format!("big_b{n}.npy"));
    let x = tmp(&format!("big_x{n}.npy"));
    npy::write(
        &a,
        fwdrev::random::standard_normal::<f64>(4, n, 1, 0)
            .unwrap()
            .view(),
    )
    .unwrap();
    npy::write(
        &b,
        fwdrev::random::standard_normal::<f64>(2, 4, 1, 9)
            .unwrap()
            .view(),
    )
    .unwrap();
    npy::write(&x, Array1::<f64>::zeros(n).view()).unwrap();
    [a, b, x]
}

#[cfg(unix)]
#[test]
fn out_is_written_atomically_and_a_failed_write_keeps_the_old_file() {
    let [a, b, x] = network_of(4000);
    let dir = tmp("atomic");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("grad.npy");
    std::fs::write(&out, b"the previous result").unwrap();
    let args = |out: &Path| {
        format!(
            "grad --a {} --b {} --x {} --out {}",
            a.display(),
            b.display(),
            x.display(),
            out.display()
        )
    };
    // A file-size limit of 1 KiB (SIGXFSZ ignored, so the write fails with EFBIG): the
    // 32 kB gradient cannot be written, and the old file must survive whole.
    let limited = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 1; exec {} {}",
            env!("CARGO_BIN_EXE_fwdrev"),
            args(&out)
        ))
        .output()
        .unwrap();
    assert_one_line_error(&limited, "grad.npy");
    assert_eq!(std::fs::read(&out).unwrap(), b"the previous result");
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("grad.npy")],
        "no temporary file left"
    );
    // Unlimited: replaced by the complete file.
    let ok = fwdrev(&args(&out).split(' ').collect::<Vec<_>>());
    assert!(ok.status.success(), "{ok:?}");
    assert_eq!(npy::read::<f64, Ix1>(&out).unwrap().len(), 4000);
    // A symbolic link: its target is replaced (permissions kept), the link stays one.
    let real = dir.join("real.npy");
    std::fs::write(&real, b"old").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.join("link.npy");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    assert!(fwdrev(&args(&link).split(' ').collect::<Vec<_>>())
        .status
        .success());
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(npy::read::<f64, Ix1>(&real).unwrap().len(), 4000);
    let mode = std::fs::metadata(&real).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // A device is a stream, written through, never replaced by a file.
    assert!(
        fwdrev(&args(Path::new("/dev/null")).split(' ').collect::<Vec<_>>())
            .status
            .success()
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    // A folder that does not exist: the error names the path.
    let missing = dir.join("no/such/folder/grad.npy");
    assert_one_line_error(
        &fwdrev(&args(&missing).split(' ').collect::<Vec<_>>()),
        "no/such/folder/grad.npy",
    );
}

#[test]
fn shapes_are_checked_across_files_before_reading_data() {
    let [a, b, _] = network_of(30);
    let [_, _, x] = network_of(31);
    let out = fwdrev(&[
        "grad",
        "--a",
        a.to_str().unwrap(),
        "--b",
        b.to_str().unwrap(),
        "--x",
        x.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, "31 entries, but the first layer");
}

#[cfg(target_os = "linux")]
#[test]
fn an_address_space_limit_is_honoured_with_an_error_not_an_abort() {
    // time --d 3000 --d2 1 holds a 72 MB matrix (and times a cheap 1×3000×3000 GEMM,
    // quick in a debug build too). Under each limit the binary either runs
    // or refuses with a one-line TooLarge error: never an abort (134) or a hang.
    // (Below ~100 MiB the dynamic loader cannot map OpenBLAS: status 127 before main.)
    for limit_mib in [120, 200, 300, 400, 600, 900] {
        let args = "--threads 2 time --d 3000 --d2 1 --reps 1 --mode reverse";
        ran_or_refused(limit_mib, args, &under_limit(limit_mib, args));
    }
}

/// Under an address-space limit the binary restarts with one OpenBLAS thread: OpenBLAS
/// then starts no worker, whose 128 MiB buffer, mapped on the worker's own schedule,
/// raced the program's allocations (an abort under 224 MiB in 3 of 18 runs of this
/// file's tests, none alone). (With one CPU in the process's affinity mask OpenBLAS starts
/// no worker anyway, and this cannot tell the restart from its absence.)
#[cfg(all(target_os = "linux", feature = "openblas"))]
#[test]
fn openblas_starts_no_worker_under_an_address_space_limit() {
    let args = "--threads 2 time --d 100 --reps 1 --mode reverse";
    let out = under_limit(900, args);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(", 1 BLAS threads)"), "{text}");
}

/// Whether a run under `limit_mib` succeeded; otherwise asserts one line refusing the
/// threads or naming the bytes that did not fit (an abort, a hang or any other status
/// fails).
#[cfg(target_os = "linux")]
fn ran_or_refused(limit_mib: u64, args: &str, out: &Output) -> bool {
    let err = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => return true,
        Some(1) if err.contains("threads") => assert_one_line_error(out, "cannot start"),
        Some(1) => assert_one_line_error(out, "bytes"),
        _ => panic!("under {limit_mib} MiB, {args}: {out:?}"),
    }
    false
}

/// Under an address-space limit, forward mode runs or refuses with one line, never
/// aborts or hangs: faer's first GEMM on a thread maps a packing buffer of twice the L3
/// sysfs reports (600 MiB on a VM reporting its host's 300 MiB: it aborted under 700
/// MiB), OpenBLAS 0.3.21 spins where its 128 MiB buffer a thread is refused (it hung
/// under 300–400 MiB), and glibc reserves a 64 MiB arena for each thread that
/// allocates (8 threads aborted in 4 MiB windows 64 MiB apart, 254 and 318 MiB on one
/// machine, 300 on another; OpenBLAS's workers left no room at 224). On the backend's
/// GEMM and with `--deterministic`, on 2 threads and on 8 (more than the cores: OpenBLAS
/// starts more workers), 8 in steps of 8 MiB, both at the limits that failed.
#[cfg(target_os = "linux")]
#[test]
fn forward_mode_under_an_address_space_limit_runs_or_refuses_never_aborts() {
    for (threads, step) in [(2, 24), (8, 8)] {
        for fixed in ["", "--deterministic"] {
            let args = format!("--threads {threads} time --d 300 --reps 1 --mode forward {fixed}");
            // The limits that aborted before, and a run somewhere under 440 MiB (a
            // fix that refused everything would pass the rest).
            let seen = [224, 254, 300, 318];
            let limits = (200..=440)
                .step_by(step)
                .chain(seen)
                .chain([700, 900, 1600]);
            let mut ran_under_440 = false;
            for limit_mib in limits {
                let ran = ran_or_refused(limit_mib, &args, &under_limit(limit_mib, &args));
                assert!(
                    ran || limit_mib < 1600,
                    "{args} refused under {limit_mib} MiB"
                );
                ran_under_440 |= ran && limit_mib <= 440;
            }
            assert!(
                ran_under_440,
                "{args}: refused under every limit up to 440 MiB"
            );
        }
    }
}

/// The dense eigenvalues and the Newton step under an address-space limit: faer's
/// factorisations (the default build's, and the OpenBLAS build's where LAPACK's buffers
/// do not fit) aborted under 300–700 MiB on a 300×300 Hessian, LAPACK on OpenBLAS hung
/// under 300–500 MiB. Now the same values (to the last bits' rounding: faer runs on one
/// thread there) or one line naming what did not fit; the loosest limit runs. The Newton
/// step is taken with a damping of about a tenth of the largest |eigenvalue| (61), so
/// that its own condition (‖H‖ / damping) keeps two correct summation orders within
/// the tolerance, as in curvature.rs.
#[cfg(target_os = "linux")]
#[test]
fn dense_curvature_under_an_address_space_limit_runs_or_refuses_never_aborts() {
    let dir = tmp("limit-eigen");
    let d = dir.to_string_lossy().into_owned();
    let out = fwdrev(&[
        "export", "--d0", "300", "--d1", "150", "--d2", "100", "--dir", &d,
    ]);
    assert!(out.status.success(), "{out:?}");
    let files = format!("--a {d}/A.npy --b {d}/B.npy --x {d}/x.npy --json");
    let eigen = format!("--threads 2 curvature {files} --dense --top 1 --bottom 1");
    let newton = format!("--threads 2 newton {files} --damping 6");
    for (args, key) in [(eigen, "top"), (newton, "step")] {
        let free = json(&fwdrev(&args.split(' ').collect::<Vec<_>>()));
        let values = |v: &Value| -> Vec<f64> {
            let all = v[key].as_array().expect(key).iter();
            let bottom = v["bottom"].as_array().into_iter().flatten();
            all.chain(bottom).map(|e| e.as_f64().unwrap()).collect()
        };
        let want = values(&free);
        let kind = &free["kind"];
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for limit_mib in [300, 500, 700, 900, 1200, 1600] {
            let out = under_limit(limit_mib, &args);
            match out.status.code() {
                Some(0) => {
                    let limited = json(&out);
                    assert_eq!(&limited["kind"], kind, "{args} under {limit_mib} MiB");
                    let got = values(&limited);
                    let worst = got
                        .iter()
                        .zip(&want)
                        .fold(0.0f64, |m, (g, w)| m.max((g - w).abs()));
                    assert!(
                        worst <= 1e-12 * scale,
                        "{args} under {limit_mib} MiB: {worst:e}"
                    );
                }
                Some(1) if limit_mib < 1600 => assert_one_line_error(&out, "bytes"),
                _ => panic!("{args} under {limit_mib} MiB: {out:?}"),
            }
        }
    }
}

/// The binary with `args` under `ulimit -v`, killed after 120 s (a hang fails).
#[cfg(target_os = "linux")]
fn under_limit(limit_mib: u64, args: &str) -> Output {
    // The binary's own choice of BLAS threads, not the caller's: OpenBLAS reads these
    // in turn, and the restart keeps a value set (the threads test would pass without
    // it).
    Command::new("timeout")
        .env_remove("OPENBLAS_NUM_THREADS")
        .env_remove("GOTO_NUM_THREADS")
        .env_remove("OMP_NUM_THREADS")
        .env_remove("OPENBLAS_DEFAULT_NUM_THREADS")
        .arg("120")
        .arg("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -v {}; exec {} {args}",
            limit_mib * 1024,
            env!("CARGO_BIN_EXE_fwdrev")
        ))
        .output()
        .unwrap()
}

/// `--net model.npz` reads the whole network from one numpy.savez archive: the same
/// gradient as the same layers given with --w/--bias/--act; `export` writes the seeded
/// case as model.npz too; x against the archive's d0; --net excludes --w and --a.
#[test]
fn a_network_from_one_npz_archive() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("tests/data/npz/biased.npz");
    let model = model.to_str().unwrap();
    let x = root.join("tests/data/deep/biased/x.npy");
    let x = x.to_str().unwrap();
    let from_net = json(&fwdrev(&["grad", "--net", model, "--x", x, "--json"]));
    let mut args = vec!["grad".to_string()];
    args.extend(deep_args("biased"));
    args.push("--json".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let from_files = json(&fwdrev(&args));
    assert_eq!(from_net["grad"], from_files["grad"]);
    assert_eq!(from_net["f"], from_files["f"]);

    let dir = tmp("npz-export");
    let d = dir.to_string_lossy().into_owned();
    let out = fwdrev(&["export", "--d0", "9", "--d1", "6", "--d2", "4", "--dir", &d]);
    assert!(out.status.success());
    let file = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let (a, b, m, xs) = (
        file("A.npy"),
        file("B.npy"),
        file("model.npz"),
        file("x.npy"),
    );
    let g1 = json(&fwdrev(&["grad", "--net", &m, "--x", &xs, "--json"]));
    let g2 = json(&fwdrev(&[
        "grad", "--a", &a, "--b", &b, "--x", &xs, "--json",
    ]));
    assert_eq!(g1["grad"], g2["grad"]);

    assert_one_line_error(
        &fwdrev(&["grad", "--net", model, "--x", &xs]),
        "9 entries, but",
    );
    assert_usage_error(
        &fwdrev(&["grad", "--net", model, "--w", &a, "--x", x]),
        "--w",
    );
    assert_usage_error(
        &fwdrev(&["grad", "--net", model, "--a", &a, "--b", &b, "--x", x]),
        "--a",
    );
    assert_one_line_error(&fwdrev(&["grad", "--net", &a, "--x", x]), "not a .npz");
}
