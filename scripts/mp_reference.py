#!/usr/bin/env python3
"""High-precision reference for an oracle case: f, grad, jac and hvp in 60-digit mpmath.

Why: PyTorch's sigmoid backward is sigma*(1-sigma) on the rounded sigma, which is
exactly 0 once sigma rounds to 1 (t > ~37). In the `saturating` case that loses the
true gradient (~1e-39) and leaves ~1e-200 from the few unsaturated paths. This script
recomputes the case without rounding and writes grad_mp.npy, jac_mp.npy and hvp_mp.npy
(the Hessian of f times v.npy) beside it.

    pip install numpy mpmath
    python3 scripts/mp_reference.py tests/data/oracle/saturating
"""
import sys
from pathlib import Path

import mpmath as mp
import numpy as np

mp.mp.dps = 60


def sig(t):
    return 1 / (1 + mp.exp(-t))


def dsig(t):
    return mp.exp(-abs(t)) / (1 + mp.exp(-abs(t))) ** 2


def d2sig(t):
    return dsig(t) * (1 - 2 * sig(t))


def main(case: Path) -> None:
    A, B, x = (np.load(case / n) for n in ("A.npy", "B.npy", "x.npy"))
    Am, Bm, xm = mp.matrix(A.tolist()), mp.matrix(B.tolist()), mp.matrix(x.tolist())
    y1 = Am * xm
    h1 = mp.matrix([sig(t) for t in y1])
    s1 = [dsig(t) for t in y1]
    y2 = Bm * h1
    s2 = [dsig(t) for t in y2]
    # grad = A^T (s1 * (B^T s2));  jac = diag(s2) B diag(s1) A
    z = Bm.T * mp.matrix(s2)
    grad = Am.T * mp.matrix([z[i] * s1[i] for i in range(len(s1))])
    D1A = mp.matrix([[s1[i] * Am[i, j] for j in range(A.shape[1])] for i in range(A.shape[0])])
    M = Bm * D1A
    jac = [[float(s2[i] * M[i, j]) for j in range(A.shape[1])] for i in range(B.shape[0])]
    # hvp, forward-over-reverse: tangents u1 = A v, u2 = B (s1 * u1); then
    # g2' = s2'' * u2, g1' = s1 * (B^T g2') + s1'' * u1 * z, hvp = A^T g1'.
    v = mp.matrix(np.load(case / "v.npy").tolist())
    u1 = Am * v
    u2 = Bm * mp.matrix([s1[i] * u1[i] for i in range(len(s1))])
    g2 = mp.matrix([d2sig(y2[i]) * u2[i] for i in range(len(s2))])
    bg = Bm.T * g2
    g1 = mp.matrix([s1[i] * bg[i] + d2sig(y1[i]) * u1[i] * z[i] for i in range(len(s1))])
    hvp = Am.T * g1
    np.save(case / "hvp_mp.npy", np.array([float(h) for h in hvp], dtype="<f8"))
    np.save(case / "grad_mp.npy", np.array([float(g) for g in grad], dtype="<f8"))
    np.save(case / "jac_mp.npy", np.array(jac, dtype="<f8"))
    print(f"{case}: f = {mp.nstr(sum(sig(t) for t in y2), 20)}")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        main(Path(arg))
