"""The one place the stage order lives: discover -> parse -> aggregate -> correlate -> rank.

Contract: `analyze(archive, config, options) -> Report`. Parsing runs through an
Executor (local processes by default, Dask on request); only Summaries cross process
boundaries, and the SQLite cache stores them so a nightly rerun parses only new files.
Nothing here prints: progress goes to the `progress` callback the CLI passes.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from goroscope import __version__
from goroscope.aggregate import aggregate
from goroscope.config import Config
from goroscope.errors import DumpError, GoroscopeError, NoDataError
from goroscope.model import Report, Series, Signature, Skipped, Source, Summary, Suspect

__all__ = ["RunOptions", "Progress", "analyze", "parse_one", "summarize_file"]


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


def parse_one(source: Source, config: Config) -> Summary | Skipped:
    """Parse and aggregate one source; return its Summary, or Skipped with the reason.

    Runs in worker processes: takes and returns only picklable records.
    """
    from goroscope.ingest import Sniff, discover, parse_stream

    # discovery sniffed the file already; the parser need not look again
    sniffed = Sniff(format=source.format, profile=source.profile or "unknown", crash=source.crash) if source.format else None
    try:
        with discover.open_source(source, config) as stream:
            snapshot = parse_stream(stream, source.path, sniffed)
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


def summarize_file(path: Path, config: Config) -> Summary:
    """Return the Summary of the single dump file at `path` (inspect, diff)."""
    from goroscope.ingest import load

    return aggregate(load(path, config.discovery.max_inflate_bytes), config.signature_options())


def analyze(archive: Path, config: Config, options: RunOptions = RunOptions(), progress: Progress | None = None) -> Report:
    """Run every stage over `archive` and return the Report."""
    from goroscope import correlate, rank
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

    parsed, parse_skipped, warnings = _parse_all(sources, config, options, progress)
    skipped.extend(parse_skipped)
    if not parsed:
        raise NoDataError(f"{archive}: no goroutine dump could be read" + _skip_hint(skipped))

    grouping = discover.group(parsed, config)
    skipped.extend(grouping.skipped)

    all_series: list[Series] = []
    for series_id in sorted(grouping.moments):
        moments = [
            (m, s)
            for m, s in grouping.moments[series_id]
            if (options.since is None or m.time >= options.since) and (options.until is None or m.time <= options.until)
        ]
        if not moments:
            continue
        all_series.append(
            correlate.correlate(
                series_id,
                moments,
                grouping.leak_evidence.get(series_id, ()),
                grouping.memory.get(series_id, ()),
                config,
            )
        )
    if not all_series:
        raise NoDataError(f"{archive}: no goroutine snapshot in the time window" if (options.since or options.until) else f"{archive}: no goroutine snapshot found")

    suspects = rank.rank(all_series, config)
    suspects, gone = _mark_baseline(suspects, options.baseline)
    stable = tuple(rank.stable(all_series, config, suspects))
    inputs = tuple(sorted(src.path for src, _ in parsed))
    return Report(
        archive=str(archive),
        generated_at=now.replace(microsecond=0),
        tool_version=__version__,
        command=options.command or "goroscope",
        series=tuple(all_series),
        suspects=tuple(suspects),
        skipped=tuple(sorted(skipped, key=lambda s: s.path)),
        inputs=inputs,
        gone=tuple(gone),
        config_digest=config.full_digest(),
        settled=settled,
        stable=stable,
        warnings=tuple(warnings),
    )


def _skip_hint(skipped: Sequence[Skipped]) -> str:
    if not skipped:
        return " (no files found)"
    first = skipped[0]
    more = f" and {len(skipped) - 1} more" if len(skipped) > 1 else ""
    return f" ({first.path}: {first.reason}{more})"


def _parse_all(
    sources: Sequence[Source], config: Config, options: RunOptions, progress: Progress | None
) -> tuple[list[tuple[Source, Summary]], list[Skipped], list[str]]:
    """Return (source, summary) for every source that parsed, the skipped ones, and warnings."""
    from goroscope.cache import SummaryCache
    from goroscope.executor import make_executor

    digest = config.digest()
    parsed: list[tuple[Source, Summary]] = []
    skipped: list[Skipped] = []
    warnings: list[str] = []
    total_bytes = sum(s.size for s in sources)
    done_files = 0
    done_bytes = 0

    cache = SummaryCache.open(options.cache_path) if options.use_cache else None
    try:
        todo: list[Source] = []
        for src in sources:
            hit = cache.get(src, digest) if cache is not None else None
            if hit is not None:
                parsed.append((src, hit))
                done_files += 1
                done_bytes += src.size
            else:
                todo.append(src)
        if progress:
            progress(done_files, len(sources), done_bytes, total_bytes)
        if todo:
            executor = make_executor(options.executor, options.jobs if len(todo) > 1 else 1, options.scheduler)
            try:
                # largest first: the dumps of a leaking process grow, and the long
                # ones started last would leave a core idle at the end
                todo.sort(key=lambda s: -s.size)
                items = [(s, config, cache is not None) for s in todo]
                for src, result, content_hash in executor.map_unordered(_parse_task, items):
                    done_files += 1
                    done_bytes += src.size
                    if isinstance(result, Skipped):
                        skipped.append(result)
                    else:
                        parsed.append((src, result))
                        if cache is not None and content_hash is not None:
                            cache.put(src, digest, result, content_hash=content_hash)
                    if progress:
                        progress(done_files, len(sources), done_bytes, total_bytes)
            finally:
                executor.close()
    finally:
        if cache is not None:
            warnings.extend(cache.warnings)
            cache.close()
    parsed.sort(key=lambda p: p[0].path)
    table: dict[Signature, Signature] = {}
    parsed = [(src, _intern(summary, table)) for src, summary in parsed]
    return parsed, skipped, warnings


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


def _parse_task(item: tuple[Source, Config, bool]) -> tuple[Source, Summary | Skipped, str | None]:
    """Parse one source in a worker; with `hash_it`, also hash its bytes for the cache.

    The content hash is taken here, in parallel, rather than by the parent when it
    stores the summary; None when the file changed while it was read (a collector
    still writing it), so that no summary of a half-written file is cached.
    """
    from goroscope.cache import content_sha256, stat_matches

    src, config, hash_it = item
    result = parse_one(src, config)
    content_hash = None
    if hash_it and not isinstance(result, Skipped):
        try:
            if stat_matches(src):
                content_hash = content_sha256(src)
                if not stat_matches(src):
                    content_hash = None
        except Exception:  # noqa: BLE001 - an unhashable file is simply not cached
            content_hash = None
    return src, result, content_hash


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

