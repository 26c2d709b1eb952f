"""The render stage: one Renderer per output format, chosen by `--format`.

Contract: each Renderer has a `name`, the `suffix` of the file it writes, and
`render(report, view, config) -> bytes` (or an iterable of bytes, made as the file is
written: the JSON, the biggest, is never held whole). The view is the run's one ReportView
(render/context.build_view): HTML, PDF and Markdown render it, as the terminal
summary does (render/terminal.summary_text), so every output says the same; JSON
is built from the Report alone (`view` may then be None). `write_outputs()` builds
the view once when a format needs it and none was given, checks every target
before writing any, then writes them all or none (`place_all`): every format to a
temporary file beside its target, and only once all are written, each renamed into
place; a run killed or failing half way (a full disk) leaves the previous report
intact and nothing new. Without --force a name is claimed atomically (a hard link,
which fails if the name exists), so of two runs aiming at the same names only one
succeeds. Renderers never re-parse: they read only the Report and its view.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from goroscope.config import Config
from goroscope.errors import RenderError, UsageError
from goroscope.model import Report

if TYPE_CHECKING:
    from goroscope.render.printer import Printer
    from goroscope.render.view import ReportView

    Content = bytes | Iterable[bytes]  # a file's content: bytes, or pieces made as they are written

__all__ = [
    "Renderer", "RENDERERS", "DEFAULT_FORMATS", "parse_formats", "targets", "check_targets", "write_outputs", "write_atomic", "place_all",
    "keep_compiled_templates",
]


@dataclass(frozen=True, slots=True)
class Renderer:
    """One output format."""

    name: str  # as given to --format
    suffix: str  # file extension, without the dot
    render: Callable[[Report, "ReportView | None", Config], "Content"]  # (report, its view, config) -> file content
    uses_view: bool = True  # False: built from the Report alone (JSON), no view needed


def _json(report: Report, view: ReportView | None, config: Config) -> Iterator[bytes]:
    from goroscope.render.json import json_chunks

    return json_chunks(report, config)  # made as it is written (place_all): a fleet's JSON is tens of MB


def _html(report: Report, view: ReportView | None, config: Config) -> bytes:
    from goroscope.render.html import html_of_view

    return html_of_view(view, config).encode("utf-8")


def _pdf(report: Report, view: ReportView | None, config: Config) -> bytes:
    from goroscope.render.pdf import pdf_of_view

    return pdf_of_view(view, config)


def _md(report: Report, view: ReportView | None, config: Config) -> bytes:
    from goroscope.render.markdown import markdown_of_view

    return markdown_of_view(view, config).encode("utf-8")


RENDERERS: dict[str, Renderer] = {
    "html": Renderer("html", "html", _html),
    "pdf": Renderer("pdf", "pdf", _pdf),
    "json": Renderer("json", "json", _json, uses_view=False),
    "md": Renderer("md", "md", _md),
}
DEFAULT_FORMATS = ("html", "pdf", "json")


def parse_formats(text: str) -> tuple[str, ...]:
    """Return the renderer names in the comma list `text`, in order, without repeats."""
    names: list[str] = []
    for part in text.split(","):
        name = part.strip().lower()
        if not name:
            continue
        if name not in RENDERERS:
            raise UsageError(f"--format: unknown format {name!r} (choose from {', '.join(RENDERERS)})")
        if name not in names:
            names.append(name)
    if not names:
        raise UsageError("--format: no format given")
    return tuple(names)


def targets(output_dir: Path, stem: str, formats: Sequence[str]) -> list[tuple[Renderer, Path]]:
    """Return (renderer, path) for each format: `output_dir/stem.suffix`."""
    return [(RENDERERS[f], output_dir / f"{stem}.{RENDERERS[f].suffix}") for f in formats]


def check_targets(output_dir: Path, stem: str, formats: Sequence[str], *, force: bool = False) -> list[tuple[Renderer, Path]]:
    """Return targets(`output_dir`, `stem`, `formats`) once each can be written; raise otherwise.

    Run before the analysis, so that an hour's work never ends in "cannot write":
    the nearest existing folder of `output_dir` must be a directory this process may
    create files in (RenderError: exit 4), no target may be a directory, and an
    existing target is an error unless `force` (UsageError: exit 2).
    """
    planned = targets(output_dir, stem, formats)
    folder = output_dir
    while not os.path.lexists(folder) and folder.parent != folder:
        folder = folder.parent
    if os.path.lexists(folder) and not folder.is_dir():
        what = "" if folder == output_dir else f" (so --output {output_dir} cannot be made)"
        raise RenderError(f"{folder}: is not a directory{what}")
    if not os.access(folder, os.W_OK | os.X_OK):
        what = "" if folder == output_dir else f" (so --output {output_dir} cannot be made)"
        raise RenderError(f"{folder}: not writable{what}")
    for _, path in planned:
        if path.is_dir():
            raise RenderError(f"{path}: is a directory, not a report file (use --name for another stem)")
        if not force and os.path.lexists(path):
            raise UsageError(f"{path}: already exists (use --force to overwrite, or --name for another stem)")
    return planned


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder, then rename."""
    place_all([(path, data)], force=True)


def _write_temp(path: Path, data: Content) -> Path:
    """Write `data` (synced to disk) to a new temporary file beside `path`; return its path."""
    # O_EXCL on a random name, as tempfile.mkstemp does, without importing tempfile
    # (random, shutil, bz2: a cached nightly run pays for every import); the mode is
    # an ordinary file's, 0666 less the umask
    tmp = path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, (bytes, bytearray)):
                f.write(data)
            else:
                for chunk in data:  # made as it is written
                    f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


def _unlink(path: Path) -> None:
    """Remove `path` if it is there."""
    try:
        os.unlink(path)
    except OSError:
        pass


def _claim(tmp: Path, path: Path) -> None:
    """Give the written `tmp` the name `path`, which must not exist: FileExistsError if it does (even if made just now).

    A hard link fails atomically on an existing name; where the file system has no
    hard links, an exclusive create claims the name and the rename fills it."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        os.replace(tmp, path)
        return
    _unlink(tmp)


def place_all(files: Sequence[tuple[Path, Content]], *, force: bool) -> None:
    """Write every (path, data) of `files`, all or none: each to a temporary file first, then each into place.

    `data` is bytes, or an iterable of bytes made as they are written (the JSON), which
    may raise as it is made: then too nothing is left.

    Without `force` no existing file is replaced, even one another run made while
    this one worked (RenderError naming it); with `force` each rename replaces.
    On any failure the temporary files, and the names this call already placed
    without `force`, are removed: nothing new is left."""
    temps: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        for path, data in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            temps.append((_write_temp(path, data), path))
        for tmp, path in temps:
            if force:
                os.replace(tmp, path)
            else:
                _claim(tmp, path)
                placed.append(path)
    except BaseException as e:
        for tmp, _ in temps:
            _unlink(tmp)
        for path in placed:
            _unlink(path)  # ours: without force no name that existed was taken
        if isinstance(e, FileExistsError):
            raise RenderError(
                f"{e.filename2 or e.filename}: already exists: another run wrote it while this one worked (use --force to overwrite, or --name for another stem)"
            ) from None
        raise


def _render_one(name: str, path: Path, render: Callable[..., Content], *args: object) -> Content:
    """Return `render(*args)`, the content of the `name` file `path`; an OSError becomes a RenderError naming it."""
    try:
        return render(*args)
    except OSError as e:
        raise RenderError(f"{path}: cannot render {name}: {e}") from None


def _later(make: Callable[[], bytes]) -> Iterator[bytes]:
    """Yield `make()` when the file is written (place_all), not before."""
    yield make()


def _printed(printer: Printer, report: Report, view: ReportView | None, config: Config) -> bytes:
    """Return the PDF `printer` printed; printed here when it could not (it did not start, or died)."""
    return printer.result() or _pdf(report, view, config)


def keep_compiled_templates(config: Config, folder: Path | None) -> None:
    """Keep the compiled templates of the HTML and Markdown environments (of `config`'s templates folder) under
    `folder`, for the next run: compiling them costs a run about 0.4 s, loading them a few ms. None: no more.

    jinja2 checks each template's source against what was compiled from it; the
    subfolder of each environment is named after goroscope's and jinja2's versions and
    the source of the module that makes the environment (its filters and options), so
    that no other state of them reads it. A folder that cannot be written or read costs
    only the compile."""
    import hashlib

    import jinja2

    import goroscope
    from goroscope.render import html, markdown

    class Kept(jinja2.FileSystemBytecodeCache):
        """jinja2's file cache of compiled templates, failing never: a miss compiles."""

        def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            """Load `bucket` from its file; anything unreadable is a miss."""
            try:
                super().load_bytecode(bucket)
            except (OSError, ValueError, EOFError, TypeError):
                bucket.reset()

        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            """Write `bucket` to its file (atomically, by jinja2); a folder that cannot take it is passed over."""
            try:
                os.makedirs(self.directory, mode=0o700, exist_ok=True)
                super().dump_bytecode(bucket)
            except OSError:
                pass

    for kind, module, env in (
        ("html", html, html.get_environment(config.render.templates_dir)),
        ("md", markdown, markdown.get_markdown_environment(config.render.templates_dir)),
    ):
        try:
            made = Path(module.__file__).read_bytes()  # type: ignore[arg-type]
        except OSError:
            made = b""
        stamp = hashlib.sha256(repr((goroscope.__version__, jinja2.__version__, made)).encode()).hexdigest()[:16]
        env.bytecode_cache = Kept(str(folder / f"{kind}-{stamp}")) if folder is not None else None


def write_outputs(
    report: Report,
    config: Config,
    output_dir: Path,
    stem: str,
    formats: Sequence[str],
    *,
    force: bool = False,
    source_root: Path | None = None,
    view: ReportView | None = None,
    printer: Printer | None = None,
) -> list[Path]:
    """Render `report` in every format and write the files; return their paths.

    `view` is the run's ReportView when the caller already built it (to print the
    terminal summary); otherwise it is built here, once, if any format needs it,
    with snippets from `source_root`. Every target is checked before any is
    written (check_targets(), which the command line also runs before the
    analysis): an existing one is an error unless `force`. Every format is
    rendered before the first file is written, so a failing renderer leaves no
    partial set behind. With a `printer` (render/printer.py, started by the caller
    when the run began) the PDF is printed in that process while the other formats
    are rendered here; where it cannot print, the PDF is printed here.
    """
    planned = check_targets(output_dir, stem, formats, force=force)
    if view is None and any(r.uses_view for r, _ in planned):
        from goroscope.render.context import build_view

        view = build_view(report, config, source_root)
    printing = printer is not None and view is not None and any(r.name == "pdf" and r.render is _pdf for r, _ in planned)
    if printing:
        from goroscope.render.html import html_of_view

        # the PDF is laid out in the printer's process while this one renders the other formats
        printer.submit(html_of_view(view, config, "print"))  # type: ignore[union-attr]
    rendered: list[tuple[Path, Content]] = []
    printed_at: int | None = None  # where the printer's PDF goes in `rendered`
    for renderer, path in planned:
        if printing and renderer.name == "pdf":
            printed_at = len(rendered)
            rendered.append((path, b""))
            continue
        rendered.append((path, _render_one(renderer.name, path, renderer.render, report, view, config)))
    written = list(rendered)
    if printed_at is not None:
        # the printer's PDF is waited for as the last file is written, so that the JSON is made while it prints
        path = rendered[printed_at][0]
        del written[printed_at]
        written.append((path, _later(lambda: _render_one("pdf", path, _printed, printer, report, view, config))))
    try:
        place_all(written, force=force)
    except OSError as e:
        where = e.filename or output_dir
        raise RenderError(f"{where}: cannot write: {e.strerror or e}; no report file was written") from None
    return [path for path, _ in rendered]
