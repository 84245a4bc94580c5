"""The BN transform against PyTorch, under every backend, with property tests and bad inputs."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bntheory.backend import asarray, to_numpy
from bntheory.norms import _batch_kernels as _numpy_kernels
from bntheory.norms import batch as transform

SHAPES = [(2, 3), (16, 5), (7, 4, 3, 3), (3, 2, 4), (2, 3, 2, 2, 2)]
# Tolerances asked of the transform against PyTorch (issue 3): relative, norm-wise.
RTOL = {np.float64: 1e-12, np.float32: 1e-5}


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


def draw(rng, shape, dtype):
    x = rng.normal(rng.uniform(-2, 2), rng.uniform(0.5, 3), size=shape).astype(dtype)
    gamma = rng.uniform(0.5, 2, shape[1]).astype(dtype)
    beta = rng.normal(size=shape[1]).astype(dtype)
    return x, gamma, beta


def torch_reference(x, gamma, beta, dy, eps):
    t = [torch.tensor(a, requires_grad=True) for a in (x, gamma, beta)]
    y = torch.nn.functional.batch_norm(t[0], None, None, t[1], t[2], training=True, eps=eps)
    grads = torch.autograd.grad(y, t, torch.from_numpy(dy))
    return y.detach().numpy(), *(g.numpy() for g in grads)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_backward_match_torch(xp, rng, shape, dtype):
    x, gamma, beta = draw(rng, shape, dtype)
    dy = rng.normal(size=shape).astype(dtype)
    y, cache = transform.forward(*(asarray(a, xp) for a in (x, gamma, beta)), eps=1e-5)
    grads = transform.backward(asarray(dy, xp), cache)
    y_ref, *grads_ref = torch_reference(x, gamma, beta, dy, 1e-5)
    grads = [to_numpy(g) for g in grads]
    for got, want in zip((to_numpy(y), *grads), (y_ref, *grads_ref), strict=True):
        assert got.dtype == dtype and got.shape == want.shape
    assert rel(to_numpy(y), y_ref) <= RTOL[dtype]
    # Gradients on the scale of the whole gradient: dl/dx is nearly 0 for m = 2 (cancellation in float32).
    flat = lambda gs: np.concatenate([g.ravel() for g in gs])  # noqa: E731
    assert rel(flat(grads), flat(grads_ref)) <= RTOL[dtype]


@pytest.mark.parametrize("shape", [(4, 3), (32, 4, 5, 5), (64, 16, 16, 16), (65536, 64)])
def test_forward_into_out_is_the_fresh_forward(xp, rng, shape):
    """``out=`` changes where y is written, nothing else: the same bits, the same cache, `out` returned."""
    x, gamma, beta = (asarray(a, xp) for a in draw(rng, shape, np.float32))
    y, cache = transform.forward(x, gamma, beta)
    out = asarray(np.full(shape, np.nan, np.float32), xp)
    y_out, cache_out = transform.forward(x, gamma, beta, out=out)
    assert y_out is out
    np.testing.assert_array_equal(to_numpy(y_out), to_numpy(y))
    for a, b in zip(cache[1:4], cache_out[1:4], strict=True):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


@pytest.mark.parametrize("numba", ["0", "1"])
@pytest.mark.parametrize("shape", [(65536, 64), (64, 16, 16, 16)])
def test_forward_into_out_on_both_numpy_kernels_and_a_strided_out(rng, monkeypatch, numba, shape):
    monkeypatch.setenv("BNTHEORY_NUMBA", numba)
    x, gamma, beta = draw(rng, shape, np.float64)
    y, _ = transform.forward(x, gamma, beta)
    for out in (np.empty_like(x), np.empty(shape[::-1]).T):  # C-contiguous: written by the kernel; else copied
        assert transform.forward(x, gamma, beta, out=out)[0] is out
        np.testing.assert_array_equal(out, y)


def test_outputs_stay_in_the_input_namespace(xp, rng):
    x, gamma, beta = (asarray(a, xp) for a in draw(rng, (4, 3), np.float32))
    y, cache = transform.forward(x, gamma, beta)
    dx, dgamma, dbeta = transform.backward(y, cache)
    for a in (y, cache.mean, cache.var, cache.inv_std, cache.x_hat, dx, dgamma, dbeta):
        assert type(a) is type(x) and a.dtype == x.dtype


@pytest.mark.parametrize("offset", [0.0, 1e3, 1e6, -1e3])
@pytest.mark.parametrize("shape", [(4096, 96), (64, 8, 16, 16), (5, 3)])
def test_numpy_kernel_matches_portable_path(rng, shape, offset):
    """The fused NumPy kernel (one-pass and centred branches) against the array-API path in float64."""
    import array_api_compat.numpy as xpn

    x, gamma, beta = draw(rng, shape, np.float64)
    x += offset
    y, mean, var, inv_std = _numpy_kernels.forward(x, gamma, beta, 1e-5)
    y_ref, mean_ref, var_ref, _ = transform._forward(x, gamma, beta, 1e-5, xp=xpn)
    assert _numpy_kernels.one_pass_is_safe(mean, var) == (offset == 0.0)
    # Conditioning: x carries absolute rounding offset * 2**-53 on a unit-scale signal.
    tol = 1e-13 * max(1.0, abs(offset))
    assert rel(y, y_ref) <= tol and rel(var, var_ref) <= tol and rel(mean, mean_ref) <= 1e-13
    dy = rng.normal(size=shape)
    grads = _numpy_kernels.backward(dy, x, mean, var, inv_std, gamma)
    x_hat = transform.Cache(x, mean_ref, var_ref, inv_std, gamma).x_hat
    grads_ref = transform._backward(dy, x_hat, inv_std, gamma, xp=xpn)
    for got, want in zip(grads, grads_ref, strict=True):
        assert rel(got, want) <= tol * 10


def _fused():
    return pytest.importorskip("bntheory.norms._batch_fused", reason="numba (the `fast` extra) is not installed")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("offset", [0.0, 1e3, 1e6, "outlier"])
def test_compiled_kernel_matches_numpy_kernel_and_torch(rng, offset, dtype):
    """The numba kernels against the NumPy reference kernels and PyTorch, on the one-pass and centred branches.

    ``outlier``: the first sample (the shift K of the one-pass sums) is far from the mean, so the compiled
    kernel must fall back to the centred form.
    """
    fused = _fused()
    x, gamma, beta = draw(rng, (1000, 37), np.float64)
    if offset == "outlier":
        x[0] += 1e4
        assert not fused._one_pass_is_safe(x[0] - x.mean(0), x.var(0))
    else:
        x += offset
    x, gamma, beta = (a.astype(dtype) for a in (x, gamma, beta))
    dy = rng.normal(size=x.shape).astype(dtype)
    got = fused.forward(x, gamma, beta, 1e-5)
    want = _numpy_kernels.forward(x, gamma, beta, 1e-5)
    grads = fused.backward(dy, x, *got[1:], gamma)
    grads_ref = _numpy_kernels.backward(dy, x, *want[1:], gamma)
    # float64: the conditioning of test_numpy_kernel_matches_portable_path; float32: the transform's tolerance
    # against PyTorch, applied to the NumPy kernel's output (both kernels round y in float32).
    scale = 1e4 if offset == "outlier" else max(1.0, offset)
    tol = 1e-13 * scale if dtype == np.float64 else RTOL[np.float32] * scale
    for a, b in zip((*got, *grads), (*want, *grads_ref), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert rel(a, b) <= 10 * tol
    if dtype == np.float32 and offset == 0.0:
        y_ref, *grads_torch = torch_reference(x, gamma, beta, dy, 1e-5)
        assert rel(got[0], y_ref) <= RTOL[dtype]
        flat = lambda gs: np.concatenate([g.ravel() for g in gs])  # noqa: E731
        assert rel(flat(grads), flat(grads_torch)) <= RTOL[dtype]


def test_compiled_kernel_refuses_nothing_the_reference_accepts(rng):
    """Non-contiguous input, a constant channel (inf at eps = 0, as in the NumPy kernel), one row per thread."""
    fused = _fused()
    x, gamma, beta = draw(rng, (2, 3), np.float64)
    x[:, 1] = 0.5
    for xs in (x, np.asfortranarray(x)):
        got, want = fused.forward(xs, gamma, beta, 0.0), _numpy_kernels.forward(xs, gamma, beta, 0.0)
        np.testing.assert_allclose(got[2], want[2], atol=1e-15)
        assert np.isinf(got[3][1]) and np.isinf(want[3][1])


def test_dispatch_to_the_compiled_kernel_and_the_switch(rng, monkeypatch):
    fused = _fused()
    monkeypatch.delenv("BNTHEORY_NUMBA", raising=False)
    x, gamma, beta = draw(rng, (1 << 11, 1 << 9), np.float32)
    dy = rng.normal(size=x.shape).astype(np.float32)
    assert transform._kernels(x) is fused and transform._kernels(x[:8]) is _numpy_kernels
    assert transform._kernels(x.reshape(1 << 11, 1 << 8, 2)) is _numpy_kernels  # image layouts: NumPy kernels
    assert transform._kernels(x.astype(np.float16)) is _numpy_kernels  # only float32 and float64 are compiled
    y, cache = transform.forward(x, gamma, beta)
    grads = transform.backward(dy, cache)
    monkeypatch.setenv("BNTHEORY_NUMBA", "0")
    assert transform._kernels(x) is _numpy_kernels
    y0, cache0 = transform.forward(x, gamma, beta)
    grads0 = transform.backward(dy, cache0)
    for a, b in zip((y, *cache[1:4], *grads), (y0, *cache0[1:4], *grads0), strict=True):
        assert a.dtype == b.dtype == np.float32 and rel(a, b) <= 1e-5


def test_non_contiguous_input_on_numpy(rng):
    x, gamma, beta = draw(rng, (6, 5), np.float64)
    xt = np.asfortranarray(x)
    y, cache = transform.forward(xt, gamma, beta)
    np.testing.assert_allclose(y, transform.forward(x, gamma, beta)[0], rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(transform.backward(xt, cache)[0], transform.backward(x, cache)[0], atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stacked_kernel_is_forward_and_backward_per_batch_to_the_bit(rng, dtype):
    """The deep linear networks' unchecked kernel gives each stacked batch what the public functions give it alone."""
    x = (rng.normal(2.0, 3.0, size=(5, 64, 10))).astype(dtype)
    dy = rng.normal(size=x.shape).astype(dtype)
    with np.errstate(all="ignore"):
        x_hat, inv_std, var = _numpy_kernels.forward_stacked(x, 1e-5)
        dx, dgamma, dbeta = _numpy_kernels.backward_stacked(dy, x_hat, inv_std)
    ones, zeros = np.ones(10, dtype), np.zeros(10, dtype)
    for b in range(x.shape[0]):
        y, cache = transform.forward(x[b], ones, zeros, eps=1e-5)
        for got, want in zip((x_hat[b], inv_std[b], var[b]), (y, cache.inv_std, cache.var), strict=True):
            assert got.dtype == want.dtype and np.array_equal(got, want)
        for got, want in zip((dx[b], dgamma[b], dbeta[b]), transform.backward(dy[b], cache), strict=True):
            assert got.dtype == want.dtype and np.array_equal(got, want)
    x[2, 3, 4] = np.nan  # what forward refuses shows in the screened statistics of that batch only
    with np.errstate(all="ignore"):
        var = _numpy_kernels.forward_stacked(x, 1e-5)[2]
    assert np.array_equal(np.isfinite(var).all(axis=1), [True, True, False, True, True])


# --- running statistics --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("shape", "layer"), [((8, 3), torch.nn.BatchNorm1d), ((4, 3, 3, 3), torch.nn.BatchNorm2d)])
def test_pytorch_running_stats_step_by_step(xp, rng, shape, layer, dtype):
    bn = layer(shape[1], momentum=0.1).to(getattr(torch, np.dtype(dtype).name)).train()
    mean, var = asarray(np.zeros(shape[1], dtype), xp), asarray(np.ones(shape[1], dtype), xp)
    for _ in range(6):
        x = rng.normal(rng.uniform(-1, 1), 2, size=shape).astype(dtype)
        with torch.no_grad():
            bn(torch.from_numpy(x))
        mean, var = transform.update_running_stats(mean, var, asarray(x, xp), momentum=0.1)
        assert rel(to_numpy(mean), bn.running_mean.numpy()) <= RTOL[dtype]
        assert rel(to_numpy(var), bn.running_var.numpy()) <= RTOL[dtype]


def test_keras_running_stats_follow_documented_formula(xp, rng):
    x = rng.normal(3, 2, size=(10, 4))
    mean, var = transform.update_running_stats(
        asarray(np.zeros(4), xp), asarray(np.ones(4), xp), asarray(x, xp), momentum=0.99, convention="keras"
    )
    # moving = moving * momentum + batch * (1 - momentum), with the biased (ops.moments) variance
    np.testing.assert_allclose(to_numpy(mean), 0.01 * x.mean(0), rtol=1e-14)
    np.testing.assert_allclose(to_numpy(var), 0.99 + 0.01 * x.var(0), rtol=1e-14)


def test_population_stats_is_algorithm_2(xp, rng):
    batches = [rng.normal(size=(4, 3)) for _ in range(5)]
    mean, var = transform.population_stats([asarray(b, xp) for b in batches])
    np.testing.assert_allclose(to_numpy(mean), np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-13)
    np.testing.assert_allclose(to_numpy(var), 4 / 3 * np.mean([b.var(0) for b in batches], axis=0), rtol=1e-13)


# --- inference and fusion --------------------------------------------------------------------------


def eval_bn(layer, gamma, beta, mean, var, eps):
    bn = layer(len(gamma), eps=eps).double().eval()
    with torch.no_grad():
        for p, v in ((bn.weight, gamma), (bn.bias, beta), (bn.running_mean, mean), (bn.running_var, var)):
            p.copy_(torch.from_numpy(v))
    return bn


@pytest.mark.parametrize("shape", [(1, 3), (5, 3), (2, 3, 4, 4)])
def test_inference_matches_torch_eval(xp, rng, shape):
    _, gamma, beta = draw(rng, (2, 3), np.float64)
    mean, var = rng.normal(size=3), rng.uniform(0.5, 2, 3)
    x = rng.normal(size=shape)
    bn = eval_bn(torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d, gamma, beta, mean, var, 1e-3)
    with torch.no_grad():
        want = bn(torch.from_numpy(x)).numpy()
    got = transform.inference(*(asarray(a, xp) for a in (x, gamma, beta, mean, var)), eps=1e-3)
    assert rel(to_numpy(got), want) <= 1e-12


@pytest.mark.parametrize("bias", [True, False])
def test_fuse_linear_and_conv_match_torch(xp, rng, bias):
    _, gamma, beta = draw(rng, (2, 6), np.float64)
    mean, var = rng.normal(size=6), rng.uniform(0.5, 2, 6)
    stats = [asarray(a, xp) for a in (gamma, beta, mean, var)]
    linear = torch.nn.Linear(4, 6, bias=bias).double()
    conv = torch.nn.Conv2d(4, 6, 3, groups=2, bias=bias).double()
    u_lin, u_conv = torch.from_numpy(rng.normal(size=(5, 4))), torch.from_numpy(rng.normal(size=(2, 4, 6, 6)))
    for layer, bn_cls, u, fuse, apply in [
        (linear, torch.nn.BatchNorm1d, u_lin, transform.fuse_linear, torch.nn.functional.linear),
        (conv, torch.nn.BatchNorm2d, u_conv, transform.fuse_conv,
         lambda u, w, b: torch.nn.functional.conv2d(u, w, b, groups=2)),
    ]:
        bn = eval_bn(bn_cls, gamma, beta, mean, var, 1e-5)
        w = asarray(layer.weight.detach().numpy(), xp)
        b = asarray(layer.bias.detach().numpy(), xp) if bias else None
        wf, bf = fuse(w, b, *stats, eps=1e-5)
        with torch.no_grad():
            want = bn(layer(u)).numpy()
            got = apply(u, torch.from_numpy(to_numpy(wf)), torch.from_numpy(to_numpy(bf))).numpy()
        assert rel(got, want) <= 1e-12
        assert to_numpy(w).shape == to_numpy(wf).shape


# --- properties (hypothesis) -----------------------------------------------------------------------

batch = st.tuples(st.integers(2, 12), st.integers(1, 4)).flatmap(
    lambda s: arrays(np.float64, s, elements=st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False))
)


def spread(x):
    """Keep batches whose channels are not numerically constant (relative spread above 1e-6)."""
    return bool(np.all(np.ptp(x, axis=0) > 1e-6 * (1 + np.max(np.abs(x), axis=0))))


@settings(max_examples=60, deadline=None)
@given(x=batch.filter(spread), eps=st.sampled_from([0.0, 1e-5, 1.0]))
def test_normalized_output_has_zero_mean_and_shrunk_unit_variance(x, eps):
    c = x.shape[1]
    y, _ = transform.forward(x, np.ones(c), np.zeros(c), eps=eps)
    var = x.var(axis=0)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-9)
    # sum x_hat^2 / m = sigma^2 / (sigma^2 + eps): exactly 1 at eps = 0
    np.testing.assert_allclose(y.var(axis=0), var / (var + eps), rtol=1e-9)


@settings(max_examples=60, deadline=None)
@given(x=batch.filter(spread), seed=st.integers(0, 2**32 - 1))
def test_backward_is_orthogonal_to_ones_and_x_hat(x, seed):
    rng = np.random.default_rng(seed)
    c = x.shape[1]
    gamma, dy = rng.uniform(0.5, 2, c), rng.normal(size=x.shape)
    _, cache = transform.forward(x, gamma, np.zeros(c), eps=0.0)
    dx, _, _ = transform.backward(dy, cache)
    scale = np.abs(gamma * cache.inv_std) * np.sqrt(x.shape[0]) * np.max(np.abs(dy))
    x_hat = cache.x_hat
    assert np.all(np.abs(dx.sum(axis=0)) <= 1e-9 * scale)
    assert np.all(np.abs((dx * x_hat).sum(axis=0)) <= 1e-9 * scale * np.sqrt(x.shape[0]))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_in=st.integers(1, 6), n_out=st.integers(1, 6))
def test_fusion_equals_bn_after_layer(seed, n_in, n_out):
    rng = np.random.default_rng(seed)
    W, b, u = rng.normal(size=(n_out, n_in)), rng.normal(size=n_out), rng.normal(size=(3, n_in))
    gamma, beta = rng.normal(size=n_out), rng.normal(size=n_out)
    mean, var = rng.normal(size=n_out), rng.uniform(0.01, 5, n_out)
    Wf, bf = transform.fuse_linear(W, b, gamma, beta, mean, var, eps=1e-5)
    want = transform.inference(u @ W.T + b, gamma, beta, mean, var, eps=1e-5)
    np.testing.assert_allclose(u @ Wf.T + bf, want, rtol=1e-10, atol=1e-10 * np.max(np.abs(want)))


@pytest.mark.parametrize("shape", [(3, 2), (7, 2), (200, 3, 10, 10)])
def test_a_constant_channel_is_refused_at_eps_zero_even_when_its_mean_rounds(xp, shape):
    # The mean of m copies of 0.1 is not 0.1 in float64, so the computed variance is ~1e-34, not 0.
    x = np.full(shape, 0.1)
    x[:, 0] = np.linspace(-1.0, 1.0, shape[0]).reshape((-1,) + (1,) * (len(shape) - 2))  # one channel varies
    gamma, beta = np.ones(shape[1]), np.zeros(shape[1])
    with pytest.raises(ValueError, match="x: a channel is constant"):
        transform.forward(*(asarray(a, xp) for a in (x, gamma, beta)), eps=0.0)
    # eps > 0 is the valid edge: the constant channels map to beta.
    y, _ = transform.forward(*(asarray(a, xp) for a in (x, gamma, beta)), eps=1e-5)
    assert np.all(np.abs(to_numpy(y)[:, 1:]) < 1e-5)
    # A channel that varies by one ulp of its value is not constant.
    x[-1, 1:] = np.nextafter(0.1, 1.0)
    y, _ = transform.forward(*(asarray(a, xp) for a in (x, gamma, beta)), eps=0.0)
    assert np.all(np.isfinite(to_numpy(y)))


# --- bad input -------------------------------------------------------------------------------------

X, G, B = np.ones((4, 3)) * np.arange(4)[:, None], np.ones(3), np.zeros(3)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: transform.forward(X.astype(int), G, B), TypeError, "x: expected a real floating dtype"),
        (lambda: transform.forward([[1.0, 2.0]], G, B), TypeError, "x: expected an array"),
        (lambda: transform.forward(X[:1], G, B), ValueError, "x: training-mode BN needs at least 2 values"),
        (lambda: transform.forward(np.ones((1, 3, 1, 1)), G, B), ValueError, "at least 2 values per channel"),
        (lambda: transform.forward(X[:, 0], G, B), ValueError, "x: expected at least 2 dimension"),
        (lambda: transform.forward(X, np.ones(4), B), ValueError, r"gamma: expected shape \(3,\)"),
        (lambda: transform.forward(X, G.astype(np.float32), B), TypeError, "gamma: dtype float32 differs"),
        # The NumPy fast path must refuse what the validation refuses (each clause of transform._plain_numpy_batch).
        (lambda: transform.forward(X, G.tolist(), B), TypeError, "gamma: expected an array"),
        (lambda: transform.forward(X, G, B.tolist()), TypeError, "beta: expected an array"),
        (lambda: transform.forward(X, G, np.zeros(4)), ValueError, r"beta: expected shape \(3,\)"),
        (lambda: transform.forward(X, G, B.astype(np.float32)), TypeError, "beta: dtype float32 differs"),
        (lambda: transform.forward(X.astype(np.float32), G, B), TypeError, "gamma: dtype float64 differs"),
        (lambda: transform.forward(np.ones((4, 0)), G[:0], B[:0]), ValueError, "at least 2 values per channel"),
        (lambda: transform.forward(X, G, B, eps=-1e-5), ValueError, "eps: expected a finite value >= 0"),
        (lambda: transform.forward(X, G, B, eps=float("nan")), ValueError, "eps: expected a finite value"),
        (lambda: transform.forward(np.ones((4, 3)), G, B, eps=0.0), ValueError, "x: a channel is constant"),
        (lambda: transform.backward(np.ones((5, 3)), transform.forward(X, G, B)[1]), ValueError, "dy: expected"),
        (lambda: transform.backward(X, (1, 2)), TypeError, "cache: expected the Cache"),
        (lambda: transform.update_running_stats(B, G, X, momentum=1.5), ValueError, r"momentum: expected a value in"),
        (lambda: transform.update_running_stats(B, G, X, momentum=-0.1), ValueError, "momentum: expected a finite"),
        (lambda: transform.update_running_stats(B, G, X, momentum=0.1, convention="jax"), ValueError, "convention"),
        (lambda: transform.update_running_stats(B, G[:2], X, momentum=0.1), ValueError, "running_var: expected"),
        (lambda: transform.population_stats([]), ValueError, "batches: expected at least one"),
        (lambda: transform.population_stats([X, X[:3]]), ValueError, r"batches\[1\]: shape"),
        (lambda: transform.inference(X, G, B, B, -G), ValueError, "var: a variance is negative"),
        (lambda: transform.inference_affine(G, B[:2], B, G), ValueError, r"beta: expected shape \(3,\)"),
        (lambda: transform.inference_affine(G, B, B[:2], G), ValueError, r"mean: expected shape \(3,\)"),
        (lambda: transform.inference_affine(G, B, B, G[:2]), ValueError, r"var: expected shape \(3,\)"),
        (lambda: transform.fuse_linear(np.ones(3), None, G, B, B, G), ValueError, "W: expected at least 2"),
        (lambda: transform.fuse_linear(np.ones((2, 3)), None, G, B, B, G), ValueError, r"gamma: expected shape \(2,\)"),
        (lambda: transform.fuse_conv(np.ones((3, 2)), None, G, B, B, G), ValueError, "K: expected at least 3"),
        (lambda: transform.fuse_conv(np.ones((3, 2, 1, 1)), np.ones(2), G, B, B, G), ValueError, "b: expected"),
    ],
)
def test_bad_input_names_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_float32_parameters_with_a_float64_batch_are_refused_on_every_path():
    """Both gamma and beta of another dtype than x: no fast path may take them (no silent promotion)."""
    x = np.random.default_rng(0).normal(size=(8, 3))
    with pytest.raises(TypeError, match="gamma"):
        transform.forward(x, np.ones(3, np.float32), np.zeros(3, np.float32))


def test_numpy_scalars_are_real_numbers_for_eps_and_momentum():
    """eps=np.float32(1e-5) and momentum=np.float32(0.1) are accepted (issue 21), booleans are not."""
    x = np.random.default_rng(0).normal(size=(8, 3))
    y, _ = transform.forward(x, np.ones(3), np.zeros(3), eps=np.float32(1e-5))
    np.testing.assert_array_equal(y, transform.forward(x, np.ones(3), np.zeros(3), eps=float(np.float32(1e-5)))[0])
    mean, var = transform.update_running_stats(np.zeros(3), np.ones(3), x, momentum=np.float32(0.1))
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(var))
    with pytest.raises(TypeError, match="eps"):
        transform.forward(x, np.ones(3), np.zeros(3), eps=np.True_)


def test_without_numba_the_compiled_modules_are_absent(monkeypatch):
    import sys

    from bntheory.norms import _compiled

    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` now fails as where it is not installed
    for name in ("_batch_fused", "_standardize_fused"):
        monkeypatch.delitem(sys.modules, f"bntheory.norms.{name}", raising=False)
        assert _compiled.load.__wrapped__(name) is None


def test_running_statistics_stream_instead_of_copying_the_batch():
    """update_running_stats and population_stats: temporaries of a chunk, not two copies of the batch (issue 21)."""
    import tracemalloc

    x = np.random.default_rng(0).standard_normal((2048, 512))  # 8 MiB
    transform.update_running_stats(np.zeros(512), np.ones(512), x[:2], momentum=0.1)  # lazy imports first
    for call in (
        lambda: transform.update_running_stats(np.zeros(512), np.ones(512), x, momentum=0.1),
        lambda: transform.population_stats([x, x]),
    ):
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        call()
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        assert peak < x.nbytes / 4, f"peak {peak / 2**20:.1f} MiB for a {x.nbytes / 2**20:.0f} MiB batch"
    # The streamed moments are the two-pass moments of the whole batch.
    mean, var = transform.population_stats([x])
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(var, x.var(0, ddof=1), rtol=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_compiled_paths_refuse_non_finite_input_as_the_reference_does(monkeypatch, bad):
    from bntheory import norms
    from bntheory.norms import _compiled

    _fused()
    monkeypatch.delenv("BNTHEORY_NUMBA", raising=False)
    monkeypatch.setattr(_compiled, "MIN_ELEMENTS", 1)
    rng = np.random.default_rng(3)
    x, gamma, beta = draw(rng, (64, 8), np.float32)
    assert transform._kernels(x) is not _numpy_kernels
    _, cache = transform.forward(x, gamma, beta)
    _, ln_cache = norms.layer_norm(x, 8, gamma, beta)
    x = x.copy()
    x[5, 3] = bad
    dy = rng.normal(size=x.shape).astype(np.float32)
    dy[7, 2] = bad
    for call in (
        lambda: transform.forward(x, gamma, beta),
        lambda: transform.backward(dy, cache),
        lambda: norms.layer_norm(x, 8, gamma, beta),
        lambda: norms.rms_norm(x, 8, gamma),
        lambda: norms.backward(dy, ln_cache),
    ):
        with pytest.raises(ValueError) as got:
            call()
        with monkeypatch.context() as m:
            m.setenv("BNTHEORY_NUMBA", "0")
            with pytest.raises(ValueError) as want:
                call()
        assert type(got.value) is type(want.value) and str(got.value) == str(want.value)
