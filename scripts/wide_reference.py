#!/usr/bin/env python3
"""Thousands of random small networks over the whole float64 range, every call,
against exact arithmetic (mpmath, 50 digits, unbounded exponent).

Each case draws depth 1-3, widths 1-4, an activation per layer (all seven), biases on
some layers, and for each group of numbers (each W_k, each b_k, x, v, u) a regime:
ordinary N(0,1), moderately saturating (x 30..1000), huge (1e250..1.7e308), tiny
(1e-308..1e-250, subnormals among them) or anywhere (log-uniform over 1e-300..1e300);
entries are exactly 0 with probability 0.15.

For every result entry it stores the exact value rounded to float64 and a magnitude M:
the same computation on absolute values (|W|, |x|, |phi|, |phi'|, |phi''|), each
nonzero product of two normal numbers counted as at least 2^-1022 (so that M covers
IEEE's gradual underflow: such a product's absolute error below 2^-1074 is at most
2^-52 of that floor; a factor below the normal range, like sigma(-800) = e^-800, is
not floored: the crate must not lose it), the larger of
the forward (tangent) and reverse (adjoint) accumulations where a call has both. A
float64 evaluation has error <= c*eps*M with c of the order of the widths and depth
plus the activations' conditioning; cases whose pre-activations are ill conditioned
(the rounding of y, |dy| <= 2^-50*sum|terms|, moves a value, slope or curvature
above 2^-4000 by more than 2^-38 relative) are redrawn, so the test's tolerance
2^-36*M (1.5e-11 of M) holds with room, and a flushed, wrong-tailed or lost term, off
by O(1) of its own size, fails it unless M is 2^36 times that term.

Beyond |t| = 1e5 the exponentially small parts (e^-|t|, e^-t^2/2) are taken as 0:
below 1e-43000, no product of a dozen float64 factors lifts them back.

Files (tests/data/wide/): params.npy (every case's numbers, flat), refs.npy (n x 2:
exact value, log2 M; -inf for M = 0), index.json (per case: widths, activations,
which layers have biases, offsets into both). Order of a case's numbers: per layer W
(row-major) then b if present; x; v; u. Order of its references: F, f, grad, jvp, vjp,
hvp, jacobian (row-major), hessian (row-major), then per layer dW (row-major) and db.

    pip install numpy mpmath && python3 scripts/wide_reference.py [cases] [seed]
"""
import json
import pathlib
import sys

import mpmath as mp
import numpy as np

mp.mp.dps = 50
FLOOR = mp.mpf(2) ** -1022
FAR = mp.mpf(10) ** 5
ACTS = ["sigmoid", "tanh", "softplus", "relu", "identity", "silu", "gelu"]


def small_exp(z):
    """e^z for z <= 0, 0 below -FAR."""
    return mp.mpf(0) if z < -FAR else mp.exp(z)


def sigma_parts(t):
    e = small_exp(-abs(t))
    s = 1 / (1 + e) if t >= 0 else e / (1 + e)
    return s, e / (1 + e) ** 2


def normal_parts(t):
    """(Phi(t), phi(t)); Mills' series in the far tails, where erfc is slow."""
    p = small_exp(-t * t / 2) / mp.sqrt(2 * mp.pi)
    if abs(t) <= 40:
        return mp.erfc(-t / mp.sqrt(2)) / 2, p
    u, term, series = 1 / (t * t), mp.mpf(1), mp.mpf(1)
    for k in range(1, 40):
        term *= -(2 * k - 1) * u
        series += term
    q = p / abs(t) * series
    return (q if t < 0 else 1 - q), p


def tanh(t):
    """tanh without cancellation near 0 (1 - e^-2|t| would lose tiny t at 50 digits)."""
    if abs(t) < 1:
        return mp.tanh(t)
    e = small_exp(-2 * abs(t))
    return (1 - e) / (1 + e) * (1 if t >= 0 else -1)


def act(name, t):
    """(phi, phi', phi'') exactly; 1 - 2 sigma(t) = -tanh(t/2)."""
    if name == "sigmoid":
        s, ds = sigma_parts(t)
        return s, ds, -ds * tanh(t / 2)
    if name == "tanh":
        e = small_exp(-2 * abs(t))
        th = tanh(t)
        d = 4 * e / (1 + e) ** 2
        return th, d, -2 * th * d
    if name == "softplus":
        s, ds = sigma_parts(t)
        return max(t, 0) + mp.log1p(small_exp(-abs(t))), s, ds
    if name == "relu":
        return (t, mp.mpf(1), mp.mpf(0)) if t > 0 else (mp.mpf(0),) * 3
    if name == "identity":
        return t, mp.mpf(1), mp.mpf(0)
    if name == "silu":
        s, ds = sigma_parts(t)
        return t * s, s + t * ds, ds * (2 - t * tanh(t / 2))
    if name == "gelu":
        big, p = normal_parts(t)
        return t * big, big + t * p, p * (2 - t * t)
    raise ValueError(name)


class Exact:
    """Plain exact arithmetic."""

    def mul(self, a, b):
        return a * b

    def sum(self, terms):
        return mp.fsum(terms)

    def leaf(self, v):
        return v

    def act(self, name, y, ymag):
        return act(name, y)


class Magnitude:
    """Absolute values; nonzero products at least 2^-1022."""

    def __init__(self, exact_ys):
        self.ys = exact_ys  # the exact pre-activations, consumed in order

    def mul(self, a, b):
        if a == 0 or b == 0:
            return mp.mpf(0)
        p = abs(a) * abs(b)
        # IEEE's gradual underflow: a product of two normal numbers below 2^-1022 is
        # subnormal or 0 (error < 2^-1074). A factor below the normal range (an
        # activation's e^-800, say) is no f64 number: losing it is the crate's fault.
        if abs(a) >= FLOOR and abs(b) >= FLOOR:
            return max(p, FLOOR)
        return p

    def sum(self, terms):
        return mp.fsum(abs(t) for t in terms)

    def leaf(self, v):
        return abs(v)

    def act(self, name, y, ymag):
        return tuple(abs(q) for q in act(name, self.ys.pop(0)))


def evaluate(ar, ws, bs, acts, x, v, u):
    """Every call's result, in `ar` arithmetic; also each unit's (y, sum|terms|)."""
    ws = [[[ar.leaf(e) for e in row] for row in w] for w in ws]
    bs = [None if b is None else [ar.leaf(e) for e in b] for b in bs]
    x, v, u = ([ar.leaf(e) for e in vec] for vec in (x, v, u))

    def matvec(w, a, b=None):
        out = []
        for i, row in enumerate(w):
            terms = [ar.mul(wi, ai) for wi, ai in zip(row, a)]
            out.append(ar.sum(terms + ([b[i]] if b is not None else [])))
        return out

    def tr(w):
        return [list(c) for c in zip(*w)]

    hs, s, c, units = [], [], [], []
    a = x
    for w, b, name in zip(ws, bs, acts):
        y = matvec(w, a, b)
        trip = [ar.act(name, yi, None) for yi in y]
        units.append(y)
        a = [p[0] for p in trip]
        hs.append(a)
        s.append([p[1] for p in trip])
        c.append([p[2] for p in trip])
    depth = len(ws)

    def adjoints(seed):
        g = [ar.mul(si, ui) for si, ui in zip(s[-1], seed)]
        gs, a_s = [None] * depth, [None] * depth
        for k in reversed(range(depth)):
            gs[k] = g
            a_s[k] = matvec(tr(ws[k]), g)
            if k > 0:
                g = [ar.mul(si, ai) for si, ai in zip(s[k - 1], a_s[k])]
        return gs, a_s

    def tangents(vec):
        t, ts = vec, []
        for k, w in enumerate(ws):
            if k > 0:
                t = [ar.mul(si, ti) for si, ti in zip(s[k - 1], ts[-1])]
            ts.append(matvec(w, t))
        return ts

    def jvp(vec):
        return [ar.mul(si, ti) for si, ti in zip(s[-1], tangents(vec)[-1])]

    def vjp(seed):
        return adjoints(seed)[1][0]

    ones = [mp.mpf(1)] * len(hs[-1])
    gs, a_s = adjoints(ones)

    def hvp(vec):
        ts = tangents(vec)
        gdot = [ar.mul(ci, ti) for ci, ti in zip(c[-1], ts[-1])]
        for k in reversed(range(1, depth)):
            adot = matvec(tr(ws[k]), gdot)
            gdot = [
                ar.sum([ar.mul(s[k - 1][i], adot[i]), ar.mul(ar.mul(c[k - 1][i], ts[k - 1][i]), a_s[k][i])])
                for i in range(len(adot))
            ]
        return matvec(tr(ws[0]), gdot)

    d0, dl = len(x), len(hs[-1])
    unit = lambda n, i: [mp.mpf(1) if j == i else mp.mpf(0) for j in range(n)]
    jac_fwd = [list(r) for r in zip(*[jvp(unit(d0, j)) for j in range(d0)])]
    jac_rev = [vjp(unit(dl, i)) for i in range(dl)]
    out = {
        "F": hs[-1],
        "f": [ar.sum(hs[-1])],
        "grad": a_s[0],
        # forward mode sums J's rows (the tangent accumulation)
        "grad_fwd": [ar.sum([jac_fwd[i][j] for i in range(dl)]) for j in range(d0)],
        "jvp": jvp(v),
        "vjp": vjp(u),
        "hvp": hvp(v),
        "jac": jac_fwd,
        "jac_rev": jac_rev,
        "hessian": [list(r) for r in zip(*[hvp(unit(d0, j)) for j in range(d0)])],
    }
    grads = []
    for k in range(depth):
        a_in = x if k == 0 else hs[k - 1]
        grads.append([[ar.mul(gi, ai) for ai in a_in] for gi in gs[k]])
        if bs[k] is not None:
            grads.append(gs[k])
    out["weights"] = grads
    return out, units


def flatten(v):
    if isinstance(v, list):
        return [e for item in v for e in flatten(item)]
    return [v]


def references(ws, bs, acts, x, v, u):
    exact, ys = evaluate(Exact(), ws, bs, acts, x, v, u)
    flat_ys = [y for layer in ys for y in layer]
    mag, ymags = evaluate(Magnitude(list(flat_ys)), ws, bs, acts, x, v, u)
    # Conditioning: y carries |dy| <= 2^-50 sum|terms| of rounding; nothing that
    # matters may move by more than 2^-38 of itself (or of an invisible 2^-4000).
    flat_mags = [m for layer in ymags for m in layer]
    names = [a for a, layer in zip(acts, ys) for _ in layer]
    for y, m, name in zip(flat_ys, flat_mags, names):
        dy = m * mp.mpf(2) ** -50
        if dy == 0:
            continue
        base = act(name, y)
        for side in (y - dy, y + dy):
            for q0, q1 in zip(base, act(name, side)):
                if abs(q1 - q0) > mp.mpf(2) ** -38 * abs(q0) + mp.mpf(2) ** -4000:
                    return None
    keys = ["F", "f", "grad", "jvp", "vjp", "hvp", "jac", "hessian", "weights"]
    both = {"grad": "grad_fwd", "jac": "jac_rev"}
    rows = []
    for key in keys:
        values = flatten(exact[key])
        mags = flatten(mag[key])
        if key in both:
            other = flatten(mag[both[key]])
            mags = [max(p, q) for p, q in zip(mags, other)]
        for e, m in zip(values, mags):
            log_m = float(mp.log(m, 2)) if m > 0 else -np.inf
            rows.append((float(e), log_m))
    return rows


def draw(rng, shape):
    regime = rng.choice(["ordinary", "saturating", "huge", "tiny", "anywhere"], p=[0.4, 0.2, 0.12, 0.14, 0.14])
    if regime == "ordinary":
        a = rng.standard_normal(shape)
    elif regime == "saturating":
        a = rng.standard_normal(shape) * 10.0 ** rng.uniform(1.5, 3, shape)
    else:
        lo, hi = {"huge": (250, 308.2), "tiny": (-308, -250), "anywhere": (-300, 300)}[regime]
        a = 10.0 ** rng.uniform(lo, hi, shape) * np.where(rng.random(shape) < 0.5, -1, 1)
        if regime == "tiny":
            sub = rng.random(shape) < 0.1
            a = np.where(sub, rng.integers(1, 1 << 40, shape) * 5e-324, a)
    a = np.where(rng.random(shape) < 0.15, 0.0, a)
    return np.nan_to_num(a, posinf=1.7e308, neginf=-1.7e308)


def case(rng):
    depth = int(rng.integers(1, 4))
    widths = [int(w) for w in rng.integers(1, 5, depth + 1)]
    acts = [str(a) for a in rng.choice(ACTS, depth)]
    ws = [draw(rng, (o, i)) for i, o in zip(widths[:-1], widths[1:])]
    bs = [draw(rng, (o,)) if rng.random() < 0.5 else None for o in widths[1:]]
    x, v, u = draw(rng, widths[0]), draw(rng, widths[0]), draw(rng, widths[-1])
    return widths, acts, ws, bs, x, v, u


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rng = np.random.default_rng(int(sys.argv[2]) if len(sys.argv) > 2 else 20261130)
    params, refs, index, drawn = [], [], [], 0
    while len(index) < count:
        drawn += 1
        widths, acts, ws, bs, x, v, u = case(rng)
        to_mp = lambda a: [[mp.mpf(float(e)) for e in row] for row in a] if a.ndim == 2 else [mp.mpf(float(e)) for e in a]
        rows = references([to_mp(w) for w in ws], [None if b is None else to_mp(b) for b in bs], acts, to_mp(x), to_mp(v), to_mp(u))
        if rows is None:
            continue
        entry = {
            "widths": widths,
            "activations": acts,
            "biases": [b is not None for b in bs],
            "params": len(params),
            "refs": len(refs),
        }
        for w, b in zip(ws, bs):
            params.extend(w.ravel())
            if b is not None:
                params.extend(b)
        for vec in (x, v, u):
            params.extend(vec)
        refs.extend(rows)
        index.append(entry)
    out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "wide"
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "params.npy", np.array(params, dtype="<f8"))
    np.save(out / "refs.npy", np.array(refs, dtype="<f8"))
    with open(out / "index.json", "w") as f:
        json.dump({"cases": index, "drawn": drawn}, f, separators=(",", ":"))
        f.write("\n")
    print(f"{len(index)} cases ({drawn} drawn), {len(refs)} references -> {out}")


if __name__ == "__main__":
    main()
