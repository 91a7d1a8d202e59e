//! Seeded standard-normal arrays, identical on every run, backend and thread count.

use crate::{memory, Real, Result};
use ndarray::{Array1, Array2, ArrayViewMut2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// A rows×cols matrix of standard-normal draws. Row i comes from ChaCha8 stream
/// `stream0 + i` of `seed`, so rows fill in parallel and the result does not depend on
/// the thread count. Values are drawn in f64 and rounded to `T`. A matrix that cannot
/// fit in memory is [`Error::TooLarge`](crate::Error::TooLarge), before any allocation.
pub fn standard_normal<T: Real>(
    rows: usize,
    cols: usize,
    seed: u64,
    stream0: u64,
) -> Result<Array2<T>> {
    let mut m: Array2<T> = memory::zeros(rows, cols)?;
    fill_standard_normal(m.view_mut(), seed, stream0);
    Ok(m)
}

/// [`standard_normal`]'s draws into `m`: row i from stream `stream0 + i` of `seed`.
pub(crate) fn fill_standard_normal<T: Real>(mut m: ArrayViewMut2<T>, seed: u64, stream0: u64) {
    m.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(i, mut row)| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(stream0 + i as u64);
            for v in row.iter_mut() {
                let z: f64 = StandardNormal.sample(&mut rng);
                *v = T::from_f64(z);
            }
        });
}

/// A point x ∈ R^n of standard-normal draws (stream 2⁶³ of `seed`, apart from the
/// weights' streams).
/// Errors as [`standard_normal`].
pub fn standard_normal_vector<T: Real>(n: usize, seed: u64) -> Result<Array1<T>> {
    Ok(standard_normal(1, n, seed, 1 << 63)?.index_axis_move(Axis(0), 0))
}

/// A small deterministic generator for the unit tests' random shapes and budgets.
#[cfg(test)]
pub(crate) struct Lcg(pub(crate) u64);

#[cfg(test)]
impl Lcg {
    /// The next number below n.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize % n
    }
}
