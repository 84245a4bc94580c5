"""The normalizations of bntheory.norms against PyTorch's kernels and autograd, on NumPy, PyTorch and strict arrays."""

from __future__ import annotations

import array_api_strict
import numpy as np
import pytest

from bntheory import norms

torch = pytest.importorskip("torch")
F = torch.nn.functional

SHAPES = [(7, 6), (5, 6, 4), (3, 6, 3, 4), (2, 6, 2, 3, 2)]
TOL = {np.float64: 1e-12, np.float32: 1e-5}


def _rel(a, b, floor: float = 1e-300) -> float:
    """Norm-wise relative error; `floor` is the scale below which an entry counts as zero."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), floor))


def _draw(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=shape) * rng.uniform(0.5, 3) + rng.uniform(-2, 2)).astype(dtype)
    return x, rng.normal(size=shape).astype(dtype), rng


def _torch_grads(fn, x, dy, *params):
    tx = torch.tensor(x, requires_grad=True)
    tp = [None if p is None else torch.tensor(p, requires_grad=True) for p in params]
    y = fn(tx, *tp)
    y.backward(torch.tensor(dy))
    return y.detach().numpy(), tx.grad.numpy(), [None if p is None else p.grad.numpy() for p in tp]


def _compare(ours, theirs, tol, floor: float = 1e-300):
    for a, b in zip(ours, theirs, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert _rel(a, b, floor) <= tol


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_layer_norm_matches_torch(shape, dtype):
    x, dy, rng = _draw(shape, dtype)
    for k in (1, 2):
        normalized = shape[-k:]
        gamma = (1 + 0.3 * rng.normal(size=normalized)).astype(dtype)
        beta = rng.normal(size=normalized).astype(dtype)
        y, cache = norms.layer_norm(x, normalized, gamma, beta, eps=1e-3)
        dx, dgamma, dbeta = norms.backward(dy, cache)
        ty, tdx, (tg, tb) = _torch_grads(
            lambda t, g, b, normalized=normalized: F.layer_norm(t, normalized, g, b, eps=1e-3), x, dy, gamma, beta
        )
        _compare((y, dx, dgamma, dbeta), (ty, tdx, tg, tb), TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_rms_norm_matches_torch(shape, dtype):
    x, dy, rng = _draw(shape, dtype)
    normalized = shape[-1:]
    gamma = (1 + 0.3 * rng.normal(size=normalized)).astype(dtype)
    for eps in (1e-3, None):
        y, cache = norms.rms_norm(x, normalized, gamma, eps=eps)
        dx, dgamma, dbeta = norms.backward(dy, cache)
        ty, tdx, (tg,) = _torch_grads(lambda t, g, eps=eps: F.rms_norm(t, normalized, g, eps=eps), x, dy, gamma)
        _compare((y, dx, dgamma, dbeta), (ty, tdx, tg, None), TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES[1:], ids=str)
@pytest.mark.parametrize("groups", [1, 2, 3, 6])
def test_group_norm_matches_torch(shape, dtype, groups):
    x, dy, rng = _draw(shape, dtype)
    gamma = (1 + 0.3 * rng.normal(size=6)).astype(dtype)
    beta = rng.normal(size=6).astype(dtype)
    y, cache = norms.group_norm(x, groups, gamma, beta, eps=1e-3)
    dx, dgamma, dbeta = norms.backward(dy, cache)
    ty, tdx, (tg, tb) = _torch_grads(lambda t, g, b: F.group_norm(t, groups, g, b, eps=1e-3), x, dy, gamma, beta)
    _compare((y, dx, dgamma, dbeta), (ty, tdx, tg, tb), TOL[dtype])


@pytest.mark.parametrize("shape", SHAPES[1:], ids=str)
def test_instance_norm_matches_torch_and_is_group_norm_with_c_groups(shape):
    x, dy, rng = _draw(shape, np.float64)
    gamma, beta = 1 + 0.3 * rng.normal(size=6), rng.normal(size=6)
    y, cache = norms.instance_norm(x, gamma, beta, eps=1e-3)
    dx, dgamma, dbeta = norms.backward(dy, cache)
    ty, tdx, (tg, tb) = _torch_grads(lambda t, g, b: F.instance_norm(t, weight=g, bias=b, eps=1e-3), x, dy, gamma, beta)
    _compare((y, dx, dgamma, dbeta), (ty, tdx, tg, tb), 1e-12)
    assert np.array_equal(y, norms.group_norm(x, 6, gamma, beta, eps=1e-3)[0])


def test_group_norm_with_one_group_is_layer_norm_over_channels_and_positions():
    x, dy, _ = _draw((3, 6, 3, 4), np.float64)
    y_gn, c_gn = norms.group_norm(x, 1, eps=1e-3)
    y_ln, c_ln = norms.layer_norm(x, x.shape[1:], eps=1e-3)
    assert _rel(y_gn, y_ln) <= 1e-15 and _rel(norms.backward(dy, c_gn)[0], norms.backward(dy, c_ln)[0]) <= 1e-14


@pytest.mark.parametrize("shape, dim", [((5, 4), 0), ((4, 3, 2, 2), 0), ((4, 3, 2), 1), ((6,), 0)])
def test_weight_norm_matches_torch(shape, dim):
    rng = np.random.default_rng(1)
    v, dw = rng.normal(size=shape), rng.normal(size=shape)
    g = rng.uniform(0.5, 2, size=shape[dim])
    w, cache = norms.weight_norm(v, g, dim=dim)
    dv, dg = norms.weight_norm_backward(dw, cache)
    tv, tg = torch.tensor(v, requires_grad=True), torch.tensor(g, requires_grad=True)
    tw = torch._weight_norm(tv, tg.reshape([-1 if a == dim else 1 for a in range(len(shape))]), dim)
    tw.backward(torch.tensor(dw))
    # floor 1: a slice of one entry has dv = 0 exactly, which PyTorch rounds to ~1e-17 (dw is of order 1)
    _compare((w, dv, dg), (tw.detach().numpy(), tv.grad.numpy(), tg.grad.numpy()), 1e-12, floor=1.0)
    axes = tuple(a for a in range(len(shape)) if a != dim)
    assert np.max(np.abs(np.sum(dv * v, axis=axes))) <= 1e-12 * np.max(np.abs(dv)) * np.max(np.abs(v))  # <dv, v> = 0


@pytest.mark.parametrize("make", ["torch", "strict"])
def test_every_norm_runs_on_other_namespaces(make):
    x, dy, rng = _draw((3, 6, 4), np.float64)
    gamma, beta = 1 + 0.3 * rng.normal(size=6), rng.normal(size=6)
    wrap = torch.tensor if make == "torch" else array_api_strict.asarray
    cases = [
        (lambda a, g, b: norms.layer_norm(a, (4,), None, None, eps=1e-3), None),
        (lambda a, g, b: norms.group_norm(a, 3, g, b, eps=1e-3), None),
        (lambda a, g, b: norms.rms_norm(a, (6, 4), None, eps=1e-3), None),
    ]
    for fn, _ in cases:
        y_np, c_np = fn(x, gamma, beta)
        y, c = fn(wrap(x), wrap(gamma), wrap(beta))
        dx = norms.backward(wrap(dy), c)[0]
        assert _rel(np.asarray(y), y_np) <= 1e-14
        assert _rel(np.asarray(dx), norms.backward(dy, c_np)[0]) <= 1e-14


def test_errors_name_the_argument():
    x = np.ones((4, 6))
    with pytest.raises(ValueError, match="normalized_shape"):
        norms.layer_norm(x, (5,))
    with pytest.raises(ValueError, match="at least 2 values"):
        norms.layer_norm(x[:, :1], (1,))
    with pytest.raises(ValueError, match="constant"):
        norms.layer_norm(x, (6,), eps=0.0)
    with pytest.raises(ValueError, match="eps"):
        norms.layer_norm(x, (6,), eps=-1e-3)
    with pytest.raises(ValueError, match="groups"):
        norms.group_norm(np.ones((2, 6, 3)), 4)
    with pytest.raises(ValueError, match="at least 2"):
        norms.instance_norm(np.ones((2, 6)))
    with pytest.raises(TypeError, match="gamma"):
        norms.group_norm(np.ones((2, 6, 3)), 3, np.ones(6, np.float32))
    with pytest.raises(ValueError, match="zero"):
        norms.rms_norm(np.zeros((2, 3)), 3, eps=0.0)
    with pytest.raises(ValueError, match="slice is zero"):
        norms.weight_norm(np.zeros((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match="g: expected shape"):
        norms.weight_norm(np.ones((2, 3)), np.ones(3))
    with pytest.raises(ValueError, match="dy"):
        norms.backward(np.ones((3, 6)), norms.layer_norm(np.arange(24.0).reshape(4, 6), 6)[1])
    with pytest.raises(TypeError, match="cache"):
        norms.backward(x, None)
    with pytest.raises(TypeError, match="x"):
        norms.layer_norm(np.ones((2, 3), dtype=int), 3)


# --- the compiled LayerNorm / RMSNorm kernels (numba, the `fast` extra) --------------------------------------


@pytest.fixture
def compiled(monkeypatch):
    """The compiled module, selected for every size (MIN_ELEMENTS lowered), with its calls counted."""
    from bntheory.norms import _compiled

    fused = pytest.importorskip("bntheory.norms._standardize_fused", reason="numba (`fast` extra) is not installed")
    monkeypatch.setattr(_compiled, "MIN_ELEMENTS", 1)
    monkeypatch.delenv("BNTHEORY_NUMBA", raising=False)
    calls = []
    for name in ("forward", "backward"):
        real = getattr(fused, name)
        monkeypatch.setattr(fused, name, lambda *a, real=real, name=name: calls.append(name) or real(*a))
    return calls


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [*SHAPES, (64, 300)], ids=str)
def test_compiled_layer_and_rms_norm_match_torch_and_the_reference(compiled, monkeypatch, shape, dtype):
    from bntheory.norms import standardize

    # A non-finite sum of the kernel sends backward to the reference path, which would hide a wrong kernel.
    reference = []
    real_backward = standardize._backward
    monkeypatch.setattr(standardize, "_backward", lambda *a, **k: reference.append(1) or real_backward(*a, **k))
    x, dy, rng = _draw(shape, dtype)
    normalized = shape[-2:]
    gamma = (1 + 0.3 * rng.normal(size=normalized)).astype(dtype)
    beta = rng.normal(size=normalized).astype(dtype)
    cases = [
        (lambda a, g, b: norms.layer_norm(a, normalized, g, b, eps=1e-3),
         lambda t, g, b: F.layer_norm(t, normalized, g, b, eps=1e-3), (gamma, beta)),
        (lambda a, g: norms.layer_norm(a, normalized, g, eps=1e-3),
         lambda t, g: F.layer_norm(t, normalized, g, eps=1e-3), (gamma,)),
        (lambda a: norms.layer_norm(a, normalized[-1:], eps=1e-3),
         lambda t: F.layer_norm(t, normalized[-1:], eps=1e-3), ()),
        (lambda a, g: norms.rms_norm(a, normalized, g), lambda t, g: F.rms_norm(t, normalized, g), (gamma,)),
    ]
    for ours, theirs, params in cases:
        compiled.clear()
        y, cache = ours(x, *params)
        reference.clear()
        dx, dgamma, dbeta = norms.backward(dy, cache)
        assert compiled == ["forward", "backward"] and not reference  # the kernel's own sums, finite dy
        ty, tdx, tparams = _torch_grads(theirs, x, dy, *params)
        tparams += [None] * (2 - len(tparams))
        if ours is cases[3][0]:
            tparams[1] = None
        _compare((y, dx, dgamma, dbeta), (ty, tdx, *tparams), TOL[dtype])
        with monkeypatch.context() as m:
            m.setenv("BNTHEORY_NUMBA", "0")
            y0, cache0 = ours(x, *params)
            ref = (y0, cache0.x_hat, cache0.inv_std, *norms.backward(dy, cache0))
        assert compiled == ["forward", "backward"]  # switched off: the reference ran
        for a, b in zip((y, cache.x_hat, cache.inv_std, dx, dgamma, dbeta), ref, strict=True):
            assert (a is None) == (b is None)
            if a is not None:
                assert a.dtype == b.dtype and a.shape == b.shape and _rel(a, b) <= TOL[dtype]


def test_only_bntheory_numba_0_switches_the_compiled_kernels_off(compiled, monkeypatch):
    x = np.random.default_rng(2).normal(size=(4, 5))
    for value, runs in (("0", []), ("", ["forward"]), ("-1", ["forward"]), ("1", ["forward"])):
        compiled.clear()
        monkeypatch.setenv("BNTHEORY_NUMBA", value)
        norms.layer_norm(x, 5)
        assert compiled == runs, f"BNTHEORY_NUMBA={value!r}"


def test_compiled_layer_norm_refuses_a_constant_row_at_eps_zero(compiled):
    x = np.random.default_rng(1).normal(size=(4, 5))
    x[2] = 0.25
    with pytest.raises(ValueError, match="constant"):
        norms.layer_norm(x, 5, eps=0.0)
    x[2] = 0.0
    with pytest.raises(ValueError, match="zero"):
        norms.rms_norm(x, 5, eps=0.0)
    assert compiled == ["forward", "forward"]


def test_group_and_instance_norm_stay_on_the_reference(compiled):
    x, dy, _ = _draw((4, 6, 3, 3), np.float64)
    for _, cache in (norms.group_norm(x, 3), norms.instance_norm(x)):
        norms.backward(dy, cache)
    assert compiled == []
