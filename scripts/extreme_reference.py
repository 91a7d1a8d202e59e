#!/usr/bin/env python3
"""Reference cases with entries up to ±1.7e308, computed in 50-digit mpmath.

Same files as tests/data/deep (see scripts/deep_oracle.py, biases included), written to
tests/data/extreme/<case>/. mpmath has no exponent range to overflow, so every
reference is the exact value rounded once to float64: ±inf only where the exact value
is beyond it. The activations are exact too (scripts/wide_reference.py's `act`): no
value or slope is flushed, as the crate flushes none.

Cases are drawn from fixed seeds and kept only if every sum is well conditioned
(sum |terms| <= 1e3 |sum| wherever the sum matters), so that a float64 computation
with an unbounded exponent must agree to ~1e-13 relative.

    pip install numpy mpmath && python3 scripts/extreme_reference.py
"""
import pathlib

import mpmath as mp
import numpy as np
from wide_reference import act  # the exact activations, nothing flushed

mp.mp.dps = 50


def matvec(w, a, cond, b=None):
    out = []
    for i, row in enumerate(w):
        terms = [wi * ai for wi, ai in zip(row, a)] + ([b[i]] if b is not None else [])
        total = mp.fsum(terms)
        cond.append((mp.fsum(abs(t) for t in terms), abs(total)))
        out.append(total)
    return out


def t(w):
    return [list(col) for col in zip(*w)]


def evaluate(ws, bs, acts, x, v, u):
    cond = []
    a, hs, ys, s, c = x, [], [], [], []
    for w, b, name in zip(ws, bs, acts):
        y = matvec(w, a, cond, b)
        trip = [act(name, yi) for yi in y]
        a = [p[0] for p in trip]
        ys.append(y)
        hs.append(a)
        s.append([p[1] for p in trip])
        c.append([p[2] for p in trip])
    L = len(ws)
    F = hs[-1]

    def adjoints(seed):
        g = [si * ui for si, ui in zip(s[-1], seed)]
        gs = [None] * L
        for k in reversed(range(L)):
            gs[k] = g
            a_ = matvec(t(ws[k]), g, cond)
            g = [si * ai for si, ai in zip(s[k - 1], a_)] if k > 0 else a_
        return gs, g

    def tangents(vec):
        tan, ts = vec, []
        for k, w in enumerate(ws):
            if k > 0:
                tan = [si * ti for si, ti in zip(s[k - 1], ts[-1])]
            ts.append(matvec(w, tan, cond))
        return ts

    ones = [mp.mpf(1)] * len(F)
    gs, grad = adjoints(ones)
    d0 = len(x)

    def hvp(vec):
        ts = tangents(vec)
        gdot = [ci * ti for ci, ti in zip(c[-1], ts[-1])]
        for k in reversed(range(1, L)):
            a_ = matvec(t(ws[k]), gs[k], cond)
            adot = matvec(t(ws[k]), gdot, cond)
            gdot = [
                s[k - 1][i] * adot[i] + c[k - 1][i] * ts[k - 1][i] * a_[i]
                for i in range(len(a_))
            ]
        return matvec(t(ws[0]), gdot, cond)

    def jvp(vec):
        return [si * ti for si, ti in zip(s[-1], tangents(vec)[-1])]

    unit = lambda n, i: [mp.mpf(1) if j == i else mp.mpf(0) for j in range(n)]
    jac_cols = [jvp(unit(d0, j)) for j in range(d0)]
    out = {
        "F": F,
        "f": mp.fsum(F),
        "grad": grad,
        "jvp": jvp(v),
        "vjp": adjoints(u)[1],
        "jac": [list(r) for r in zip(*jac_cols)],
        "hvp": hvp(v),
        "hessian": [list(r) for r in zip(*[hvp(unit(d0, j)) for j in range(d0)])],
    }
    for k in range(L):
        a_in = x if k == 0 else hs[k - 1]
        out[f"dW{k + 1}"] = [[gi * ai for ai in a_in] for gi in gs[k]]
        if bs[k] is not None:
            out[f"db{k + 1}"] = gs[k]
    return out, cond


def f64(v):
    return np.array(v, dtype=object).astype(float) if not isinstance(v, mp.mpf) else float(v)


def well_conditioned(cond):
    return all(absum <= 1e3 * total for absum, total in cond)


def log_uniform(rng, shape, lo, hi):
    mag = 10.0 ** rng.uniform(lo, hi, shape)
    return np.where(rng.random(shape) < 0.5, -mag, mag)


def case_adjoint(rng):
    """Primal moderate (A·x ~ 1: A ~ 1e308, x ~ 1e-308), gradient entries near and
    beyond f64's range: partial sums of Aᵀ·z overflow where the total may not."""
    widths = [5, 8, 6]
    A = rng.uniform(0.5, 1.0, (8, 5)) * np.where(rng.random((8, 5)) < 0.5, -1, 1) * 1.7e308
    x = rng.standard_normal(5) * 1e-308
    B = rng.standard_normal((6, 8)) * 3
    return widths, ["sigmoid", "sigmoid"], [A, B], [None, None], x


def case_saturated(rng):
    """Magnitudes log-uniform over 1e-300 … 1e308 through tanh, ReLU, identity and
    sigmoid: pre-activations far beyond f64 that must keep their sign."""
    widths = [4, 5, 5, 4, 3]
    acts = ["tanh", "relu", "identity", "sigmoid"]
    ws = [log_uniform(rng, (o, i), -300, 308) for i, o in zip(widths[:-1], widths[1:])]
    x = log_uniform(rng, 4, -300, 308)
    return widths, acts, ws, [None] * 4, x


def case_softplus(rng):
    """Softplus carrying ~1e300 values into an identity output whose sum overflows
    only in part: F has finite and infinite entries."""
    widths = [3, 4, 3]
    W1 = log_uniform(rng, (4, 3), 290, 300)
    W2 = log_uniform(rng, (3, 4), 5, 12)
    x = rng.standard_normal(3)
    return widths, ["softplus", "identity"], [W1, W2], [None, None], x


def case_biased(rng):
    """GELU and SiLU with biases into an identity output. The first layer's biases
    ±1e300 put pre-activations in both far tails (GELU passes +1e300 through, sends
    −1e300 to 0) beside moderate ones; the second layer's weights ~1e−300 bring
    1e300 back to moderate slopes; the output's weights up to 1e306 give results near
    the top of f64, whose partial sums overflow."""
    widths = [3, 4, 3, 2]
    W1 = rng.standard_normal((4, 3))
    b1 = np.array([1e300, -1e300, 0.0, 0.0]) + rng.standard_normal(4)
    W2 = rng.standard_normal((3, 4))
    W2[:, 0] = log_uniform(rng, 3, -301, -299)
    b2 = 2 * rng.standard_normal(3)
    W3 = log_uniform(rng, (2, 3), 300, 306)
    b3 = np.array([1e308, -1e-300])
    x = rng.standard_normal(3)
    return widths, ["gelu", "silu", "identity"], [W1, W2, W3], [b1, b2, b3], x


def mixed_output(out):
    F = np.asarray(f64(out["F"]))
    return np.any(np.isinf(F)) and np.any(np.isfinite(F) & (F != 0))


CASES = {
    "adjoint": (case_adjoint, lambda out: True),
    "saturated": (case_saturated, lambda out: True),
    "softplus": (case_softplus, mixed_output),
    "biased": (case_biased, lambda out: True),
}


def main():
    root = pathlib.Path(__file__).resolve().parent.parent / "tests/data/extreme"
    for name, (make, wanted) in CASES.items():
        for seed in range(100):
            rng = np.random.default_rng([2026, seed])
            widths, acts, ws, bs, x = make(rng)
            v = rng.standard_normal(widths[0])
            u = rng.standard_normal(widths[-1])
            mws = [[[mp.mpf(float(e)) for e in row] for row in w] for w in ws]
            mbs = [None if b is None else [mp.mpf(float(e)) for e in b] for b in bs]
            mx, mv, mu = ([mp.mpf(float(e)) for e in a] for a in (x, v, u))
            out, cond = evaluate(mws, mbs, acts, mx, mv, mu)
            if well_conditioned(cond) and wanted(out):
                break
        else:
            raise SystemExit(f"{name}: no well-conditioned seed")
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        for k, w in enumerate(ws):
            np.save(d / f"W{k + 1}.npy", np.ascontiguousarray(w, dtype="<f8"))
        for k, b in enumerate(bs):
            if b is not None:
                np.save(d / f"b{k + 1}.npy", np.asarray(b, dtype="<f8"))
        (d / "activations.txt").write_text("".join(a + "\n" for a in acts))
        for n, a in (("x", x), ("v", v), ("u", u)):
            np.save(d / f"{n}.npy", np.asarray(a, dtype="<f8"))
        for n, val in out.items():
            np.save(d / f"{n}.npy", np.asarray(f64(val), dtype="<f8"))
        inf = {n: int(np.sum(~np.isfinite(np.asarray(f64(val))))) for n, val in out.items()}
        print(f"{name}: seed {seed}, widths {widths}, non-finite entries {inf}")


if __name__ == "__main__":
    main()
