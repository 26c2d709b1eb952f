"""Grouping: parsed files into per-series snapshots, leak evidence and memory points.

Contract: `group(parsed, config) -> Grouping` turns (Source, Summary) pairs (the
Summaries may be heads, without stacks: nothing here reads them) into per-series
snapshots in time order (DESIGN.md "Snapshots"): files whose names share a stem once
format suffixes are removed (files of different forms), whose name or content
times are equal to the second (never two profiles of one file), or files of different
forms within PAIR_SECONDS of each other with no closer partner (any time: name,
content, mtime), are one Moment whose primary is the richest format (the untimed
back-to-back dumps of a file are first placed in order between its timed ones); a
crash dump is a Moment of its own; a goroutineleak profile is evidence for its
series; a heap profile is a MemoryPoint; any other profile is Skipped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import PurePosixPath

from goroscope import words
from goroscope.config import Config
from goroscope.model import (
    FORMAT_RICHNESS,
    PROFILE_GOROUTINE,
    PROFILE_GOROUTINELEAK,
    PROFILE_HEAP,
    MemoryPoint,
    Moment,
    Skipped,
    Source,
    Summary,
)
from goroscope.timestamps import is_wall_clock, place

__all__ = ["group", "Grouping", "stem_of", "time_of"]

# Name parts that say how a file is written, not which moment it is of; removed from
# the end of a name to find its stem (separated by '.', '_' or '-').
_FORMAT_WORDS = frozenset(
    {
        "txt", "text", "log", "out", "dump", "gz", "gzip", "pb", "pprof", "prof", "proto", "bin",
        "debug", "debug0", "debug1", "debug2", "debug=0", "debug=1", "debug=2",
        "debug_0", "debug_1", "debug_2", "goroutine", "goroutines", "stacks", "stack",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Grouping:
    """What group() makes of the parsed files: snapshots, evidence, memory, skips."""

    moments: dict[str, tuple[tuple[Moment, Summary], ...]]  # series id -> snapshots in time order
    leak_evidence: dict[str, tuple[tuple[Source, Summary], ...]]  # series id -> goroutineleak profiles
    memory: dict[str, tuple[MemoryPoint, ...]]  # series id -> heap in use over time
    skipped: tuple[Skipped, ...] = ()  # parsed files that are none of the above, with reasons
    notes: tuple[str, ...] = ()  # what the user should know about how the snapshots were timed
    wall: int = 0  # snapshots timed by a log's own clock (the notes say so); summed over groupings by timing_notes


def stem_of(name: str) -> str:
    """Return the stem of file name `name`: lower case, format words removed from the end
    (never the first word: `goroutines.txt` -> `goroutines`)."""
    base = PurePosixPath(name).name.lower()
    parts = re.split(r"([._-])", base)  # word, separator, word, ...
    while len(parts) >= 3 and parts[-1] in _FORMAT_WORDS:
        parts = parts[:-2]
    return "".join(parts)


def _aware(dt: datetime) -> datetime:
    """Return `dt` as an aware UTC datetime (naive = UTC)."""
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def time_of(src: Source, summary: Summary, zone: str = "UTC") -> tuple[datetime, str]:
    """Return (time, time_source) of one file: its name, else its content, else its mtime.

    A content time read from a log's wall clock (timestamps.log_time: journald, syslog,
    Kibana) is in `zone`, in the year of the file's mtime when it names none."""
    if summary.time is not None and (src.part is not None or src.name_time is None):
        return place(summary.time, src.mtime, zone), "content"  # one of several profiles in a file: its own time first
    # one of several untimed profiles in a file: the file's time, in file order
    order = timedelta(microseconds=src.part - 1) if src.part is not None else timedelta(0)
    if src.name_time is not None:
        return _aware(src.name_time) + order, "name"
    return datetime.fromtimestamp(src.mtime, timezone.utc) + order, "mtime"


_TIME_SOURCE_RANK = {"name": 0, "content": 1, "mtime": 2}


def group(parsed: Sequence[tuple[Source, Summary]], config: Config) -> Grouping:
    """Group parsed files into per-series snapshots, leak evidence and memory points."""
    zone = config.discovery.timezone
    skipped: list[Skipped] = []
    snaps: dict[str, list[tuple[Source, Summary]]] = {}
    evidence: dict[str, list[tuple[Source, Summary]]] = {}
    memory: dict[str, list[MemoryPoint]] = {}
    for src, summary in sorted(parsed, key=lambda p: p[0].path):
        profile = summary.profile
        if profile == PROFILE_GOROUTINELEAK or src.profile == PROFILE_GOROUTINELEAK:
            evidence.setdefault(src.series, []).append((src, summary))
        elif profile == PROFILE_HEAP:
            if summary.heap_inuse_bytes is None:
                skipped.append(Skipped(path=src.path, reason="a heap profile without in-use bytes: not used"))
                continue
            t, _ = time_of(src, summary, zone)
            memory.setdefault(src.series, []).append(MemoryPoint(time=t, inuse_bytes=summary.heap_inuse_bytes, source=src.path))
        elif profile == PROFILE_GOROUTINE and summary.format in FORMAT_RICHNESS:
            snaps.setdefault(src.series, []).append((src, summary))
        else:
            skipped.append(Skipped(path=src.path, reason=words.unused_profile(profile)))
    moments = {series: tuple(_moments(series, items, zone)) for series, items in snaps.items()}
    wall = sum(1 for items in snaps.values() for src, sm in items if sm.time is not None and is_wall_clock(sm.time) and (src.part is not None or src.name_time is None))
    return Grouping(
        moments=moments,
        leak_evidence={
            s: tuple(sorted(items, key=lambda p: (time_of(*p, zone)[0], p[0].path))) for s, items in evidence.items()
        },
        memory={s: tuple(sorted(points, key=lambda p: (p.time, p.source))) for s, points in memory.items()},
        skipped=tuple(skipped),
        notes=timing_notes(wall, zone),
        wall=wall,
    )


def timing_notes(wall: int, zone: str) -> tuple[str, ...]:
    """Return the notes on how snapshots were timed: `wall` of them by a log's own clock, read in `zone`."""
    return (words.wall_clock_note(wall, zone),) if wall else ()


# Files of different forms taken within this many seconds of each other, each the
# other's closest, are one moment (a person saving debug=2 and then debug=1 from a
# browser, names without a time or a shared stem).
PAIR_SECONDS = 5.0


def _moments(series: str, items: list[tuple[Source, Summary]], zone: str = "UTC") -> list[tuple[Moment, Summary]]:
    """Return the Moments of one series (unordered pairs in, time order out)."""
    out: list[tuple[Moment, Summary]] = []
    merge = [p for p in items if not (p[0].crash or p[1].crash)]
    for src, summary in items:
        if src.crash or summary.crash:
            t, ts = time_of(src, summary, zone)
            out.append(
                (
                    Moment(series=series, time=t, time_source=ts, primary=src, sources=(src,), format=summary.format, crash=True),
                    summary,
                )
            )
    # union-find over the mergeable files: same stem, the same second (name/content
    # times), or the closest times of two forms (PAIR_SECONDS)
    parent = list(range(len(merge)))

    def find(i: int) -> int:
        """Return the representative of file i."""
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        """Put files i and j in one moment."""
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    times = _by_order([time_of(src, summary, zone) for src, summary in merge], merge)
    by_stem: dict[str, list[int]] = {}
    by_second: dict[int, int] = {}
    for i, (src, summary) in enumerate(merge):
        by_stem.setdefault(stem_of(src.path), []).append(i)
        t, ts = times[i]
        if ts != "mtime" and src.part is None:  # profiles of one file are moments of their own
            sec = int(t.timestamp() // 1)
            if sec in by_second:
                union(i, by_second[sec])
            else:
                by_second[sec] = i
    for members in by_stem.values():
        # a shared stem joins the forms of one moment; when one form occurs twice
        # (`dump.txt` beside a rotated `dump.txt.gz`) the stem says nothing
        if len({merge[i][1].format for i in members}) == len(members):
            for i in members[1:]:
                union(members[0], i)
    _pair_by_time(merge, times, find, union)
    clusters: dict[int, list[int]] = {}
    for i in range(len(merge)):
        clusters.setdefault(find(i), []).append(i)
    for idx in clusters.values():
        idx.sort(key=lambda i: (FORMAT_RICHNESS[merge[i][1].format], merge[i][1].truncated, -merge[i][1].total, merge[i][0].path))
        primary, summary = merge[idx[0]]
        t, ts = times[idx[0]]
        best = min((times[i] for i in idx), key=lambda x: _TIME_SOURCE_RANK[x[1]])
        if _TIME_SOURCE_RANK[best[1]] < _TIME_SOURCE_RANK[ts]:
            t, ts = best
        moment = Moment(
            series=series,
            time=t,
            time_source=ts,
            primary=primary,
            sources=tuple(merge[i][0] for i in idx),
            format=summary.format,
        )
        out.append((moment, summary))
    out.sort(key=lambda p: (p[0].time, p[0].crash, p[0].primary.path))
    return out


def _by_order(times: list[tuple[datetime, str]], items: list[tuple[Source, Summary]]) -> list[tuple[datetime, str]]:
    """Return `times` with the untimed back-to-back dumps of a file placed by their order between its
    timed ones (content times), the last written at the file's mtime: a dump with no time of its own
    beside dumps that have one (a marker line before some only) lies between them, not at the mtime."""
    files: dict[tuple[str, str | None], list[int]] = {}
    for i, (src, _) in enumerate(items):
        if src.part is not None:
            files.setdefault((src.fs_path, src.member), []).append(i)
    out = list(times)
    for idx in files.values():
        idx.sort(key=lambda i: items[i][0].part or 0)
        anchors = [(n, times[i][0]) for n, i in enumerate(idx) if times[i][1] == "content"]
        if not anchors or len(anchors) == len(idx):
            continue  # no dump of the file timed (the file's time in order), or each is
        last = len(idx) - 1
        if anchors[-1][0] != last:
            mtime = datetime.fromtimestamp(items[idx[last]][0].mtime, timezone.utc)
            if mtime > anchors[-1][1]:
                anchors.append((last, mtime))  # the file was last written with its last dump
        for (a, ta), (b, tb) in zip(anchors, anchors[1:]):
            source = "content" if b != last or times[idx[b]][1] == "content" else "mtime"
            for n in range(a + 1, b):
                out[idx[n]] = (ta + (tb - ta) * ((n - a) / (b - a)), source)
        if anchors[-1][0] == last and times[idx[last]][1] != "content":
            out[idx[last]] = (anchors[-1][1], "mtime")
        first, t0 = anchors[0]
        for n in range(first):
            out[idx[n]] = (t0 - timedelta(microseconds=first - n), "mtime")  # before the first time known: only the order
    return out


def _pair_by_time(merge: list[tuple[Source, Summary]], times: list[tuple[datetime, str]], find, union) -> None:
    """Join the moments (so far) of different forms whose times are PAIR_SECONDS apart at most, each
    the other's one closest (a tie pairs nothing: copied files share one mtime); never two files
    of one form in a moment, never one of a file's back-to-back dumps."""
    for _ in range(len(FORMAT_RICHNESS)):  # a third form joins a pair on a later round
        groups: dict[int, list[int]] = {}
        for i, (src, _) in enumerate(merge):
            groups.setdefault(find(i), []).append(i)
        cands = []
        for root, idx in groups.items():
            if any(merge[i][0].part is not None for i in idx):
                continue
            when = min(times[i][0] for i in idx).timestamp()
            cands.append((when, root, frozenset(merge[i][1].format for i in idx)))
        if len(cands) < 2:
            return
        cands.sort()
        closest: dict[int, tuple[float, int | None]] = {}  # root -> (distance, the one closest root; None on a tie)
        for a, (ta, ra, fa) in enumerate(cands):
            best: tuple[float, int | None] = (PAIR_SECONDS + 1, None)
            for step in (-1, 1):
                b = a + step
                while 0 <= b < len(cands) and abs(cands[b][0] - ta) <= PAIR_SECONDS:
                    tb, rb, fb = cands[b]
                    if not (fa & fb):
                        d = abs(tb - ta)
                        if d < best[0]:
                            best = (d, rb)
                        elif d == best[0]:
                            best = (d, None)
                    b += step
            closest[ra] = best
        joined = False
        for ra, (d, rb) in closest.items():
            if rb is not None and ra < rb and closest.get(rb, (0, None))[1] == ra:
                union(ra, rb)
                joined = True
        if not joined:
            return
