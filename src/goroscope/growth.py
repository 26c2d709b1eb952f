"""Growing: whether a signature's counts grow like a leak, per restart segment.

Contract: `growth_verdict(counts, times, segments, rank_config, lower_bound)
-> GrowthVerdict`, the verdict over every (first, last) segment and the segment it
rests on (`best`, a SegmentGrowth with the statistics the report's evidence shows).

A segment grows when all of these hold on its counts against time: Mann-Kendall
trend (tau, one-sided p), Theil-Sen slope, net growth of the smoothed ends against
the signature's own step noise (and, across the pods of its service, against its
size: rank.pooled), share of steps that did not fall, still rising in the recent half by more than the
noise or steadily (a ramp that stopped, then noise, is not growth), and the end
near the peak (a leak does not give goroutines back).
Where goroutine ids tell (debug=2, tracebacks), some goroutine must also live from one
snapshot to the next: a signature whose goroutines are all new at every snapshot is
load in flight, not a leak ("turnover").

A segment that fell by half of its peak (GIVE_BACK_SHARE) gave its goroutines back,
whatever its slope: it is growing only if its floor (the least count from each point
on, what it never gave back) grew up to its last such fall, as a leak site that also
hosts short-lived goroutines does; for the same reason an end below the peak is
forgiven when the floor rose all along and in the recent half (such a leak caught in
a quiet moment). Regrowth in several segments strengthens the verdict.

Truncated snapshots' counts are lower bounds: one is used only where it shows more
than the exact points seen so far and is not below the segment's robust trend (so a
series whose every dump was cut is still judged), never as a drop, and makes the
verdict more cautious.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from goroscope import stats
from goroscope.config import RankConfig

__all__ = ["SegmentGrowth", "GrowthVerdict", "growth_verdict", "GIVE_BACK_SHARE", "KEPT_OF_FALL"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentGrowth:
    """The growth statistics of one segment."""

    first: int  # segment's first snapshot index
    last: int  # segment's last snapshot index
    n: int  # points used
    growing: bool  # every test passed
    score: float  # in [0, 1]
    net: float  # smoothed end level minus smoothed start level
    slope_per_hour: float  # Theil-Sen
    tau: float
    p: float  # one-sided Mann-Kendall p for an upward trend
    nondecreasing: float  # share of steps that did not fall
    last_to_max: float  # smoothed end / peak
    retained: float  # share of the growth still there at the end
    noise: float  # step noise (robust sigma of the steps)
    recent_gain: float  # Theil-Sen gain over the recent half
    hours: float  # span
    max_drop: float  # the largest fall from a running peak
    gave_back: float = 0.0  # max_drop as a share of the segment's peak (0 for a fall of fewer than min_net_growth)
    kept_growth: float = 0.0  # growth of the floor up to the last fall of GIVE_BACK_SHARE or more, when there is one
    lower_bounds: int  # truncated points in the segment
    failed: str = ""  # the first test that failed


@dataclass(frozen=True, slots=True, kw_only=True)
class GrowthVerdict:
    """Whether counts grow like a leak, over all segments."""

    growing: bool
    score: float
    best: SegmentGrowth | None  # the segment the verdict rests on
    segments: tuple[SegmentGrowth, ...] = ()  # every judged segment
    regrowths: int = 0  # segments after the first that grew again


def _persists(xs: Sequence[float], ys: Sequence[float], h: int, recent_gain: float, noise: float, rc: RankConfig) -> bool:
    """Return True when the trend persists into the recent half (its last `h` points).

    It must rise there by at least one goroutine and half the step noise, and either
    by more than the noise or steadily (Kendall's tau of the recent half at least
    rc.min_tau). A ramp that stopped, then wandering about a plateau, rises in its
    recent half only by chance, neither far nor steadily. (Across the pods of a
    service the recent halves are pooled too: rank.pooled.)
    """
    if recent_gain < max(1.0, 0.5 * noise):
        return False
    return recent_gain >= rc.noise_factor * noise or stats.mann_kendall(ys[-h:], xs[-h:]).tau >= rc.min_tau


def _hours(times: Sequence[datetime]) -> list[float]:
    """Return times as hours since the first (the index when no time passes at all)."""
    if not times:
        return []
    t0 = times[0]
    hs = [(t - t0).total_seconds() / 3600.0 for t in times]
    if hs[-1] - hs[0] <= 0:
        return [float(i) for i in range(len(times))]
    return hs



def _lower_bound_floor(
    xs: Sequence[float], counts: Sequence[int], lower: Sequence[bool], first: int, last: int
) -> tuple[float, float] | None:
    """Return the robust trend (slope, intercept) of counts[first..last], None when no point there is a lower bound.

    The Theil-Sen line through every point of the segment, lower bounds included (a
    few low ones cannot drag a median of slopes). A lower bound below it is not read
    as a fall: where every dump of a segment was cut there is no exact point to
    compare with, and a lower bound that dips is what a cut looks like.
    """
    if not lower or not any(lower[first : last + 1]):
        return None
    tx = [float(x) for x in xs[first : last + 1]]
    ty = [float(c) for c in counts[first : last + 1]]
    if len(ty) > stats.MAX_POINTS:
        tx, ty = stats.thin(tx, ty)
    slope = stats.theil_sen(tx, ty)
    intercept = stats.median([y - slope * x for x, y in zip(tx, ty)])
    return slope, intercept


# A segment whose count fell from a running peak by this share of its own peak gave
# its goroutines back: a leaked goroutine never returns, so it is a growing leak only
# if the part it never gave back (its floor) grew up to its last such fall.
GIVE_BACK_SHARE = 0.5
# ...and its floor must have grown by at least this share of its largest fall (and
# rank.min_net_growth): a pool's floor stays flat, a leak's rises between bursts.
KEPT_OF_FALL = 0.25


def _give_back(ys: Sequence[float], min_fall: float) -> tuple[float, float, int]:
    """Return (the largest fall from a running peak, that fall as a share of the segment's peak, the last point of such a fall).

    The share is of the most goroutines the signature ever had in the segment: a
    leak whose short-lived goroutines outnumbered its leaked ones early on falls a
    lot from an early peak, and then grows far past it. A fall counts only when it
    is at least `min_fall` goroutines (2 -> 1 says nothing). The last point is the
    last one at least GIVE_BACK_SHARE of the segment's peak below its running peak
    (-1 when none is).
    """
    top = max(ys, default=0.0)
    running = -math.inf
    max_drop = 0.0
    last = -1
    for i, y in enumerate(ys):
        running = max(running, y)
        fall = running - y
        max_drop = max(max_drop, fall)
        if fall >= min_fall and fall >= GIVE_BACK_SHARE * top:
            last = i
    share = max_drop / top if top > 0 and max_drop >= min_fall else 0.0
    return max_drop, share, last


def _floor(ys: Sequence[float]) -> list[float]:
    """Return, at each point of ys, the least value from there on (what is never given back later)."""
    floor = list(ys)
    for i in range(len(floor) - 2, -1, -1):
        floor[i] = min(floor[i], floor[i + 1])
    return floor


def _kept_growth(xs: Sequence[float], ys: Sequence[float], upto: int) -> float:
    """Return the Theil-Sen growth, over xs[0..upto], of the floor of ys: at each point, the least count from there on.

    The floor is what a signature holds for good. A leak site that also hosts
    short-lived goroutines gives back only those: its floor rises with the leak
    between its falls. A pool that retires idle workers falls back to the same floor
    after every burst, so up to its last fall the median of the floor's pairwise
    slopes stays near zero. (After the last fall the floor is the count itself and
    says nothing about what will be kept.)
    """
    floor = _floor(ys)
    if upto < 1:
        return 0.0
    return stats.theil_sen(xs[: upto + 1], floor[: upto + 1]) * (xs[upto] - xs[0])


def _floor_rising(xs: Sequence[float], ys: Sequence[float], h: int, net: float, noise: float, rc: RankConfig) -> bool:
    """Return True when the floor of ys rose over the whole span (by half the net growth) and over its last h points.

    What excuses an end below the peak: a leak whose site also hosts short-lived
    goroutines, caught in a quiet moment, is down to its leaked part, and that part
    rose all along. A pool that drained, or a ramp that plateaued, holds a flat floor
    in its recent half.
    """
    floor = _floor(ys)
    whole = stats.theil_sen(xs, floor) * (xs[-1] - xs[0])
    rx = xs[-h:]
    recent = stats.theil_sen(rx, floor[-h:]) * (rx[-1] - rx[0])
    return whole >= max(rc.min_net_growth, 0.5 * net) and recent >= max(rc.min_net_growth, rc.noise_factor * noise)


def _turned_over(counts: Sequence[int], kept: Sequence[int], first: int, last: int, rc: RankConfig) -> bool:
    """Return True when ids say no goroutine of the segment lived from one snapshot to the next.

    Only pairs of snapshots whose ids were compared and that both hold goroutines here
    count, and at least max(2, min_snapshots - 1) of them: a leaked goroutine never
    exits, so a signature whose every goroutine is new at every snapshot grows with its
    load (requests in flight), not by a leak.
    """
    if not kept:
        return False
    pairs = [kept[i] for i in range(first + 1, last + 1) if kept[i] >= 0 and counts[i] > 0 and counts[i - 1] > 0]
    return len(pairs) >= max(2, rc.min_snapshots - 1) and not any(pairs)


def _segment_growth(
    xs: Sequence[float], counts: Sequence[int], lower: Sequence[bool], first: int, last: int, rc: RankConfig, kept: Sequence[int] = ()
) -> SegmentGrowth | None:
    """Return the growth statistics of counts[first..last], None when too short to judge."""
    px: list[float] = []
    py: list[float] = []
    exact_max = None
    n_lower = 0
    trend = _lower_bound_floor(xs, counts, lower, first, last)
    for i in range(first, last + 1):
        c = counts[i]
        if lower and lower[i]:
            n_lower += 1
            # a lower bound is informative only where it exceeds what was seen, and
            # only where it is not below the trend: there its shortfall may be the cut
            if (exact_max is not None and c <= exact_max) or (trend is not None and c < trend[1] + trend[0] * xs[i]):
                continue
        else:
            exact_max = c if exact_max is None else max(exact_max, c)
        px.append(xs[i])
        py.append(float(c))
    n = len(py)
    if n < max(2, rc.min_snapshots):
        return None
    if n > stats.MAX_POINTS:
        px, py = stats.thin(px, py)
        n = len(py)
    k = max(1, n // 5)
    start = stats.median(py[:k])
    end = stats.median(py[-k:])
    if end - start < rc.min_net_growth:
        # the cheap test first: most signatures of a process do not grow at all
        return SegmentGrowth(
            first=first, last=last, n=n, growing=False, score=0.0, net=end - start, slope_per_hour=0.0,
            tau=0.0, p=1.0, nondecreasing=stats.nondecreasing_share(py), last_to_max=0.0, retained=0.0,
            noise=0.0, recent_gain=0.0, hours=px[-1] - px[0], max_drop=0.0, lower_bounds=n_lower, failed="net",
        )
    smooth = stats.rolling_median(py, 2 * (k // 2) + 1 if k > 1 else 3) if n >= 5 else list(py)
    peak = max(max(smooth), end)
    net = end - start
    slope = stats.theil_sen(px, py)
    hours = px[-1] - px[0]
    mk = stats.mann_kendall(py, px)
    nondec = stats.nondecreasing_share(py)
    noise = stats.step_noise(py)
    last_to_max = end / peak if peak > 0 else 0.0
    retained = (end - start) / (peak - start) if peak > start else 0.0
    h = max(3, (n + 1) // 2)
    rx, ry = px[-h:], py[-h:]
    recent_gain = stats.theil_sen(rx, ry) * (rx[-1] - rx[0])
    max_drop, gave_back, last_fall = _give_back(py, rc.min_net_growth)
    kept_growth = _kept_growth(px, py, last_fall) if gave_back >= GIVE_BACK_SHARE else 0.0

    failed = ""
    fitted = slope * hours
    if net < rc.min_net_growth or fitted < rc.min_net_growth:
        failed = "net"
    elif _turned_over(counts, kept, first, last, rc):
        failed = "turnover"
    elif gave_back >= GIVE_BACK_SHARE and kept_growth < max(rc.min_net_growth, KEPT_OF_FALL * max_drop):
        failed = "gave_back"
    elif mk.p_up > rc.max_p_value:
        failed = "p"
    elif mk.tau < rc.min_tau and not (mk.tau >= rc.min_tau / 2 and mk.p_up <= rc.max_p_value / 50):
        failed = "tau"
    elif net < rc.noise_factor * noise:
        # material against the signature's own noise (against its size, across the
        # pods of its service: rank.pooled)
        failed = "noise"
    elif last_to_max < rc.min_last_to_max and retained < rc.min_last_to_max and not _floor_rising(px, py, h, net, noise, rc):
        failed = "last_to_max"
    elif retained < 0.5 and not _floor_rising(px, py, h, net, noise, rc):
        failed = "retained"
    elif not _persists(px, py, h, recent_gain, noise, rc):
        # the trend must persist into the recent half: rising there by more than the
        # noise, or steadily (its own Kendall tau); a ramp that stopped, then
        # wandering about a plateau (a pool, long polls in flight), is not growth
        failed = "recent"
    elif nondec < rc.min_nondecreasing_share and not (mk.p_up <= rc.max_p_value / 50 and mk.tau >= rc.min_tau):
        # under large noise half the steps fall even on a leak; a very significant
        # trend that also beat the noise test speaks for itself
        failed = "nondecreasing"

    magnitude = stats.clamp(math.log10(1.0 + max(net, 0.0)) / 2.0)  # +100 goroutines -> 1
    significance = stats.clamp(-math.log10(max(mk.p_up, 1e-12)) / 4.0)  # p = 1e-4 -> 1
    over_noise = stats.clamp(net / (2.0 * rc.noise_factor * noise)) if noise > 0 else 1.0
    score = (
        0.25 * stats.clamp(mk.tau)
        + 0.15 * significance
        + 0.15 * nondec
        + 0.15 * stats.clamp(retained)
        + 0.20 * magnitude
        + 0.10 * over_noise
    )
    if n_lower:
        score *= 0.9  # lower bounds: more caution, never more confidence
    return SegmentGrowth(
        first=first,
        last=last,
        n=n,
        growing=not failed,
        score=round(stats.clamp(score), 4),
        net=net,
        slope_per_hour=slope if hours > 0 else 0.0,
        tau=mk.tau,
        p=mk.p_up,
        nondecreasing=nondec,
        last_to_max=last_to_max,
        retained=retained,
        noise=noise,
        recent_gain=recent_gain,
        hours=hours,
        max_drop=max_drop,
        gave_back=gave_back,
        kept_growth=kept_growth,
        lower_bounds=n_lower,
        failed=failed,
    )


def growth_verdict(
    counts: Sequence[int],
    times: Sequence[datetime],
    segments: Sequence[tuple[int, int]],
    rc: RankConfig,
    lower_bound: Sequence[bool] = (),
    kept: Sequence[int] = (),
) -> GrowthVerdict:
    """Return whether `counts` grow like a leak, judged per (first, last) segment.

    `kept[i]` is how many goroutines at snapshot i were there at the previous one by id
    (-1 where ids could not tell: Timeline.kept_ids), () when no form had ids."""
    xs = _hours(times)
    judged = []
    for first, last in segments:
        g = _segment_growth(xs, counts, lower_bound, first, last, rc, kept)
        if g is not None:
            judged.append(g)
    if not judged:
        return GrowthVerdict(growing=False, score=0.0, best=None)
    grown = [g for g in judged if g.growing]
    if not grown:
        best = max(judged, key=lambda g: g.score)
        return GrowthVerdict(growing=False, score=best.score, best=best, segments=tuple(judged))
    best = max(grown, key=lambda g: (g.score, g.net))
    score = best.score
    regrowths = len(grown) - 1
    for _ in range(regrowths):
        score = 1.0 - (1.0 - score) * 0.7  # regrowth after a restart is more evidence
    latest = judged[-1]
    if not latest.growing and latest.n >= 2 * rc.min_snapshots and latest.net <= 0:
        score *= 0.8  # it grew once but not in the latest stretch
    return GrowthVerdict(growing=True, score=round(stats.clamp(score), 4), best=best, segments=tuple(judged), regrowths=regrowths)
