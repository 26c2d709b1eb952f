"""Tests for goroscope.rank (and the growth, stuck and ignore rules it applies) on synthetic timelines built as model records."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from goroscope import growth, ignore
from goroscope.config import Acknowledged, Config, IgnoreRules, RankConfig, SignatureConfig
from goroscope.model import Frame, MemoryPoint, Segment, Series, Signature, SnapshotInfo, Timeline
from goroscope.rank import rank, rank_all, severity_key, size_class, stable
from goroscope.signature import fingerprint
from goroscope.stuck import StateClass, state_class

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
TODAY = date(2026, 12, 1)
APP = "/src/github.com/acme/app/internal/work"
GOROOT = "/usr/local/go/src"


def frame(function: str, line: int, file: str | None = None) -> Frame:
    """Return a frame; application files under APP unless given."""
    return Frame(function=function, file=file or f"{APP}/{function.rsplit('.', 1)[-1].lower()}.go", line=line)


def tl(
    counts,
    *,
    fn: str = "github.com/acme/app/internal/work.(*Client).query",
    line: int = 46,
    below: tuple[Frame, ...] = (),
    above: tuple[Frame, ...] = (),
    state: str | None = "chan send",
    created_by: Frame | None = frame("github.com/acme/app/internal/work.(*Client).Available", 34),
    stuck_ids=None,
    stuck_minutes=None,
    stuck_since: datetime | None = None,
    leaked: int = 0,
    lower=None,
    waits=None,
) -> Timeline:
    """Return a Timeline of one signature: `above` + the leak site + `below` frames."""
    n = len(counts)
    frames = (*above, frame(fn, line), *below)
    return Timeline(
        signature=Signature(frames=frames),
        counts=tuple(counts),
        lower_bound=tuple(lower) if lower is not None else (False,) * n,
        states=((state, sum(counts)),) if state else (),
        created_by=created_by,
        leaked=leaked,
        max_wait_minutes=tuple(waits) if waits is not None else (None,) * n,
        stuck_ids=tuple(stuck_ids) if stuck_ids is not None else (0,) * n,
        stuck_minutes=tuple(float(m) for m in stuck_minutes) if stuck_minutes is not None else (0.0,) * n,
        stuck_since=stuck_since,
    )


def series(*timelines: Timeline, step=timedelta(seconds=30), segments=None, sid="pods/a", memory=(), truncated=None) -> Series:
    """Return a Series holding `timelines`, snapshots `step` apart."""
    n = len(timelines[0].counts)
    snaps = tuple(
        SnapshotInfo(
            time=T0 + i * step,
            time_source="name",
            source=f"{sid}/{i:02d}.txt",
            sources=(f"{sid}/{i:02d}.txt",),
            format="debug2",
            goroutines=sum(t.counts[i] for t in timelines),
            truncated=bool(truncated and truncated[i]),
            crash=False,
        )
        for i in range(n)
    )
    segs = tuple(Segment(first=a, last=b) for a, b in (segments or [(0, n - 1)]))
    return Series(id=sid, snapshots=snaps, segments=segs, timelines=tuple(timelines), memory=tuple(memory))


def suspects(s: Series, config: Config = Config()):
    """Return the suspects of one series."""
    return rank([s], config, today=TODAY)


RND = random.Random(20261201)


def noisy(n, level, slope, sigma, rnd=RND):
    """Return n counts around level + slope*i with gaussian noise."""
    return [max(0, round(level + slope * i + rnd.gauss(0, sigma))) for i in range(n)]


# --------------------------------------------------------------------- growing

GROWING = {
    "steady growth": [3 * i + 1 for i in range(20)],
    "noisy growth": noisy(25, 2, 2.0, 3.0),
    "slow leak under large noise": noisy(60, 50, 0.5, 6.0),
    "bursty leak with pauses": [5, 16, 28, 28, 28, 28, 31, 37, 49, 54, 54, 55, 61, 73, 83, 83, 84, 85, 90, 97],
    # short-lived goroutines at the site outnumber the leaked ones early (32 -> 12), then
    # the leak grows far past that peak: the fall is a third of the segment's peak
    "leak under an early burst": [29, 26, 32, 28, 23, 16, 12, 13, 15, 17, 20, 20, 40, 36, 42, 32, 60, 39, 33, 35,
                                  36, 39, 40, 41, 44, 50, 50, 69, 67, 84, 56, 57, 58, 60, 61, 64, 85, 92, 91, 78],
}


@pytest.mark.parametrize("name", list(GROWING))
def test_growth_is_a_suspect(name):
    # GIVEN one growing signature beside a steady one
    s = series(tl(GROWING[name]), tl([4] * len(GROWING[name]), fn="github.com/acme/app/internal/work.idle", line=9))
    # WHEN
    found = suspects(s)
    # THEN only the growing one is flagged
    assert [(x.kind, x.leak_site.line) for x in found] == [("growing", 46)]
    x = found[0]
    assert x.rank == 1 and 0 < x.score <= 1
    assert x.growth_per_hour > 0
    ev = dict(x.evidence)
    assert ev["tau"] > 0.5 and ev["p"] < 0.05 and ev["net"] >= 3


def test_sawtooth_with_restarts_regrows_and_is_stronger_than_one_segment():
    one = [2 * i for i in range(10)]
    saw = series(tl(one + one + one), segments=[(0, 9), (10, 19), (20, 29)])
    single = series(tl(one))
    a, b = suspects(saw)[0], suspects(single)[0]
    assert a.kind == "growing"
    assert a.score > b.score
    assert "regrew after each of the 2 restarts" in a.explanation
    assert dict(a.evidence)["segments_growing"] == 3


NOT_GROWING = {
    "burst and recovery": [2, 2, 3, 40, 60, 30, 10, 4, 2, 2, 2, 3, 2, 2, 2],
    "ramp to a plateau": [0, 2, 4, 6, 8, 10, 12, 14, 16] + [16] * 11,
    "noisy plateau": [0, 3, 5, 6, 9, 10, 13, 14, 16, 15, 16, 14, 16, 16, 15, 16, 16, 14, 16, 16],
    "grow then drain": [0, 5, 10, 15, 20, 25, 30, 25, 20, 15, 10, 5, 0, 0, 0],
    "startup then zero": [11, 37, 39, 30, 19, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    "noisy on-demand pool": noisy(30, 20, 0.0, 6.0),
    "periodic batch": [0, 0, 0, 20, 0, 0, 20, 0, 0, 0, 0, 0, 20, 0, 0, 0],
    "a static singleton": [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1],
}


@pytest.mark.parametrize("name", list(NOT_GROWING))
def test_benign_shapes_are_not_suspects(name):
    assert suspects(series(tl(NOT_GROWING[name]))) == []


# An on-demand pool: bursts ramp it noisily towards its bound (64), idle workers
# retire, it falls by half twice and returns to a plateau below the bound.
ON_DEMAND_POOL = [4, 9, 15, 13, 22, 27, 31, 34, 39, 36, 45, 51, 55, 57, 60, 30, 29, 33, 38, 44,
                  50, 55, 58, 29, 28, 33, 40, 45, 49, 47, 53, 55, 54, 56, 57, 58, 56, 59, 58, 60]
# A leak of ~1.2 goroutines a step at a site that also hosts short-lived goroutines in
# bursts (30 beside 6 leaked early, 45 beside 40 late: more than half of its peak of
# 86 falls away): it gives back only the short-lived part.
LEAK_WITH_TRANSIENTS = [2, 6, 12, 6, 7, 36, 7, 8, 10, 11, 14, 13, 15, 18, 17, 19, 29, 30, 32, 33,
                        44, 27, 36, 28, 30, 30, 31, 34, 35, 37, 37, 38, 48, 86, 41, 84, 48, 44, 46, 57]


def test_a_pool_that_gave_back_half_its_goroutines_is_not_growing_whatever_its_slope(monkeypatch):
    s = series(tl(ON_DEMAND_POOL, state="select"), step=timedelta(minutes=5))
    v = growth.growth_verdict(ON_DEMAND_POOL, [x.time for x in s.snapshots], [(0, 39)], Config().rank)
    # it fell from 60 to 29 and from 58 to 28 while its floor stayed flat: not a growing leak
    assert not v.growing and v.best.failed == "gave_back"
    assert v.best.gave_back == pytest.approx(0.533, abs=1e-3) and v.best.kept_growth < 3
    assert suspects(s) == []
    # every other test passes: its counts rise, end at the peak, steadily enough; without
    # the give-back rule it would be a growing suspect
    assert v.best.slope_per_hour > 0 and v.best.last_to_max >= 0.8
    monkeypatch.setattr(growth, "GIVE_BACK_SHARE", 2.0)
    assert [x.kind for x in suspects(s)] == ["growing"]


def test_a_leak_site_that_also_hosts_short_lived_goroutines_gives_back_only_those_and_is_growing():
    found = suspects(series(tl(LEAK_WITH_TRANSIENTS), step=timedelta(minutes=5)))
    assert [x.kind for x in found] == ["growing"]
    ev = dict(found[0].evidence)
    # it fell by more than half of its peak, and its floor rose anyway
    assert ev["gave_back_share"] >= growth.GIVE_BACK_SHARE and ev["kept_growth"] >= 30
    assert "while its floor rose" in found[0].explanation


def test_a_truncated_dump_is_not_a_give_back():
    # GIVEN the leak with short-lived goroutines, two of its dumps cut to a fifth of their count
    counts = list(LEAK_WITH_TRANSIENTS)
    lower = [i in (24, 31) for i in range(len(counts))]
    for i in (24, 31):
        counts[i] //= 5
    found = suspects(series(tl(counts, lower=lower), step=timedelta(minutes=5), truncated=lower))
    # THEN the cuts are lower bounds, not falls: it is growing, judged as without them
    assert [x.kind for x in found] == ["growing"]
    ev = dict(found[0].evidence)
    assert ev["lower_bound_points"] == 2
    clean = dict(suspects(series(tl(LEAK_WITH_TRANSIENTS), step=timedelta(minutes=5)))[0].evidence)
    assert ev["gave_back_share"] == clean["gave_back_share"]


def test_a_restart_explains_a_fall():
    # the same leak across a restart: each segment is judged alone, the fall is the restart
    one = [2 * i + 1 for i in range(15)]
    found = suspects(series(tl(one + one), segments=[(0, 14), (15, 29)]))
    assert [x.kind for x in found] == ["growing"]
    assert "gave_back_share" not in dict(found[0].evidence)
    # read as one process, the same counts gave back everything
    assert suspects(series(tl(one + one))) == []


def test_too_few_snapshots_give_no_verdict():
    assert suspects(series(tl([1, 50]))) == []


def test_a_truncated_snapshot_never_reads_as_a_drop():
    # GIVEN a steady leak whose 8th dump was cut short (its count is a lower bound)
    counts = [3 * i + 1 for i in range(15)]
    counts[7] = 2
    lower = [i == 7 for i in range(15)]
    s = series(tl(counts, lower=lower), truncated=lower)
    clean = series(tl([3 * i + 1 for i in range(15)]))
    # THEN it is still growing, and no more confident than without the cut
    x = suspects(s)[0]
    assert x.kind == "growing"
    assert dict(x.evidence)["nondecreasing_share"] == 1.0
    assert dict(x.evidence)["lower_bound_points"] == 1
    assert x.score <= suspects(clean)[0].score


def test_a_truncated_last_snapshot_does_not_hide_the_end():
    counts = [2 * i + 1 for i in range(12)] + [3]
    lower = [False] * 12 + [True]
    x = suspects(series(tl(counts, lower=lower), truncated=lower))
    assert [s.kind for s in x] == ["growing"]


# every dump of the segment cut (the 64 MiB limit of a big process): lower bounds only
ALL_CUT_GROWING = {
    # a leak whose cut dumps show 60-100% of it, dipping where the cut fell early
    "dipping leak": [0, 2, 5, 12, 9, 12, 28, 20, 23, 26, 28, 33, 55, 42, 47, 46],
    "steady leak": [3 * i + 1 for i in range(15)],
}
ALL_CUT_NOT_GROWING = {
    "startup batch drains": [5, 14, 18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    "prefetch grows then falls": [11, 37, 38, 27, 18, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    "bursty": [33, 20, 4, 10, 0, 0, 38, 5, 0, 0, 20, 34, 0, 4, 0],
    "flat pool": noisy(20, 40, 0.0, 3, random.Random(7)),
}


@pytest.mark.parametrize("name", list(ALL_CUT_GROWING))
def test_a_leak_whose_every_dump_was_cut_is_still_growing(name):
    # GIVEN only lower bounds: no exact point to compare a dip with
    counts = ALL_CUT_GROWING[name]
    lower = [True] * len(counts)
    x = suspects(series(tl(counts, lower=lower), truncated=lower))
    # THEN the dips below the trend do not read as falls, and the verdict is cautious
    assert [s.kind for s in x] == ["growing"]
    ev = dict(x[0].evidence)
    assert ev["lower_bound_points"] == len(counts)
    clean = suspects(series(tl(counts)))
    assert not clean or x[0].score <= clean[0].score


@pytest.mark.parametrize("name", list(ALL_CUT_NOT_GROWING))
def test_benign_shapes_whose_every_dump_was_cut_are_not_suspects(name):
    counts = ALL_CUT_NOT_GROWING[name]
    lower = [True] * len(counts)
    assert suspects(series(tl(counts, lower=lower), truncated=lower)) == []


def test_lower_bounds_below_the_trend_are_left_out_but_not_those_above():
    # GIVEN a leak cut in every dump, the 5th cut early (far below the trend)
    counts = [2 * i for i in range(12)]
    counts[4] = 0
    lower = [True] * 12
    g = growth.growth_verdict(counts, [T0 + timedelta(seconds=30 * i) for i in range(12)], [(0, 11)], RankConfig(), lower)
    # THEN that point is not judged (the rest are), so no step falls
    assert g.growing and g.best.n == 11 and g.best.nondecreasing == 1.0 and g.best.max_drop == 0


# ----------------------------------------------------------------------- stuck

N = 19
RAMP_MIN = [0, 0, 1, 1, 1, 2, 2, 3, 4, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8]


def wg_wait(counts, stuck_ids, minutes=RAMP_MIN, state="sync.WaitGroup.Wait"):
    """Return a timeline blocked in WaitGroup.Wait below a worker loop."""
    return tl(
        counts,
        fn="github.com/acme/app/internal/work.(*Policy).OnTick",
        line=40,
        above=(frame("sync.(*WaitGroup).Wait", 206, f"{GOROOT}/sync/waitgroup.go"),),
        below=(frame("github.com/acme/app/internal/work.(*worker).loop", 45),),
        state=state,
        stuck_ids=stuck_ids,
        stuck_minutes=minutes,
        stuck_since=T0 + timedelta(minutes=1),
        created_by=frame("github.com/acme/app/internal/work.(*Scheduler).Start", 28),
    )


def test_flat_pool_with_the_same_ids_stuck_longer_and_longer():
    counts = [6] * N
    s = series(wg_wait(counts, [0] + [6] * (N - 1)))
    found = suspects(s)
    assert [(x.kind, x.leak_site.line) for x in found] == [("stuck", 40)]
    x = found[0]
    assert x.max_wait_minutes == 8.0
    assert x.explanation.startswith("6 goroutines blocked in sync.WaitGroup.Wait now, the oldest for 8+ min (first seen here at 08:01:00)")
    assert "work/(*policy).ontick.go:40" in x.explanation.lower() or ":40" in x.explanation


def test_stuck_sentence_dates_the_oldest_and_counts_the_goroutines_now():
    """One goroutine stuck since 08:01, five more joining by the end: not '6 … the same ids since 08:01'."""
    ids = [0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 6, 6, 6]
    x = suspects(series(wg_wait([6] * N, ids)))[0]  # a pool of 6, its workers sticking one by one
    assert x.kind == "stuck"
    assert x.explanation.startswith("6 goroutines blocked in sync.WaitGroup.Wait now, the oldest for 8+ min (first seen here at 08:01:00)")
    assert "same ids" not in x.explanation


def test_a_singleton_stuck_in_a_sync_wait_is_a_suspect():
    s = series(wg_wait([1] * N, [0] + [1] * (N - 1), state="sync.Mutex.Lock"))
    assert [x.kind for x in suspects(s)] == ["stuck"]


def test_a_stuck_wait_shorter_than_the_threshold_is_not():
    s = series(wg_wait([1] * N, [1] * N, minutes=[0.5] * N))
    assert suspects(s) == []


def main_waiting_for_a_signal():
    """Return `main.main` in a chan receive, the same id for hours."""
    return tl(
        [1] * N,
        fn="main.main",
        line=35,
        state="chan receive",
        created_by=None,
        stuck_ids=[0] + [1] * (N - 1),
        stuck_minutes=[60 * i for i in range(N)],
    )


def accept_loop():
    """Return an accept loop in IO wait, the same id for hours."""
    return tl(
        [1] * N,
        fn="net/http.(*Server).Serve",
        line=3574,
        above=(frame("internal/poll.runtime_pollWait", 351, f"{GOROOT}/runtime/netpoll.go"),),
        below=(frame("main.main.func1", 22),),
        state="IO wait",
        stuck_ids=[0] + [1] * (N - 1),
        stuck_minutes=[60 * i for i in range(N)],
    )


def idle_pool(k=4):
    """Return k idle workers receiving in their own loop, the same ids for hours."""
    return tl(
        [k] * N,
        fn="github.com/acme/app/internal/work.(*Pool).worker",
        line=41,
        state="chan receive",
        stuck_ids=[0] + [k] * (N - 1),
        stuck_minutes=[30 * i for i in range(N)],
    )


@pytest.mark.parametrize("make", [main_waiting_for_a_signal, accept_loop, idle_pool], ids=["main-signal", "accept-loop", "idle-pool"])
def test_idle_for_hours_is_not_a_suspect(make):
    assert suspects(series(make(), step=timedelta(minutes=10))) == []


def test_a_fixed_pool_blocked_from_the_first_snapshot_is_not_a_growing_number():
    # GIVEN 4 pooled connections' write loops idle in select in their own function,
    # the same 4 ids in all 40 snapshots, followed from the second one on
    n = 40
    t = tl(
        [4] * n,
        fn="net/http.(*persistConn).writeLoop",
        line=2833,
        state="select",
        stuck_ids=[0] + [4] * (n - 1),
        stuck_minutes=[0.25 * i for i in range(n)],
        created_by=frame("net/http.(*Transport).dialConn", 2124, f"{GOROOT}/net/http/transport.go"),
    )
    # THEN they are idle by design: no suspect
    assert suspects(series(t, step=timedelta(seconds=15))) == []


def test_a_pool_whose_workers_get_stuck_one_by_one_in_a_receive_is_stuck():
    # GIVEN a fixed pool of 8 workers, one by one blocking for good in a receive in their own
    # loop (0 -> 6, the last 16 snapshots ago) while their siblings keep working elsewhere
    n = 40
    ids = [min(i // 4, 6) for i in range(n)]
    made = frame("github.com/acme/app/internal/work.(*Pool).Start", 29)
    t = tl(ids, fn="github.com/acme/app/internal/work.(*Pool).worker", line=41, state="chan receive",
           stuck_ids=[max(0, k) for k in ids], stuck_minutes=[0.25 * i for i in range(n)], created_by=made)
    working = tl([8 - k for k in ids], fn="github.com/acme/app/internal/work.(*Pool).handle", line=55, state="IO wait",
                 created_by=made)
    # THEN the growing number of stuck ids makes them stuck, sized by their pool
    found = suspects(series(t, working, step=timedelta(seconds=15)))
    assert [x.kind for x in found] == ["stuck"]
    assert (found[0].pool.stuck, found[0].pool.size) == (6, 8)


def test_goroutines_that_got_stuck_and_stopped_coming_are_still_stuck():
    # GIVEN a per-request goroutine that blocks for good in a receive in its own function,
    # four of them in the first three snapshots half an hour apart, then none for 1.5 h
    held = [1, 4, 4, 5, 5, 5]
    t = tl(held, fn="github.com/acme/app/internal/bus.awaitAck", line=181, state="chan receive",
           stuck_ids=held, stuck_minutes=[30.0 * i + 10 for i in range(len(held))])
    # THEN a number of stuck ids that never fell is stuck, though it no longer rises
    assert [x.kind for x in suspects(series(t, step=timedelta(minutes=30)))] == ["stuck"]


def test_an_elastic_pool_whose_idle_number_wanders_with_load_is_not_stuck():
    # GIVEN write loops of an elastic pool idle in select in their own function, whose
    # number follows the day's load (up by half to the afternoon, part of the way back by night)
    n = 48
    level = [round(12 + 6 * math.sin(0.8 * math.pi * i / (n - 1)) + (1 if i % 5 == 0 else 0)) for i in range(n)]
    t = tl(level, fn="net/http.(*persistConn).writeLoop", line=2833, state="select",
           stuck_ids=[c - 1 for c in level], stuck_minutes=[30.0 * i for i in range(n)],
           created_by=frame("net/http.(*Transport).dialConn", 2124, f"{GOROOT}/net/http/transport.go"))
    # THEN a number that gives back what it gained is no growing number of stuck goroutines
    assert suspects(series(t, step=timedelta(minutes=30))) == []


def test_several_blocked_senders_with_the_same_ids_are_stuck():
    t = tl([5] * N, state="chan send", stuck_ids=[0] + [5] * (N - 1), stuck_minutes=[2 * i for i in range(N)])
    assert [x.kind for x in suspects(series(t, step=timedelta(minutes=2)))] == ["stuck"]


def test_one_or_two_blocked_senders_are_not_enough():
    t = tl([2] * N, state="chan send", stuck_ids=[0] + [2] * (N - 1), stuck_minutes=[2 * i for i in range(N)])
    assert suspects(series(t, step=timedelta(minutes=2))) == []


@pytest.mark.parametrize(
    "state, cls",
    [
        ("semacquire", StateClass.SYNC),
        ("sync.RWMutex.RLock", StateClass.SYNC),
        ("sync.Cond.Wait", StateClass.SYNC),
        ("chan receive (nil chan)", StateClass.FOREVER),
        ("select (no cases)", StateClass.FOREVER),
        ("chan send", StateClass.CHANNEL),
        ("select", StateClass.CHANNEL),
        ("IO wait", StateClass.IDLE),
        ("sleep", StateClass.IDLE),
        ("syscall", StateClass.IDLE),
        ("GC worker (idle)", StateClass.IDLE),
        (None, StateClass.IDLE),
    ],
)
def test_state_class(state, cls):
    assert state_class(state) is cls


# ---------------------------------------------------------------------- leaked


def test_proof_does_not_trump_size():
    # GIVEN a growing leak of 140 goroutines and one goroutine proven leaked (issue 11 part 6)
    big = tl([10 * i for i in range(15)])
    proven = tl([0] * 7 + [1] * 8, fn="github.com/acme/app/internal/work.(*Prefetcher).refill", line=68, leaked=1, state="chan receive (nil chan)")
    found = sorted(suspects(series(big, proven)), key=lambda x: x.rank)
    # THEN the big growing leak ranks first: proof orders kinds within equal severity only
    assert [(x.kind, x.rank) for x in found] == [("growing", 1), ("leaked", 2)]
    assert "goroutineleak" in found[1].explanation


def test_proof_orders_kinds_within_equal_severity():
    # GIVEN a growing leak and a proven leak of the same order of size (tens of goroutines)
    big = tl([3 * i for i in range(15)])
    proven = tl([0] * 5 + [12] * 10, fn="github.com/acme/app/internal/work.(*Prefetcher).refill", line=68, leaked=12, state="chan receive (nil chan)")
    found = sorted(suspects(series(big, proven)), key=lambda x: x.rank)
    # THEN the proven one comes first
    assert [(x.kind, x.rank) for x in found] == [("leaked", 1), ("growing", 2)]


# ---------------------------------------------------------------- merging, ids


def test_same_leak_site_merges_into_one_suspect_with_variants():
    # GIVEN two stacks reaching the leak site from two callers
    a = tl([2 * i for i in range(15)], below=(frame("github.com/acme/app/internal/work.handlerA", 10),))
    b = tl([i for i in range(15)], below=(frame("github.com/acme/app/internal/work.handlerB", 20),))
    found = suspects(series(a, b))
    assert len(found) == 1
    x = found[0]
    assert [v.signature for v in x.variants] == [a.signature, b.signature]
    assert x.counts == tuple(3 * i for i in range(15))


def test_other_lines_of_one_function_stay_apart():
    # GIVEN a leaked readLoop and a healthy pooled one, differing only in line
    leak = tl([5 * i for i in range(15)], fn="net/http.(*persistConn).readLoop", line=2616, state="select")
    leak = replace(leak, signature=Signature(frames=(Frame(function="net/http.(*persistConn).readLoop", file=f"{GOROOT}/net/http/transport.go", line=2616),)))
    healthy = replace(leak, counts=(1,) * 15, signature=Signature(frames=(Frame(function="net/http.(*persistConn).readLoop", file=f"{GOROOT}/net/http/transport.go", line=2493),)))
    found = suspects(series(leak, healthy))
    assert [x.leak_site.line for x in found] == [2616]
    assert len(found[0].variants) == 1


def test_fingerprint_ignores_lines_and_created_by():
    a = tl([1], line=46).signature
    b = tl([1], line=52).signature
    opts = Config().signature_options()
    fa = fingerprint(a, a.frames[0], opts)
    assert fa == fingerprint(b, b.frames[0], opts)
    assert len(fa) == 12 and int(fa, 16) >= 0
    c = tl([1], fn="github.com/acme/app/internal/work.(*Client).other").signature
    assert fa != fingerprint(c, c.frames[0], opts)


def test_also_in_names_other_series_with_the_same_cause():
    counts = [3 * i for i in range(15)]
    found = rank([series(tl(counts), sid="host-a"), series(tl(counts), sid="host-b"), series(tl([1] * 15), sid="host-c")], Config(), today=TODAY)
    assert {(x.series, x.also_in) for x in found} == {("host-a", ("host-b",)), ("host-b", ("host-a",))}


# ---------------------------------------------------------------- config knobs


def test_ignore_rules_and_prefixes():
    s = series(tl([3 * i for i in range(15)]))
    assert suspects(s, Config(ignore=IgnoreRules(top_function=("github.com/acme/app/internal/work.(*Client).query",)))) == []
    assert suspects(s, Config(ignore=IgnoreRules(any_function=("github.com/acme/app/internal/work...",)))) == []
    assert suspects(s, Config(ignore=IgnoreRules(created_by=("github.com/acme/app/internal/work.(*Client).Available",)))) == []
    assert suspects(s, Config(ignore=IgnoreRules(state=("chan send",)))) == []
    assert len(suspects(s, Config(ignore=IgnoreRules(any_function=("github.com/other...",))))) == 1


def test_default_ignore_names_only_runtime_and_stdlib():
    from goroscope.signature import code_class, CodeClass

    d = ignore.DEFAULT_IGNORE
    for fn in (*d.top_function, *d.any_function, *d.created_by):
        assert code_class(Frame(function=fn, file="?", line=0)) in (CodeClass.RUNTIME, CodeClass.STDLIB), fn


def test_default_ignore_can_be_turned_off():
    t = tl([3 * i for i in range(15)], fn="runtime.gcBgMarkWorker", line=1, created_by=None)
    t = replace(t, signature=Signature(frames=(Frame(function="runtime.gcBgMarkWorker", file=f"{GOROOT}/runtime/mgc.go", line=1423),)))
    assert suspects(series(t)) == []
    assert len(suspects(series(t), Config(ignore=IgnoreRules(use_defaults=False)))) == 1


def test_acknowledged_until_today_or_later():
    s = series(tl([3 * i for i in range(15)]))
    fp = suspects(s)[0].fingerprint
    for until, expected in ((None, True), (TODAY, True), (TODAY + timedelta(days=3), True), (TODAY - timedelta(days=1), False)):
        cfg = Config(acknowledged=(Acknowledged(fingerprint=fp, until=until),))
        assert suspects(s, cfg)[0].acknowledged is expected


def test_thresholds_come_from_the_config():
    s = series(tl([i for i in range(15)]))
    assert len(suspects(s)) == 1
    assert suspects(s, Config(rank=RankConfig(min_net_growth=50))) == []


def test_wrappers_move_the_leak_site():
    t = tl([3 * i for i in range(15)], fn="github.com/acme/app/internal/pool.(*Pool).run", line=5, below=(frame("github.com/acme/app/internal/work.job", 12),))
    t = replace(t, signature=Signature(frames=(frame("github.com/acme/app/internal/pool.(*Pool).run", 5), frame("github.com/acme/app/internal/work.job", 12))))
    cfg = Config(signature=SignatureConfig(wrappers=("github.com/acme/app/internal/pool...",)))
    assert suspects(series(t), cfg)[0].leak_site.function == "github.com/acme/app/internal/work.job"


# ---------------------------------------------------------------- explanation


def test_growing_explanation_is_one_sentence_naming_site_creator_state_and_evidence():
    x = suspects(series(tl([5 * i + 2 for i in range(20)]), step=timedelta(minutes=2)))[0]
    assert x.explanation == "+95 goroutines in 38 min, never fell; all blocked in chan send at work/query.go:46 (created at work/available.go:34)"
    assert x.explanation.count(".") <= 4 and "\n" not in x.explanation


def test_memory_growing_with_the_count_is_said():
    counts = [5 * i for i in range(15)]
    mem = [MemoryPoint(time=T0 + timedelta(seconds=30 * i), inuse_bytes=1_000_000 + 40_000 * i, source=f"heap{i}") for i in range(0, 15, 2)]
    x = suspects(series(tl(counts), memory=mem))[0]
    assert x.memory_correlation is not None and x.memory_correlation > 0.95
    assert x.explanation.endswith("memory grows with it")
    flat = [MemoryPoint(time=T0 + timedelta(seconds=30 * i), inuse_bytes=1_000_000 + (i % 2) * 100_000, source="h") for i in range(15)]
    y = suspects(series(tl(counts), memory=flat))[0]
    assert "memory" not in y.explanation


def test_stable_lists_large_steady_signatures_that_are_not_suspects():
    s = series(
        tl([3 * i for i in range(15)]),
        tl([40] * 15, fn="github.com/acme/app/internal/work.serve", line=7),
        tl([2] * 15, fn="github.com/acme/app/internal/work.tiny", line=8),
        tl([0, 90] * 7 + [0], fn="github.com/acme/app/internal/work.bursty", line=9),
    )
    got = stable([s], Config())
    assert [(sid, t.signature.frames[0].function.rsplit(".", 1)[-1]) for sid, t in got] == [("pods/a", "serve")]


def test_a_single_dump_says_where_the_stuck_time_comes_from(tmp_path):
    """One snapshot cannot follow ids: the explanation names the dump's own minutes instead."""
    from goroscope.config import Config
    from goroscope.pipeline import RunOptions, analyze

    dump = tmp_path / "one.txt"
    dump.write_text(
        "goroutine 7 [sync.WaitGroup.Wait, 892 minutes]:\n"
        "sync.runtime_SemacquireWaitGroup(0xc000012345?)\n\t/usr/local/go/src/runtime/sema.go:114 +0x2e\n"
        "sync.(*WaitGroup).Wait(0xc000012340)\n\t/usr/local/go/src/sync/waitgroup.go:118 +0x60\n"
        "github.com/acme/app/jobs.(*Runner).flush(0xc0000a0000)\n\t/go/src/github.com/acme/app/jobs/runner.go:88 +0x85\n"
        "created by github.com/acme/app/jobs.Start in goroutine 1\n\t/go/src/github.com/acme/app/jobs/start.go:20 +0x1a5\n\n"
    )
    report = analyze(dump, Config(), RunOptions(use_cache=False, jobs=1))
    (s,) = report.suspects
    assert s.kind == "stuck" and s.leak_site.line == 88
    assert "892+ min" in s.explanation and "by the dump's own count" in s.explanation
    assert "the same ids" not in s.explanation


# ----------------------------------------------------------------- turnover


@pytest.mark.parametrize(
    "kept, kind",
    [
        ([-1] + [0] * 14, None),  # ids at every snapshot, and no goroutine ever stayed: load in flight
        ([-1] * 15, "growing"),  # no ids to tell (debug=1, protobuf): the counts decide
        ([-1] + [0] * 13 + [1], "growing"),  # one goroutine stayed: it may be leaked
        ([-1] * 13 + [0, 0], None),  # two compared pairs are enough (max(2, min_snapshots - 1))
        ([-1] * 14 + [0], "growing"),  # one compared pair is not
    ],
)
def test_goroutines_that_never_stay_are_not_a_growing_leak(kept, kind) -> None:
    counts = [3 * i + 1 for i in range(15)]
    s = series(replace(tl(counts), kept_ids=tuple(kept)))
    found = suspects(s)
    assert [x.kind for x in found] == ([kind] if kind else [])


def test_the_turnover_rule_names_its_test() -> None:
    from goroscope.config import RankConfig as RC

    v = growth.growth_verdict([3 * i + 1 for i in range(15)], [T0 + timedelta(seconds=30 * i) for i in range(15)], [(0, 14)], RC(), (), [-1] + [0] * 14)
    assert not v.growing and v.best.failed == "turnover"


# ------------------------------------------------------------- issue 19: evidence


def _cutover_wait(counts, ids, minutes):
    """Return a timeline of a warm-up set parked in a receive (below a helper, so not an idle loop)."""
    return tl(
        counts, fn="github.com/acme/app/internal/warm.(*replica).awaitCutover", line=119, state="chan receive",
        below=(frame("github.com/acme/app/internal/warm.(*replica).run", 124),),
        created_by=frame("github.com/acme/app/internal/warm.warmUp", 132),
        stuck_ids=ids, stuck_minutes=minutes, stuck_since=T0,
        waits=[math.floor(m) if m >= 1 else None for m in minutes],
    )


def test_a_set_parked_at_start_up_and_held_is_parked_not_a_suspect():
    # GIVEN 15 goroutines parking in a receive during the first 2 of 9 minutes, then held
    counts = [0, 6, 12, 15] + [15] * 15
    ids = [0, 0, 6, 12] + [15] * 15
    minutes = [i * 0.5 for i in range(N)]
    s = series(_cutover_wait(counts, ids, minutes))
    # THEN it is listed as parked since start-up, and no suspect
    ranked = rank_all([s], Config(), today=TODAY)
    assert not ranked.suspects
    (p,) = ranked.parked
    assert p.parked_since_start and p.kind == "stuck" and "parked since start-up" in p.explanation


def test_a_set_still_joined_late_is_stuck_not_parked():
    # GIVEN the same set, its last member joining in the second half of the series
    counts = [0, 3] + [3] * 10 + [6, 9, 12, 15, 15, 15, 15]
    ids = [0, 0] + [3] * 11 + [6, 9, 12, 15, 15, 15]
    minutes = [i * 0.5 for i in range(N)]
    ranked = rank_all([series(_cutover_wait(counts, ids, minutes))], Config(), today=TODAY)
    # THEN it is a suspect (a set still growing is a leak), never parked
    assert len(ranked.suspects) == 1 and not ranked.parked


def test_pool_workers_stuck_one_by_one_are_stuck_and_sized_by_their_pool():
    # GIVEN a fixed pool of 12: workers move one by one from idle to a lock held forever
    stuck = [0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 5, 5]
    pool = frame("github.com/acme/app/internal/work.startPool", 29)
    lock = tl(stuck, fn="github.com/acme/app/internal/work.(*pool).apply", line=186, state="sync.Mutex.Lock",
              above=(frame("sync.(*Mutex).Lock", 90, f"{GOROOT}/sync/mutex.go"),),
              below=(frame("github.com/acme/app/internal/work.(*pool).worker", 196),), created_by=pool,
              stuck_ids=[0] + stuck[:-1], stuck_minutes=[max(0.0, (i - 3) * 0.5) for i in range(N)], stuck_since=T0)
    idle = tl([12 - k for k in stuck], fn="github.com/acme/app/internal/work.(*pool).worker", line=190, state="chan receive", created_by=pool)
    (x,) = suspects(series(lock, idle))
    # THEN it is stuck (the pool did not grow: a leak creates what it strands), with its share said
    assert x.kind == "stuck"
    assert (x.pool.size, x.pool.stuck) == (12, 5)
    assert "; 5 of the 12 workers created at " in x.explanation and ":29 (42% of the pool)" in x.explanation
    # ...and it weighs like its share of the pool (severity_key: 42% of POOL_WEIGHT, hundreds)
    assert severity_key(5, "stuck", x.score, 5 / 12)[0] == -size_class(417)


def test_a_chance_drift_on_a_few_pods_of_a_service_is_no_finding_but_a_leak_on_every_pod_is():
    # GIVEN a service of 8 pods: a signature of ~40 that drifts up on two of them and
    # wanders on the rest, and a leak from 0 on four of them
    rnd = random.Random(19)
    pods = []
    for i in range(8):
        drift = [40 + (2 * k if i < 2 else rnd.randint(-4, 4)) for k in range(6)]
        leak = [3 * k for k in range(6)] if i < 4 else [0] * 6
        pods.append(series(tl(drift, fn="github.com/acme/app/internal/http.(*pool).get", line=12, state="select"),
                           tl(leak), sid=f"svc/pod-{i}", step=timedelta(minutes=30)))
    found = {(x.series, x.leak_site.line) for x in rank(pods, Config(), today=TODAY)}
    # THEN only the leak is a suspect, on the four pods it is on
    assert found == {(f"svc/pod-{i}", 46) for i in range(4)}
