"""The check kit: comparisons that refuse non-finite values, the inequality spec and its attack, tolerances."""

import dataclasses
import math

import numpy as np
import pytest
from array_api_compat import array_namespace

from bntheory.checks import inequality, tolerances
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


def test_the_slq_gate_is_the_z_score_its_reason_states():
    """SLQ_SCORE says "5 standard errors" and a two-sided normal tail of 6e-7 (1 significant figure): both follow
    from the value, the tail by SciPy."""
    import scipy.stats

    t = tolerances.SLQ_SCORE
    assert t.why.startswith(f"{t.value:g} standard errors")
    assert f"{2 * scipy.stats.norm.sf(t.value):.0e}" == "6e-07" and "normal tail 6e-7" in t.why


def test_params_round_trip():
    params = Params(batch("y", 4), vector("g", 4), scalar("gamma"), nonneg("eps"))
    rng = np.random.default_rng(0)
    points = params.sample(rng, 7)
    assert points.shape == (7, params.size) == (7, 10)
    values = params.unpack(points)
    assert np.all(values["eps"] >= 0) and values["y"].shape == (7, 4) and values["gamma"].shape == (7,)
    one = params.instance(points[2])
    assert one["y"].shape == (4,) and one["gamma"].shape == ()
    np.testing.assert_allclose(params.pack(one), np.r_[points[2, :9], abs(points[2, 9])])
    with pytest.raises(ValueError, match="missing"):
        params.pack({"y": one["y"]})
    with pytest.raises(ValueError, match="distinct"):
        Params(scalar("a"), scalar("a"))
    with pytest.raises(ValueError, match="points"):
        params.unpack(points[:, :3])


def _cauchy_schwarz(rhs_factor=1.0, bad=None, d=3):
    """<a, b>^2 <= |a|^2 |b|^2, with equality at parallel vectors; written against the array API (any namespace)."""
    params = Params(vector("a", d), vector("b", d))

    def rhs(v):
        xp = array_namespace(v["a"])
        right = rhs_factor * xp.sum(v["a"] ** 2, axis=-1) * xp.sum(v["b"] ** 2, axis=-1)
        return right if bad is None else xp.where(v["a"][:, 0] > 0, bad, right)

    return Inequality(
        params,
        lhs=lambda v: array_namespace(v["a"]).sum(v["a"] * v["b"], axis=-1) ** 2,
        rhs=rhs,
        equality=lambda rng: [{"a": (a := rng.normal(size=d)), "b": 2.5 * a} for _ in range(2)],
    )


def test_attack_holds_reaches_equality_and_breaks_false_variants():
    ctx = Context(seed=0, scope="test.kit/cs", size="quick")
    assert attack_family({"d=3": _cauchy_schwarz()}, ctx).passed
    inflated = attack_family({"d=3": _cauchy_schwarz(1.25)}, ctx)
    assert not inflated.passed and inflated.valid and inflated.measured == pytest.approx(0.8)
    tighter = attack_family({"d=3": _cauchy_schwarz(0.9)}, ctx)
    assert not tighter.passed and tighter.measured > 1
    broken = attack_family({"d=3": _cauchy_schwarz(bad=math.nan)}, ctx)
    assert not broken.passed and not broken.valid and "non-finite side" in broken.detail
    infinite = attack_family({"d=3": _cauchy_schwarz(bad=math.inf)}, ctx)
    assert not infinite.passed and not infinite.valid


def test_the_default_attack_tries_a_million_instances():
    found = attack_family({"d=3": _cauchy_schwarz(), "d=5": _cauchy_schwarz(d=5)}, Context(scope="test.kit/million"))
    assert found.passed
    evaluations = int(found.detail.split("; ")[1].split(" evaluations")[0].split()[-1])
    assert evaluations >= 1_000_000


def test_a_control_draws_its_own_smaller_budget_and_reports_its_margin():
    """control=True: BUDGETS' ``controls`` random instances (at most ``instances``), and the margin in the detail."""
    ctx = Context(seed=0, scope="test.kit/control", size="quick")

    def evaluations(outcome):
        return int(outcome.detail.split("; ")[1].split(" evaluations")[0].split()[-1])

    check = attack_family({"d=3": _cauchy_schwarz()}, ctx, instances=4000, controls=1000, generations=0)
    control = attack_family({"d=3": _cauchy_schwarz(1.25)}, ctx, control=True, instances=4000, controls=1000)
    assert check.passed and "control rejected" not in check.detail
    assert not control.passed and evaluations(control) < 2000 <= evaluations(check)
    margin = float(control.detail.split("control rejected by a margin of ")[1].split()[0])
    assert margin == pytest.approx((1 - tolerances.RATIO.tight) - control.measured, rel=1e-2) and margin > 0.1
    capped = attack_family({"d=3": _cauchy_schwarz(0.9)}, ctx, control=True, instances=500, generations=0)
    assert evaluations(capped) < 1000 and not capped.passed  # capped at the check's 500, not the 10^4 of controls


@pytest.mark.parametrize("backend", ["array_api_strict", "torch"])
def test_the_batched_attack_runs_on_other_namespaces(backend):
    """The batches live in ctx.xp: a known-true inequality passes there, a known-false one fails, as on NumPy."""
    pytest.importorskip(backend)
    numpy_ctx, ctx = (Context(backend=b, seed=0, scope="test.kit/xp", size="quick") for b in ("numpy", backend))
    seen = []

    def recording(spec):
        def lhs(v):
            seen.append(array_namespace(v["a"]).__name__)
            return spec.lhs(v)

        return dataclasses.replace(spec, lhs=lhs)

    holds, on_numpy = (
        attack_family({"d=3": recording(_cauchy_schwarz())}, ctx),
        attack_family({"d=3": _cauchy_schwarz()}, numpy_ctx),
    )
    assert holds.passed and ctx.touched and backend in seen[0]
    assert holds.measured == pytest.approx(on_numpy.measured, abs=1e-12)
    false = attack_family({"d=3": _cauchy_schwarz(0.9)}, ctx)
    assert not false.passed and false.valid and false.measured == pytest.approx(1 / 0.9, rel=1e-6)


def test_attack_climbs_to_the_worst_case():
    # |a . b| <= 0.99 |a| |b| is false only near parallel vectors (about 1% of the sphere's pairs at d = 4 fail at
    # all, by little): the climb from the best random draws goes well past what they found.
    spec = Inequality(
        Params(vector("a", 4), vector("b", 4)),
        lhs=lambda v: np.abs(np.sum(v["a"] * v["b"], axis=-1)),
        rhs=lambda v: 0.99 * np.linalg.norm(v["a"], axis=-1) * np.linalg.norm(v["b"], axis=-1),
    )
    random_only = attack(spec, np.random.default_rng(1), draws=200, generations=0)
    found = attack(spec, np.random.default_rng(1), draws=200, population=24, generations=100)
    assert found.ratio > 1.009 > random_only.ratio and found.evaluations > 200 + 24 * 100


def test_invalid_instances_are_skipped_and_counted():
    spec = Inequality(
        Params(scalar("x")),
        lhs=lambda v: v["x"],
        rhs=lambda v: np.where(v["x"] > 0, 1.0 / np.where(v["x"] > 0, v["x"], 1.0), np.nan),
        valid=lambda v: v["x"] > 0.5,
    )
    found = attack(spec, np.random.default_rng(2), draws=50, generations=0)
    assert found.skipped > 0 and not found.nonfinite


def test_a_scalar_block_draws_with_its_stated_spread():
    """sign=True: Gaussian, mean 0 and standard deviation `spread` (200000 draws: standard errors 0.0045 and
    0.0032 at spread 2); sign=False: magnitudes in [0.3, 3]."""
    draws = scalar("g", spread=2.0).draw(np.random.default_rng(3), 200_000)
    assert draws.shape == (200_000,)
    assert abs(draws.mean()) < 0.03 and abs(draws.std() - 2.0) < 0.02
    magnitudes = scalar("m", sign=False).draw(np.random.default_rng(3), 10_000)
    assert magnitudes.min() >= 0.3 and magnitudes.max() <= 3.0 and magnitudes.max() - magnitudes.min() > 2.5


def test_the_climbs_box_pads_the_population_by_half_its_width():
    """Per coordinate: [low - pad, high + pad], pad = (high - low) / 2 + 1e-3 (1 + max |x|), written out here for
    a population whose second coordinate is flat (only the 1e-3 term keeps that side of the box open)."""
    points = np.array([[0.0, 5.0, -1.0], [2.0, 5.0, -4.0], [1.0, 5.0, -2.0]])
    lower, upper = inequality._search_box(points)
    np.testing.assert_allclose(lower, [0 - 1 - 0.003, 5 - 0.006, -4 - 1.5 - 0.005], rtol=1e-15)
    np.testing.assert_allclose(upper, [2 + 1 + 0.003, 5 + 0.006, -1 + 1.5 + 0.005], rtol=1e-15)


@pytest.mark.parametrize("draws", [100, inequality.HISTOGRAM, inequality.HISTOGRAM + 2500])
def test_the_attack_keeps_exactly_the_first_histogram_ratios(draws):
    """Attack.draws holds min(draws, HISTOGRAM) ratios, also when batches of 1000 overrun HISTOGRAM (4096) by a
    part of one (4000 -> 5000) and then whole ones; on one batch, they are the ratios of the first draws."""
    spec = _cauchy_schwarz()
    found = attack(spec, np.random.default_rng(4), draws=draws, generations=0, chunk=1000)
    assert found.draws.shape == (min(draws, inequality.HISTOGRAM),)
    one_batch = attack(spec, np.random.default_rng(4), draws=draws, generations=0, chunk=draws)
    points = spec.params.sample(np.random.default_rng(4), draws)[: inequality.HISTOGRAM]
    v = spec.params.unpack(points)
    want = 1 + (spec.lhs(v) - spec.rhs(v)) / np.abs(spec.rhs(v))
    np.testing.assert_allclose(one_batch.draws, want, rtol=1e-12)


def test_an_inequality_without_equality_case_fails_by_its_slack_alone():
    # x <= 1 over x in (0, 1]: holds, worst ratio 1; with the bound 1 - 1e-9 it is violated by 1e-9, far above the
    # 1e-12 slack, and must fail; the outcome is a plain "<=" comparison.
    def spec(bound):
        return Inequality(
            Params(scalar("x", sign=False)),
            lhs=lambda v: np.minimum(v["x"] / 3.0, 1.0),
            rhs=lambda v: np.full(v["x"].shape, bound),
            starts=lambda rng: [{"x": 3.0}],
        )

    ctx = Context(seed=0, scope="test.kit/plain", size="quick")
    holds = attack_family({"x": spec(1.0)}, ctx)
    assert holds.passed and holds.relation == "<=" and holds.measured == pytest.approx(1.0)
    violated = attack_family({"x": spec(1.0 - 1e-9)}, ctx)
    assert not violated.passed and violated.valid and violated.measured > 1 + 1e-10


def test_a_nan_at_a_valid_instance_fails_even_where_other_families_hold():
    ctx = Context(seed=0, scope="test.kit/families", size="quick")
    found = attack_family({"ok": _cauchy_schwarz(), "broken": _cauchy_schwarz(bad=math.nan)}, ctx)
    assert not found.passed and not found.valid and "broken" in found.detail


def _santurkar_specs():
    from bntheory.results import santurkar2018_bounds as bounds

    ctx = Context(size="quick", scope="test.kit/santurkar")
    families = {
        "thm4_1": bounds._thm4_1(ctx, lambda m: 1 / m),
        "thm4_2": bounds._thm4_2(ctx, flip_sign=False),
        "thm4_4": bounds._thm4_4(ctx, frobenius=False),
        "lemma4_5": bounds._lemma4_5(ctx, sign=1),
    }
    return [pytest.param(spec, id=f"{name} {label}") for name, f in families.items() for label, spec in f.items()]


@pytest.mark.parametrize("spec", _santurkar_specs())
def test_batch_and_per_point_evaluations_agree(spec):
    """Each side of a batch equals that side at each instance alone (a batch of one), and the float64 oracle agrees
    with the high-precision one at a few instances: the batch axis mixes nothing between instances."""
    pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    points = np.concatenate([spec.params.sample(rng, 64), [spec.params.pack(v) for v in spec.equality(rng)]])
    values = spec.params.unpack(points)
    valid = np.asarray(spec.valid(values))
    values = spec.params.unpack(points[valid])
    sides = [f for f in (spec.lhs, spec.rhs, spec.scale) if f is not None]
    batched = [np.asarray(f(values)) for f in sides]
    for i in range(0, int(valid.sum()), 7):
        one = spec.params.unpack(points[valid][i : i + 1])
        for f, whole in zip(sides, batched, strict=True):
            assert float(np.asarray(f(one))[0]) == pytest.approx(whole[i], rel=1e-12, abs=1e-300)
    scale = batched[2] if spec.scale is not None else np.abs(batched[1])
    for i in range(0, int(valid.sum()), 23):
        exact = float(spec.lhs_exact(spec.params.instance(points[valid][i])))
        assert abs(exact - batched[0][i]) <= 1e-9 * scale[i]


@pytest.mark.parametrize("spec", _santurkar_specs())
def test_the_santurkar_sides_agree_across_namespaces(spec):
    """The same batch on array-api-strict (the strictest namespace) and on NumPy gives the same sides."""
    pytest.importorskip("torch")
    strict = pytest.importorskip("array_api_strict")
    from bntheory.backend import asarray, to_numpy

    points = spec.params.sample(np.random.default_rng(12), 40)
    points = points[np.asarray(spec.valid(spec.params.unpack(points)))]
    on_numpy, on_strict = spec.params.unpack(points), spec.params.unpack(asarray(points, strict))
    for f in (f for f in (spec.lhs, spec.rhs, spec.scale) if f is not None):
        np.testing.assert_allclose(to_numpy(f(on_strict)), np.asarray(f(on_numpy)), rtol=1e-13, atol=1e-300)


def test_params_refuse_points_wider_than_the_blocks():
    params = Params(vector("a", 3), scalar("c"))
    with pytest.raises(ValueError, match=r"points: expected shape \(N, 4\)"):
        params.unpack(np.zeros((5, 6)))


def test_verdict_fails_when_the_equality_instances_fall_short_even_if_a_draw_reaches_one():
    """The worst ratio at 1 (a random draw on the bound) does not stand in for the declared equality case: an equality
    instance at 0.9 means the bound is not attained where the statement says, so the verdict fails at 0.9."""
    spec = _cauchy_schwarz()
    point = {"a": np.ones(3), "b": np.ones(3)}
    found = {"d=3": inequality.Attack(1.0, point, 1.0, 10, 0, np.zeros(0), equality_ratio=0.9)}
    outcome = inequality.verdict(found, {"d=3": spec})
    assert not outcome.passed and outcome.measured == pytest.approx(0.9)
