"""Incremental runs: what a rerun reads back from the cache, and when.

Contract (used by pipeline.analyze; every record typed):

- `ParsedFile`: one parsed file as a run holds it, the head of its Summary (what
  ingest.group reads) and its stacks on demand: kept from parsing, decoded from the
  cache, or parsed again.
- `cached_heads(sources, cache, config_digest) -> (files, todo)`: the files whose
  summaries the cache holds (looked up by head only, stacks not decoded) and the
  sources left to parse.
- `correlate_all(archive, files, config, window, cache, parse) -> Correlated`:
  groups the files into series (ingest.group) and correlates each series in the
  time `window`, taking a series' Series from the cache when its key
  (`series_key`) is found, so that its Summaries are never decoded; only the series
  of a new or changed file decode (or parse, with `parse`) theirs and are correlated
  again and memoised. When a cached entry proves unreadable and its file now parses
  to another head (or not at all), the files are grouped again with what it parsed
  to: `Correlated.files` and `.skipped` say what the run ended with.
- `SeriesStream`: the same, one series at a time as its last file is parsed, each
  series' Summaries dropped once it is correlated (memory follows the largest
  series, not the archive).

A series key is a digest of everything correlate() reads: each file by its content
hash, the moments and evidence by every field correlation reads, the memory points,
and `key_base()`: the tool (version, cache schema, model fields), a digest of
correlate.py's source and the config. rank() then runs over every Series, as on a
cold run, so cold, cached and --no-cache runs give the same report. A series whose
files did not change at all never gets here on a rerun: pipeline.recall_key takes it
whole, by its files' stat, before their heads are read.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from goroscope import __version__
from goroscope.codec import head_of
from goroscope.config import Config
from goroscope.ingest.group import Grouping
from goroscope.ingest.store import is_url
from goroscope.model import MemoryPoint, Moment, Series, Signature, Skipped, Source, Summary

if TYPE_CHECKING:
    from goroscope.cache import Hit, SummaryCache

__all__ = ["ParsedFile", "Correlated", "Window", "SeriesStream", "cached_heads", "correlate_all", "series_key", "key_base"]

T = TypeVar("T")

# parse(source) -> its Summary, or Skipped: how a file is parsed again when its cache entry is unreadable
Parse = Callable[[Source], "Summary | Skipped"]
Kept = Callable[[str, str], "Series | None"]  # (series id, series key) -> what the run keeps of that memoised series, or None
# (series id, all of its files, what correlating them gave): told of each series correlated whole, none of its files skipped
Record = Callable[[str, "list[ParsedFile]", "Correlated"], None]


class ParsedFile:
    """One parsed file as a run holds it: the head of its Summary for grouping, the stacks on demand.

    A plain slotted class, not a frozen record: `summary` is filled in when a series
    needs it."""

    __slots__ = ("source", "head", "sha256", "summary", "hit")

    def __init__(self, source: Source, head: Summary, sha256: str | None, summary: Summary | None, hit: Hit | None) -> None:
        """Hold `source` with its `head` (the Summary without stacks) and its whole `summary`, or the cache `hit` holding it."""
        self.source = source  # as discovery listed it
        self.head = head  # the Summary with stacks=(): what ingest.group reads
        self.sha256 = sha256  # content hash (None: unknown, e.g. --no-cache); part of series keys
        self.summary = summary  # the whole Summary, once parsed or decoded
        self.hit = hit  # the cache entry to decode it from, when it came from the cache

    @classmethod
    def parsed(cls, source: Source, summary: Summary, sha256: str | None) -> ParsedFile:
        """Return the file `source` just parsed to `summary` (content hash `sha256`, None: unknown)."""
        return cls(source, head_of(summary), sha256, summary, None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """The time window of a run (--since/--until): only snapshots inside it are correlated."""

    since: datetime | None = None  # only snapshots at or after
    until: datetime | None = None  # only snapshots at or before

    def holds(self, t: datetime) -> bool:
        """Return True when `t` lies inside the window."""
        return (self.since is None or t >= self.since) and (self.until is None or t <= self.until)


@dataclass(frozen=True, slots=True, kw_only=True)
class Correlated:
    """What correlate_all made of the parsed files."""

    series: tuple[Series, ...]  # every series with a snapshot in the window, in id order
    files: tuple[ParsedFile, ...]  # the files the run ended with (by path)
    skipped: tuple[Skipped, ...] = ()  # files whose cache entry was unreadable and that no longer parse
    unused: tuple[Skipped, ...] = ()  # parsed files grouping found no use for (Grouping.skipped)
    wall: int = 0  # snapshots timed by a log's own clock (Grouping.wall)
    notes: tuple[str, ...] = ()  # what the user should know about how the snapshots were timed (Grouping.notes)
    kept: frozenset[str] = frozenset()  # series given as the run keeps them (`kept`), not as correlated


@dataclass(frozen=True, slots=True)
class _Changed:
    """A cached entry could not be decoded, and parsing its file again gave another head (or nothing)."""

    file: ParsedFile  # the file as the cache had it
    result: Summary | Skipped  # what it parses to now


def cached_heads(
    sources: Sequence[Source], cache: SummaryCache | None, config_digest: str
) -> tuple[list[ParsedFile], list[Source]]:
    """Return (a ParsedFile for every source the cache holds, the sources left to parse), in the order given."""
    files: list[ParsedFile] = []
    todo: list[Source] = []
    hits = cache.get_heads(sources, config_digest) if cache is not None else [None] * len(sources)
    for src, hit in zip(sources, hits):
        if hit is not None:
            files.append(ParsedFile(src, hit.head, hit.sha256, None, hit))
        else:
            todo.append(src)
    return files, todo


def correlate_all(
    archive: Path,
    files: Sequence[ParsedFile],
    config: Config,
    window: Window,
    cache: SummaryCache | None,
    parse: Parse,
    kept: Kept | None = None,
) -> Correlated:
    """Return the Series of every series in `window`, taking memoised ones from `cache` (see the module docstring).

    `kept(series id, series key)`, when given, is asked first for a memoised series: what
    the run keeps of it (Correlated.kept names those), or None to take the whole Series."""
    files = sorted(files, key=lambda f: f.source.path)
    skipped: list[Skipped] = []
    while True:
        grouping, done = _correlate_once(archive, files, config, window, cache, parse, kept)
        if not isinstance(done, _Changed):
            series, kept_ids = done
            return Correlated(series=tuple(series), files=tuple(files), skipped=tuple(skipped), unused=grouping.skipped,
                              wall=grouping.wall, notes=grouping.notes, kept=frozenset(kept_ids))
        # group again: the file is what it parses to now
        files = [f for f in files if f is not done.file]
        if isinstance(done.result, Skipped):
            skipped.append(done.result)
        else:
            files.append(ParsedFile.parsed(done.file.source, done.result, None))
            files.sort(key=lambda f: f.source.path)
        if not files:
            return Correlated(series=(), files=(), skipped=tuple(skipped), unused=grouping.skipped, wall=grouping.wall, notes=grouping.notes)


class SeriesStream:
    """Correlates each series as soon as the last of its files is in, and keeps of it only its result.

    Series are independent until findings are gathered, so a run need not hold every
    parsed Summary until the end: `add` is told of each source once (its ParsedFile, or
    None when it was skipped), in any order; when a series has all of its files, it is
    correlated (correlate_all over its files alone gives what it gives over all) and
    its files keep only their heads. Memory then follows the series being parsed, not
    the archive. A series holding a file of back-to-back dumps waits (`held`) until
    `resume` gives it the file's parts. `result()` gathers every series. `record` is
    told of each series correlated on its own, with all of its files (pipeline.recalled).
    """

    def __init__(
        self,
        archive: Path,
        sources: Sequence[Source],
        config: Config,
        window: Window,
        cache: SummaryCache | None,
        parse: Parse,
        then: Callable[[Series], Series] | None = None,
        kept: Kept | None = None,
        record: Record | None = None,
    ) -> None:
        """Prepare to correlate the series of `sources` (see correlate_all for the other arguments); `then(series)`
        gives what is kept of each series once correlated (the series itself when not given); `kept` is
        correlate_all's (what is kept of a memoised series, given before its whole Series is decoded)."""
        self._args = (archive, config, window, cache, parse)
        self._then = then
        self._kept = kept
        self._record = record
        self._lossy: set[str] = set()  # series with a file skipped
        self._left: dict[str, int] = {}
        for src in sources:
            self._left[src.series] = self._left.get(src.series, 0) + 1
        self._files: dict[str, list[ParsedFile]] = {}
        self.held: set[str] = set()  # series waiting for the parts of a file of back-to-back dumps
        self._series: list[Series] = []
        self._done: list[ParsedFile] = []
        self._skipped: list[Skipped] = []
        self._unused: list[Skipped] = []
        self._wall = 0

    def add(self, src: Source, f: ParsedFile | None) -> None:
        """Take what reading `src` gave (None: skipped); correlate its series when that was its last file."""
        sid = src.series
        if f is not None:
            self._files.setdefault(sid, []).append(f)
            if f.head.dumps > 1 and f.source.part is None:
                self.held.add(sid)
        else:
            self._lossy.add(sid)
        self._left[sid] -= 1
        if self._left[sid] == 0 and sid not in self.held:
            self._finish(self._files.pop(sid, []), sid if sid not in self._lossy else None)

    def resume(self, whole: Sequence[ParsedFile], parts: Sequence[ParsedFile]) -> None:
        """Correlate the held series, their files of back-to-back dumps `whole` replaced by their `parts`."""
        gone = {id(f) for f in whole}
        files = [f for sid in sorted(self.held) for f in self._files.pop(sid, []) if id(f) not in gone]
        self.held.clear()
        self._finish(files + list(parts))

    def _finish(self, files: list[ParsedFile], whole: str | None = None) -> None:
        """Correlate `files` (whole series) and keep their result, the files without their stacks; `whole`: the
        one series `files` are all of (told to `record`)."""
        if not files:
            return
        done = correlate_all(*self._args[:1], files, *self._args[1:], kept=self._kept)  # type: ignore[arg-type]
        if whole is not None and self._record is not None:
            self._record(whole, files, done)
        for f in done.files:
            f.summary = None  # its series is correlated: the head is all the run still reads
        then = self._then
        self._series.extend(done.series if then is None else (s if s.id in done.kept else then(s) for s in done.series))
        self._done.extend(done.files)
        self._skipped.extend(done.skipped)
        self._unused.extend(done.unused)
        self._wall += done.wall

    def result(self) -> Correlated:
        """Return every series correlated (in id order), after correlating what is left."""
        rest = [f for sid in sorted(self._files) for f in self._files[sid]]
        self._files.clear()
        self.held.clear()
        self._finish(rest)
        from goroscope.ingest.group import timing_notes

        return Correlated(
            series=tuple(sorted(self._series, key=lambda s: s.id)),
            files=tuple(sorted(self._done, key=lambda f: f.source.path)),
            skipped=tuple(self._skipped),
            unused=tuple(self._unused),
            wall=self._wall,
            notes=timing_notes(self._wall, self._args[1].discovery.timezone),  # type: ignore[union-attr]
        )


class _Loader:
    """The whole Summaries of one grouping's files: kept, decoded from the cache, or parsed again; interned."""

    def __init__(self, files: Sequence[ParsedFile], config: Config, cache: SummaryCache | None, parse: Parse) -> None:
        self.by_path = {f.source.path: f for f in files}
        self._config = config
        self._cache = cache
        self._parse = parse
        self._table: dict[Signature, Signature] = {}  # one object per equal signature
        self.reparsed: set[str] = set()  # files parsed again with other bytes than their series key says

    def whole(self, src: Source) -> Summary | _Changed:
        """Return the whole, interned Summary of `src`, or _Changed when its file now reads otherwise."""
        f = self.by_path[src.path]
        if f.summary is None:
            cache = self._cache
            summary = cache.load(f.hit, f.source) if (cache is not None and f.hit is not None) else None
            if summary is None:
                result = self._parse(f.source)
                if isinstance(result, Skipped) or head_of(result) != f.head:
                    return _Changed(f, result)
                summary = result
                # stored again, hashed again: the series key holds only when the bytes are the same
                if cache is None or cache.put(f.source, self._config.digest(), summary) != f.sha256:
                    self.reparsed.add(src.path)
            f.summary = summary
        f.summary = _intern(f.summary, self._table)
        return f.summary

    def counted(self, m: Moment) -> Summary | _Changed:
        """Return the Summary of moment `m`: its primary's, counts floored by a complete sibling when it was cut."""
        primary = self.whole(m.primary)
        if isinstance(primary, _Changed) or not primary.truncated:
            return primary
        sibling = _complete_sibling(m, self.by_path)
        if sibling is None:
            return primary
        complete = self.whole(sibling)
        if isinstance(complete, _Changed):
            return complete
        from goroscope.aggregate import floor_counts

        return floor_counts(primary, complete)


def _correlate_once(
    archive: Path, files: Sequence[ParsedFile], config: Config, window: Window, cache: SummaryCache | None, parse: Parse,
    kept: Kept | None = None,
) -> tuple[Grouping, tuple[list[Series], set[str]] | _Changed]:
    """Return (the grouping of `files`, (the Series of every series in the window, the ids of those `kept` gave)),
    or _Changed for the first file that reads otherwise."""
    from goroscope.ingest.group import group

    grouping = group([(f.source, f.head) for f in files], config)
    loader = _Loader(files, config, cache, parse)
    scope_root = str(archive) if is_url(str(archive)) else os.path.realpath(archive)
    memoise = cache is not None and cache.enabled
    base = key_base(config) if memoise else ""
    shas = {p: f.sha256 for p, f in loader.by_path.items()} if memoise else {}
    all_series: list[Series] = []
    kept_ids: set[str] = set()
    for series_id in sorted(grouping.moments):
        moments = [m for m, _ in grouping.moments[series_id] if window.holds(m.time)]
        if not moments:
            continue
        evidence = [src for src, _ in grouping.leak_evidence.get(series_id, ())]
        memory = grouping.memory.get(series_id, ())
        key = series_key(series_id, moments, evidence, memory, shas, base) if memoise else None
        if key is not None and kept is not None:
            series = kept(series_id, key)
            if series is not None:
                all_series.append(series)
                kept_ids.add(series_id)
                continue
        series = cache.get_series(key) if key is not None else None  # type: ignore[union-attr]
        if series is None:
            loader.reparsed.clear()
            counted = _each(moments, loader.counted)
            if isinstance(counted, _Changed):
                return grouping, counted
            proofs = _each(evidence, loader.whole)
            if isinstance(proofs, _Changed):
                return grouping, proofs
            from goroscope import correlate

            series = correlate.correlate(series_id, counted, proofs, memory, config)  # type: ignore[arg-type]
            if key is not None and not loader.reparsed:
                cache.put_series(key, _scope(scope_root, series_id, config), series)  # type: ignore[union-attr]
        all_series.append(series)
    return grouping, (all_series, kept_ids)


def _each(items: Sequence[T], load: Callable[[T], Summary | _Changed]) -> list[tuple[T, Summary]] | _Changed:
    """Return (item, its Summary) for each of `items`, or the first _Changed."""
    out: list[tuple[T, Summary]] = []
    for item in items:
        summary = load(item)
        if isinstance(summary, _Changed):
            return summary
        out.append((item, summary))
    return out


def _complete_sibling(m: Moment, by_path: dict) -> Source | None:
    """Return a whole goroutine profile of moment `m` other than its (truncated) primary, or None."""
    for src in m.sources:
        f = by_path.get(src.path)
        if src.path != m.primary.path and f is not None and not f.head.truncated and f.head.profile == "goroutine":
            return src
    return None


def key_base(config: Config) -> str:
    """Return what every series key of a run starts from: the tool, correlate.py's source and the config.

    The tool key names the version, the cache schema and the model's fields; the
    source digest a correlator changed without a new version; the whole config
    digest any setting, whether or not correlation reads it today.
    """
    from goroscope.cache import TOOL_KEY

    return repr(("goroscope.series/1", TOOL_KEY, _correlate_code(), config.digest(), config.full_digest()))


def series_key(
    series_id: str,
    moments: Sequence[Moment],
    evidence: Sequence[Source],
    memory: Sequence[MemoryPoint],
    shas: dict[str, str | None],
    base: str,
) -> str | None:
    """Return the digest of everything correlate() reads for one series, or None when a file has no content hash.

    A Summary is a function of its file's bytes, the parse config and the tool, so
    each one enters by its content hash (`shas`: display path -> SHA-256); the
    moments by every field correlate reads (time, its source, format, crash, the
    primary and every file's path), the leak evidence by path, profile and hash, the
    memory points whole, in the order correlate gets them. `base` (key_base())
    closes it: a new correlator, record or setting never meets an old Series.
    """
    parts: list = [base, series_id]
    for m in moments:
        sha = shas.get(m.primary.path)
        if sha is None:
            return None
        # every file of the moment by path and hash: a cut primary's counts come from a whole sibling
        parts.append(("m", m.time.isoformat(), m.time_source, m.format, m.crash, m.primary.path, sha, tuple((s.path, shas.get(s.path)) for s in m.sources)))
    for src in evidence:
        sha = shas.get(src.path)
        if sha is None:
            return None
        parts.append(("e", src.path, src.profile, src.crash, sha))
    for p in memory:
        parts.append(("h", p.time.isoformat(), p.inuse_bytes, p.source))
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _scope(root: str, series_id: str, config: Config) -> str:
    """Return the name of one series of one archive under one config and tool (newer keys supersede older)."""
    from goroscope.cache import TOOL_KEY

    return hashlib.sha256(repr((TOOL_KEY, config.full_digest(), root, series_id)).encode("utf-8", "surrogatepass")).hexdigest()


_CORRELATE_CODE: list[str] = []  # the digest of correlate.py, read once


def _correlate_code() -> str:
    """Return a digest of correlate.py's source, without importing it."""
    if not _CORRELATE_CODE:
        try:
            code = Path(__file__).with_name("correlate.py").read_bytes()
        except OSError:
            code = __version__.encode()  # an install without sources: the version alone
        _CORRELATE_CODE.append(hashlib.sha256(code).hexdigest()[:16])
    return _CORRELATE_CODE[0]


def _intern(summary: Summary, table: dict[Signature, Signature]) -> Summary:
    """Return `summary` with each signature replaced by the one equal object in `table`.

    Summaries come from other processes and from the cache, so equal signatures are
    distinct objects; correlation looks them up per goroutine, and identity makes
    each lookup a pointer compare instead of a walk over the frames.
    """
    stacks = []
    changed = False
    for st in summary.stacks:
        canon = table.setdefault(st.signature, st.signature)
        if canon is not st.signature:
            st = replace(st, signature=canon)
            changed = True
        stacks.append(st)
    return replace(summary, stacks=tuple(stacks)) if changed else summary
