//! C ← A·X for X with few columns (n ≤ 128: a batch's points, a Jacobian's panel) on
//! views: the `fwdrev-thin` crate's register tiles (thin/), on this CPU's instruction
//! set. A is read in place with any strides (W or Wᵀ); every C entry is one chain of
//! multiply-adds in p's order, so the bits depend only on the operands (and on FMA,
//! which every instruction set but the portable one has).

use super::cast;
use super::{detected, Detected};
use crate::Real;
use fwdrev_thin::{Isa, Product};
use ndarray::{ArrayView2, ArrayViewMut2};

/// The widest n this file is for: wider products belong to a GEMM that packs.
pub(crate) const MAX_COLUMNS: usize = fwdrev_thin::MAX_COLUMNS;

/// C ← A·X (C overwritten): A m×k with any strides, X k×n and C m×n each with unit
/// column stride, n ≤ [`MAX_COLUMNS`]. Rows of C are split among up to `threads` rayon
/// tasks, in multiples of every tile's rows (12).
pub(crate) fn gemm<T: Real>(
    threads: usize,
    a: ArrayView2<T>,
    x: ArrayView2<T>,
    c: ArrayViewMut2<T>,
) {
    gemm_on(detected(), threads, a, x, c)
}

/// C ← A·B (C overwritten) for B of any width, where this CPU has AVX2 or AVX-512: A and
/// B packed around the same tile as [`gemm`]'s (`fwdrev_thin::dgemm_packed`), each C
/// entry the same one chain of multiply-adds. A with any strides, B and C with unit
/// column stride (else, or on the portable kernels, `false` and C untouched: the
/// portable tile is unvectorised and untuned, where faer's GEMM has kernels for other
/// CPUs' vectors). Rows of C are split among up to `threads` rayon tasks.
pub(crate) fn packed<T: Real>(
    threads: usize,
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    c: ArrayViewMut2<T>,
) -> bool {
    match detected() {
        #[cfg(target_arch = "x86_64")]
        kernel @ (Detected::Avx512(_) | Detected::Avx2(_)) => packed_on(kernel, threads, a, b, c),
        Detected::Portable(_) => false,
    }
}

/// The bytes [`packed`] allocates at most for C m×n, k deep, on `threads` threads
/// (`fwdrev_thin::packed_bytes` on this CPU's instruction set).
pub(crate) fn packed_bytes<T>(m: usize, k: usize, n: usize, threads: usize) -> usize {
    let size = std::mem::size_of::<T>();
    fwdrev_thin::packed_bytes(isa(detected()), m, k, n, threads, size)
}

/// [`packed`] on the tiles of `kernel`'s instruction set (which this CPU has), the
/// portable ones included.
fn packed_on<T: Real>(
    kernel: Detected,
    threads: usize,
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    mut c: ArrayViewMut2<T>,
) -> bool {
    let Some(p) = product(a, b, &mut c) else {
        return false;
    };
    // SAFETY: `product`'s.
    unsafe { run(Loops::Packed, kernel, threads, p) };
    true
}

/// The thin crate's name for `kernel`'s instruction set.
fn isa(kernel: Detected) -> Isa {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Detected::Avx512(_) => Isa::Avx512,
        #[cfg(target_arch = "x86_64")]
        Detected::Avx2(_) => Isa::Avx2,
        Detected::Portable(_) => Isa::Portable,
    }
}

/// Which of the thin crate's loops a product runs.
#[derive(Clone, Copy)]
enum Loops {
    /// The thin product's: A read in place, n ≤ [`MAX_COLUMNS`].
    Thin,
    /// The packed GEMM's: any n.
    Packed,
}

/// `p` on `loops` with the tiles of `kernel`'s instruction set (which this CPU has: a
/// kernel exists only where it was detected), in T's entry point.
///
/// SAFETY: `p` is [`product`]'s, from views still borrowed.
unsafe fn run<T: Real>(loops: Loops, kernel: Detected, threads: usize, p: Product<T>) {
    let isa = isa(kernel);
    // SAFETY: as the caller promises, and the CPU has `isa`'s features, as `kernel`
    // exists. The pointers are cast only where T is the type named.
    unsafe {
        if let Some(p) = cast::product::<T, f64>(p) {
            match loops {
                Loops::Thin => fwdrev_thin::dgemm(isa, threads, p),
                Loops::Packed => fwdrev_thin::dgemm_packed(isa, threads, p),
            }
        } else if let Some(p) = cast::product::<T, f32>(p) {
            match loops {
                Loops::Thin => fwdrev_thin::sgemm(isa, threads, p),
                Loops::Packed => fwdrev_thin::sgemm_packed(isa, threads, p),
            }
        } else {
            unreachable!("Real is f64 or f32")
        }
    }
}

/// [`gemm`] on the tiles of `kernel`'s instruction set (which this CPU has: a kernel
/// exists only where it was detected).
fn gemm_on<T: Real>(
    kernel: Detected,
    threads: usize,
    a: ArrayView2<T>,
    x: ArrayView2<T>,
    mut c: ArrayViewMut2<T>,
) {
    let p = product(a, x, &mut c).expect("thin gemm: X and C need unit column stride");
    // SAFETY: `product`'s.
    unsafe { run(Loops::Thin, kernel, threads, p) }
}

/// The views as the thin crate's operands, or `None` where X's or C's rows are not
/// adjacent (unit column stride; ndarray gives an empty array zero strides). The views'
/// pointers and strides name their own entries, C's apart from the others (it is
/// borrowed mutably), and the shapes agree (asserted).
fn product<T>(a: ArrayView2<T>, x: ArrayView2<T>, c: &mut ArrayViewMut2<T>) -> Option<Product<T>> {
    let ((m, k), n) = (a.dim(), c.ncols());
    assert!(
        c.nrows() == m && x.ncols() == n && x.nrows() == k,
        "thin gemm shapes"
    );
    let unit = |stride: isize, rows: usize| n < 2 || rows == 0 || stride == 1;
    (unit(x.strides()[1], k) && unit(c.strides()[1], m)).then(|| Product {
        m,
        k,
        n,
        a: a.as_ptr(),
        a_strides: [a.strides()[0], a.strides()[1]],
        x: x.as_ptr(),
        x_row_stride: x.strides()[0],
        c: c.as_mut_ptr(),
        c_row_stride: c.strides()[0],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fwdrev_thin::{KC, KC_AVX2, KC_AVX512, MC};
    use ndarray::{s, Array2};

    /// An m×n matrix of sin(i·s + j·t + 1): every product rounds.
    fn waves<T: Real>(m: usize, n: usize, s: usize) -> Array2<T> {
        Array2::from_shape_fn((m, n), |(i, j)| {
            T::from_f64(((i * s + j * (s + 2) + 1) as f64).sin())
        })
    }

    /// Each entry's chain of multiply-adds in p's order, fused or not.
    fn chain<T: Real>(a: ArrayView2<T>, x: ArrayView2<T>, fma: bool) -> Array2<T> {
        Array2::from_shape_fn((a.nrows(), x.ncols()), |(i, j)| {
            let terms = a.row(i).into_iter().zip(x.column(j));
            terms.fold(T::zero(), |s, (&a, &x)| match fma {
                true => a.mul_add(x, s),
                false => a * x + s,
            })
        })
    }

    fn bits<T: Real>(c: ArrayView2<T>) -> Vec<u64> {
        c.iter().map(|v| v.as_f64().to_bits()).collect()
    }

    /// Shapes around every block and tile edge: m past MC and the tiles' rows, k past
    /// every KC, n from 2 to 128 past every tile's width.
    fn shapes() -> Vec<(usize, usize, usize)> {
        let mut v = vec![];
        let deep = KC_AVX2;
        for &m in &[1, 5, 13, MC + 14] {
            for &k in &[
                1,
                KC - 1,
                KC,
                KC + 1,
                KC_AVX512,
                KC_AVX512 + 1,
                deep,
                deep + 1,
                2 * KC + 1,
                2 * KC_AVX512,
                2 * deep + 1,
            ] {
                for &n in &[2, 15, 16, 17, 33, 64, 128] {
                    v.push((m, k, n));
                }
            }
        }
        v
    }

    /// An m×k A and a k×n X.
    fn operands<T: Real>(m: usize, k: usize, n: usize) -> (Array2<T>, Array2<T>) {
        (waves::<T>(m, k, 1), waves::<T>(k, n, 3))
    }

    /// A in every layout the kernel takes, as [`view`] sees it: row-major, Wᵀ (unit
    /// row stride), every other column of a wider matrix (the others NaN), and columns
    /// reversed (a negative stride).
    fn layouts<T: Real>(a: &Array2<T>) -> Vec<(Array2<T>, &'static str)> {
        let (m, k) = a.dim();
        let mut strided = Array2::from_elem((m, 2 * k), T::nan());
        strided.slice_mut(s![.., ..;2]).assign(a);
        let transposed = a.t().as_standard_layout().into_owned().reversed_axes();
        vec![
            (a.clone(), "row-major"),
            (transposed, "transposed"),
            (strided, "strided"),
            (a.slice(s![.., ..;-1]).to_owned(), "reversed"),
        ]
    }

    /// The layout's A: itself, every other column of the strided one, or the reversed
    /// one's columns backwards.
    fn view<'a, T: Real>(a: &'a Array2<T>, layout: &str) -> ArrayView2<'a, T> {
        match layout {
            "strided" => a.slice(s![.., ..;2]),
            "reversed" => a.slice(s![.., ..;-1]),
            _ => a.view(),
        }
    }

    /// Every C entry is the chain of multiply-adds in p's order, bit for bit, for every
    /// thread count, shape and layout, on the detected kernel.
    #[test]
    fn every_entry_is_its_chain_of_multiply_adds() {
        fn check<T: Real>() {
            let fma = !matches!(detected(), Detected::Portable(_));
            for (m, k, n) in shapes() {
                let (a, x) = operands::<T>(m, k, n);
                let want = bits(chain(a.view(), x.view(), fma).view());
                for (a, layout) in layouts(&a) {
                    let a = view(&a, layout);
                    for threads in [1, 3] {
                        let mut c = Array2::from_elem((m, n), T::nan());
                        gemm(threads, a, x.view(), c.view_mut());
                        assert_eq!(
                            bits(c.view()),
                            want,
                            "{m}×{k}·{k}×{n} {layout}, {threads} threads"
                        );
                    }
                }
            }
        }
        check::<f64>();
        check::<f32>();
    }

    /// X and C with row strides other than n: X's and C's columns within wider
    /// matrices, and C's rows reversed (a negative stride).
    #[test]
    fn the_strides_of_x_and_c_are_honoured() {
        fn check<T: Real>() {
            let fma = !matches!(detected(), Detected::Portable(_));
            for &(m, k, n) in &[
                (203, 100, 33),
                (13, KC + 1, 17),
                (MC + 1, KC, 128),
                (30, 60, 64),
            ] {
                let a = waves::<T>(k, m, 5).reversed_axes();
                let wide = waves::<T>(k, n + 3, 3);
                for x in [wide.slice(s![.., 1..n + 1]), wide.slice(s![.., ..n])] {
                    let want = bits(chain(a.view(), x, fma).view());
                    for threads in [1, 3] {
                        let mut c = Array2::from_elem((m, n + 5), T::nan());
                        gemm(threads, a.view(), x, c.slice_mut(s![.., 2..n + 2]));
                        let at = format!("{m}×{k}·{k}×{n}, {threads} threads");
                        assert_eq!(bits(c.slice(s![.., 2..n + 2])), want, "wide C, {at}");
                        let mut c = Array2::from_elem((m, n), T::nan());
                        gemm(threads, a.view(), x, c.slice_mut(s![..;-1, ..]));
                        assert_eq!(bits(c.slice(s![..;-1, ..])), want, "reversed C, {at}");
                    }
                }
            }
        }
        check::<f64>();
        check::<f32>();
    }

    /// Every instruction set this CPU has, each with every tile it picks (the narrow
    /// ones for n ≤ two vectors), against the chains (fused where the set has FMA): the
    /// tiles other CPUs would run are tested here too.
    #[test]
    fn every_instruction_set_is_the_chain_too() {
        fn check<T: Real>() {
            #[allow(unused_mut)] // extended on x86-64 only
            let mut kernels = vec![Detected::Portable(crate::kernels::Portable)];
            #[cfg(target_arch = "x86_64")]
            kernels.extend(crate::kernels::Avx2::detect().map(Detected::Avx2));
            #[cfg(target_arch = "x86_64")]
            kernels.extend(crate::kernels::Avx512::detect().map(Detected::Avx512));
            // n across every tile's width: f64 AVX-512's narrow tile (n ≤ 16) full at
            // 16, f32's (n ≤ 32) at 32, both padded below; the wide ones above; one
            // column; no columns of A (C all zeros); no rows (only that it returns); the
            // wide tiles past two of AVX-512's kc-blocks with a padded last panel.
            for &(m, k, n) in &[
                (203, 100, 33),
                (13, KC + 1, 17),
                (13, KC + 1, 16),
                (MC + 1, KC + 1, 32),
                (MC + 1, KC, 128),
                (MC + 1, KC_AVX2 + 1, 20),
                (MC + 1, 2 * KC_AVX512 + 1, 65),
                (5, 7, 3),
                (9, 5, 1),
                (7, 0, 17),
                (0, 5, 3),
            ] {
                let (a, x) = operands::<T>(m, k, n);
                let plain = bits(chain(a.view(), x.view(), false).view());
                let fused = bits(chain(a.view(), x.view(), true).view());
                for (a, layout) in layouts(&a) {
                    let a = view(&a, layout);
                    for &kernel in &kernels {
                        let fuses = !matches!(kernel, Detected::Portable(_));
                        for threads in [1, 3] {
                            let mut c = Array2::from_elem((m, n), T::nan());
                            gemm_on(kernel, threads, a, x.view(), c.view_mut());
                            let want = if fuses { &fused } else { &plain };
                            let at = format!("{m}×{k}·{k}×{n} {layout}, {threads} threads");
                            assert_eq!(&bits(c.view()), want, "{kernel:?}: {at}");
                        }
                    }
                }
            }
        }
        check::<f64>();
        check::<f32>();
    }

    /// The packed GEMM (any n) on every instruction set this CPU has, the portable one
    /// included: every C entry its chain (fused where the set has FMA), bit for bit, for
    /// 1 and 3 threads, every layout of A, B and C within wider matrices, and shapes
    /// around every tile's rows (12, 6, 4) and columns (two vectors), both kc-blocks
    /// (`KC_PACKED_AVX512`, `KC_PACKED_AVX2`) and both nc-blocks. [`packed`] declines on
    /// the portable kernels and leaves C as it was.
    #[test]
    fn the_packed_gemm_is_the_chain_too() {
        use fwdrev_thin::{KC_PACKED_AVX2, NC_PACKED_AVX2};
        use fwdrev_thin::{KC_PACKED_AVX512 as KC_PACKED, NC_PACKED_AVX512 as NC_PACKED};
        fn check<T: Real>() {
            #[allow(unused_mut)] // extended on x86-64 only
            let mut kernels = vec![Detected::Portable(crate::kernels::Portable)];
            #[cfg(target_arch = "x86_64")]
            kernels.extend(crate::kernels::Avx2::detect().map(Detected::Avx2));
            #[cfg(target_arch = "x86_64")]
            kernels.extend(crate::kernels::Avx512::detect().map(Detected::Avx512));
            for &(m, k, n) in &[
                (1, 1, 2),
                (13, 1, 129),
                (25, KC_PACKED - 1, 17),
                (12, KC_PACKED, 32),
                (37, KC_PACKED + 1, NC_PACKED + 17),
                (24, 2 * KC_PACKED + 5, 33),
                (19, KC_PACKED_AVX2 + 1, NC_PACKED_AVX2 + 9),
                (7, 2 * KC_PACKED_AVX2 + 3, 2 * NC_PACKED_AVX2),
                (6, 2 * KC_PACKED_AVX2, NC_PACKED),
                (5, 7, 3),
                (7, 0, 200),
                (0, 5, 3),
            ] {
                let (a, x) = operands::<T>(m, k, n);
                let plain = bits(chain(a.view(), x.view(), false).view());
                let fused = bits(chain(a.view(), x.view(), true).view());
                let wide = {
                    let mut w = Array2::from_elem((k, n + 3), T::nan());
                    w.slice_mut(s![.., 1..n + 1]).assign(&x);
                    w
                };
                let b = wide.slice(s![.., 1..n + 1]);
                for (a, layout) in layouts(&a) {
                    let a = view(&a, layout);
                    for &kernel in &kernels {
                        let want = match kernel {
                            Detected::Portable(_) => &plain,
                            _ => &fused,
                        };
                        for threads in [1, 3] {
                            // C within NaNs on every side: a write past C shows.
                            let mut c = Array2::from_elem((m + 2, n + 5), T::nan());
                            let inner = s![1..m + 1, 2..n + 2];
                            let done = packed_on(kernel, threads, a, b, c.slice_mut(inner));
                            let at =
                                format!("{kernel:?}: {m}×{k}·{k}×{n} {layout}, {threads} threads");
                            assert!(done, "{at}");
                            assert_eq!(&bits(c.slice(inner)), want, "{at}");
                            c.slice_mut(inner).fill(T::nan());
                            assert!(c.iter().all(|v| v.is_nan()), "nothing past C: {at}");
                        }
                    }
                    let mut c = Array2::from_elem((m, n), T::nan());
                    let done = packed(1, a, b, c.view_mut());
                    let portable = matches!(detected(), Detected::Portable(_));
                    assert_eq!(done, !portable, "{m}×{k}·{k}×{n} {layout}");
                    if portable {
                        assert!(c.iter().all(|v| v.is_nan()), "C untouched");
                    }
                }
            }
        }
        check::<f64>();
        check::<f32>();
    }
}
