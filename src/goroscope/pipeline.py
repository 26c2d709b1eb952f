"""The one place the stage order lives: discover -> parse -> aggregate -> correlate -> rank -> findings.

Contract: `analyze(archive, config, options) -> Report`. Parsing runs through an
Executor (local processes by default, Dask on request); only Summaries cross process
boundaries, and the SQLite cache stores them so a nightly rerun parses only new files.
Nothing here prints: progress goes to the `progress` callback the CLI passes.

What a rerun reads back, and when: files are grouped into series from the heads of
their Summaries (everything but the stacks, which is all ingest.group reads), and
each series' Series is memoised in the cache under `series_key()`, a digest of
everything correlate() reads. A series whose key is found is taken as stored and its
Summaries are never decoded; only the series of a new or changed file decode (or
parse) theirs and are correlated again. rank() then runs over every Series, as on a
cold run, so cold, cached and --no-cache runs give the same report.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from goroscope import __version__
from goroscope.config import Config
from goroscope.errors import DumpError, GoroscopeError, NoDataError
from goroscope.model import MemoryPoint, Moment, Report, Series, Signature, Skipped, Source, Summary, Suspect

if TYPE_CHECKING:
    from goroscope.cache import Hit, SummaryCache
    from goroscope.ingest.archive import ContentDigest

__all__ = ["RunOptions", "Progress", "analyze", "parse_one", "summarize_file", "series_key", "key_base"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """How one run goes (from the command line)."""

    jobs: int | None = None  # parallel parsers; None = all cores
    executor: str = "local"  # local | dask
    scheduler: str | None = None  # dask scheduler address
    cache_path: Path | None = None  # None = the default location
    use_cache: bool = True  # False = --no-cache: neither read nor write
    since: datetime | None = None  # only snapshots at or after
    until: datetime | None = None  # only snapshots at or before
    settle_seconds: float | None = None  # overrides config.discovery.settle_seconds
    baseline: dict | None = None  # a previous goroscope.report/1 document
    command: str = ""  # the command line, for provenance
    now: datetime | None = None  # the run's time (tests freeze it)


# progress(done_files, total_files, done_bytes, total_bytes)
Progress = Callable[[int, int, int, int], None]


def parse_one(
    source: Source, config: Config, span: tuple[int, int] | None = None, digest: ContentDigest | None = None
) -> Summary | Skipped:
    """Parse and aggregate one source (or the byte range `span` of it); return its Summary, or Skipped with the reason.

    `digest` is fed the source's stored bytes while they are parsed (and the rest
    after). Runs in worker processes: takes and returns only picklable records.
    """
    from goroscope.aggregate import aggregate
    from goroscope.ingest import Sniff, parse_stream
    from goroscope.ingest.archive import open_source

    # discovery sniffed the file already; the parser need not look again
    sniffed = (
        Sniff(format=source.format, profile=source.profile or "unknown", crash=source.crash, prefix=source.line_prefix)
        if source.format
        else None
    )
    try:
        with open_source(source, config.discovery.max_inflate_bytes, span=span, digest=digest) as stream:
            snapshot = parse_stream(stream, source.path, sniffed, source.part)
            if digest is not None:
                digest.finish()
        return aggregate(snapshot, config.signature_options())
    except DumpError as e:
        return Skipped(path=source.path, reason=_reason(e, source.path))
    except GoroscopeError as e:
        return Skipped(path=source.path, reason=e.message)
    except MemoryError:
        return Skipped(path=source.path, reason="too large to parse in memory")
    except Exception as e:  # noqa: BLE001 - a parser bug must not stop the run
        return Skipped(path=source.path, reason=f"internal error while parsing ({type(e).__name__}: {e}); please report it")


def _reason(e: DumpError, path: str) -> str:
    msg = e.message
    return msg[len(path) + 2 :] if msg.startswith(path + ": ") else msg


def summarize_file(path: Path, config: Config, jobs: int | None = None) -> Summary:
    """Return the Summary of the single dump file at `path` (inspect, diff), big ones on every core.

    Raises DumpError naming the file when it is not a dump."""
    from goroscope.ingest import archive, discover

    sources, skipped = discover.walk(Path(path), config)
    if len(sources) > 1 and all(s.part is not None for s in sources) and len({(s.fs_path, s.member) for s in sources}) == 1:
        # back-to-back debug=1 profiles: the whole file, whose parser reads the last and says so
        sources = [replace(sources[-1], path=sources[-1].path.rsplit("#", 1)[0], part=None)]
    if skipped or len(sources) != 1:
        reason = skipped[0].reason if skipped else "not a single dump file"
        raise DumpError(str(path), reason)
    files, failed = _parse_all(sources, config, RunOptions(use_cache=False, jobs=jobs), None, None)
    archive.close_cursors()
    if failed:
        raise DumpError(str(path), failed[0].reason)
    return files[0].summary


def analyze(archive: Path, config: Config, options: RunOptions = RunOptions(), progress: Progress | None = None) -> Report:
    """Run every stage over `archive` and return the Report."""
    from goroscope import findings, rank
    from goroscope.ingest import discover

    now = options.now or datetime.now(timezone.utc)
    if options.settle_seconds is not None:
        config = replace(config, discovery=replace(config.discovery, settle_seconds=options.settle_seconds))
    archive = Path(archive)
    if not archive.exists():
        raise NoDataError(f"{archive}: no such file or directory")

    sources, skipped = discover.walk(archive, config)
    settled = tuple(s.path for s in skipped if s.reason.startswith("settling"))
    skipped = [s for s in skipped if not s.reason.startswith("settling")]

    warnings: list[str] = []
    cache = _open_cache(options, config)
    try:
        files, parse_skipped = _parse_all(sources, config, options, progress, cache)
        skipped.extend(parse_skipped)
        if not files:
            raise NoDataError(f"{archive}: no goroutine dump could be read" + _skip_hint(skipped, settled, config))
        while True:
            try:
                grouping, all_series = _correlate_all(archive, files, config, options, cache)
                break
            except _Reparsed as e:
                # a cached entry proved unreadable and its file now reads otherwise: group again
                files = [f for f in files if f is not e.file]
                if isinstance(e.result, Skipped):
                    skipped.append(e.result)
                    if not files:
                        raise NoDataError(f"{archive}: no goroutine dump could be read" + _skip_hint(skipped, settled, config)) from None
                else:
                    files.append(_File(e.file.source, _head(e.result), None, e.result, None))
                    files.sort(key=lambda f: f.source.path)
    finally:
        if cache is not None:
            warnings.extend(cache.warnings)
            cache.close()
    skipped.extend(grouping.skipped)
    if not all_series:
        raise NoDataError(f"{archive}: no goroutine snapshot in the time window" if (options.since or options.until) else f"{archive}: no goroutine snapshot found")

    suspects = rank.rank(all_series, config)
    suspects, gone = _mark_baseline(suspects, options.baseline)
    found = findings.find(suspects, all_series, config)
    stable = tuple(rank.stable(all_series, config, suspects))
    inputs = tuple(sorted(f.source.path for f in files))
    return Report(
        archive=str(archive),
        generated_at=now.replace(microsecond=0),
        tool_version=__version__,
        command=options.command or "goroscope",
        series=tuple(all_series),
        suspects=tuple(suspects),
        findings=found,
        skipped=tuple(sorted(skipped, key=lambda s: s.path)),
        inputs=inputs,
        gone=tuple(gone),
        config_digest=config.full_digest(),
        settled=settled,
        stable=stable,
        warnings=tuple(warnings),
    )


class _File:
    """One parsed file as a run holds it: the head of its Summary for grouping, the stacks on demand."""

    __slots__ = ("source", "head", "sha256", "summary", "hit")

    def __init__(self, source: Source, head: Summary, sha256: str | None, summary: Summary | None, hit: Hit | None) -> None:
        """Hold `source` with its `head` (the Summary without stacks) and its whole `summary`, or the cache `hit` holding it."""
        self.source = source  # as discovery listed it
        self.head = head  # the Summary with stacks=(): what ingest.group reads
        self.sha256 = sha256  # content hash (None: unknown, e.g. --no-cache); part of series keys
        self.summary = summary  # the whole Summary, once parsed or decoded
        self.hit = hit  # the cache entry to decode it from, when it came from the cache


class _Reparsed(Exception):
    """A cached entry could not be decoded, and parsing its file again gave another head."""

    def __init__(self, file: _File, result: Summary | Skipped) -> None:
        """Carry the file and what it parsed to."""
        super().__init__(file.source.path)
        self.file = file
        self.result = result


def _head(summary: Summary) -> Summary:
    """Return `summary` without its stacks."""
    return replace(summary, stacks=()) if summary.stacks else summary


def _open_cache(options: RunOptions, config: Config) -> SummaryCache | None:
    """Return the run's cache, or None for --no-cache."""
    if not options.use_cache:
        return None
    from goroscope.cache import SummaryCache

    return SummaryCache.open(options.cache_path, max_inflate_bytes=config.discovery.max_inflate_bytes)


def _correlate_all(
    archive: Path, files: Sequence[_File], config: Config, options: RunOptions, cache: SummaryCache | None
) -> tuple:
    """Return (grouping, Series of every series in the window), taking memoised Series from `cache`."""
    from goroscope.ingest.group import group

    grouping = group([(f.source, f.head) for f in files], config)
    by_path = {f.source.path: f for f in files}
    table: dict[Signature, Signature] = {}
    reparsed: set[str] = set()  # files of the series at hand parsed again with other bytes than its key says

    def whole(src: Source) -> Summary:
        """Return the whole, interned Summary of `src`: kept, decoded from the cache, or parsed again."""
        f = by_path[src.path]
        if f.summary is None:
            summary = cache.load(f.hit, f.source) if (cache is not None and f.hit is not None) else None
            if summary is None:
                result = parse_one(f.source, config)
                if isinstance(result, Skipped) or _head(result) != f.head:
                    raise _Reparsed(f, result)
                summary = result
                # stored again, hashed again: the series key holds only when the bytes are the same
                if cache is None or cache.put(f.source, config.digest(), summary) != f.sha256:
                    reparsed.add(src.path)
            f.summary = summary
        f.summary = _intern(f.summary, table)
        return f.summary

    def counted(m: Moment) -> Summary:
        """Return the Summary of moment `m`: its primary's, counts floored by a complete sibling when it was cut."""
        primary = whole(m.primary)
        if not primary.truncated:
            return primary
        sibling = _complete_sibling(m, by_path)
        if sibling is None:
            return primary
        from goroscope.aggregate import floor_counts

        return floor_counts(primary, whole(sibling))

    scope_root = os.path.realpath(archive)
    memoise = cache is not None and cache.enabled
    base = key_base(config) if memoise else ""
    shas = {p: f.sha256 for p, f in by_path.items()} if memoise else {}
    all_series: list[Series] = []
    for series_id in sorted(grouping.moments):
        moments = [
            (m, s)
            for m, s in grouping.moments[series_id]
            if (options.since is None or m.time >= options.since) and (options.until is None or m.time <= options.until)
        ]
        if not moments:
            continue
        evidence = grouping.leak_evidence.get(series_id, ())
        memory = grouping.memory.get(series_id, ())
        key = None
        if memoise:
            key = series_key(series_id, [m for m, _ in moments], [src for src, _ in evidence], memory, shas, base)
        series = cache.get_series(key) if key is not None else None  # type: ignore[union-attr]
        if series is None:
            from goroscope import correlate

            reparsed.clear()
            series = correlate.correlate(
                series_id,
                [(m, counted(m)) for m, _ in moments],
                [(src, whole(src)) for src, _ in evidence],
                memory,
                config,
            )
            if key is not None and not reparsed:
                cache.put_series(key, _scope(scope_root, series_id, config), series)  # type: ignore[union-attr]
        all_series.append(series)
    return grouping, all_series


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


def _skip_hint(skipped: Sequence[Skipped], settled: Sequence[str] = (), config: Config | None = None) -> str:
    """Return why nothing could be read: the files still settling, else the first skipped file, else none found."""
    if settled and not skipped:
        n = len(settled)
        wait = f"{config.discovery.settle_seconds:g}s" if config is not None else "the settle time"
        return (
            f": {n} file{'s' if n != 1 else ''} changed within the last {wait} (--settle) and "
            f"{'are' if n != 1 else 'is'} left for the next run, e.g. {settled[0]}"
        )
    if not skipped:
        return " (no files found)"
    first = skipped[0]
    more = f" and {len(skipped) - 1} more" if len(skipped) > 1 else ""
    held = f"; {len(settled)} more still settling (--settle)" if settled else ""
    return f" ({first.path}: {first.reason}{more}{held})"


def _parse_all(
    sources: Sequence[Source], config: Config, options: RunOptions, progress: Progress | None, cache: SummaryCache | None
) -> tuple[list[_File], list[Skipped]]:
    """Return a _File for every source that parsed or was cached (by path), and the skipped ones.

    A cached file is only looked up: its stacks are decoded later, if its series needs them.
    """
    digest = config.digest()
    files: list[_File] = []
    skipped: list[Skipped] = []
    total_bytes = sum(s.size for s in sources)
    done_files = 0
    done_bytes = 0
    todo: list[Source] = []
    for src in sources:
        hit = cache.get_head(src, digest) if cache is not None else None
        if hit is not None:
            files.append(_File(src, hit.head, hit.sha256, None, hit))
            done_files += 1
            done_bytes += src.size
        else:
            todo.append(src)
    if progress:
        progress(done_files, len(sources), done_bytes, total_bytes)
    if todo:
        from goroscope.executor import make_executor

        from goroscope import aggregate

        cores = options.jobs or os.cpu_count() or 1
        # largest first: the dumps of a leaking process grow, and the long
        # ones started last would leave a core idle at the end; but the members of
        # one archive together and in archive order, so that each worker's tar
        # cursor only moves forward (inflating the archive about once)
        weight: dict[str, int] = {}
        for s in todo:
            if s.member is not None:
                weight[s.fs_path] = weight.get(s.fs_path, 0) + s.size
        walk_order = {s.path: i for i, s in enumerate(todo)}
        todo.sort(key=lambda s: (-weight[s.fs_path], s.fs_path, walk_order[s.path]) if s.member is not None else (-s.size, "", 0))
        items: list[tuple[Source, Config, bool, tuple[int, int] | None]] = []
        parts: dict[str, list] = {}  # path -> the results of its byte ranges, in file order
        for s in todo:
            spans = aggregate.split_points(s, cores, aggregate.SPLIT_MIN_PART_BYTES) if len(todo) < cores and options.executor == "local" else None
            if spans:
                parts[s.path] = [None] * len(spans)
                items.extend((s, config, cache is not None and i == 0, span) for i, span in enumerate(spans))
            else:
                items.append((s, config, cache is not None, None))
        hashes: dict[str, str | None] = {}
        executor = make_executor(options.executor, options.jobs if len(items) > 1 else 1, options.scheduler)
        try:
            for src, span, result, content_hash in executor.map_unordered(_parse_task, items):
                if span is not None:
                    slots = parts[src.path]
                    slots[_spans_of(items, src).index(span)] = (span, result)
                    if span[0] == 0:
                        hashes[src.path] = content_hash
                    done_bytes += span[1] - span[0]
                    if any(x is None for x in slots):
                        if progress:
                            progress(done_files, len(sources), done_bytes, total_bytes)
                        continue
                    result = aggregate.merge_parts(src, slots)
                    content_hash = hashes.pop(src.path, None)
                else:
                    done_bytes += src.size
                done_files += 1
                if isinstance(result, Skipped):
                    skipped.append(result)
                else:
                    files.append(_File(src, _head(result), content_hash, result, None))
                    if cache is not None and content_hash is not None:
                        cache.put(src, digest, result, content_hash=content_hash)
                if progress:
                    progress(done_files, len(sources), done_bytes, total_bytes)
        finally:
            executor.close()
    files.sort(key=lambda f: f.source.path)
    return files, skipped


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


def _spans_of(items, src: Source) -> list[tuple[int, int]]:
    """Return the byte ranges planned for `src`, in file order."""
    return [it[3] for it in items if it[0].path == src.path and it[3] is not None]


def _parse_task(item: tuple[Source, Config, bool, tuple[int, int] | None]) -> tuple[Source, tuple[int, int] | None, Summary | Skipped, str | None]:
    """Parse one source (or a byte range of it) in a worker; with `hash_it`, also hash its bytes for the cache.

    The content hash is taken here, in parallel, rather than by the parent when it
    stores the summary; None when the file changed while it was read (a collector
    still writing it), so that no summary of a half-written file is cached.
    """
    from goroscope.cache import stat_matches
    from goroscope.ingest.archive import ContentDigest, content_sha256

    src, config, hash_it, span = item
    listed = hash_it and stat_matches(src)
    # a whole source is hashed as it is parsed (an archive member inflated once for both)
    digest = ContentDigest() if listed and span is None else None
    result = parse_one(src, config, span, digest)
    content_hash = None
    if listed and not isinstance(result, Skipped):
        try:
            content_hash = digest.hexdigest if digest is not None else content_sha256(src, config.discovery.max_inflate_bytes)
        except Exception:  # noqa: BLE001 - an unhashable file is simply not cached
            content_hash = None
        if not stat_matches(src):
            content_hash = None
    return src, span, result, content_hash


def _mark_baseline(suspects: list[Suspect], baseline: dict | None) -> tuple[list[Suspect], list[dict]]:
    """Mark each suspect new or known against `baseline`; return also the baseline's gone ones."""
    if baseline is None:
        return suspects, []
    before: dict[tuple[str, str], dict] = {}
    for series in baseline.get("series", []):
        for s in series.get("suspects", []):
            before[(series.get("id", "."), s.get("fingerprint", ""))] = dict(s, series=series.get("id", "."))
    seen = set()
    out = []
    for s in suspects:
        k = (s.series, s.fingerprint)
        seen.add(k)
        out.append(replace(s, baseline="known" if k in before else "new"))
    gone = [
        {"series": k[0], "fingerprint": k[1], "leak_site": v.get("leak_site"), "kind": v.get("kind")}
        for k, v in sorted(before.items())
        if k not in seen
    ]
    return out, gone


def command_line() -> str:
    """Return this process's command line, quoted, for provenance."""
    argv = [Path(sys.argv[0]).name] + sys.argv[1:]
    return shlex.join(argv)


def latest_report(folder: Path, archive: str) -> tuple[Path, dict] | None:
    """Return (path, document) of the newest goroscope.report/1 JSON of `archive` in `folder`, or None.

    For --baseline-dir: a nightly job keeps its reports in one folder, so the
    previous night's is the newest by modification time whose "archive" is the
    same path as given; reports of other archives and files that are not reports
    (unreadable, other JSON) are passed over. Files are read newest first and the
    first match ends the search, so a folder of a year of reports costs one read.
    """
    try:
        entries = [(e.stat().st_mtime, e.name, Path(e.path)) for e in os.scandir(folder) if e.name.endswith(".json") and e.is_file()]
    except FileNotFoundError:
        return None
    except OSError as e:
        from goroscope.errors import UsageError

        raise UsageError(f"{folder}: cannot read the baseline folder: {e.strerror or e}") from None
    for _, _, path in sorted(entries, reverse=True):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("schema") == "goroscope.report/1" and doc.get("archive") == archive:
            return path, doc
    return None


def load_baseline(path: Path) -> dict:
    """Read a previous JSON report for --baseline."""
    from goroscope.errors import UsageError

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: cannot read the baseline report: {e}") from None
    if not isinstance(doc, dict) or doc.get("schema") != "goroscope.report/1":
        raise UsageError(f"{path}: not a goroscope.report/1 JSON report")
    return doc

