//! The distributed calls against the single-process ones, under `mpirun -n 1, 2, 3, 4`.
//!
//! `cargo test --features mpi --test mpi` runs this file's `main`, which starts itself
//! under `mpirun --oversubscribe -n P` for each P (as root with Open MPI's consent
//! variables) and fails unless every job passes within its time limit. Under mpirun,
//! every rank runs every check; a failing rank prints why and aborts the job, as a
//! panicking one does (`end_job_on_panic`).
//!
//! Tolerances: values and tangents of a layer are dot products of one row each, the same
//! kernel as one process's, so outputs and JVPs must be bit-identical; f, ∇f and uᵀJ add
//! their sums over rows in another order (per rank, then rank order), so they agree to
//! 1e−12 of the largest entry: the terms here are O(1) and the sums have at most 300 of
//! them, so the two orders' difference is a few ε·√n·Σ|terms| ≈ 1e−14 (random rounding;
//! the worst case n·ε·Σ|terms| would be 2e−11, never approached); a repeat gives the same
//! bits. With uneven splits the kernels' tails take some rows, so outputs are compared
//! to the same tolerance.

mod common;

use fwdrev::distributed::{DistMlp, LayerFiles, Split};
use fwdrev::{npy, random, Activation, Error, Layer, Mlp, Mode};
use mpi::traits::{Communicator, CommunicatorCollectives, Root};
use ndarray::{Array1, ArrayView1};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = "FWDREV_MPI_CHILD";
/// Longest a job may run before it counts as hung.
const LIMIT: Duration = Duration::from_secs(300);

fn main() -> ExitCode {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    if let Err(why) = splits() {
        eprintln!("splits: {why}");
        return ExitCode::FAILURE;
    }
    let exe = std::env::current_exe().expect("the test's own path");
    for p in 1..=4 {
        let start = Instant::now();
        let mut job = mpirun(p);
        job.arg(&exe).env(CHILD, "1");
        let failed = match run_limited(job, LIMIT) {
            Ok(out) => {
                print!("{}", String::from_utf8_lossy(&out.stdout));
                eprint!("{}", String::from_utf8_lossy(&out.stderr));
                (!out.status.success()).then(|| format!("failed ({})", out.status))
            }
            Err(why) => Some(why),
        };
        match failed {
            None => println!(
                "mpirun -n {p}: passed in {:.1} s",
                start.elapsed().as_secs_f64()
            ),
            Some(why) => {
                eprintln!("mpirun -n {p}: {why}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Err(why) = panicking_rank(&exe) {
        eprintln!("a rank that panics: {why}");
        return ExitCode::FAILURE;
    }
    if let Err(why) = beyond_one_rank(&exe) {
        eprintln!("a network beyond one rank's memory: {why}");
        return ExitCode::FAILURE;
    }
    match cli() {
        Ok(()) => {
            println!("the CLI under mpirun: passed");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("the CLI under mpirun: {why}");
            ExitCode::FAILURE
        }
    }
}

/// `mpirun --oversubscribe -n p`, as root with Open MPI's consent, one thread a rank
/// (P ranks share the machine's cores).
fn mpirun(p: usize) -> Command {
    let mut c = Command::new("mpirun");
    c.args(["--oversubscribe", "-n", &p.to_string()])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("RAYON_NUM_THREADS", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("BLIS_NUM_THREADS", "1");
    c
}

/// Runs `cmd` in a process group of its own, its output collected; after `limit`
/// kills the whole group (mpirun and every rank) and calls it a hang.
fn run_limited(mut cmd: Command, limit: Duration) -> Result<Output, String> {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    cmd.process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = format!("{cmd:?}");
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("piped")));
    let stderr = read(Box::new(child.stderr.take().expect("piped")));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            // mpirun has ended; a rank it left holding the pipes would hold the readers
            // past the limit, so the group goes too.
            // SAFETY: kill(2) on the child's own process group (gone already, mostly).
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            break status;
        }
        if start.elapsed() > limit {
            // SAFETY: kill(2) on the child's own process group.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            return Err(format!("{what}: still running after {limit:?}: a hang"));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (stdout.join().expect("read"), stderr.join().expect("read"));
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// `fwdrev` with `args`, under `mpirun -n ranks` unless `ranks` is 0: its status,
/// standard output and standard error.
fn fwdrev(ranks: usize, args: &[&str]) -> (bool, String, String) {
    let bin = env!("CARGO_BIN_EXE_fwdrev");
    let mut cmd = match ranks {
        0 => Command::new(bin),
        p => {
            let mut c = mpirun(p);
            c.arg(bin);
            c
        }
    };
    cmd.args(args).env("RAYON_NUM_THREADS", "1");
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    match run_limited(cmd, Duration::from_secs(120)) {
        Ok(out) => (out.status.success(), text(out.stdout), text(out.stderr)),
        Err(why) => (false, String::new(), why),
    }
}

/// The JSON object `fwdrev … --json` printed.
fn json(out: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(out.trim()).map_err(|e| format!("not one JSON object ({e}): {out}"))
}

fn numbers(v: &serde_json::Value) -> Array1<f64> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|n| n.as_f64().expect("a number"))
        .collect()
}

/// `grad`, `hvp` and `time` under mpirun against one process, and a failure's report.
fn cli() -> Result<(), String> {
    let dir = common::fresh_dir("fwdrev-mpi-cli");
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let net = network(&[40, 50, 30], &mut Lcg(3), 12);
    npy::write(
        path("W1.npy"),
        net.layers()[0].weights().as_standard_layout().view(),
    )
    .unwrap();
    npy::write(
        path("W2.npy"),
        net.layers()[1].weights().as_standard_layout().view(),
    )
    .unwrap();
    for (name, n, seed) in [("x.npy", 40, 1), ("v.npy", 40, 2)] {
        npy::write(
            path(name),
            random::standard_normal_vector::<f64>(n, seed)
                .unwrap()
                .view(),
        )
        .unwrap();
    }
    let biases: Vec<String> = net
        .layers()
        .iter()
        .enumerate()
        .map(|(k, l)| match l.bias() {
            Some(b) => {
                let p = path(&format!("b{}.npy", k + 1));
                npy::write(&p, b).unwrap();
                p
            }
            None => "none".into(),
        })
        .collect();
    let acts: Vec<&str> = net.layers().iter().map(|l| l.activation().name()).collect();
    let acts = acts.join(",");
    let (w1, w2, x, v) = (path("W1.npy"), path("W2.npy"), path("x.npy"), path("v.npy"));
    let network = [
        "--w", &w1, "--w", &w2, "--bias", &biases[0], "--bias", &biases[1], "--act", &acts, "--x",
        &x,
    ];
    // grad: f and ∇f as one process gives them, printed once; --out written once.
    let (ok1, one, err1) = fwdrev(0, &[&["grad"][..], &network, &["--json"]].concat());
    let g_out = path("g.npy");
    let (ok3, three, err3) = fwdrev(
        3,
        &[&["grad"][..], &network, &["--json", "--out", &g_out]].concat(),
    );
    if !(ok1 && ok3) {
        return Err(format!("grad failed: {err1} {err3}"));
    }
    let (one, three) = (json(&one)?, json(&three)?);
    let f = |j: &serde_json::Value| Array1::from_elem(1, j["f"].as_f64().unwrap());
    close("grad's f", f(&three).view(), f(&one).view())?;
    close(
        "grad's ∇f",
        numbers(&three["grad"]).view(),
        numbers(&one["grad"]).view(),
    )?;
    let written: Array1<f64> = npy::read(&g_out).map_err(|e| e.to_string())?;
    // (serde_json's reader may round a printed number off by an ulp: not bits here.)
    close("--out's ∇f", written.view(), numbers(&three["grad"]).view())?;
    // hvp.
    let (ok1, one, _) = fwdrev(
        0,
        &[&["hvp"][..], &network, &["--v", &v, "--json"]].concat(),
    );
    let (ok2, two, err) = fwdrev(
        2,
        &[&["hvp"][..], &network, &["--v", &v, "--json"]].concat(),
    );
    if !(ok1 && ok2) {
        return Err(format!("hvp failed: {err}"));
    }
    close(
        "hvp",
        numbers(&json(&two)?["hvp"]).view(),
        numbers(&json(&one)?["hvp"]).view(),
    )?;
    // time: the ranks, the bytes each call moves, the peak memory.
    let (ok, out, err) = fwdrev(
        2,
        &[
            "time", "--d", "300", "--reps", "2", "--batch", "4", "--json",
        ],
    );
    let t = json(&out).map_err(|e| format!("{e} {err}"))?;
    let bytes = t["reverse"]["comm_bytes"].as_u64().unwrap_or(0);
    // Two ranks, (300, 300, 300): rank 1 receives x (300 values); each rank the other's
    // 150 of a_1 and of the two sums (W_2ᵀ·ḡ, W_1ᵀ·ḡ), then 150 of ∇f; and a few
    // scalars (f's parts, the agreement on errors).
    let values = 300 + 2 * 4 * 150;
    if !ok || t["ranks"] != 2 || !(values * 8..values * 8 + 256).contains(&bytes) {
        return Err(format!("time under mpirun: {out} {err}"));
    }
    if t["rank_peak_rss_bytes"].as_u64().unwrap_or(0) == 0 || t["batch"][0] != 4 {
        return Err(format!("time under mpirun: {out}"));
    }
    let (ok, out, err) = fwdrev(2, &["time", "--d", "40", "--reps", "1", "--json"]);
    let t = json(&out).map_err(|e| format!("{e} {err}"))?;
    if !ok || !t["forward"]["median_s"].is_f64() || !t["reverse"]["median_s"].is_f64() {
        return Err(format!("time --mode both under mpirun: {out} {err}"));
    }
    // A file no rank can read: one error line, from rank 0, and a failed job.
    let missing = path("missing.npy");
    let (ok, out, err) = fwdrev(2, &["grad", "--w", &w1, "--w", &missing, "--x", &x]);
    let lines = err.lines().filter(|l| l.starts_with("fwdrev:")).count();
    if ok || !out.is_empty() || lines != 1 || !err.contains("fwdrev: rank 0:") {
        return Err(format!(
            "a missing file: status {ok}, output {out:?}, errors {err:?}"
        ));
    }
    // jac, each mode.
    for mode in ["forward", "reverse", "auto"] {
        let jac = [&["jac"][..], &network, &["--mode", mode, "--json"]].concat();
        let (ok1, one, _) = fwdrev(0, &jac);
        let (ok3, three, err) = fwdrev(3, &jac);
        if !(ok1 && ok3) {
            return Err(format!("jac --mode {mode}: {err}"));
        }
        let flat = |j: serde_json::Value| -> Array1<f64> {
            j["jac"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| numbers(r).to_vec())
                .collect()
        };
        close(
            &format!("jac --mode {mode}"),
            flat(json(&three)?).view(),
            flat(json(&one)?).view(),
        )?;
    }
    // jac --out: written by every rank at its offsets, the file one process writes.
    let (j1, j3) = (path("J1.npy"), path("J3.npy"));
    let (ok1, _, _) = fwdrev(0, &[&["jac"][..], &network, &["--out", &j1]].concat());
    let (ok3, out, err) = fwdrev(3, &[&["jac"][..], &network, &["--out", &j3]].concat());
    if !(ok1 && ok3 && out.contains("J (30×40) written to")) {
        return Err(format!("jac --out under mpirun: {out} {err}"));
    }
    let read = |p: &str| -> Result<Array1<f64>, String> {
        let j: ndarray::Array2<f64> = npy::read(p).map_err(|e| e.to_string())?;
        Ok(j.iter().copied().collect())
    };
    close("jac --out", read(&j3)?.view(), read(&j1)?.view())?;
    // curvature: Lanczos, Hutchinson and SLQ as one process finds them; --dense refused.
    let curv = [
        &["curvature"][..],
        &network,
        &[
            "--top",
            "2",
            "--bottom",
            "1",
            "--tol",
            "1e-10",
            "--trace",
            "4",
            "--density",
            "2,5",
            "--json",
        ],
    ]
    .concat();
    let (ok1, one, _) = fwdrev(0, &curv);
    let (ok2, two, err) = fwdrev(2, &curv);
    if !(ok1 && ok2) {
        return Err(format!("curvature under mpirun: {err}"));
    }
    let (one, two) = (json(&one)?, json(&two)?);
    let values = |c: &serde_json::Value| {
        let mut v = numbers(&c["top"]).to_vec();
        v.extend(numbers(&c["bottom"]));
        v.push(c["trace"]["estimate"].as_f64().unwrap_or(f64::NAN));
        Array1::from(v)
    };
    // Lanczos to 1e-10 on HVPs that agree to rounding: within close()'s 1e-12 of the
    // largest at this size, as measured; the trace from the same probes.
    close("curvature", values(&two).view(), values(&one).view())?;
    if two["hvps"] != one["hvps"] || two["density"]["nodes"].as_array().map(Vec::len) != Some(10) {
        return Err(format!("curvature under mpirun: {two}"));
    }
    let (ok, _, err) = fwdrev(2, &["curvature", "--w", &w1, "--x", &x, "--dense"]);
    if ok || !err.contains("run it without mpirun") {
        return Err(format!("curvature --dense under mpirun: {err}"));
    }
    // Commands not run across ranks say so.
    let (ok, _, err) = fwdrev(2, &["newton", "--w", &w1, "--x", &x]);
    if ok || !err.contains("under mpirun, fwdrev runs grad, hvp, jac, curvature and time") {
        return Err(format!("newton under mpirun: {err}"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
    Ok(())
}

/// The width of the network too large for one rank: (d, d, d), 2·d² weights; 16 000
/// (4.1 GB) optimised, as CI runs it, 8 000 (1 GB) unoptimised, where drawing 10⁹
/// normal numbers would take minutes (and no smaller network stays beyond a rank's
/// limit once the limit leaves room for OpenBLAS's buffers: see [`big`]).
const BIG: usize = if cfg!(debug_assertions) {
    8_000
} else {
    16_000
};
const BIG_SEED: u64 = 16;
const BIG_RANKS: usize = 4;

/// `mpirun -n 4` of this program in its `big` mode, each rank under an address-space
/// limit that cannot hold the whole network (2·BIG² doubles), against the gradient one
/// process computes without a limit.
fn beyond_one_rank(exe: &Path) -> Result<(), String> {
    let dir = common::fresh_dir("fwdrev-mpi-big");
    let out = dir.join("grad.npy");
    let start = Instant::now();
    let mut job = mpirun(BIG_RANKS);
    job.arg(exe)
        .env(CHILD, "big")
        .env("FWDREV_MPI_BIG_OUT", &out);
    let done = run_limited(job, LIMIT)?;
    if !done.status.success() {
        let err = String::from_utf8_lossy(&done.stderr);
        return Err(format!("the job failed ({}): {err}", done.status));
    }
    let dist: Array1<f64> = npy::read(&out).map_err(|e| e.to_string())?;
    std::fs::remove_dir_all(&dir).unwrap();
    let net = Mlp::<f64>::from_seed(&[BIG; 3], Activation::Sigmoid, BIG_SEED)
        .map_err(|e| e.to_string())?;
    let x = random::standard_normal_vector::<f64>(BIG, BIG_SEED).unwrap();
    let (_, one) = net
        .value_and_grad(x.view(), Mode::Reverse)
        .map_err(|e| e.to_string())?;
    // Sums of 16 000 terms in another order: 1e−12 of the largest entry is ~50 ulps.
    close("∇f at d = 16 000", dist.view(), one.view())?;
    println!(
        "a network beyond one rank's memory: passed in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Longest the job with a panicking rank may take to end.
const PANIC_LIMIT: Duration = Duration::from_secs(60);

/// `mpirun -n 2` of this program in its `panic` mode, where rank 1 panics in a thread
/// of its own while rank 0 waits in a barrier: with [`end_job_on_panic`] the job ends
/// by `MPI_Abort`, code 101, with the panic's message (without it, it hangs).
///
/// [`end_job_on_panic`]: fwdrev::distributed::end_job_on_panic
fn panicking_rank(exe: &Path) -> Result<(), String> {
    let start = Instant::now();
    let mut job = mpirun(2);
    job.arg(exe).env(CHILD, "panic");
    let done = run_limited(job, PANIC_LIMIT)?;
    let err = String::from_utf8_lossy(&done.stderr);
    // The join's message would show that the thread's panic ended without the job.
    let joined = err.contains(JOINED);
    // Open MPI's mpirun ends with the code a rank gave MPI_Abort: 101, the hook's.
    let aborted = done.status.code() == Some(101);
    if !aborted || !err.contains(PANIC_MESSAGE) || joined {
        return Err(format!(
            "the job ended {}, not with the panic: {err}",
            done.status
        ));
    }
    println!(
        "a rank that panics ends the job: passed in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

const PANIC_MESSAGE: &str = "rank 1 panics on purpose";

/// What rank 1's main thread says if the panicking thread ends and the job goes on.
const JOINED: &str = "the panicking thread ended and its rank went on";

/// This process's address space now (VmSize), in bytes.
fn address_space() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .unwrap();
    kb.trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .unwrap()
        << 10
}

/// One rank of the big job: limits its address space to what it holds now plus its
/// quarter of the weights and 640 MiB of room (the crate keeps up to 464 MiB of it for
/// OpenBLAS's buffers on two threads and their stacks): below the whole network. Checks
/// that the whole network is refused there, then computes the gradient across the
/// ranks; rank 0 writes it.
fn big(world: &World) -> Result<(), String> {
    // A small network first, so that the threads, their stacks and MPI's buffers are
    // counted in the address space the limit starts from.
    let small = DistMlp::<f64, _>::from_seed(world, &[64; 3], Activation::Sigmoid, 1)
        .map_err(|e| e.to_string())?;
    small
        .value_and_grad(Array1::zeros(64).view(), Mode::Reverse)
        .map_err(|e| e.to_string())?;
    let weights = (2 * BIG * BIG * 8) as u64;
    let limit = address_space() + weights / BIG_RANKS as u64 + (640 << 20);
    let rlim = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: setrlimit reads the struct; lowering a limit is always allowed.
    if unsafe { libc::setrlimit(libc::RLIMIT_AS, &rlim) } != 0 {
        return Err("setrlimit(RLIMIT_AS) refused".into());
    }
    match Mlp::<f64>::from_seed(&[BIG; 3], Activation::Sigmoid, BIG_SEED) {
        Err(Error::TooLarge { .. }) => {}
        other => {
            return Err(format!(
                "the whole network under the limit gave {:?}",
                other.map(|_| ())
            ))
        }
    }
    let dist = DistMlp::<f64, _>::from_seed(world, &[BIG; 3], Activation::Sigmoid, BIG_SEED)
        .map_err(|e| e.to_string())?;
    let x = random::standard_normal_vector::<f64>(BIG, BIG_SEED).unwrap();
    let (_, g) = dist
        .value_and_grad(x.view(), Mode::Reverse)
        .map_err(|e| e.to_string())?;
    if world.rank() == 0 {
        let out = std::env::var_os("FWDREV_MPI_BIG_OUT").expect("the output's path");
        npy::write(out, g.view()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// One rank of a job: every check, in the same order on every rank.
fn child() -> ExitCode {
    let universe = mpi::initialize().expect("MPI initialises once");
    fwdrev::distributed::end_job_on_panic();
    let world = universe.world();
    if std::env::var_os(CHILD).is_some_and(|v| v == "panic") {
        if world.rank() == 1 {
            let thread = std::thread::spawn(|| panic!("{PANIC_MESSAGE}"));
            thread.join().expect(JOINED);
        }
        world.barrier();
        return ExitCode::SUCCESS;
    }
    if std::env::var_os(CHILD).is_some_and(|v| v == "big") {
        if let Err(why) = big(&world) {
            eprintln!("rank {}: {why}", world.rank());
            world.abort(1);
        }
        return ExitCode::SUCCESS;
    }
    let checks: [(&str, Check); 10] = [
        ("random networks against one process", random_networks),
        ("from_seed draws the single-process rows", seeded_rows),
        ("uneven splits, ranks without rows", uneven_splits),
        ("repeats give the same bits", repeats),
        ("shapes that differ between ranks", mismatched_shapes),
        ("a rank that cannot allocate its rows", refused_rows),
        ("from_npy reads each rank's rows", npy_rows),
        ("a rank that cannot read its rows", unreadable_rows),
        ("J and ∇²f written at each rank's offsets", written_files),
        ("Lanczos, Hutchinson and SLQ over HVPs", curvature),
    ];
    for (name, check) in checks {
        if let Err(why) = check(&world) {
            eprintln!("rank {} of {}: {name}: {why}", world.rank(), world.size());
            world.abort(1);
        }
        if world.rank() == 0 {
            println!("  {name}: ok");
        }
    }
    ExitCode::SUCCESS
}

type World = mpi::topology::SimpleCommunicator;

/// One check, run by every rank.
type Check = fn(&World) -> Result<(), String>;

/// A small deterministic generator for shapes.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize % n
    }
}

/// A network of the given widths, each layer's activation and bias drawn by `rng`.
fn network(widths: &[usize], rng: &mut Lcg, seed: u64) -> Mlp<f64> {
    let layers = widths.windows(2).enumerate().map(|(k, w)| {
        let scale = 1.0 / (w[0] as f64).sqrt();
        let weights =
            random::standard_normal::<f64>(w[1], w[0], seed, (k as u64) << 32).unwrap() * scale;
        let act = Activation::ALL[rng.below(Activation::ALL.len())];
        let layer = Layer::new(weights, act);
        match rng.below(2) {
            0 => layer,
            _ => {
                layer.with_bias(random::standard_normal_vector(w[1], seed + 1 + k as u64).unwrap())
            }
        }
    });
    Mlp::new(layers.collect::<Vec<_>>()).unwrap()
}

fn bits(a: ArrayView1<f64>) -> Vec<u64> {
    a.iter().map(|v| v.to_bits()).collect()
}

fn same_bits(what: &str, got: ArrayView1<f64>, want: ArrayView1<f64>) -> Result<(), String> {
    match bits(got) == bits(want) {
        true => Ok(()),
        false => Err(format!("{what}: not bit-identical: {got} vs {want}")),
    }
}

/// |got − want| ≤ 1e−12·max(1, max|want|) entry by entry (the module's tolerance).
fn close(what: &str, got: ArrayView1<f64>, want: ArrayView1<f64>) -> Result<(), String> {
    let scale = want.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
    let err = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    match got.len() == want.len() && err <= 1e-12 * scale {
        true => Ok(()),
        false => Err(format!(
            "{what}: off by {err:e} (scale {scale:e}): {got} vs {want}"
        )),
    }
}

/// How a network's rows were split, hence how its outputs and tangents must agree.
#[derive(Clone, Copy)]
enum Rows {
    /// `Split::block`: whole quads, each row's dot the single-process one: same bits.
    Quads,
    /// Any split: the kernels' tails take some rows, in another order: to rounding.
    Any,
}

/// Every call of `dist` against `net`'s at one point.
fn against(
    dist: &DistMlp<f64, World>,
    net: &Mlp<f64>,
    seed: u64,
    rows: Rows,
) -> Result<(), String> {
    let same_bits = |what: &str, got: ArrayView1<f64>, want: ArrayView1<f64>| match rows {
        Rows::Quads => same_bits(what, got, want),
        Rows::Any => close(what, got, want),
    };
    let w = net.widths();
    let (d0, dl) = (w[0], w[w.len() - 1]);
    let x = random::standard_normal_vector::<f64>(d0, seed).unwrap();
    let v = random::standard_normal_vector::<f64>(d0, seed + 1).unwrap();
    let u = random::standard_normal_vector::<f64>(dl, seed + 2).unwrap();
    let e = |e: Error| e.to_string();
    let (f, g) = dist.value_and_grad(x.view(), Mode::Reverse).map_err(e)?;
    let (f1, g1) = net.value_and_grad(x.view(), Mode::Reverse).map_err(e)?;
    close(
        "f",
        Array1::from_elem(1, f).view(),
        Array1::from_elem(1, f1).view(),
    )?;
    close("∇f", g.view(), g1.view())?;
    let (f_fwd, g_fwd) = dist.value_and_grad(x.view(), Mode::Forward).map_err(e)?;
    if f_fwd.to_bits() != f.to_bits() {
        return Err(format!("f in forward mode {f_fwd}, in reverse {f}"));
    }
    close("∇f in forward mode", g_fwd.view(), g1.view())?;
    same_bits(
        "F",
        dist.output(x.view()).map_err(e)?.view(),
        net.output(x.view()).map_err(e)?.view(),
    )?;
    let (out, jv) = dist.jvp(x.view(), v.view()).map_err(e)?;
    let (out1, jv1) = net.jvp(x.view(), v.view()).map_err(e)?;
    same_bits("jvp's F", out.view(), out1.view())?;
    same_bits("J·v", jv.view(), jv1.view())?;
    let (out, uj) = dist.vjp(x.view(), u.view()).map_err(e)?;
    let (out1, uj1) = net.vjp(x.view(), u.view()).map_err(e)?;
    same_bits("vjp's F", out.view(), out1.view())?;
    close("uᵀ·J", uj.view(), uj1.view())?;
    let (g, hv) = dist.hvp(x.view(), v.view()).map_err(e)?;
    let (g1, hv1) = net.hvp(x.view(), v.view()).map_err(e)?;
    close("hvp's ∇f", g.view(), g1.view())?;
    close("∇²f·v", hv.view(), hv1.view())?;
    // Three points, the middle one x.
    let mut xs = random::standard_normal::<f64>(d0, 3, seed, 77).unwrap();
    xs.column_mut(1).assign(&x);
    let (f, g) = dist.value_and_grad_batch(xs.view()).map_err(e)?;
    let (f1, g1) = net.value_and_grad_batch(xs.view()).map_err(e)?;
    close("the batch's f", f.view(), f1.view())?;
    for j in 0..3 {
        close("the batch's ∇f", g.column(j), g1.column(j))?;
    }
    close(
        "the batch's ∇f at x",
        g.column(1),
        dist.value_and_grad(x.view(), Mode::Reverse)
            .map_err(e)?
            .1
            .view(),
    )?;
    let j1 = net.jacobian(x.view(), Mode::Reverse).map_err(e)?;
    for mode in [Mode::Forward, Mode::Reverse, Mode::Auto] {
        let j = dist.jacobian(x.view(), mode).map_err(e)?;
        if j.dim() != j1.dim() {
            return Err(format!("J ({mode:?}): shape {:?}", j.dim()));
        }
        let flat = |a: &ndarray::Array2<f64>| Array1::from_iter(a.iter().copied());
        close(&format!("J ({mode:?})"), flat(&j).view(), flat(&j1).view())?;
    }
    let h1 = net.hessian(x.view()).map_err(e)?;
    let h = dist.hessian(x.view()).map_err(e)?;
    let flat = |a: &ndarray::Array2<f64>| Array1::from_iter(a.iter().copied());
    close("∇²f", flat(&h).view(), flat(&h1).view())?;
    // Panels of 3 columns or rows (and a last one of fewer), where they are few.
    if d0.max(dl) > 64 {
        return Ok(());
    }
    let widest = w.iter().max().unwrap();
    let narrow = DistMlp::from_mlp_split(dist.comm(), net, dist.splits().to_vec())
        .map_err(e)?
        .with_memory_budget(3 * 3 * widest * 8);
    for mode in [Mode::Forward, Mode::Reverse] {
        let j = narrow.jacobian(x.view(), mode).map_err(e)?;
        close(
            &format!("J ({mode:?}) in panels of 3"),
            flat(&j).view(),
            flat(&j1).view(),
        )?;
    }
    let h = narrow.hessian(x.view()).map_err(e)?;
    close("∇²f in panels of 3", flat(&h).view(), flat(&h1).view())?;
    Ok(())
}

fn random_networks(world: &World) -> Result<(), String> {
    let mut rng = Lcg(20261201);
    for case in 0..24 {
        // Widths from 1 (fewer rows than ranks) to 300, depth 1 to 4.
        let depth = 1 + rng.below(4);
        let widths: Vec<usize> = (0..=depth)
            .map(|_| match rng.below(3) {
                0 => 1 + rng.below(4),
                _ => 1 + rng.below(300),
            })
            .collect();
        let net = network(&widths, &mut rng, case);
        let dist = DistMlp::from_mlp(world, &net).map_err(|e| e.to_string())?;
        against(&dist, &net, 100 + case, Rows::Quads)
            .map_err(|e| format!("widths {widths:?}: {e}"))?;
    }
    Ok(())
}

fn seeded_rows(world: &World) -> Result<(), String> {
    let widths = [37, 50, 3, 20];
    let net = Mlp::<f64>::from_seed(&widths, Activation::Tanh, 5).unwrap();
    let dist = DistMlp::<f64, _>::from_seed(world, &widths, Activation::Tanh, 5)
        .map_err(|e| e.to_string())?;
    let rank = world.rank() as usize;
    for (k, (local, whole)) in dist.local_layers().iter().zip(net.layers()).enumerate() {
        let rows = dist.splits()[k + 1].rows(rank);
        let want = whole.weights().slice(ndarray::s![rows, ..]).to_owned();
        if local.weights() != want.view() {
            return Err(format!(
                "layer {}: rows differ from Mlp::from_seed's",
                k + 1
            ));
        }
    }
    against(&dist, &net, 7, Rows::Quads)
}

fn uneven_splits(world: &World) -> Result<(), String> {
    let p = world.size() as usize;
    let widths = [40, 23, 31, 9];
    let mut rng = Lcg(7);
    let net = network(&widths, &mut rng, 11);
    // All rows on the last rank; then random counts, zeros included.
    let last: Vec<Split> = widths
        .iter()
        .map(|&d| {
            Split::from_counts(
                &(0..p)
                    .map(|r| if r + 1 == p { d } else { 0 })
                    .collect::<Vec<_>>(),
            )
            .unwrap()
        })
        .collect();
    let dist = DistMlp::from_mlp_split(world, &net, last).map_err(|e| e.to_string())?;
    against(&dist, &net, 21, Rows::Quads)?;
    for trial in 0..4 {
        let splits = widths
            .iter()
            .map(|&d| {
                let mut counts = vec![0; p];
                (0..d).for_each(|_| counts[rng.below(p)] += 1);
                Split::from_counts(&counts).unwrap()
            })
            .collect();
        let dist = DistMlp::from_mlp_split(world, &net, splits).map_err(|e| e.to_string())?;
        against(&dist, &net, 30 + trial, Rows::Any)?;
    }
    Ok(())
}

fn repeats(world: &World) -> Result<(), String> {
    let widths = [120, 97, 130];
    let dist = DistMlp::<f64, _>::from_seed(world, &widths, Activation::Sigmoid, 3)
        .map_err(|e| e.to_string())?;
    let x = random::standard_normal_vector::<f64>(120, 9).unwrap();
    let u = random::standard_normal_vector::<f64>(130, 10).unwrap();
    // Every call's result as one vector of bits.
    let all = || -> Vec<u64> {
        let (f, g) = dist.value_and_grad(x.view(), Mode::Reverse).unwrap();
        let (_, gf) = dist.value_and_grad(x.view(), Mode::Forward).unwrap();
        let (_, uj) = dist.vjp(x.view(), u.view()).unwrap();
        let (_, hv) = dist.hvp(x.view(), x.view()).unwrap();
        let j = dist.jacobian(x.view(), Mode::Reverse).unwrap();
        let parts = [Array1::from_elem(1, f), g, gf, uj, hv, Array1::from_iter(j)];
        parts.iter().flat_map(|p| bits(p.view())).collect()
    };
    let first = all();
    match (0..2).all(|_| all() == first) {
        true => Ok(()),
        false => Err("a repeated call gave other bits".into()),
    }
}

fn mismatched_shapes(world: &World) -> Result<(), String> {
    let rank = world.rank();
    let last = world.size() - 1;
    // The last rank names another width: every rank refuses, before any compute.
    let widths: &[usize] = if rank == last && last > 0 {
        &[10, 6]
    } else {
        &[10, 5]
    };
    match DistMlp::<f64, _>::from_seed(world, widths, Activation::Tanh, 1) {
        Err(Error::Shape { what, .. }) if last > 0 && what.contains(&format!("rank {last}")) => {}
        Ok(_) if last == 0 => {}
        other => return Err(format!("differing widths gave {:?}", other.map(|_| ()))),
    }
    // The last rank's splits hold the same counts, grouped otherwise (a split of 2 over
    // one rank, one of 2 over three): every rank refuses alike.
    if last == 1 {
        let splits = match rank {
            0 => vec![Split::block(2, 2).unwrap(), Split::block(2, 2).unwrap()],
            _ => vec![
                Split::from_counts(&[2]).unwrap(),
                Split::from_counts(&[1, 1, 0]).unwrap(),
            ],
        };
        match DistMlp::<f64, _>::from_seed_split(world, &[2, 2], Activation::Tanh, 1, splits) {
            Err(Error::Shape { what, .. }) if what.contains("the splits") => {}
            other => return Err(format!("regrouped splits gave {:?}", other.map(|_| ()))),
        }
    }
    // One rank's x of the wrong length: every rank refuses, none waits for the others.
    let dist = DistMlp::<f64, _>::from_seed(world, &[10, 5], Activation::Tanh, 1).unwrap();
    let n = if rank == last { 11 } else { 10 };
    match dist.value_and_grad(Array1::zeros(n).view(), Mode::Reverse) {
        Err(Error::Rank { rank: r, what })
            if r == last as usize && what.contains("x must have 10") => {}
        other => {
            return Err(format!(
                "a wrong x on rank {last} gave {:?}",
                other.map(|_| ())
            ))
        }
    }
    // A non-finite x (rank 0's, broadcast): every rank refuses alike.
    let mut x = Array1::zeros(10);
    x[3] = f64::NAN;
    match dist.value_and_grad(x.view(), Mode::Reverse) {
        Err(Error::NonFinite { index, .. }) if index == [3] => {}
        other => return Err(format!("a NaN in x gave {:?}", other.map(|_| ()))),
    }
    // Entries beyond the forward bound: refused, not computed wrong.
    let big = Array1::from_elem(10, f64::MAX / 4.0);
    match dist.value_and_grad(big.view(), Mode::Reverse) {
        Err(Error::OutOfRange { .. }) => Ok(()),
        other => Err(format!("x near f64::MAX gave {:?}", other.map(|_| ()))),
    }
}

fn refused_rows(world: &World) -> Result<(), String> {
    let p = world.size() as usize;
    // The last rank holds all 1000 rows of a 1000 × 2³⁰ matrix (8.6 TB): it refuses
    // before allocating, and every rank returns its error.
    let d0 = 1 << 30;
    let on_last = |d: usize| {
        (0..p)
            .map(|r| if r + 1 == p { d } else { 0 })
            .collect::<Vec<_>>()
    };
    let splits = vec![
        Split::block(d0, p).unwrap(),
        Split::from_counts(&on_last(1000)).unwrap(),
    ];
    match DistMlp::<f64, _>::from_seed_split(world, &[d0, 1000], Activation::Tanh, 1, splits) {
        Err(Error::Rank { rank, what }) if rank == p - 1 && what.contains("bytes") => {}
        other => return Err(format!("an 8.6 TB layer gave {:?}", other.map(|_| ()))),
    }
    // Counts MPI cannot take: a rank holding all 2³¹ − 1 rows of d0 of more than one
    // rank's sums (P·n beyond a C int) is refused on every rank before any compute.
    if p > 1 {
        let d0 = i32::MAX as usize;
        let splits = vec![
            Split::from_counts(&on_last(d0)).unwrap(),
            Split::block(4, p).unwrap(),
        ];
        match DistMlp::<f64, _>::from_seed_split(world, &[d0, 4], Activation::Tanh, 1, splits) {
            Err(Error::Rank { what, .. }) if what.contains("MPI counts are C ints") => {}
            other => {
                return Err(format!(
                    "2³¹ − 1 rows on one rank gave {:?}",
                    other.map(|_| ())
                ))
            }
        }
    }
    Ok(())
}

/// A directory all ranks share (rank 0's process id names it), emptied and made by rank 0.
fn shared_dir(world: &World, name: &str) -> PathBuf {
    let mut pid = std::process::id();
    world.process_at_rank(0).broadcast_into(&mut pid);
    let dir = std::env::temp_dir().join(format!("fwdrev-mpi-{pid}-{name}"));
    if world.rank() == 0 {
        common::empty_dir(&dir);
    }
    world.barrier();
    dir
}

/// `net`'s layers written by rank 0 into `dir` as W<k>.npy and b<k>.npy.
fn write_layers(
    world: &World,
    net: &Mlp<f64>,
    dir: &Path,
) -> Vec<(PathBuf, Option<PathBuf>, Activation)> {
    let files: Vec<_> = net
        .layers()
        .iter()
        .enumerate()
        .map(|(k, l)| {
            let w = dir.join(format!("W{}.npy", k + 1));
            let b = l.bias().map(|_| dir.join(format!("b{}.npy", k + 1)));
            (w, b, l.activation())
        })
        .collect();
    if world.rank() == 0 {
        for (l, (w, b, _)) in net.layers().iter().zip(&files) {
            npy::write(w, l.weights().as_standard_layout().view()).unwrap();
            if let (Some(bias), Some(b)) = (l.bias(), b) {
                npy::write(b, bias).unwrap();
            }
        }
    }
    world.barrier();
    files
}

fn layer_files(files: &[(PathBuf, Option<PathBuf>, Activation)]) -> Vec<LayerFiles<'_>> {
    files
        .iter()
        .map(|(w, b, act)| LayerFiles {
            weights: w,
            bias: b.as_deref(),
            activation: *act,
        })
        .collect()
}

fn npy_rows(world: &World) -> Result<(), String> {
    let dir = shared_dir(world, "rows");
    let mut rng = Lcg(99);
    let net = network(&[33, 45, 7, 20], &mut rng, 4);
    let files = write_layers(world, &net, &dir);
    let dist = DistMlp::from_npy(world, &layer_files(&files)).map_err(|e| e.to_string())?;
    let whole = DistMlp::from_mlp(world, &net).map_err(|e| e.to_string())?;
    for (a, b) in dist.local_layers().iter().zip(whole.local_layers()) {
        if a.weights() != b.weights() || a.bias() != b.bias() {
            return Err("the rows read differ from the network's".into());
        }
    }
    against(&dist, &net, 40, Rows::Quads)?;
    world.barrier();
    if world.rank() == 0 {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    Ok(())
}

fn unreadable_rows(world: &World) -> Result<(), String> {
    let dir = shared_dir(world, "bad");
    let (rank, last) = (world.rank(), world.size() - 1);
    let mut rng = Lcg(5);
    let net = network(&[12, 30, 4], &mut rng, 8);
    let mut files = write_layers(world, &net, &dir);
    // The last rank is given a file that is not there: every rank returns its error.
    let good = files[1].0.clone();
    if rank == last {
        files[1].0 = dir.join("missing.npy");
    }
    match DistMlp::<f64, _>::from_npy(world, &layer_files(&files)) {
        Err(Error::Rank { rank: r, what })
            if r == last as usize && what.contains("missing.npy") => {}
        other => {
            return Err(format!(
                "a missing file on rank {last} gave {:?}",
                other.map(|_| ())
            ))
        }
    }
    files[1].0 = good;
    // A NaN in the last row of W_1, which only the last rank reads.
    if rank == 0 {
        let mut w = net.layers()[0].weights().to_owned();
        w[[29, 5]] = f64::NAN;
        npy::write(&files[0].0, w.view()).unwrap();
    }
    world.barrier();
    let result = DistMlp::<f64, _>::from_npy(world, &layer_files(&files));
    world.barrier();
    if rank == 0 {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let split = Split::block(30, world.size() as usize).unwrap();
    let holder = (0..=last as usize).find(|&r| split.rows(r).contains(&29));
    match result {
        Err(Error::Rank { rank: r, what }) if Some(r) == holder && what.contains("[1, 29, 5]") => {
            Ok(())
        }
        other => Err(format!("a NaN in row 29 gave {:?}", other.map(|_| ()))),
    }
}

/// `write_jacobian` and `write_hessian` leave the gathered results' bits in one .npy
/// file (panels of 3 on uneven splits, zero-row ranks included, and whole), replacing an
/// existing file; a path no rank can write is every rank's error, and leaves nothing.
fn written_files(world: &World) -> Result<(), String> {
    let dir = shared_dir(world, "written");
    let p = world.size() as usize;
    let widths = [29, 41, 17];
    let mut rng = Lcg(13);
    let net = network(&widths, &mut rng, 6);
    let x = random::standard_normal_vector::<f64>(29, 3).unwrap();
    let e = |e: Error| e.to_string();
    let uneven = widths
        .iter()
        .map(|&d| {
            let mut counts = vec![0; p];
            (0..d).for_each(|_| counts[rng.below(p)] += 1);
            Split::from_counts(&counts).unwrap()
        })
        .collect();
    let nets = [
        DistMlp::from_mlp(world, &net).map_err(e)?,
        DistMlp::from_mlp_split(world, &net, uneven)
            .map_err(e)?
            .with_memory_budget(3 * 3 * 41 * 8),
    ];
    let path = dir.join("out.npy");
    if world.rank() == 0 {
        std::fs::write(&path, "an older file").unwrap();
    }
    world.barrier();
    let same = |what: &str, got: ndarray::Array2<f64>, want: ndarray::Array2<f64>| match got.dim()
        == want.dim()
        && got
            .iter()
            .zip(&want)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    {
        true => Ok(()),
        false => Err(format!("{what}: the file differs from the gathered result")),
    };
    for dist in &nets {
        for mode in [Mode::Forward, Mode::Reverse] {
            dist.write_jacobian(x.view(), mode, &path).map_err(e)?;
            let read = npy::read(&path).map_err(e)?;
            same(
                &format!("J ({mode:?})"),
                read,
                dist.jacobian(x.view(), mode).map_err(e)?,
            )?;
        }
        dist.write_hessian(x.view(), &path).map_err(e)?;
        let read = npy::read(&path).map_err(e)?;
        same("∇²f", read, dist.hessian(x.view()).map_err(e)?)?;
    }
    world.barrier();
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|f| f.unwrap().file_name())
        .collect();
    if left != ["out.npy"] {
        return Err(format!("files left beside the result: {left:?}"));
    }
    // A folder that is not there, then a folder where the file should be.
    for bad in [dir.join("missing/J.npy"), dir.clone()] {
        match nets[0].write_jacobian(x.view(), Mode::Forward, &bad) {
            Err(Error::Rank { rank: 0, what }) if what.contains(&*bad.to_string_lossy()) => {}
            other => return Err(format!("writing to {bad:?} gave {:?}", other.map(|_| ()))),
        }
    }
    world.barrier();
    let left = std::fs::read_dir(&dir).unwrap().count();
    world.barrier();
    if world.rank() == 0 {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    match left {
        1 => Ok(()),
        n => Err(format!("{n} files after the refused writes, where 1 was")),
    }
}

/// The Hessian's extreme eigenvalues, trace estimate and density across the ranks: as
/// one process finds them (the same iterations on HVPs that agree to rounding: the
/// eigenvalues to Lanczos's tolerance of 1e-10, the trace's probes to 1e-12 of its
/// scale), and the same bits on every rank.
fn curvature(world: &World) -> Result<(), String> {
    use mpi::traits::CommunicatorCollectives;
    let net = network(&[24, 40, 8], &mut Lcg(17), 3);
    let dist = DistMlp::from_mlp(world, &net).map_err(|e| e.to_string())?;
    let x = random::standard_normal_vector::<f64>(24, 5).unwrap();
    let e = |e: Error| e.to_string();
    let opts = fwdrev::Extremes {
        top: 2,
        bottom: 2,
        tol: 1e-10,
        ..Default::default()
    };
    let (got, want) = (
        dist.hessian_extremes(x.view(), &opts).map_err(e)?,
        net.hessian_extremes(x.view(), &opts).map_err(e)?,
    );
    if !(got.converged && want.converged) {
        return Err("Lanczos did not converge".into());
    }
    let values = |e: &fwdrev::Eigen| Array1::from_iter(e.top.iter().chain(&e.bottom).copied());
    let scale = values(&want).iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    for (g, w) in values(&got).iter().zip(values(&want).iter()) {
        if (g - w).abs() > 1e-10 * scale {
            return Err(format!(
                "eigenvalues {:?} where one process finds {:?}",
                values(&got),
                values(&want)
            ));
        }
    }
    let (t, t1) = (
        dist.hessian_trace(x.view(), 5, 9).map_err(e)?,
        net.hessian_trace(x.view(), 5, 9).map_err(e)?,
    );
    if (t.estimate - t1.estimate).abs() > 1e-12 * scale * 24.0 || t.products != 5 {
        return Err(format!(
            "trace {} where one process finds {}",
            t.estimate, t1.estimate
        ));
    }
    let (d, d1) = (
        dist.hessian_density(x.view(), 3, 6, 2).map_err(e)?,
        net.hessian_density(x.view(), 3, 6, 2).map_err(e)?,
    );
    let weights: f64 = d.weights.iter().sum();
    if d.nodes.len() != d1.nodes.len() || (weights - 1.0).abs() > 1e-12 {
        return Err(format!(
            "density: {} nodes, weights sum {weights}",
            d.nodes.len()
        ));
    }
    close(
        "the density's nodes",
        Array1::from(d.nodes.clone()).view(),
        Array1::from(d1.nodes).view(),
    )?;
    // Every rank's results, bit for bit.
    let mine: Vec<u64> = values(&got)
        .iter()
        .chain([t.estimate, t.stderr].iter())
        .chain(&d.nodes)
        .chain(&d.weights)
        .map(|v| v.to_bits())
        .collect();
    let mut all = vec![0u64; mine.len() * world.size() as usize];
    world.all_gather_into(&mine[..], &mut all[..]);
    match all.chunks(mine.len()).all(|r| r == mine) {
        true => Ok(()),
        false => Err("the ranks' results differ".into()),
    }
}

/// `Split::block` covers the rows once, in rank order, in whole quads; `from_counts`
/// takes uneven counts and refuses what MPI cannot count.
fn splits() -> Result<(), String> {
    for d in 0..40 {
        for p in 1..7 {
            let s = Split::block(d, p).map_err(|e| e.to_string())?;
            let rows: Vec<usize> = (0..p).flat_map(|r| s.rows(r)).collect();
            let sizes: Vec<usize> = (0..p).map(|r| s.rows(r).len()).collect();
            let spread = sizes.iter().max().unwrap() - sizes.iter().min().unwrap();
            // Whole quads but the last rank's rows: sizes differ by less than two quads.
            let quads = (0..p).all(|r| s.rows(r).is_empty() || s.rows(r).start.is_multiple_of(4));
            if (s.len(), s.ranks()) != (d, p)
                || rows != (0..d).collect::<Vec<_>>()
                || !quads
                || spread >= 8
            {
                return Err(format!("Split::block({d}, {p}): {sizes:?}"));
            }
        }
    }
    let s = Split::from_counts(&[0, 3, 0, 2]).map_err(|e| e.to_string())?;
    if (s.rows(1), s.rows(2), s.rows(3)) != (0..3, 3..3, 3..5) {
        return Err(format!("from_counts: {s:?}"));
    }
    let refused = [
        Split::from_counts(&[]),
        Split::block(5, 0),
        Split::from_counts(&[1 << 31]),
    ];
    match refused.iter().all(|r| r.is_err()) {
        true => Ok(()),
        false => Err("an empty split, no ranks, or 2³¹ rows accepted".into()),
    }
}
