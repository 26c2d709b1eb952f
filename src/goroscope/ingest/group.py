"""Grouping: parsed files into per-series snapshots, leak evidence and memory points.

Contract: `group(parsed, config) -> Grouping` turns (Source, Summary) pairs (the
Summaries may be heads, without stacks: nothing here reads them) into per-series
snapshots in time order (DESIGN.md "Snapshots"): files whose names share a stem once
format suffixes are removed (files of different forms), or whose name or content
times are equal to the second (never two profiles of one file), are one Moment whose
primary is the richest format; a
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


def time_of(src: Source, summary: Summary) -> tuple[datetime, str]:
    """Return (time, time_source) of one file: its name, else its content, else its mtime."""
    if summary.time is not None and (src.part is not None or src.name_time is None):
        return _aware(summary.time), "content"  # one of several profiles in a file: its own time first
    # one of several untimed profiles in a file: the file's time, in file order
    order = timedelta(microseconds=src.part - 1) if src.part is not None else timedelta(0)
    if src.name_time is not None:
        return _aware(src.name_time) + order, "name"
    return datetime.fromtimestamp(src.mtime, timezone.utc) + order, "mtime"


_TIME_SOURCE_RANK = {"name": 0, "content": 1, "mtime": 2}


def group(parsed: Sequence[tuple[Source, Summary]], config: Config) -> Grouping:
    """Group parsed files into per-series snapshots, leak evidence and memory points."""
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
            t, _ = time_of(src, summary)
            memory.setdefault(src.series, []).append(MemoryPoint(time=t, inuse_bytes=summary.heap_inuse_bytes, source=src.path))
        elif profile == PROFILE_GOROUTINE and summary.format in FORMAT_RICHNESS:
            snaps.setdefault(src.series, []).append((src, summary))
        else:
            skipped.append(Skipped(path=src.path, reason=words.unused_profile(profile)))
    moments = {series: tuple(_moments(series, items)) for series, items in snaps.items()}
    return Grouping(
        moments=moments,
        leak_evidence={
            s: tuple(sorted(items, key=lambda p: (time_of(*p)[0], p[0].path))) for s, items in evidence.items()
        },
        memory={s: tuple(sorted(points, key=lambda p: (p.time, p.source))) for s, points in memory.items()},
        skipped=tuple(skipped),
    )


def _moments(series: str, items: list[tuple[Source, Summary]]) -> list[tuple[Moment, Summary]]:
    """Return the Moments of one series (unordered pairs in, time order out)."""
    out: list[tuple[Moment, Summary]] = []
    merge = [p for p in items if not (p[0].crash or p[1].crash)]
    for src, summary in items:
        if src.crash or summary.crash:
            t, ts = time_of(src, summary)
            out.append(
                (
                    Moment(series=series, time=t, time_source=ts, primary=src, sources=(src,), format=summary.format, crash=True),
                    summary,
                )
            )
    # union-find over the mergeable files: same stem, or the same second (name/content times)
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

    by_stem: dict[str, list[int]] = {}
    by_second: dict[int, int] = {}
    for i, (src, summary) in enumerate(merge):
        by_stem.setdefault(stem_of(src.path), []).append(i)
        t, ts = time_of(src, summary)
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
    clusters: dict[int, list[tuple[Source, Summary]]] = {}
    for i, pair in enumerate(merge):
        clusters.setdefault(find(i), []).append(pair)
    for members in clusters.values():
        members.sort(key=lambda p: (FORMAT_RICHNESS[p[1].format], p[1].truncated, -p[1].total, p[0].path))
        primary, summary = members[0]
        timed = sorted(
            (time_of(s, sm) for s, sm in members),
            key=lambda x: _TIME_SOURCE_RANK[x[1]],
        )
        t, ts = time_of(primary, summary)
        if _TIME_SOURCE_RANK[timed[0][1]] < _TIME_SOURCE_RANK[ts]:
            t, ts = timed[0]
        moment = Moment(
            series=series,
            time=t,
            time_source=ts,
            primary=primary,
            sources=tuple(s for s, _ in members),
            format=summary.format,
        )
        out.append((moment, summary))
    out.sort(key=lambda p: (p[0].time, p[0].crash, p[0].primary.path))
    return out
