"""BNGD on population least squares (bntheory.optim.bngd): the iteration, its invariants, plain GD, backends."""

import numpy as np
import pytest

from bntheory.backend import asarray
from bntheory.optim import bngd as bn


def _problem(rng, d=4, xp=np):
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    H = (Q * np.geomspace(1, 10, d)) @ Q.T
    u_star = rng.normal(size=d)
    return bn.least_squares(asarray(H, xp), asarray(u_star, xp), 0.2), H, u_star


def test_objective_is_half_the_mean_squared_error_of_an_empirical_population(rng):
    """J's closed form against the mean of (y - a w.x / |w|_H)^2 / 2 over a finite population with those moments."""
    X = rng.normal(size=(50, 3))
    y = X @ rng.normal(size=3) + 0.3 * rng.normal(size=50)
    problem = bn.LeastSquares(X.T @ X / 50, X.T @ y / 50, float(y @ y / 50))
    a, w = rng.normal(size=4), rng.normal(size=(4, 3))
    norm = np.sqrt(np.mean((X @ w.T) ** 2, axis=0))
    direct = 0.5 * np.mean((y[:, None] - a * (X @ w.T) / norm) ** 2, axis=0)
    np.testing.assert_allclose(problem.objective(a, w), direct, rtol=1e-13)


def test_least_squares_moments(rng):
    problem, H, u_star = _problem(rng)
    np.testing.assert_allclose(problem.g, H @ u_star, rtol=1e-14)
    assert problem.y2 == pytest.approx(u_star @ H @ u_star + 0.2, rel=1e-14)
    with pytest.raises(ValueError, match="sigma2"):
        bn.least_squares(H, u_star, -1.0)
    with pytest.raises(ValueError, match="H, u_star"):
        bn.least_squares(H, u_star[:-1], 0.0)


def test_one_step_matches_the_formulas(rng):
    problem, H, u_star = _problem(rng)
    g = H @ u_star
    w0, a0 = rng.normal(size=(1, 4)), 0.7
    trace = bn.bngd(problem, a0, w0, 3.0, 0.5, T=1)
    w = w0[0]
    n = np.sqrt(w @ H @ w)
    w1 = w + 3.0 * a0 / n * (g - (w @ g) / n**2 * H @ w)
    a1 = a0 - 0.5 * (a0 - (w @ g) / n)
    np.testing.assert_allclose(trace.gain[:, 0], [a0, a1], rtol=1e-14)
    np.testing.assert_allclose(trace.predictor[1, 0], a1 * w1 / np.sqrt(w1 @ H @ w1), rtol=1e-13)
    np.testing.assert_allclose(trace.norm_sq[:, 0], [w @ w, w1 @ w1], rtol=1e-14)
    np.testing.assert_allclose(trace.direction[1, 0], w1 / np.linalg.norm(w1), rtol=1e-14)


def test_the_weight_step_is_orthogonal_so_the_norm_only_grows(rng):
    problem, _, _ = _problem(rng)
    trace = bn.bngd(problem, 1.0, rng.normal(size=(3, 4)), np.array([0.1, 10.0, 1e3]), 1.0, T=50)
    assert np.all(np.diff(trace.norm_sq, axis=0) >= -1e-12 * trace.norm_sq[1:])


def test_bngd_converges_at_large_weight_steps_and_gd_does_not(rng):
    problem, H, u_star = _problem(rng)
    trace = bn.bngd(problem, 1.0, np.tile(rng.normal(size=4), (2, 1)), np.array([1.0, 100.0]), 1.0, T=1500)
    error = np.linalg.norm(trace.predictor[-1] - u_star, axis=1) / np.linalg.norm(u_star)
    assert np.all(error < 1e-8)
    J_star = 0.5 * 0.2
    assert np.all(np.abs(trace.objective[-1] - J_star) < 1e-12)
    lam = np.linalg.eigvalsh(H)[-1]
    gd = bn.gd(problem, np.zeros((2, 4)), np.array([1.9, 2.1]) / lam, T=400)
    errors = np.linalg.norm(gd.predictor[-1] - u_star, axis=1) / np.linalg.norm(u_star)
    assert errors[0] < 1e-8 < 1e3 < errors[1]
    assert np.all(np.isnan(gd.gain)) and gd.objective.shape == (401, 2)


def test_scaling_law(rng):
    problem, _, _ = _problem(rng)
    w0 = rng.normal(size=(2, 4))
    eps = np.array([0.5, 50.0])
    base = bn.bngd(problem, 0.3, w0, eps, 0.5, T=80)
    scaled = bn.bngd(problem, 0.3, 5 * w0, 25 * eps, 0.5, T=80)
    np.testing.assert_allclose(scaled.gain, base.gain, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(scaled.direction, base.direction, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(scaled.norm_sq, 25 * base.norm_sq, rtol=1e-12)


def test_bad_input_is_refused(rng):
    problem, _, _ = _problem(rng)
    w0 = rng.normal(size=(2, 4))
    with pytest.raises(ValueError, match="T"):
        bn.bngd(problem, 1.0, w0, 1.0, 1.0, T=-2)
    with pytest.raises(ValueError, match="eps_a"):
        bn.bngd(problem, 1.0, w0, 1.0, np.array([1.0, -1.0]), T=2)
    with pytest.raises(ValueError, match="eps"):
        bn.bngd(problem, 1.0, w0, np.inf, 1.0, T=2)
    with pytest.raises(ValueError, match="a0"):
        bn.bngd(problem, np.nan, w0, 1.0, 1.0, T=2)
    with pytest.raises(ValueError, match="w0"):
        bn.bngd(problem, 1.0, w0[0], 1.0, 1.0, T=2)
    with pytest.raises(ValueError, match="u0"):
        bn.gd(problem, rng.normal(size=(2, 3)), 0.1, T=2)


def test_bngd_runs_on_every_backend(xp, rng):
    seed = int(rng.integers(1000))
    problem_np, _, _ = _problem(np.random.default_rng(seed))
    problem_xp, _, _ = _problem(np.random.default_rng(seed), xp=xp)
    w0 = rng.normal(size=(3, 4))
    eps = np.array([0.1, 10.0, 1e3])
    want = bn.bngd(problem_np, 1.0, w0, eps, 1.0, T=30)
    got = bn.bngd(problem_xp, 1.0, asarray(w0, xp), eps, 1.0, T=30)
    for name in ("predictor", "objective", "gain", "norm_sq", "direction"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-11, atol=1e-13, err_msg=name)
    got_gd = bn.gd(problem_xp, asarray(w0, xp), 0.05, T=10)
    np.testing.assert_allclose(got_gd.predictor, bn.gd(problem_np, w0, 0.05, T=10).predictor, rtol=1e-12)


def test_loops_copy_nothing_to_the_host(strict, rng, count_host_copies):
    """Host copies are the trace's, after the loop: the same count for 2 steps as for 60."""
    calls = count_host_copies(bn)
    problem, _, _ = _problem(np.random.default_rng(2), xp=strict)
    w0 = asarray(rng.normal(size=(3, 4)), strict)
    counts = []
    for T in (2, 60):
        before = len(calls)
        bn.bngd(problem, 1.0, w0, np.array([0.1, 1.0, 1e4]), 0.5, T=T)
        bn.gd(problem, w0, 0.05, T=T)
        counts.append(len(calls) - before)
    assert counts[0] == counts[1] == 7, f"host copies per pair of runs: {counts} (the traces' 5 + 2 arrays expected)"
