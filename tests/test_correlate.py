"""Tests for goroscope.correlate: timelines, restart segments, id tracking, leak evidence."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from goroscope.config import Config
from goroscope.correlate import correlate, find_segments, without_cut_stacks
from goroscope.model import (
    PROFILE_GOROUTINE,
    PROFILE_GOROUTINELEAK,
    Frame,
    Moment,
    Problem,
    Signature,
    Source,
    StackCount,
    Summary,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)


def sig(name: str, line: int = 10) -> Signature:
    """Return a one-frame application signature."""
    return Signature(frames=(Frame(function=f"example.com/app.{name}", file="/src/app/app.go", line=line),))


A, B, C, D = sig("a"), sig("b"), sig("c"), sig("d")


def summary(
    counts: dict[Signature, int],
    *,
    goroutines: list[tuple[int, Signature, str, int]] | None = None,
    truncated: bool = False,
    fmt: str | None = None,
    profile: str = PROFILE_GOROUTINE,
    leaked: dict[Signature, int] | None = None,
    states: dict[Signature, tuple[tuple[str, int], ...]] | None = None,
    created: dict[Signature, Frame] | None = None,
    header_total: int | None = None,
) -> Summary:
    """Return a Summary; `goroutines` (id, signature, state, minutes) makes it a text form with ids."""
    if goroutines is not None:
        counts = dict(counts)
        for _, s, _, _ in goroutines:
            counts[s] = counts.get(s, 0) + 1
    order = sorted(counts, key=lambda s: -counts[s])
    stacks = tuple(
        StackCount(
            signature=s,
            count=counts[s],
            states=(states or {}).get(s, ()),
            created_by=(created or {}).get(s),
            leaked=(leaked or {}).get(s, 0),
            max_wait_minutes=max((m for _, g, _, m in goroutines if g == s), default=0) if goroutines is not None else None,
            ids=tuple(i for i, g, _, _ in goroutines or () if g == s),
            waits=tuple(m for _, g, _, m in goroutines or () if g == s),
        )
        for s in order
    )
    return Summary(
        format=fmt or ("debug2" if goroutines is not None else "debug1"),
        profile=profile,
        go_version="go1.27.3",
        total=sum(counts.values()),
        header_total=header_total,
        truncated=truncated,
        crash=False,
        time=None,
        heap_inuse_bytes=None,
        stacks=stacks,
        max_id=max((g[0] for g in goroutines), default=None) if goroutines else None,
        problems=(Problem(line=812, message="dump ends mid-goroutine"),) if truncated else (),
    )


def moments(summaries: list[Summary], step: timedelta = timedelta(minutes=1)) -> list[tuple[Moment, Summary]]:
    """Return (Moment, Summary) pairs one `step` apart."""
    out = []
    for i, s in enumerate(summaries):
        src = Source(path=f"s/{i:02d}.txt", fs_path=f"/x/s/{i:02d}.txt", series="s", format=s.format)
        m = Moment(series="s", time=T0 + i * step, time_source="name", primary=src, sources=(src,), format=s.format)
        out.append((m, s))
    return out


def timeline(series, signature):
    """Return the timeline of `signature` in `series`."""
    return next(t for t in series.timelines if t.signature == signature)


def test_counts_are_aligned_absent_is_zero_and_truncated_is_a_lower_bound():
    # GIVEN three debug=1 snapshots, the second truncated, B absent from the last
    s = correlate("s", moments([summary({A: 1, B: 2}), summary({A: 3}, truncated=True), summary({A: 5})]), (), (), Config())
    # THEN
    assert timeline(s, A).counts == (1, 3, 5)
    assert timeline(s, B).counts == (2, 0, 0)
    assert timeline(s, A).lower_bound == (False, True, False)
    assert [x.truncated for x in s.snapshots] == [False, True, False]
    assert s.snapshots[1].problems == ("line 812: dump ends mid-goroutine",)
    assert s.totals == (3, 3, 5)
    assert [(g.first, g.last) for g in s.segments] == [(0, 2)]


def test_moments_are_put_in_time_order():
    pairs = moments([summary({A: 1}), summary({A: 2})])
    s = correlate("s", list(reversed(pairs)), (), (), Config())
    assert timeline(s, A).counts == (1, 2)
    assert s.snapshots[0].time < s.snapshots[1].time


def test_highest_id_falling_is_a_restart():
    g1 = [(1, A, "chan receive", 0), (40, B, "chan send", 0)]
    g2 = [(1, A, "chan receive", 0), (40, B, "chan send", 0), (55, B, "chan send", 0)]
    g3 = [(1, A, "chan receive", 0), (9, B, "chan send", 0)]  # a new process
    s = correlate("s", moments([summary({}, goroutines=g) for g in (g1, g2, g3)]), (), (), Config())
    assert [(g.first, g.last) for g in s.segments] == [(0, 1), (2, 2)]


def test_a_truncated_dump_with_lower_ids_is_not_a_restart():
    # GIVEN the same goroutines, the last dump cut before its highest ids
    many = [(i, A, "chan send", 0) for i in range(1, 30)]
    s = correlate(
        "s",
        moments([summary({}, goroutines=many), summary({}, goroutines=many[:10], truncated=True), summary({}, goroutines=many)]),
        (),
        (),
        Config(),
    )
    # THEN one segment, and the ids missing past the cut stay stuck
    assert [(g.first, g.last) for g in s.segments] == [(0, 2)]
    assert timeline(s, A).stuck_ids == (0, 10, 29)


def test_a_truncated_dump_of_a_new_process_is_a_restart():
    old = [(i, A, "chan send", 0) for i in range(100, 130)]
    new = [(i, B, "chan receive", 0) for i in range(1, 8)]
    s = correlate("s", moments([summary({}, goroutines=old), summary({}, goroutines=new, truncated=True)]), (), (), Config())
    assert [(g.first, g.last) for g in s.segments] == [(0, 0), (1, 1)]


def test_total_collapsing_with_piled_up_signatures_resetting_is_a_restart_without_ids():
    base = {C: 10}
    seq = [dict(base, **{}) for _ in range(0)]
    seq = [{C: 10, A: 2 * i, B: 3 * i} for i in range(6)] + [{C: 10, A: 0, B: 1}, {C: 10, A: 2, B: 3}]
    summaries = [summary(c) for c in seq]
    assert [(g.first, g.last) for g in find_segments(summaries)] == [(0, 5), (6, 7)]


@pytest.mark.parametrize(
    "seq",
    [
        # a burst receding: one signature, the process stays
        [{C: 10, A: 0}, {C: 10, A: 30}, {C: 10, A: 60}, {C: 10, A: 2}],
        # the total falls, but nothing had piled up
        [{C: 50}, {C: 50}, {C: 20}],
        # a truncated snapshot never reads as a drop
        [{C: 10, A: 10, B: 10}, {C: 10, A: 20, B: 20}, "truncated"],
    ],
    ids=["burst", "no-pile-up", "truncated"],
)
def test_no_restart_without_reset_evidence(seq):
    summaries = [summary({C: 1}, truncated=True) if c == "truncated" else summary(c) for c in seq]
    assert len(find_segments(summaries)) == 1


def test_stuck_ids_and_minutes_follow_the_same_goroutines():
    # GIVEN goroutine 7 blocked at A throughout, 8 moving from A to B, 9 new at A with 12 header minutes
    snaps = [
        summary({}, goroutines=[(7, A, "sync.WaitGroup.Wait", 0), (8, A, "sync.WaitGroup.Wait", 0)]),
        summary({}, goroutines=[(7, A, "sync.WaitGroup.Wait", 1), (8, B, "chan receive", 0)]),
        summary({}, goroutines=[(7, A, "sync.WaitGroup.Wait", 2), (8, A, "sync.WaitGroup.Wait", 0), (9, A, "sync.WaitGroup.Wait", 12)]),
    ]
    s = correlate("s", moments(snaps, step=timedelta(minutes=3)), (), (), Config())
    a = timeline(s, A)
    # THEN 7 counts from the second snapshot, 8 restarts its wait, 9 counts by its header
    assert a.stuck_ids == (0, 1, 2)
    assert a.stuck_minutes == (0.0, 3.0, 12.0)
    assert a.stuck_since == T0 + timedelta(minutes=6) - timedelta(minutes=12)
    assert a.max_wait_minutes == (0, 1, 12)
    assert timeline(s, B).stuck_ids == (0, 0, 0)


def test_stuck_tracking_restarts_with_the_segment():
    g = [(i, A, "sync.Mutex.Lock", 0) for i in range(100, 110)]
    snaps = [summary({}, goroutines=g), summary({}, goroutines=g), summary({}, goroutines=[(5, A, "sync.Mutex.Lock", 0)])]
    s = correlate("s", moments(snaps), (), (), Config())
    assert len(s.segments) == 2
    assert timeline(s, A).stuck_ids == (0, 10, 0)


def test_the_highest_id_falling_a_little_while_the_goroutines_stay_is_not_a_restart():
    # GIVEN the newest goroutine (id 258) exits and none starts before the next dump
    stay = [(i, A, "chan send", 0) for i in range(200, 255)]
    snaps = [summary({}, goroutines=stay + [(258, B, "select", 0)]), summary({}, goroutines=stay)]
    s = correlate("s", moments(snaps), (), (), Config())
    assert [(g.first, g.last) for g in s.segments] == [(0, 1)]


def test_leaked_from_flags_and_from_a_goroutineleak_profile():
    snaps = [summary({A: 3, B: 2}, leaked={A: 1}), summary({A: 4, B: 2}, leaked={A: 2})]
    # aggregate counts every record of a goroutineleak debug=1 profile as leaked
    leak = summary({B: 2, D: 1}, profile=PROFILE_GOROUTINELEAK, leaked={B: 2, D: 1})
    src = Source(path="s/goroutineleak.txt", fs_path="/x", series="s", format="debug1", profile=PROFILE_GOROUTINELEAK)
    s = correlate("s", moments(snaps), [(src, leak)], (), Config())
    assert timeline(s, A).leaked == 2
    assert timeline(s, B).leaked == 2
    assert timeline(s, D).leaked == 1 and timeline(s, D).counts == (0, 0)
    assert s.leak_profiles == ("s/goroutineleak.txt",)


def test_a_debug2_goroutineleak_dump_proves_only_its_flagged_goroutines():
    # GIVEN the debug=2 form: a full dump where only some goroutines say (leaked)
    snaps = [summary({A: 3, B: 2}), summary({A: 4, B: 2})]
    full = summary({}, goroutines=[(1, A, "chan send", 0), (2, B, "select", 0)], profile=PROFILE_GOROUTINELEAK, leaked={B: 1})
    src = Source(path="s/goroutineleak.debug2.txt", fs_path="/x", series="s", format="debug2", profile=PROFILE_GOROUTINELEAK)
    s = correlate("s", moments(snaps), [(src, full)], (), Config())
    assert timeline(s, A).leaked == 0
    assert timeline(s, B).leaked == 1


def test_states_created_by_and_labels_merge_over_the_series():
    cb = Frame(function="example.com/app.start", file="/src/app/app.go", line=3)
    snaps = [
        summary({A: 2}, states={A: (("chan send", 2),)}, created={A: cb}),
        summary({A: 3}, states={A: (("chan send", 2), ("select", 1))}, created={A: cb}),
    ]
    s = correlate("s", moments(snaps), (), (), Config())
    a = timeline(s, A)
    assert a.states == (("chan send", 4), ("select", 1))
    assert a.created_by == cb
    assert a.max_wait_minutes == (None, None)


# --------------------------------------------------------------- cut goroutines

WAIT = Frame(function="sync.(*WaitGroup).Wait", file="/usr/local/go/src/sync/waitgroup.go", line=206)
ONTICK = Signature(frames=(WAIT, Frame(function="example.com/app.(*Policy).OnTick", file="/src/app/policy.go", line=40)))
CUT = Signature(frames=(WAIT,))  # what is left of an OnTick goroutine when the dump is cut below its top frame
MADE = Frame(function="example.com/app.(*Scheduler).Start", file="/src/app/sched.go", line=28)


def test_the_goroutine_a_cut_went_through_makes_no_signature_of_its_own():
    # GIVEN dumps cut mid-goroutine, the last goroutine read only down to WaitGroup.Wait
    whole = [(i, ONTICK, "sync.WaitGroup.Wait", 3) for i in (10, 11, 12)]
    s = correlate(
        "s",
        moments(
            [
                summary({}, goroutines=whole + [(13, CUT, "sync.WaitGroup.Wait", 3)], truncated=True, created={ONTICK: MADE}),
                summary({}, goroutines=whole + [(13, ONTICK, "sync.WaitGroup.Wait", 4)], created={ONTICK: MADE}),
                summary({}, goroutines=whole + [(13, CUT, "sync.WaitGroup.Wait", 5)], truncated=True, created={ONTICK: MADE}),
            ]
        ),
        (),
        (),
        Config(),
    )
    # THEN the partial stack is counted at no signature, while the totals still count it
    assert not any(t.signature == CUT and any(t.counts) for t in s.timelines)
    assert timeline(s, ONTICK).counts == (3, 4, 3)
    assert s.totals == (4, 4, 4)
    # and the whole goroutines stay stuck evidence (a lower bound where one was cut)
    assert timeline(s, ONTICK).stuck_ids == (3, 4, 3)


@pytest.mark.parametrize(
    "case",
    ["not truncated", "has a created-by", "several goroutines", "a prefix of nothing"],
)
def test_a_prefix_stack_is_kept_where_it_need_not_be_the_cut_one(case):
    # GIVEN a stack that is a proper prefix of another, in a dump that...
    other = summary({ONTICK: 3}, created={ONTICK: MADE})
    if case == "not truncated":
        cur = summary({CUT: 1})
    elif case == "has a created-by":
        cur = summary({CUT: 1}, truncated=True, created={CUT: MADE})
    elif case == "several goroutines":
        cur = summary({CUT: 2}, truncated=True)
    else:
        other = summary({A: 3})
        cur = summary({CUT: 1}, truncated=True)
    # THEN it stays a signature of its own
    out = without_cut_stacks([other, cur])
    assert CUT in {sc.signature for sc in out[1].stacks}


# ------------------------------------------------------------- uncertain times


def _infos(gaps: list[float], source: str = "mtime"):
    from goroscope.model import SnapshotInfo

    t, out = T0, []
    for g in [0.0, *gaps]:
        t = t + timedelta(seconds=g)
        out.append(SnapshotInfo(time=t, time_source=source, source="d", sources=("d",), format="debug2", goroutines=1, truncated=False, crash=False))
    return out


@pytest.mark.parametrize(
    "gaps, source, uncertain",
    [
        ([0.2, 0.3], "mtime", True),  # copied or unpacked together
        ([0.2, 1.5], "mtime", False),  # one real gap: the order and spacing may be real
        ([0.2, 0.3], "name", False),  # a name's time is the dump's own
        ([0.2, 0.3], "content", False),
        ([], "mtime", False),  # one snapshot: no rate at all
    ],
)
def test_times_uncertain(gaps, source, uncertain) -> None:
    from goroscope.correlate import times_uncertain

    assert times_uncertain(_infos(gaps, source)) is uncertain


def test_mtimes_under_a_second_apart_say_time_uncertain_not_a_rate(capsys, tmp_path) -> None:
    # GIVEN three real dumps copied into a folder without their names' times, mtimes 0.2 s apart
    import json
    import os
    import shutil

    from goroscope import cli
    from helpers import REPO

    src = sorted((REPO / "tests" / "data" / "newshapes" / "series").glob("*.debug2.txt"))[:3]
    pod = tmp_path / "arch" / "pod"
    pod.mkdir(parents=True)
    base = 1_700_000_000.0
    for i, p in enumerate(src):
        dst = pod / f"dump{i}.txt"
        shutil.copyfile(p, dst)
        os.utime(dst, (base + 0.2 * i, base + 0.2 * i))
    # WHEN goroscope reports on them
    try:
        cli.main(["report", str(tmp_path / "arch"), "--format", "json,md", "--no-cache", "--output", str(tmp_path / "out"), "--name", "r"])
    except SystemExit as e:
        assert e.code in (0, None, 1), capsys.readouterr().err
    out = capsys.readouterr().out
    # THEN the series says its times are uncertain instead of printing a rate per hour
    doc = json.loads((tmp_path / "out" / "r.json").read_text())
    assert doc["series"][0]["time_uncertain"] is True
    assert [s["time_source"] for s in doc["series"][0]["snapshots"]] == ["mtime"] * 3
    assert "time uncertain" in out and "/h" not in out


# ------------------------------------------------------------ woken waiters


def test_a_worker_woken_between_snapshots_waits_anew_when_the_dump_stamps_waits():
    # GIVEN worker 7 idle at A in every snapshot 2 min apart, its header never past 0 minutes
    # (it takes a job now and then), while goroutine 3 elsewhere prints minutes: waits are stamped
    snaps = [summary({}, goroutines=[(7, A, "select", 0), (3, B, "IO wait", 2 * i)]) for i in range(6)]
    s = correlate("s", moments(snaps, step=timedelta(minutes=2)), (), (), Config())
    a = timeline(s, A)
    # THEN it is followed only while its minutes could still lag (3 min): its wait restarts
    # every time it has been followed longer, and never reaches 5 minutes
    assert a.stuck_ids == (0, 1, 0, 1, 0, 1)
    assert max(a.stuck_minutes) == 2.0


def test_a_wait_that_never_ended_keeps_its_time_when_minutes_lag_by_less_than_the_slack():
    # GIVEN goroutine 7 blocked at A, its header minutes 3 behind the time it has been followed
    snaps = [summary({}, goroutines=[(7, A, "sync.WaitGroup.Wait", max(0, 2 * i - 3))]) for i in range(6)]
    s = correlate("s", moments(snaps, step=timedelta(minutes=2)), (), (), Config())
    # THEN it stays stuck since the first snapshot
    assert timeline(s, A).stuck_minutes == (0.0, 2.0, 4.0, 6.0, 8.0, 10.0)


def test_without_stamped_waits_the_same_id_is_followed():
    # GIVEN a dump that prints no minutes on any goroutine (the runtime never stamped a wait)
    snaps = [summary({}, goroutines=[(7, A, "sync.Mutex.Lock", 0)]) for _ in range(6)]
    s = correlate("s", moments(snaps, step=timedelta(minutes=2)), (), (), Config())
    # THEN following the id is all there is: 10 minutes
    assert timeline(s, A).stuck_minutes[-1] == 10.0
