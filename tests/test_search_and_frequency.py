"""The shared check machinery: worst-case search and binomial frequencies."""

import numpy as np
import pytest

from bntheory.checks.frequency import frequency
from bntheory.checks.search import normalized_ratio, worst_case


def test_search_climbs_to_the_maximum():
    peak = np.array([0.3, -1.2, 2.0])

    def ratio(p):
        return 1.0 - np.sum((p - peak) ** 2)

    found = worst_case(ratio, lambda rng: rng.normal(size=3) * 3, np.random.default_rng(0), draws=20, climbs=2)
    assert found.ratio == pytest.approx(1.0, abs=1e-8)
    np.testing.assert_allclose(found.point, peak, atol=1e-4)
    assert found.draws.shape == (20,) and found.evaluations > 20


def test_search_is_reproducible_and_uses_the_refined_value():
    def ratio(p):
        return float(np.cos(p[0]) + 1e-3 * p[1])

    args = (ratio, lambda rng: rng.uniform(-3, 3, 2), np.random.default_rng(5))
    a = worst_case(*args, draws=10, climbs=1)
    b = worst_case(ratio, lambda rng: rng.uniform(-3, 3, 2), np.random.default_rng(5), draws=10, climbs=1)
    assert a.ratio == b.ratio
    refined = worst_case(
        ratio, lambda rng: rng.uniform(-3, 3, 2), np.random.default_rng(5), draws=10, climbs=1, refine=lambda p: 0.5
    )
    assert refined.ratio == 0.5 and refined.float_ratio == a.float_ratio


def test_search_skips_non_finite_points_and_starts_count():
    def ratio(p):
        return np.nan if p[0] < 0 else -abs(p[0] - 1)

    found = worst_case(
        ratio, lambda rng: rng.normal(size=1), np.random.default_rng(1), draws=30, starts=[np.array([1.0])], climbs=1
    )
    assert found.ratio == 0.0


def test_search_errors():
    with pytest.raises(ValueError, match="draws"):
        worst_case(lambda p: 0.0, lambda rng: np.zeros(1), np.random.default_rng(), draws=0)
    with pytest.raises(ValueError, match="no finite value"):
        worst_case(lambda p: np.nan, lambda rng: np.zeros(1), np.random.default_rng(), draws=3)


def test_normalized_ratio():
    assert normalized_ratio(2.0, 4.0) == 0.5
    assert normalized_ratio(-1.0, -1.0, scale=3.0) == 1.0
    assert normalized_ratio(1.0, -1.0, scale=2.0) == 2.0
    assert np.isnan(normalized_ratio(1.0, 0.0))


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
