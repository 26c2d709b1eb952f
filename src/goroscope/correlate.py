"""Per-series timelines: follow every signature across a series' snapshots.

Contract: `correlate(series_id, moments, leak_evidence, memory, config) -> Series`.

- `moments` are the (Moment, Summary of its primary file) pairs of one series; they
  are put in time order and each becomes a SnapshotInfo.
- Restarts split the series into segments (DESIGN.md "Series"): goroutine ids are
  never reused within a process, so the highest id falling means a new process; for
  forms without ids (debug=1, protobuf) a restart shows as the total collapsing while
  the signatures that had been piling up reset together. A truncated snapshot's
  counts and ids are lower bounds: it never starts a segment on its own evidence
  and never reads as a drop. The one goroutine its cut went through (a stack that
  is a proper prefix of another signature, no created-by) is counted at no
  signature, so that it does not make a leak site of its own.
- One Timeline per signature: counts at every snapshot (absent = 0), lower-bound
  flags, states, created-by and labels merged over the series, the most goroutines
  proven leaked at one moment (a `(leaked)` flag, or a goroutineleak profile of the
  series), the longest header wait per snapshot, and stuck evidence followed by
  goroutine id within each segment: how many goroutines of the signature have been
  blocked at it since an earlier snapshot (or say `N minutes` in their header), and
  the longest such wait, `max(header minutes, minutes since first seen here)`. Where
  the dump prints wait minutes at all, a goroutine whose own minutes are well below
  the time it has been followed was woken in between (an idle worker that took a job
  and came back to wait): its wait starts again.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone

from goroscope.config import Config
from goroscope.model import (
    EVIDENCE_IDS,
    PROFILE_GOROUTINELEAK,
    Frame,
    LastRow,
    MemoryPoint,
    Moment,
    Segment,
    Series,
    SeriesDigest,
    Signature,
    SnapshotInfo,
    Source,
    Summary,
    Timeline,
)

__all__ = ["correlate", "digest", "digest_of", "trimmed", "LAST_ROWS", "find_segments", "without_cut_stacks", "RESET_TOTAL_DROP", "RESET_GROWTH_LOST", "RESET_MIN_RUN"]

# Forms without ids: a restart is read when the total falls by at least this share...
RESET_TOTAL_DROP = 0.3
# ...and the signatures that had piled up lose at least this share of their growth.
RESET_GROWTH_LOST = 0.75
# A signature "piled up" when it gained at least this many goroutines in the segment.
RESET_MIN_GROWTH = 3
# ...each present in at least this many snapshots in a row before the reset.
RESET_MIN_RUN = 3
# Same-process evidence when the highest id falls a little: this share of the
# goroutines were already there.
SAME_PROCESS_OVERLAP = 0.5
# How far a goroutine's header minutes may lag behind a wait that never ended. The
# runtime stamps a wait's start at the first GC after the goroutine blocked (GC runs
# at least every 2 minutes: runtime.forcegcperiod) and prints whole minutes, so a
# goroutine blocked since t0 prints at least (now - t0) - 3 minutes. One that prints
# fewer was woken in between and blocks anew: the same id is not the same wait.
WAIT_STAMP_SLACK_MINUTES = 3.0


def correlate(
    series_id: str,
    moments: Sequence[tuple[Moment, Summary]],
    leak_evidence: Sequence[tuple[Source, Summary]],
    memory: Sequence[MemoryPoint],
    config: Config,
) -> Series:
    """Return the Series of `moments`: snapshots, restart segments and one Timeline per signature."""
    ordered = sorted(moments, key=lambda ms: ms[0].time)
    summaries = [s for _, s in ordered]
    times = [m.time for m, _ in ordered]
    snapshots = tuple(_snapshot_info(m, s) for m, s in ordered)
    totals = tuple(max(s.total, s.header_total or 0) for s in summaries)
    summaries = without_cut_stacks(summaries)
    segments = find_segments(summaries)
    timelines = _timelines(summaries, times, segments, leak_evidence)
    from goroscope.ingest.group import time_of

    # when each goroutineleak profile ran (by the same rule as a snapshot's time), for the charts
    when = {
        src.path: time_of(src, summ, config.discovery.timezone)[0]
        for src, summ in leak_evidence
        if summ.profile == PROFILE_GOROUTINELEAK or src.profile == PROFILE_GOROUTINELEAK
    }
    leak_profiles = tuple(sorted(when))
    return Series(
        digest=digest_of(timelines, config),
        id=series_id,
        snapshots=snapshots,
        segments=segments,
        memory=tuple(sorted(memory, key=lambda p: p.time)),
        timelines=timelines,
        totals=totals,
        leak_profiles=leak_profiles,
        leak_profile_times=tuple(when[p] for p in leak_profiles),
        time_uncertain=times_uncertain(snapshots, [m.primary.part is not None for m, _ in ordered]),
    )


# ------------------------------------------------------------------- digest

# The signatures of a series' last snapshot its digest lists (the HTML's all-signatures
# table shows at most this many: a 200k-goroutine dump has thousands).
LAST_ROWS = 300


def digest_of(timelines: Sequence[Timeline], config: Config) -> SeriesDigest:
    """Return what the reports read of every one of `timelines` (a series'): states, label sets, the last snapshot's rows."""
    from goroscope.signature import leak_site

    options = config.signature_options()
    states: Counter[str] = Counter()
    label_sets: dict = {}
    for t in timelines:
        for st, n in t.states:
            states[st] += n
        for ls, _ in t.labels:
            label_sets[ls] = None
    present = sorted((t for t in timelines if t.counts and t.counts[-1] > 0), key=lambda t: (-t.counts[-1], t.signature.key()))
    last = []
    for t in present[:LAST_ROWS]:
        st = t.states_last or t.states
        site = leak_site(t.signature.frames, options)
        last.append(LastRow(function=site.function if site else None, location=site.location if site else None,
                            count=t.counts[-1], state=st[0][0] if st else None, signature=t.signature))
    return SeriesDigest(
        states=tuple(sorted(states.items(), key=lambda kv: (-kv[1], kv[0]))), label_sets=tuple(label_sets), last=tuple(last), present=len(present),
    )


def digest(series: Series, config: Config) -> SeriesDigest:
    """Return the digest of `series`: as correlate() made it, else (a Series built by hand) read from its timelines."""
    return series.digest if series.digest is not None else digest_of(series.timelines, config)


def trimmed(series: Series, keep: set[Signature], config: Config) -> Series:
    """Return `series` holding only the timelines of `keep` (what its reports show: suspects, parked and stable sets),
    with its digest, whose rows name their signature only where it is kept."""
    d = digest(series, config)
    last = tuple(r if r.signature is None or r.signature in keep else replace(r, signature=None) for r in d.last)
    return replace(series, digest=replace(d, last=last), timelines=tuple(t for t in series.timelines if t.signature in keep))


# Snapshots a person or a cron job takes are seconds apart at least; file mtimes
# closer than this tell when the files were written out (a copy, an unpacked
# archive), not when the dumps were taken.
UNCERTAIN_GAP_SECONDS = 1.0


def times_uncertain(snapshots: Sequence[SnapshotInfo], parts: Sequence[bool] = ()) -> bool:
    """Return whether `snapshots` (time order) are timed under UNCERTAIN_GAP_SECONDS apart by
    what does not say when they were taken: file mtimes, or (`parts[i]`: one of a file's
    back-to-back profiles) the file's own time plus the profile's order."""
    if len(snapshots) < 2:
        return False
    for i, s in enumerate(snapshots):
        part = i < len(parts) and parts[i]
        if not (s.time_source == "mtime" or (part and s.time_source != "content")):
            return False
    return all((b.time - a.time).total_seconds() < UNCERTAIN_GAP_SECONDS for a, b in zip(snapshots, snapshots[1:]))


def _snapshot_info(moment: Moment, summary: Summary) -> SnapshotInfo:
    """Return the SnapshotInfo of one moment."""
    problems = tuple(f"line {p.line}: {p.message}" if p.line is not None else p.message for p in summary.problems)
    return SnapshotInfo(
        time=moment.time,
        time_source=moment.time_source,
        source=moment.primary.path,
        sources=tuple(s.path for s in moment.sources),
        format=moment.format,
        goroutines=max(summary.total, summary.header_total or 0),
        truncated=summary.truncated,
        crash=summary.crash or moment.crash,
        go_version=summary.go_version,
        problems=problems,
    )


# ----------------------------------------------------------- cut goroutines


def without_cut_stacks(summaries: Sequence[Summary]) -> list[Summary]:
    """Return `summaries` with, in each truncated one, the stack the cut went through left out.

    A dump cut mid-goroutine ends with one goroutine whose stack is only its top
    frames: a proper prefix of its real signature, with no `created by` read. Counted
    as a signature of its own it would put a leak site in the wrong function (the
    standard library's WaitGroup.Wait rather than the caller that waits). So, in a
    truncated summary, a single goroutine with no created-by whose frames are a
    proper prefix of another signature seen in the series is not counted at any
    signature (the snapshot's total still counts it). A goroutine of a complete
    stack always has a created-by except the main one, whose stack nothing extends.
    """
    if not any(s.truncated for s in summaries):
        return list(summaries)
    # the keys of every proper prefix of every signature (a key is one frame a line),
    # each distinct signature once: hundreds of snapshots share most of them
    signatures = {sc.signature for summ in summaries for sc in summ.stacks}
    prefixes: set[str] = set()
    for sig in signatures:
        key = sig.key()
        if key:
            prefixes.add("")
        at = key.find("\n")
        while at >= 0:
            prefixes.add(key[:at])
            at = key.find("\n", at + 1)
    out = []
    for summ in summaries:
        if not summ.truncated:
            out.append(summ)
            continue
        keep = tuple(
            sc for sc in summ.stacks if not (sc.count == 1 and sc.created_by is None and sc.signature.key() in prefixes)
        )
        out.append(summ if len(keep) == len(summ.stacks) else replace(summ, stacks=keep))
    return out


# ------------------------------------------------------------------- restarts


def _ids(summary: Summary) -> set[int]:
    """Return the goroutine ids of a summary."""
    return set().union(*(sc.ids for sc in summary.stacks))


def _restart_by_ids(prev: Summary, cur: Summary) -> bool | None:
    """Return whether ids say a restart happened between prev and cur; None if ids cannot tell.

    Ids are never reused within a process, so the highest id falling is the sign; but
    it also falls a little when the newest goroutines exit and none start, and a
    truncated dump may have lost its highest ids. So a fall counts when it is deep
    (below half), or when most goroutines of `cur` were not there before.
    """
    if prev.max_id is None or cur.max_id is None:
        return None
    if cur.max_id >= prev.max_id:
        return False
    if cur.max_id < 0.5 * prev.max_id and not cur.truncated:
        return True
    ids = _ids(cur)
    if not ids:
        return not cur.truncated
    shared = len(ids & _ids(prev)) / len(ids)
    return shared < SAME_PROCESS_OVERLAP


def _counts_of(summary: Summary) -> dict[Signature, int]:
    """Return signature -> count of a summary."""
    return {sc.signature: sc.count for sc in summary.stacks}


def _restart_by_counts(prev: Summary, lows: dict[Signature, int], runs: dict[Signature, int], cur: Summary) -> bool:
    """Return whether the total collapsed with the piled-up signatures resetting (forms without ids).

    `lows` holds each signature's lowest count in the segment so far (absent = 0),
    `runs` how many snapshots in a row it has been present up to `prev`.
    """
    if cur.truncated:
        return False
    cur_total = max(cur.total, cur.header_total or 0)
    prev_total = max(prev.total, prev.header_total or 0)
    if prev_total <= 0 or cur_total > (1.0 - RESET_TOTAL_DROP) * prev_total:
        return False
    now = _counts_of(cur)
    grown = []
    for sc in prev.stacks:
        low = lows.get(sc.signature, 0)
        if sc.count - low >= RESET_MIN_GROWTH:
            grown.append((sc.signature, sc.count - low, low))
    gained = sum(g for _, g, _ in grown)
    if not grown or gained < 0.25 * prev_total:
        return False
    kept = sum(max(0, min(now.get(sig, 0) - low, g)) for sig, g, low in grown)
    if kept > (1.0 - RESET_GROWTH_LOST) * gained:
        return False
    reset = [
        sig
        for sig, g, low in grown
        if now.get(sig, 0) - low <= (1 - RESET_GROWTH_LOST) * g and runs.get(sig, 0) >= RESET_MIN_RUN
    ]
    # one signature draining at once may be a batch finishing, and a burst piles up
    # for a snapshot or two: a restart resets several long-present signatures at once
    return len(reset) >= 2


def _update_lows(lows: dict[Signature, int], runs: dict[Signature, int], summary: Summary, first: bool) -> None:
    """Lower `lows` to the counts of `summary` (signatures absent from it fall to 0); count presence runs."""
    now = _counts_of(summary)
    if first:
        lows.clear()
        lows.update(now)
        runs.clear()
        runs.update({sig: 1 for sig, c in now.items() if c > 0})
        return
    for sig in list(runs):
        if now.get(sig, 0) <= 0:
            del runs[sig]
    for sig, c in now.items():
        if c > 0:
            runs[sig] = runs.get(sig, 0) + 1
    for sig in list(lows):
        if sig not in now:
            lows[sig] = 0
    for sig, c in now.items():
        lows[sig] = min(lows.get(sig, 0), c) if sig in lows else 0


def find_segments(summaries: Sequence[Summary]) -> tuple[Segment, ...]:
    """Return the restart segments of summaries in time order (inclusive indices)."""
    if not summaries:
        return ()
    starts = [0]
    seg_start = 0
    last_with_ids: int | None = 0 if summaries[0].max_id is not None else None
    last_whole: int | None = None  # the last snapshot of the segment that was not truncated
    lows: dict[Signature, int] = {}
    runs: dict[Signature, int] = {}
    # counts tell a restart only where ids cannot (_restart_by_ids gives None): with ids in
    # every snapshot, the lows and runs _restart_by_counts reads are never needed
    counted = any(s.max_id is None for s in summaries)
    if not summaries[0].truncated:
        last_whole = 0
        if counted:
            _update_lows(lows, runs, summaries[0], True)
    for i in range(1, len(summaries)):
        cur = summaries[i]
        restart = None
        if cur.max_id is not None and last_with_ids is not None and last_with_ids >= seg_start:
            restart = _restart_by_ids(summaries[last_with_ids], cur)
        if restart is None:
            restart = last_whole is not None and _restart_by_counts(summaries[last_whole], lows, runs, cur)
        if restart:
            starts.append(i)
            seg_start = i
            last_whole = None
        if not cur.truncated:
            if counted:
                _update_lows(lows, runs, cur, last_whole is None)
            last_whole = i
        if cur.max_id is not None:
            last_with_ids = i
    ends = starts[1:] + [len(summaries)]
    return tuple(Segment(first=a, last=b - 1) for a, b in zip(starts, ends))


# ------------------------------------------------------------------ timelines


class _Acc:
    """What one signature gathers over a series."""

    __slots__ = ("counts", "states", "created", "labels", "leaked", "waits", "stuck_ids", "stuck_minutes", "stuck_since",
                 "states_last", "labels_last", "kept", "last_seen", "last_ids")

    def __init__(self, n: int) -> None:
        self.counts = [0] * n
        self.states: Counter[str] = Counter()
        self.created: Counter[Frame] = Counter()
        self.labels: Counter[tuple] = Counter()
        self.leaked = 0
        self.waits: list[int | None] = [None] * n
        self.stuck_ids = [0] * n
        self.stuck_minutes = [0.0] * n
        self.stuck_since: datetime | None = None
        self.states_last: Counter[str] = Counter()  # in the last snapshot only
        self.labels_last: Counter[tuple] = Counter()
        self.kept = [0] * n  # goroutines whose id was here in the previous snapshot with ids, woken or not
        self.last_seen = -1  # the last snapshot holding it
        self.last_ids: Sequence[int] = ()  # its ids there (a summary's own tuple, not copied)


def _timelines(
    summaries: Sequence[Summary],
    times: Sequence[datetime],
    segments: Sequence[Segment],
    leak_evidence: Sequence[tuple[Source, Summary]],
) -> tuple[Timeline, ...]:
    """Return one Timeline per signature seen in the series or in its leak evidence."""
    n = len(summaries)
    accs: dict[Signature, _Acc] = {}

    def acc(sig: Signature) -> _Acc:
        a = accs.get(sig)
        if a is None:
            a = accs[sig] = _Acc(n)
        return a

    for i, summ in enumerate(summaries):
        for sc in summ.stacks:
            a = acc(sc.signature)
            a.counts[i] += sc.count
            if sc.count:
                if a.last_seen != i:
                    a.last_ids = ()
                a.last_seen = i
                if sc.ids:
                    a.last_ids = sc.ids if not a.last_ids else (*a.last_ids, *sc.ids)
            last = i == n - 1
            for state, c in sc.states:
                a.states[state] += c
                if last:
                    a.states_last[state] += c
            if sc.created_by is not None:
                a.created[sc.created_by] += sc.count
            for labelset, c in sc.labels:
                a.labels[labelset] += c
                if last:
                    a.labels_last[labelset] += c
            a.leaked = max(a.leaked, sc.leaked)
            if sc.max_wait_minutes is not None:
                prev = a.waits[i]
                a.waits[i] = sc.max_wait_minutes if prev is None else max(prev, sc.max_wait_minutes)
    for _src, summ in leak_evidence:
        for sc in summ.stacks:
            # aggregate counts a goroutineleak profile's records as leaked, and in text
            # forms the goroutines flagged `(leaked)`: a debug=2 goroutineleak dump
            # lists every goroutine, and only the flagged ones are proven
            proven = sc.leaked
            if proven:
                a = acc(sc.signature)
                a.leaked = max(a.leaked, proven)
                if sc.created_by is not None and not a.created:
                    a.created[sc.created_by] += sc.count
                for state, c in sc.states:
                    if not a.states:
                        a.states[state] += c

    comparable = _follow_ids(summaries, times, segments, acc)

    lower = tuple(s.truncated for s in summaries)
    out = []
    for sig, a in accs.items():
        out.append(
            Timeline(
                signature=sig,
                counts=tuple(a.counts),
                lower_bound=lower,
                states=tuple(sorted(a.states.items(), key=lambda kv: (-kv[1], kv[0]))),
                created_by=_most_common(a.created),
                labels=tuple(sorted(a.labels.items(), key=lambda kv: (-kv[1], kv[0]))),
                states_last=tuple(sorted(a.states_last.items(), key=lambda kv: (-kv[1], kv[0]))),
                labels_last=tuple(sorted(a.labels_last.items(), key=lambda kv: (-kv[1], kv[0]))),
                leaked=a.leaked,
                max_wait_minutes=tuple(a.waits),
                stuck_ids=tuple(a.stuck_ids),
                stuck_minutes=tuple(a.stuck_minutes),
                stuck_since=a.stuck_since,
                kept_ids=tuple(k if c else -1 for k, c in zip(a.kept, comparable)),
                last_seen=a.last_seen,
                last_ids=tuple(heapq.nsmallest(EVIDENCE_IDS, a.last_ids)),
            )
        )
    out.sort(key=lambda t: (-max(t.counts, default=0), t.signature.key()))
    return tuple(out)


def _most_common(counter: Counter) -> Frame | None:
    """Return the most common key of `counter` (ties: the smallest location), or None."""
    if not counter:
        return None
    return min(counter.items(), key=lambda kv: (-kv[1], kv[0].function, kv[0].file, kv[0].line))[0]


def _follow_ids(summaries: Sequence[Summary], times: Sequence[datetime], segments: Sequence[Segment], acc) -> list[bool]:
    """Fill the stuck evidence of every signature by following goroutine ids within segments; return,
    per snapshot, whether its ids were compared with a previous snapshot's (both whole, in one segment).

    Every signature also counts the goroutines whose id it held in the previous snapshot
    with ids (`kept`), woken since or not: what a leak keeps and short-lived goroutines
    never do.

    A goroutine is stuck at a signature when it was seen blocked there in an earlier
    snapshot of the segment, or its header already prints minutes; its wait is the
    larger of those minutes and the time since it was first seen there, unless the
    dump stamps waits and its minutes fall short of that time by more than
    WAIT_STAMP_SLACK_MINUTES (it was woken and blocked again: the wait restarts). Times are
    epoch seconds and the work is per signature, so hundreds of thousands of
    goroutines cost a fraction of a second.
    """
    comparable = [False] * len(summaries)
    slack = 60.0 * WAIT_STAMP_SLACK_MINUTES
    for seg in segments:
        # signature -> {goroutine id: since when it is known blocked there (epoch s)}
        track: dict[Signature, dict[int, float]] = {}
        previous: Summary | None = None  # the last snapshot with ids in this segment
        for i in range(seg.first, seg.last + 1):
            summ = summaries[i]
            if summ.max_id is None:
                continue  # a form without ids says nothing about who is still there
            comparable[i] = previous is not None and not previous.truncated and not summ.truncated
            previous = summ
            t = times[i].timestamp()
            stamped = _stamps_waits(summ)
            seen: dict[Signature, dict[int, float]] = {}
            for sc in summ.stacks:
                if not sc.ids:
                    continue
                sig = sc.signature
                get = track.get(sig, _EMPTY).get
                here: dict[int, float] = {}
                stuck = 0
                oldest = t
                kept = 0
                for gid, wait in zip(sc.ids, sc.waits):
                    since = t - 60.0 * wait
                    prev = get(gid)
                    if prev is not None:
                        kept += 1
                        # its own minutes say it was woken since (wait < minutes followed - slack): a new wait
                        if not (stamped and prev < since - slack):
                            if prev < since:
                                since = prev
                            here[gid] = since
                            stuck += 1
                            if since < oldest:
                                oldest = since
                            continue
                    here[gid] = since
                    if wait >= 1:
                        stuck += 1
                        if since < oldest:
                            oldest = since
                seen[sig] = here
                if kept:
                    acc(sig).kept[i] += kept
                if stuck:
                    a = acc(sig)
                    a.stuck_ids[i] += stuck
                    a.stuck_minutes[i] = max(a.stuck_minutes[i], round((t - oldest) / 60.0, 2))
                    a.stuck_since = datetime.fromtimestamp(oldest, timezone.utc)  # the latest snapshot's oldest wins
            if summ.truncated:
                # ids missing from a truncated dump may just be past its end
                for sig, here in seen.items():
                    track[sig] = {**track.get(sig, _EMPTY), **here}
            else:
                track = seen
    return comparable


_EMPTY: dict[int, float] = {}


def _stamps_waits(summary: Summary) -> bool:
    """Return True when some goroutine of the dump prints its wait minutes (the runtime stamps waits)."""
    return any(sc.waits and max(sc.waits) >= 1 for sc in summary.stacks)
