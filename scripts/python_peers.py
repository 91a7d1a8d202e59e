"""fwdrev from Python beside JAX and torch.func, in one process: the seed network's
gradient at (100, 105, 95) and d = 4000, and an autoencoder's Jacobian by Auto.

    python3 scripts/python_peers.py [--rounds 5] [--quick]   (after pip install ./python)

Prints a markdown table: each call's best time over rounds (a round is the best of a few
repeats), alternating the libraries within each round so that they share the machine's
state. The fwdrev rows beside "Rust" time the same network's Rust `value_and_grad`
inside Rust (`Mlp._rust_seconds`): their difference is what a call from Python adds.
JAX and PyTorch are optional: rows for what is not installed are left out.
"""

import argparse
import datetime
import platform
import statistics
import timeit

import numpy as np

import fwdrev


def best(fn, number, repeat=5):
    fn()  # compiled or warmed up outside the timing
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def machine():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def network(layers, array, acts):
    """F and f = sum(F) of the layers in a library's arrays and activations."""
    ws = [array(w) for w, _, _ in layers]
    phis = [acts[a] for _, _, a in layers]

    def out(x):
        for w, phi in zip(ws, phis):
            x = phi(w @ x)
        return x

    return out, lambda x: out(x).sum()


def jax_calls(layers):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    out, f = network(layers, jnp.asarray, {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh})
    return {
        "grad": jax.jit(jax.value_and_grad(f)),
        "jacfwd": jax.jit(jax.jacfwd(out)),
        "jacrev": jax.jit(jax.jacrev(out)),
        "array": jnp.asarray,
        "ready": lambda r: jax.block_until_ready(r),
    }


def torch_calls(layers):
    try:
        import torch
    except ImportError:
        return None
    out, f = network(layers, torch.from_numpy, {"sigmoid": torch.sigmoid, "tanh": torch.tanh})
    return {
        "grad": torch.func.grad_and_value(f),
        "jacfwd": torch.func.jacfwd(out),
        "jacrev": torch.func.jacrev(out),
        "array": torch.from_numpy,
        "ready": lambda r: r,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="d = 1000 instead of 4000")
    args = ap.parse_args()
    big = 1000 if args.quick else 4000
    rows = {}

    def record(name, seconds):
        rows.setdefault(name, []).append(seconds)

    cases = [
        ("(100,105,95) ∇f", [100, 105, 95], 2000),
        (f"d = {big} ∇f", [big, big, big], 3 if big >= 4000 else 20),
    ]
    nets = {}
    for title, widths, number in cases:
        net = fwdrev.Mlp.from_seed(widths, "sigmoid", 1)
        layers = net.layers
        x = np.random.default_rng(0).standard_normal(widths[0])
        nets[title] = (net, x, number, jax_calls(layers), torch_calls(layers))
    auto = fwdrev.Mlp.from_seed([400, 400, 20, 400, 400], "tanh", 2)
    xa = np.random.default_rng(1).standard_normal(400)
    ja, ta = jax_calls(auto.layers), torch_calls(auto.layers)
    for _ in range(args.rounds):
        for title, (net, x, number, jx, tc) in nets.items():
            record(f"{title}: fwdrev from Python", best(lambda: net.value_and_grad(x), number))
            record(f"{title}: fwdrev's Rust call alone", net._rust_seconds(x, number, 5))
            if jx:
                xj = jx["array"](x)
                record(f"{title}: JAX jit(value_and_grad)", best(lambda: jx["ready"](jx["grad"](xj)), number))
            if tc:
                xt = tc["array"](x)
                record(f"{title}: torch.func.grad_and_value", best(lambda: tc["grad"](xt), number))
        record("autoencoder (400,400,20,400,400) J: fwdrev jacobian(mode='auto')",
               best(lambda: auto.jacobian(xa), 20))
        for name, lib in [("JAX", ja), ("torch.func", ta)]:
            if lib:
                xl = lib["array"](xa)
                for kind in ["jacfwd", "jacrev"]:
                    record(f"autoencoder (400,400,20,400,400) J: {name} {kind}",
                           best(lambda: lib["ready"](lib[kind](xl)), 20))
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{now}, {machine()}, {fwdrev.threads()} threads, fwdrev backend: {fwdrev.backend()}")
    print(f"plan of the autoencoder's Jacobian (Auto): {auto.plan('auto')['bracketing']}")
    print()
    print("| call | best of rounds | median of rounds |")
    print("|---|---|---|")
    for name, times in rows.items():
        print(f"| {name} | {min(times) * 1e6:.2f} µs | {statistics.median(times) * 1e6:.2f} µs |")
    small = "(100,105,95) ∇f"
    py, rust = rows[f"{small}: fwdrev from Python"], rows[f"{small}: fwdrev's Rust call alone"]
    added = [p - r for p, r in zip(py, rust)]
    print()
    print(f"Python adds {statistics.median(added) * 1e6:.2f} µs a call at {small} "
          f"(median over rounds; {min(added) * 1e6:.2f} … {max(added) * 1e6:.2f})")
    jax_small = rows.get(f"{small}: JAX jit(value_and_grad)")
    if jax_small:
        print(f"JAX jit(value_and_grad) / fwdrev from Python at {small}: "
              f"{statistics.median(jax_small) / statistics.median(py):.1f}×")


if __name__ == "__main__":
    main()
