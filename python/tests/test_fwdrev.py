"""fwdrev from Python: every call against central differences and against the other
calls (one mode against another), errors, copies, threads and float32.

Tolerances: central differences in float64 with step h = 1e-5 have truncation error
~h^2 * |f'''| and rounding ~1e-16/h: about 1e-9 relative here, so 1e-6 of the scale is
asked. Calls that compute the same quantity two ways (forward against reverse mode, an
HVP against the Hessian's column) agree to rounding: 1e-12 of the scale.
"""

import concurrent.futures
import pathlib
import resource

import numpy as np
import pytest

import fwdrev

ACTIVATIONS = ["sigmoid", "tanh", "relu", "softplus", "gelu", "silu", "identity"]


def network(widths, seed, acts=None, bias=True, dtype="float64"):
    """A random network with biases: W_k ~ N(0, 1/d_{k-1}), b_k ~ N(0, 0.1^2)."""
    rng = np.random.default_rng(seed)
    layers = []
    for k in range(1, len(widths)):
        w = rng.standard_normal((widths[k], widths[k - 1])) / np.sqrt(widths[k - 1])
        b = 0.1 * rng.standard_normal(widths[k]) if bias else None
        act = acts[k - 1] if acts else ACTIVATIONS[(seed + k) % len(ACTIVATIONS)]
        layers.append((w, b, act))
    return fwdrev.Mlp(layers, dtype=dtype), layers


def numeric_jacobian(fn, x, h=1e-5):
    """Central differences of fn at x, column by column."""
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        cols.append((np.atleast_1d(fn(x + e)) - np.atleast_1d(fn(x - e))) / (2 * h))
    return np.stack(cols, axis=-1)


def close(got, want, rel):
    scale = max(np.max(np.abs(want)), 1e-300)
    assert np.max(np.abs(np.asarray(got) - np.asarray(want))) <= rel * scale, (got, want)


DEEP = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "deep"


@pytest.mark.parametrize("case", sorted(p.name for p in DEEP.iterdir() if p.is_dir()))
def test_every_call_against_torch_func(case):
    """The repository's torch.func references (scripts/deep_oracle.py, float64, biases on
    some layers, seven activations): every call to 1e-12 of each reference's largest
    entry, as tests/deep_oracle.rs asks of the Rust calls (sums of at most a dozen terms
    in other orders)."""
    d = DEEP / case
    load = lambda name: np.load(d / f"{name}.npy")
    acts = (d / "activations.txt").read_text().split()
    layers = []
    for k, act in enumerate(acts, start=1):
        b = d / f"b{k}.npy"
        layers.append((load(f"W{k}"), np.load(b) if b.exists() else None, act))
    net = fwdrev.Mlp(layers)
    x, v, u = load("x"), load("v"), load("u")
    f, g = net.value_and_grad(x)
    close(f, load("f"), 1e-12)
    close(g, load("grad"), 1e-12)
    close(net.value_and_grad(x, mode="forward")[1], load("grad"), 1e-12)
    close(net.output(x), load("F"), 1e-12)
    close(net.jvp(x, v)[1], load("jvp"), 1e-12)
    close(net.vjp(x, u)[1], load("vjp"), 1e-12)
    for mode in ["forward", "reverse", "auto"]:
        close(net.jacobian(x, mode=mode), load("jac"), 1e-12)
    close(net.hvp(x, v)[1], load("hvp"), 1e-12)
    close(net.hessian(x), load("hessian"), 1e-12)
    _, grads = net.weight_grads(x)
    for k, (dw, db) in enumerate(grads, start=1):
        close(dw, load(f"dW{k}"), 1e-12)
        if db is not None:
            close(db, load(f"db{k}"), 1e-12)
    fs, gs = net.value_and_grad_batch(np.stack([x, x]))
    close(fs, np.stack([load("f")] * 2), 1e-12)
    close(gs, np.stack([load("grad")] * 2), 1e-12)


# Smooth activations only where differences are taken (relu's kink would spoil them).
SMOOTH = ["tanh", "sigmoid", "softplus", "gelu", "silu"]


@pytest.mark.parametrize("seed", range(4))
def test_every_call_against_differences(seed):
    acts = [SMOOTH[(seed + k) % len(SMOOTH)] for k in range(3)]
    net, _ = network([7, 9, 6, 5], seed, acts)
    rng = np.random.default_rng(100 + seed)
    x, v, u = rng.standard_normal(7), rng.standard_normal(7), rng.standard_normal(5)
    out = net.output(x)
    jac = numeric_jacobian(net.output, x)
    close(net.jacobian(x), jac, 1e-6)
    f, g = net.value_and_grad(x)
    assert f == pytest.approx(out.sum(), rel=1e-14)
    close(g, numeric_jacobian(net.value, x)[0], 1e-6)
    out2, jv = net.jvp(x, v)
    close(out2, out, 1e-15)
    close(jv, jac @ v, 1e-6)
    _, uj = net.vjp(x, u)
    close(uj, u @ jac, 1e-6)
    hess = numeric_jacobian(lambda y: net.value_and_grad(y)[1], x)
    close(net.hessian(x), hess, 1e-6)
    g2, hv = net.hvp(x, v)
    close(g2, g, 1e-12)
    close(hv, hess @ v, 1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_modes_and_calls_agree(seed):
    net, _ = network([12, 30, 4, 16], seed)
    rng = np.random.default_rng(seed)
    x, v = rng.standard_normal(12), rng.standard_normal(12)
    f_r, g_r = net.value_and_grad(x, mode="reverse")
    f_f, g_f = net.value_and_grad(x, mode="forward")
    assert f_r == f_f
    close(g_f, g_r, 1e-12)
    j = net.jacobian(x, mode="auto")
    for mode in ["forward", "reverse"]:
        close(net.jacobian(x, mode=mode), j, 1e-12)
    close(j.sum(axis=0), g_r, 1e-12)
    h = net.hessian(x)
    close(h, h.T, 1e-12)
    close(net.hvp(x, v)[1], h @ v, 1e-12)
    # A batch: k rows, each its own gradient.
    xs = rng.standard_normal((5, 12))
    fs, gs = net.value_and_grad_batch(xs)
    assert fs.shape == (5,) and gs.shape == (5, 12)
    for i in range(5):
        fi, gi = net.value_and_grad(xs[i])
        assert fs[i] == pytest.approx(fi, rel=1e-12)
        close(gs[i], gi, 1e-12)


def test_weight_gradients_against_differences():
    net, layers = network([6, 8, 3], 3, ["tanh", "softplus"])
    x = np.random.default_rng(0).standard_normal(6)
    f, grads = net.weight_grads(x)
    assert f == pytest.approx(net.value(x), rel=1e-14)
    assert [g[0].shape for g in grads] == [(8, 6), (3, 8)]
    h = 1e-5
    for k, (w, b, act) in enumerate(layers):
        for idx in [(0, 0), (w.shape[0] - 1, w.shape[1] - 1)]:
            plus = [list(l) for l in layers]
            minus = [list(l) for l in layers]
            plus[k][0] = w.copy()
            minus[k][0] = w.copy()
            plus[k][0][idx] += h
            minus[k][0][idx] -= h
            num = (fwdrev.Mlp([tuple(l) for l in plus]).value(x)
                   - fwdrev.Mlp([tuple(l) for l in minus]).value(x)) / (2 * h)
            assert grads[k][0][idx] == pytest.approx(num, rel=1e-6, abs=1e-9)
        bplus = [list(l) for l in layers]
        bplus[k][1] = b + h * np.eye(b.size)[0]
        bminus = [list(l) for l in layers]
        bminus[k][1] = b - h * np.eye(b.size)[0]
        num = (fwdrev.Mlp([tuple(l) for l in bplus]).value(x)
               - fwdrev.Mlp([tuple(l) for l in bminus]).value(x)) / (2 * h)
        assert grads[k][1][0] == pytest.approx(num, rel=1e-6, abs=1e-9)


def test_layers_without_biases_and_the_seeded_network():
    net, layers = network([5, 4, 3], 1, bias=False)
    assert all(b is None for _, b, _ in net.layers)
    f, grads = net.weight_grads(np.ones(5))
    assert all(g[1] is None for g in grads)
    seeded = fwdrev.Mlp.from_seed([5, 4, 3], "tanh", 7)
    again = fwdrev.Mlp([(w, None, a) for w, _, a in seeded.layers])
    x = np.linspace(-1, 1, 5)
    assert seeded.value_and_grad(x)[0] == again.value_and_grad(x)[0]


def test_plans_name_their_bracketing_and_cost():
    # The autoencoder: Auto brackets at the bottleneck.
    net, _ = network([60, 60, 4, 60, 60], 2, ["tanh"] * 4, bias=False)
    plan = net.plan("auto")
    assert set(plan) == {"mode", "bracketing", "steps", "predicted_flops", "predicted_seconds"}
    assert plan["predicted_flops"] <= net.plan("forward")["predicted_flops"]
    assert plan["predicted_flops"] <= net.plan("reverse")["predicted_flops"]
    assert "M" in plan["bracketing"] and plan["steps"]


def test_curvature_calls():
    net, _ = network([10, 14, 3], 4, ["tanh", "sigmoid"])
    x = np.random.default_rng(4).standard_normal(10)
    h = net.hessian(x)
    eig = np.linalg.eigvalsh(h)
    e = net.hessian_extremes(x, top=2, bottom=1, tol=1e-10, vectors=True)
    assert e["converged"]
    close(e["top"], eig[::-1][:2], 1e-9)
    close(e["bottom"], eig[:1], 1e-9)
    close(h @ e["top_vectors"][0], eig[-1] * e["top_vectors"][0], 1e-8)
    t = net.hessian_trace(x, probes=200, seed=1)
    assert abs(t["estimate"] - np.trace(h)) < 5 * t["stderr"] + 1e-12
    # With d0 steps each probe's Lanczos spans the space: its nodes are ∇²f's eigenvalues.
    d = net.hessian_density(x, probes=3, steps=10)
    assert sum(d["weights"]) == pytest.approx(1.0, abs=1e-12)
    for node in d["nodes"]:
        assert np.min(np.abs(eig - node)) <= 1e-8 * np.max(np.abs(eig))
    s = net.jacobian_singular_values(x, top=2, tol=1e-10)
    close(s["values"], np.linalg.svd(net.jacobian(x), compute_uv=False)[:2], 1e-9)


def test_float32_networks_and_inputs():
    net64, layers = network([8, 6, 4], 5)
    net32 = fwdrev.Mlp(layers, dtype="float32")
    assert net32.dtype == "float32"
    x = np.random.default_rng(5).standard_normal(8)
    f64, g64 = net64.value_and_grad(x)
    for given in [x, x.astype(np.float32)]:
        f32, g32 = net32.value_and_grad(given)
        assert g32.dtype == np.float32
        close(g32, g64, 1e-5)


def test_inputs_of_other_layouts_and_types():
    net, _ = network([6, 5, 3], 6)
    x = np.random.default_rng(6).standard_normal(6)
    want = net.value_and_grad(x)[1]
    strided = np.empty(12)
    strided[::2] = x
    close(net.value_and_grad(strided[::2])[1], want, 0)
    close(net.value_and_grad(list(x))[1], want, 0)
    ints = np.arange(6)
    close(net.value_and_grad(ints)[1], net.value_and_grad(ints.astype(float))[1], 0)
    # Byte-swapped, unaligned, float16 (rounded as numpy rounds it): numpy's conversions.
    close(net.value_and_grad(x.astype(">f8"))[1], want, 0)
    buf = np.zeros(6 * 8 + 1, dtype=np.uint8)
    unaligned = buf[1:].view(np.float64)
    unaligned[:] = x
    assert not unaligned.flags.aligned
    close(net.value_and_grad(unaligned)[1], want, 0)
    half = x.astype(np.float16)
    close(net.value_and_grad(half)[1], net.value_and_grad(half.astype(np.float64))[1], 0)
    xs = np.random.default_rng(7).standard_normal((6, 4))
    fs, gs = net.value_and_grad_batch(np.asfortranarray(xs.T))
    close(gs, net.value_and_grad_batch(np.ascontiguousarray(xs.T))[1], 0)


def test_bad_inputs_raise_the_python_exception_of_their_kind():
    net, layers = network([6, 5, 3], 7)
    x = np.zeros(6)
    with pytest.raises(ValueError, match=r"x must have.*expected \(6,\), got \(7,\)"):
        net.value_and_grad(np.zeros(7))
    with pytest.raises(ValueError, match="dimension"):
        net.value_and_grad(np.zeros((6, 1)))
    bad = x.copy()
    bad[2] = np.nan
    with pytest.raises(ValueError, match=r"\[2\]"):
        net.value_and_grad(bad)
    with pytest.raises(ValueError):
        net.jvp(x, np.zeros(5))
    with pytest.raises(ValueError):
        net.vjp(x, np.zeros(6))
    for wrong in [x.astype(complex), x.astype(bool), np.array(["a"] * 6), np.array([object()] * 6)]:
        with pytest.raises(TypeError, match="dtype"):
            net.value_and_grad(wrong)
    with pytest.raises(ValueError, match="mode"):
        net.value_and_grad(x, mode="sideways")
    with pytest.raises(ValueError, match="activation"):
        fwdrev.Mlp([(layers[0][0], None, "swish")])
    with pytest.raises(ValueError):
        fwdrev.Mlp([(np.zeros((3, 4)), None, "tanh"), (np.zeros((2, 5)), None, "tanh")])
    with pytest.raises(TypeError):
        fwdrev.Mlp([np.zeros((3, 4))])
    with pytest.raises(ValueError, match="dtype"):
        fwdrev.Mlp(layers, dtype="float16")
    with pytest.raises(ValueError, match="threads"):
        net.value_and_grad(x, threads=0)
    with pytest.raises(ValueError, match=r"\(k, d0\) = \(k, 6\)"):
        net.value_and_grad_batch(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="threads"):
        net.value_and_grad(x, threads=10**6)
    # A Krylov basis beyond the memory budget.
    tight = fwdrev.Mlp(layers, memory_budget=64)
    with pytest.raises(MemoryError):
        tight.hessian_extremes(x, top=1)


def test_the_weights_are_copied_once_and_never_per_call():
    rng = np.random.default_rng(8)
    d = 2000  # 32 MB a matrix
    w = rng.standard_normal((d, d)) / np.sqrt(d)
    layers = [(w, None, "tanh"), (w.copy(), None, "sigmoid")]
    net = fwdrev.Mlp(layers)
    assert net.nbytes == 2 * d * d * 8
    x = rng.standard_normal(d)
    f, g = net.value_and_grad(x)
    # The network holds its own copy: changing the arrays it was given changes nothing.
    w[:] = 0.0
    assert net.value_and_grad(x)[0] == f
    # Calls copy no weights: the peak resident size does not move by a matrix's 32 MB.
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(10):
        net.value_and_grad(x)
        net.hvp(x, x)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 8 * 1024, grown_kib


def test_threads_share_one_network():
    # 600×600 = 360 000 entries a layer: past the 2^18 where a sweep runs on rayon's
    # workers, so that calls without threads= take the parallel paths.
    net, _ = network([600, 600, 30], 9)
    rng = np.random.default_rng(9)
    xs = [rng.standard_normal(600) for _ in range(8)]
    alone = [net.hvp(x, x)[1] for x in xs]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda x: net.hvp(x, x, threads=1)[1], xs))
    for a, b in zip(alone, together):
        assert np.array_equal(a, b)


class _Tensor:
    """What from_torch asks of a parameter: .detach().cpu().numpy()."""

    def __init__(self, a):
        self.a = a

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.a


def _module(kind, **attrs):
    """A stand-in for a torch.nn module: from_torch reads its class name and attributes."""
    return type(kind, (), attrs)()


def _linear(w, b=None):
    return _module("Linear", weight=_Tensor(w), bias=None if b is None else _Tensor(b))


class Sequential:
    """A stand-in for torch.nn.Sequential (from_torch reads the class name)."""

    def __init__(self, *modules):
        self.modules = modules

    def children(self):
        return iter(self.modules)


def test_from_torch_reads_sequentials_and_refuses_what_it_cannot_compute():
    """from_torch's reading of a Sequential, without torch: stand-ins with the modules'
    class names and attributes (torch itself is tested below where it is installed)."""
    rng = np.random.default_rng(11)
    w1, b1, w2, w3 = (rng.standard_normal(s) for s in [(7, 5), 7, (6, 7), (3, 6)])
    seq = Sequential(
        _linear(w1, b1), _module("Tanh"), _linear(w2), _linear(w3),
        _module("GELU", approximate="none"),
    )
    net = fwdrev.Mlp.from_torch(seq)
    assert [a for _, _, a in net.layers] == ["tanh", "identity", "gelu"]
    want = fwdrev.Mlp([(w1, b1, "tanh"), (w2, None, "identity"), (w3, None, "gelu")])
    x = rng.standard_normal(5)
    assert np.array_equal(net.jacobian(x), want.jacobian(x))
    assert fwdrev.from_torch(Sequential(_linear(w1.astype(np.float32)), _module("ReLU"))).dtype == "float32"
    refused = [
        _module("GELU", approximate="tanh"),
        _module("Softplus", beta=2, threshold=20),
        _module("ELU"),
    ]
    for bad in refused:
        with pytest.raises(ValueError, match="module 1"):
            fwdrev.from_torch(Sequential(_linear(w1), bad))
    with pytest.raises(ValueError, match="does not follow a Linear"):
        fwdrev.from_torch(Sequential(_module("Tanh")))
    with pytest.raises(ValueError, match="no Linear"):
        fwdrev.from_torch(Sequential())
    # Any other module: its children's order need not be its forward's.
    with pytest.raises(ValueError, match="Sequential"):
        fwdrev.from_torch(_module("ResidualBlock", children=lambda self: iter([_linear(w1)])))
    assert fwdrev.from_torch([_linear(w1), _module("Tanh")]).widths == [5, 7]


def test_from_torch_where_torch_is_installed():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 6), torch.nn.Linear(6, 4),
        torch.nn.SiLU(), torch.nn.Linear(4, 3, bias=False), torch.nn.GELU()
    ).double()
    net = fwdrev.Mlp.from_torch(model)
    x = torch.randn(5, dtype=torch.float64)
    want = torch.func.jacrev(model)(x).detach().numpy()
    close(net.jacobian(x.numpy()), want, 1e-12)
    for bad in [torch.nn.GELU(approximate="tanh"), torch.nn.Softplus(beta=2), torch.nn.ELU()]:
        with pytest.raises(ValueError):
            fwdrev.from_torch(torch.nn.Sequential(torch.nn.Linear(5, 3), bad))
