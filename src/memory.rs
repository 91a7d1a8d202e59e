//! Memory accounting: requests that cannot fit are refused before they allocate, with
//! [`crate::Error::TooLarge`] naming what, how much and how much there is.

use crate::{Error, Real, Result};

/// Bytes this process can still allocate: the tightest of the machine's `MemAvailable`,
/// the room left under the address-space and data limits (`RLIMIT_AS`, `RLIMIT_DATA`,
/// less what the process maps already, less a headroom for the threads' stacks and
/// the BLAS's own buffers), and the room left in its cgroup (`memory.max` less
/// `memory.current`); `None` where none of them can be read.
///
/// A cgroup's OOM killer can still end a process whose allocations all succeeded (pages
/// are committed when first written, and other processes share the cgroup): checking
/// against this figure before allocating is what keeps fwdrev's own requests inside it.
pub fn available_bytes() -> Option<u64> {
    [mem_available(), rlimit_room(), cgroup_room()]
        .into_iter()
        .flatten()
        .min()
}

/// `MemAvailable` from /proc/meminfo.
fn mem_available() -> Option<u64> {
    kib_field(
        &std::fs::read_to_string("/proc/meminfo").ok()?,
        "MemAvailable:",
    )
}

/// A `Name:  123 kB` line's bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.saturating_mul(1024))
}

/// Virtual memory the process will map beyond its own buffers once it computes: 8 MiB
/// of stack a thread, and, where the BLAS may be called, [`BLAS_BUFFER`] for each
/// thread and the caller; 64 MiB more for what no check sees (small allocations,
/// matrixmultiply's packing buffers of a few MiB, the loader).
fn headroom(blas: bool) -> u64 {
    let threads = crate::par::planned_threads() as u64;
    let buffers = if blas { (threads + 1) * BLAS_BUFFER } else { 0 };
    (64 << 20) + threads * (8 << 20) + buffers
}

/// What the BLAS maps for each thread that runs or calls it: OpenBLAS 0.3.21's buffer
/// (`BUFFER_SIZE`, 32 << 22 bytes on x86-64: VmSize rises by 128 MiB at a thread's first
/// call, and by as much for each of its threads at start); 64 MiB kept for BLIS.
const BLAS_BUFFER: u64 = if cfg!(feature = "openblas") {
    128 << 20
} else if cfg!(feature = "blis") {
    64 << 20
} else {
    0
};

/// Whether the BLAS may be called: always without an address-space limit; under one,
/// where [`headroom`]'s buffers fit when first asked (at the first check of any room),
/// and then for the life of the process (the crate's checked allocations keep that
/// room free). OpenBLAS 0.3.21, refused a buffer's mapping, spins forever instead of
/// failing; where this says no, the products run as with `set_deterministic(true)`
/// (faer and the crate's kernels) and the factorisations on faer.
pub(crate) fn blas_fits() -> bool {
    static BLAS_FITS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *BLAS_FITS.get_or_init(|| room_under_limits(headroom(true)).is_none_or(|room| room > 0))
}

/// Room under `RLIMIT_AS` and `RLIMIT_DATA`, less what is mapped and [`headroom`].
fn rlimit_room() -> Option<u64> {
    room_under_limits(headroom(blas_fits()))
}

/// Room under `RLIMIT_AS` and `RLIMIT_DATA`, less what is mapped and `reserve`.
fn room_under_limits(reserve: u64) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok();
    let limits = [(libc::RLIMIT_AS, "VmSize:"), (libc::RLIMIT_DATA, "VmData:")];
    limits
        .into_iter()
        .filter_map(|(resource, field)| {
            let limit = rlimit(resource)?;
            let used = status
                .as_deref()
                .and_then(|s| kib_field(s, field))
                .unwrap_or(0);
            Some(limit.saturating_sub(used + reserve))
        })
        .min()
}

/// getrlimit's resource type: glibc's enum, a C int elsewhere.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
type Resource = libc::c_int;

/// A resource's soft limit, `None` where there is none (or it cannot be read).
fn rlimit(resource: Resource) -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    let read = unsafe { libc::getrlimit(resource, &mut limit) } == 0;
    (read && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// Whether the address space or the data segment is limited (`RLIMIT_AS`,
/// `RLIMIT_DATA`).
pub(crate) fn address_space_limited() -> bool {
    rlimit(libc::RLIMIT_AS).is_some() || rlimit(libc::RLIMIT_DATA).is_some()
}

/// Under an address-space or data limit, has glibc's malloc serve every thread from one
/// arena. A thread's first allocation otherwise reserves an arena of its own, 64 MiB of
/// address space (`HEAP_MAX_SIZE`), up to 8 per core: with 8 threads that is 512 MiB
/// no check here sees, and an allocation after them aborted under 250–320 MiB on
/// a 300-wide forward pass. The crate's loops do not allocate, so sharing costs
/// nothing measurable. Called before the crate starts or runs its threads; once.
pub(crate) fn share_one_arena_under_a_limit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        if address_space_limited() {
            // SAFETY: mallopt only sets a parameter of glibc's allocator.
            unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
        }
    });
}

/// Whether faer's GEMM may run a product past its nano-GEMM (over 16³ multiply-adds) on
/// this thread. The first such call on a thread maps a packing buffer (600 MiB on a VM
/// that reports its host's 300 MiB L3) and aborts where the mapping is refused, so
/// under an address-space or data limit a thread that has not mapped it yet needs
/// [`faer_buffer_bound`] of room, and is let through only after mapping it: what the
/// caller allocates next is then checked against the room that is really left.
pub(crate) fn faer_buffer_fits() -> bool {
    thread_local! {
        /// Set once this thread has mapped its buffer (or needs no check).
        static MAPPED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if MAPPED.get() {
        return true;
    }
    let fits = match rlimit_room() {
        None => true,
        Some(room) if room >= faer_buffer_bound() => {
            map_faer_buffer();
            true
        }
        Some(_) => false,
    };
    MAPPED.set(fits);
    fits
}

/// Whether `bytes` more fit under the process's address-space and data limits (with the
/// headroom the crate keeps), or there is no limit: for the packed GEMM's blocks.
pub(crate) fn fits_under_limits(bytes: usize) -> bool {
    !address_space_limited() || rlimit_room().is_none_or(|room| room >= bytes as u64)
}

/// One product just past faer's nano-GEMM (17³ multiply-adds) on this thread: its
/// first such product maps the thread's packing buffer.
fn map_faer_buffer() {
    let a = faer::Mat::<f64>::zeros(17, 17);
    let mut c = faer::Mat::<f64>::zeros(17, 17);
    faer::linalg::matmul::matmul(
        c.as_mut(),
        faer::Accum::Replace,
        a.as_ref(),
        a.as_ref(),
        1.0,
        faer::Par::Seq,
    );
}

/// Errors ([`Error::TooLarge`] naming `what`) where this thread would have to map faer's
/// packing buffer ([`faer_buffer_fits`]) and it would not fit.
pub(crate) fn ensure_faer_buffer_fits(what: impl FnOnce() -> String) -> Result<()> {
    match faer_buffer_fits() {
        true => Ok(()),
        false => Err(Error::TooLarge {
            what: format!("{}: faer's packing buffer", what()),
            needed: faer_buffer_bound(),
            available: rlimit_room().unwrap_or(0),
        }),
    }
}

/// An upper bound of faer's packing buffer, which private-gemm sizes at twice the L3 it
/// reads from sysfs: a CPU's share of each cache level times the CPUs sharing its L1
/// (the L3 also times the physical cores), raised to at least 32 KiB, 256 KiB and 4× the
/// level below, 2 MiB (x86) and 4× the L2. Here each share is the largest over the CPUs (it
/// takes the last it reads) and the cores are all the CPUs listed; a MiB covers its
/// rounding to pages. Read from sysfs once: a thread whose check fails checks again at
/// each product.
fn faer_buffer_bound() -> u64 {
    static BOUND: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BOUND.get_or_init(|| sysfs_caches().map_or(u64::MAX, |c| c.faer_buffer_bound()))
}

/// The data caches sysfs lists, as [`faer_buffer_bound`] reads them.
#[derive(Default)]
struct Caches {
    /// The largest share of one CPU in each level's cache (size / CPUs sharing it).
    share: [u64; 3],
    /// The most CPUs sharing an L1.
    l1_sharers: u64,
    /// The CPUs listed.
    cpus: u64,
}

impl Caches {
    /// [`faer_buffer_bound`] for these caches.
    fn faer_buffer_bound(&self) -> u64 {
        let sharing_l1 = self.l1_sharers.max(1);
        let l1 = (self.share[0] * sharing_l1).max(32 << 10);
        let l2 = (self.share[1] * sharing_l1).max(256 << 10).max(4 * l1);
        let l3 = (self.share[2] * sharing_l1 * self.cpus.max(1))
            .max(2 << 20)
            .max(4 * l2);
        2 * l3 + (1 << 20)
    }
}

/// The caches of every CPU sysfs lists; `None` where the CPUs cannot be listed
/// (private-gemm then asks lscpu or CPUID, which this does not follow: no bound).
fn sysfs_caches() -> Option<Caches> {
    let mut caches = Caches::default();
    let cpus = std::fs::read_dir("/sys/devices/system/cpu").ok()?;
    let is_cpu = |name: &str| {
        name.strip_prefix("cpu")
            .is_some_and(|n| n.parse::<u32>().is_ok())
    };
    for cpu in cpus
        .flatten()
        .filter(|c| is_cpu(&c.file_name().to_string_lossy()))
    {
        caches.cpus += 1;
        let Ok(indices) = std::fs::read_dir(cpu.path().join("cache")) else {
            continue;
        };
        for index in indices.flatten() {
            let read = |f: &str| std::fs::read_to_string(index.path().join(f)).ok();
            let kind = read("type").unwrap_or_default();
            let level = read("level").and_then(|l| l.trim().parse::<usize>().ok());
            let size = read("size").and_then(|s| cache_bytes(&s));
            let sharers = read("shared_cpu_list").map_or(1, |l| cpu_count(&l)).max(1);
            if let (Some(level @ 1..=3), Some(size), "Data" | "Unified") =
                (level, size, kind.trim())
            {
                caches.share[level - 1] = caches.share[level - 1].max(size / sharers);
                if level == 1 {
                    caches.l1_sharers = caches.l1_sharers.max(sharers);
                }
            }
        }
    }
    Some(caches)
}

/// A sysfs cache size ("48K", "2048K", "300M", bytes without a unit).
fn cache_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = text.split_at(text.trim_end_matches(['K', 'M', 'G']).len());
    let scale = match unit {
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => 1,
    };
    Some(digits.parse::<u64>().ok()? * scale)
}

/// The CPUs in a sysfs list ("0-3,8,10-11").
fn cpu_count(list: &str) -> u64 {
    let range = |item: &str| -> Option<u64> {
        match item.split_once('-') {
            Some((a, b)) => (b.parse::<u64>().ok()? + 1).checked_sub(a.parse::<u64>().ok()?),
            None => item.parse::<u64>().ok().map(|_| 1),
        }
    };
    list.trim().split(',').filter_map(range).sum()
}

/// Room in this process's cgroup: v2 `memory.max − memory.current`, or v1
/// `memory.limit_in_bytes − memory.usage_in_bytes`, taking back the inactive page cache
/// the kernel reclaims before it refuses (`inactive_file`). The process's own cgroup,
/// else (v1 without a cgroup namespace: the path is not mounted) the mount's root.
fn cgroup_room() -> Option<u64> {
    let read = |p: &str| -> Option<u64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    let stat = |dir: &str, key: &str| -> u64 {
        let text = std::fs::read_to_string(format!("{dir}/memory.stat")).unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0)
    };
    let room = |dir: &str, files: [&str; 2], inactive: &str| -> Option<u64> {
        // "max" (no limit) does not parse: no figure from this folder.
        let max = read(&format!("{dir}/{}", files[0]))?;
        let used = read(&format!("{dir}/{}", files[1])).unwrap_or(0);
        Some(max.saturating_sub(used.saturating_sub(stat(dir, inactive))))
    };
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let (root, files, inactive) = match controllers {
            "" => (
                "/sys/fs/cgroup",
                ["memory.max", "memory.current"],
                "inactive_file",
            ),
            c if c.split(',').any(|c| c == "memory") => (
                "/sys/fs/cgroup/memory",
                ["memory.limit_in_bytes", "memory.usage_in_bytes"],
                "total_inactive_file",
            ),
            _ => continue,
        };
        let own = format!("{root}{path}");
        let dir = if std::path::Path::new(&own).is_dir() {
            own
        } else {
            root.to_string()
        };
        if let Some(r) = room(&dir, files, inactive) {
            return Some(r);
        }
    }
    None
}

/// A rows×cols matrix of zeros, refused with [`Error::TooLarge`] before allocating when
/// it cannot fit ([`available_bytes`]) or when the allocator says no; never an abort.
pub fn zeros<T: Real>(rows: usize, cols: usize) -> Result<ndarray::Array2<T>> {
    let n = rows.saturating_mul(cols);
    let bytes = bytes_of(&[rows, cols], std::mem::size_of::<T>());
    let data = try_vec(
        || format!("a {rows}×{cols} matrix of {}", T::NAME),
        n,
        bytes,
    )?;
    Ok(ndarray::Array2::from_shape_vec((rows, cols), data).expect("rows·cols values"))
}

/// The row stride, in values of `size` bytes, of a matrix of `cols` columns laid out on
/// lines ([`zeros_on_lines`]): rows of at least eight lines are padded to whole lines
/// (at most 1/8 more memory); narrower rows are packed, their padding would cost up to
/// 8× (a column of f64).
pub(crate) fn line_stride(cols: usize, size: usize) -> usize {
    match cols >= 8 * crate::scratch::LINE / size {
        true => crate::scratch::padded_values(cols, size),
        false => cols.max(1),
    }
}

/// A rows×cols matrix of zeros on lines: its first value on a 64-byte line
/// ([`LINE`](crate::scratch::LINE)) and, rows of eight lines and more, each row on
/// one, the stride [`line_stride`] (row-major as [`zeros`] where cols fill whole lines).
/// A 105×100 f64 matrix read from L2 by the vector kernels takes about a quarter less
/// time so: no load is split over two lines. The padding is never read. Refused as
/// [`zeros`] is.
pub(crate) fn zeros_on_lines<T: Real>(rows: usize, cols: usize) -> Result<ndarray::Array2<T>> {
    use ndarray::s;
    let line = crate::scratch::LINE / std::mem::size_of::<T>();
    let stride = line_stride(cols, std::mem::size_of::<T>());
    // One line more than the rows take, to start the first on a line.
    let n = rows.saturating_mul(stride).saturating_add(line);
    let data = try_vec::<T>(
        || format!("a {rows}×{cols} matrix of {}", T::NAME),
        n,
        bytes_of(&[n], std::mem::size_of::<T>()),
    )?;
    let skip = crate::scratch::values_to_line(data.as_ptr());
    Ok(ndarray::Array1::from_vec(data)
        .slice_move(s![skip..skip + rows * stride])
        .into_shape_with_order((rows, stride))
        .expect("rows·stride values")
        .slice_move(s![.., ..cols]))
}

/// A copy of `a` on lines, as [`zeros_on_lines`] lays them out.
pub(crate) fn copy_on_lines<T: Real>(a: ndarray::ArrayView2<T>) -> Result<ndarray::Array2<T>> {
    let mut m = zeros_on_lines(a.nrows(), a.ncols())?;
    m.assign(&a);
    Ok(m)
}

/// Whether `a` is laid out on lines as [`zeros_on_lines`] lays it out: rows contiguous,
/// the first value on a line, the row stride [`line_stride`].
pub(crate) fn on_lines<T>(a: ndarray::ArrayView2<T>) -> bool {
    let size = std::mem::size_of::<T>();
    let rows_in_order = a.ncols() <= 1 || a.strides()[1] == 1;
    let stride_on_lines = a.nrows() <= 1 || a.strides()[0] == line_stride(a.ncols(), size) as isize;
    let first = (a.as_ptr() as usize).is_multiple_of(crate::scratch::LINE);
    a.is_empty() || (rows_in_order && stride_on_lines && first)
}

/// Bytes of `count` values of `size` bytes each, `None` on overflow.
pub(crate) fn bytes_of(count: &[usize], size: usize) -> Option<u64> {
    count
        .iter()
        .try_fold(size as u64, |n, &c| n.checked_mul(c as u64))
}

/// Requests below this are not checked once some room has been seen ([`ROOM_SEEN`]):
/// reading /proc/meminfo costs ~5 µs, the whole Jacobian of a small network.
const UNCHECKED: u64 = 16 << 20;

/// Set once a check has found room beyond [`headroom`]: from then on the headroom's
/// slack takes the unchecked requests. Until then each request is checked, so that a
/// process started with its headroom already spent (OpenBLAS's workers, a loose
/// `ulimit -v`) refuses its first request instead of aborting at a later one.
static ROOM_SEEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Errors unless `bytes` (None: overflowed u64) fit in the machine's available memory
/// (requests under 16 MiB pass unchecked once [`ROOM_SEEN`]).
pub(crate) fn ensure_fits(what: impl FnOnce() -> String, bytes: Option<u64>) -> Result<()> {
    use std::sync::atomic::Ordering::Relaxed;
    if bytes.is_some_and(|b| b < UNCHECKED) && ROOM_SEEN.load(Relaxed) {
        return Ok(());
    }
    let available = available_bytes().unwrap_or(u64::MAX);
    if available > 0 {
        ROOM_SEEN.store(true, Relaxed);
    }
    match bytes {
        Some(b) if b <= available => Ok(()),
        _ => Err(Error::TooLarge {
            what: what(),
            needed: bytes.unwrap_or(u64::MAX),
            available,
        }),
    }
}

/// `n` zeros, refused before allocating (as [`ensure_fits`]) or when the allocator says
/// no: [`Error::TooLarge`] naming `what`, never an abort. The zeros come from the
/// allocator's zeroed pages (calloc), as `vec![0.0; n]`'s do: a large result is not
/// written twice; blocks of 32 MiB and more ask for huge pages first
/// ([`advise_huge_pages`]).
pub(crate) fn try_vec<T: Real>(
    what: impl FnOnce() -> String,
    n: usize,
    bytes: Option<u64>,
) -> Result<Vec<T>> {
    let what = std::cell::Cell::new(Some(what));
    let name = || what.take().map_or_else(String::new, |f| f());
    ensure_fits(name, bytes)?;
    let refused = || Error::TooLarge {
        what: name(),
        needed: bytes.unwrap_or(u64::MAX),
        available: available_bytes().unwrap_or(0),
    };
    let layout = std::alloc::Layout::array::<T>(n).map_err(|_| refused())?;
    if layout.size() == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: a non-zero layout; all-zero bits are 0.0 in f32 and f64, so the n values
    // are initialised, and the Vec owns the block with the layout it was made with.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout).cast::<T>();
        if ptr.is_null() {
            return Err(refused());
        }
        advise_huge_pages(ptr.cast(), layout.size());
        Ok(Vec::from_raw_parts(ptr, n, n))
    }
}

/// A huge page of x86-64 Linux, and of AArch64 Linux on 4 KiB pages.
const HUGE_PAGE: usize = 2 << 20;

/// The smallest block advised onto huge pages: glibc's largest mmap threshold (32 MiB
/// on 64-bit), so that an advised block is usually a mapping of its own (glibc, musl),
/// which the advice splits from nothing else and which goes with it when freed (a
/// layer of d ≥ 2048 in f64, 2896 in f32; a Jacobian's or a batch's large blocks). A
/// block that glibc serves from a heap it keeps (after a larger one was freed there)
/// passes the advice on to what later reuses those pages: more huge pages, the same
/// values.
const ADVISED_FROM: usize = 32 << 20;

/// Asks Linux to back the whole huge pages inside a fresh block of `len` bytes at `ptr`
/// with huge pages (`madvise(MADV_HUGEPAGE)`, for blocks of [`ADVISED_FROM`] bytes and
/// more), before anything writes it. Where transparent huge pages are on only for the
/// regions that ask (`madvise` in /sys/kernel/mm/transparent_hugepage/enabled, as on
/// this project's machines), large weights and results would otherwise sit on 4 KiB
/// pages, a TLB entry each: on huge pages one point's gradient at d = 8000 ran 3–4 %
/// faster, and the streaming read of its weights 3–6 % (docs/measured.md). The first
/// write of an advised page may wait while the kernel compacts memory for it (its
/// `defrag` setting). Returns whether the advice was taken: not for smaller blocks,
/// elsewhere than Linux, or where the kernel has no huge pages (taken is not granted:
/// with THP `never` the advice is accepted and ignored). Advice only: the values, and
/// the bytes allocated, are the same either way.
fn advise_huge_pages(ptr: *mut u8, len: usize) -> bool {
    let start = (ptr as usize).next_multiple_of(HUGE_PAGE);
    let end = (ptr as usize).saturating_add(len) / HUGE_PAGE * HUGE_PAGE;
    len >= ADVISED_FROM && end > start && madvise_huge(start, end - start)
}

/// `madvise(MADV_HUGEPAGE)` on [start, start + len), whole huge pages inside a block
/// the caller owns; whether it succeeded.
#[cfg(target_os = "linux")]
fn madvise_huge(start: usize, len: usize) -> bool {
    // SAFETY: the range lies inside the caller's block, and the advice changes how its
    // pages are backed, not their contents.
    unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_HUGEPAGE) == 0 }
}

/// Elsewhere than Linux: no advice.
#[cfg(not(target_os = "linux"))]
fn madvise_huge(_start: usize, _len: usize) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks of 32 MiB and more ask for huge pages, and the advice is taken where Linux
    /// has them (and only on Linux); smaller ones do not ask; the zeros stay zeros.
    #[test]
    fn large_blocks_ask_for_huge_pages() {
        let block = |bytes: usize| {
            try_vec::<f64>(|| "a block".into(), bytes / 8, Some(bytes as u64)).unwrap()
        };
        let advised = |v: &[f64]| advise_huge_pages(v.as_ptr().cast_mut().cast(), 8 * v.len());
        assert!(!advised(&block(ADVISED_FROM - 8)));
        let big = block(ADVISED_FROM);
        // A kernel built with huge pages shows them in /sys and takes the advice; a
        // sandbox without /sys may take it too.
        let has_huge_pages = std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists();
        // try_vec advised it: where the kernel has huge pages, the mapping holding the
        // block's first whole huge page carries the advice's flag (`hg`) in /proc.
        let inside = (big.as_ptr() as usize).next_multiple_of(HUGE_PAGE);
        if let Some(flags) = mapping_flags(inside).filter(|_| has_huge_pages) {
            assert!(flags.split_whitespace().any(|f| f == "hg"), "{flags}");
        }
        let taken = advised(&big);
        assert!(taken || !(cfg!(target_os = "linux") && has_huge_pages));
        assert!(!taken || cfg!(target_os = "linux"));
        assert!(big.iter().all(|&v| v == 0.0));
    }

    /// The `VmFlags` of the mapping of this process that holds `address`, from
    /// /proc/self/smaps (None where it cannot be read, or shows no flags).
    fn mapping_flags(address: usize) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            let range = line
                .split_whitespace()
                .next()
                .and_then(|r| r.split_once('-'));
            match range.map(|(a, b)| (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))) {
                Some((Ok(start), Ok(end))) => inside = (start..end).contains(&address),
                _ if inside => {
                    if let Some(flags) = line.strip_prefix("VmFlags:") {
                        return Some(flags.to_string());
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// A matrix made on lines starts on one, and so does every row of eight lines and
    /// more, for both types and shapes whose columns fill lines or not; narrower rows
    /// are packed (their padding would multiply the memory); a copy holds the same
    /// values; a view one value off the line is not on lines.
    #[test]
    fn rows_made_on_lines_start_on_lines() {
        fn check<T: Real>() {
            let line = 64 / std::mem::size_of::<T>();
            let narrow = [(1, 1), (7, 1), (1, 9), (0, 3), (3, 7), (4, 8), (2, 16)];
            let wide = [(105, 100), (95, 105), (3, 8 * line), (3, 8 * line + 1)];
            let on_a_line = |p: *const T| (p as usize).is_multiple_of(64);
            for (rows, cols) in narrow.into_iter().chain(wide) {
                let a = ndarray::Array2::from_shape_fn((rows, cols), |(i, j)| {
                    T::from_f64((i * 31 + j) as f64)
                });
                let m = copy_on_lines(a.view()).unwrap();
                assert!(on_lines(m.view()), "{rows}×{cols}");
                assert!(rows == 0 || on_a_line(m.as_ptr()), "{rows}×{cols}");
                let padded = cols >= 8 * line;
                let rows_on_lines = m.rows().into_iter().all(|r| on_a_line(r.as_ptr()));
                assert!(!padded || rows_on_lines, "{rows}×{cols}");
                assert_eq!(m, a, "{rows}×{cols}");
                // Plain row-major where the columns fill whole lines or are packed.
                let standard = !padded || cols % line == 0 || rows <= 1;
                assert_eq!(m.is_standard_layout(), standard, "{rows}×{cols}");
                let shifted = m.slice(ndarray::s![.., 1..]);
                let off = cols == 1 || rows == 0 || !on_lines(shifted);
                assert!(off, "{rows}×{cols} shifted");
            }
        }
        check::<f64>();
        check::<f32>();
        // Widths past any allocation saturate, to be refused, not to overflow.
        assert_eq!(line_stride(usize::MAX - 3, 8), usize::MAX);
    }

    #[test]
    fn sysfs_cache_sizes_and_cpu_lists_parse() {
        assert_eq!(cache_bytes("48K\n"), Some(48 << 10));
        assert_eq!(cache_bytes("300M"), Some(300 << 20));
        assert_eq!(cache_bytes("1G"), Some(1 << 30));
        assert_eq!(cache_bytes("4096"), Some(4096));
        assert_eq!(cache_bytes("big"), None);
        assert_eq!(cpu_count("0\n"), 1);
        assert_eq!(cpu_count("0-1"), 2);
        assert_eq!(cpu_count("0-3,8,10-11"), 7);
        assert_eq!(cpu_count("3-1"), 0);
    }

    /// On the Emerald Rapids VM (48 KiB L1 and 2 MiB L2 per CPU, one 300 MiB L3 shared
    /// by its 2 CPUs) faer mapped 600 MiB (the abort's "memory allocation of 629145600
    /// bytes failed"); with nothing listed, private-gemm's floor (an L3 of 2 MiB on x86).
    #[test]
    fn faer_buffer_bound_follows_private_gemms_formula() {
        let vm = Caches {
            share: [48 << 10, 2 << 20, 150 << 20],
            l1_sharers: 1,
            cpus: 2,
        };
        assert_eq!(vm.faer_buffer_bound(), 629_145_600 + (1 << 20));
        // Two CPUs sharing each core's L1 and L2 (SMT): the L3 counted for every CPU.
        let smt = Caches {
            share: [24 << 10, 1 << 20, 4 << 20],
            l1_sharers: 2,
            cpus: 8,
        };
        assert_eq!(smt.faer_buffer_bound(), 2 * (4 << 20) * 2 * 8 + (1 << 20));
        assert_eq!(Caches::default().faer_buffer_bound(), 5 << 20);
        assert!(faer_buffer_bound() >= 5 << 20);
    }
}
