"""The learning curve's trend: slope of a proportion against log2 of the training size, with its interval."""

from __future__ import annotations

import pytest

from studies.chemistry.sun_learning_curve import proportion_trend


def test_proportion_trend_per_doubling():
    # 20 %, 30 %, 40 % at sizes 1, 2, 4: exactly +10 points per doubling
    sets = [[True] * k + [False] * (100 - k) for k in (20, 30, 40)]
    t = proportion_trend([1000, 2000, 4000], sets, n_boot=300, seed=0)
    assert t.value == pytest.approx(10.0)
    assert t.low < 10.0 < t.high and t.low > 0  # 300 items in all: the interval excludes no trend
    assert proportion_trend([1000, 2000, 4000], sets, n_boot=300, seed=0) == t  # same seed, same interval
    flat = proportion_trend([1, 2, 4], [[True, False] * 50] * 3, n_boot=200)
    assert flat.value == pytest.approx(0.0) and flat.low < 0 < flat.high
    # the x axis is log2(size): a decreasing curve gives a negative slope, halving the sizes changes nothing
    down = proportion_trend([500, 1000, 2000], sets[::-1], n_boot=10)
    assert down.value == pytest.approx(-10.0)
    with pytest.raises(ValueError, match="sizes"):
        proportion_trend([1, 2], sets)
    with pytest.raises(ValueError, match="distinct"):
        proportion_trend([2, 2], sets[:2])
    with pytest.raises(ValueError, match="distinct"):
        proportion_trend([0, 2], sets[:2])
