//! Under `mpirun -n P fwdrev …` (feature `mpi`): `grad`, `hvp`, `jac`, `curvature` and
//! `time` on a network split by rows over the ranks ([`fwdrev::distributed`]), each rank
//! reading or drawing only its own rows. Output comes from rank 0 only; every error of the computation is
//! agreed by all ranks (the library's), so every rank ends with the same status, but
//! for a failure of rank 0's own output (a write), which fails rank 0 alone.

use crate::timing::{Dtype, Stats, TimeArgs, Which};
use crate::{curvature, grad, hvp, jac, seconds, CliResult, Cmd};
use fwdrev::distributed::{DistMlp, Element, LayerFiles};
use fwdrev::{random, Activation, Mode};
use mpi::collective::SystemOperation;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives};
use serde::Serialize;
use std::time::Instant;

/// Whether an MPI launcher started this process (Open MPI's mpirun sets
/// `OMPI_COMM_WORLD_SIZE`; PMI launchers `PMI_SIZE` or `PMIX_RANK`).
pub fn launched() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

/// Runs `cmd` on every rank and returns its exit status, rank 0 having printed its
/// error (if any) before any rank returns: mpirun ends the job at the first rank that
/// exits with a failure, and rank 0's line must be out by then. MPI is finalised before
/// this returns.
pub fn run(cmd: Option<Cmd>) -> i32 {
    let Some(universe) = mpi::initialize() else {
        crate::fail("MPI was initialised twice");
        return 1;
    };
    fwdrev::distributed::end_job_on_panic();
    let world = universe.world();
    if world.rank() != 0 {
        crate::quiet();
    }
    let status = match command(&world, cmd) {
        Ok(()) => 0,
        Err(e) => {
            crate::fail(&e.to_string());
            1
        }
    };
    // Reached by every rank: each error of the computation is agreed, and rank 0's own
    // output comes after the last collective.
    world.barrier();
    status
}

fn command(world: &SimpleCommunicator, cmd: Option<Cmd>) -> CliResult {
    match cmd {
        Some(Cmd::Grad(args)) => grad_ranks(world, &args),
        Some(Cmd::Hvp(args)) => hvp_ranks(world, &args),
        Some(Cmd::Jac(args)) => jac_ranks(world, &args),
        Some(Cmd::Curvature(args)) => curvature_ranks(world, &args),
        Some(Cmd::Time(args)) => match args.dtype {
            Dtype::F64 => time_ranks::<f64>(world, &args),
            Dtype::F32 => time_ranks::<f32>(world, &args),
        },
        _ => Err(
            "under mpirun, fwdrev runs grad, hvp, jac, curvature and time (the others run without \
             mpirun)"
                .into(),
        ),
    }
}

/// The network of `grad`'s or `hvp`'s files, each rank reading its rows.
fn network<'c>(
    world: &'c SimpleCommunicator,
    files: &crate::inputs::NetworkFiles,
) -> CliResult<DistMlp<'c, f64, SimpleCommunicator>> {
    let layers = files.layers()?;
    let files: Vec<LayerFiles> = layers
        .iter()
        .map(|&(weights, bias, activation)| LayerFiles {
            weights,
            bias,
            activation,
        })
        .collect();
    Ok(DistMlp::from_npy(world, &files)?)
}

fn grad_ranks(world: &SimpleCommunicator, args: &grad::GradArgs) -> CliResult {
    let net = network(world, &args.files)?;
    let x = net.read_vector(&args.files.x)?;
    let (f, g) = net.value_and_grad(x.view(), args.mode)?;
    match world.rank() {
        0 => grad::print(args, f, &g),
        _ => Ok(()),
    }
}

fn hvp_ranks(world: &SimpleCommunicator, args: &hvp::HvpArgs) -> CliResult {
    let net = network(world, &args.files)?;
    let x = net.read_vector(&args.files.x)?;
    let v = net.read_vector(&args.v)?;
    let (_, hv) = net.hvp(x.view(), v.view())?;
    match world.rank() {
        0 => hvp::print(args, &hv),
        _ => Ok(()),
    }
}

fn jac_ranks(world: &SimpleCommunicator, args: &jac::JacArgs) -> CliResult {
    let net = network(world, &args.files)?;
    let x = net.read_vector(&args.files.x)?;
    let plan = net.jacobian_mode(args.mode).name();
    let plan = format!("{plan} mode in panels across {} ranks", world.size());
    // Written by every rank at its offsets, unless it is printed (then gathered).
    if let (Some(path), false) = (&args.out, args.json) {
        net.write_jacobian(x.view(), args.mode, path)?;
        let shape = (net.widths()[net.widths().len() - 1], net.widths()[0]);
        return match world.rank() {
            0 => jac::print_written(args, shape, &plan, path),
            _ => Ok(()),
        };
    }
    let j = net.jacobian(x.view(), args.mode)?;
    match world.rank() {
        0 => jac::print(args, &j, &plan),
        _ => Ok(()),
    }
}

fn curvature_ranks(world: &SimpleCommunicator, args: &curvature::CurvatureArgs) -> CliResult {
    if args.dense && args.top + args.bottom > 0 {
        return Err(
            "--dense decomposes the whole Hessian in one process: run it without \
                    mpirun (across ranks, Lanczos finds the extremes)"
                .into(),
        );
    }
    let net = network(world, &args.files)?;
    let x = net.read_vector(&args.files.x)?;
    let x = x.view();
    let spectra = curvature::Spectra {
        extremes: &|o| net.hessian_extremes(x, o),
        trace: &|p, seed| net.hessian_trace(x, p, seed),
        density: &|p, k, seed| net.hessian_density(x, p, k, seed),
    };
    let found = curvature::compute(args, spectra, Default::default())?;
    match world.rank() {
        0 => curvature::print(args, found),
        _ => Ok(()),
    }
}

/// One call's timing across the ranks: the slowest rank's wall time, the time rank 0
/// spent communicating (waiting included), and the bytes all ranks received, per call.
#[derive(Serialize)]
struct RankStats {
    median_s: f64,
    min_s: f64,
    comm_median_s: f64,
    comm_share: f64,
    comm_bytes: u64,
}

/// What `time` measured under mpirun, serialised once as JSON.
#[derive(Serialize)]
struct RanksReport {
    ranks: usize,
    d0: usize,
    d1: usize,
    d2: usize,
    dtype: &'static str,
    backend: &'static str,
    reps: usize,
    threads_per_rank: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    reverse: Option<RankStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    forward: Option<RankStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch: Option<(usize, RankStats)>,
    rank_peak_rss_bytes: u64,
}

/// `reps` timed calls after one untimed one, every rank starting each together.
fn timed<T: Element>(
    world: &SimpleCommunicator,
    net: &DistMlp<T, SimpleCommunicator>,
    reps: usize,
    mut call: impl FnMut() -> fwdrev::Result<()>,
) -> CliResult<RankStats> {
    let (mut wall, mut comm, mut bytes) = (Vec::new(), Vec::new(), 0);
    for rep in 0..=reps {
        world.barrier();
        let (c0, b0) = (net.comm_seconds(), net.received_bytes());
        let start = Instant::now();
        call()?;
        if rep > 0 {
            wall.push(start.elapsed().as_secs_f64());
            comm.push(net.comm_seconds() - c0);
            bytes = net.received_bytes() - b0;
        }
    }
    // Each call took as long as its slowest rank.
    let mut slowest = vec![0.0; reps];
    world.all_reduce_into(&wall[..], &mut slowest[..], SystemOperation::max());
    let mut all_bytes = 0u64;
    world.all_reduce_into(&bytes, &mut all_bytes, SystemOperation::sum());
    let (time, comm) = (Stats::of(slowest), Stats::of(comm));
    Ok(RankStats {
        median_s: time.median_s,
        min_s: time.min_s,
        comm_median_s: comm.median_s,
        comm_share: comm.median_s / time.median_s,
        comm_bytes: all_bytes,
    })
}

fn time_ranks<T: Element>(world: &SimpleCommunicator, args: &TimeArgs) -> CliResult {
    let (d0, d1, d2) = (args.d, args.d1.unwrap_or(args.d), args.d2.unwrap_or(args.d));
    let net = DistMlp::<T, _>::from_seed(world, &[d0, d1, d2], Activation::Sigmoid, args.seed)?;
    let x = net.agree(random::standard_normal_vector::<T>(d0, args.seed))?;
    let grad = |mode: Mode| net.value_and_grad(x.view(), mode).map(drop);
    let run = |which: Which| args.mode == which || args.mode == Which::Both;
    let reverse = match run(Which::Reverse) {
        true => Some(timed(world, &net, args.reps, || grad(Mode::Reverse))?),
        false => None,
    };
    let forward = match run(Which::Forward) {
        true => Some(timed(world, &net, args.reps, || grad(Mode::Forward))?),
        false => None,
    };

    let batch = match args.batch {
        Some(k) => {
            let xs = net.agree(random::standard_normal::<T>(d0, k, args.seed, 1 << 62))?;
            let call = || net.value_and_grad_batch(xs.view()).map(drop);
            Some((k, timed(world, &net, args.reps, call)?))
        }
        None => None,
    };
    let mut rss = 0u64;
    world.all_reduce_into(&peak_rss(), &mut rss, SystemOperation::max());
    let report = RanksReport {
        ranks: world.size() as usize,
        d0,
        d1,
        d2,
        dtype: T::NAME,
        backend: fwdrev::backend().name,
        reps: args.reps,
        threads_per_rank: fwdrev::threads(),
        reverse,
        forward,
        batch,
        rank_peak_rss_bytes: rss,
    };
    if args.json {
        outln!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    let r = &report;
    outln!(
        "{} ranks × {} threads, ({d0}, {d1}, {d2}), {}, {}: median of {} runs, the slowest rank's",
        r.ranks,
        r.threads_per_rank,
        r.dtype,
        r.backend,
        r.reps
    );
    let row = |what: &str, s: &RankStats| {
        format!(
            "{what:<16} {:>10}  communication {:>10} ({:.0} %), {} bytes received a call",
            seconds(s.median_s),
            seconds(s.comm_median_s),
            100.0 * s.comm_share,
            s.comm_bytes
        )
    };
    if let Some(s) = &r.reverse {
        outln!("{}", row("reverse ∇f", s));
    }
    if let Some(s) = &r.forward {
        outln!("{}", row("forward ∇f", s));
    }
    if let Some((k, b)) = &r.batch {
        outln!("{}", row(&format!("batch of {k}"), b));
    }
    outln!(
        "peak resident memory of a rank: {:.1} MiB",
        r.rank_peak_rss_bytes as f64 / (1 << 20) as f64
    );
    Ok(())
}

/// This process's peak resident memory (Linux's VmHWM), 0 where unknown.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb << 10)
}
