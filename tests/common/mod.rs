//! What several test files build: the seed problem's two-layer network, and the
//! networks of the reference cases in tests/data.
#![allow(dead_code)]

use fwdrev::{npy, Activation, Mlp, Real, Result};
use ndarray::{Array1, Array2, ArrayD, ArrayView2, Ix1, Ix2};
use std::path::PathBuf;

/// An empty directory of this test process's own: <temp>/<name>-<pid>, emptied first. A
/// process id is reused (in a container every run may get the same ones), and an earlier
/// run's files must not be taken for this run's.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    empty_dir(&dir);
    dir
}

/// <file> in this test crate's own fresh folder (<temp>/fwdrev-<crate>-<pid>, emptied
/// on the first call).
pub fn tmp(file: &str) -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| fresh_dir(&format!("fwdrev-{}", env!("CARGO_CRATE_NAME"))))
        .join(file)
}

/// `dir` made anew, empty (whatever an earlier run left there removed first).
pub fn empty_dir(dir: &std::path::Path) {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("{}: {e}", dir.display()),
        _ => {}
    }
    std::fs::create_dir_all(dir).unwrap();
}

/// tests/data/<root>/<case>.
pub fn case_dir(root: &str, case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(root)
        .join(case)
}

/// <file>.npy of a reference case.
pub fn load(root: &str, case: &str, file: &str) -> ArrayD<f64> {
    npy::read::<f64, ndarray::IxDyn>(case_dir(root, case).join(format!("{file}.npy")))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A 1-D <file>.npy of a reference case.
pub fn load_vector(root: &str, case: &str, file: &str) -> Array1<f64> {
    load(root, case, file).into_dimensionality::<Ix1>().unwrap()
}

/// The network of a general reference case (W1.npy …, bK.npy where present,
/// activations.txt), or of a two-layer oracle case (A.npy, B.npy).
pub fn case_net(root: &str, case: &str) -> Mlp<f64> {
    let matrix = |file: &str| load(root, case, file).into_dimensionality::<Ix2>().unwrap();
    let Ok(acts) = std::fs::read_to_string(case_dir(root, case).join("activations.txt")) else {
        return sigmoid2(matrix("A"), matrix("B")).unwrap();
    };
    let bias = |k: usize| {
        let file = format!("b{}", k + 1);
        let exists = case_dir(root, case).join(format!("{file}.npy")).exists();
        exists.then(|| load_vector(root, case, &file))
    };
    let layers = acts.lines().enumerate().map(|(k, name)| {
        let activation = name.parse::<Activation>().expect("a known activation");
        (matrix(&format!("W{}", k + 1)), bias(k), activation)
    });
    Mlp::new(layers.collect::<Vec<_>>()).unwrap()
}

/// f(x) = Σσ(B·σ(A·x)): two sigmoid layers, A then B.
pub fn sigmoid2<T: Real>(a: Array2<T>, b: Array2<T>) -> Result<Mlp<T>> {
    Mlp::new([(a, Activation::Sigmoid), (b, Activation::Sigmoid)])
}

/// The seeded two-layer network of widths (d0, d1, d2).
pub fn seeded<T: Real>(d0: usize, d1: usize, d2: usize, seed: u64) -> Result<Mlp<T>> {
    Mlp::from_seed(&[d0, d1, d2], Activation::Sigmoid, seed)
}

/// Layer k's weights (A for k = 0, B for k = 1).
pub fn w<T: Real>(net: &Mlp<T>, k: usize) -> ArrayView2<'_, T> {
    net.layers()[k].weights()
}

/// Whether every row of `w` is contiguous and starts on a 64-byte line.
pub fn rows_on_lines(w: ArrayView2<f64>) -> bool {
    let on_line = |p: *const f64| (p as usize).is_multiple_of(64);
    w.rows().into_iter().all(|r| on_line(r.as_ptr())) && w.strides()[1] == 1
}

/// A row-major copy of `w` whose first value sits `off` values past a 64-byte line.
pub fn placed(w: ArrayView2<f64>, off: usize) -> Array2<f64> {
    let (m, n) = w.dim();
    let buf = Array1::<f64>::zeros(m * n + 16);
    let skip = buf.as_ptr().align_offset(64) + off;
    let mut a = buf
        .slice_move(ndarray::s![skip..skip + m * n])
        .into_shape_with_order((m, n))
        .unwrap();
    a.assign(&w);
    assert_eq!(a.as_ptr() as usize % 64, 8 * off);
    a
}

/// σ(t).
pub fn sigmoid(t: f64) -> f64 {
    Activation::Sigmoid.value_and_slope(t).0
}

/// σ'(t).
pub fn sigmoid_derivative(t: f64) -> f64 {
    Activation::Sigmoid.value_and_slope(t).1
}

/// (σ(t), σ'(t)) in any type.
pub fn sigmoid_and_derivative<T: Real>(t: T) -> (T, T) {
    Activation::Sigmoid.value_and_slope(t)
}
