//! The machine speeds that turn a product's shape into predicted seconds.

use crate::backend::{gemm, STORED_GEMM_RATE, STORED_NARROW};
use crate::baseline::stream_sum;
use ndarray::Array2;
use std::time::Instant;

/// The machine speeds [`Mode::Auto`](crate::Mode::Auto) plans with. Rates are for f64;
/// f32 products are taken to run twice as fast (twice the values per vector register).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// f64 multiply-adds per second of a large matrix product.
    pub gemm_rate: f64,
    /// Bytes per second of a streaming read from memory.
    pub bandwidth: f64,
    /// Seconds each product costs beyond its arithmetic and traffic (call, threads).
    pub call_seconds: f64,
    /// A product whose smallest dimension is s runs at s/(s + `narrow`) of the square
    /// rate (packing and edge handling are not amortised): with OpenBLAS (≈ 35) a
    /// 1000×10 by 10×1000 product runs at ~0.2 of it, a 50-wide one at ~0.6.
    pub narrow: f64,
}

impl Calibration {
    /// The stored profile of this build's backend, measured on the development machine
    /// (docs/measured.md): the networks' default, so that plans do not depend on a
    /// timing.
    pub fn stored() -> Calibration {
        Calibration {
            gemm_rate: STORED_GEMM_RATE,
            bandwidth: 3.89e10,
            call_seconds: 3e-6,
            narrow: STORED_NARROW,
        }
    }

    /// Times this machine (about 0.15 s): a 384³ GEMM, a 384×16 by 16×384 one, a
    /// streaming read of 64 MiB (less where a quarter of the room left is less, down to
    /// 4 MiB: under a memory limit this read counts as a check would not), and a 4³ GEMM
    /// for the per-call overhead, each the best of a few runs, in f64.
    pub fn measure() -> Calibration {
        crate::memory::share_one_arena_under_a_limit();
        fn best(reps: usize, mut f: impl FnMut()) -> f64 {
            f();
            (0..reps)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min)
        }
        let n = 384;
        let a = Array2::<f64>::from_elem((n, n), 1.0);
        let mut c = Array2::<f64>::zeros((n, n));
        let gemm_s = best(7, || gemm(a.view(), a.view(), c.view_mut()));
        let thin = 16;
        let (p, q) = (
            Array2::<f64>::from_elem((n, thin), 1.0),
            Array2::<f64>::from_elem((thin, n), 1.0),
        );
        let thin_s = best(7, || gemm(p.view(), q.view(), c.view_mut()));
        let room = crate::memory::available_bytes().unwrap_or(u64::MAX) / 4;
        let len = room.clamp(4 << 20, 64 << 20) as usize / 8;
        let big = vec![1.0_f64; len];
        let read_s = best(5, || {
            std::hint::black_box(stream_sum(&big));
        });
        let s = Array2::<f64>::from_elem((4, 4), 1.0);
        let mut cs = Array2::<f64>::zeros((4, 4));
        let call_s = best(50, || gemm(s.view(), s.view(), cs.view_mut()));
        let gemm_rate = (n * n * n) as f64 / gemm_s;
        let thin_rate = (n * n * thin) as f64 / thin_s;
        Calibration {
            gemm_rate,
            bandwidth: (len * 8) as f64 / read_s,
            call_seconds: call_s,
            // thin_rate = gemm_rate·thin/(thin + narrow)
            narrow: (thin as f64 * (gemm_rate / thin_rate - 1.0)).clamp(0.0, n as f64),
        }
    }

    /// Predicted seconds of an m×k by k×n product of `size`-byte values (the diagonal
    /// folded into one operand included in the traffic).
    pub fn product_seconds(&self, m: usize, k: usize, n: usize, size: usize) -> f64 {
        let (m, k, n) = (m as f64, k as f64, n as f64);
        let smallest = m.min(k).min(n);
        let efficiency = smallest / (smallest + self.narrow);
        // f32 products run at twice the f64 rate.
        let rate = self.gemm_rate * (8.0 / size as f64);
        let arithmetic = m * k * n / (rate * efficiency);
        let traffic = (m * k + k * n + m * n) * size as f64 / self.bandwidth;
        arithmetic.max(traffic) + self.call_seconds
    }
}
