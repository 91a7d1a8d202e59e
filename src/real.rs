//! The scalar types the crate computes in: `f32` and `f64`.

use ndarray::{LinalgScalar, ScalarOperand};
use num_traits::Float;
use std::fmt::{Debug, Display};
use std::iter::Sum;

/// A floating-point scalar usable by every kernel: `f32` or `f64`.
///
/// Sealed in practice by the BLAS backends, which only exist for these two.
pub trait Real:
    Float + LinalgScalar + ScalarOperand + Sum + Send + Sync + Debug + Display + Default + 'static
{
    /// The NumPy dtype string of this type in little-endian order (`"<f8"`, `"<f4"`).
    const NPY_DESCR: &'static str;
    /// The name used on the command line and in JSON (`"f64"`, `"f32"`).
    const NAME: &'static str;
    /// Conversion from f64, rounding to nearest for `f32`.
    fn from_f64(v: f64) -> Self;
    /// Exact widening to f64.
    fn as_f64(self) -> f64;
    /// Encodes one value little-endian.
    fn write_le_bytes(self, out: &mut Vec<u8>);
}

impl Real for f64 {
    const NPY_DESCR: &'static str = "<f8";
    const NAME: &'static str = "f64";
    fn from_f64(v: f64) -> Self {
        v
    }
    fn as_f64(self) -> f64 {
        self
    }
    fn write_le_bytes(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Real for f32 {
    const NPY_DESCR: &'static str = "<f4";
    const NAME: &'static str = "f32";
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
    fn write_le_bytes(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}
