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
//! (`Par::Seq`) with scratch made once, as the small bench runs them
//! (`benches/common/calls.rs`); SHAPE the widths `d0xd1x…` of a σ network (seed 0);
//! CALLS how many calls after the first.

use std::error::Error;
use std::process::ExitCode;

#[path = "../benches/common/calls.rs"]
mod calls;

use calls::{Call, Calls};

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
    let calls: usize = calls.parse().map_err(|e| format!("CALLS {calls:?}: {e}"))?;
    let Some(&run) = Call::ALL.iter().find(|c| c.name() == call) else {
        return Err(format!("call {call:?}: grad, jvp, vjp or hvp").into());
    };
    // No `restart_with_best_kernels` here (unlike `small_floor`): a process started
    // again under valgrind would run outside its count.
    let mut inputs = Calls::of(shape)?;
    // The first call sizes the scratch and checks the C library's lanes.
    for _ in 0..=calls {
        inputs.run(run)?;
    }
    println!("{call} {shape}: {calls} calls after the first");
    Ok(())
}
