"""The BN Jacobian and Santurkar et al.'s right-hand sides against PyTorch autograd, and adversarial
property tests (hypothesis ``target``) that try to break Theorem 4.1 and do break its false variants."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings, target
from hypothesis import strategies as st

from bntheory.backend import asarray, to_numpy
from bntheory.checks.instances.landscape import Downstream, normalized
from bntheory.checks.oracles import torch_normalize
from bntheory.checks.oracles.autograd import torch_hessian_form, torch_normalize_vjp
from bntheory.landscape import lipschitz
from bntheory.landscape.jacobian import bn_jacobian, bn_jacobian_eigenvalues, jacobian_deviation


@pytest.mark.parametrize(("m", "eps"), [(2, 0.0), (3, 0.0), (7, 1e-5), (16, 0.3)])
def test_jacobian_matches_torch_jacrev(xp, rng, m, eps):
    x = rng.normal(1.0, 2.0, size=(m, 3))
    gamma = np.array([1.5, -0.5, 2.0])
    J = to_numpy(bn_jacobian(asarray(x, xp), asarray(gamma, xp), eps=eps))
    for c in range(3):
        ref = torch.func.jacrev(lambda t, c=c: gamma[c] * torch_normalize(t, eps))(torch.from_numpy(x[:, c])).numpy()
        scale = abs(gamma[c]) / np.sqrt(x[:, c].var() + eps)
        np.testing.assert_allclose(J[c], ref, atol=1e-13 * scale)


def test_jacobian_deviation_is_attained_and_bounded(rng):
    x = rng.normal(size=6)
    for eps in (1e-6, 0.1, 10.0):
        Je = to_numpy(bn_jacobian(x[:, None], np.array([2.0]), eps=eps))[0]
        J0 = to_numpy(bn_jacobian(x[:, None], np.array([2.0]), eps=0.0))[0]
        exact, bound = jacobian_deviation(float(x.std()), 2.0, eps)
        assert np.linalg.norm(Je - J0, 2) == pytest.approx(exact, rel=1e-9)
        assert exact <= bound


@pytest.mark.parametrize(
    ("x", "gamma", "match"),
    [
        (np.ones((1, 2)), np.ones(2), "at least 2 samples"),
        (np.ones(4), np.ones(1), "dimension"),
        (np.ones((4, 2, 2)), np.ones(2), "expected shape"),
        (np.ones((4, 2)), np.ones(3), "gamma"),
        (np.ones((4, 2), dtype=np.int64), np.ones(2), "x"),
    ],
)
def test_jacobian_bad_input(x, gamma, match):
    with pytest.raises((ValueError, TypeError), match=match):
        bn_jacobian(x, gamma)


def test_jacobian_bad_eps_and_deviation_sigma():
    with pytest.raises(ValueError, match="eps"):
        bn_jacobian(np.ones((3, 1)), np.ones(1), eps=-1.0)
    # sigma > 0: the smallest positive sigma is the valid edge, sigma = 0 (no J_0) is refused, at every eps.
    exact, bound = jacobian_deviation(1e-100, 1.0, 0.0)
    assert exact == bound == 0.0
    for eps in (0.0, 0.1):
        with pytest.raises(ValueError, match="sigma"):
            jacobian_deviation(0.0, 1.0, eps)
    with pytest.raises(ValueError, match="sigma"):
        jacobian_deviation(float("nan"), 1.0, 0.1)
    with pytest.raises(ValueError, match="eps"):
        jacobian_deviation(1.0, 1.0, -1e-300)


def test_bounds_broadcast_over_units(xp, rng):
    """Batch first, as the transforms: (m, C) for C units at once, gamma of shape (C,)."""
    y, g = rng.normal(size=(9, 4)), rng.normal(size=(9, 4))
    gamma = np.array([1.0, 2.0, -1.0, 0.5])
    many = to_numpy(lipschitz.gradient_norm_bound(asarray(g, xp), asarray(y, xp), asarray(gamma, xp)))
    one = [
        float(to_numpy(lipschitz.gradient_norm_bound(asarray(g[:, c], xp), asarray(y[:, c], xp), gamma[c])))
        for c in range(4)
    ]
    np.testing.assert_allclose(many, one, rtol=1e-14)
    with pytest.raises(ValueError, match="at least 2"):
        lipschitz.gradient_norm_bound(asarray(g[:1], xp), asarray(y[:1], xp), 1.0)


def test_bounds_take_one_eps_per_unit(xp, rng):
    """An array `eps` (one per unit, as gamma) gives each unit the bound at its own eps; a negative one is refused."""
    y, g, v = (rng.normal(size=(7, 3)) for _ in range(3))
    H, w0, ws = rng.normal(size=(7, 7, 3)), rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    gamma, eps = np.array([1.0, -2.0, 0.5]), np.array([0.0, 0.3, 2.0])
    X = {name: asarray(a, xp) for name, a in {"y": y, "g": g, "v": v, "H": H, "gamma": gamma, "eps": eps}.items()}
    many = to_numpy(lipschitz.gradient_norm_bound(X["g"], X["y"], X["gamma"], eps=X["eps"]))
    forms = to_numpy(lipschitz.hessian_form_bound(X["v"], X["H"], X["g"], X["y"], X["gamma"], eps=X["eps"]))
    for c in range(3):
        one = lipschitz.gradient_norm_bound(g[:, c], y[:, c], gamma[c], eps=float(eps[c]))
        assert many[c] == pytest.approx(float(one), rel=1e-14)
        form = lipschitz.hessian_form_bound(v[:, c], H[:, :, c], g[:, c], y[:, c], gamma[c], eps=float(eps[c]))
        assert forms[c] == pytest.approx(float(form), rel=1e-13)
    # Pairs along the first axis, as every function here: the trailing axis holds independent pairs.
    pairs = lipschitz.rescaling_distance_bound(w0, ws)
    assert pairs[1] == pytest.approx(float(lipschitz.rescaling_distance_bound(w0[:, 1], ws[:, 1])), rel=1e-14)
    with pytest.raises(ValueError, match="eps"):
        lipschitz.gradient_norm_bound(X["g"], X["y"], X["gamma"], eps=asarray(eps - 1, xp))
    with pytest.raises(ValueError, match="eps"):
        lipschitz.gradient_norm_bound(X["g"], X["y"], X["gamma"], eps=asarray(np.array([0.0, np.nan, 1.0]), xp))


def test_a_batch_of_two_is_the_valid_edge(rng):
    """m = 2 is allowed: {1, y_hat} spans R^2, so BN's gradient is 0 (autograd) and so are the right sides."""
    y, g, v, H = rng.normal(size=2), rng.normal(size=2), rng.normal(size=2), rng.normal(size=(2, 2))
    assert np.linalg.norm(torch_normalize_vjp(y, g, 1.5, 0.0)) < 1e-14 * np.linalg.norm(g)
    scale = 1.5**2 / y.var() * (g @ g)
    assert abs(lipschitz.gradient_norm_bound(g, y, 1.5)) <= 1e-14 * scale
    assert abs(lipschitz.weight_gradient_bound(g, y, 1.5, 2.0)) <= 4e-14 * scale
    assert np.isfinite(lipschitz.hessian_form_bound(v, H, g, y, 1.5, eps=0.1))


def test_bounds_default_to_the_papers_eps_zero(rng):
    """Without `eps` the right sides are the paper's eps = 0 ones: Theorem 4.1 is then an equality (autograd)."""
    y, g, gamma, lam = rng.normal(1.0, 2.0, 6), rng.normal(size=6), -1.3, 2.5
    grad = torch_normalize_vjp(y, g, gamma, 0.0)
    exact = float(grad @ grad)
    for default, explicit, want in (
        (lipschitz.gradient_norm_bound(g, y, gamma), lipschitz.gradient_norm_bound(g, y, gamma, eps=0.0), exact),
        (
            lipschitz.weight_gradient_bound(g, y, gamma, lam),
            lipschitz.weight_gradient_bound(g, y, gamma, lam, eps=0.0),
            lam**2 * exact,
        ),
    ):
        assert default == explicit and default == pytest.approx(want, rel=1e-12)
    v, H = rng.normal(size=6), rng.normal(size=(6, 6))
    assert lipschitz.hessian_form_bound(v, H, g, y, gamma) == lipschitz.hessian_form_bound(v, H, g, y, gamma, eps=0.0)
    # eps = 0 is the valid edge, any negative eps is refused, by each right side.
    for bound in (
        lambda eps: lipschitz.gradient_norm_bound(g, y, gamma, eps=eps),
        lambda eps: lipschitz.weight_gradient_bound(g, y, gamma, lam, eps=eps),
        lambda eps: lipschitz.hessian_form_bound(v, H, g, y, gamma, eps=eps),
    ):
        assert np.isfinite(bound(0.0))
        with pytest.raises(ValueError, match="eps"):
            bound(-1e-300)


# --- Theorem 4.1 under adversarial property testing ----------------------------------------------

finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False)


@st.composite
def instances(draw):
    m = draw(st.integers(3, 8))
    y = np.array(draw(st.lists(finite, min_size=m, max_size=m)))
    g = np.array(draw(st.lists(finite, min_size=m, max_size=m)))
    gamma = draw(st.floats(0.05, 5) | st.floats(-5, -0.05))
    eps = draw(st.sampled_from([0.0, 1e-5, 0.5]))
    return y, g, gamma, eps


def _ratio(y, g, gamma, eps, coefficient):
    t = torch.tensor(y, requires_grad=True)
    (grad,) = torch.autograd.grad(gamma * torch_normalize(t, eps) @ torch.from_numpy(g), t)
    lhs = float(grad @ grad)
    s2 = y.var() + eps
    y_hat = (y - y.mean()) / np.sqrt(s2)
    rhs = gamma**2 / s2 * (g @ g - g.sum() ** 2 / y.size - coefficient(y.size) * (g @ y_hat) ** 2)
    # float64 rounding allowance: the right side cancels when g is nearly in span{1, y_hat}.
    return lhs / (rhs + 1e-12 * gamma**2 / s2 * (g @ g))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(instances())
def test_theorem_4_1_is_not_broken_by_targeted_search(inst):
    y, g, gamma, eps = inst
    assume(y.var() > 1e-6 and g @ g > 1e-6)
    r = _ratio(y, g, gamma, eps, lambda m: 1 / m)
    target(r)
    assert r <= 1 + 1e-9


@pytest.mark.parametrize(
    ("name", "coefficient"),
    [("1/sqrt(m)", lambda m: 1 / np.sqrt(m)), ("2/m", lambda m: 2 / m)],
)
def test_false_constants_are_broken_by_the_same_search(name, coefficient):
    from hypothesis import find

    def broken(inst):
        y, g, gamma, eps = inst
        return y.var() > 1e-3 and g @ g > 1e-3 and _ratio(y, g, gamma, eps, coefficient) > 1 + 1e-6

    find(instances(), broken, settings=settings(max_examples=2000, database=None))


@pytest.mark.parametrize(("m", "eps"), [(2, 0.0), (3, 0.0), (5, 1e-3), (8, 2.0)])
def test_eigenvalues_are_the_spectrum_of_the_jacobian(xp, rng, m, eps):
    x = rng.normal(0.5, 1.5, size=(m, 3))
    gamma = np.array([1.5, -0.5, 2.0])
    J = to_numpy(bn_jacobian(asarray(x, xp), asarray(gamma, xp), eps=eps))
    L = to_numpy(bn_jacobian_eigenvalues(asarray(x, xp), asarray(gamma, xp), eps=eps))
    assert L.shape == (3, m)
    for c in range(3):
        s = np.sqrt(x[:, c].var() + eps)
        x_hat = (x[:, c] - x[:, c].mean()) / s
        np.testing.assert_allclose(J[c] @ np.ones(m), L[c, 0] * np.ones(m), atol=1e-13 * abs(gamma[c]) / s)
        np.testing.assert_allclose(J[c] @ x_hat, L[c, 1] * x_hat, atol=1e-13 * abs(gamma[c]) / s * np.sqrt(m))
        np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(J[c])), np.sort(L[c]), atol=1e-13 * abs(gamma[c]) / s)


def test_eigenvalues_bad_input():
    with pytest.raises(ValueError, match="at least 2 samples"):
        bn_jacobian_eigenvalues(np.ones((1, 2)), np.ones(2))
    with pytest.raises(ValueError, match="eps"):
        bn_jacobian_eigenvalues(np.ones((3, 1)), np.ones(1), eps=-1.0)


def _projected(w, y_hat):
    w = w - w.mean()
    return w - (w @ y_hat) / (y_hat @ y_hat) * y_hat


@pytest.mark.parametrize("eps", [0.0, 1e-2, 0.7, 3.0])
def test_hessian_form_is_an_identity_orthogonal_to_1_and_y_hat(xp, rng, eps):
    """THEORY-2.md §12.6: for every eps >= 0, with s and the eps-normalized y_hat, for v orthogonal to 1 and y_hat."""
    m = 5
    y, a, c, gamma = rng.normal(1, 2, m), rng.normal(size=m), rng.normal(size=m), -1.7
    Q = rng.normal(size=(m, m))
    F = Downstream(a, Q, c)
    y_hat, s = normalized(y, eps)
    v = _projected(rng.normal(size=m), y_hat)
    _, form = torch_hessian_form(y, gamma, eps, F.torch, v)
    z = gamma * y_hat
    args = (asarray(u, xp) for u in (v, F.hess(z), F.grad(z), y))
    rhs = float(to_numpy(lipschitz.hessian_form_bound(*args, gamma, eps=eps)))
    A = gamma**2 / s**2 * (v @ F.hess(z) @ v)
    B = gamma / (m * s**2) * (F.grad(z) @ y_hat) * (v @ v)
    assert abs(form - rhs) <= 1e-12 * (abs(A) + abs(B))


def test_hessian_form_along_the_gradient_is_no_identity_once_eps_is_positive(rng):
    """At eps = 0 the gradient is orthogonal to 1 and y_hat (the theorem); at eps > 0 it is not, and it fails."""
    m = 5
    y, a, c, gamma = rng.normal(1, 2, m), rng.normal(size=m), rng.normal(size=m), 1.3
    F = Downstream(a, rng.normal(size=(m, m)), c)
    gaps = []
    for eps in (0.0, 0.7):
        y_hat, _ = normalized(y, eps)
        v, form = torch_hessian_form(y, gamma, eps, F.torch)
        z = gamma * y_hat
        rhs = float(lipschitz.hessian_form_bound(v, F.hess(z), F.grad(z), y, gamma, eps=eps))
        gaps.append(abs(form - rhs) / (abs(form) + abs(rhs)))
    assert gaps[0] < 1e-12 and gaps[1] > 1e-3


def test_hessian_form_bound_on_a_stack_is_the_bound_of_each_member():
    """The right side of Theorem 4.2 for C units at once: (m, C) vectors, (m, m, C) Hessians, batch first."""
    from bntheory.landscape import lipschitz

    rng = np.random.default_rng(3)
    m, C = 5, 4
    v, g, y = (rng.normal(size=(m, C)) for _ in range(3))
    hessian = rng.normal(size=(m, m, C))  # not symmetric: which batch axis is summed with v matters
    gamma = np.array([1.5, -0.5, 2.0, 1.0])
    stacked = lipschitz.hessian_form_bound(v, hessian, g, y, gamma, eps=0.1)
    single = [
        lipschitz.hessian_form_bound(v[:, c], hessian[:, :, c], g[:, c], y[:, c], gamma[c], eps=0.1) for c in range(C)
    ]
    np.testing.assert_allclose(stacked, single, rtol=1e-14)
