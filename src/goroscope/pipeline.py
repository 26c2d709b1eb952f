"""The one place the stage order lives: discover -> parse -> aggregate -> correlate -> rank -> findings.

Contract: `analyze(archive, config, options) -> Report`. Parsing runs through an
Executor (local processes by default, Dask on request); only Summaries cross process
boundaries, and the SQLite cache stores them so a nightly rerun parses only new files
(what is read back and when: incremental.py); a series none of whose files changed
since a run that made it is recalled whole, before any of its files is looked at
(recall_key, _Recall). A fleet's many small series are mapped whole in the workers
(parsed, correlated and judged: _map_series), the map starting while discovery still
walks a local folder (_discover_and_map); what the map leaves (big files, archive
members, back-to-back dumps) is parsed through the executor here.
Nothing here prints: progress goes to the `progress` callback the CLI passes.

`parse_one(source, config)` is the parse and aggregate stages for one file, as a
worker runs them; `summarize_file(path, config)` is the same for `inspect` and `diff`.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from goroscope import __version__
from goroscope.config import Config
from goroscope.errors import DumpError, GoroscopeError, NoDataError, internal_reason
from goroscope.model import Baseline, Report, Series, Skipped, Source, Summary

if TYPE_CHECKING:
    from goroscope.cache import SummaryCache
    from goroscope.incremental import Correlated, ParsedFile, SeriesStream, Window
    from goroscope.rank import Gathered, Judged
    from goroscope.ingest.archive import ContentDigest

__all__ = ["RunOptions", "Progress", "analyze", "parse_one", "summarize_file", "command_line"]


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
    baseline: Baseline | None = None  # the previous report (baseline.load_baseline), None without --baseline
    command: str = ""  # the command line, for provenance
    now: datetime | None = None  # the run's time (tests freeze it)


# progress(done_files, total_files, done_bytes, total_bytes)
Progress = Callable[[int, int, int, int], None]


def analyze(archive: Path | str, config: Config, options: RunOptions = RunOptions(), progress: Progress | None = None) -> Report:
    """Run every stage over `archive` (a path, or an object-store URL read with config.storage) and return the Report."""
    from goroscope import baseline, findings, rank
    from goroscope.incremental import SeriesStream, Window
    from goroscope.ingest.group import timing_notes

    now = options.now or datetime.now(timezone.utc)
    today = datetime.now(timezone.utc).date()  # (not the frozen run time: acknowledgements expire by the real date)
    if options.settle_seconds is not None:
        config = replace(config, discovery=replace(config.discovery, settle_seconds=options.settle_seconds))
    gathered = rank.Gathered()
    cache = _open_cache(options, config)
    try:
        # discover the files, each classified by its first bytes (files and objects the cache knows are not
        # opened), and map the series (a fleet's many small files): each parsed (its new files only),
        # correlated and judged in a worker, of which the run keeps the result; the map starts while
        # the walk of a local folder goes on
        window = Window(since=options.since, until=options.until)
        archive, skipped, plan, mapped = _discover_and_map(archive, config, options, gathered, cache, progress, window, today)
        settled = tuple(s.path for s in skipped if s.reason.startswith("settling"))
        skipped = [s for s in skipped if not s.reason.startswith("settling")]
        rest, files, todo, totals = plan.rest, plan.files, plan.todo, (plan.totals[0], plan.totals[1])
        base = plan.recall.base if plan.recall is not None else ""
        del plan
        judged_rows: list[tuple[str, str, bytes]] = []  # judgements of memoised series, to store (judged_key)
        recall_rows: list[tuple[str, str | None, bytes]] = []  # what the run made of whole series, to store (recall_key)
        # the other series: parse and aggregate (what the cache holds is not parsed again), group and
        # correlate each series as soon as its files are in, keeping its result, not its summaries
        kept = (lambda sid, key: _kept_memo(sid, key, config, today, gathered, cache)) if cache is not None and cache.enabled else None
        record = (lambda sid, fs, got: _record(recalled(sid, fs, got, cache.series_key_of(sid), base), recall_rows)) if base else None  # type: ignore[union-attr]
        stream = SeriesStream(archive, rest, config, window, cache, lambda src: parse_one(src, config),
                              lambda s: _judge_here(s, config, today, gathered, cache, judged_rows), kept, record)
        skipped.extend(mapped.skipped)
        skipped.extend(_parse_all(rest, config, options, _shifted(progress, mapped, totals), cache, stream, (files, todo)))
        done = stream.result()
        if cache is not None:
            cache.put_judged(judged_rows)
            cache.put_recalls(recall_rows)  # after the judgements they name
    finally:
        warnings = tuple(cache.warnings) if cache is not None else ()
        if cache is not None:
            cache.close()
    skipped.extend(done.skipped)
    inputs = [f.source.path for f in done.files] + mapped.inputs
    if not inputs:
        raise NoDataError(f"{archive}: no goroutine dump could be read" + _skip_hint(skipped, settled, config))
    skipped.extend(done.unused)
    skipped.extend(mapped.unused)
    warnings += tuple(mapped.warnings)
    warnings += timing_notes(done.wall + mapped.wall, config.discovery.timezone) if mapped.wall else done.notes
    all_series = tuple(sorted((*done.series, *mapped.series), key=lambda s: s.id))
    if not all_series:
        raise NoDataError(f"{archive}: no goroutine snapshot in the time window" if (options.since or options.until) else f"{archive}: no goroutine snapshot found")

    # rank across series (each was judged on its own as it was correlated), compare with the baseline, gather findings
    ranked = gathered.ranked(all_series, config)
    suspects, gone = baseline.mark(list(ranked.suspects), options.baseline)
    return Report(
        archive=str(archive),
        generated_at=now.replace(microsecond=0),
        tool_version=__version__,
        command=options.command or "goroscope",
        series=all_series,
        suspects=tuple(suspects),
        findings=findings.find(suspects, all_series, config),
        skipped=tuple(sorted(skipped, key=lambda s: s.path)),
        inputs=tuple(sorted(inputs)),
        gone=tuple(gone),
        config_digest=config.full_digest(),
        settled=settled,
        stable=tuple(gathered.stable(all_series, config, [*suspects, *ranked.parked])),
        parked=ranked.parked,
        warnings=warnings,
    )


def _judge_here(
    series: Series, config: Config, today: date, gathered: Gathered, cache: SummaryCache | None = None, rows: list | None = None
) -> Series:
    """Judge `series` in this process (as the map's workers do theirs), give `gathered` its part; return it trimmed to what the reports show.

    A series memoised in `cache` takes its judgement from there (judged_key); one judged here is added to `rows`
    (judged_key, series key, encoded with what is kept of the series) for the cache."""
    from goroscope import rank
    from goroscope.correlate import trimmed

    series_key = cache.series_key_of(series.id) if cache is not None and cache.enabled else None
    key = judged_key(series_key, config, today) if series_key is not None else None
    memo = cache.get_judged(key, rank.Judged) if key is not None else None  # type: ignore[union-attr]
    judged = memo[0] if memo is not None else rank.judge_series(series, config, today)
    kept = trimmed(series, judged.shown(), config)  # type: ignore[union-attr]
    if memo is None and key is not None and rows is not None:
        from goroscope.codec import encode_fields

        rows.append((key, series_key, encode_fields(judged, kept)))
    gathered.add(judged)  # type: ignore[arg-type]
    return kept


def _record(row: tuple[str, str | None, bytes] | None, rows: list[tuple[str, str | None, bytes]]) -> None:
    """Add `row` (recalled()) to `rows` unless it is None."""
    if row is not None:
        rows.append(row)


def _kept_memo(series_id: str, series_key: str, config: Config, today: date, gathered: Gathered, cache: SummaryCache) -> Series | None:
    """Return what the run keeps of the series memoised under `series_key` when its judgement is memoised with it
    (giving `gathered` that judgement), without decoding the whole Series; else None (_judge_here's way)."""
    from goroscope import rank

    memo = cache.get_judged(judged_key(series_key, config, today), rank.Judged)
    if memo is None or memo[1] is None or memo[1].id != series_id or not cache.keep_series(series_key, series_id):
        return None
    gathered.add(memo[0])  # type: ignore[arg-type]
    return memo[1]


# what rank.judge_series reads besides the Series and the config: a change to any of these judges again
_JUDGING_CODE = ("rank.py", "growth.py", "stuck.py", "stats.py", "ignore.py", "signature.py", "words.py", "hints.py")
# what makes a series of its listed files besides them and the config: grouping, timing, correlating, trimming
_RECALL_CODE = (*_JUDGING_CODE, "ingest/group.py", "timestamps.py", "correlate.py", "incremental.py")
_CODE_DIGESTS: dict[tuple[str, ...], str] = {}  # their digests, read once


def _code_digest(names: tuple[str, ...]) -> str:
    """Return a digest of the version and of the source of the modules `names` (beside this one), read once a run."""
    import hashlib

    digest = _CODE_DIGESTS.get(names)
    if digest is None:
        h = hashlib.sha256(__version__.encode())
        for name in names:
            try:
                h.update((Path(__file__).parent / name).read_bytes())
            except OSError:
                h.update(name.encode())  # an install without sources: the version stands for it
        digest = _CODE_DIGESTS[names] = h.hexdigest()[:16]
    return digest


def _in_force(config: Config, today: date) -> tuple[int, ...]:
    """Return which acknowledgements of `config` are in force `today`: the only way the date enters a judgement."""
    return tuple(i for i, a in enumerate(config.acknowledged) if a.until is None or a.until >= today)


def judged_key(series_key: str, config: Config, today: date) -> str:
    """Return the key of rank's judgement of the series memoised under `series_key`.

    The series key names the series' inputs, the tool (version, model records) and the
    whole config; to it come the source of the judging modules (a change without a new
    version) and which acknowledgements are in force `today`, the only way the date
    enters a judgement (rank._acknowledged)."""
    import hashlib

    return hashlib.sha256(
        repr(("goroscope.judged/2", series_key, _code_digest(_JUDGING_CODE), _in_force(config, today))).encode("utf-8", "surrogatepass")
    ).hexdigest()


def recall_base(archive: Path | str, config: Config, window: Window, today: date) -> str:
    """Return what every recall_key of a run over `archive` starts from: the tool, the code that makes and judges
    a series, the whole config, the acknowledgements in force `today`, the window, the archive and the folder
    the run's relative paths start from."""
    from goroscope.incremental import key_base
    from goroscope.ingest.store import is_url

    root = str(archive) if is_url(str(archive)) else os.path.realpath(archive)
    span = tuple(t.isoformat() if t is not None else None for t in (window.since, window.until))
    return repr(("goroscope.recall/1", key_base(config), _code_digest(_RECALL_CODE), _in_force(config, today), span, root, os.getcwd()))


def recall_key(series_id: str, sources: Iterable[Source], base: str) -> str:
    """Return the key of what a run makes of the series `series_id` of `sources` (every file discovery listed of it),
    under recall_base() `base`: each file by its paths, size and mtime (its version, in a store), as the summary
    cache knows a file; what discovery and grouping read of it follows from those and the config."""
    import hashlib

    files = sorted((s.path, s.fs_path, s.member, s.size, s.mtime, s.version, s.part) for s in sources)
    return hashlib.sha256(repr((base, series_id, files)).encode("utf-8", "surrogatepass")).hexdigest()


def recalled(series_id: str, files: Sequence[ParsedFile], done: Correlated, series_key: str | None, base: str) -> tuple[str, str | None, bytes] | None:
    """Return the cache row (recall key, series key, encoded) of what a run made of the series `series_id` of
    `files` (all of its sources, each parsed or cached whole: no skip, no part) as correlating it gave `done`
    (of those files alone), memoised under `series_key`; None when it cannot be recalled as it is (a file
    without a content hash, one that changed as it was read, a series not memoised)."""
    from goroscope.codec import encode_recall

    if done.skipped or any(f.sha256 is None or f.source.part is not None for f in files):
        return None
    if {f.source.path for f in done.files} != {f.source.path for f in files}:
        return None
    if done.series and (series_key is None or len(done.series) != 1 or done.series[0].id != series_id):
        return None
    key = series_key if done.series else None
    return recall_key(series_id, (f.source for f in files), base), key, encode_recall(key, done.unused, done.wall)


@dataclass(slots=True, eq=False)
class _Recall:
    """Takes from the cache what earlier runs made of the series discovery hands over unchanged (recall_key):
    each such series is kept as that run kept it, its judgement given to `gathered`, without a look at its files."""

    cache: SummaryCache
    config: Config
    today: date  # the date acknowledgements expire by
    gathered: Gathered  # rank's gathering of judgements
    base: str  # recall_base() of the run
    out: _Mapped  # where recalled series go (what the map gives)

    def __call__(self, sources: Sequence[Source]) -> list[Source]:
        """Recall each series of `sources` (every file of each) that can be; return the sources of the others."""
        by_series: dict[str, list[Source]] = {}
        for s in sources:
            by_series.setdefault(s.series, []).append(s)
        rest: list[Source] = []
        for sid, files in by_series.items():
            if not self._recall(sid, files):
                rest.extend(files)
        return rest

    def _recall(self, series_id: str, files: list[Source]) -> bool:
        """Recall the series `series_id` of `files`; return False when the cache holds no usable outcome of it."""
        out = self.out
        found = self.cache.get_recall(recall_key(series_id, files, self.base))
        if found is None:
            return False
        series_key, unused, wall = found
        if series_key is not None:
            kept = _kept_memo(series_id, series_key, self.config, self.today, self.gathered, self.cache)
            if kept is None:
                return False
            out.series.append(kept)
        out.inputs.extend(s.path for s in files)
        out.unused.extend(unused)
        out.wall += wall
        out.files += len(files)
        out.stored_bytes += sum(s.size for s in files)
        return True


def _discover(archive: Path | str, config: Config, cache: SummaryCache | None) -> tuple[list[Source], list[Skipped], Path | str]:
    """Return the sources and skipped files of `archive`, and `archive` as the report names it (a Path, or a URL)."""
    import json

    from goroscope.ingest import discover, store

    # files and objects the cache knows at their size and mtime (version) are not opened again
    known = cache if cache is not None and cache.enabled else None
    if store.is_url(str(archive)):
        url = str(archive)
        sources, skipped = discover.walk_store(url, store.store_for(url, json.loads(config.storage)), config, known)
        return sources, skipped, store.display_url(url)
    archive = Path(archive)
    if not archive.exists():
        raise NoDataError(f"{archive}: no such file or directory")
    sources, skipped = discover.walk(archive, config, known)
    return sources, skipped, archive


def parse_one(
    source: Source, config: Config, span: tuple[int, int] | None = None, digest: ContentDigest | None = None
) -> Summary | Skipped:
    """Parse and aggregate one source (or the byte range `span` of it); return its Summary, or Skipped with the reason.

    `digest` is fed the source's stored bytes while they are parsed (and the rest
    after). Runs in worker processes: takes and returns only picklable records.
    """
    from goroscope.aggregate import aggregate
    from goroscope.ingest import parse_stream
    from goroscope.ingest.archive import open_source
    from goroscope.ingest.traceback import set_max_stacks

    set_max_stacks(config.discovery.max_stacks)
    try:
        with open_source(source, config.discovery.max_inflate_bytes, span=span, digest=digest) as stream:
            snapshot = parse_stream(stream, source.path, _sniffed(source), source.part)
            if digest is not None:
                digest.finish()
        return aggregate(snapshot, config.signature_options())
    except Exception as e:  # noqa: BLE001 - a parser bug must not stop the run
        return _skipped(source, e)


def parse_parts_one(source: Source, config: Config, parts: Sequence[int]) -> list[tuple[Source, Summary | Skipped]]:
    """Parse and aggregate the back-to-back dumps `parts` (1-based) of the whole file `source`, reading it once.

    Returns (the part's Source, `FILE#N`, its Summary or Skipped) for each of `parts`, in order."""
    from goroscope.aggregate import aggregate
    from goroscope.ingest import parse_parts
    from goroscope.ingest.archive import open_source
    from goroscope.ingest.traceback import set_max_stacks

    set_max_stacks(config.discovery.max_stacks)
    wanted = set(parts)
    out: dict[int, Summary | Skipped] = {}
    try:
        with open_source(source, config.discovery.max_inflate_bytes) as stream:
            for k, snapshot in enumerate(parse_parts(stream, source.path, _sniffed(source)), 1):
                if k in wanted:
                    out[k] = aggregate(snapshot, config.signature_options())
    except Exception as e:  # noqa: BLE001 - a parser bug must not stop the run
        failed = _skipped(source, e)
        out.update({k: failed for k in wanted if k not in out})
    results = []
    for k in parts:
        part = part_source(source, k)
        got = out.get(k) or Skipped(path=part.path, reason=f"no goroutine dump {k}: the file holds fewer now")
        results.append((part, replace(got, path=part.path) if isinstance(got, Skipped) else got))
    return results


def part_source(source: Source, k: int) -> Source:
    """Return the Source of the k-th (1-based) of the back-to-back dumps of the whole file `source` (`FILE#k`)."""
    return replace(source, path=f"{source.path}#{k}", part=k)


def _sniffed(source: Source):
    """Return what discovery sniffed of `source` (so the parser need not look again), None if it did not."""
    from goroscope.ingest import Sniff

    if not source.format:
        return None
    return Sniff(format=source.format, profile=source.profile or "unknown", crash=source.crash, prefix=source.line_prefix)


def _skipped(source: Source, e: BaseException) -> Skipped:
    """Return the Skipped of `source` for the error its parse raised."""
    if isinstance(e, DumpError):
        return Skipped(path=source.path, reason=_reason(e, source.path))
    if isinstance(e, GoroscopeError):
        return Skipped(path=source.path, reason=e.message)
    if isinstance(e, MemoryError):
        return Skipped(path=source.path, reason="too large to parse in memory")
    return Skipped(path=source.path, reason=internal_reason(e))


def _reason(e: DumpError, path: str) -> str:
    msg = e.message
    return msg[len(path) + 2 :] if msg.startswith(path + ": ") else msg


def dump_source(path: Path | str, config: Config) -> Source:
    """Return the Source of the single dump at `path` (a file, or an object-store URL of an object or of
    a member of an archive object, as reports name it); raise DumpError naming it when it is not one dump."""
    import json

    from goroscope.ingest import discover, store

    if store.is_url(str(path)):
        url = str(path)
        sources, skipped = discover.walk_object(url, store.store_for(url, json.loads(config.storage)), config)
        path = store.display_url(url)
    else:
        sources, skipped = discover.walk(Path(path), config)
    if skipped or len(sources) != 1:
        reason = skipped[0].reason if skipped else "not a single dump file"
        raise DumpError(str(path), reason)
    return sources[0]


def summarize_file(path: Path | str, config: Config, jobs: int | None = None) -> Summary:
    """Return the Summary of the single dump file at `path` (inspect, diff; or an object-store URL), big ones on every core.

    Raises DumpError naming the file when it is not a dump."""
    from goroscope.ingest import archive

    sources = [dump_source(path, config)]
    # back-to-back dumps: the whole file, whose parser reads the last and says so
    files, failed = _parse_sources(sources, config, RunOptions(use_cache=False, jobs=jobs), None, None)
    archive.close_cursors()
    if failed:
        raise DumpError(str(path), failed[0].reason)
    assert files[0].summary is not None  # parsed, not taken from a cache
    return files[0].summary


def _open_cache(options: RunOptions, config: Config) -> SummaryCache | None:
    """Return the run's cache, or None for --no-cache."""
    if not options.use_cache:
        return None
    from goroscope.cache import SummaryCache

    return SummaryCache.open(options.cache_path, max_inflate_bytes=config.discovery.max_inflate_bytes)


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
    sources: Sequence[Source],
    config: Config,
    options: RunOptions,
    progress: Progress | None,
    cache: SummaryCache | None,
    stream: SeriesStream,
    looked: tuple[list[ParsedFile], list[Source]] | None = None,
) -> list[Skipped]:
    """Hand `stream` a ParsedFile for every source that parsed or was cached, as they come in; return the skipped ones.

    A cached file is only looked up: its stacks are decoded later, if its series needs them.
    A file whose parse counted several back-to-back dumps (a collector appending to one
    file: ingest.parts) is then read as one part per dump, `FILE#1` … `FILE#N`, each
    a snapshot of its own; the whole file's summary stays cached, so that a rerun knows
    its parts without reading it.
    """
    from goroscope.incremental import cached_heads

    files, skipped = _parse_sources(sources, config, options, progress, cache, stream.add, looked)
    whole = [f for f in files if f.head.dumps > 1 and f.source.part is None]
    if not whole:
        return skipped
    digest = config.digest()
    parts = {id(f): [part_source(f.source, k) for k in range(1, f.head.dumps + 1)] for f in whole}
    kept, todo = cached_heads([p for ps in parts.values() for p in ps], cache, digest)
    left = {p.path for p in todo}
    # the whole file's content hash (taken on its first read) stands for its parts' bytes
    items = [(f.source, config, f.sha256, tuple(p.part for p in parts[id(f)] if p.path in left)) for f in whole]
    items = [it for it in items if it[3]]
    if items:
        from goroscope.executor import make_executor

        executor = make_executor(options.executor, options.jobs if len(items) > 1 else 1, options.scheduler)
        try:
            for results, content_hash in executor.map_unordered(_parse_parts_task, items):
                for part, result in results:
                    _keep(part, result, content_hash, kept, skipped, cache, digest)
        finally:
            executor.close()
    stream.resume(whole, kept)
    return skipped


def _keep(
    src: Source,
    result: Summary | Skipped,
    content_hash: str | None,
    files: list[ParsedFile],
    skipped: list[Skipped],
    cache: SummaryCache | _Stored | None,
    digest: str,
) -> ParsedFile | None:
    """Add what parsing `src` gave to `files` (stored in `cache`, or with its batch, when its bytes are known) or
    `skipped`; return its ParsedFile, None when skipped."""
    from goroscope.incremental import ParsedFile

    if isinstance(result, Skipped):
        skipped.append(result)
        return None
    f = ParsedFile.parsed(src, result, content_hash)
    files.append(f)
    if isinstance(cache, _Stored):
        if content_hash is not None:
            cache.put(src, result, content_hash)
    elif cache is not None and content_hash is not None:
        cache.put(src, digest, result, content_hash=content_hash)
    return f


def _parse_sources(
    sources: Sequence[Source],
    config: Config,
    options: RunOptions,
    progress: Progress | None,
    cache: SummaryCache | None,
    sink: Callable[[Source, ParsedFile | None], None] | None = None,
    looked: tuple[list[ParsedFile], list[Source]] | None = None,
) -> tuple[list[ParsedFile], list[Skipped]]:
    """Return a ParsedFile for every one of `sources` that parsed or was cached, and the skipped ones.

    `sink(source, its ParsedFile or None when skipped)` is told of each source as soon as it is in;
    `looked` is what cached_heads gave for `sources`, when the caller looked them up already."""
    from goroscope.incremental import cached_heads

    digest = config.digest()
    files, todo = looked if looked is not None else cached_heads(sources, cache, digest)
    if sink is not None:
        for f in files:
            sink(f.source, f)
    skipped: list[Skipped] = []
    total_bytes = sum(s.size for s in sources)
    done_files = len(files)
    done_bytes = sum(f.source.size for f in files)
    if progress:
        progress(done_files, len(sources), done_bytes, total_bytes)
    if todo:
        from goroscope import aggregate
        from goroscope.executor import default_jobs, make_executor

        items = _plan(todo, config, options, hash_it=cache is not None)
        parts: dict[str, list] = {src.path: [None] * len(_spans_of(items, src)) for src, _, _, span in items if span is not None}
        hashes: dict[str, str | None] = {}
        batches = _batches(items, options.jobs or default_jobs())
        jobs = options.jobs if len(batches) > 1 and sum(s.size for s in todo) >= SERIAL_BELOW_BYTES else 1
        executor = make_executor(options.executor, jobs, options.scheduler)
        stored = _Stored(cache, digest)
        try:
            for src, span, result, content_hash in _flat(executor.map_unordered(_parse_batch, batches), stored):
                if span is not None:
                    # a byte range of one big file: merged once all of its ranges are in
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
                kept = _keep(src, result, content_hash, files, skipped, stored, digest)
                if sink is not None:
                    sink(src, kept)
                if progress:
                    progress(done_files, len(sources), done_bytes, total_bytes)
        finally:
            stored.flush()
            executor.close()
    files.sort(key=lambda f: f.source.path)
    return files, skipped


class _Stored:
    """The summaries parsed from one batch, stored in the cache together, in one transaction."""

    def __init__(self, cache: SummaryCache | None, digest: str) -> None:
        """Collect for `cache` (None: store nothing) under the config `digest`."""
        self.cache = cache
        self.digest = digest
        self.pending: list[tuple[Source, Summary, str]] = []

    def put(self, src: Source, summary: Summary, content_hash: str) -> None:
        """Store `summary` of `src` with the next flush."""
        self.pending.append((src, summary, content_hash))

    def flush(self) -> None:
        """Store what was collected since the last flush."""
        if self.cache is not None and self.pending:
            self.cache.put_many(self.pending, self.digest)
        self.pending = []


def _flat(batches, stored: _Stored):
    """Yield each result of each batch the executor returns; after a batch's results, store its summaries."""
    for results in batches:
        yield from results
        stored.flush()


def _plan(
    todo: list[Source], config: Config, options: RunOptions, *, hash_it: bool
) -> list[tuple[Source, Config, bool, tuple[int, int] | None]]:
    """Return the parse tasks for `todo`: (source, config, hash it, byte range or None), in the order to run them.

    Largest first: the dumps of a leaking process grow, and the long ones started last
    would leave a core idle at the end; but the members of one archive together and in
    archive order, so that each worker's tar cursor only moves forward (inflating the
    archive about once), and the small files (what travels in batches) last and in
    path order, so that a batch holds consecutive snapshots of one series (whose
    stacks its worker then parses once). With fewer files than cores, a big plain dump
    is cut into a byte range per core (aggregate.split_points); only its first range
    is hashed.
    """
    from goroscope import aggregate

    cores = options.jobs or os.cpu_count() or 1
    weight: dict[str, int] = {}
    for s in todo:
        if s.member is not None:
            weight[s.fs_path] = weight.get(s.fs_path, 0) + s.size
    walk_order = {s.path: i for i, s in enumerate(todo)}

    def order(s: Source) -> tuple[int, str, int]:
        """Return where `s` goes in the plan (see above)."""
        if s.member is not None:
            return (-weight[s.fs_path], s.fs_path, walk_order[s.path])
        return (-s.size, "", 0) if s.size >= BATCH_BYTES else (0, s.path, 0)

    ordered = sorted(todo, key=order)
    items: list[tuple[Source, Config, bool, tuple[int, int] | None]] = []
    for s in ordered:
        spans = aggregate.split_points(s, cores, aggregate.SPLIT_MIN_PART_BYTES) if len(todo) < cores and options.executor == "local" else None
        if spans:
            items.extend((s, config, hash_it and i == 0, span) for i, span in enumerate(spans))
        else:
            items.append((s, config, hash_it, None))
    return items


# Small files travel to workers in batches: a task of one small dump costs more in
# pickling and scheduling than its parse. A batch holds up to BATCH_FILES files and
# BATCH_BYTES stored bytes (a file that size or larger goes alone), and there are at
# least BATCHES_PER_JOB batches a worker, so that no core idles at the end.
BATCH_BYTES = 1 << 20
BATCH_FILES = 64
BATCHES_PER_JOB = 4
# Below this many stored bytes to parse, the files are parsed here: starting worker
# processes (each importing goroscope) costs more than the parse would on one core.
SERIAL_BELOW_BYTES = 256 << 10

_Item = tuple[Source, Config, bool, "tuple[int, int] | None"]


def _batches(items: list[_Item], jobs: int) -> list[tuple[Config, tuple[tuple[Source, bool, tuple[int, int] | None], ...]]]:
    """Return `items` as batches (config, ((source, hash it, byte range), ...)), in the items' order (see BATCH_BYTES)."""
    if not items:
        return []
    per_batch = max(1, min(BATCH_FILES, -(-len(items) // (jobs * BATCHES_PER_JOB))))
    config = items[0][1]
    out: list[tuple[Config, tuple]] = []
    cur: list[tuple[Source, bool, tuple[int, int] | None]] = []
    size = 0

    def close() -> None:
        nonlocal cur, size
        if cur:
            out.append((config, tuple(cur)))
        cur, size = [], 0

    for src, _, hash_it, span in items:
        if span is not None or src.size >= BATCH_BYTES:
            close()
            out.append((config, ((src, hash_it, span),)))
            continue
        cur.append((src, hash_it, span))
        size += src.size
        if len(cur) >= per_batch or size >= BATCH_BYTES:
            close()
    close()
    return out


def _parse_batch(batch: tuple[Config, tuple[tuple[Source, bool, tuple[int, int] | None], ...]]) -> list:
    """Parse a batch of sources in a worker (see `_parse_task`); return their results in order."""
    config, members = batch
    return [_parse_task((src, config, hash_it, span)) for src, hash_it, span in members]


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


def _parse_parts_task(item: tuple[Source, Config, str | None, tuple[int, ...]]) -> tuple[list[tuple[Source, Summary | Skipped]], str | None]:
    """Parse the back-to-back dumps `parts` of one file in a worker (one read); return them with the file's
    content hash `sha256` (from its first read) when the file is still as discovery listed it, else None."""
    from goroscope.cache import stat_matches

    src, config, sha256, parts = item
    results = parse_parts_one(src, config, parts)
    return results, sha256 if sha256 is not None and stat_matches(src) else None


# ------------------------------------------------------------------ the map over series
#
# A fleet's archive is many series of small files (DESIGN.md "At fleet scale"): each
# such series goes to a worker whole, which parses its new files, correlates and judges
# it (rank.judge_series), and sends back its result: the Series, its Judged, the names
# of its inputs, and the cache entries to write, already encoded. The parent keeps
# those and ranks across series (rank.Gathered); it never holds a series' summaries.
# Series that hold a big file (split in byte ranges, or alone in a task), archive
# members (read in archive order by one cursor) or cached back-to-back dumps take the
# path above; so does a run of fewer than MAP_MIN_SERIES series, which the map would
# leave on one core.
MAP_MIN_SERIES = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class SeriesWork:
    """What a worker needs to map one series."""

    series: str  # the series (Source.series)
    todo: tuple[Source, ...]  # its files to parse
    # its files the cache holds: (source, head, content hash, encoded Summary or None when unreadable)
    cached: tuple[tuple[Source, Summary, str | None, bytes | None], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class MapTask:
    """A batch of series for one worker, with what every series of the run shares."""

    archive: Path | str  # the archive as the report names it (cache scope of memoised series)
    config: Config
    window: Window  # --since/--until
    today: date  # the date acknowledgements expire by
    hash_it: bool  # take content hashes (the run has a cache)
    memoise: bool  # memoise each Series in the cache
    recall_base: str  # recall_base() of the run, "" when nothing is memoised
    works: tuple[SeriesWork, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SeriesDone:
    """What mapping one series gives the parent."""

    series: tuple[Series, ...]  # in id order (grouping may find none in the window)
    judged: tuple[Judged, ...]  # aligned with series
    inputs: tuple[str, ...]  # every file read (a file of back-to-back dumps: its parts)
    skipped: tuple[Skipped, ...]  # files that did not parse
    unused: tuple[Skipped, ...]  # parsed files grouping found no use for
    wall: int  # snapshots timed by a log's own clock
    store: tuple[tuple[Source, str, bytes, bytes], ...]  # cache entries: source, content hash, encoded Summary, encoded head
    memo: tuple[tuple[str, str, bytes], ...]  # memoised series: key, scope, encoded Series
    judged_memo: tuple[tuple[str, str, bytes], ...]  # their judgements: judged_key, series key, encoded Judged
    recall: tuple[tuple[str, str | None, bytes], ...]  # what the run made of the series, to recall (recalled())
    warnings: tuple[str, ...]  # cached entries found unreadable (parsed again)
    files: int  # files of the series done (progress)
    stored_bytes: int  # their stored bytes (progress)


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchDone:
    """What mapping a batch of series gives the parent: its cache rows to write at once, the rest packed.

    The rest (each SeriesDone but its cache rows) is what the report keeps of the
    series: the parent holds it packed (zlib'd pickle, a fifth of it unpacked) while
    the workers live, and unpacks it once they are gone, so that the process tree's
    peak is not the workers' and a fleet's every series at once (_map_all)."""

    store: tuple[tuple[Source, str, bytes, bytes], ...]  # SeriesDone.store of every series of the batch
    memo: tuple[tuple[str, str, bytes], ...]  # SeriesDone.memo of every series
    judged_memo: tuple[tuple[str, str, bytes], ...]  # SeriesDone.judged_memo of every series
    recall: tuple[tuple[str, str | None, bytes], ...]  # SeriesDone.recall of every series
    files: int  # files of the batch's series (progress)
    stored_bytes: int  # their stored bytes (progress)
    packed: bytes  # the batch's SeriesDone without their cache rows (unpack())

    def unpack(self) -> list[SeriesDone]:
        """Return the batch's SeriesDone (without their cache rows)."""
        import pickle
        import zlib

        return pickle.loads(zlib.decompress(self.packed))


def _map_batch(task: MapTask) -> BatchDone:
    """Map each series of `task` in a worker (see SeriesWork): parse, correlate, judge; return their results."""
    import pickle
    import zlib

    from goroscope.ingest.traceback import collector_paused

    # What a batch makes is acyclic (tests/test_pipeline_incremental.py checks it), freed by
    # reference counting: the cycle collector would only walk the parser's stack caches (tens of
    # thousands of records a worker keeps) over and over, a tenth of the map's time on a fleet.
    with collector_paused():
        dones = [_map_series(task, work) for work in task.works]
    rest = [replace(d, store=(), memo=(), judged_memo=(), recall=()) for d in dones]
    return BatchDone(
        store=tuple(row for d in dones for row in d.store), memo=tuple(row for d in dones for row in d.memo),
        judged_memo=tuple(row for d in dones for row in d.judged_memo), recall=tuple(row for d in dones for row in d.recall),
        files=sum(d.files for d in dones),
        stored_bytes=sum(d.stored_bytes for d in dones), packed=zlib.compress(pickle.dumps(rest, pickle.HIGHEST_PROTOCOL), 1),
    )


class _Memo:
    """Stands for the cache in a worker's correlate_all: records the Series to memoise, encoded, for the parent to write."""

    enabled = True

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, bytes]] = []
        self.keys: dict[str, str] = {}  # series id -> its key

    def get_series(self, key: str) -> None:
        """Return None: a series with a file to parse has a new key (the parent looked the old ones up)."""
        return None

    def put_series(self, key: str, scope: str, series: Series) -> None:
        """Record `series` to memoise under `key` in `scope`."""
        from goroscope.codec import encode_series

        self.rows.append((key, scope, encode_series(series)))
        self.keys[series.id] = key


def _map_series(task: MapTask, work: SeriesWork) -> SeriesDone:
    """Parse the new files of one series, correlate it with its cached ones and judge it (runs in a worker)."""
    from goroscope import rank
    from goroscope.codec import decode_summary, encode_entry, head_of
    from goroscope.correlate import trimmed
    from goroscope.incremental import ParsedFile, correlate_all

    config = task.config
    files: list[ParsedFile] = []
    skipped: list[Skipped] = []
    store: list[tuple[Source, str, bytes, bytes]] = []
    warnings: list[str] = []
    todo = list(work.todo)
    for src, head, sha, blob in work.cached:
        try:
            if blob is None:
                raise ValueError("its data is missing")
            summary = decode_summary(blob)
            if head_of(summary) != head:
                raise ValueError("its data does not match its head")
        except ValueError as e:
            warnings.append(f"summary cache: entry for {src.path} unreadable ({e}); parsed the file again")
            todo.append(src)
            continue
        files.append(ParsedFile(src, head, sha, summary, None))

    # (not a function calling itself: that closure would be a reference cycle holding every parsed
    # file of the series until the cycle collector came by, which then walked them all over again)
    def keep(src: Source, result: Summary | Skipped, sha: str | None) -> int:
        """Keep what parsing `src` gave; return how many back-to-back dumps it holds, to read one by one (0: none)."""
        if isinstance(result, Skipped):
            skipped.append(result)
            return 0
        if sha is not None:
            store.append((src, sha, *encode_entry(result)))
        if result.dumps > 1 and src.part is None:
            return result.dumps
        files.append(ParsedFile.parsed(src, result, sha))
        return 0

    for src in sorted(todo, key=lambda s: s.path):
        _, _, result, sha = _parse_task((src, config, task.hash_it, None))
        dumps = keep(src, result, sha)
        if dumps:
            # back-to-back dumps (a collector appending to one file): the whole file's summary is
            # cached (a rerun knows its parts from it), each dump is a snapshot of its own
            from goroscope.cache import stat_matches

            part_sha = sha if sha is not None and stat_matches(src) else None
            for part, got in parse_parts_one(src, config, range(1, dumps + 1)):
                keep(part, got, part_sha)
    memo = _Memo() if task.memoise else None
    done = correlate_all(task.archive, files, config, task.window, memo, lambda src: parse_one(src, config))  # type: ignore[arg-type]
    judged = tuple(rank.judge_series(s, config, task.today) for s in done.series)
    shown = tuple(trimmed(s, j.shown(), config) for s, j in zip(done.series, judged))
    judged_memo: tuple[tuple[str, str, bytes], ...] = ()
    recall: tuple[tuple[str, str | None, bytes], ...] = ()
    if memo is not None:
        from goroscope.codec import encode_fields

        kept = {s.id: s for s in shown}
        keyed = [(memo.keys[j.series], j) for j in judged if j.series in memo.keys]
        judged_memo = tuple((judged_key(k, config, task.today), k, encode_fields(j, kept[j.series])) for k, j in keyed)
        if task.recall_base and not skipped and not warnings:
            row = recalled(work.series, files, done, memo.keys.get(work.series), task.recall_base)
            recall = (row,) if row is not None else ()
    return SeriesDone(
        series=shown, judged=judged, inputs=tuple(f.source.path for f in done.files),
        skipped=tuple(skipped) + done.skipped, unused=done.unused, wall=done.wall, store=tuple(store),
        memo=tuple(memo.rows) if memo is not None else (), judged_memo=judged_memo, recall=recall, warnings=tuple(warnings),
        files=len(work.todo) + len(work.cached), stored_bytes=sum(s.size for s in work.todo) + sum(c[0].size for c in work.cached),
    )


def _map_plan(
    sources: Sequence[Source], files: list[ParsedFile], todo: list[Source], cache: SummaryCache | None, min_series: int = MAP_MIN_SERIES
) -> tuple[list[tuple[str, list[Source], list[ParsedFile]]], list[ParsedFile], list[Source]]:
    """Return the series the map takes, each (id, files to parse, cached files), and the cached files and sources left.

    A series goes to the map when it has a file to parse and holds no big file, no
    archive member and no cached file of back-to-back dumps; none does when fewer than
    `min_series` would (see MAP_MIN_SERIES)."""
    if not todo:
        return [], files, todo
    other = {s.series for s in sources if s.member is not None or s.part is not None or s.size >= BATCH_BYTES}
    other |= {f.source.series for f in files if f.head.dumps > 1 or f.source.part is not None}
    if cache is not None and not cache.enabled:
        other |= {f.source.series for f in files}  # hits of a cache that went away since
    new = {s.series for s in todo} - other
    if len(new) < min_series:
        return [], files, todo
    works: dict[str, tuple[list[Source], list[ParsedFile]]] = {sid: ([], []) for sid in sorted(new)}
    for s in todo:
        if s.series in works:
            works[s.series][0].append(s)
    for f in files:
        if f.source.series in works:
            works[f.source.series][1].append(f)
    return ([(sid, t, c) for sid, (t, c) in works.items()], [f for f in files if f.source.series not in works],
            [s for s in todo if s.series not in works])


class _Plan:
    """What the map takes of the sources discovery hands over (_map_plan, a series at a time or all at once), and what it leaves."""

    def __init__(self, cache: SummaryCache | None, digest: str, jobs: int, recall: _Recall | None = None) -> None:
        """Plan for `jobs` workers, looking each source up in `cache` (under the config `digest`); the series
        `recall` recalls go to `out` whole, not to the map nor to the rest of the run."""
        self.cache = cache
        self.digest = digest
        self.jobs = jobs
        self.recall = recall
        self.out = recall.out if recall is not None else _Mapped()  # what the map gives, and what was recalled
        self.works: list[tuple[str, list[Source], list[ParsedFile]]] = []  # series taken, not yet in batches
        self.series = 0  # series taken
        self.size = 0  # stored bytes the run parses (SERIAL_BELOW_BYTES)
        self.totals = [0, 0]  # files and their stored bytes handed over (progress)
        # what the map leaves to the rest of the run: sources, those the cache holds, those to parse
        self.rest: list[Source] = []
        self.files: list[ParsedFile] = []
        self.todo: list[Source] = []

    def take(self, sources: Sequence[Source]) -> None:
        """Take `sources` (every file of each of their series)."""
        from goroscope.incremental import cached_heads

        self.totals[0] += len(sources)
        self.totals[1] += sum(s.size for s in sources)
        if self.recall is not None:
            sources = self.recall(sources)
        files, todo = cached_heads(sources, self.cache, self.digest)
        self.size += sum(s.size for s in todo)
        works, files, todo = _map_plan(sources, files, todo, self.cache, min_series=1)
        taken = {sid for sid, _, _ in works}
        self.rest.extend(s for s in sources if s.series not in taken)
        self.files.extend(files)
        self.todo.extend(todo)
        self.works.extend(works)
        self.series += len(works)

    def batches(self) -> list[list[tuple[str, list[Source], list[ParsedFile]]]]:
        """Return the series taken since the last call, in batches (_map_batches)."""
        works, self.works = self.works, []
        return _map_batches(works, self.jobs) if works else []

    def give_back(self) -> None:
        """Leave the series taken to the rest of the run (fewer than MAP_MIN_SERIES: no map)."""
        for _, todo, cached in self.works:
            self.rest.extend(todo)
            self.rest.extend(f.source for f in cached)
            self.todo.extend(todo)
            self.files.extend(cached)
        self.works = []
        self.series = 0


def _discover_and_map(
    archive: Path | str,
    config: Config,
    options: RunOptions,
    gathered: Gathered,
    cache: SummaryCache | None,
    progress: Progress | None,
    window: Window,
    today: date,
) -> tuple[Path | str, list[Skipped], _Plan, _Mapped]:
    """Discover the files of `archive` and map the series the map takes; return the archive as the report
    names it, every file skipped (settling ones too), the plan (what the map left) and what the map gave.

    A local folder with jobs to spare is walked an entry at a time (discover.FolderWalk):
    once the series walked hold MAP_MIN_SERIES and SERIAL_BELOW_BYTES to parse, the map
    starts, and each series the walk passes goes to the workers as they free up, so that
    discovery (a second or more for a fleet's 10,000 files) runs beside the map, not before
    it. Otherwise, or when the walk ends first, everything is planned as one."""
    from goroscope.executor import default_jobs
    from goroscope.ingest import discover, store

    jobs = options.jobs or default_jobs()
    memoise = cache is not None and cache.enabled
    base = recall_base(archive, config, window, today) if memoise else ""
    recall = _Recall(cache, config, today, gathered, base, _Mapped()) if memoise else None  # type: ignore[arg-type]
    plan = _Plan(cache, config.digest(), jobs, recall)
    walk: discover.FolderWalk | None = None
    chunks: Iterator[list[Source]] | None = None
    skipped: list[Skipped] = []
    if jobs > 1 and options.executor in ("local", "process") and not store.is_url(str(archive)) and Path(archive).is_dir():
        archive = Path(archive)
        walk = discover.FolderWalk(archive, config, cache if cache is not None and cache.enabled else None)
        chunks = walk.series()
        for chunk in chunks:
            plan.take(chunk)
            if plan.series >= MAP_MIN_SERIES and plan.size >= SERIAL_BELOW_BYTES:
                break  # the map starts; the walk goes on beside it
        else:
            chunks = None  # walked whole: planned as one
            plan.take(walk.rest)
        skipped = walk.skipped
    else:
        sources, skipped, archive = _discover(archive, config, cache)
        plan.take(sources)
        del sources
    common = dict(archive=archive, config=config, window=window, today=today, hash_it=cache is not None,
                  memoise=memoise, recall_base=base)
    if chunks is not None:

        def streamed() -> Iterator[list]:
            yield from plan.batches()
            for chunk in chunks:  # type: ignore[union-attr]
                plan.take(chunk)
                yield from plan.batches()
            plan.take(walk.rest)  # type: ignore[union-attr]
            yield from plan.batches()

        return archive, skipped, plan, _map_all(_map_tasks(common, streamed(), cache), jobs, plan, options, gathered, progress)
    if plan.series < MAP_MIN_SERIES:
        plan.give_back()
    batches = plan.batches()
    if not batches:
        return archive, skipped, plan, plan.out
    jobs = options.jobs if len(batches) > 1 and plan.size >= SERIAL_BELOW_BYTES else 1  # type: ignore[assignment]
    return archive, skipped, plan, _map_all(_map_tasks(common, batches, cache), jobs, plan, options, gathered, progress)


def _map_tasks(common: dict, batches: Iterable[list[tuple[str, list[Source], list[ParsedFile]]]], cache: SummaryCache | None) -> Iterator[MapTask]:
    """Yield the map's task of each of `batches` (_map_batches) with `common` (MapTask's other fields), built when
    the executor takes it: cached entries are read from `cache` then, and a batch's sources are let go once sent."""
    raw = cache.raw if cache is not None else (lambda hit: None)
    if isinstance(batches, list):
        batches = _taking(batches)
    for batch in batches:
        works = []
        for sid, todo, cached in batch:
            rows = tuple((f.source, f.head, f.sha256, raw(f.hit) if f.hit is not None else None) for f in cached)
            works.append(SeriesWork(series=sid, todo=tuple(todo), cached=rows))
        del batch
        yield MapTask(works=tuple(works), **common)


def _taking(items: list) -> Iterator:
    """Yield the items of `items`, in order, each dropped from it as it is taken."""
    items.reverse()
    while items:
        yield items.pop()


def _map_batches(works: list[tuple[str, list[Source], list[ParsedFile]]], jobs: int) -> list[list[tuple[str, list[Source], list[ParsedFile]]]]:
    """Return `works` in batches of consecutive series of up to BATCH_FILES files (a bigger series alone),
    at least BATCHES_PER_JOB a job where there are series enough."""
    total = sum(len(t) + len(c) for _, t, c in works)
    per_batch = max(1, min(BATCH_FILES, -(-total // (jobs * BATCHES_PER_JOB))))
    out: list[list] = []
    cur: list = []
    n = 0
    for w in works:
        size = len(w[1]) + len(w[2])
        if cur and n + size > per_batch:
            out.append(cur)
            cur, n = [], 0
        cur.append(w)
        n += size
    if cur:
        out.append(cur)
    return out


def _shifted(progress: Progress | None, mapped: _Mapped, totals: tuple[int, int]) -> Progress | None:
    """Return `progress` for the files the map left: counted after the map's, out of the run's `totals`."""
    if progress is None:
        return None

    def shifted(files: int, _files: int, stored: int, _stored: int) -> None:
        progress(mapped.files + files, totals[0], mapped.stored_bytes + stored, totals[1])

    return shifted


class _Mapped:
    """What the map gave, gathered as results come in (its encoded cache entries are written, not kept)."""

    def __init__(self) -> None:
        self.series: list[Series] = []
        self.inputs: list[str] = []
        self.skipped: list[Skipped] = []
        self.unused: list[Skipped] = []
        self.wall = 0
        self.warnings: list[str] = []
        self.files = 0
        self.stored_bytes = 0


def _map_all(
    tasks: Iterator[MapTask], jobs: int | None, plan: _Plan, options: RunOptions, gathered: Gathered, progress: Progress | None
) -> _Mapped:
    """Run the map's `tasks` on `jobs` workers (None: all cores) and return what they gave with what `plan`
    recalled (plan.out), storing their summaries in plan's cache under its config digest; each series'
    Judged goes to `gathered`. plan.totals (files, stored bytes) is what discovery has found so far, for `progress`."""
    from goroscope.executor import make_executor

    out, cache, digest, totals = plan.out, plan.cache, plan.digest, plan.totals
    packs: list[BatchDone | None] = []
    executor = make_executor(options.executor, jobs, options.scheduler)
    try:
        for batch in executor.map_unordered(_map_batch, tasks):
            if cache is not None:
                cache.put_encoded(list(batch.store), digest)
                for key, scope, blob in batch.memo:
                    cache.put_series_encoded(key, scope, blob)
                cache.put_judged(list(batch.judged_memo))  # after the series they judge
                cache.put_recalls(batch.recall)  # after the series and judgements they name
            packs.append(replace(batch, store=(), memo=(), judged_memo=(), recall=()))
            out.files += batch.files
            out.stored_bytes += batch.stored_bytes
            if progress:
                progress(out.files, totals[0], out.stored_bytes, totals[1])
    finally:
        executor.close()
    # the workers are gone: what the report keeps of each series is unpacked now (BatchDone)
    for i, batch in enumerate(packs):
        packs[i] = None
        for d in batch.unpack():  # type: ignore[union-attr]
            out.series.extend(d.series)
            for j in d.judged:
                gathered.add(j)
            out.inputs.extend(d.inputs)
            out.skipped.extend(d.skipped)
            out.unused.extend(d.unused)
            out.wall += d.wall
            out.warnings.extend(d.warnings)
    return out


def command_line(argv: Sequence[str] | None = None) -> str:
    """Return this process's command line (or `argv`), quoted, for provenance; storage option values and
    credentials in a URL are replaced by '***' (the report must not carry them)."""
    from goroscope.ingest.store import redact_args

    args = list(sys.argv if argv is None else argv)
    return shlex.join(([Path(args[0]).name] if args else []) + redact_args(args[1:]))
