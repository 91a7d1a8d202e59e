"""Reference cases for the general network, computed by PyTorch (torch.func) in float64.

F(x) = act_L(W_L @ ... act_1(W_1 @ x + b_1) ... + b_L), f = F.sum(), the biases
optional per layer. For each case writes to tests/data/deep/<case>/: W1.npy … WL.npy,
bK.npy for each layer K with a bias, activations.txt (one name per line), x, v (d0), u
(dL), and the references F, f, grad, jvp (J·v), vjp (uᵀ·J), jac (dL×d0), hvp (∇²f·v),
hessian (d0×d0), dW1 … dWL and dbK (∇ of f w.r.t. each W and b).

    pip install torch numpy && python3 scripts/deep_oracle.py
"""
import pathlib

import numpy as np
import torch
from torch.func import grad, hessian, jacrev, jvp, vjp

torch.set_default_dtype(torch.float64)
ACT = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softplus": torch.nn.functional.softplus,
    "relu": torch.relu,
    "identity": lambda t: t,
    "silu": torch.nn.functional.silu,
    "gelu": torch.nn.functional.gelu,  # approximate='none': t·Φ(t) with erf
}
# (widths, activations, which layers have a bias, weight scale)
CASES = {
    "mixed": ([6, 8, 5, 7, 4], ["tanh", "softplus", "relu", "sigmoid"], [], 1.0),
    "bottleneck": ([12, 12, 2, 12, 12], ["tanh", "identity", "tanh", "sigmoid"], [], 1.0),
    "one_layer": ([5, 3], ["softplus"], [], 1.0),
    "biased": ([7, 9, 6, 8, 5], ["silu", "gelu", "tanh", "softplus"], [1, 2, 3, 4], 1.0),
    "some_biases": ([10, 12, 3, 12, 10], ["gelu", "identity", "silu", "sigmoid"], [1, 3], 1.0),
    # Pre-activations up to ~15: GELU's and SiLU's tails, where Φ and σ round.
    "tails": ([6, 8, 4], ["gelu", "silu"], [1, 2], 6.0),
}


def main():
    root = pathlib.Path(__file__).resolve().parent.parent / "tests/data/deep"
    rng = np.random.default_rng(2026)
    for name, (widths, acts, biased, scale) in CASES.items():
        ws = [
            torch.tensor(scale * rng.standard_normal((o, i)) / np.sqrt(i))
            for i, o in zip(widths[:-1], widths[1:])
        ]
        x = torch.tensor(rng.standard_normal(widths[0]))
        v = torch.tensor(rng.standard_normal(widths[0]))
        u = torch.tensor(rng.standard_normal(widths[-1]))
        bs = {k: torch.tensor(rng.standard_normal(widths[k])) for k in biased}
        params = (ws, bs)

        def F(x, params=params):
            ws, bs = params
            a = x
            for k, (w, act) in enumerate(zip(ws, acts), start=1):
                y = w @ a
                a = ACT[act](y + bs[k] if k in bs else y)
            return a

        def f(x, params=params):
            return F(x, params).sum()

        out = root / name
        out.mkdir(parents=True, exist_ok=True)
        save = lambda n, t: np.save(out / f"{n}.npy", t.detach().numpy())
        for k, w in enumerate(ws):
            save(f"W{k + 1}", w)
        for k, b in bs.items():
            save(f"b{k}", b)
        (out / "activations.txt").write_text("\n".join(acts) + "\n")
        save("x", x)
        save("v", v)
        save("u", u)
        save("F", F(x))
        save("f", f(x))
        save("grad", grad(f)(x))
        save("jvp", jvp(F, (x,), (v,))[1])
        save("vjp", vjp(F, x)[1](u)[0])
        save("jac", jacrev(F)(x))
        save("hvp", jvp(grad(f), (x,), (v,))[1])
        save("hessian", hessian(f)(x))
        dws, dbs = grad(lambda p: f(x, p))(params)
        for k, dw in enumerate(dws):
            save(f"dW{k + 1}", dw)
        for k, db in dbs.items():
            save(f"db{k}", db)
        print(name, widths, acts, "biases on", biased)


if __name__ == "__main__":
    main()
