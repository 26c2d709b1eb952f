"""The command line: `report` (the main job), `inspect` (one dump), `diff` (two dumps).

Contract (DESIGN.md "The command line"): the only module that prints or exits. The
ranked summary goes to stdout, then the written paths one per line (`-q` keeps only
the paths); progress goes to stderr and only when stderr is a terminal. Exit codes,
first match wins: 2 usage or config error; 5 goroscope itself failed outside any
one input (one line naming a crash file that holds the traceback; never 1, which a
cron line reads as "leak"); 4 nothing usable or an output not written; 3 input
skipped and --strict; 1 suspects and --fail-on-suspects; 0.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import click

from goroscope import __version__, exitcodes, words
from goroscope.config import Config, load_config
from goroscope.errors import ConfigError, GoroscopeError, UsageError

__all__ = ["main", "cli"]



class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def _err(message: str) -> None:
    click.echo(f"error: {message}", err=True)


def _warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def _is_inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def _must_exist(*paths: Path) -> None:
    """Raise a usage error (exit 2) naming the first of `paths` that does not exist."""
    for p in paths:
        if not p.exists():
            raise UsageError(f"{p}: no such file or directory")


def _stdout_width() -> int:
    """Return the columns the terminal summary may use: the terminal's width when stdout is one, else 80.

    Not a terminal (a pipe, a file, cron's mail): 80, and the views wrap lines
    rather than cut them.
    """
    if sys.stdout.isatty():
        import shutil

        return max(shutil.get_terminal_size((80, 24)).columns, 40)
    return 80


def _config_for(config_path: str | None, archive: Path | None) -> Config:
    """Return the config: --config, else ./goroscope.yaml if present; never one inside `archive`."""
    if config_path is not None:
        p = Path(config_path)
        if archive is not None and archive.is_dir() and _is_inside(p, archive):
            raise ConfigError(str(p), None, "is inside the archive under analysis; goroscope never reads config from there")
        return load_config(p)
    default = Path("goroscope.yaml")
    if default.is_file():
        if archive is not None and archive.is_dir() and _is_inside(default, archive):
            _warn(f"{default}: inside the archive under analysis, not read (pass --config to use a config)")
            return Config()
        return load_config(default)
    return Config()


def default_stem(archive: Path, now: datetime) -> str:
    """Return the default report stem: ARCHIVE's base name, '-', the run's UTC time."""
    name = archive.resolve().name if archive.name in ("", ".", "..") else archive.name
    lower = name.lower()
    for suffix in words.STEM_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return f"{name}-{now.astimezone(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}"


def _parse_when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: expected an ISO-8601 time such as 2026-12-01T08:00:00Z, got {value!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


class _Progress:
    """A one-line progress bar on stderr: files, bytes, ETA (only on a terminal)."""

    def __init__(self) -> None:
        self.start = datetime.now(timezone.utc)
        self.drawn = False

    def __call__(self, done: int, total: int, done_bytes: int, total_bytes: int) -> None:
        elapsed = (datetime.now(timezone.utc) - self.start).total_seconds()
        frac = done_bytes / total_bytes if total_bytes else (done / total if total else 1.0)
        eta = ""
        if 0 < frac < 1 and elapsed > 0.5:
            eta = f" ETA {int(elapsed / frac - elapsed)}s"
        width = 24
        bar = "#" * int(frac * width)
        line = f"\rparsing [{bar:<{width}}] {done}/{total} files {done_bytes / 1e6:.1f}/{total_bytes / 1e6:.1f} MB{eta}   "
        sys.stderr.write(line)
        sys.stderr.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="goroscope")
def cli() -> None:
    """Find goroutine leaks in archives of Go goroutine dumps."""


_storage_option = click.option(
    "--storage-option", "storage_options", multiple=True, metavar="KEY=VALUE",
    help="An fsspec storage option for an object-store URL (s3://…), over the config's storage: section; repeatable.",
)


def _store_config(config_path: str | None, storage_options: tuple[str, ...]) -> Config:
    """Return the config for reading object-store URLs: --config's (never one inside them) with --storage-option on top."""
    from goroscope.config import with_storage_options
    from goroscope.ingest.store import parse_options

    return with_storage_options(_config_for(config_path, None), parse_options(storage_options))


@cli.command()
@click.argument("archive")
@click.option("--output", "output_dir", type=click.Path(path_type=Path), default=None, help="Where reports go (default: reports/ under the current directory).")
@click.option("--name", "stem", default=None, help="File stem (default: ARCHIVE's base name, '-', the run's UTC time).")
@click.option("--format", "formats", default="html,pdf,json", show_default=True, help="Comma list of html,pdf,json,md.")
@click.option("--config", "config_path", default=None, help="YAML config (default: ./goroscope.yaml if present; never one inside ARCHIVE).")
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Parallel parsers (default: all cores).")
@click.option("--cache", "cache_path", type=click.Path(path_type=Path), default=None, help="The SQLite summary cache (default under the user cache dir).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache.")
@click.option("--source-root", type=click.Path(path_type=Path, file_okay=False), default=None, help="Where to read source snippets from.")
@click.option("--fail-on-suspects", is_flag=True, help="Exit 1 when any (unacknowledged) suspect is found.")
@click.option("--strict", is_flag=True, help="Exit 3 when any input was skipped.")
@click.option("--baseline", type=click.Path(path_type=Path, dir_okay=False), default=None, help="A previous JSON report: mark each suspect new, known or gone.")
@click.option("--baseline-dir", type=click.Path(path_type=Path), default=None, help="Take as baseline the newest JSON report of ARCHIVE in this folder (none yet: every suspect is new).")
@click.option("--fail-on-new", is_flag=True, help="With --baseline or --baseline-dir: exit 1 only when a finding is new (a leak no series of the baseline had).")
@click.option("--since", default=None, help="Only snapshots at or after this ISO-8601 time.")
@click.option("--until", default=None, help="Only snapshots at or before this ISO-8601 time.")
@click.option("--settle", type=click.FloatRange(min=0), default=None, help="Leave files changed within this many seconds for the next run.")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True, help="Where parsing runs.")
@click.option("--scheduler", default=None, help="Dask scheduler address (tcp://HOST:PORT) for --executor dask.")
@_storage_option
@click.option("--force", is_flag=True, help="Overwrite existing report files.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the written paths.")
@click.option("-v", "--verbose", is_flag=True, help="Also print skipped inputs and warnings in full.")
def report(archive: Path, output_dir, stem, formats, config_path, jobs, cache_path, no_cache, source_root,
           fail_on_suspects, strict, baseline, baseline_dir, fail_on_new, since, until, settle, executor, scheduler, storage_options, force, quiet, verbose) -> None:
    """Analyse ARCHIVE (a folder, a .tar/.tar.gz/.tgz/.zip, one dump, or an object-store URL such as
    s3://BUCKET/PREFIX/) and write reports."""
    from goroscope.baseline import latest_report, load_baseline
    from goroscope.model import Baseline
    from goroscope.pipeline import RunOptions, analyze, command_line
    from goroscope.render import RENDERERS, check_targets, parse_formats, write_outputs

    now = datetime.now(timezone.utc)
    names = parse_formats(formats)
    if executor == "dask" and not scheduler:
        raise UsageError("--executor dask needs --scheduler tcp://HOST:PORT")
    if baseline is not None and baseline_dir is not None:
        raise UsageError("--baseline and --baseline-dir: give one of them")
    if fail_on_new and baseline is None and baseline_dir is None:
        raise UsageError("--fail-on-new needs --baseline PREVIOUS.json or --baseline-dir DIR (new against what?)")
    from goroscope.ingest.store import display_url, is_url

    if is_url(archive):
        # read in place through fsspec (ingest.store); nothing of the store is on this disk
        local = None
        config = _store_config(config_path, storage_options)
    else:
        local = archive = Path(archive)
        _must_exist(archive)
        config = _config_for(config_path, archive)
    out = output_dir if output_dir is not None else Path("reports")
    stem = stem or default_stem(local if local is not None else Path(display_url(archive).split("://", 1)[1].rstrip("/") or "store"), now)
    if "/" in stem or "\\" in stem or stem in ("", ".", ".."):
        raise UsageError(f"--name: {stem!r} is not a file stem")
    # every target before any work: an hour's analysis must not end in "cannot write"
    check_targets(out, stem, names, force=force)
    notes: list[str] = []
    baseline_doc = load_baseline(baseline) if baseline is not None else None
    if baseline_dir is not None:
        found = latest_report(baseline_dir, str(archive) if local is not None else display_url(archive))
        if found is None:
            # night one: nothing to compare with, so everything found is new
            baseline_doc = Baseline()
            notes.append(f"{baseline_dir}: no previous report of {display_url(str(archive))}; every suspect is new")
        else:
            baseline_doc = found[1]
    options = RunOptions(
        jobs=jobs,
        executor=executor,
        scheduler=scheduler,
        cache_path=cache_path,
        use_cache=not no_cache,
        since=_parse_when(since, "--since"),
        until=_parse_when(until, "--until"),
        settle_seconds=settle,
        baseline=baseline_doc,
        command=command_line(),
        now=now,
    )
    progress = _Progress() if (sys.stderr.isatty() and not quiet) else None
    # weasyprint loads in a process of its own while the run works; it prints the PDF at the end
    printer = _start_printer(config) if "pdf" in names else None
    # the report templates compiled once, kept beside the summary cache (--no-cache neither reads nor writes them)
    compiled = _keep_compiled(config, names, None if no_cache else _compiled_folder(cache_path))
    try:
        try:
            rep = analyze(archive, config, options, progress)
        finally:
            if progress is not None:
                progress.finish()
        if notes:
            rep = replace(rep, warnings=rep.warnings + tuple(notes))
        for w in rep.warnings:
            _warn(w)
        # the one view of this run: the terminal summary and every file format render it
        view = None
        if not quiet or any(RENDERERS[n].uses_view for n in names):
            from goroscope.render.context import build_view

            view = build_view(rep, config, source_root)
        if not quiet:
            from goroscope.render.terminal import summary_text

            click.echo(summary_text(view, verbose=verbose, width=_stdout_width()))
        written = write_outputs(rep, config, out, stem, names, force=force, source_root=source_root, view=view, printer=printer)
    finally:
        if printer is not None:
            printer.close()
        if compiled:
            _keep_compiled(config, names, None)
    for path in written:
        click.echo(str(path))
    if rep.skipped and strict:
        raise _Exit(exitcodes.INPUT_SKIPPED)
    live = [s for s in rep.suspects if not s.acknowledged]
    if fail_on_new and options.baseline is not None:
        # per finding: a leak the baseline had, now on another pod too, is not new
        live = [f for f in rep.findings if not f.acknowledged and f.status == "new"]
    if (fail_on_suspects or fail_on_new) and live:
        raise _Exit(exitcodes.SUSPECTS)


def _compiled_folder(cache_path: Path | None) -> Path:
    """Return where the compiled report templates are kept: beside the summary cache at `cache_path` (None: its default place)."""
    from goroscope.cache import default_cache_path

    return Path(str(cache_path or default_cache_path()) + ".templates")


def _keep_compiled(config: Config, names: tuple[str, ...], folder: Path | None) -> bool:
    """Keep the report templates compiled under `folder` (None: nowhere) when the formats `names` need them; return
    True when they are kept there."""
    if not any(n in ("html", "pdf", "md") for n in names):
        return False
    from goroscope.render import keep_compiled_templates

    try:
        keep_compiled_templates(config, folder)
    except GoroscopeError:
        return False  # the renderer names what is wrong with the templates folder, at its turn
    return folder is not None


def _start_printer(config: Config):  # type: ignore[no-untyped-def]
    """Return a PDF printer started now (render/printer.py), so that weasyprint loads while the run works; None if none starts."""
    from goroscope.render.printer import Printer
    from goroscope.resources import templates_dir

    try:
        root = templates_dir(config.render.templates_dir)
    except GoroscopeError:
        return None  # the PDF renderer names what is wrong with the folder, at its turn
    return Printer.start(root)


@cli.command()
@click.argument("file")
@click.option("--json", "as_json", is_flag=True, help="Print what was parsed, as JSON.")
@click.option("--top", type=click.IntRange(min=1), default=15, show_default=True, help="How many signatures to list.")
@click.option("--stack", "stack", default=None, metavar="SIGNATURE|GOROUTINE-ID",
              help="Print one stack whole: a goroutine id, or a signature by fingerprint (as listed), leak-site function or file:line.")
@click.option("--config", "config_path", default=None, help="YAML config (default: ./goroscope.yaml if present).")
@_storage_option
def inspect(file: str, as_json: bool, top: int, stack: str | None, config_path, storage_options) -> None:
    """Show what one dump of any form holds: format, totals, states, top signatures (or, with --stack, one stack whole).

    FILE may be an object-store URL, of an object or of a member of an archive object as reports name it."""
    from goroscope.ingest import load, member_source
    from goroscope.ingest.store import is_url
    from goroscope.pipeline import dump_source, summarize_file
    from goroscope.render.terminal import inspect_json_chunks, inspect_text, stack_text
    from goroscope.timestamps import is_wall_clock, place

    if is_url(file):
        config = _store_config(config_path, storage_options)
        member = dump_source(file, config)  # the object (or archive member), read where it lives
        opened, mtime = member, member.mtime
    else:
        member = member_source(file)  # 'ARCHIVE.tar.gz/pods/a/dump.txt', as reports name a member
        if member is None:
            _must_exist(Path(file))
        config = _config_for(config_path, None)
        opened, mtime = Path(file), None
    if stack is not None:
        if as_json:
            raise UsageError("--stack prints text; leave out --json (inspect --json prints every stack)")
        click.echo(stack_text(str(file), load(opened, config.discovery.max_inflate_bytes), stack, config))
        return
    if as_json:
        snapshot = load(opened, config.discovery.max_inflate_bytes)
        if snapshot.time is not None and is_wall_clock(snapshot.time):
            # a log's own clock without zone or year (journald, syslog, Kibana): placed as `report` does
            when = mtime if mtime is not None else Path(file).stat().st_mtime
            snapshot = replace(snapshot, time=place(snapshot.time, when, config.discovery.timezone))
        out = sys.stdout
        for piece in inspect_json_chunks(snapshot):
            out.write(piece)
        out.write("\n")
        out.flush()
        return
    if member is not None:
        from goroscope.aggregate import aggregate

        summary = aggregate(load(opened, config.discovery.max_inflate_bytes), config.signature_options())
    else:
        summary = summarize_file(file, config)
    click.echo(inspect_text(str(file), summary, config, top=top, width=_stdout_width()))
    for p in summary.problems:
        where = f" (line {p.line})" if p.line else ""
        _warn(f"{file}{where}: {p.message}")


@cli.command()
@click.argument("old")
@click.argument("new")
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
@click.option("--top", type=click.IntRange(min=1), default=15, show_default=True, help="How many signatures to list.")
@click.option("--config", "config_path", default=None, help="YAML config (default: ./goroscope.yaml if present).")
@_storage_option
def diff(old: str, new: str, as_json: bool, top: int, config_path, storage_options) -> None:
    """Show what grew between two dumps of any forms (pprof -base, for every form); either may be an object-store URL."""
    from goroscope.ingest.store import is_url
    from goroscope.pipeline import summarize_file
    from goroscope.render.terminal import diff_rows, diff_text

    _must_exist(*[Path(p) for p in (old, new) if not is_url(p)])
    config = _store_config(config_path, storage_options) if is_url(old) or is_url(new) else _config_for(config_path, None)
    a = summarize_file(old, config)
    b = summarize_file(new, config)
    rows = diff_rows(a, b, config)
    if as_json:
        click.echo(json.dumps({"old": str(old), "new": str(new), "old_total": a.total, "new_total": b.total, "signatures": rows[:top] if top else rows}, indent=2))
        return
    click.echo(diff_text(str(old), str(new), a, b, rows, top=top, width=_stdout_width()))


class _Terminated(KeyboardInterrupt):
    """SIGTERM (a timeout's kill, a stopping service): unwound like Ctrl-C, so workers and temporary files go."""


def _on_sigterm(signum, frame) -> None:  # type: ignore[no-untyped-def]
    raise _Terminated()


def main(argv: list[str] | None = None) -> None:
    """Run the command line; turn goroscope's errors into messages and exit codes."""
    import signal

    if threading_is_main() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        cli.main(args=argv, prog_name="goroscope", standalone_mode=False)
    except _Exit as e:
        sys.exit(e.code)
    except _Terminated:
        _err("terminated; nothing was overwritten")
        sys.exit(128 + 15)
    except click.exceptions.Abort as e:
        if isinstance(e.__cause__, _Terminated):  # click turns an interrupt into Abort
            _err("terminated; nothing was overwritten")
            sys.exit(128 + 15)
        _err("aborted")
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(exitcodes.USAGE)
    except GoroscopeError as e:
        _err(e.message)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        _err("interrupted; nothing was overwritten")
        sys.exit(130)
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        sys.exit(exitcodes.OK)
    except OSError as e:
        name = getattr(e, "filename", None)
        _err(f"{name}: {e.strerror or e}" if name else str(e))
        sys.exit(exitcodes.NO_DATA)
    except Exception as e:  # noqa: BLE001 - a bug outside any one input: exit 5, never 1
        _internal_error(e, argv if argv is not None else sys.argv[1:])
        sys.exit(exitcodes.INTERNAL)
    sys.exit(exitcodes.OK)


def threading_is_main() -> bool:
    """Return True in the main thread (the only one that may set signal handlers)."""
    import threading

    return threading.current_thread() is threading.main_thread()


def _internal_error(e: BaseException, argv: list[str]) -> None:
    """Say in one line that goroscope itself failed, naming the crash file that holds the traceback (printed too with -v)."""
    import traceback

    text = "".join(traceback.format_exception(e))
    try:
        from goroscope.ingest.store import redact_args

        shown = " ".join(redact_args(argv))  # no storage option's value in the file
    except Exception:  # noqa: BLE001 - the crash report must be written whatever else is broken
        shown = "(not shown: it could not be stripped of storage options)"
    crash = _write_crash_file(f"goroscope {__version__}\ncommand: {shown}\n\n{text}")
    where = f"the traceback is in {crash}" if crash is not None else "no crash file could be written"
    what = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    _err(f"internal error ({what}); {where}; please report it")
    if "-v" in argv or "--verbose" in argv:
        click.echo(text.rstrip("\n"), err=True)


def _write_crash_file(text: str) -> Path | None:
    """Write `text` to a new crash file beside the cache (else in the temporary folder); return its path, None if neither works."""
    import tempfile

    from goroscope.cache import default_cache_path

    name = f"crash-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-{os.getpid()}.txt"
    for folder in (default_cache_path().parent / "crashes", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            with open(path, "x", encoding="utf-8") as f:
                f.write(text)
            return path.resolve()
        except OSError:
            continue
    return None

