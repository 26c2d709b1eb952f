"""Tests for goroscope.stats: robust slope, trend test, noise, correlation."""

from __future__ import annotations

import math
import random

import pytest

from goroscope import stats


@pytest.mark.parametrize(
    "values, expected",
    [([], 0.0), ([3], 3.0), ([3, 1, 2], 2.0), ([4, 1, 3, 2], 2.5), ([1, 1, 1, 100], 1.0)],
)
def test_median(values, expected):
    assert stats.median(values) == expected


def test_mad_ignores_one_outlier():
    assert stats.mad([10, 11, 9, 10, 1000]) == 1.0


def test_step_noise_is_zero_for_a_steady_climb_and_large_for_a_swinging_pool():
    # GIVEN a steady climb and a pool that swings around a level
    climb = [3 * i for i in range(20)]
    swing = [10, 20, 10, 20, 10, 20, 10, 20, 10, 20]
    # THEN the climb's own steps do not vary, the pool's do
    assert stats.step_noise(climb) == 0.0
    assert stats.step_noise(swing) > 10


def test_theil_sen_resists_outliers():
    xs = list(range(20))
    ys = [2 * x + 1 for x in xs]
    ys[5] = 500  # a burst
    ys[12] = -300  # a truncated dump read naively
    assert stats.theil_sen(xs, ys) == pytest.approx(2.0)


def test_theil_sen_undefined_is_zero():
    assert stats.theil_sen([1, 1, 1], [1, 2, 3]) == 0.0
    assert stats.theil_sen([], []) == 0.0


def test_mann_kendall_monotonic_up():
    t = stats.mann_kendall([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert t.s == 45
    assert t.tau == pytest.approx(1.0)
    assert t.p_up < 1e-4
    assert t.p_two_sided == pytest.approx(2 * t.p_up)


def test_mann_kendall_known_value():
    # S = 5 for n = 5 without ties: var = 5*4*15/18 = 16.667, z = (5-1)/sqrt(var)
    ys = [1, 3, 2, 5, 4]
    t = stats.mann_kendall(ys)
    assert t.s == 6
    var = 5 * 4 * 15 / 18
    assert t.z == pytest.approx((6 - 1) / math.sqrt(var))
    assert t.p_up == pytest.approx(stats.normal_sf(t.z))


def test_mann_kendall_ties_reduce_variance_and_tau_b_stays_in_range():
    t = stats.mann_kendall([1, 1, 1, 2, 2, 2, 3, 3, 3])
    # tau-b = S / sqrt(n0 * (n0 - ties)) = 27 / sqrt(36 * 27)
    assert t.tau == pytest.approx(27 / math.sqrt(36 * 27))
    assert t.p_up < 0.01


def test_mann_kendall_flat_and_down():
    flat = stats.mann_kendall([5] * 10)
    assert flat.tau == 0.0 and flat.p_up == 1.0
    down = stats.mann_kendall(list(range(10, 0, -1)))
    assert down.tau == pytest.approx(-1.0)
    assert down.p_up > 0.99


def test_mann_kendall_against_time():
    # uneven time: order by xs, not by position
    t = stats.mann_kendall([3, 1, 2], xs=[30, 10, 20])
    assert t.tau == pytest.approx(1.0)


def test_mann_kendall_noise_is_not_a_trend():
    rnd = random.Random(3)
    ys = [rnd.gauss(50, 10) for _ in range(40)]
    assert stats.mann_kendall(ys).p_up > 0.05


def test_normal_sf():
    assert stats.normal_sf(0) == pytest.approx(0.5)
    assert stats.normal_sf(1.959964) == pytest.approx(0.025, rel=1e-4)


def test_quantile():
    assert stats.quantile([1, 2, 3, 4, 5], 0.25) == 2.0
    assert stats.quantile([1, 2], 0.5) == 1.5
    assert stats.quantile([], 0.5) == 0.0


def test_nondecreasing_share():
    assert stats.nondecreasing_share([1, 2, 2, 1, 3]) == 0.75
    assert stats.nondecreasing_share([4]) == 1.0


def test_rolling_median_smooths_a_spike():
    assert stats.rolling_median([1, 1, 50, 1, 1], 3) == [1, 1, 1, 1, 1]


def test_pearson():
    assert stats.pearson([1, 2, 3, 4], [2, 4, 6, 8]) == pytest.approx(1.0)
    assert stats.pearson([1, 2, 3, 4], [8, 6, 4, 2]) == pytest.approx(-1.0)
    assert stats.pearson([1, 2, 3], [5, 5, 5]) is None
    assert stats.pearson([1, 2], [1, 2]) is None


@pytest.mark.parametrize(
    "at, expected", [(0, 10.0), (5, 15.0), (10, 20.0), (15, 40.0), (-1, None), (21, None)]
)
def test_interpolate(at, expected):
    xs, ys = [0, 10, 20], [10, 20, 60]
    got = stats.interpolate(xs, ys, at)
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_benjamini_hochberg_q_values_are_monotone_and_count_the_tests_not_given():
    q = stats.benjamini_hochberg({"a": 0.001, "b": 0.02, "c": 0.04}, m=3)
    assert q == pytest.approx({"a": 0.003, "b": 0.03, "c": 0.04})
    # a run that tested 100 pairs, only these three reaching the pooled test
    q = stats.benjamini_hochberg({"a": 0.001, "b": 0.02, "c": 0.04}, m=100)
    assert q["a"] == pytest.approx(0.1) and q["c"] == 1.0


def test_fisher_combines_a_few_strong_tests_among_null_ones():
    assert stats.fisher([0.05]) == pytest.approx(0.05)
    assert stats.fisher([0.01, 0.01]) == pytest.approx(0.00102, rel=1e-2)
    assert stats.fisher([0.5] * 20) > 0.5
    assert stats.fisher([1e-4] * 3 + [0.6] * 17) < 0.01
