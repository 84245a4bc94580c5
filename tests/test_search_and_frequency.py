"""The shared check machinery: the worst-case attack (bntheory.checks.inequality), binomial frequencies, rates."""

import dataclasses

import numpy as np
import pytest

from bntheory.checks.frequency import frequency
from bntheory.checks.inequality import (
    Attack,
    Block,
    Inequality,
    Params,
    _best_distinct,
    attack,
    batch,
    matrix,
    nonneg,
    normalized_ratio,
    scalar,
    vector,
)


def _peak(peak, **kwargs):
    """lhs = 1 - |p - peak|^2 <= rhs = 1: the ratio is lhs itself, largest (1, equality) at p = peak only."""
    return Inequality(
        Params(vector("p", len(peak), spread=(3.0, 3.0))),
        lhs=lambda v: 1.0 - np.sum((v["p"] - peak) ** 2, axis=-1),
        rhs=lambda v: np.ones(v["p"].shape[0]),
        **kwargs,
    )


def test_attack_climbs_to_the_maximum():
    peak = np.array([0.3, -1.2, 2.0])
    found = attack(_peak(peak), np.random.default_rng(0), draws=500, population=24, generations=150)
    assert found.ratio == pytest.approx(1.0, abs=1e-8) and found.ratio <= 1.0
    np.testing.assert_allclose(found.point["p"], peak, atol=1e-4)
    assert found.draws.shape == (500,) and found.evaluations > 500 and found.skipped == 0


def test_attack_is_reproducible_and_reports_the_refined_value():
    def spec(**kwargs):
        return Inequality(
            Params(vector("p", 2)),
            lhs=lambda v: np.cos(v["p"][:, 0]) + 1e-3 * v["p"][:, 1],
            rhs=lambda v: np.full(v["p"].shape[0], 2.0),
            **kwargs,
        )

    a = attack(spec(), np.random.default_rng(5), draws=100, generations=5)
    b = attack(spec(), np.random.default_rng(5), draws=100, generations=5)
    assert a.ratio == b.ratio and a.float_ratio == b.float_ratio
    np.testing.assert_array_equal(a.draws, b.draws)
    # With an exact left side the reported ratio is lhs_exact / rhs at the best points; the search is unchanged.
    refined = attack(spec(lhs_exact=lambda v: 0.5), np.random.default_rng(5), draws=100, generations=5)
    assert refined.ratio == 0.25 and refined.float_ratio == a.float_ratio


def test_attack_skips_invalid_instances_and_evaluates_the_starts():
    spec = Inequality(
        Params(scalar("x")),
        lhs=lambda v: 1.0 - np.abs(v["x"] - 1.0),
        rhs=lambda v: np.ones_like(v["x"]),
        valid=lambda v: v["x"] >= 0,
        starts=lambda rng: [{"x": 1.0}],
    )
    found = attack(spec, np.random.default_rng(1), draws=30, generations=0)
    assert found.ratio == 1.0 and found.point["x"] == 1.0
    # generations=0: no climb, so the only invalid instances are the skipped draws.
    assert found.skipped > 0 and np.isnan(found.draws).sum() == found.skipped and not found.nonfinite
    assert 31 <= found.evaluations <= 31 + 3  # the draws, the start, and the 3 best re-evaluated


def test_the_invalid_instances_never_reach_the_sides():
    # The sides would raise on an invalid instance: the attack hands them the valid ones only.
    def lhs(v):
        assert np.all(v["x"] > 0)
        return np.log(v["x"])

    spec = Inequality(Params(scalar("x")), lhs=lhs, rhs=lambda v: v["x"], valid=lambda v: v["x"] > 0)
    found = attack(spec, np.random.default_rng(4), draws=2000, generations=10)
    assert 0 < found.skipped < found.evaluations and found.ratio <= 1.0


def test_attack_errors():
    with pytest.raises(ValueError, match="draws"):
        attack(_peak(np.zeros(1)), np.random.default_rng(), draws=0)
    with pytest.raises(ValueError, match="chunk"):
        attack(_peak(np.zeros(1)), np.random.default_rng(), chunk=0)
    never = dataclasses.replace(_peak(np.zeros(1)), valid=lambda v: np.zeros(v["p"].shape[0], dtype=bool))
    with pytest.raises(ValueError, match="no valid instance"):
        attack(never, np.random.default_rng(), draws=3)


def test_normalized_ratio():
    assert normalized_ratio(2.0, 4.0) == 0.5
    assert normalized_ratio(-1.0, -1.0, scale=3.0) == 1.0
    assert normalized_ratio(1.0, -1.0, scale=2.0) == 2.0
    assert normalized_ratio(-3.0, -2.0) == 0.5  # scale |rhs|: a violation is above 1 whatever the sign
    assert np.isnan(normalized_ratio(1.0, 0.0)) and np.isnan(normalized_ratio(1.0, 1.0, scale=0.0))
    assert np.isnan(normalized_ratio(2.0, 1.0, scale=-1.0)), "a negative scale would turn a violation into r < 1"
    # Elementwise on arrays, with the same rules.
    r = normalized_ratio(np.array([2.0, -1.0, 1.0, 2.0]), np.array([4.0, -1.0, 0.0, 1.0]))
    np.testing.assert_array_equal(r[[0, 1, 3]], [0.5, 1.0, 2.0])
    assert np.isnan(r[2])
    r = normalized_ratio(np.array([1.0, 2.0]), np.array([-1.0, 1.0]), scale=np.array([2.0, -1.0]))
    assert r[0] == 2.0 and np.isnan(r[1])


def test_best_distinct_skips_near_duplicates_and_keeps_k():
    # Near-duplicates are within 1e-6 (1 + |q|): an absolute 1e-6 at the origin, relative far from it.
    origin, far = np.zeros(2), np.array([1e6, 0.0])
    points = np.array(
        [
            origin,
            [5e-7, 0.0],  # a duplicate of the origin
            far,
            far + np.array([0.5, 0.0]),  # a duplicate of `far` (relative 5e-7)
            [0.0, 1e-5],
            np.ones(2),
        ]
    )
    ratios = np.array([1.0, 0.9, 0.8, 0.7, 0.6, 0.5])
    chosen = _best_distinct(ratios, points, 3)
    assert chosen.tolist() == [origin.tolist(), far.tolist(), [0.0, 1e-5]]
    assert len(_best_distinct(ratios, points, 1)) == 1 and len(_best_distinct(ratios, points, 10)) == 4
    assert _best_distinct(np.zeros(0), None, 2).shape[0] == 0 and _best_distinct(ratios, points, 0).shape[0] == 0


def test_the_records_are_immutable():
    # A control is dataclasses.replace(spec, ...): the spec a check attacks must not change under it.
    spec = _peak(np.zeros(2))
    found = attack(spec, np.random.default_rng(0), draws=3, generations=0)
    for record, field in ((spec, "rhs"), (spec.params, "blocks"), (spec.params.blocks[0], "draw"), (found, "ratio")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, field, None)
    assert isinstance(found, Attack) and isinstance(spec.params.blocks[0], Block)


def test_blocks_draw_admissible_values_of_their_shape():
    """The contract of each block's draw: a batch of its shape, finite, and inside the domain its map gives."""
    rng = np.random.default_rng(3)
    n = 200
    y = batch("y", 5).draw(rng, n)
    assert y.shape == (n, 5) and np.all(np.isfinite(y)) and np.all(y.var(axis=1) > 0)
    assert vector("g", 4, spread=(0.5, 2.0)).draw(rng, n).shape == (n, 4)
    assert matrix("X", 3, 2).draw(rng, n).shape == (n, 3, 2)
    assert scalar("gamma").draw(rng, n).shape == (n,)
    magnitude = scalar("gamma", sign=False).draw(rng, n)
    assert np.all((0.3 <= magnitude) & (magnitude <= 3.0))
    eps = nonneg("eps", high=0.7).draw(rng, n)
    assert np.all((0.0 <= eps) & (eps <= 0.7)) and 0 < np.sum(eps == 0) < n
    assert np.all(nonneg("eps", zero=1.0).draw(rng, n) == 0.0)
    # Each instance has its own scale: the spread of a vector block varies across the batch.
    spreads = vector("g", 50, spread=(0.1, 5.0)).draw(rng, n).std(axis=1)
    assert spreads.min() < 0.5 and spreads.max() > 3
    block = nonneg("eps")
    assert float(block.to_value(np.asarray(-0.5))) == 0.25 and float(block.from_value(np.asarray(0.25))) == 0.5


def test_clopper_pearson_reference_values():
    # Exact values: 0/10 -> upper 1 - 0.025**(1/10); 10/10 -> lower 0.025**(1/10).
    f = frequency(0, 10)
    assert f.low == 0.0 and f.high == pytest.approx(1 - 0.025**0.1, rel=1e-9)
    f = frequency(10, 10)
    assert f.low == pytest.approx(0.025**0.1, rel=1e-9) and f.high == 1.0
    assert "10/10" in str(f) and f.estimate == 1.0


@pytest.mark.parametrize("n", [1, 2, 7, 40])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_clopper_pearson_matches_scipy_stats(n, confidence):
    import scipy.stats

    for k in range(n + 1):
        ci = scipy.stats.binomtest(k, n).proportion_ci(confidence, method="exact")
        f = frequency(k, n, confidence=confidence)
        # binomtest finds the bounds by root finding (brentq), accurate to about 1e-11 relative.
        assert (f.low, f.high) == pytest.approx((ci.low, ci.high), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(
    ("k", "n", "conf", "match"),
    [(1, 0, 0.95, "draws"), (5, 4, 0.95, "successes"), (-1, 4, 0.95, "successes"), (1, 4, 1.0, "confidence")],
)
def test_frequency_errors(k, n, conf, match):
    with pytest.raises(ValueError, match=match):
        frequency(k, n, confidence=conf)


# --- rate checks (bntheory.checks.rates) ---------------------------------------------------------------------


def _traj(errors, q, **kwargs):
    from bntheory.checks.rates import Trajectory

    return Trajectory("run", np.asarray(errors, dtype=np.float64), q, **kwargs)


def test_rate_ratios_cumulative_and_per_step():
    from bntheory.checks.rates import rate_ratios

    e = 2.0 * 0.5 ** np.arange(8)
    np.testing.assert_allclose(rate_ratios(_traj(e, 0.5)), np.ones(7))
    # A claimed rate twice as fast: e_t / (0.25^t e_0) = 2^t.
    np.testing.assert_allclose(rate_ratios(_traj(e, 0.5), exponent=2.0), 2.0 ** np.arange(1, 8))
    np.testing.assert_allclose(rate_ratios(_traj(e, 0.5, per_step=True)), np.ones(7))
    # Steps at the rounding floor (relative to the scale, default e_0) are not compared, nor anything after them.
    floored = np.r_[e[:4], 1e-12, 3e-1]
    assert rate_ratios(_traj(floored, 0.5)).size == 3
    assert rate_ratios(_traj(floored, 0.5, scale=1e-6), floor=1e-9).size == 5
    valid = np.array([True, False, True, True, True, True, True, True])
    assert rate_ratios(_traj(e, 0.5, per_step=True, valid=valid)).size == 6
    assert np.isnan(rate_ratios(_traj(np.r_[1.0, np.nan, 0.1], 0.5))).all()
    with pytest.raises(ValueError, match="signed gaps"):
        rate_ratios(_traj([1.0, -0.5, 0.1], 0.5))
    with pytest.raises(ValueError, match="q, exponent"):
        rate_ratios(_traj(e, 1.5))


def test_rate_check_passes_reaches_and_rejects_a_faster_claim():
    from bntheory.checks.rates import rate_check

    q = 0.8
    tight = _traj(0.7 * (q * (1 - 1e-6)) ** np.arange(10), q, adversarial=True)
    loose = _traj(0.9 * (0.5 * q) ** np.arange(10), q)
    out = rate_check([loose, tight])
    assert out.passed and out.relation == "in" and out.measured == pytest.approx(1 - 1e-6)
    assert "adversarial instances max" in out.detail
    # Without an adversarial run nothing is required to come close: a plain upper bound.
    assert rate_check([loose]).relation == "<=" and rate_check([loose]).passed
    # A bound that is loose where it should be nearly attained fails the reach ...
    assert not rate_check([loose, _traj(0.5 ** np.arange(10), q, adversarial=True)]).passed
    # ... and a claimed rate 10% faster fails by a modest, finite margin (q^-0.1 per step).
    control = rate_check([loose, tight], exponent=1.1)
    assert control.valid and not control.passed
    assert control.measured == pytest.approx((1 - 1e-6) ** 9 * q ** (-0.1 * 9))


def test_rate_check_never_passes_nan():
    from bntheory.checks.rates import faster_rate_violated, rate_check

    broken = _traj([1.0, np.nan, 0.1], 0.5)
    out = rate_check([_traj(0.5 ** np.arange(5), 0.5), broken])
    assert not out.passed and not out.valid and "non-finite" in out.detail
    assert not faster_rate_violated([broken], exponent=2.0).valid
    with pytest.raises(ValueError, match="at least one"):
        rate_check([])


def test_faster_rate_violated_counts_runs():
    from bntheory.checks.rates import faster_rate_violated

    runs = [_traj(0.8 ** np.arange(10), 0.8), _traj(0.5 ** np.arange(10), 0.8)]
    out = faster_rate_violated(runs, exponent=2.0)
    # 0.8^t / 0.64^t grows; 0.5^t / 0.64^t does not.
    assert out.measured == 1 and out.passed and "1/2" in out.detail
    assert not faster_rate_violated(runs[1:], exponent=2.0).passed


# --- power-law exponents of a quantile over runs (bntheory.checks.rates.fit_exponent) ---------------------------

_HORIZONS = np.unique(np.geomspace(200, 2000, 20).astype(int))


def test_fit_exponent_recovers_a_power_law_exactly():
    from bntheory.checks.rates import fit_exponent

    rng = np.random.default_rng(0)
    # c_j T^p with a constant per run: every quantile (and every resample's) is c T^p, so the interval collapses.
    values = np.exp(rng.normal(size=40)) * _HORIZONS[:, None] ** -0.7
    fit = fit_exponent(_HORIZONS, values, quantile=0.95, rng=rng)
    assert fit.exponent == pytest.approx(-0.7, abs=1e-12)
    assert fit.low == pytest.approx(-0.7, abs=1e-12) and fit.high == pytest.approx(-0.7, abs=1e-12)
    assert (fit.runs, fit.points, fit.quantile) == (40, _HORIZONS.size, 0.95)
    assert "0.95-quantile of 40 runs" in str(fit)


def test_fit_exponent_interval_covers_a_noisy_exponent():
    from bntheory.checks.rates import fit_exponent

    rng = np.random.default_rng(1)
    # Each run its own exponent around -0.8: the 95% quantile's curve is set by the slow ones.
    p = rng.normal(-0.8, 0.1, size=200)
    values = np.exp(rng.normal(size=200)) * _HORIZONS[:, None] ** p
    fit = fit_exponent(_HORIZONS, values, quantile=0.95, rng=rng, confidence=0.9)
    assert fit.low < fit.exponent < fit.high
    assert -0.8 < fit.exponent < -0.4 and fit.high - fit.low < 0.3


def test_a_plateau_below_the_quantile_does_not_decide_the_exponent_but_one_above_does():
    from bntheory.checks.rates import fit_exponent

    rng = np.random.default_rng(2)
    decaying = np.exp(rng.normal(size=95)) * (_HORIZONS[:, None] / 200.0) ** -1.0
    # Five runs resting on a plateau (local slope 0) far below the decaying runs: the old per-run-slope gate's
    # largest slope would be 0; the 95% quantile of the minima still falls as T^-1.
    low = np.full((_HORIZONS.size, 5), 1e-6)
    fit = fit_exponent(_HORIZONS, np.hstack([decaying, low]), quantile=0.95, rng=rng, confidence=0.9)
    assert fit.high < -0.9
    # The same plateau above every decaying run is the 95% quantile's own level: the exponent is 0, the claim fails.
    high = np.full((_HORIZONS.size, 10), 1e3)
    fit = fit_exponent(_HORIZONS, np.hstack([decaying, high]), quantile=0.95, rng=rng, confidence=0.9)
    assert fit.exponent == pytest.approx(0.0, abs=1e-12) and fit.high > -0.5


def test_fit_exponent_at_the_floor_and_with_nan():
    from bntheory.checks.compare import at_most
    from bntheory.checks.rates import fit_exponent

    rng = np.random.default_rng(3)
    # Reached the floor before the third horizon: faster than any power.
    converged = np.r_[1.0, 1e-3, np.zeros(_HORIZONS.size - 2)][:, None] * np.ones((1, 6))
    fit = fit_exponent(_HORIZONS, converged, quantile=0.5, rng=rng, floor=1e-10)
    assert fit.exponent == -np.inf and fit.high == -np.inf and fit.points == 2
    # Points at the floor after a decay are dropped, the leading ones fitted.
    tail = (_HORIZONS[:, None] / 200.0) ** -2.0 * np.ones((1, 6))
    tail[10:] = 0.0
    fit = fit_exponent(_HORIZONS, tail, quantile=0.5, rng=rng, floor=1e-10)
    assert fit.points == 10 and fit.exponent == pytest.approx(-2.0)
    broken = np.ones((_HORIZONS.size, 6))
    broken[3, 2] = np.nan
    fit = fit_exponent(_HORIZONS, broken, quantile=0.95, rng=rng)
    assert np.isnan([fit.exponent, fit.low, fit.high]).all()
    assert not at_most(fit.high, -0.5, "nan").passed


@pytest.mark.parametrize(
    ("horizons", "values", "kwargs", "match"),
    [
        ([1.0, 2.0], np.ones((2, 4)), {}, "horizons"),
        ([1.0, 3.0, 2.0], np.ones((3, 4)), {}, "horizons"),
        ([1.0, 2.0, 3.0], np.ones((3, 1)), {}, "values"),
        ([1.0, 2.0, 3.0], np.ones((4, 3)), {}, "values"),
        ([1.0, 2.0, 3.0], -np.ones((3, 4)), {}, "negative"),
        ([1.0, 2.0, 3.0], np.ones((3, 4)), {"quantile": 1.0}, "quantile"),
        ([1.0, 2.0, 3.0], np.ones((3, 4)), {"resamples": 0}, "resamples"),
        ([1.0, 2.0, 3.0], np.ones((3, 4)), {"confidence": 0.0}, "confidence"),
        ([1.0, 2.0, 3.0], np.ones((3, 4)), {"floor": -1.0}, "floor"),
    ],
)
def test_fit_exponent_refuses_bad_input(horizons, values, kwargs, match):
    from bntheory.checks.rates import fit_exponent

    kwargs = {"quantile": 0.95, **kwargs}
    with pytest.raises(ValueError, match=match):
        fit_exponent(horizons, values, rng=np.random.default_rng(0), **kwargs)
