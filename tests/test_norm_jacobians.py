"""bntheory.norms.jacobian against torch.autograd.functional.jacobian of PyTorch's own kernels."""

from __future__ import annotations

import array_api_strict
import numpy as np
import pytest

from bntheory.norms import jacobian as nj

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _torch_blocks(fn, x: np.ndarray, groups_shape: tuple[int, ...]) -> np.ndarray:
    """The diagonal blocks of PyTorch's full Jacobian of `fn` at `x`, grouped as `groups_shape` + (m,)."""
    full = torch.autograd.functional.jacobian(fn, torch.tensor(x)).numpy().reshape(x.size, x.size)
    k = int(np.prod(groups_shape))
    m = x.size // k
    blocks = np.stack([full[i * m : (i + 1) * m, i * m : (i + 1) * m] for i in range(k)])
    off = full.copy()
    for i in range(k):
        off[i * m : (i + 1) * m, i * m : (i + 1) * m] = 0
    assert np.abs(off).max() == 0, "PyTorch's Jacobian couples groups"
    return blocks.reshape(*groups_shape, m, m)


@pytest.mark.parametrize("eps", [0.0, 1e-3])
@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 4)])
def test_layer_and_rms_norm_jacobians_match_torch(shape, eps):
    rng = np.random.default_rng(0)
    x, g = rng.normal(size=shape) + 1.0, 1 + 0.3 * rng.normal(size=shape[-1])
    tg = torch.tensor(g)
    got = nj.layer_norm_jacobian(x, shape[-1], g, eps=eps)
    want = _torch_blocks(lambda t: F.layer_norm(t, shape[-1:], tg, eps=eps), x, shape[:-1])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    got = nj.rms_norm_jacobian(x, shape[-1], g, eps=eps)
    want = _torch_blocks(lambda t: F.rms_norm(t, shape[-1:], tg, eps=eps), x, shape[:-1])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_group_and_instance_norm_jacobians_match_torch(groups):
    rng = np.random.default_rng(1)
    x, g = rng.normal(size=(2, 4, 3)), 1 + 0.3 * rng.normal(size=4)
    tg = torch.tensor(g)
    got = nj.group_norm_jacobian(x, groups, g, eps=1e-3)
    want = _torch_blocks(lambda t: F.group_norm(t, groups, tg, eps=1e-3), x, (2, groups))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    if groups == 4:
        np.testing.assert_allclose(nj.instance_norm_jacobian(x, g, eps=1e-3), got, rtol=1e-15)


def test_weight_norm_jacobian_matches_torch_and_kills_v():
    rng = np.random.default_rng(2)
    v, g = rng.normal(size=(3, 2, 2)), rng.uniform(0.5, 2, 3)
    tg = torch.tensor(g)
    got = nj.weight_norm_jacobian(v, g)
    want = _torch_blocks(lambda t: torch._weight_norm(t, tg, 0), v, (3,))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.einsum("kij,kj->ki", got, v.reshape(3, -1)), 0, atol=1e-14)


def test_ranks_at_eps_zero_and_above():
    x = np.random.default_rng(3).normal(size=(1, 6))
    rank = np.linalg.matrix_rank
    assert rank(nj.layer_norm_jacobian(x, 6, eps=0.0)[0]) == 4
    assert rank(nj.layer_norm_jacobian(x, 6, eps=0.1)[0]) == 5
    assert rank(nj.rms_norm_jacobian(x, 6, eps=0.0)[0]) == 5
    assert rank(nj.rms_norm_jacobian(x, 6, eps=0.1)[0]) == 6


def test_jacobians_run_under_array_api_strict():
    rng = np.random.default_rng(4)
    x, g = rng.normal(size=(2, 4, 2)), 1 + 0.3 * rng.normal(size=4)
    xs, gs = array_api_strict.asarray(x), array_api_strict.asarray(g)
    for got, want in [
        (nj.layer_norm_jacobian(xs[:, :, 0], 4, gs), nj.layer_norm_jacobian(x[:, :, 0], 4, g)),
        (nj.group_norm_jacobian(xs, 2, gs), nj.group_norm_jacobian(x, 2, g)),
        (nj.weight_norm_jacobian(xs, gs[:2]), nj.weight_norm_jacobian(x, g[:2])),
    ]:
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-15)


def test_jacobian_errors_name_the_argument():
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="x: a normalization group is constant"):
        nj.layer_norm_jacobian(x, 3, eps=0.0)
    with pytest.raises(ValueError, match="gamma"):
        nj.layer_norm_jacobian(np.arange(6.0).reshape(2, 3), 3, np.ones(4))
    with pytest.raises(ValueError, match="groups"):
        nj.group_norm_jacobian(np.ones((2, 3, 2)), 2)
    with pytest.raises(TypeError, match="x"):
        nj.rms_norm_jacobian([[1.0, 2.0]], 2)
    with pytest.raises(ValueError, match="v: a slice is zero"):
        nj.weight_norm_jacobian(np.zeros((2, 2)), np.ones(2))
