//! Runs one small call a given number of times, for counting its instructions: the
//! measure of a call's fixed cost that a VM whose speed moves from minute to minute
//! does not blur. `scripts/call_instructions.sh` runs it under valgrind at N and 2N
//! calls and prints the instructions of one call (the difference over N, so that start
//! and set-up cancel).
//!
//! ```text
//! cargo run --release --features openblas --example call_cost -- CALL SHAPE CALLS
//! ```
//!
//! CALL is `grad`, `jvp`, `vjp` or `hvp`, each its `_into` call on the calling thread
//! (`Par::Seq`) with scratch made once, as the small bench runs them; SHAPE the widths
//! `d0xd1x…` of a σ network (seed 0); CALLS how many calls after the first.

use fwdrev::{random, Activation, Mlp, Mode, Par, Scratch};
use ndarray::Array1;
use std::error::Error;
use std::hint::black_box;
use std::process::ExitCode;

const USAGE: &str = "usage: call_cost grad|jvp|vjp|hvp d0xd1x… CALLS";

fn main() -> ExitCode {
    match parse_and_run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("call_cost: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn parse_and_run() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [call, shape, calls] = &args[..] else {
        return Err(format!("{} arguments, three wanted", args.len()).into());
    };
    let widths = shape
        .split('x')
        .map(|w| {
            w.parse::<usize>()
                .map_err(|e| format!("width {w:?} of {shape:?}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let calls: usize = calls.parse().map_err(|e| format!("CALLS {calls:?}: {e}"))?;
    let run = match call.as_str() {
        "grad" | "jvp" | "vjp" | "hvp" => call.as_str(),
        other => return Err(format!("call {other:?}: grad, jvp, vjp or hvp").into()),
    };
    let net = Mlp::<f64>::from_seed(&widths, Activation::Sigmoid, 0)?;
    let (d0, d_out) = (widths[0], widths[widths.len() - 1]);
    let x = random::standard_normal_vector::<f64>(d0, 1)?;
    let v = random::standard_normal_vector::<f64>(d0, 2)?;
    let u = random::standard_normal_vector::<f64>(d_out, 3)?;
    let mut s = Scratch::new();
    let (mut g, mut h) = (Array1::zeros(d0), Array1::zeros(d0));
    let (mut out, mut jv) = (Array1::zeros(d_out), Array1::zeros(d_out));
    let seq = Par::Seq;
    let mut one = || -> fwdrev::Result<()> {
        match run {
            "grad" => {
                black_box(net.value_and_grad_into(
                    x.view(),
                    Mode::Reverse,
                    g.view_mut(),
                    seq,
                    &mut s,
                )?);
            }
            "jvp" => net.jvp_into(
                x.view(),
                v.view(),
                out.view_mut(),
                jv.view_mut(),
                seq,
                &mut s,
            )?,
            "vjp" => net.vjp_into(
                x.view(),
                u.view(),
                out.view_mut(),
                g.view_mut(),
                seq,
                &mut s,
            )?,
            _ => net.hvp_into(x.view(), v.view(), g.view_mut(), h.view_mut(), seq, &mut s)?,
        }
        Ok(())
    };
    // The first call sizes the scratch and checks the C library's lanes.
    for _ in 0..=calls {
        one()?;
    }
    println!("{run} {shape}: {calls} calls after the first");
    Ok(())
}
