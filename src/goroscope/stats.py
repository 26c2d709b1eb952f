"""Robust statistics for goroutine-count timelines, standard library only.

Contract: every function takes plain sequences of numbers and returns plain numbers
(or a small frozen record); none mutates its input and none needs numpy. What
growth.py and stuck.py build their verdicts on:

- `theil_sen(xs, ys)`: the median of pairwise slopes, a slope that a few outliers
  (a burst, a truncated dump) cannot drag;
- `mann_kendall(ys, xs)`: Kendall's tau-b of the values against time and the
  Mann-Kendall test's one-sided p-value for an upward trend (normal approximation
  with the tie correction and a continuity correction; exact enough from n = 4);
- `mad(values)` / `step_noise(values)`: the median absolute deviation, and the robust
  spread of a series' own steps (how much it moves from one snapshot to the next);
- `pearson(xs, ys)` and `interpolate(xs, ys, at)` for the memory correlation;
- `thin(xs, ys)` to at most MAX_POINTS block medians before those n^2 statistics,
  and `clamp(x)` to [0, 1] for the scores;
- `benjamini_hochberg(pvalues, m)`: q-values that keep the false discovery rate over
  the many (series, signature) tests of a run.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "median",
    "mad",
    "quantile",
    "step_noise",
    "theil_sen",
    "TrendTest",
    "mann_kendall",
    "normal_sf",
    "pearson",
    "interpolate",
    "nondecreasing_share",
    "rolling_median",
    "clamp",
    "MAX_POINTS",
    "thin",
    "benjamini_hochberg",
    "fisher",
]

# 1 / Phi^-1(3/4): scales a MAD to a standard deviation under normal noise
MAD_TO_SIGMA = 1.482602218505602
# the interquartile range of a normal distribution in sigmas
IQR_TO_SIGMA = 1.3489795003921634


def median(values: Sequence[float]) -> float:
    """Return the median of `values` (0.0 for an empty sequence)."""
    s = sorted(values)
    n = len(s)
    if n == 0:
        return 0.0
    mid = n // 2
    return float(s[mid]) if n % 2 else (s[mid - 1] + s[mid]) / 2.0


def mad(values: Sequence[float]) -> float:
    """Return the median absolute deviation of `values` from their median (unscaled)."""
    if not values:
        return 0.0
    m = median(values)
    return median([abs(v - m) for v in values])


def quantile(values: Sequence[float], q: float) -> float:
    """Return the q-quantile of `values` (linear interpolation between order statistics)."""
    s = sorted(values)
    if not s:
        return 0.0
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (pos - lo) * (s[hi] - s[lo])


def step_noise(values: Sequence[float]) -> float:
    """Return the robust spread of the steps of `values`, as a sigma.

    A steady climb has steps that barely vary (noise ~ 0); a pool that
    fluctuates around a level has steps that swing both ways (noise ~ the swing).
    The larger of the MAD and the interquartile range of the steps (each scaled to a
    normal sigma): the MAD alone reads a pool that alternates up and down as calm.
    """
    if len(values) < 3:
        return 0.0
    steps = [b - a for a, b in zip(values, values[1:])]
    iqr = quantile(steps, 0.75) - quantile(steps, 0.25)
    return max(MAD_TO_SIGMA * mad(steps), iqr / IQR_TO_SIGMA)


def theil_sen(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Return the Theil-Sen slope of ys against xs (median of pairwise slopes; 0.0 if undefined)."""
    n = min(len(xs), len(ys))
    xs, ys = list(xs[:n]), list(ys[:n])
    slopes: list[float] = []
    for i in range(n - 1):
        xi, yi = xs[i], ys[i]
        # (x != xi is dx != 0 for finite floats; the same slopes in the same order as a pair loop, built in C)
        slopes += [(y - yi) / (x - xi) for x, y in zip(xs[i + 1 :], ys[i + 1 :]) if x != xi]
    return median(slopes) if slopes else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class TrendTest:
    """The Mann-Kendall test of one series."""

    n: int  # points
    s: int  # Kendall's S: concordant minus discordant pairs
    tau: float  # Kendall's tau-b in [-1, 1] (ties in values and in time accounted for)
    z: float  # the normal score of S (continuity corrected)
    p_up: float  # one-sided p-value for an upward trend
    p_two_sided: float  # two-sided p-value for any trend


def _tie_sums(values: Sequence[float]) -> tuple[int, int]:
    """Return (sum t(t-1)/2, sum t(t-1)(2t+5)) over the tie groups of `values`."""
    pairs = 0
    var_term = 0
    for t in Counter(values).values():
        if t > 1:
            pairs += t * (t - 1) // 2
            var_term += t * (t - 1) * (2 * t + 5)
    return pairs, var_term


def normal_sf(z: float) -> float:
    """Return P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def mann_kendall(ys: Sequence[float], xs: Sequence[float] | None = None) -> TrendTest:
    """Return the Mann-Kendall trend test of `ys` (against `xs`, default: the index order)."""
    n = len(ys)
    if xs is None:
        xs = list(range(n))
    if n < 2:
        return TrendTest(n=n, s=0, tau=0.0, z=0.0, p_up=1.0, p_two_sided=1.0)
    s = 0
    xl, yl = list(xs), list(ys)
    for i in range(n - 1):
        xi, yi = xl[i], yl[i]
        # each pair whose x and y both differ: +1 concordant, -1 discordant
        s += sum(1 if (x > xi) == (y > yi) else -1 for x, y in zip(xl[i + 1 :], yl[i + 1 :]) if x != xi and y != yi)
    n0 = n * (n - 1) // 2
    ty_pairs, ty_var = _tie_sums(ys)
    tx_pairs, _ = _tie_sums(xs)
    denom = math.sqrt(max(n0 - tx_pairs, 0) * max(n0 - ty_pairs, 0))
    tau = s / denom if denom else 0.0
    var = (n * (n - 1) * (2 * n + 5) - ty_var) / 18.0
    if var <= 0:
        return TrendTest(n=n, s=s, tau=tau, z=0.0, p_up=1.0, p_two_sided=1.0)
    if s > 0:
        z = (s - 1) / math.sqrt(var)
    elif s < 0:
        z = (s + 1) / math.sqrt(var)
    else:
        z = 0.0
    p_up = normal_sf(z)
    p_two = min(1.0, 2.0 * normal_sf(abs(z)))
    return TrendTest(n=n, s=s, tau=tau, z=z, p_up=p_up, p_two_sided=p_two)


def nondecreasing_share(values: Sequence[float]) -> float:
    """Return the share of steps of `values` that did not fall (1.0 for fewer than two values)."""
    if len(values) < 2:
        return 1.0
    steps = [b - a for a, b in zip(values, values[1:])]
    return sum(1 for d in steps if d >= 0) / len(steps)


def rolling_median(values: Sequence[float], window: int) -> list[float]:
    """Return the centred rolling median of `values` (the window shrinks at the ends)."""
    if window <= 1:
        return [float(v) for v in values]
    half = window // 2
    n = len(values)
    return [median(values[max(0, i - half) : min(n, i + half + 1)]) for i in range(n)]


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Return Pearson's correlation of xs and ys, None when either is constant or too short."""
    n = min(len(xs), len(ys))
    if n < 3:
        return None
    mx = sum(xs[:n]) / n
    my = sum(ys[:n]) / n
    sxx = sum((x - mx) ** 2 for x in xs[:n])
    syy = sum((y - my) ** 2 for y in ys[:n])
    if sxx <= 0 or syy <= 0:
        return None
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs[:n], ys[:n]))
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def interpolate(xs: Sequence[float], ys: Sequence[float], at: float) -> float | None:
    """Return ys linearly interpolated at `at` (xs ascending); None outside [xs[0], xs[-1]]."""
    if not xs:
        return None
    if at < xs[0] or at > xs[-1]:
        return None
    lo, hi = 0, len(xs) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if xs[mid] <= at:
            lo = mid
        else:
            hi = mid
    if xs[hi] == xs[lo]:
        return float(ys[lo])
    if at <= xs[lo]:
        return float(ys[lo])
    if at >= xs[hi]:
        return float(ys[hi])
    f = (at - xs[lo]) / (xs[hi] - xs[lo])
    return ys[lo] + f * (ys[hi] - ys[lo])


def clamp(x: float) -> float:
    """Return x clamped to [0, 1] (0 for NaN)."""
    return 0.0 if x != x else max(0.0, min(1.0, x))


# Longer series are thinned to this many points (block medians) before the
# pairwise statistics, which cost n^2.
MAX_POINTS = 120


def thin(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
    """Return xs, ys reduced to at most MAX_POINTS points by medians of consecutive blocks."""
    n = len(ys)
    size = math.ceil(n / MAX_POINTS)
    tx, ty = [], []
    for i in range(0, n, size):
        tx.append(median(xs[i : i + size]))
        ty.append(median(ys[i : i + size]))
    return tx, ty


def benjamini_hochberg(pvalues: dict, m: int | None = None) -> dict:
    """Return the Benjamini-Hochberg q-value of each p-value in `pvalues` (key -> p), of `m` tests in all.

    `m` may exceed the p-values given: tests not given are taken to have larger
    p-values than every one given (they did not pass the cheaper tests), which
    only makes the q-values larger, never smaller. Keeping the tests whose q is at
    most q* keeps the expected share of false discoveries at most q* (Benjamini &
    Hochberg 1995; valid under positive dependence, as pods of one service have).
    """
    items = sorted(pvalues.items(), key=lambda kv: kv[1])
    m = max(m or 0, len(items))
    out: dict = {}
    running = 1.0
    for i in range(len(items) - 1, -1, -1):
        key, p = items[i]
        running = min(running, p * m / (i + 1))
        out[key] = min(1.0, running)
    return out


def fisher(pvalues: Sequence[float]) -> float:
    """Return Fisher's combined p-value of independent one-sided `pvalues` (1.0 for none).

    -2 * sum(ln p) is chi-squared with 2k degrees of freedom under the null; its
    survival function for an even number of degrees of freedom is
    exp(-x/2) * sum_{i<k} (x/2)^i / i!. It answers "do some of these tests show an
    effect", so a few strong ones are not drowned by many null ones.
    """
    ps = [min(1.0, max(p, 1e-300)) for p in pvalues]
    if not ps:
        return 1.0
    half = -sum(math.log(p) for p in ps)  # x / 2
    term = total = 1.0
    for i in range(1, len(ps)):
        term *= half / i
        total += term
    return min(1.0, math.exp(-half + math.log(total)) if total > 0 else 0.0)
