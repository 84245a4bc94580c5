"""The kit behind Santurkar et al.'s checks: instances (batches, directions, downstream functions, aligned batches,
networks) and the oracles they feed (mpmath Jacobians, the distance to a ray), each against a second computation."""

import mpmath
import numpy as np
import pytest
import torch

from bntheory.checks.instances.landscape import (
    Downstream,
    aligned_batch,
    draw_batch,
    normalized,
    orthogonal_to_1_and,
    per_batch,
    random_bn_mlp,
    variance,
)
from bntheory.checks.oracles.autograd import (
    torch_bn_mlp_curvature,
    torch_bn_mlp_grads,
    torch_hessian_form,
    torch_loss_gradient,
    torch_normalize_vjp,
    torch_weight_gradient,
)
from bntheory.checks.oracles.mp import mp_jacobian, mp_jacobian_difference, mp_ray_distance, mp_to_numpy
from bntheory.checks.oracles.optimize import ray_distance
from bntheory.landscape.jacobian import bn_jacobian, jacobian_deviation


def test_variance_is_along_the_last_axis_for_any_stack():
    """One batch (1-D), a stack (2-D) and a stack of stacks (3-D): the biased variance of each last-axis row."""
    y = np.random.default_rng(9).normal(size=(2, 3, 5))
    assert float(variance(y[0, 0])) == pytest.approx(float(np.mean((y[0, 0] - y[0, 0].mean()) ** 2)), rel=1e-14)
    np.testing.assert_allclose(variance(y[0]), [np.mean((r - r.mean()) ** 2) for r in y[0]], rtol=1e-14)
    np.testing.assert_allclose(variance(y), [[np.mean((r - r.mean()) ** 2) for r in s] for s in y], rtol=1e-14)


def test_draw_batch_has_the_stated_spread_of_means_and_scales():
    """Means U(-2, 2) and scales U(0.3, 3) per batch: over 2000 batches of 50, the batches' means and standard
    deviations (each within about 10% of its batch's) reach both ends and centre on 0 and 1.65."""
    rng = np.random.default_rng(8)
    batches = np.stack([draw_batch(rng, 50) for _ in range(2000)])
    means, scales = batches.mean(axis=1), batches.std(axis=1)
    assert abs(means.mean()) < 0.15 and np.quantile(means, 0.05) < -1.6 and np.quantile(means, 0.95) > 1.6
    assert np.quantile(scales, 0.05) < 0.5 and np.quantile(scales, 0.95) > 2.6 and abs(scales.mean() - 1.65) < 0.1


def test_batches_and_orthogonal_directions(rng):
    y = draw_batch(rng, 6)
    y_hat, s = normalized(y, 0.5)
    assert s == pytest.approx(np.sqrt(y.var() + 0.5)) and abs(y_hat.sum()) < 1e-12
    u = orthogonal_to_1_and(y, rng)  # not centred: projected all the same
    assert abs(u.sum()) < 1e-12 and abs(u @ (y - y.mean())) < 1e-12 * np.linalg.norm(u) * np.linalg.norm(y)
    with pytest.raises(ValueError, match="m"):
        draw_batch(rng, 1)
    with pytest.raises(ValueError, match="eps"):
        normalized(y, -1.0)
    with pytest.raises(ValueError, match="constant"):
        orthogonal_to_1_and(np.ones(4), rng)


def test_downstream_gradient_and_hessian_match_autograd(rng):
    m = 4
    F = Downstream(rng.normal(size=m), rng.normal(size=(m, m)), rng.normal(size=m))
    assert np.allclose(F.Q, F.Q.T)
    z = rng.normal(size=m)
    t = torch.tensor(z, requires_grad=True)
    np.testing.assert_allclose(torch.func.grad(F.torch)(t).detach().numpy(), F.grad(z), rtol=1e-13)
    np.testing.assert_allclose(torch.func.hessian(F.torch)(t).detach().numpy(), F.hess(z), rtol=1e-13, atol=1e-14)
    with mpmath.workdps(30):
        assert float(F.mp([mpmath.mpf(v) for v in z])) == pytest.approx(float(F.torch(t.detach())), rel=1e-14)
    with pytest.raises(ValueError, match="shapes"):
        Downstream(np.ones(3), np.ones((2, 2)), np.ones(3))


def test_aligned_batch_attains_the_operator_norm_step(rng):
    m, d = 5, 3
    y, a, c = draw_batch(rng, m), rng.normal(size=m), rng.normal(size=m)
    F = Downstream.linear_sine(a, c)
    u = torch_loss_gradient(y, 1.3, 0.0, F.torch)
    X = aligned_batch(y, u, d)
    lam = np.linalg.norm(X, 2)
    assert lam == pytest.approx(2 * np.linalg.norm(y), rel=1e-14)
    assert np.sum((X.T @ u) ** 2) == pytest.approx(lam**2 * (u @ u), rel=1e-14)
    grad_w = torch_weight_gradient(X, np.eye(d)[0], 1.3, 0.0, F.torch)
    np.testing.assert_allclose(grad_w, X.T @ u, rtol=1e-12, atol=1e-14 * np.linalg.norm(grad_w))
    with pytest.raises(ValueError, match="d"):
        aligned_batch(y, u, 1)
    with pytest.raises(ValueError, match="non-zero"):
        aligned_batch(y, np.zeros(m), 2)


def test_per_batch_computes_once_per_batch():
    calls = []

    @per_batch
    def f(values):
        calls.append(1)
        return values["a"].sum(axis=-1)

    v = {"a": np.ones((2, 3))}
    assert f(v).tolist() == f(v).tolist() == [3.0, 3.0] and len(calls) == 1
    assert f(dict(v)).tolist() == [3.0, 3.0] and len(calls) == 2, "another mapping is another batch"


def test_the_batched_helpers_match_one_instance_at_a_time(rng):
    """normalized, Downstream and the autograd oracles on a batch (leading axis) equal their one-instance values."""
    n, m = 5, 4
    y, g, a, c = (rng.normal(size=(n, m)) for _ in range(4))
    Q, gamma, eps = rng.normal(size=(n, m, m)), rng.uniform(0.5, 2, n), rng.uniform(0, 1, n)
    y_hat, s = normalized(y, eps)
    F = Downstream(a, Q, c)
    z = gamma[:, None] * y_hat
    grads, hessians = F.grad(z), F.hess(z)
    vjp = torch_normalize_vjp(y, g, gamma, eps)
    direction, form = torch_hessian_form(y, gamma, eps, F.torch)
    for i in range(n):
        one_hat, one_s = normalized(y[i], eps[i])
        np.testing.assert_allclose(y_hat[i], one_hat, rtol=1e-15)
        assert s[i] == pytest.approx(one_s, rel=1e-15)
        Fi = Downstream(a[i], Q[i], c[i])
        np.testing.assert_allclose(grads[i], Fi.grad(z[i]), rtol=1e-14)
        np.testing.assert_allclose(hessians[i], Fi.hess(z[i]), rtol=1e-14)
        np.testing.assert_allclose(vjp[i], torch_normalize_vjp(y[i], g[i], gamma[i], eps[i]), rtol=1e-13, atol=1e-15)
        v_i, form_i = torch_hessian_form(y[i], gamma[i], eps[i], Fi.torch)
        np.testing.assert_allclose(direction[i], v_i, rtol=1e-13, atol=1e-15)
        assert float(form[i]) == pytest.approx(float(form_i), rel=1e-12)
    value, c_star = ray_distance(a, g)
    for i in range(n):
        assert (float(value[i]), float(c_star[i])) == pytest.approx(ray_distance(a[i], g[i]), rel=1e-14)


@pytest.mark.parametrize(("m", "eps"), [(2, 0.0), (4, 0.0), (6, 0.3)])
def test_mp_jacobian_matches_the_closed_form(rng, m, eps):
    x = draw_batch(rng, m)
    J = mp_to_numpy(mp_jacobian(x, -1.4, eps))
    ref = bn_jacobian(x[:, None], np.array([-1.4]), eps=eps)[0]
    np.testing.assert_allclose(J, ref, atol=1e-14 * 1.4 / np.sqrt(x.var() + eps))
    with pytest.raises(ValueError, match="at least 2"):
        mp_jacobian([1.0], 1.0, 0.0)


def test_mp_jacobian_difference_keeps_the_digits_float64_loses(rng):
    x = draw_batch(rng, 5)
    sigma, eps = float(x.std()), 1e-12 * x.var()
    exact, _ = jacobian_deviation(sigma, 0.8, eps)
    measured = np.linalg.norm(mp_jacobian_difference(x, 0.8, eps, 0.0), 2)
    assert measured == pytest.approx(exact, rel=1e-12)


def test_ray_distance_by_optimisation_and_in_mpmath(rng):
    w0, ws = rng.normal(size=4), rng.normal(size=4)
    ws = ws if w0 @ ws > 0 else -ws
    closed = w0 @ w0 - (w0 @ ws) ** 2 / (ws @ ws)
    value, c = ray_distance(w0, ws)
    assert value == pytest.approx(closed, rel=1e-12) and c == pytest.approx((w0 @ ws) / (ws @ ws), rel=1e-6)
    assert float(mp_ray_distance(w0, ws, c)) == pytest.approx(closed, rel=1e-14)
    # Off the assumption the infimum over c > 0 is the limit c -> 0+.
    assert float(mp_ray_distance(w0, -ws, 0.0)) == pytest.approx(w0 @ w0, rel=1e-14)
    # The bracket is relative to the scale of w0 and w*, so the accuracy does not depend on it.
    for t in (1e-8, 1e8):
        for a, b, value_scale, c_scale in ((t * w0, ws, t * t, t), (w0, t * ws, 1.0, 1 / t)):
            value, c = ray_distance(a, b)
            assert value == pytest.approx(closed * value_scale, rel=1e-12)
            assert c == pytest.approx((w0 @ ws) / (ws @ ws) * c_scale, rel=1e-6)
    with pytest.raises(ValueError, match="non-zero"):
        ray_distance(w0, np.zeros(4))


def test_bn_mlp_gradients_and_curvature_are_consistent(rng):
    net = random_bn_mlp(rng, m=6, d=4, k=3)
    y, g, dy, dW = torch_bn_mlp_grads(net, 0.0)
    np.testing.assert_allclose(y, net.X @ net.W, rtol=1e-14)
    np.testing.assert_allclose(dW, net.X.T @ dy, rtol=1e-12, atol=1e-15)
    for j, unit in enumerate(torch_bn_mlp_curvature(net)):
        np.testing.assert_allclose(unit["v"], dy[:, j], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(unit["g"], g[:, j], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(unit["y"], y[:, j], rtol=1e-14)
        assert unit["H"].shape == (6, 6) and np.allclose(unit["H"], unit["H"].T)
    with pytest.raises(ValueError, match="m"):
        random_bn_mlp(rng, m=1, d=2, k=2)


def test_random_bn_mlp_keeps_the_assumptions(rng):
    """Theorems 4.1-4.4 on these networks assume sigma_j > 0 per unit and gamma != 0; shapes as documented."""
    signs = set()
    for _ in range(50):
        net = random_bn_mlp(rng, m=5, d=3, k=4, outputs=2)
        shapes = [a.shape for a in (net.X, net.W, net.gamma, net.beta, net.V, net.target)]
        assert shapes == [(5, 3), (3, 4), (4,), (4,), (4, 2), (5, 2)]
        assert np.all((net.X @ net.W).var(axis=0) > 0)
        assert np.all((np.abs(net.gamma) >= 0.5) & (np.abs(net.gamma) <= 2))
        signs |= set(np.sign(net.gamma))
    assert signs == {-1.0, 1.0}


def test_hessian_form_direction_defaults_to_the_gradient(rng):
    y = draw_batch(rng, 4)
    F = Downstream(rng.normal(size=4), rng.normal(size=(4, 4)), rng.normal(size=4))
    v, form = torch_hessian_form(y, 0.9, 0.0, F.torch)
    np.testing.assert_allclose(v, torch_loss_gradient(y, 0.9, 0.0, F.torch), rtol=1e-14)
    _, again = torch_hessian_form(y, 0.9, 0.0, F.torch, v)
    assert again == pytest.approx(form, rel=1e-14)
