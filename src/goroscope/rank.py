"""Rank leak suspects: growth and stuck statistics, scores, one-sentence explanations.

Contract: `rank(series, config) -> list[Suspect]`, ranked within each series
(rank 1 = worst), series in the order given, best first within each; and
`stable(series, config) -> list[(series id, Timeline)]`, the large signatures that
are steady (not suspects), for the report's collapsed section.

How a signature becomes a suspect (DESIGN.md "Two kinds of suspect"):

- Signatures whose leak site is the same function at the same file:line are one
  cause: their counts are summed and judged together, and the Suspect lists them all
  as variants (the largest first). Different lines of one function stay apart.
- *leaked*: goroutines the runtime's goroutineleak profile proved leaked. Proof,
  ranked first whatever the count.
- *growing*: judged per restart segment on the counts against time: Mann-Kendall
  trend (tau, one-sided p), Theil-Sen slope, net growth of the smoothed ends against
  the signature's own step noise, share of steps that did not fall, still rising in
  the recent half, and the end near the peak (a leak does not give goroutines
  back). A segment that fell by half of its peak (GIVE_BACK_SHARE) gave its
  goroutines back, whatever its slope: it is growing only if its floor (the least
  count from each point on, what it never gave back) grew up to its last such fall,
  as a leak site that also hosts short-lived goroutines does; for the same reason an
  end below the peak is forgiven when the floor rose all along and in the recent
  half (such a leak caught in a quiet moment). Regrowth in several segments
  strengthens the verdict. Truncated snapshots'
  counts are lower bounds: one is used only where it shows more than the exact
  points seen so far and is not below the segment's robust trend (so a series
  whose every dump was cut is still judged), never as a drop, and makes the
  verdict more cautious.
- *stuck*: the same goroutine ids blocked at the signature ever longer (correlate.py
  follows them). What the goroutines wait on decides how many are needed: a sync wait
  (semacquire, Mutex, RWMutex, WaitGroup, Cond) needs one; a channel wait several
  (`stuck_min_channel_goroutines`) or a growing number; and a receive or select in the
  goroutine's own top-level function (an idle worker loop, `main` waiting for a
  signal) only a growing number, counted from how many were there at the segment's
  first snapshot (a fixed pool blocked from the start does not grow). Network poll,
  sleep, timers, syscalls and the runtime's own waits are normal for hours and never
  stuck. A goroutine whose own header minutes say it was woken since it was last seen
  waits anew (correlate.py), so a worker that takes a job now and then is not stuck.

Ignore rules (config.ignore, goleak-like) drop signatures before any of this;
`DEFAULT_IGNORE` names only runtime and standard-library goroutines.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from enum import Enum

from goroscope import stats, words
from goroscope.config import Config, IgnoreRules, RankConfig
from goroscope.model import Frame, Kind, Series, Signature, Suspect, Timeline, Variant
from goroscope.signature import Options, any_matches, is_application, leak_site, matches

__all__ = [
    "rank",
    "stable",
    "DEFAULT_IGNORE",
    "StateClass",
    "state_class",
    "fingerprint",
    "is_ignored",
    "GrowthVerdict",
    "growth_verdict",
    "StuckVerdict",
    "stuck_verdict",
    "size_class",
    "severity_key",
    "order_key",
]

# Goroutines of the runtime and the standard library that exist in every healthy
# program and are idle by design. Applied when config.ignore.use_defaults is true.
DEFAULT_IGNORE = IgnoreRules(
    top_function=(
        "runtime.gcBgMarkWorker",  # GC mark workers
        "runtime.bgsweep",  # background sweeper
        "runtime.bgscavenge",  # background scavenger
        "runtime.forcegchelper",  # forced-GC helper
        "runtime.runfinq",  # finalizer goroutine
        "runtime.runCleanups",  # runtime.AddCleanup goroutine (Go 1.24+)
        "runtime.unique_runtime_registerUniqueMapCleanup.func1",  # unique package cleanup
        "runtime.timerproc",  # timer goroutine (Go < 1.14)
        "runtime.ensureSigM.func1",  # signal mask goroutine
        "os/signal.signal_recv",  # os/signal delivery loop
        "os/signal.loop",
        "runtime/pprof.writeGoroutineStacks",  # the dump's own writer
        "runtime/pprof.profileWriter",  # a CPU profile being written
        "runtime/trace.Start.func1",  # an execution trace being written
    ),
    any_function=(
        "runtime/pprof.writeGoroutineStacks",  # the goroutine serving the dump itself
        "runtime/pprof.writeGoroutine",
    ),
    created_by=(
        "runtime.gcBgMarkStartWorkers",
        "runtime.gcenable",
        "runtime.createfing",
        "runtime.init.5",
        "runtime.init.6",
        "runtime.init.7",
        "os/signal.Notify.func1",
    ),
    use_defaults=False,
)



class StateClass(Enum):
    """What a goroutine waits on, as far as stuck detection cares."""

    SYNC = "sync"  # semaphores: Mutex, RWMutex, WaitGroup, Cond (one stuck goroutine suffices)
    FOREVER = "forever"  # nil channels, empty select: can never proceed
    CHANNEL = "channel"  # chan send / chan receive / select
    IDLE = "idle"  # IO wait, sleep, timers, syscalls, GC, running: normal for hours


_SYNC_PREFIXES = ("semacquire", "sync.", "sync ")
_FOREVER = ("chan receive (nil chan)", "chan send (nil chan)", "select (no cases)")
_CHANNEL = ("chan send", "chan receive", "select")


def state_class(state: str | None) -> StateClass:
    """Return the StateClass of a wait reason as printed (`chan send`, `sync.Mutex.Lock`...)."""
    if not state:
        return StateClass.IDLE
    s = state.strip()
    if s in _FOREVER:
        return StateClass.FOREVER
    if s in _CHANNEL:
        return StateClass.CHANNEL
    if s.startswith(_SYNC_PREFIXES):
        return StateClass.SYNC
    return StateClass.IDLE


# -------------------------------------------------------------------- ignore


def _ignored_by(t: Timeline, rules: IgnoreRules) -> bool:
    """Return True when one of `rules` matches timeline `t`."""
    frames = t.signature.frames
    if frames and matches(frames[0].function, rules.top_function):
        return True
    if rules.any_function and any_matches([f.function for f in frames], rules.any_function):
        return True
    if t.created_by is not None and matches(t.created_by.function, rules.created_by):
        return True
    if rules.state and t.states and t.states[0][0] in rules.state:
        return True
    return False


def is_ignored(t: Timeline, config: Config) -> bool:
    """Return True when the config's ignore rules (and the defaults, if on) match `t`."""
    if _ignored_by(t, config.ignore):
        return True
    return config.ignore.use_defaults and _ignored_by(t, DEFAULT_IGNORE)


# --------------------------------------------------------------- fingerprints


def fingerprint(signature: Signature, site: Frame, options: Options) -> str:
    """Return a short, line-free hash of a cause: the leak site and the application functions.

    Lines shift with every deploy and created-by frames are missing from debug=1 and
    protobuf dumps, so neither enters: the same leak gets the same fingerprint in
    every format, run and release that keeps its function names.
    """
    app = [f.function for f in signature.frames if is_application(f, options)]
    blob = "\n".join([site.function, *app]).encode()
    return hashlib.sha1(blob).hexdigest()[:12]


# ------------------------------------------------------------------- growing


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


def _hours(times: Sequence[datetime]) -> list[float]:
    """Return times as hours since the first (the index when no time passes at all)."""
    if not times:
        return []
    t0 = times[0]
    hs = [(t - t0).total_seconds() / 3600.0 for t in times]
    if hs[-1] - hs[0] <= 0:
        return [float(i) for i in range(len(times))]
    return hs


def _clamp(x: float) -> float:
    """Return x clamped to [0, 1]."""
    return 0.0 if x != x else max(0.0, min(1.0, x))


# Longer segments are thinned to this many points (block medians) before the
# pairwise statistics, which cost n^2.
MAX_POINTS = 120


def _thin(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
    """Return xs, ys reduced to at most MAX_POINTS points by medians of consecutive blocks."""
    n = len(ys)
    size = math.ceil(n / MAX_POINTS)
    tx, ty = [], []
    for i in range(0, n, size):
        tx.append(stats.median(xs[i : i + size]))
        ty.append(stats.median(ys[i : i + size]))
    return tx, ty


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
    if len(ty) > MAX_POINTS:
        tx, ty = _thin(tx, ty)
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


def _segment_growth(xs: Sequence[float], counts: Sequence[int], lower: Sequence[bool], first: int, last: int, rc: RankConfig) -> SegmentGrowth | None:
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
    if n > MAX_POINTS:
        px, py = _thin(px, py)
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
    elif gave_back >= GIVE_BACK_SHARE and kept_growth < max(rc.min_net_growth, KEPT_OF_FALL * max_drop):
        failed = "gave_back"
    elif mk.p_up > rc.max_p_value:
        failed = "p"
    elif mk.tau < rc.min_tau and not (mk.tau >= rc.min_tau / 2 and mk.p_up <= rc.max_p_value / 50):
        failed = "tau"
    elif net < rc.noise_factor * noise:
        failed = "noise"
    elif last_to_max < rc.min_last_to_max and retained < rc.min_last_to_max and not _floor_rising(px, py, h, net, noise, rc):
        failed = "last_to_max"
    elif retained < 0.5 and not _floor_rising(px, py, h, net, noise, rc):
        failed = "retained"
    elif recent_gain < max(1.0, 0.5 * noise):
        failed = "recent"
    elif nondec < rc.min_nondecreasing_share and not (mk.p_up <= rc.max_p_value / 50 and mk.tau >= rc.min_tau):
        # under large noise half the steps fall even on a leak; a very significant
        # trend that also beat the noise test speaks for itself
        failed = "nondecreasing"

    magnitude = _clamp(math.log10(1.0 + max(net, 0.0)) / 2.0)  # +100 goroutines -> 1
    significance = _clamp(-math.log10(max(mk.p_up, 1e-12)) / 4.0)  # p = 1e-4 -> 1
    over_noise = _clamp(net / (2.0 * rc.noise_factor * noise)) if noise > 0 else 1.0
    score = (
        0.25 * _clamp(mk.tau)
        + 0.15 * significance
        + 0.15 * nondec
        + 0.15 * _clamp(retained)
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
        score=round(_clamp(score), 4),
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
) -> GrowthVerdict:
    """Return whether `counts` grow like a leak, judged per (first, last) segment."""
    xs = _hours(times)
    judged = []
    for first, last in segments:
        g = _segment_growth(xs, counts, lower_bound, first, last, rc)
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
    return GrowthVerdict(growing=True, score=round(_clamp(score), 4), best=best, segments=tuple(judged), regrowths=regrowths)


# --------------------------------------------------------------------- stuck


@dataclass(frozen=True, slots=True, kw_only=True)
class StuckVerdict:
    """Whether the same goroutines stay blocked at a signature."""

    stuck: bool
    score: float
    goroutines: int  # stuck at the last snapshot that shows them
    minutes: float  # their longest wait
    since: datetime | None  # first time the oldest was seen there
    state: str | None
    state_class: StateClass
    growing_number: bool  # the number of stuck ids itself grows
    reason: str = ""  # why not, when not


def _stuck_series(timelines: Sequence[Timeline], n: int) -> tuple[list[int], list[float], datetime | None]:
    """Return the summed stuck ids, longest stuck minutes and oldest stuck-since of a group."""
    ids = [0] * n
    mins = [0.0] * n
    since = None
    for t in timelines:
        for i, v in enumerate(t.stuck_ids[:n]):
            ids[i] += v
        for i, v in enumerate(t.stuck_minutes[:n]):
            mins[i] = max(mins[i], v)
        if t.stuck_since is not None and (since is None or t.stuck_since < since):
            since = t.stuck_since
    return ids, mins, since


def _idle_loop(signature: Signature, site: Frame, options: Options) -> bool:
    """Return True when the goroutine blocks in its own top-level function (a worker or main loop).

    That is: no application frame below the leak site, so the function the `go`
    statement started is the one waiting, which is how idle loops look.
    """
    frames = signature.frames
    try:
        at = frames.index(site)
    except ValueError:
        return False
    return not any(is_application(f, options) for f in frames[at + 1 :])


def stuck_verdict(
    timelines: Sequence[Timeline],
    main: Timeline,
    site: Frame,
    segment: tuple[int, int],
    rc: RankConfig,
    options: Options,
) -> StuckVerdict:
    """Return whether the group's goroutines stay blocked, judged on the last segment."""
    n = len(main.counts)
    state = main.states[0][0] if main.states else None
    cls = state_class(state)
    ids, mins, since = _stuck_series(timelines, n)
    first, last = segment
    counts = [sum(t.counts[i] for t in timelines) for i in range(n)]
    at = None
    for i in range(last, first - 1, -1):
        if ids[i] > 0:
            at = i
            break
    base = dict(state=state, state_class=cls, since=since)
    if at is None:
        return StuckVerdict(stuck=False, score=0.0, goroutines=0, minutes=0.0, growing_number=False, reason="no ids stay", **base)
    if any(counts[j] == 0 and not main.lower_bound[j] for j in range(at + 1, last + 1)):
        return StuckVerdict(stuck=False, score=0.0, goroutines=ids[at], minutes=mins[at], growing_number=False, reason="gone since", **base)
    k, minutes = ids[at], mins[at]
    # the first snapshot of a segment has nothing earlier to follow ids from: every
    # goroutine there may already be waiting, so the number stuck starts from its count
    # (a fixed pool blocked from the start is not a growing number of stuck goroutines)
    seg_ids = [float(v) for v in ids[first : at + 1]]
    cut_first = bool(main.lower_bound) and main.lower_bound[first]
    if seg_ids and not cut_first:
        seg_ids[0] = max(seg_ids[0], float(counts[first]))
    growing_number = False
    if len(seg_ids) >= rc.min_snapshots and seg_ids[-1] - seg_ids[0] >= 2:
        if len(seg_ids) > MAX_POINTS:
            seg_ids = _thin(list(range(len(seg_ids))), seg_ids)[1]
        growing_number = stats.mann_kendall(seg_ids).p_up <= rc.max_p_value
    reason = ""
    if cls is StateClass.IDLE:
        reason = f"state {state or 'unknown'} is an idle wait"
    elif minutes < rc.stuck_min_minutes:
        reason = "not long enough"
    elif cls is StateClass.SYNC:
        if k < rc.stuck_min_sync_goroutines:
            reason = "too few"
    elif cls is StateClass.CHANNEL and state != "chan send" and _idle_loop(main.signature, site, options):
        if not growing_number:
            reason = "an idle loop waiting for work"
    elif k < rc.stuck_min_channel_goroutines and not growing_number:
        reason = "too few for a channel wait"
    if reason:
        return StuckVerdict(stuck=False, score=0.0, goroutines=k, minutes=minutes, growing_number=growing_number, reason=reason, **base)
    long_ = _clamp(math.log(max(minutes, 1.0) / max(rc.stuck_min_minutes, 1.0)) / math.log(12.0))
    many = _clamp(math.log10(1 + k) / 1.5)
    score = 0.45 + 0.25 * long_ + 0.15 * many + (0.1 if cls is StateClass.SYNC else 0.0) + (0.05 if growing_number else 0.0)
    return StuckVerdict(stuck=True, score=round(_clamp(score), 4), goroutines=k, minutes=minutes, growing_number=growing_number, **base)


# ---------------------------------------------------------------- rank proper


@dataclass(slots=True)
class _Group:
    """The timelines of one series sharing a leak site."""

    site: Frame
    timelines: list[Timeline] = field(default_factory=list)

    def counts(self, n: int) -> list[int]:
        """Return the summed counts."""
        out = [0] * n
        for t in self.timelines:
            for i, c in enumerate(t.counts[:n]):
                out[i] += c
        return out


def _groups(series: Series, config: Config) -> list[_Group]:
    """Return the not-ignored timelines of `series` grouped by leak site, largest first."""
    options = config.signature_options()
    by_site: dict[tuple[str, str, int], _Group] = {}
    for t in series.timelines:
        if not t.signature.frames or is_ignored(t, config):
            continue
        site = leak_site(t.signature.frames, options)
        if site is None:
            continue
        g = by_site.setdefault((site.function, site.file, site.line), _Group(site=site))
        g.timelines.append(t)
    for g in by_site.values():
        g.timelines.sort(key=lambda t: (-sum(t.counts), -max(t.counts, default=0), t.signature.key()))
    return list(by_site.values())


def _merged(timelines: Sequence[Timeline], field: str) -> tuple:
    """Return the (key, count) pairs of Timeline `field` (states, labels, states_last, …) over a group, most common first."""
    c: Counter = Counter()
    for t in timelines:
        for key, k in getattr(t, field):
            c[key] += k
    return tuple(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


def _merged_states(timelines: Sequence[Timeline]) -> tuple[tuple[str, int], ...]:
    """Return the states of a group, most common first."""
    return _merged(timelines, "states")


def _created_by(timelines: Sequence[Timeline]) -> Frame | None:
    """Return the created-by frame of the largest variant that has one."""
    for t in timelines:
        if t.created_by is not None:
            return t.created_by
    return None


def _state_phrase(states: Sequence[tuple[str, int]]) -> str:
    """Return '97% blocked in chan send' (or 'blocked' when no state is carried)."""
    if not states:
        return "blocked"
    total = sum(k for _, k in states)
    top, k = states[0]
    pct = round(100.0 * k / total) if total else 100
    return f"{pct}% blocked in {top}" if pct < 100 else f"all blocked in {top}"


def _memory_correlation(series: Series, counts: Sequence[int]) -> float | None:
    """Return the correlation of counts with the heap in use, interpolated at snapshot times."""
    if len(series.memory) < 2:
        return None
    t0 = series.snapshots[0].time
    mx = [(p.time - t0).total_seconds() for p in series.memory]
    my = [float(p.inuse_bytes) for p in series.memory]
    xs, ys = [], []
    for snap, c in zip(series.snapshots, counts):
        v = stats.interpolate(mx, my, (snap.time - t0).total_seconds())
        if v is not None:
            xs.append(float(c))
            ys.append(v)
    r = stats.pearson(xs, ys)
    return None if r is None else round(r, 3)


def _acknowledged(fp: str, config: Config, today: date) -> bool:
    """Return True when `fp` is acknowledged in the config until today or later."""
    return any(a.fingerprint == fp and (a.until is None or a.until >= today) for a in config.acknowledged)


def _judge(series: Series, group: _Group, config: Config, today: date) -> Suspect | None:
    """Return the Suspect a group makes, or None."""
    rc = config.rank
    options = config.signature_options()
    n = len(series.snapshots)
    main = group.timelines[0]
    counts = group.counts(n)
    times = [s.time for s in series.snapshots]
    segs = [(s.first, s.last) for s in series.segments] or [(0, n - 1)]
    lower = main.lower_bound or tuple(s.truncated for s in series.snapshots)
    states = _merged_states(group.timelines)
    leaked = max(t.leaked for t in group.timelines)

    growth = growth_verdict(counts, times, segs, rc, lower)
    stuck = stuck_verdict(group.timelines, main, group.site, segs[-1], rc, options)

    if leaked > 0:
        kind = Kind.LEAKED
        score = 0.9 + 0.1 * _clamp(math.log10(1 + leaked) / 2.0)
    elif growth.growing and growth.score >= rc.min_score:
        kind, score = Kind.GROWING, growth.score
    elif stuck.stuck and stuck.score >= rc.min_score:
        kind, score = Kind.STUCK, stuck.score
    else:
        return None

    created = _created_by(group.timelines)
    waits = [w for t in group.timelines for w in t.max_wait_minutes if w is not None]
    stuck_max = max((m for t in group.timelines for m in t.stuck_minutes), default=0.0)
    max_wait = float(max(max(waits), stuck_max)) if waits else (stuck_max or None)
    mem = _memory_correlation(series, counts)
    best = growth.best
    slope = best.slope_per_hour if best is not None else 0.0

    evidence: list[tuple[str, float]] = []
    if best is not None:
        evidence += [
            ("tau", round(best.tau, 4)),
            ("p", float(f"{best.p:.3g}")),
            ("slope_per_hour", round(best.slope_per_hour, 2)),
            ("net", round(best.net, 2)),
            ("nondecreasing_share", round(best.nondecreasing, 3)),
            ("last_to_max", round(best.last_to_max, 3)),
            ("retained", round(best.retained, 3)),
            ("step_noise", round(best.noise, 2)),
            ("recent_gain", round(best.recent_gain, 2)),
            ("segments_growing", float(sum(1 for g in growth.segments if g.growing))),
            ("segments_judged", float(len(growth.segments))),
            ("lower_bound_points", float(best.lower_bounds)),
        ]
        if best.gave_back >= GIVE_BACK_SHARE:
            evidence += [("gave_back_share", round(best.gave_back, 3)), ("kept_growth", round(best.kept_growth, 2))]
    evidence += [("stuck_goroutines", float(stuck.goroutines)), ("stuck_minutes", round(stuck.minutes, 2))]
    if leaked:
        evidence.append(("leaked", float(leaked)))
    if mem is not None:
        evidence.append(("memory_correlation", mem))
    evidence.append(("score", round(score, 4)))

    explanation = _explain(kind, series, group, counts, states, created, growth, stuck, leaked, mem)
    fp = fingerprint(main.signature, group.site, options)
    variants = tuple(
        Variant(leak_site=leak_site(t.signature.frames, options) or group.site, counts=t.counts, signature=t.signature)
        for t in group.timelines
    )
    return Suspect(
        series=series.id,
        rank=0,
        kind=kind,
        score=round(_clamp(score), 4),
        fingerprint=fp,
        leak_site=group.site,
        created_by=created,
        state=states[0][0] if states else None,
        counts=tuple(counts),
        growth_per_hour=round(slope, 2),
        max_wait_minutes=max_wait,
        explanation=explanation,
        stack=main.signature.frames,
        variants=variants,
        states=states,
        labels=_merged(group.timelines, "labels"),
        states_last=_merged(group.timelines, "states_last"),
        labels_last=_merged(group.timelines, "labels_last"),
        evidence=tuple(evidence),
        acknowledged=_acknowledged(fp, config, today),
        memory_correlation=mem,
    )


def _explain(kind, series, group, counts, states, created, growth, stuck, leaked, mem) -> str:
    """Return the one sentence a person can act on."""
    where = f"at {words.short_location(group.site)}"
    made = f" (created at {words.short_location(created)})" if created is not None else ""
    if kind is Kind.LEAKED:
        head = f"{leaked} goroutine{'s' if leaked != 1 else ''} proven leaked by the runtime's goroutineleak profile"
        sentence = f"{head}; {_state_phrase(states)} {where}{made}"
    elif kind is Kind.STUCK:
        since = ""
        if stuck.since is not None:
            t = stuck.since.astimezone(timezone.utc)
            last = series.snapshots[-1].time.astimezone(timezone.utc) if series.snapshots else t
            when = f"{t:%H:%M:%S}" if t.date() == last.date() else f"{t:%Y-%m-%d %H:%M:%S} UTC"
            # only the oldest was there since then: the others joined later, so the
            # sentence dates the oldest and counts the goroutines now, never "all since"
            # (one snapshot cannot follow ids: its time comes from the dump's own minutes)
            since = f" (first seen here at {when})" if len(series.snapshots) > 1 else f" (since about {when} by the dump's own count)"
        what = stuck.state or "a wait"
        n = stuck.goroutines
        sentence = (
            f"{n} goroutine{'s' if n != 1 else ''} blocked in {what} now, "
            f"{'the oldest' if n != 1 else 'it'} for {math.floor(stuck.minutes)}+ min{since}, {where}{made}"
        )
    else:
        g = growth.best
        fell = "never fell" if g.max_drop <= 0 else f"fell back at most {g.max_drop:.0f}"
        if g.gave_back >= GIVE_BACK_SHARE:
            fell += f" (short-lived goroutines at the same site) while its floor rose {g.kept_growth:+.0f}"
        net = counts[g.last] - counts[g.first]
        again = ""
        if growth.regrowths:
            again = f", regrew after {'each of the ' + str(growth.regrowths) + ' restarts' if growth.regrowths > 1 else 'the restart'}"
        sentence = f"{net:+d} goroutines in {words.duration(g.hours * 3600)}, {fell}{again}; {_state_phrase(states)} {where}{made}"
    if mem is not None and mem >= 0.8 and kind is not Kind.STUCK:
        sentence += "; memory grows with it"
    return sentence


def size_class(peak: int) -> int:
    """Return how severe a peak of `peak` goroutines is: its order of magnitude.

    0 for 1–9 goroutines, 1 for 10–99, 2 for 100–999, … A class, not the count
    itself, so that between suspects (or findings) of about the same size the kind
    decides.
    """
    peak = int(peak)
    return len(str(peak)) - 1 if peak > 0 else 0


def severity_key(peak: int, kind: str, score: float) -> tuple:
    """Return the one ordering of leaks: size class, then kind (proof first), then score, then size.

    A proven leak of one goroutine therefore ranks below a growing leak of
    hundreds, and above a growing leak of a handful. rank() orders the suspects of
    a series by it; findings.py orders findings by it, with their summed peaks.
    """
    return (-size_class(peak), Kind(kind).order, -score, -int(peak))


def order_key(s: Suspect) -> tuple:
    """Return the ordering key of a suspect: severity_key, then its leak site for a stable order."""
    return (*severity_key(max(s.counts, default=0), s.kind, s.score), s.leak_site.function, s.leak_site.line)


def rank(series: Sequence[Series], config: Config, today: date | None = None) -> list[Suspect]:
    """Return the suspects of every series, ranked within each series, best first."""
    today = today or datetime.now(timezone.utc).date()
    per_series: list[list[Suspect]] = []
    for s in series:
        found = [x for g in _groups(s, config) if (x := _judge(s, g, config, today)) is not None]
        found.sort(key=order_key)
        per_series.append([replace(x, rank=i + 1) for i, x in enumerate(found)])
    where: dict[str, set[str]] = defaultdict(set)
    for found in per_series:
        for x in found:
            where[x.fingerprint].add(x.series)
    out = []
    for found in per_series:
        for x in found:
            others = tuple(sorted(where[x.fingerprint] - {x.series}))
            out.append(replace(x, also_in=others) if others else x)
    return out


def stable(series: Sequence[Series], config: Config, suspects: Sequence[Suspect] | None = None) -> list[tuple[str, Timeline]]:
    """Return (series id, Timeline) of large signatures that are steady, not suspects, biggest first.

    `suspects` is what rank() returned for the same series (computed when not given).
    """
    if suspects is None:
        suspects = rank(series, config)
    flagged = {(x.series, v.signature) for x in suspects for v in x.variants}
    out: list[tuple[str, Timeline]] = []
    for s in series:
        picked = []
        for t in s.timelines:
            if (s.id, t.signature) in flagged or not t.counts:
                continue
            level = stats.median(t.counts)
            if level < config.rank.stable_min_count:
                continue
            if min(t.counts) < 0.5 * level:
                continue  # comes and goes: not a steady part of the process
            picked.append((level, t))
        picked.sort(key=lambda lt: (-lt[0], lt[1].signature.key()))
        out.extend((s.id, t) for _, t in picked[: config.render.max_stable])
    return out
