//! Parallelism: how a call spreads its own loops over threads ([`Par`]), and one
//! process-wide thread count for rayon and the BLAS ([`set_threads`]).
//!
//! The crate's loops (the GEMV blocks, the fused last-layer pass, row scalings, the
//! wide-range path) run under a [`Par`]: the network's ([`Mlp::with_par`], default
//! [`Par::Rayon`]), or the one a `*_into` call is given. Work is always cut into the same
//! pieces, whatever the `Par`, so results do not depend on it; `Par` only decides
//! whether the pieces run on the calling thread or on rayon's workers. A batch of
//! gradients is the one exception: its points are cut one piece per thread, and only
//! where each point's bits do not depend on the cut (its products on faer's kernels or
//! the crate's, not on a BLAS).
//!
//! Matrix products (forward mode, Jacobian and Hessian panels, batches) run on the
//! BLAS's own threads, set process-wide by [`set_threads`] (OpenBLAS 0.3.21 has no
//! per-call setting), or on the pure-Rust GEMMs (the crate's packed one on AVX2 and
//! AVX-512, faer's elsewhere, and those of products thin in C's columns even with a
//! BLAS), which follow the `Par`: rayon's current pool, the
//! pool of [`Par::Threads`], or the calling thread alone under [`Par::Seq`]. Calls made
//! of matrix-vector products (gradients, JVP, VJP, HVP, weight gradients) start no
//! thread at all under [`Par::Seq`]: a program that runs many of them from its own
//! threads should give each [`Par::Seq`].
//!
//! [`Mlp::with_par`]: crate::Mlp::with_par

use crate::{Error, Result};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

/// How a call runs its own parallel loops (faer's `Par`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Par {
    /// Every loop on the calling thread: for callers that run many calls in parallel
    /// themselves.
    Seq,
    /// Rayon's current pool: the global one (sized by [`set_threads`]), or the caller's
    /// own when called from inside one.
    #[default]
    Rayon,
    /// A pool of this many threads, built on first use and kept for the process.
    Threads(NonZeroUsize),
}

/// Below this much work (values touched or multiply-adds) a loop stays on the calling
/// thread: waking rayon's workers costs ~10 µs, more than scaling a 100×100 matrix.
pub(crate) const MIN_WORK: usize = 1 << 16;

/// Below this many matrix entries a matrix-vector sweep (a GEMV, the fused pass) stays
/// on the calling thread: it reads an entry in ~0.15 ns, and waking rayon's workers cost
/// 20–40 µs on the 2-core VM measured, so one thread was 1.2–1.9× faster up to d = 500
/// (250 000 entries) and two 1.1× faster from d = 700 (docs/measured.md). The blocks such
/// a sweep sums in are fixed by [`MIN_WORK`] whichever runs them, so the bits are too.
pub(crate) const MIN_MATRIX_WORK: usize = 1 << 18;

impl Par {
    /// Whether a loop over `work` units should run on rayon's workers.
    #[inline]
    pub(crate) fn splits(self, work: usize) -> bool {
        self != Par::Seq && work >= MIN_WORK
    }

    /// Whether a matrix-vector sweep over `entries` should run on rayon's workers.
    #[inline]
    pub(crate) fn splits_matrix(self, entries: usize) -> bool {
        self != Par::Seq && entries >= MIN_MATRIX_WORK
    }

    /// Runs `f` where this setting's loops belong: in [`Par::Threads`]'s pool, else on
    /// the calling thread (whose rayon calls go to the current pool; under [`Par::Seq`]
    /// its GEMMs on faer stay on it too, see [`sequential`]).
    pub(crate) fn install<R: Send>(self, f: impl FnOnce() -> R + Send) -> R {
        crate::memory::share_one_arena_under_a_limit();
        match self {
            Par::Threads(n) if n.get() != rayon::current_num_threads() => pool(n).install(f),
            Par::Seq => {
                /// Restores the flag however `f` ends (a panic included).
                struct Restore(bool);
                impl Drop for Restore {
                    fn drop(&mut self) {
                        SEQUENTIAL.with(|s| s.set(self.0));
                    }
                }
                let _restore = Restore(SEQUENTIAL.with(|s| s.replace(true)));
                f()
            }
            _ => f(),
        }
    }
}

thread_local! {
    /// Set while a [`Par::Seq`] call runs on this thread.
    static SEQUENTIAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread runs a [`Par::Seq`] call: its GEMMs on faer then start no
/// thread either.
pub(crate) fn sequential() -> bool {
    SEQUENTIAL.with(|s| s.get())
}

/// `$zip.for_each($f)` on the calling thread, or `$zip.par_for_each($f)` when `$par`
/// splits `$work`: the one shape of every elementwise parallel pass.
macro_rules! zip_for_each {
    ($par:expr, $work:expr, $zip:expr, $f:expr) => {{
        let (zip, f) = ($zip, $f);
        if $par.splits($work) {
            zip.par_for_each(f)
        } else {
            zip.for_each(f)
        }
    }};
}
pub(crate) use zip_for_each;

/// `f(i, chunk)` for each `chunk`-sized piece of `data`, split over rayon's workers
/// when `par` splits `work`. Inlined, so that a kernel's loop in `f` is compiled with
/// its caller's instruction set ([`Avx2::vectorize`](crate::kernels::Avx2::vectorize)).
#[inline(always)]
pub(crate) fn for_each_chunk<T: Send>(
    par: Par,
    work: usize,
    data: &mut [T],
    chunk: usize,
    f: impl Fn(usize, &mut [T]) + Send + Sync,
) {
    use rayon::prelude::*;
    if par.splits(work) {
        data.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
    } else {
        data.chunks_mut(chunk).enumerate().for_each(
            #[inline(always)]
            |(i, c)| f(i, c),
        );
    }
}

/// The pool of `n` threads for [`Par::Threads`].
fn pool(n: NonZeroUsize) -> Arc<rayon::ThreadPool> {
    static POOLS: Mutex<Vec<(usize, Arc<rayon::ThreadPool>)>> = Mutex::new(Vec::new());
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = pools.iter().find(|(m, _)| *m == n.get()) {
        return p.clone();
    }
    // Building a pool fails only if the OS refuses threads; then run on fewer.
    let p = rayon::ThreadPoolBuilder::new()
        .num_threads(n.get())
        .build()
        .or_else(|_| rayon::ThreadPoolBuilder::new().num_threads(1).build())
        .expect("a one-thread pool");
    let p = Arc::new(p);
    pools.push((n.get(), p.clone()));
    p
}

/// Runs rayon's global pool and the BLAS on `n` threads (at least 1).
///
/// Call it once, before the first computation; the binary does with `--threads N`
/// (default: `RAYON_NUM_THREADS`, else every core). Errors when rayon's pool already
/// runs another count (it is built once per process, on first use), or when the
/// operating system will not start the threads (a process or memory limit).
pub fn set_threads(n: usize) -> Result<()> {
    let n = n.max(1);
    crate::memory::share_one_arena_under_a_limit();
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
    {
        // Either the pool exists already (a second call, or a computation ran first) or
        // its threads could not be spawned; only the first is fine, at the same count.
        // Asking rayon for its count after a failed spawn would panic, so the message
        // tells the two apart.
        if !e.to_string().contains("already been initialized") {
            return Err(Error::ThreadsRefused {
                requested: n,
                reason: e.to_string(),
            });
        }
        if rayon::current_num_threads() != n {
            return Err(Error::Threads {
                requested: n,
                running: rayon::current_num_threads(),
            });
        }
    }
    crate::backend::set_threads(n);
    SET.store(n, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// The count [`set_threads`] set, 0 before.
static SET: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The threads the process runs or will run: [`set_threads`]'s count, else
/// [`default_threads`]. Unlike [`threads`], it does not start rayon's pool (after which
/// [`set_threads`] can no longer choose another count).
pub fn planned_threads() -> usize {
    match SET.load(std::sync::atomic::Ordering::Relaxed) {
        0 => default_threads(),
        n => n,
    }
}

/// The thread count of rayon's pool (and, after [`set_threads`], of the BLAS).
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// The count to run on when none is given: `RAYON_NUM_THREADS` if set to a number,
/// else every core the OS gives this process.
pub fn default_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sequential_call_marks_its_thread_for_its_duration_only() {
        assert!(!sequential());
        assert!(Par::Seq.install(sequential));
        assert!(!Par::Rayon.install(sequential));
        // Nested in a sequential call, and after a panic inside one, as before.
        assert!(Par::Seq.install(|| Par::Rayon.install(sequential)));
        let _ = std::panic::catch_unwind(|| Par::Seq.install(|| panic!("inside")));
        assert!(!sequential());
    }
}
