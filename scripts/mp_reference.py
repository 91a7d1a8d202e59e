#!/usr/bin/env python3
"""High-precision reference for an oracle case: f, grad and jac in 60-digit mpmath.

Why: PyTorch's sigmoid backward is sigma*(1-sigma) on the rounded sigma, which is
exactly 0 once sigma rounds to 1 (t > ~37). In the `saturating` case that loses the
true gradient (~1e-39) and leaves ~1e-200 from the few unsaturated paths. This script
recomputes the case without rounding and writes grad_mp.npy and jac_mp.npy beside it.

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
    np.save(case / "grad_mp.npy", np.array([float(g) for g in grad], dtype="<f8"))
    np.save(case / "jac_mp.npy", np.array(jac, dtype="<f8"))
    print(f"{case}: f = {mp.nstr(sum(sig(t) for t in y2), 20)}")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        main(Path(arg))
