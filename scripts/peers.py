#!/usr/bin/env python3
"""fwdrev beside PyTorch and JAX on the same A, B, x, in one run.

For each shape, `fwdrev export` writes the seeded A, B, x (and the batch X) as float64
.npy; PyTorch autograd and JAX jit(grad) then compute the reverse-mode gradient of
f(x) = sum(sigmoid(B @ sigmoid(A @ x))) from those bytes, `fwdrev peer` times the same,
and one table gives the times and the ratios. Rounds alternate fwdrev, PyTorch, JAX so
that a shared machine's drift lands on all three. Every framework's gradient is checked
against fwdrev's before its time is reported.

With curvature rows (the default), each shape also gets the top Hessian eigenvalue by
one Lanczos process (full reorthogonalisation, twice; start q0 from `fwdrev export`;
stop when the Ritz residual β_m·|s_m| ≤ tol·max|θ|, tol = 1e-6), run by fwdrev in Rust
over its HVPs (∇²f linearised at x once per run: `Mlp::hessian_at`) and by this script
over PyTorch double-backward HVPs (PyHessian's way:
the gradient's graph built once per run, each HVP one backward through it) and JAX's
jit(jvp(grad)) and jit(linearize(grad)). Each side's HVP count, time per HVP and that
time against the bandwidth floor (the least bytes an HVP must read, at the bandwidth
fwdrev measures in the same round) are reported. Where d0 ≤ --dense-max, the dense
Hessian's eigen decomposition alone (fwdrev's library vs numpy.linalg.eigh/eigvalsh on
the same H.npy) is timed too.

Optional dependencies (no test needs them):
    pip install numpy torch "jax[cpu]"
A framework that is not installed is reported as missing and skipped.

Usage (from the crate root, after `cargo build --release --features openblas`):
    python3 scripts/peers.py                       # (100,105,95), 2000 and 8000, k = 64
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

    def hvp_at(v):
        # PyHessian's way: ∇f's graph once (create_graph), then each HVP is one backward
        # through it, d(∇f·v)/dx, keeping the graph (retain_graph).
        v = v.detach().requires_grad_(True)
        g, = torch.autograd.grad(torch.sigmoid(Bt @ torch.sigmoid(At @ v)).sum(), v,
                                 create_graph=True)
        return lambda q: torch.autograd.grad(g, v, grad_outputs=torch.from_numpy(q),
                                             retain_graph=True)[0].numpy()

    xt, Xt = torch.from_numpy(x), torch.from_numpy(X)
    return {
        "name": f"PyTorch {torch.__version__} autograd",
        "grad": lambda: grad(xt).numpy(),
        "batch": lambda: grad(Xt).numpy(),  # columns are independent: ∇ of the sum
        "hvps": {"double backward": lambda: hvp_at(xt)},
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
    # The jax.hvp recipe: forward-over-reverse, the primal recomputed with each product.
    jvp_grad = jax.jit(lambda v, q, a, b: jax.jvp(lambda u: jax.grad(f)(u, a, b), (v,), (q,))[1])
    # linearize: the primal once per run, then each product runs the linear part only
    # (the linear function is a pytree of the primal's residuals: one compiled apply).
    lin = jax.jit(lambda v, a, b: jax.linearize(lambda u: jax.grad(f)(u, a, b), v)[1])
    apply = jax.jit(lambda tangent, q: tangent(q))

    def linearized():
        tangent = lin(xj, Aj, Bj)
        return lambda q: np.asarray(apply(tangent, jax.device_put(q)).block_until_ready())

    return {
        "name": f"JAX {jax.__version__}",
        "grad": lambda: np.asarray(g(xj, Aj, Bj).block_until_ready()),
        "batch": lambda: np.asarray(g(Xj, Aj, Bj).block_until_ready()),
        "hvps": {
            "jit(jvp(grad))": lambda: lambda q: np.asarray(
                jvp_grad(xj, jax.device_put(q), Aj, Bj).block_until_ready()),
            "linearize(grad)": linearized,
        },
    }


def lanczos_top(hvp, q0, tol, max_steps=300):
    """The top eigenvalue by fwdrev's Lanczos (src/curvature/lanczos.rs): full
    reorthogonalisation, twice (here block classical Gram–Schmidt, in Rust one vector at
    a time: equal to rounding); the Ritz values of T from a dense eigh each step; stop
    when β_m·|s_m| of the top pair ≤ tol·max|θ|; at most 300 steps (Extremes'
    default). Where the Krylov space closes (β at rounding level of the step) fwdrev
    restarts from a fresh vector; this script stops with an error instead, so that a
    comparison never runs two different processes. Returns (θ_top, HVPs, residual)."""
    n = q0.size
    steps = min(max_steps, n)
    Q = np.zeros((steps, n))
    alpha, beta = [], []
    q = q0 / np.linalg.norm(q0)
    for m in range(1, steps + 1):
        w = np.array(hvp(q), dtype=np.float64)
        alpha.append(q @ w)
        Q[m - 1] = q
        basis = Q[:m]
        for _ in range(2):
            w -= basis.T @ (basis @ w)
        norm = np.linalg.norm(w)
        if norm <= 1e-13 * max(abs(alpha[-1]), beta[-1] if beta else 0.0) or norm == 0.0:
            raise RuntimeError(f"the Krylov space closed after {m} steps (fwdrev restarts "
                               "there, this script does not): not a case to compare on")
        beta.append(norm)
        T = np.diag(alpha) + np.diag(beta[:-1], 1) + np.diag(beta[:-1], -1)
        theta, S = np.linalg.eigh(T)
        residual = beta[-1] * abs(S[-1, -1])
        if residual <= tol * np.max(np.abs(theta)) or m == steps:
            return theta[-1], m, residual
        q = w / beta[-1]


def rel(p, q):
    return float(np.max(np.abs(p - q)) / max(np.max(np.abs(q)), np.finfo(float).tiny))


def run_shape(fwdrev, dims, args):
    d0, d1, d2 = dims
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([fwdrev, "export", "--d0", str(d0), "--d1", str(d1), "--d2",
                        str(d2), "--k", str(args.k), "--dir", tmp], check=True)
        A, B, x, X = (np.load(os.path.join(tmp, n)) for n in ("A.npy", "B.npy", "x.npy", "X.npy"))
        peers = [p for p in (torch_peer(A, B, x, X), jax_peer(A, B, x, X)) if p]
        times = {"fwdrev": {"grad": [], "batch": []}}
        for p in peers:
            times[p["name"]] = {"grad": [], "batch": []}
        checks = {}
        for _ in range(args.rounds):
            out = subprocess.run([fwdrev, "peer", "--dir", tmp, "--reps", str(args.reps)],
                                 check=True, capture_output=True, text=True).stdout
            r = json.loads(out)
            times["fwdrev"]["grad"].append(r["reverse"]["median_s"])
            times["fwdrev"]["batch"].append(r["batch"]["median_s"])
            g_ref = np.load(os.path.join(tmp, "grad.npy"))
            G_ref = np.load(os.path.join(tmp, "G.npy"))
            for p in peers:
                checks[p["name"]] = (rel(p["grad"](), g_ref), rel(p["batch"](), G_ref))
                for what in ("grad", "batch"):
                    times[p["name"]][what].append(statistics.median(per_call(p[what], args.reps)))
        curv = run_curvature(fwdrev, tmp, d0, peers, args) if args.curvature else None
        return times, checks, curv


def run_curvature(fwdrev, tmp, d0, peers, args):
    """Per round: fwdrev's HVP and Lanczos (and dense eigh), then each peer's HVP and the
    same Lanczos over it (and numpy's eigh); medians over rounds."""
    q0 = np.load(os.path.join(tmp, "q0.npy"))
    dense = d0 <= args.dense_max
    sides = {}  # name -> {"hvp": [...], "lanczos": [...], "hvps", "top", "in_hvps", "err"}
    ours, eig = [], {"fwdrev": [], "fwdrev values": [], "numpy eigh": [], "numpy eigvalsh": []}
    for _ in range(args.rounds):
        cmd = [fwdrev, "peer", "--dir", tmp, "--reps", str(args.curvature_reps), "--curvature",
               "--tol", str(args.tol)] + (["--dense"] if dense else [])
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        c = r["curvature"]
        ours.append(c)
        hv_ref = np.load(os.path.join(tmp, "hv.npy"))
        for p in peers:
            for how, make in p["hvps"].items():
                s = sides.setdefault(f"{p['name']} {how}", {"hvp": [], "lanczos": []})
                hvp = make()
                s["err"] = rel(hvp(q0), hv_ref)
                s["hvp"].append(statistics.median(per_call(lambda: hvp(q0), args.curvature_reps)))
                s["lanczos"].append(statistics.median(per_call(
                    lambda: lanczos_top(make(), q0, args.tol), args.curvature_reps)))
                # One more run, clocking the products: the rest is this script's driver.
                spent = [0.0]

                def clocked(q, hvp=make()):
                    t = time.perf_counter()
                    out = hvp(q)
                    spent[0] += time.perf_counter() - t
                    return out
                t = time.perf_counter()
                s["top"], s["hvps"], _ = lanczos_top(clocked, q0, args.tol)
                s["in_hvps"] = spent[0] / (time.perf_counter() - t)
        if dense:
            H = np.load(os.path.join(tmp, "H.npy"))
            eig["fwdrev"].append(c["eigh"]["vectors_s"])
            eig["fwdrev values"].append(c["eigh"]["values_s"])
            eig["numpy eigh"].append(statistics.median(
                per_call(lambda: np.linalg.eigh(H), args.curvature_reps)))
            eig["numpy eigvalsh"].append(statistics.median(
                per_call(lambda: np.linalg.eigvalsh(H), args.curvature_reps)))
    med = lambda key: statistics.median(o[key] for o in ours)
    last = ours[-1]
    fw = {
        "hvp": statistics.median(o["hessian_at"]["median_s"] for o in ours),
        "plain_hvp": statistics.median(o["hvp"]["median_s"] for o in ours),
        "lanczos": statistics.median(o["lanczos"]["median_s"] for o in ours),
        "hvps": last["lanczos"]["hvps"],
        "top": last["lanczos"]["top"],
        "converged": last["lanczos"]["converged"],
        "bandwidth_gbs": med("bandwidth_gbs"),
        "hvp_bytes": last["hvp_bytes"],
        "floor_bytes": last["floor_bytes"],
        "library": last["eigh"]["library"] if dense else None,
    }
    peers_out = {name: {"hvp": statistics.median(s["hvp"]),
                        "lanczos": statistics.median(s["lanczos"]),
                        "hvps": s["hvps"], "top": s["top"], "in_hvps": s["in_hvps"],
                        "err": s["err"]} for name, s in sides.items()}
    dense_out = {k: statistics.median(v) for k, v in eig.items()} if dense else None
    return fw, peers_out, dense_out


def print_curvature(dims, fw, peers, dense, tol):
    fmt = lambda s: f"{s:.2f} s" if s >= 1 else (f"{s * 1e3:.2f} ms" if s >= 1e-3 else f"{s * 1e6:.1f} µs")
    floor_s = fw["floor_bytes"] / (fw["bandwidth_gbs"] * 1e9)
    print(f"\n{dims}: bandwidth {fw['bandwidth_gbs']:.1f} GB/s (fwdrev's streaming read of A), "
          f"HVP floor {fw['floor_bytes'] / 1e6:.1f} MB = {fmt(floor_s)} (read by fwdrev's "
          f"hessian_at products; its hvp reads {fw['hvp_bytes'] / 1e6:.1f} MB and takes "
          f"{fmt(fw['plain_hvp'])})\n")
    print("| side | HVP | HVP / floor | HVPs | Lanczos (tol " + f"{tol:g}" + ") | in HVPs "
          "| Lanczos / fwdrev | top eigenvalue | HVP err |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    conv = "" if fw["converged"] else " (not converged)"
    print(f"| fwdrev hessian_at | {fmt(fw['hvp'])} | {fw['hvp'] / floor_s:.2f}× | "
          f"{fw['hvps']} | {fmt(fw['lanczos'])} | {fw['hvps'] * fw['hvp'] / fw['lanczos']:.0%} | "
          f"1.00× | {fw['top']:.12g}{conv} | |")
    for name, p in peers.items():
        print(f"| {name} | {fmt(p['hvp'])} | {p['hvp'] / floor_s:.2f}× | {p['hvps']} | "
              f"{fmt(p['lanczos'])} | {p['in_hvps']:.0%} | {p['lanczos'] / fw['lanczos']:.2f}× | "
              f"{p['top']:.12g} | {p['err']:.1e} |", flush=True)
    if not peers:
        print("| (no peer installed) | | | | | | | | |")
    if dense:
        print(f"\n{dims}: the {dims[0]}×{dims[0]} Hessian's eigen decomposition alone, same H.npy "
              f"(fwdrev: {fw['library']}; numpy {np.__version__})\n")
        print("| what | fwdrev | numpy | fwdrev / numpy |")
        print("|---|---:|---:|---:|")
        for label, ours, theirs in (("values and vectors", "fwdrev", "numpy eigh"),
                                    ("values only", "fwdrev values", "numpy eigvalsh")):
            print(f"| {label} | {fmt(dense[ours])} | {fmt(dense[theirs])} | "
                  f"{dense[ours] / dense[theirs]:.2f}× |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100x105x95,2000,8000",
                    help="comma-separated d or d0xd1xd2 (default: 100x105x95,2000,8000)")
    ap.add_argument("--k", type=int, default=64, help="points in the batch (default 64)")
    ap.add_argument("--reps", type=int, default=10, help="samples per round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    ap.add_argument("--no-curvature", dest="curvature", action="store_false",
                    help="gradients only: no Lanczos, HVP or eigh rows")
    ap.add_argument("--curvature-reps", type=int, default=3,
                    help="samples per round for HVPs, Lanczos runs and eigh (default 3)")
    ap.add_argument("--tol", type=float, default=1e-6, help="Lanczos's relative tolerance")
    ap.add_argument("--dense-max", type=int, default=2000,
                    help="time the dense eigh where d0 <= this (default 2000)")
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
    curvature = []
    for spec in args.sizes.split(","):
        dims = tuple(int(v) for v in spec.split("x")) if "x" in spec else (int(spec),) * 3
        times, checks, curv = run_shape(args.fwdrev, dims, args)
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
        curvature.append((dims, curv))
    for dims, curv in curvature:
        if curv:
            print_curvature(dims, *curv, args.tol)


if __name__ == "__main__":
    main()
