"""fwdrev: derivatives of multilayer perceptrons in forward and reverse mode.

F(x) = phi_L(W_L ... phi_1(W_1 x + b_1) ... + b_L), f(x) = sum_i F(x)_i.

- ``value_and_grad(x, mode="reverse")``: reverse mode is matrix-vector work,
  O(sum d_k d_{k-1}), each W_k read about twice; forward mode pushes the identity through
  the chain, O(d0 sum d_k d_{k-1}) in matrix products.
- ``jacobian(x, mode="auto")`` brackets the chain M_L ... M_1 (M_k = diag(phi_k') W_k)
  the cheapest way that fits the memory budget; ``plan(mode)`` shows the bracketing.
- ``jvp``, ``vjp``, ``hvp`` (forward-over-reverse), ``hessian``, ``weight_grads``,
  ``value_and_grad_batch`` on X of shape (k, d0), and curvature without forming the
  Hessian: ``hessian_extremes`` (Lanczos), ``hessian_trace`` (Hutchinson),
  ``hessian_density`` (stochastic Lanczos quadrature), ``jacobian_singular_values``.

Example::

    import numpy as np, fwdrev
    net = fwdrev.Mlp([(W1, b1, "tanh"), (W2, None, "sigmoid")])
    f, g = net.value_and_grad(x)
    J = net.jacobian(x)             # mode="auto"
    g, hv = net.hvp(x, v)
"""

import warnings

from ._fwdrev import Mlp, _better_coretype, backend, set_threads, threads

__all__ = ["Mlp", "backend", "set_threads", "threads", "from_torch"]

# An OpenBLAS build on a CPU newer than the system's OpenBLAS (Debian 12's 0.3.21 on
# Sapphire/Emerald Rapids) runs SSE3 kernels, 4-8x slower; the library reads its choice
# when it loads, before Python can set anything, so the user is told what to set.
_core = _better_coretype()
if _core is not None:
    warnings.warn(
        f"OpenBLAS picked generic kernels on this CPU: start Python with "
        f"OPENBLAS_CORETYPE={_core} for its own (matrix products 4-8x faster)",
        RuntimeWarning,
        stacklevel=2,
    )

#: torch.nn activation modules fwdrev computes exactly as PyTorch defines them.
_ACTIVATIONS = {
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "ReLU": "relu",
    "Softplus": "softplus",
    "GELU": "gelu",
    "SiLU": "silu",
    "Identity": "identity",
}


def from_torch(module, *, dtype=None):
    """An :class:`Mlp` of a ``torch.nn.Sequential`` of ``nn.Linear`` layers (with or
    without bias), each followed by at most one of Sigmoid, Tanh, ReLU, SiLU, Identity,
    Softplus (beta = 1, threshold = 20) or GELU (approximate='none'); a Linear with no
    activation after it is a layer with the identity.

    The weights are copied once (``detach().cpu().numpy()``). ``dtype`` defaults to the
    Linear weights' (float32 or float64). Any other module, or an activation with other
    parameters, raises ``ValueError`` naming it: fwdrev never computes a silently
    different function; so does a module other than a Sequential (its children's order
    need not be its forward's). (Softplus above its threshold: PyTorch returns x itself,
    fwdrev log(1 + e^x), which differs from x by less than 2.1e-9.) torch itself is never
    imported.
    """
    kind = type(module).__name__
    if kind == "Linear":
        modules = [module]
    elif kind == "Sequential":
        modules = list(module.children())
    elif isinstance(module, (list, tuple)):
        modules = list(module)
    else:
        # Another module's children are listed in the order they were made, not the
        # order its forward() runs them, nor with what it does between them.
        raise ValueError(
            f"a {kind}: fwdrev takes an nn.Sequential (or a list) of Linear layers and "
            "activations, whose order is the function's"
        )
    layers, pending = [], None

    def close_layer(act):
        layers.append((pending[0], pending[1], act))

    for i, m in enumerate(modules):
        kind = type(m).__name__
        if kind == "Linear":
            if pending is not None:
                close_layer("identity")
            w = m.weight.detach().cpu().numpy()
            b = None if m.bias is None else m.bias.detach().cpu().numpy()
            pending = (w, b)
        elif kind in _ACTIVATIONS:
            if pending is None:
                raise ValueError(f"module {i} ({kind}) does not follow a Linear")
            if kind == "Softplus" and (m.beta != 1 or m.threshold != 20):
                raise ValueError(
                    f"module {i}: Softplus(beta={m.beta}, threshold={m.threshold}); "
                    "fwdrev computes Softplus with beta = 1 (threshold 20)"
                )
            if kind == "GELU" and m.approximate != "none":
                raise ValueError(
                    f"module {i}: GELU(approximate={m.approximate!r}); fwdrev computes "
                    "the exact GELU (approximate='none')"
                )
            close_layer(_ACTIVATIONS[kind])
            pending = None
        else:
            raise ValueError(
                f"module {i} ({kind}) is not supported: fwdrev takes Linear layers, each "
                "followed by at most one of " + ", ".join(_ACTIVATIONS)
            )
    if pending is not None:
        close_layer("identity")
    if not layers:
        raise ValueError("no Linear layers")
    if dtype is None:
        dtype = "float32" if str(layers[0][0].dtype) == "float32" else "float64"
    return Mlp(layers, dtype=dtype)
