"""Problem.of: an objective of one's own, validated for GDNP; built-in problems carry metadata."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bntheory.optim import gdnp, problems
from bntheory.optim.gdnp import Problem, StructureError

S = problems.spd_with_condition(np.random.default_rng(0), 4, 10.0)
u = np.array([0.3, -0.2, 0.1, 0.25])


class Quartic:
    """f(w) = (w^T S w)^2 - 2 u^T w: grad = 4 (w^T S w) S w - 2 u, in span{u, S w} (c1 = -2, c2 = 4 w^T S w)."""

    def value(self, w):
        return float((w @ S @ w) ** 2 - 2 * u @ w)

    def gradient(self, w):
        return 4 * float(w @ S @ w) * (S @ w) - 2 * u


class Unstructured:
    """f(w) = ||w||^2 - u^T w: grad = 2 w - u, which leaves span{u, S w} unless S is a multiple of I."""

    def value(self, w):
        return float(w @ w - u @ w)

    def gradient(self, w):
        return 2 * w - u


def test_an_objective_with_the_structure_becomes_a_problem_and_gdnp_runs_on_it():
    p = Problem.of(Quartic(), S, u, name="quartic", convex=True, loss="quartic")
    eig = np.linalg.eigvalsh(S)
    assert (p.mu, p.L, p.d) == pytest.approx((eig[0], eig[-1], 4)) and p.kappa == pytest.approx(10.0)
    assert p.info["structure_residual"] < 1e-12 and p.info["gradient_error"] < 1e-6
    run = gdnp.gdnp(p, np.ones(4), T_d=40, T_s=40)
    assert np.all(np.isfinite(run.trace.rho)) and run.trace.rho[-1] <= run.trace.rho[0]


def test_an_objective_without_the_structure_is_refused_saying_what_is_missing():
    with pytest.raises(StructureError, match=r"not in span\{u, S w\}.*relative residual"):
        Problem.of(Unstructured(), S, u)
    # Built with the plain constructor instead, GDNP's coefficient fit refuses it at the first step.
    raw = Problem(S=S, u=u, value=Unstructured().value, gradient=Unstructured().gradient, mu=1.0, L=10.0)
    with pytest.raises(StructureError, match="span"):
        raw.c(np.ones(4))
    assert np.isfinite(dataclasses.replace(raw, structured=False).c(np.ones(4))).all()


def test_a_gradient_that_does_not_match_the_value_is_refused():
    class Wrong(Quartic):
        def gradient(self, w):
            return 2 * super().gradient(w)

    with pytest.raises(ValueError, match="gradient and value disagree"):
        Problem.of(Wrong(), S, u)


@pytest.mark.parametrize(
    ("S_bad", "u_bad", "message"),
    [
        (S[:3], u, "square"),
        (S + np.triu(np.ones((4, 4)), 1), u, "symmetric"),
        (-S, u, "positive definite"),
        (S, u[:3], "u: expected"),
        (S, np.zeros(4), "non-zero"),
        (S, np.array([np.nan, 0, 0, 1.0]), "finite"),
    ],
)
def test_bad_moments_are_refused(S_bad, u_bad, message):
    with pytest.raises(ValueError, match=message):
        Problem.of(Quartic(), S_bad, u_bad)


def test_an_object_without_value_or_gradient_is_a_type_error():
    with pytest.raises(TypeError, match=r"callable \.value"):
        Problem.of(object(), S, u)


def test_built_in_problems_carry_their_metadata():
    ls = problems.least_squares_moments(S, u)
    assert (ls.convex, ls.loss, ls.population, ls.structured, ls.d) == (True, "squared", True, True, 4)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 4))
    sample = problems.least_squares(X, X @ np.ones(4))
    assert sample.population is False and sample.structured is True
    hs = problems.halfspace(S, u * 0.5, loss="softplus")
    assert (hs.convex, hs.loss, hs.population) == (False, "softplus", True)
    assert hs.kappa == pytest.approx(10.0)


def test_the_structure_residual_is_measured_and_a_small_violation_is_caught():
    """A gradient 1e-6 off the span (relative) is refused, and the residual reported is the relative one."""

    class SlightlyOff(Quartic):
        def gradient(self, w):
            g = super().gradient(w)
            off = np.array([1.0, -1.0, 0.0, 0.0])
            # the part of `off` orthogonal to span{u, S w}, scaled to 1e-6 of |g|
            basis, _ = np.linalg.qr(np.stack([u, S @ w], axis=1))
            off = off - basis @ (basis.T @ off)
            return g + 1e-6 * np.linalg.norm(g) * off / np.linalg.norm(off)

        def value(self, w):
            return super().value(w)

    with pytest.raises(StructureError, match=r"relative residual 1e-06"):
        Problem.of(SlightlyOff(), S, u)
    p = Problem.of(Quartic(), S, u)
    assert 0 <= p.info["structure_residual"] < 1e-13 and p.info["probes"] == 8
