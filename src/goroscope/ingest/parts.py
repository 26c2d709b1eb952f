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
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import BinaryIO

__all__ = ["marker_before", "debug2_starts", "debug2_key", "debug2_parts", "DEBUG2_WRITER", "MARKER_LINES"]

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


def debug2_parts(stream: BinaryIO) -> Iterator[tuple[bytes, datetime | None, int]]:
    """Yield every debug=2 dump of `stream` in order: its bytes (from its marker line), the time its marker
    line gives, and how many lines of the stream precede it.

    Read once, in chunks: what precedes the first dump is passed over, each dump is
    held until the next one begins (a debug=2 dump is at most 64 MB: runtime/pprof
    stops there).
    """
    cur: list[bytes] | None = None  # the current dump's bytes so far, once one has begun
    cur_time: datetime | None = None
    cur_line = 0
    judged = 0  # lines before `buf` (the judged part of the stream so far)
    pending = b""  # from the start of the last whole line: a header waits for its next line
    before = b""  # the last bytes judged, for a marker line that lies before a chunk
    while True:
        data = stream.read(_CHUNK)
        buf = pending + data
        cut = len(buf)
        if data:
            last = buf.rfind(b"\n")
            cut = buf.rfind(b"\n", 0, last) + 1 if last > 0 else 0
        window = before + buf
        base = len(before)  # where buf begins in window
        began = None  # where in window the current dump began, when it began this round
        for s in debug2_starts(window, base, base + cut):
            begin, when = _marker_start(window, s)
            if cur is not None:
                if began is not None:
                    yield window[began:begin], cur_time, cur_line
                else:
                    whole = b"".join(cur)
                    # its end (the next dump's marker line) may lie in what was kept already
                    yield (whole[: len(whole) - (base - begin)] if begin < base else whole + window[base:begin]), cur_time, cur_line
            cur, began, cur_time = [], begin, when
            cur_line = judged + window.count(b"\n", base, begin) if begin >= base else judged - window.count(b"\n", begin, base)
        if cur is not None:
            cur.append(window[began : base + cut] if began is not None else buf[:cut])
        if not data:
            if cur is not None:
                yield b"".join(cur), cur_time, cur_line
            return
        judged += buf.count(b"\n", 0, cut)
        before = window[max(0, base + cut - _LOOKBACK) : base + cut]
        pending = buf[cut:]
