"""GDNP and its problems: backends, assumptions, the step's equivalence with the Rayleigh step, quadrature."""

import dataclasses

import mpmath
import numpy as np
import pytest

from bntheory.backend import asarray, to_numpy
from bntheory.checks.rates import fit_rate, pointwise_ratio
from bntheory.optim import gdnp, problems
from bntheory.optim.problems import spd_with_condition


def _instance(rng, d=5, kappa=10.0):
    S = spd_with_condition(rng, d, kappa)
    u = rng.normal(size=d)
    return S, u * np.sqrt(0.5 / (u @ np.linalg.solve(S, u)))


def test_gdnp_solves_least_squares_on_every_backend(xp, rng):
    S, u = _instance(rng, kappa=3.0)  # rate (1 - 1/3)^2 per step: 80 steps reach rounding level
    w0 = rng.normal(size=5)
    problem = problems.least_squares_moments(asarray(S, xp), asarray(u, xp), 1.0)
    res = gdnp.gdnp(problem, asarray(w0, xp), T_d=80, T_s=60)
    np.testing.assert_allclose(to_numpy(res.w_tilde), np.linalg.solve(S, u), rtol=1e-7)
    assert res.trace.rho.shape == (81,) and not res.stopped_early
    assert res.trace.grad_norm[-1] < 1e-7 * res.trace.grad_norm[0]


def test_gdnp_refuses_an_orthogonal_start(rng):
    S, u = _instance(rng)
    w0 = rng.normal(size=5)
    w0 -= (u @ w0) / (u @ u) * u
    with pytest.raises(ValueError, match="u\\^T w0 = 0"):
        gdnp.gdnp(problems.least_squares_moments(S, u), w0)
    with pytest.raises(ValueError, match="T_d"):
        gdnp.gdnp(problems.least_squares_moments(S, u), rng.normal(size=5), T_d=-1)


@pytest.mark.parametrize("loss", list(problems.LOSSES))
def test_direction_step_is_the_least_squares_rayleigh_step(loss, rng):
    # THEORY.md §3.7 [D]: with h = c1 u^T w, w - s grad_w f = w - ||w||_S^2 / (2 L |rho|) grad rho.
    S, u = _instance(rng)
    problem = problems.halfspace(S, u, loss=loss)
    w, g = rng.normal(size=5), 1.7
    dw, w_tilde = gdnp.direction_gradient(problem, w, g)
    norm = np.sqrt(w @ S @ w)
    c1, c2 = problem.c(w_tilde)
    step = -(norm**3) / (problem.L * g * c1 * (u @ w))
    rho = gdnp.rayleigh_quotient(w, u, S)
    grad_rho = 2 / norm**2 * (-u * (u @ w) - rho * S @ w)
    expected = w - norm**2 / (2 * problem.L * abs(rho)) * grad_rho
    np.testing.assert_allclose(w - step * dw, expected, rtol=1e-10)
    # The encyclopedia's h (second term without g/||w||_S) breaks the equivalence when g != ||w||_S.
    e_dphi = c1 + c2 * (u @ w_tilde)
    h_printed = e_dphi * (u @ w) - c2 * (u @ w) ** 2
    wrong = w - (-(norm**3) / (problem.L * g * h_printed)) * dw
    assert np.max(np.abs(wrong - expected)) > 1e-3


def test_halfspace_gradient_matches_monte_carlo_and_finite_differences(rng):
    S, u = _instance(rng, d=4)
    problem = problems.halfspace(S, u)
    w = rng.normal(size=4)
    z = rng.multivariate_normal(u, S - np.outer(u, u), size=400_000)
    p = 0.5 * (1 + np.tanh(0.5 * (z @ w)))
    mc, se = (z * p[:, None]).mean(axis=0), (z * p[:, None]).std(axis=0) / np.sqrt(len(z))
    assert np.all(np.abs(problem.gradient(w) - mc) < 5 * se)
    e = 1e-5
    fd = [(problem.value(w + e * v) - problem.value(w - e * v)) / (2 * e) for v in np.eye(4)]
    np.testing.assert_allclose(problem.gradient(w), fd, rtol=1e-7, atol=1e-9)
    c1, c2 = problem.c(w)
    np.testing.assert_allclose(problem.gradient(w), c1 * u + c2 * S @ w, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(("m", "s"), [(0.3, 0.01), (-1.0, 3.0), (4.0, 30.0), (-5.0, 300.0)])
def test_quadrature_matches_mpmath(m, s):
    from bntheory.optim.problems import _gaussian_rule

    phi, dphi = problems.LOSSES["softplus"]
    t, weights = _gaussian_rule(m, s)
    ours = [phi(m + s * t) @ weights, dphi(m + s * t) @ weights, (t * dphi(m + s * t)) @ weights]
    mpmath.mp.dps = 30
    pdf = lambda t: mpmath.exp(-t * t / 2) / mpmath.sqrt(2 * mpmath.pi)  # noqa: E731
    sig = lambda a: 1 / (1 + mpmath.exp(-a))  # noqa: E731
    soft = lambda a: mpmath.log1p(mpmath.exp(a)) if a < 30 else a + mpmath.log1p(mpmath.exp(-a))  # noqa: E731
    pts = sorted({-mpmath.inf, mpmath.mpf(-m) / s, mpmath.mpf(0), mpmath.inf})
    ref = [float(mpmath.quad(lambda t, f=f: f(m + s * t) * pdf(t), pts)) for f in (soft, sig)]
    ref.append(float(mpmath.quad(lambda t: t * sig(m + s * t) * pdf(t), pts)))
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-14)


def test_sample_halfspace_gradient(rng):
    Z = rng.normal(size=(300, 3)) + 0.2
    problem = problems.halfspace_samples(Z, loss="smooth_hinge")
    w, e = rng.normal(size=3), 1e-6
    fd = [(problem.value(w + e * v) - problem.value(w - e * v)) / (2 * e) for v in np.eye(3)]
    np.testing.assert_allclose(problem.gradient(w), fd, rtol=1e-6, atol=1e-9)


def test_problem_errors(rng):
    S, u = _instance(rng)
    with pytest.raises(ValueError, match="positive definite"):
        problems.least_squares_moments(-S, u)
    with pytest.raises(ValueError, match="u\\^T S\\^-1 u < 1"):
        problems.halfspace(S, 3 * u)
    with pytest.raises(ValueError, match="loss"):
        problems.halfspace(S, u, loss="hinge")
    with pytest.raises(ValueError, match="shapes"):
        problems.least_squares(np.ones((4, 2)), np.ones(3))
    with pytest.raises(ValueError, match="step"):
        gdnp.gd(problems.halfspace(S, u), u)
    with pytest.raises(ValueError, match="bracket"):
        gdnp.bisection(lambda g: g - 5.0, 0.0, 1.0, 10)


def test_rate_fit_and_pointwise_bound():
    e = 3.0 * 0.8 ** np.arange(40)
    fit = fit_rate(e)
    assert fit.q == pytest.approx(0.8, rel=1e-12) and fit.low <= 0.8 <= fit.high
    assert pointwise_ratio(e, 0.8) == pytest.approx(1.0) and pointwise_ratio(e, 0.7) > 1
    floored = np.r_[e[:10], np.full(10, 1e-17)]
    assert fit_rate(floored).points == 10
    with pytest.raises(ValueError, match="finite"):
        fit_rate(np.r_[1.0, np.nan, 0.5])
    with pytest.raises(ValueError, match="need 3"):
        fit_rate([1.0, 1e-12, 1e-13])
    with pytest.raises(ValueError, match="q_bound"):
        pointwise_ratio(e, 1.5)


def test_rayleigh_gd_converges_to_the_top_pencil_eigenvalue(xp, rng):
    import scipy.linalg

    A = spd_with_condition(rng, 4, 5.0)
    C = rng.normal(size=(4, 4))
    B = C + C.T
    _, rhos = gdnp.rayleigh_gd(asarray(A, xp), asarray(B, xp), asarray(rng.normal(size=4), xp), T=300)
    assert rhos[-1] == pytest.approx(scipy.linalg.eigh(B, A, eigvals_only=True)[-1], rel=1e-9)
    assert np.all(np.diff(rhos) >= -1e-12), "the quotient increases monotonically"


def test_tanh_mlp_unit_gradient_and_alternating_gdnp(rng):
    S, u = _instance(rng, d=3, kappa=4.0)
    line = np.linalg.solve(S, u)
    theta = np.array([1.0, -0.7])
    W = np.array([rng.normal(size=3), 0.8 * line])
    unit = problems.tanh_mlp_unit(S, u, W, theta, 0)
    w, e = rng.normal(size=3), 1e-5
    fd = [(unit.value(w + e * v) - unit.value(w - e * v)) / (2 * e) for v in np.eye(3)]
    np.testing.assert_allclose(unit.gradient(w), fd, rtol=1e-6, atol=1e-8)
    W_out, runs = gdnp.alternating_gdnp(lambda W, i: problems.tanh_mlp_unit(S, u, W, theta, i), W, sweeps=2, T_d=12,
                                        T_s=30)
    assert len(runs) == 2 and len(runs[0]) == 2
    cos = np.abs(W_out @ line) / np.linalg.norm(W_out, axis=1) / np.linalg.norm(line)
    assert np.all(1 - cos < 1e-6)
    with pytest.raises(ValueError, match="two hidden units"):
        problems.tanh_mlp_unit(S, u, np.ones((3, 3)), theta, 0)


def test_diagnostics_off_gives_the_same_iterates_without_the_dual_norms():
    rng = np.random.default_rng(7)
    S = spd_with_condition(rng, 12, 30.0)
    problem = problems.least_squares_moments(S, 0.2 * S @ rng.normal(size=12), 0.0)
    w0 = rng.normal(size=12)
    full, lean = gdnp.gdnp(problem, w0, T_d=15), gdnp.gdnp(problem, w0, T_d=15, diagnostics=False)
    np.testing.assert_array_equal(lean.w, full.w)
    for name in ("objective", "rho", "length", "length_derivative", "step"):
        np.testing.assert_array_equal(getattr(lean.trace, name), getattr(full.trace, name))
    assert np.isnan(lean.trace.grad_norm).all() and np.isnan(lean.trace.direction_grad_norm).all()
    # The objective recorded from the reused S w equals a fresh evaluation at the final iterate.
    np.testing.assert_array_equal(lean.w_tilde, full.w_tilde)
    last = lean.trace.length[-1] * lean.w / np.sqrt(lean.w @ S @ lean.w)
    assert lean.trace.objective[-1] == pytest.approx(problem.value(last), rel=1e-12)


def test_rate_interval_matches_scipy_stats():
    import scipy.stats

    rng = np.random.default_rng(11)
    errors = 0.8 ** np.arange(25) * np.exp(0.05 * rng.normal(size=25))
    fit = fit_rate(errors, confidence=0.9)
    t = np.arange(25)
    ref = scipy.stats.linregress(t, np.log(errors))
    spread = scipy.stats.t.ppf(0.95, 23) * ref.stderr
    assert (fit.q, fit.low, fit.high) == pytest.approx(
        (np.exp(ref.slope), np.exp(ref.slope - spread), np.exp(ref.slope + spread)), rel=1e-12
    )


# --- instances and harnesses of the rate checks (bntheory.checks.instances.optim, harness_optim) -------------


def test_instances_and_oracles(rng):
    from bntheory.checks.instances import optim as inst

    S, u = inst.halfspace_instance(rng, 5, 20.0, flat=True)
    v = np.linalg.eigh(S)[1][:, 0]
    assert u @ np.linalg.solve(S, u) == pytest.approx(0.5, rel=1e-12) and abs(u @ v) < 1e-12
    assert inst.spectrum(S) == pytest.approx((1.0, 20.0), rel=1e-10)
    assert inst.contraction(S) == pytest.approx((1 - 1 / 20) ** 2, rel=1e-10)
    X, y = inst.least_squares_instance(rng, 200, 6, 10.0, flat=True)
    oracle = inst.ols(X, y)
    v = np.linalg.eigh(oracle.S)[1][:, 0]
    assert abs(oracle.u @ v) < 1e-12 * np.linalg.norm(oracle.u), "u is orthogonal to the flattest eigenvector"
    w = np.linalg.solve(oracle.S, oracle.u)
    np.testing.assert_allclose(oracle.w, w, rtol=1e-10)
    assert oracle.rho_star == pytest.approx(-oracle.u @ w, rel=1e-12) == oracle.rho(3 * w)
    p = inst.pencil(S, np.outer(u, u))  # THEORY.md §3.5: lambda_1 = u^T S^-1 u, the rest 0
    assert p.lam[0] == pytest.approx(0.5, rel=1e-14) and np.max(np.abs(p.lam[1:])) < 1e-14
    assert p.factor() == pytest.approx((1 - 1 / 20) ** 2, rel=1e-10)
    with pytest.raises(ValueError, match="positive definite, smallest eigenvalue -20"):  # names the smallest
        inst.spectrum(-S)
    with pytest.raises(ValueError, match="u_S_inv_u"):
        inst.halfspace_instance(rng, 3, 2.0, u_S_inv_u=1.0)


def test_moments_error_sees_a_wrong_problem(rng):
    import dataclasses

    from bntheory.checks.instances.optim import halfspace_instance, moments_error

    S, u = halfspace_instance(rng, 4, 5.0)
    problem = problems.halfspace(S, u)
    assert moments_error(problem, S, u) < 1e-14
    assert moments_error(dataclasses.replace(problem, L=2 * problem.L), S, u) == pytest.approx(1.0)
    assert moments_error(dataclasses.replace(problem, mu=problem.mu / 2), S, u) > 0.01
    assert np.isnan(moments_error(dataclasses.replace(problem, mu=np.nan), S, u))


def test_adversarial_start_nearly_attains_the_least_squares_bound(rng):
    # THEORY.md §3.5: from S^-1 u + 1% along the flattest eigenvector the gap contracts by (1 - mu/L)^2 to O(1e-4).
    from bntheory.checks.instances.optim import halfspace_instance, near_optimum
    from bntheory.checks.rates import Trajectory, rate_ratios

    S, u = halfspace_instance(rng, 6, 10.0, flat=True)
    res = gdnp.gdnp(problems.least_squares_moments(S, u, 1.0), near_optimum(S, u), T_d=8, T_s=50)
    rho_star = -u @ np.linalg.solve(S, u)
    ratios = rate_ratios(Trajectory("adv", res.trace.rho - rho_star, (1 - 1 / 10) ** 2, scale=abs(rho_star)))
    assert ratios.size >= 5 and 0.9999 < ratios.max() <= 1 + 1e-9


def test_critical_point_oracle(rng):
    from bntheory.checks.instances.optim import collinearity_gap, critical_point

    target = np.array([0.3, -1.0, 2.0])
    w = critical_point(lambda v: float(np.sum((v - target) ** 2) ** 2 + np.sum((v - target) ** 2)), rng.normal(size=3))
    np.testing.assert_allclose(w, target, atol=1e-6)
    assert collinearity_gap(-2 * target, target) == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError, match="no finite critical point"):
        critical_point(lambda v: -float(v @ v), np.ones(2), starts=2)


def test_least_squares_output_check_sees_a_wrong_length(rng, monkeypatch):
    # Issue 14, class 7: a length step off by a factor 2 must fail the output check.
    from bntheory.checks import harness_optim

    err, _ = harness_optim.least_squares_output(np.random.default_rng(3), np, kappas=(2.0,))
    assert err < 1e-12
    original = gdnp._bisect  # GDNP's length step (bisection() validates and calls it)
    monkeypatch.setattr(gdnp, "_bisect", lambda *a: (2 * original(*a)[0], *original(*a)[1:]))
    err, _ = harness_optim.least_squares_output(np.random.default_rng(3), np, kappas=(2.0,))
    assert err > 0.5


def test_harnesses_refuse_non_finite_runs(monkeypatch):
    from bntheory.checks import harness_optim

    monkeypatch.setattr(gdnp, "rayleigh_gd", lambda A, B, w0, T: (w0, np.full(T + 1, np.nan)))
    with pytest.raises(ValueError, match="non-finite"):
        harness_optim.rayleigh_trajectories(np.random.default_rng(0), np, count=3)


# --- defaults and argument guards of bntheory.optim.gdnp and .problems (each at its boundary) -----------------


def test_rayleigh_gd_computes_each_constant_it_is_not_given(rng):
    # L = lambda_max(A) and lambda_min of the pencil, each computed when not given (numpy oracles, not scipy's eigh).
    from bntheory.checks.instances.optim import random_pencil
    from bntheory.checks.oracles.exact import exact_rayleigh_step

    A, B = random_pencil(rng, 4, 10.0)
    w0 = rng.normal(size=4)
    L = float(np.linalg.eigvalsh(A)[-1])
    lam_min = float(np.min(np.linalg.eigvals(np.linalg.solve(A, B)).real))
    _, default = gdnp.rayleigh_gd(A, B, w0, T=3)
    _, explicit = gdnp.rayleigh_gd(A, B, w0, T=3, L=L, lam_min=lam_min)
    np.testing.assert_allclose(default, explicit, rtol=1e-12)
    unit = w0 / np.linalg.norm(w0)
    for given, (L_step, lam_step) in (({"L": 2 * L}, (2 * L, lam_min)), ({"lam_min": lam_min - 1}, (L, lam_min - 1))):
        _, rhos = gdnp.rayleigh_gd(A, B, w0, T=1, **given)
        exact = exact_rayleigh_step(A, B, unit, L_step, lam_step)
        np.testing.assert_allclose(rhos, [float(r) for r in exact], rtol=1e-12)
    # From the bottom eigenvector rho = lambda_min: no step is defined and the run stops at once.
    A, B = np.eye(3), np.diag([0.0, 1.0, 2.0])
    _, rhos = gdnp.rayleigh_gd(A, B, np.array([1.0, 0.0, 0.0]), T=5)
    assert rhos.tolist() == [0.0]


def test_gd_default_step_is_one_over_the_smoothness(rng):
    S, u = _instance(rng)
    problem = problems.least_squares_moments(S, u, 1.0)
    zeta = 2 * float(np.linalg.eigvalsh(S)[-1])  # grad f = 2 S w - 2 u is 2 lambda_max(S)-Lipschitz
    assert problem.smoothness == pytest.approx(zeta, rel=1e-12)
    w0 = rng.normal(size=5)
    default = gdnp.gd(problem, w0, T=4)
    np.testing.assert_allclose(default.step, np.full(5, 1 / zeta), rtol=1e-12)
    # One step by hand: w_1 = w_0 - (2 S w_0 - 2 u) / zeta.
    w1 = w0 - (2 * S @ w0 - 2 * u) / zeta
    assert default.objective[1] == pytest.approx(1 - 2 * u @ w1 + w1 @ S @ w1, rel=1e-12)
    np.testing.assert_array_equal(default.objective, gdnp.gd(problem, w0, T=4, step=1 / zeta).objective)


def test_gd_and_gdnp_guards_at_their_boundaries(rng):
    S, u = _instance(rng)
    problem = problems.least_squares_moments(S, u, 1.0)
    w0 = rng.normal(size=5)
    assert gdnp.gd(problem, w0, T=0, tol=0.0, step=1e-300).objective.shape == (1,)
    for bad in ({"T": -1}, {"tol": -1e-12}, {"step": 0.0}, {"step": -1.0}, {"T": -1, "tol": 0.0}):
        with pytest.raises(ValueError, match=r"T and tol|step"):
            gdnp.gd(problem, w0, **{"T": 2, **bad})
    # tol stops at the first iterate whose dual gradient norm is at most tol.
    trace = gdnp.gd(problem, w0, T=50)
    tol = float(trace.grad_norm[3])
    assert gdnp.gd(problem, w0, T=50, tol=tol).grad_norm.size == 4
    assert gdnp.gdnp(problem, w0, T_d=0, T_s=0).trace.rho.shape == (1,)
    for bad in ({"T_d": -1}, {"T_s": -1}):
        with pytest.raises(ValueError, match="T_d and T_s"):
            gdnp.gdnp(problem, w0, **bad)
    assert gdnp.bisection(lambda g: g, 0.0, 1.0, 3) == (0.0, 0.125)  # dg(a) = 0 is a bracket; width (b - a) / 2^3
    assert gdnp.bisection(lambda g: g - 1.0, 0.0, 1.0, 2) == (0.75, 0.25)  # and so is dg(b) = 0
    with pytest.raises(ValueError, match="no sign change"):
        gdnp.gdnp(dataclasses.replace(problem, length_derivative=lambda w, Sw: lambda g: -1.0), w0, T_d=0)


def test_problem_guards_at_their_boundaries(rng):
    S, u = _instance(rng)
    for shape in ((2, 3), (3, 2)):
        with pytest.raises(ValueError, match="square"):
            problems.least_squares_moments(np.ones(shape), np.ones(2))
    with pytest.raises(ValueError, match="symmetric"):
        problems.least_squares_moments(S + np.triu(np.ones((5, 5)), 1) * 1e-6, u)
    with pytest.raises(ValueError, match="positive definite"):
        problems.least_squares_moments(np.diag([1.0, 0.0]), np.ones(2))
    with pytest.raises(ValueError, match="u: expected shape"):
        problems.least_squares_moments(S, np.ones(4))
    # u^T S^-1 u < 1 (a Gaussian z with a density): exactly 1 is refused, as is 1.5; 0.99 is fine.
    for make in (problems.halfspace, lambda S, u: problems.tanh_mlp_unit(S, u, np.ones((2, 3)), np.ones(2), 0)):
        for kappa in (1.0, 1.5):
            with pytest.raises(ValueError, match="u\\^T S\\^-1 u < 1"):
                make(np.eye(3), np.array([np.sqrt(kappa), 0.0, 0.0]))
        make(np.eye(3), np.array([0.99**0.5, 0.0, 0.0]))
    assert problems.halfspace(np.eye(3), np.array([0.6, 0.0, 0.0])).info["u_S_inv_u"] == pytest.approx(0.36)
    problems.halfspace_samples(rng.normal(size=(3, 3)))
    with pytest.raises(ValueError, match="n >= d"):
        problems.halfspace_samples(rng.normal(size=(2, 3)))
    with pytest.raises(ValueError, match="loss"):
        problems.halfspace_samples(rng.normal(size=(4, 3)), loss="hinge")
    with pytest.raises(ValueError, match="loss"):
        problems.tanh_mlp_unit(np.eye(3), np.zeros(3), np.ones((2, 3)), np.ones(2), 0, loss="hinge")
    with pytest.raises(ValueError, match="two hidden units"):
        problems.tanh_mlp_unit(np.eye(3), np.zeros(3), np.ones((2, 3)), np.ones(2), 2)


# --- the check kit of kohler2019: error sequences, bounds, fits and instance contracts -------------------------


def test_rayleigh_trajectories_measure_the_ratio_of_theory_md_3_4(monkeypatch):
    # e_t = (lambda_1 - rho_t) / (rho_t - lambda_2) where rho_t > lambda_2, else 0 and not compared; the bound's
    # factor (1 - mu/L (lambda_1 - lambda_2) / (lambda_1 - lambda_min))^2; all from numpy's eigenvalues here.
    from bntheory.checks import harness_optim
    from bntheory.checks.rates import rate_ratios

    def prescribed(A, B, w0, T):
        lam = np.sort(np.linalg.eigvals(np.linalg.solve(A, B)).real)[::-1]
        gap = lam[0] - lam[1]
        return w0, np.array([lam[1] - 0.3 * (lam[1] - lam[-1]), lam[1] + 0.5 * gap, lam[1] + 0.8 * gap, lam[0]])

    monkeypatch.setattr(gdnp, "rayleigh_gd", prescribed)
    runs = harness_optim.rayleigh_trajectories(np.random.default_rng(5), np, count=3, kappas=(10.0,))
    assert len(runs) == 3
    for traj in runs:
        assert traj.per_step and not traj.adversarial
        np.testing.assert_array_equal(traj.valid, [False, True, True, True])
        np.testing.assert_allclose(traj.errors, [0.0, 1.0, 0.25, 0.0], atol=1e-9)
        np.testing.assert_allclose(rate_ratios(traj), [0.25 / traj.q], rtol=1e-8)
    rng = np.random.default_rng(5)
    d = int(rng.integers(2, 7))
    from bntheory.checks.instances.optim import random_pencil

    A, B = random_pencil(rng, d, 10.0)
    lam = np.sort(np.linalg.eigvals(np.linalg.solve(A, B)).real)[::-1]
    mu, L = np.linalg.eigvalsh(A)[[0, -1]]
    assert runs[0].q == pytest.approx((1 - mu / L * (lam[0] - lam[1]) / (lam[0] - lam[-1])) ** 2, rel=1e-10)
    assert runs[0].scale == pytest.approx((lam[0] - lam[-1]) / (lam[0] - lam[1]), rel=1e-10)


def test_least_squares_run_trajectories_and_median_rate():
    from bntheory.checks import harness_optim

    gaps = 2.0 * 0.5 ** np.arange(6)
    run = harness_optim.LeastSquaresRun(10.0, True, 0.9, gaps, 1e-3, 3 * gaps, 0.5, 2.0, 0.1, 3)
    out = run.output_trajectory()  # ||w_T - w*||_S^2 <= q^T (rho(w_0) - rho*): one comparison of q^steps
    np.testing.assert_array_equal(out.errors, [2.0, 0.1])
    assert out.q == pytest.approx(0.9**3, rel=1e-15) and out.scale == 1e-3 and out.adversarial
    assert (run.trajectory().q, run.gd_trajectory().scale) == (0.9, 0.5)
    np.testing.assert_array_equal(run.gd_trajectory().errors, 3 * gaps)
    assert run.trajectory().label == "kappa 10, adversarial"
    # A trace with fewer than 3 steps above the floor has no rate: it is skipped, not fatal.
    short = np.r_[1.0, 1e-12, 1e-13]
    assert harness_optim.median_rate([gaps, short, 0.8 ** np.arange(9)]) == pytest.approx(0.65, rel=1e-12)
    assert np.isnan(harness_optim.median_rate([short]))
    assert np.isnan(harness_optim.median_rate([gaps, np.r_[1.0, np.nan, 0.5]]))


def test_rate_kit_guards_at_their_boundaries():
    from bntheory.checks.rates import Trajectory, rate_ratios

    assert fit_rate([1.0, 0.5, 0.25, 1e-12]).points == 3  # exactly 3 steps above the floor: a rate
    with pytest.raises(ValueError, match="need 3"):
        fit_rate([1.0, 0.5, 1e-12, 1e-13])
    with pytest.raises(ValueError, match="1-D trace"):
        rate_ratios(Trajectory("x", np.ones((2, 2)), 0.5))
    with pytest.raises(ValueError, match="1-D trace"):
        rate_ratios(Trajectory("x", np.ones(1), 0.5))
    assert rate_ratios(Trajectory("x", np.array([1.0, 0.5]), 1.0)).tolist() == [0.5]  # q = 1 is allowed
    for q, exponent in ((0.0, 1.0), (1.5, 1.0), (0.5, 0.0)):
        with pytest.raises(ValueError, match="q, exponent"):
            rate_ratios(Trajectory("x", np.array([1.0, 0.5]), q), exponent=exponent)


def test_instance_contracts(rng):
    from bntheory.checks.instances import optim as inst

    with pytest.raises(ValueError, match="square"):
        inst.spectrum(np.ones((2, 3)))
    for bad in (0.0, -0.5, 1.0):
        with pytest.raises(ValueError, match="u_S_inv_u"):
            inst.halfspace_instance(rng, 3, 2.0, u_S_inv_u=bad)
    S, u = inst.halfspace_instance(rng, 4, 5.0, u_S_inv_u=0.01)
    assert u @ np.linalg.solve(S, u) == pytest.approx(0.01, rel=1e-12)
    with pytest.raises(ValueError, match="d, kappa"):
        inst.halfspace_instance(rng, 1, 2.0)
    with pytest.raises(ValueError, match="d, kappa"):
        inst.halfspace_instance(rng, 3, 0.5)
    with pytest.raises(ValueError, match="n, d"):
        inst.least_squares_instance(rng, 2, 3, 2.0)
    assert inst.least_squares_instance(rng, 3, 3, 2.0)[0].shape == (3, 3)  # n = d is allowed
    assert inst.least_squares_instance(rng, 5, 2, 2.0)[0].shape == (5, 2)  # d = 2, the smallest, is allowed
    with pytest.raises(ValueError, match="n, d"):
        inst.least_squares_instance(rng, 5, 1, 2.0)
    # The pencil factor with three distinct eigenvalues 3 > 1 > -2 (A = diag(1, 2, 4)): mu/L = 1/4.
    p = inst.pencil(np.diag([1.0, 2.0, 4.0]), np.diag([3.0, 2.0, -8.0]))
    np.testing.assert_allclose(p.lam, [3.0, 1.0, -2.0], rtol=1e-14)
    assert p.factor() == pytest.approx((1 - 0.25 * 2 / 5) ** 2, rel=1e-14)
    X, y = rng.normal(size=(30, 3)), rng.normal(size=30)
    oracle = inst.ols(X, y)
    residual = np.linalg.norm(X @ np.linalg.pinv(X) @ y - y) ** 2 / 30  # the projection of y off X's columns
    assert oracle.f_star == pytest.approx(residual, rel=1e-12) and residual > 0
    assert oracle.rho_star == pytest.approx(-oracle.u @ np.linalg.solve(oracle.S, oracle.u), rel=1e-12)


def test_documented_defaults(rng):
    # rayleigh_gd T = 50, gd T = 50, gdnp T_d = 50, T_s = 40, g0 = 1: the keyword-free calls equal the explicit ones.
    from bntheory.checks.instances.optim import random_pencil

    A, B = random_pencil(rng, 3, 5.0)
    w0 = rng.normal(size=3)
    _, rhos = gdnp.rayleigh_gd(A, B, w0)
    np.testing.assert_array_equal(rhos, gdnp.rayleigh_gd(A, B, w0, T=50)[1])
    assert rhos.size == 51
    S, u = _instance(rng)
    problem = problems.least_squares_moments(S, u, 1.0)
    w0 = rng.normal(size=5)
    assert gdnp.gd(problem, w0).objective.size == 51
    default, explicit = gdnp.gdnp(problem, w0), gdnp.gdnp(problem, w0, T_d=50, T_s=40, g0=1.0)
    assert default.trace.rho.size == 51
    np.testing.assert_array_equal(default.trace.length, explicit.trace.length)
    # The comparison sees one bisection step more or less (and another start of the first bracket search).
    for other in ({"T_s": 39}, {"T_s": 41}, {"g0": 2.0}, {"g0": 0.5}):
        assert not np.array_equal(default.trace.length, gdnp.gdnp(problem, w0, **other).trace.length)


def test_bracket_starts_at_0618_of_the_previous_length():
    # THEORY.md §8: the first step is 0.618 |g0| (so no end point or midpoint is 0), doubling until the sign changes.
    from bntheory.optim.gdnp import _bracket

    assert _bracket(lambda g: g - 3.0, 1.0)[:2] == pytest.approx((1 + 0.618 + 1.236, 1 + 0.618 + 1.236 + 2.472))
    assert _bracket(lambda g: g + 1.0, 1.0)[:2] == pytest.approx((1 - 0.618 - 1.236 - 2.472, 1 - 0.618 - 1.236))
    assert _bracket(lambda g: g - 1e-4, 0.0)[:2] == pytest.approx((0.0, 0.618e-3))
    # ... with dg at both ends, which the bisection then need not evaluate again.
    a, b, d_a, d_b = _bracket(lambda g: g - 3.0, 1.0)
    assert (d_a, d_b) == (a - 3.0, b - 3.0)


def test_rayleigh_trajectories_skip_a_repeated_top_eigenvalue(monkeypatch):
    # A gap below 1e-3 of the spread: the factor is 1 and there is nothing to check.
    from bntheory.checks import harness_optim

    gaps = iter([1.6e-3, 2.4e-3])  # of the spread 2: 0.8e-3 of it is skipped, 1.2e-3 is kept

    def pencil_with_gap(rng, d, kappa):
        return np.eye(d), np.diag(np.r_[1.0, 1.0 - next(gaps), -np.ones(d - 2)])

    monkeypatch.setattr(harness_optim, "random_pencil", pencil_with_gap)
    runs = harness_optim.rayleigh_trajectories(np.random.default_rng(0), np, count=2, T=3)
    assert [r.label.split(" (")[0] for r in runs] == ["instance 1"]


def test_gdnp_vs_gd_runs_gd_at_one_over_zeta_and_counts_both(monkeypatch):
    # zeta = lambda_max(S) sup phi'' (sup phi'' = 1/4 for softplus, 1/2 for the smooth hinge, at 0); GD from GDNP's
    # first iterate; rows (loss, kappa, GDNP iterations, their T_s + 1 gradient evaluations each, GD iterations).
    from bntheory.checks import harness_optim

    calls = []

    def fake_gd(problem, w_tilde0, *, T, step, tol):
        calls.append((problem.info["loss"], float(np.linalg.eigvalsh(to_numpy(problem.S))[-1]), T, step, tol))
        hit = 7 if len(calls) % 2 else 3001
        norms = np.r_[np.full(min(hit, T + 1), 2 * tol + 1), [tol] * (hit <= T)]
        return gdnp.Trace(*([norms] * 7))

    runs = []
    real_gdnp = gdnp.gdnp

    def spy_gdnp(*args, **kwargs):
        runs.append(real_gdnp(*args, **kwargs))
        return runs[-1]

    monkeypatch.setattr(gdnp, "gd", fake_gd)
    monkeypatch.setattr(gdnp, "gdnp", spy_gdnp)
    rows = harness_optim.gdnp_vs_gd(np.random.default_rng(2), np, T_d=3, T_s=5)
    # GD's target is 1.01 times GDNP's final gradient norm, the point GDNP itself first reached (row[2]).
    for run, (*_, tol), row in zip(runs, calls, rows, strict=True):
        assert tol == pytest.approx(1.01 * float(run.trace.grad_norm[-1]), rel=1e-15)
        assert row[2] == int(np.flatnonzero(run.trace.grad_norm <= tol)[0])
    sup = {"softplus": 0.25, "smooth_hinge": 0.5}
    assert [r[:2] for r in rows] == [(loss, k) for loss in problems.LOSSES for k in (2.0, 20.0)]
    for (loss, L, T, step, tol), row in zip(calls, rows, strict=True):
        assert (T, step) == (3000, pytest.approx(1 / (L * sup[loss]), rel=1e-12)) and tol > 0
        assert row[3] == row[2] * 6 and 0 <= row[2] <= 3
    assert [r[4] for r in rows] == [7, 10**9, 7, 10**9]


def test_fitted_coefficients_and_the_halfspace_at_zero(rng):
    # Problem.c without closed-form coefficients: least squares on [u, S w] recovers grad f = -2 u + 2 S w exactly.
    S, u = _instance(rng)
    problem = dataclasses.replace(problems.least_squares_moments(S, u, 1.0), coefficients=None)
    assert problem.c(rng.normal(size=5)) == pytest.approx((-2.0, 2.0), rel=1e-10)
    # At w = 0 the margin is the constant 0: f = phi(0) = log 2, grad f = E[z] phi'(0) = u / 2, c2 = 0.
    halfspace = problems.halfspace(S, u)
    zero = np.zeros(5)
    assert halfspace.value(zero) == pytest.approx(np.log(2), rel=1e-15)
    np.testing.assert_allclose(halfspace.gradient(zero), u / 2, rtol=1e-15)
    assert halfspace.c(zero) == pytest.approx((0.5, 0.0))


def test_gdnp_stops_at_a_critical_point_where_h_vanishes():
    """h_t = c1 u^T w_t = 0 is GDNP's stopping criterion: the run stops, with a finite trace, not a 0/0 step."""
    S, u = np.diag([1.0, 2.0, 4.0]), np.array([0.2, 0.1, 0.3])
    problem = dataclasses.replace(problems.least_squares_moments(S, u), coefficients=lambda w: (0.0, 2.0))
    run = gdnp.gdnp(problem, np.ones(3), T_d=5, T_s=10)
    assert run.stopped_early and len(run.trace.rho) == 1 and np.all(np.isfinite(run.trace.rho))


def test_the_instances_spectrum_refuses_a_stack_of_matrices():
    from bntheory.checks.instances import optim as instances

    with pytest.raises(ValueError, match="square matrix"):
        instances.spectrum(np.stack([np.eye(2), np.eye(2)]))


def test_gd_stops_at_the_first_gradient_norm_within_tol():
    S, u = np.diag([1.0, 3.0]), np.array([0.5, -0.2])
    problem = problems.least_squares_moments(S, u, 2.0)  # f* = 2 - u^T S^-1 u > 0, so only |grad| can meet tol
    trace = gdnp.gd(problem, np.zeros(2), T=500, tol=1e-6)
    assert trace.grad_norm[-1] <= 1e-6 < trace.grad_norm[-2] and len(trace.grad_norm) < 501


def test_gdnp_accepts_a_start_just_off_the_degenerate_plane():
    """u^T w0 = 0 is refused at 1e-12 relative to |u||w0|; a start at 1e-9 relative is a valid (slow) start."""
    S, u = np.diag([1.0, 2.0, 4.0]), np.array([0.2, 0.1, 0.3])
    ortho = np.array([1.0, -2.0, 0.0])  # u^T ortho = 0
    w0 = ortho + 1e-9 * np.linalg.norm(ortho) * u / np.linalg.norm(u)
    run = gdnp.gdnp(problems.least_squares_moments(S, u), w0, T_d=3, T_s=5)
    assert np.all(np.isfinite(run.trace.rho))
    with pytest.raises(ValueError, match="u\\^T w0"):
        gdnp.gdnp(problems.least_squares_moments(S, u), ortho, T_d=3, T_s=5)


def test_alternating_gdnp_defaults(rng):
    S, u = _instance(rng)
    W = rng.normal(size=(2, 5))
    make = lambda W, i: problems.least_squares_moments(S, u)  # noqa: E731 - each unit the same quadratic
    (W_default, runs), (W_explicit, _) = (
        gdnp.alternating_gdnp(make, W),
        gdnp.alternating_gdnp(make, W, sweeps=3, T_d=20, T_s=40),
    )
    np.testing.assert_array_equal(W_default, W_explicit)
    assert len(runs) == 3 and all(len(sweep) == 2 for sweep in runs)
    assert all(len(r.trace.rho) == 21 and r.trace.length_derivative.size == 21 for sweep in runs for r in sweep)


@pytest.mark.parametrize("loss", ["softplus", "smooth_hinge"])
def test_the_halfspace_oracle_matches_mpmath_at_a_sharp_transition(loss):
    """The check kit's oracle (`checks.instances.optim.quad_halfspace`) at |w| = 1000, where the loss turns over a
    width 1/s of t: value and gradient against 30-digit mpmath, E[phi'(a) (u + Sigma w Z / s)] for the gradient."""
    from bntheory.checks.instances.optim import quad_halfspace

    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 4))
    S, u = A @ A.T + np.eye(4), 0.3 * rng.normal(size=4)
    w = 1000 * rng.normal(size=4)
    value, grad = quad_halfspace(S, u, w, loss)
    mpmath.mp.dps = 30
    Sigma = S - np.outer(u, u)
    m, s = mpmath.mpf(float(u @ w)), mpmath.sqrt(mpmath.mpf(float(w @ Sigma @ w)))
    if loss == "softplus":
        phi = lambda a: mpmath.log1p(mpmath.exp(a)) if a < 30 else a + mpmath.log1p(mpmath.exp(-a))  # noqa: E731
        dphi = lambda a: 1 / (1 + mpmath.exp(-a))  # noqa: E731
    else:
        phi = lambda a: (a + mpmath.sqrt(1 + a * a)) / 2  # noqa: E731
        dphi = lambda a: (1 + a / mpmath.sqrt(1 + a * a)) / 2  # noqa: E731
    pdf = lambda t: mpmath.exp(-t * t / 2) / mpmath.sqrt(2 * mpmath.pi)  # noqa: E731
    pts = [-mpmath.inf, -m / s, mpmath.inf]
    ref_value = float(mpmath.quad(lambda t: phi(m + s * t) * pdf(t), pts))
    e1 = float(mpmath.quad(lambda t: dphi(m + s * t) * pdf(t), pts))
    ez = float(mpmath.quad(lambda t: t * dphi(m + s * t) * pdf(t), pts))
    ref_grad = u * e1 + Sigma @ w / float(s) * ez
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-12 * np.max(np.abs(ref_grad)))
