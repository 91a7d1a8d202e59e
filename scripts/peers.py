#!/usr/bin/env python3
"""fwdrev beside PyTorch and JAX on the same A, B, x, in one run.

For each shape, `fwdrev export` writes the seeded A, B, x (and the batch X) as float64
.npy; PyTorch autograd and JAX jit(grad) then compute the reverse-mode gradient of
f(x) = sum(sigmoid(B @ sigmoid(A @ x))) from those bytes, `fwdrev peer` times the same,
and one table gives the times and the ratios. Rounds alternate fwdrev, PyTorch, JAX so
that a shared machine's drift lands on all three. Every framework's gradient is checked
against fwdrev's before its time is reported.

Optional dependencies (no test needs them):
    pip install numpy torch "jax[cpu]"
A framework that is not installed is reported as missing and skipped.

Usage (from the crate root, after `cargo build --release --features openblas`):
    python3 scripts/peers.py                       # (100,105,95) and 8000, k = 64
    python3 scripts/peers.py --sizes 100x105x95,2000 --reps 5 --rounds 2
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def per_call(fn, reps):
    """Seconds per call, one value per sample; each sample >= 2 ms (as `fwdrev peer`)."""
    fn()
    t = time.perf_counter()
    fn()
    once = time.perf_counter() - t
    n = max(1, min(1_000_000, int(np.ceil(2e-3 / max(once, 1e-9)))))
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        out.append((time.perf_counter() - t) / n)
    return out


def torch_peer(A, B, x, X):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count())
    At, Bt = torch.from_numpy(A), torch.from_numpy(B)

    def grad(v):
        v = v.detach().requires_grad_(True)
        torch.sigmoid(Bt @ torch.sigmoid(At @ v)).sum().backward()
        return v.grad

    xt, Xt = torch.from_numpy(x), torch.from_numpy(X)
    return {
        "name": f"PyTorch {torch.__version__} autograd",
        "grad": lambda: grad(xt).numpy(),
        "batch": lambda: grad(Xt).numpy(),  # columns are independent: ∇ of the sum
    }


def jax_peer(A, B, x, X):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def f(v, a, b):
        return jnp.sum(jax.nn.sigmoid(b @ jax.nn.sigmoid(a @ v)))

    g = jax.jit(jax.grad(f))  # A and B as arguments: not baked into the program
    Aj, Bj, xj, Xj = (jax.device_put(m) for m in (A, B, x, X))
    return {
        "name": f"JAX {jax.__version__} jit(grad)",
        "grad": lambda: np.asarray(g(xj, Aj, Bj).block_until_ready()),
        "batch": lambda: np.asarray(g(Xj, Aj, Bj).block_until_ready()),
    }


def rel(p, q):
    return float(np.max(np.abs(p - q)) / max(np.max(np.abs(q)), np.finfo(float).tiny))


def run_shape(fwdrev, dims, k, reps, rounds):
    d0, d1, d2 = dims
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([fwdrev, "export", "--d0", str(d0), "--d1", str(d1), "--d2",
                        str(d2), "--k", str(k), "--dir", tmp], check=True)
        A, B, x, X = (np.load(os.path.join(tmp, n)) for n in ("A.npy", "B.npy", "x.npy", "X.npy"))
        peers = [p for p in (torch_peer(A, B, x, X), jax_peer(A, B, x, X)) if p]
        times = {"fwdrev": {"grad": [], "batch": []}}
        for p in peers:
            times[p["name"]] = {"grad": [], "batch": []}
        checks = {}
        for _ in range(rounds):
            out = subprocess.run([fwdrev, "peer", "--dir", tmp, "--reps", str(reps)],
                                 check=True, capture_output=True, text=True).stdout
            r = json.loads(out)
            times["fwdrev"]["grad"].append(r["reverse"]["median_s"])
            times["fwdrev"]["batch"].append(r["batch"]["median_s"])
            g_ref = np.load(os.path.join(tmp, "grad.npy"))
            G_ref = np.load(os.path.join(tmp, "G.npy"))
            for p in peers:
                checks[p["name"]] = (rel(p["grad"](), g_ref), rel(p["batch"](), G_ref))
                for what in ("grad", "batch"):
                    times[p["name"]][what].append(statistics.median(per_call(p[what], reps)))
        return times, checks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100x105x95,8000",
                    help="comma-separated d or d0xd1xd2 (default: 100x105x95,8000)")
    ap.add_argument("--k", type=int, default=64, help="points in the batch (default 64)")
    ap.add_argument("--reps", type=int, default=10, help="samples per round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    ap.add_argument("--fwdrev", default="target/release/fwdrev",
                    help="the binary (build it with --features openblas)")
    args = ap.parse_args()
    if not os.path.exists(args.fwdrev):
        sys.exit(f"{args.fwdrev} not found: cargo build --release --features openblas")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), platform.processor())
    print(f"# fwdrev vs PyTorch vs JAX, {datetime.date.today()}, {cpu}, "
          f"{os.cpu_count()} cores, float64, reverse-mode gradient")
    print("# median over rounds of the per-round median time per call; "
          "err = max |g − g_fwdrev| / max |g_fwdrev|\n")
    print("| shape | what | fwdrev | peer | peer time | peer / fwdrev | err |")
    print("|---|---|---:|---|---:|---:|---:|")
    fmt = lambda s: f"{s * 1e3:.2f} ms" if s >= 1e-3 else f"{s * 1e6:.1f} µs"
    for spec in args.sizes.split(","):
        dims = tuple(int(v) for v in spec.split("x")) if "x" in spec else (int(spec),) * 3
        times, checks = run_shape(args.fwdrev, dims, args.k, args.reps, args.rounds)
        ours = {w: statistics.median(v) for w, v in times["fwdrev"].items()}
        for what, label in (("grad", "∇f at one x"), ("batch", f"∇f at {args.k} points")):
            for name, t in times.items():
                if name == "fwdrev":
                    continue
                peer = statistics.median(t[what])
                err = checks[name][0 if what == "grad" else 1]
                print(f"| {dims} | {label} | {fmt(ours[what])} | {name} | {fmt(peer)} | "
                      f"{peer / ours[what]:.2f}× | {err:.1e} |", flush=True)
            if len(times) == 1:
                print(f"| {dims} | {label} | {fmt(ours[what])} | (no peer installed) | | | |")


if __name__ == "__main__":
    main()
