"""Source snippets for the report: a few lines around a leak site, read from --source-root.

Contract: `find_source(printed, root)` maps a file path as the dump printed it
(`/go/src/github.com/acme/x/y.go`, a -trimpath `github.com/acme/x/y.go`, a Windows
path) onto a file under `root`, trying successively shorter suffixes of the path
(`go/src/github.com/acme/x/y.go`, `src/github.com/acme/x/y.go`, ... `y.go`) and
taking the first that exists. Paths come from dumps and are untrusted: a candidate
is used only when it resolves (symlinks followed) inside `root`, and `..` parts are
never joined. `snippet()` returns the lines around `line` (±`context`), the
blocking line marked, or None when nothing matches or the file cannot be read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SourceLine", "Snippet", "find_source", "snippet"]

MAX_SOURCE_BYTES = 4 * 1024 * 1024  # a source file larger than this is not read
_SPLIT = re.compile(r"[/\\]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceLine:
    """One line of a snippet."""

    number: int  # 1-based line number
    text: str  # the line, without its newline, tabs expanded
    marked: bool  # the line the goroutine blocks at


@dataclass(frozen=True, slots=True, kw_only=True)
class Snippet:
    """Lines around a position, from a file under the source root."""

    path: str  # the matched file, relative to the source root ('/'-separated)
    lines: tuple[SourceLine, ...]  # in order


def _parts(printed: str) -> list[str]:
    """Return the path components of `printed`, without a drive or empty parts."""
    parts = [p for p in _SPLIT.split(printed) if p]
    if parts and re.fullmatch(r"[A-Za-z]:", parts[0]):
        parts = parts[1:]
    return parts


def find_source(printed: str, root: Path) -> Path | None:
    """Return the file under `root` that `printed` names (longest matching suffix), or None."""
    try:
        base = root.resolve(strict=True)
    except OSError:
        return None
    parts = _parts(printed)
    if not parts or any(p in (".", "..") for p in parts):
        return None
    for i in range(len(parts)):
        candidate = base.joinpath(*parts[i:])
        try:
            resolved = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if not resolved.is_relative_to(base) or not resolved.is_file():
            continue
        return resolved
    return None


def snippet(printed: str, line: int, root: Path, context: int = 5) -> Snippet | None:
    """Return the lines `line`±`context` of the file `printed` maps to under `root`, or None."""
    if line <= 0:
        return None
    path = find_source(printed, root)
    if path is None:
        return None
    try:
        if path.stat().st_size > MAX_SOURCE_BYTES:
            return None
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return None
    all_lines = text.splitlines()
    if line > len(all_lines):
        return None
    lo = max(1, line - context)
    hi = min(len(all_lines), line + context)
    lines = tuple(
        SourceLine(number=n, text=all_lines[n - 1].expandtabs(4), marked=(n == line)) for n in range(lo, hi + 1)
    )
    return Snippet(path=path.relative_to(root.resolve()).as_posix(), lines=lines)
