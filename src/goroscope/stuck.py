"""Stuck: whether the same goroutines stay blocked at a signature ever longer.

Contract: `stuck_verdict(timelines, main, site, segment, rank_config, options)
-> StuckVerdict`, judged on the last segment from the stuck ids correlate.py follows.

What the goroutines wait on (`state_class`) decides how many are needed: a sync wait
(semacquire, Mutex, RWMutex, WaitGroup, Cond) needs one; a channel wait several
(`stuck_min_channel_goroutines`) or a growing number; and a receive or select in the
goroutine's own top-level function (an idle worker loop, a keep-alive connection's
write loop, `main` waiting for a signal) only a growing number, counted from how
many were there at the segment's first snapshot (a fixed pool blocked from the start
does not grow). Where a set is stuck only by its growing number, that number must
grow as growth.py requires of a leak's count (`_number_grows`): an elastic pool whose
idle members follow load, rising and falling back, is not stuck. Network poll,
sleep, timers, syscalls and the runtime's own waits are normal for hours and never
stuck. A goroutine whose own header minutes say it was woken since it was last seen
waits anew (correlate.py), so a worker that takes a job now and then is not stuck.

Parked since start-up (`StuckVerdict.parked`): a set waiting in a receive or select
(how Go code waits for an event: a cut-over, a shutdown) whose last member joined in
the first half of the process's life as far as it can be seen (from the earliest of
the first snapshot and the longest wait any goroutine of the series prints), that
has held unchanged since, whose oldest member has waited since that first half, and
that has no sibling (a goroutine created at the same `go` statement) doing anything
else. That is a warm-up holding its set, not a leak: rank.py lists it below the
leaks and never as a suspect. A set still growing, a sync wait (a lock or a
WaitGroup nobody releases is a bug whenever it happened) and a pool worker stuck
while its siblings keep working stay stuck leaks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from goroscope import growth, stats
from goroscope.config import RankConfig
from goroscope.model import Frame, Signature, Timeline
from goroscope.signature import Options, is_application

__all__ = ["StateClass", "state_class", "StuckVerdict", "stuck_verdict", "stuck_ids"]


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
    parked: bool = False  # stuck, but a set parked since start-up and unchanged since (see the module docstring)
    by_trend: bool = False  # stuck only because the number of stuck ids grows (an idle loop, a few channel waiters): a trend, pooled like growth (rank.pooled)


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


def stuck_ids(timelines: Sequence[Timeline], n: int) -> list[int]:
    """Return, per snapshot, how many goroutines of a group have been followed blocked at it since an earlier snapshot."""
    return _stuck_series(timelines, n)[0]


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


# the waits a set parks on to wait for an event (runtime waitReasonStrings)
_EVENT_WAITS = frozenset({"chan receive", "select"})


def _parked(
    counts: Sequence[int], ids: Sequence[int], first: int, last: int, times: Sequence[datetime], uptime_minutes: float, minutes: float
) -> bool:
    """Return True when the set stopped changing in the first half of the process's seen life, has held since, and waited since then.

    The process's seen life starts at the earlier of the first snapshot and the
    longest wait any of its goroutines prints at the last one (`uptime_minutes`).
    """
    if len(times) <= last or last - first + 1 < 2:
        return False
    end = times[last]
    start = min(times[0], end - timedelta(minutes=uptime_minutes))
    life = (end - start).total_seconds()
    if life <= 0:
        return False
    join = first
    for i in range(first + 1, last + 1):
        if counts[i] > counts[i - 1]:
            join = i
    held = all(counts[i] == counts[join] for i in range(join, last + 1)) and ids[last] >= counts[last] > 0
    early = (times[join] - start).total_seconds() <= 0.5 * life
    return held and early and minutes * 60.0 >= 0.5 * life


def _number_grows(held: Sequence[float], times: Sequence[datetime], first: int, at: int, rc: RankConfig, lower: Sequence[bool] = ()) -> bool:
    """Return True when the number of stuck ids over snapshots `first`..`at` (`held`) grows as growth.py requires of a leak.

    A set that is stuck only because its number grows (an idle loop's receive or
    select, a few channel waiters) rests on that number's trend alone, so the trend
    must hold as a growing signature's does: material against its own step noise,
    the end near the peak, nothing given back, and still rising in the recent half.
    An elastic pool of idle connections or workers whose size follows load wanders,
    rises and falls back: its members wake or close. Or the number never fell at
    all and rose by `rank.min_net_growth`: every goroutine that ever got stuck is
    still stuck, whenever the last one joined (a pool losing its workers one by
    one, a leak that paused). Those tests of a count's trend (its recent half, its
    fitted slope) are there for plateaus that wander; a stuck number's plateau is
    the same ids held.
    """
    if len(times) <= at:  # no times given: one minute apart (the trend tests read only the order)
        times = [datetime(2000, 1, 1) + timedelta(minutes=i) for i in range(at + 1)]
    counts = [0] * first + [int(round(v)) for v in held]
    verdict = growth.growth_verdict(counts, times[: at + 1], [(first, at)], rc, lower[: at + 1])
    if verdict.growing:
        return True
    never_fell = all(b >= a for a, b in zip(held, held[1:]))
    return never_fell and held[-1] - held[0] >= rc.min_net_growth


def stuck_verdict(
    timelines: Sequence[Timeline],
    main: Timeline,
    site: Frame,
    segment: tuple[int, int],
    rc: RankConfig,
    options: Options,
    times: Sequence[datetime] = (),
    uptime_minutes: float = 0.0,
    siblings: int = 0,
) -> StuckVerdict:
    """Return whether the group's goroutines stay blocked, judged on the last segment.

    `times` are the series' snapshot times, `uptime_minutes` the longest wait any
    goroutine of the series prints at its last snapshot, `siblings` the goroutines
    created at the same `go` statement that are not at this site (they decide
    whether a set is parked since start-up)."""
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
        growing_number = stats.mann_kendall(stats.thin(list(range(len(seg_ids))), seg_ids)[1] if len(seg_ids) > stats.MAX_POINTS else seg_ids).p_up <= rc.max_p_value
    # where the set is stuck only because its number grows, that number must grow like a leak
    number_grows = growing_number and _number_grows(seg_ids, times, first, at, rc, main.lower_bound)
    reason = ""
    if cls is StateClass.IDLE:
        reason = f"state {state or 'unknown'} is an idle wait"
    elif minutes < rc.stuck_min_minutes:
        reason = "not long enough"
    elif cls is StateClass.SYNC:
        if k < rc.stuck_min_sync_goroutines:
            reason = "too few"
    elif cls is StateClass.CHANNEL and state != "chan send" and _idle_loop(main.signature, site, options):
        if not number_grows:
            reason = "an idle loop waiting for work"
    elif k < rc.stuck_min_channel_goroutines and not number_grows:
        reason = "too few for a channel wait"
    if reason:
        return StuckVerdict(stuck=False, score=0.0, goroutines=k, minutes=minutes, growing_number=growing_number, reason=reason, **base)
    parked = (
        state in _EVENT_WAITS
        and siblings == 0
        and _parked(counts, ids, first, last, times, uptime_minutes, minutes)
    )
    long_ = stats.clamp(math.log(max(minutes, 1.0) / max(rc.stuck_min_minutes, 1.0)) / math.log(12.0))
    many = stats.clamp(math.log10(1 + k) / 1.5)
    score = 0.45 + 0.25 * long_ + 0.15 * many + (0.1 if cls is StateClass.SYNC else 0.0) + (0.05 if growing_number else 0.0)
    idle_loop = cls is StateClass.CHANNEL and state != "chan send" and _idle_loop(main.signature, site, options)
    by_trend = idle_loop or (cls is not StateClass.SYNC and k < rc.stuck_min_channel_goroutines)
    return StuckVerdict(
        stuck=True, score=round(stats.clamp(score), 4), goroutines=k, minutes=minutes, growing_number=growing_number, parked=parked,
        by_trend=by_trend, **base
    )
