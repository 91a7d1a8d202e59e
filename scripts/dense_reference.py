#!/usr/bin/env python3
"""Dense curvature references: numpy's eigh/svd of the torch.func Hessian and Jacobian,
and a damped Newton step, for the deep cases (tests/data/deep, whose hessian.npy and
jac.npy torch.func wrote) and the two-layer oracle cases (tests/data/oracle: jac.npy
from torch.func; the Hessian computed here by torch.func.hessian in float64).

Writes, into each case's folder: eigh.npy (the Hessian's eigenvalues, ascending),
svd.npy (the Jacobian's singular values, descending), newton.npy (the step) and
damping.txt (the lambda used). The damping is 0.1 * max|eigenvalue|, so that where
H + lambda*I is positive definite its condition number is at most 11 (a well-conditioned
solve, by Cholesky as the crate does), and where it is not, the saddle-free step
-V diag(1/max(|lambda_i|, lambda)) V^T g divides by nothing below lambda.

The saturating oracle case is left out of the Hessian references: PyTorch's second
derivatives there are built on its underflowed sigma(1 - sigma) (see its README).

    pip install numpy torch && python3 scripts/dense_reference.py
"""
import pathlib

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
DATA = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data"


def newton(h, g):
    values, vectors = np.linalg.eigh(h)
    damping = 0.1 * np.abs(values).max()
    if values[0] + damping > 0:
        step = np.linalg.solve(h + damping * np.eye(len(g)), -g)
    else:
        step = -vectors @ ((vectors.T @ g) / np.maximum(np.abs(values), damping))
    return step, damping


def write(folder, h, j, g):
    if h is not None:
        np.save(folder / "eigh.npy", np.linalg.eigvalsh(h))
        step, damping = newton(h, g)
        np.save(folder / "newton.npy", step)
        (folder / "damping.txt").write_text(f"{float(damping)!r}\n")
    np.save(folder / "svd.npy", np.linalg.svd(j, compute_uv=False))


def main():
    for case in sorted((DATA / "deep").iterdir()):
        if case.is_dir():
            h = np.load(case / "hessian.npy")
            write(case, (h + h.T) / 2, np.load(case / "jac.npy"), np.load(case / "grad.npy"))
            print("deep", case.name)
    for case in sorted((DATA / "oracle").iterdir()):
        if not case.is_dir():
            continue
        a, b, x = (torch.tensor(np.load(case / f)) for f in ("A.npy", "B.npy", "x.npy"))
        f = lambda x: torch.sigmoid(b @ torch.sigmoid(a @ x)).sum()
        saturating = case.name == "saturating"
        h = None if saturating else torch.func.hessian(f)(x).numpy()
        jac = np.load(case / ("jac_mp.npy" if saturating else "jac.npy"))
        grad = np.load(case / "grad.npy")
        write(case, h, jac, grad)
        print("oracle", case.name)


if __name__ == "__main__":
    main()
