"""Several dumps in one file: where each begins, and the marker line that times it.

A collector that appends dump after dump to one file (`while :; do date -u; curl -s
…/goroutine?debug=N; sleep 5; done >> collector.log`) leaves back-to-back dumps:

- debug=1 profiles, each from its `goroutine profile: total N` header
  (aggregated.split_profiles);
- debug=2 dumps, each from the goroutine that wrote it: runtime.Stack prints the
  calling goroutine first, so every `?debug=2` dump opens with `goroutine N
  [running]:` and `runtime/pprof.writeGoroutineStacks(` on top (runtime/pprof/pprof.go);
  `debug2_starts` finds them. A crash traceback has no such goroutine and is never
  cut: one process prints one traceback, however many `SIGQUIT:` sections a
  GOTRACEBACK=crash relay between its threads adds.

The parsers count the dumps of a file (Snapshot.dumps); the pipeline reads a file of
more than one as one part per dump (Source.part, path `FILE#N`), each its own
snapshot. `marker_before` finds the line just before a dump that times it (a zoned
time: `date -u`, `=== 2024-05-01T10:00:00Z ===`); the marker belongs to the dump it
precedes, not to the one before.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import BinaryIO

__all__ = ["marker_before", "debug2_starts", "debug2_key", "read_debug2_part", "DEBUG2_WRITER", "MARKER_LINES"]

MARKER_LINES = 2  # non-blank lines just before a dump that may time it
DEBUG2_WRITER = "runtime/pprof.writeGoroutineStacks"  # the top frame of the goroutine writing a debug=2 dump
_WRITER_LINE = b"\n" + DEBUG2_WRITER.encode() + b"("
_RUNNING_HEADER = re.compile(rb"goroutine \d+ (?:gp=\S+ m=\S+(?: mp=\S+)? )?\[running\]:[ \t]*\r?")
_CHUNK = 4 << 20
_LOOKBACK = 16 << 10  # bytes kept before a chunk, for the marker lines of a dump that starts in it


def marker_before(text: str, head: int, is_dump_line: Callable[[str], bool]) -> tuple[int, datetime | None]:
    """Return (offset, time) of the marker line before the dump starting at `head` of `text`, or (head, None).

    Up to MARKER_LINES non-blank lines are looked at, going back; a line of the dump
    before (`is_dump_line`) ends the search."""
    from goroscope.timestamps import zoned_time

    pos = head
    seen = 0
    while pos > 0 and seen < MARKER_LINES:
        prev = text.rfind("\n", 0, pos - 1) + 1
        line = text[prev : pos - 1]
        if not line.strip():
            pos = prev
            continue
        if is_dump_line(line):
            break
        seen += 1
        when = zoned_time(line)
        if when is not None:
            return prev, when
        pos = prev
    return head, None


def _debug2_line(line: str) -> bool:
    """Return True for a line a debug=2 dump prints: a frame's file line, a function line, a header."""
    s = line.rstrip("\r")
    return s.startswith(("\t", " ", "goroutine ", "created by ")) or s.endswith((")", "...", "]:"))


def debug2_starts(data: bytes, lo: int = 0, hi: int | None = None) -> list[int]:
    """Return the offsets of the lines of `data` that begin a debug=2 dump (its writer's header), from `lo` to before `hi`."""
    hi = len(data) if hi is None else hi
    out = []
    i = data.find(_WRITER_LINE, max(lo - 1, 0))
    while i >= 0:
        start = data.rfind(b"\n", 0, i) + 1
        if start >= hi:
            break
        if start >= lo and _RUNNING_HEADER.fullmatch(data, start, i):
            out.append(start)
        i = data.find(_WRITER_LINE, i + 1)
    return out


def _marker_start(window: bytes, at: int) -> tuple[int, datetime | None]:
    """Return where the dump at `at` of `window` begins with its marker line, and the marker's time."""
    lo = max(0, at - 4096)
    text = window[lo:at].decode("utf-8", "replace")
    off, when = marker_before(text, len(text), _debug2_line)
    if when is None:
        return at, None
    return lo + len(text[:off].encode("utf-8", "replace")), when


def debug2_key(line_prefix: bytes) -> bytes:
    """Return the regex of a debug=2 writer's header line behind `line_prefix` (for prefix.prefix_times)."""
    return rb"goroutine \d+ (?:gp=\S+ m=\S+(?: mp=\S+)? )?\[running\]:[ \t]*\r?\n(?:" + line_prefix + rb")" + re.escape(_WRITER_LINE[1:])


def read_debug2_part(stream: BinaryIO, part: int) -> tuple[bytes, datetime | None, int]:
    """Return the bytes of the `part`-th (1-based) debug=2 dump of `stream`, the time its marker line gives,
    and how many lines of the stream precede it.

    Read in chunks: what precedes the dump is passed over, the dump is kept until the
    next one begins (a debug=2 dump is at most 64 MB: runtime/pprof stops there). A
    stream with fewer dumps gives b"".
    """
    seen = 0
    kept: list[bytes] | None = None  # the part's bytes so far, once it has begun
    when: datetime | None = None
    pending = b""  # from the start of the last two lines: a header may wait for its next line
    before = b""  # the last bytes judged, for a marker line that lies before a chunk
    lines = 0  # lines passed over before the part
    while True:
        data = stream.read(_CHUNK)
        buf = pending + data
        cut = len(buf)
        if data:
            last = buf.rfind(b"\n")
            cut = buf.rfind(b"\n", 0, last) + 1 if last > 0 else 0
        window = before + buf
        base = len(before)  # where buf begins in window
        begun_at = None  # where in window the part began, when it began this round
        for s in debug2_starts(window, base, base + cut):
            seen += 1
            if seen == part:
                begun_at, when = _marker_start(window, s)
                kept = []
                lines += window.count(b"\n", base, begun_at) if begun_at >= base else -window.count(b"\n", begun_at, base)
            elif seen == part + 1 and kept is not None:
                end, _ = _marker_start(window, s)
                if begun_at is not None:
                    return window[begun_at:end], when, lines
                whole = b"".join(kept)
                if end < base:  # its marker line is in what was kept already
                    return whole[: len(whole) - (base - end)], when, lines
                return whole + window[base:end], when, lines
        if kept is not None:
            kept.append(window[begun_at : base + cut] if begun_at is not None else buf[:cut])
        else:
            lines += buf.count(b"\n", 0, cut)
        if not data:
            return (b"".join(kept) if kept is not None else b""), when, lines
        before = window[max(0, base + cut - _LOOKBACK) : base + cut]
        pending = buf[cut:]
