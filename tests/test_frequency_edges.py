"""Edges of bntheory.checks.frequency's argument guards, and its documented default level (class 3/4 mutants)."""

import pytest
import scipy.stats

from bntheory.checks.frequency import frequency


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.1, 1.5])
def test_confidence_outside_the_open_unit_interval_is_refused(confidence):
    with pytest.raises(ValueError, match="confidence"):
        frequency(3, 10, confidence=confidence)


def test_the_valid_edges_are_accepted():
    assert frequency(0, 1).low == 0.0 and frequency(1, 1).high == 1.0  # one draw, either outcome
    # Any level strictly inside (0, 1): near 0 the bounds are the medians of Beta(3, 8) and Beta(4, 7).
    tiny = frequency(3, 10, confidence=1e-9)
    want = scipy.stats.beta(3, 8).median(), scipy.stats.beta(4, 7).median()
    assert (tiny.low, tiny.high) == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match="draws"):
        frequency(0, 0)


def test_the_default_level_is_95_percent():
    f = frequency(7, 20)
    ci = scipy.stats.binomtest(7, 20).proportion_ci(0.95, method="exact")
    assert f.confidence == 0.95 and (f.low, f.high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert f == frequency(7, 20, confidence=0.95)
