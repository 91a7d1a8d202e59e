//! Every call, in every mode, on 2000 random small networks whose numbers span f64's
//! whole range (zeros, subnormals, 1e−300 … 1.7e308, saturating and underflowing
//! activations, biases, all seven activations), against exact arithmetic: 50-digit
//! mpmath with an unbounded exponent, stored in tests/data/wide by
//! `scripts/wide_reference.py` (the script's docstring gives the file layout).
//!
//! Tolerance, per entry: |got − exact| ≤ 2^−36·M + 2·2^−1074, where M is the same
//! computation on absolute values with every nonzero product of two normal numbers
//! counted as at least 2^−1022 (so IEEE's gradual underflow is inside it; a value below
//! the normal range, like σ(−800), is not floored: losing it fails), and 2·2^−1074 the
//! granularity of subnormals (both the stored exact value and the result are rounded) — the classical bound c·ε·M with c = 2^16 of room over
//! widths ≤ 4, depth ≤ 3 and pre-activations whose conditioning the script keeps below
//! 2^12·ε. A flushed slope, a lost tiny value or a wrong tail is off by O(1) of its own
//! term and fails it; an exact value beyond f64 must come out as that infinity, NaN never.

use fwdrev::{npy, Activation, Layer, Mlp, Mode};
use ndarray::{Array1, Array2, Ix1, Ix2};
use std::path::PathBuf;

const MODES: [Mode; 3] = [Mode::Forward, Mode::Reverse, Mode::Auto];

fn data(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/wide")
        .join(file)
}

/// One case's references, consumed in the script's order.
struct Refs<'a> {
    rows: &'a Array2<f64>,
    at: usize,
    case: usize,
}

impl Refs<'_> {
    /// Checks `got` against the next `got.len()` references.
    fn check<'g>(&mut self, what: &str, got: impl IntoIterator<Item = &'g f64>) {
        let mut n = 0;
        for (i, &got) in got.into_iter().enumerate() {
            n += 1;
            let (exact, log2_m) = (self.rows[[self.at + i, 0]], self.rows[[self.at + i, 1]]);
            // 0 for M = 0, inf beyond f64; a subnormal's own granularity (the exact
            // value is stored rounded to f64, and so is the result) on top.
            let grain = if log2_m > f64::NEG_INFINITY {
                2.0 * f64::from_bits(1)
            } else {
                0.0
            };
            let tol = (log2_m - 36.0).exp2() + grain;
            let ok = if exact.is_infinite() {
                got == exact
            } else if tol.is_infinite() {
                got.is_finite()
            } else {
                (got - exact).abs() <= tol
            };
            assert!(
                ok,
                "case {} {what}[{i}] (row {}): {got:e}, exact {exact:e}, tolerance {tol:e}",
                self.case,
                self.at + i
            );
        }
        self.at += n;
    }

    /// Checks each of several results against the same references.
    fn check_all(&mut self, what: &str, all: Vec<Vec<f64>>) {
        let start = self.at;
        for (n, got) in all.iter().enumerate() {
            self.at = start;
            self.check(&format!("{what} #{n}"), got);
        }
        self.at = start + all[0].len();
    }
}

#[test]
fn every_call_over_the_whole_range_matches_exact_arithmetic() {
    let params: Array1<f64> = npy::read::<f64, Ix1>(data("params.npy")).unwrap();
    let rows: Array2<f64> = npy::read::<f64, Ix2>(data("refs.npy")).unwrap();
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("index.json")).unwrap()).unwrap();
    let cases = index["cases"].as_array().unwrap();
    assert!(cases.len() >= 2000, "{} cases", cases.len());
    let nums = |v: &serde_json::Value| -> Vec<usize> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_u64().unwrap() as usize)
            .collect()
    };
    for (case_no, case) in cases.iter().enumerate() {
        let widths = nums(&case["widths"]);
        let acts: Vec<Activation> = case["activations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().parse().unwrap())
            .collect();
        let biases: Vec<bool> = case["biases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_bool().unwrap())
            .collect();
        let mut at = case["params"].as_u64().unwrap() as usize;
        let mut take = |n: usize| {
            let v = params.slice(ndarray::s![at..at + n]).to_owned();
            at += n;
            v
        };
        let mut layers = Vec::new();
        for (k, (&act, &bias)) in acts.iter().zip(&biases).enumerate() {
            let (d_out, d_in) = (widths[k + 1], widths[k]);
            let w = take(d_out * d_in)
                .into_shape_with_order((d_out, d_in))
                .unwrap();
            let layer = Layer::new(w, act);
            layers.push(if bias {
                layer.with_bias(take(d_out))
            } else {
                layer
            });
        }
        let (d0, dl) = (widths[0], widths[widths.len() - 1]);
        let (x, v, u) = (take(d0), take(d0), take(dl));
        let net = Mlp::new(layers).unwrap();
        let mut refs = Refs {
            rows: &rows,
            at: case["refs"].as_u64().unwrap() as usize,
            case: case_no,
        };

        let (f_jvp, jv) = net.jvp(x.view(), v.view()).unwrap();
        let (f_vjp, uj) = net.vjp(x.view(), u.view()).unwrap();
        refs.check_all(
            "F",
            vec![
                net.output(x.view()).unwrap().to_vec(),
                f_jvp.to_vec(),
                f_vjp.to_vec(),
            ],
        );
        let grads: Vec<(f64, Array1<f64>)> = MODES
            .iter()
            .map(|&m| net.value_and_grad(x.view(), m).unwrap())
            .collect();
        let (fs, gs) = net
            .value_and_grad_batch(ndarray::stack![ndarray::Axis(1), x, x].view())
            .unwrap();
        let (f_w, weight_grads) = net.value_and_weight_grads(x.view()).unwrap();
        let mut values = vec![net.value(x.view()).unwrap(), f_w, fs[0], fs[1]];
        values.extend(grads.iter().map(|(f, _)| *f));
        refs.check_all("f", values.iter().map(|f| vec![*f]).collect());
        let (g_hvp, hv) = net.hvp(x.view(), v.view()).unwrap();
        let mut all: Vec<Vec<f64>> = grads.iter().map(|(_, g)| g.to_vec()).collect();
        all.extend([gs.column(0).to_vec(), gs.column(1).to_vec(), g_hvp.to_vec()]);
        refs.check_all("grad", all);
        refs.check("jvp", &jv);
        refs.check("vjp", &uj);
        let at = net.hessian_at(x.view()).unwrap();
        let many = at
            .apply_many(v.view().insert_axis(ndarray::Axis(1)))
            .unwrap();
        let products = [
            hv.to_vec(),
            at.apply(v.view()).unwrap().to_vec(),
            many.into_raw_vec_and_offset().0,
        ];
        refs.check_all("hvp", products.to_vec());
        let jacs: Vec<Vec<f64>> = MODES
            .iter()
            .map(|&m| {
                let j = net.jacobian(x.view(), m).unwrap();
                j.iter().copied().collect()
            })
            .collect();
        refs.check_all("jacobian", jacs);
        let h = net.hessian(x.view()).unwrap();
        refs.check("hessian", h.iter());
        for (k, g) in weight_grads.iter().enumerate() {
            refs.check(&format!("dW{}", k + 1), g.weights.iter());
            if let Some(b) = &g.bias {
                refs.check(&format!("db{}", k + 1), b.iter());
            }
        }
        let end = rows.nrows().min(
            cases
                .get(case_no + 1)
                .map_or(rows.nrows(), |c| c["refs"].as_u64().unwrap() as usize),
        );
        assert_eq!(refs.at, end, "case {case_no}: references left over");
    }
}
