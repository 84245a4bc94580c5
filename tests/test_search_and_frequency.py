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
    ("k", "n", "conf", "match"), [(1, 0, 0.95, "draws"), (5, 4, 0.95, "successes"), (1, 4, 1.0, "confidence")]
)
def test_frequency_errors(k, n, conf, match):
    with pytest.raises(ValueError, match=match):
        frequency(k, n, confidence=conf)
