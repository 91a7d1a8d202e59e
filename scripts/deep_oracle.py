"""Reference cases for the general network, computed by PyTorch (torch.func) in float64.

F(x) = act_L(W_L @ ... act_1(W_1 @ x)), f = F.sum(). For each case writes to
tests/data/deep/<case>/: W1.npy … WL.npy, activations.txt (one name per line), x, v
(d0), u (dL), and the references F, f, grad, jvp (J·v), vjp (uᵀ·J), jac (dL×d0), hvp
(∇²f·v), hessian (d0×d0), dW1 … dWL (∇ of f w.r.t. each W).

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
}
CASES = {
    "mixed": ([6, 8, 5, 7, 4], ["tanh", "softplus", "relu", "sigmoid"]),
    "bottleneck": ([12, 12, 2, 12, 12], ["tanh", "identity", "tanh", "sigmoid"]),
    "one_layer": ([5, 3], ["softplus"]),
}


def main():
    root = pathlib.Path(__file__).resolve().parent.parent / "tests/data/deep"
    rng = np.random.default_rng(2026)
    for name, (widths, acts) in CASES.items():
        ws = [
            torch.tensor(rng.standard_normal((o, i)) / np.sqrt(i))
            for i, o in zip(widths[:-1], widths[1:])
        ]
        x = torch.tensor(rng.standard_normal(widths[0]))
        v = torch.tensor(rng.standard_normal(widths[0]))
        u = torch.tensor(rng.standard_normal(widths[-1]))

        def F(x, ws=ws):
            a = x
            for w, act in zip(ws, acts):
                a = ACT[act](w @ a)
            return a

        def f(x, ws=ws):
            return F(x, ws).sum()

        out = root / name
        out.mkdir(parents=True, exist_ok=True)
        save = lambda n, t: np.save(out / f"{n}.npy", t.detach().numpy())
        for k, w in enumerate(ws):
            save(f"W{k + 1}", w)
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
        for k, dw in enumerate(grad(lambda ws: f(x, ws))(ws)):
            save(f"dW{k + 1}", dw)
        print(name, widths, acts)


if __name__ == "__main__":
    main()
