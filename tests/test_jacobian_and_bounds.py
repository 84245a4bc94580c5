"""The BN Jacobian and Santurkar et al.'s right-hand sides against PyTorch autograd, and adversarial
property tests (hypothesis ``target``) that try to break Theorem 4.1 and do break its false variants."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings, target
from hypothesis import strategies as st

from bntheory import lipschitz
from bntheory.backend import asarray, to_numpy
from bntheory.checks.oracles import torch_normalize
from bntheory.jacobian import bn_jacobian, jacobian_deviation


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
    with pytest.raises(ValueError, match="sigma"):
        jacobian_deviation(0.0, 1.0, 0.1)


def test_bounds_broadcast_over_units(xp, rng):
    y, g = rng.normal(size=(4, 9)), rng.normal(size=(4, 9))
    gamma = np.array([1.0, 2.0, -1.0, 0.5])
    many = to_numpy(lipschitz.gradient_norm_bound(asarray(g, xp), asarray(y, xp), asarray(gamma, xp)))
    one = [
        float(to_numpy(lipschitz.gradient_norm_bound(asarray(g[i], xp), asarray(y[i], xp), gamma[i]))) for i in range(4)
    ]
    np.testing.assert_allclose(many, one, rtol=1e-14)
    with pytest.raises(ValueError, match="at least 2"):
        lipschitz.gradient_norm_bound(asarray(g[:, :1], xp), asarray(y[:, :1], xp), 1.0)


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
