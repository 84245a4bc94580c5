"""The check kit: comparisons that refuse non-finite values, the inequality spec and its attack, tolerances."""

import math

import numpy as np
import pytest

from bntheory.checks import tolerances
from bntheory.checks.compare import (
    Outcome,
    Worst,
    at_least,
    at_most,
    exact,
    max_relative_error,
    unless_nonfinite,
    within,
    worst,
)
from bntheory.checks.inequality import Inequality, Params, attack, attack_family, batch, nonneg, scalar, vector
from bntheory.context import Context


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_never_passes(bad):
    for outcome in (at_most(bad, 1.0), at_least(bad, 0.0), within(bad, 0.0, 1.0), at_most(0.0, bad)):
        assert not outcome.passed and not outcome.valid and "non-finite" in outcome.detail
    assert not at_most(0.0, 1.0, samples=[0.5, bad]).passed, "a non-finite sample is a failure too"


def test_the_verdict_follows_from_the_numbers():
    assert at_most(1.0, 1.0).passed and not at_most(1.0 + 1e-15, 1.0).passed
    assert within(0.5, 0.0, 1.0).passed and not within(-0.1, 0.0, 1.0).passed
    assert exact(0).passed and not exact(1).passed
    with pytest.raises(TypeError):
        Outcome(0.0, 1.0, passed=True)  # the verdict cannot be handed in


def test_worst_keeps_nan_and_where():
    w = Worst()
    w.add(1e-16, "a")
    w.add(np.array([0.1, 0.3]), "b")
    assert (w.value, w.where) == (0.3, "b")
    w.add(math.nan, "c")
    w.add(5.0, "d")
    assert math.isnan(w.value) and w.where == "c"
    assert math.isnan(worst([0.0, math.nan, 1.0])) and worst([1.0, 2.0]) == 2.0
    assert math.isnan(float(Worst())), "an empty accumulator measured nothing"
    assert math.isnan(max_relative_error([math.nan], [1.0])) and math.isnan(max_relative_error([1.0], [math.inf]))


def test_a_count_built_from_nan_is_not_a_frequency():
    plain, bn = [3.0, math.nan], [1.0, 2.0]
    count = sum(b < a for a, b in zip(plain, bn, strict=True))  # NaN compares False: looks like 1 of 2
    assert count == 1 and math.isnan(unless_nonfinite(count / 2, plain, bn))
    assert unless_nonfinite(0.5, [1.0], np.ones(3)) == 0.5


def test_every_tolerance_says_why():
    for name in tolerances.__all__:
        t = getattr(tolerances, name)
        if isinstance(t, tolerances.Tolerance):
            assert t.why and float(t) == t.value > 0


def test_params_round_trip():
    params = Params(batch("y", 4), vector("g", 4), scalar("gamma"), nonneg("eps"))
    rng = np.random.default_rng(0)
    p = params.sample(rng)
    assert p.shape == (params.size,) == (10,)
    values = params.unpack(p)
    assert values["eps"] >= 0 and values["y"].shape == (4,)
    np.testing.assert_allclose(params.pack(values), np.r_[p[:9], abs(p[9])])
    with pytest.raises(ValueError, match="missing"):
        params.pack({"y": values["y"]})
    with pytest.raises(ValueError, match="distinct"):
        Params(scalar("a"), scalar("a"))


def _cauchy_schwarz(rhs_factor=1.0, bad=None):
    """<a, b>^2 <= |a|^2 |b|^2, with equality at parallel vectors."""
    params = Params(vector("a", 3), vector("b", 3))

    def rhs(v):
        if bad is not None and v["a"][0] > 0:
            return bad
        return rhs_factor * float(v["a"] @ v["a"]) * float(v["b"] @ v["b"])

    return Inequality(
        params,
        lhs=lambda v: float(v["a"] @ v["b"]) ** 2,
        rhs=rhs,
        equality=lambda rng: [{"a": (a := rng.normal(size=3)), "b": 2.5 * a} for _ in range(2)],
    )


def test_attack_holds_reaches_equality_and_breaks_false_variants():
    ctx = Context(seed=0, scope="test.kit/cs")
    assert attack_family({"d=3": _cauchy_schwarz()}, ctx).passed
    inflated = attack_family({"d=3": _cauchy_schwarz(1.25)}, ctx)
    assert not inflated.passed and inflated.valid and inflated.measured == pytest.approx(0.8)
    tighter = attack_family({"d=3": _cauchy_schwarz(0.9)}, ctx)
    assert not tighter.passed and tighter.measured > 1
    broken = attack_family({"d=3": _cauchy_schwarz(bad=math.nan)}, ctx)
    assert not broken.passed and not broken.valid and "non-finite side" in broken.detail


def test_attack_climbs_to_the_worst_case():
    # |a . b| <= 0.99 |a| |b| is false only near parallel vectors: random draws rarely find it, climbs do.
    spec = Inequality(
        Params(vector("a", 4), vector("b", 4)),
        lhs=lambda v: abs(float(v["a"] @ v["b"])),
        rhs=lambda v: 0.99 * float(np.linalg.norm(v["a"]) * np.linalg.norm(v["b"])),
    )
    found = attack(spec, np.random.default_rng(1), draws=20, climbs=2, max_evaluations=400)
    assert found.ratio > 1.005 and found.evaluations > 20


def test_invalid_instances_are_skipped_and_counted():
    spec = Inequality(
        Params(scalar("x")),
        lhs=lambda v: float(v["x"]),
        rhs=lambda v: 1.0 / float(v["x"]) if v["x"] > 0 else math.nan,
        valid=lambda v: v["x"] > 0.5,
    )
    found = attack(spec, np.random.default_rng(2), draws=50, climbs=0)
    assert found.skipped > 0 and not found.nonfinite


def test_an_inequality_without_equality_case_fails_by_its_slack_alone():
    # x <= 1 over x in (0, 1]: holds, worst ratio 1; with the bound 1 - 1e-9 it is violated by 1e-9, far above the
    # 1e-12 slack, and must fail; the outcome is a plain "<=" comparison.
    def spec(bound):
        return Inequality(
            Params(scalar("x", sign=False)),
            lhs=lambda v: min(float(v["x"]) / 3.0, 1.0),
            rhs=lambda v: bound,
            starts=lambda rng: [{"x": 3.0}],
        )

    ctx = Context(seed=0, scope="test.kit/plain")
    holds = attack_family({"x": spec(1.0)}, ctx)
    assert holds.passed and holds.relation == "<=" and holds.measured == pytest.approx(1.0)
    violated = attack_family({"x": spec(1.0 - 1e-9)}, ctx)
    assert not violated.passed and violated.valid and violated.measured > 1 + 1e-10


def test_a_nan_at_a_valid_instance_fails_even_where_other_families_hold():
    ctx = Context(seed=0, scope="test.kit/families")
    found = attack_family({"ok": _cauchy_schwarz(), "broken": _cauchy_schwarz(bad=math.nan)}, ctx)
    assert not found.passed and not found.valid and "broken" in found.detail
