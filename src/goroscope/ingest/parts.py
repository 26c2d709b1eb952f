"""Several dumps in one file: where each begins, and the marker line that times it.

A collector that appends dump after dump to one file (`while :; do date -u; curl -s
…/goroutine?debug=N; sleep 5; done >> collector.log`) leaves back-to-back dumps:

- debug=1 profiles, each from its `goroutine profile: total N` header
  (aggregated.split_profiles);
- debug=2 dumps, each from the goroutine that wrote it: runtime.Stack prints the
  calling goroutine first, so every `?debug=2` dump opens with `goroutine N
  [running]:` and `runtime/pprof.writeGoroutineStacks(` on top (runtime/pprof/pprof.go);
  a daemon's own `runtime.Stack(buf, true)` on a signal opens with its handler
  `[running]` instead, then goroutine 1 and the rest. In one moment goroutine ids are
  unique, so an id seen again begins a new dump, whoever wrote it. `DumpCuts` is
  that rule, fed the goroutines in order: by the parsers on what they read
  (`dump_starts`: how many dumps, the last one read) and here on the raw text
  (`debug2_parts`, `count_dumps`), so both cut at the same goroutines. A crash
  traceback is never cut: one process prints one traceback, however many `SIGQUIT:`
  sections a GOTRACEBACK=crash relay between its threads adds (each thread prints
  its own goroutine again there: runtime/signal_unix.go, runtime/traceback.go).

The parsers count the dumps of a file (Snapshot.dumps); the pipeline reads a file of
more than one as one part per dump (Source.part, path `FILE#N`), each its own
snapshot. `marker_before` finds the line just before a dump that times it (a zoned
time: `date -u`, `=== 2024-05-01T10:00:00Z ===`); the marker belongs to the dump it
precedes, not to the one before.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import BinaryIO

__all__ = ["marker_before", "DumpCuts", "dump_starts", "debug2_parts", "count_dumps", "header_line", "all_unique", "DEBUG2_WRITER", "MARKER_LINES"]

MARKER_LINES = 2  # non-blank lines just before a dump that may time it
DEBUG2_WRITER = "runtime/pprof.writeGoroutineStacks"  # the top frame of the goroutine writing a debug=2 dump
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


class DumpCuts:
    """The one rule for where a debug=2 dump begins, fed the goroutines of a file in order.

    A dump begins at the file's first goroutine, at a debug=2 writer's goroutine, and
    where a goroutine id of the current dump comes again: in one moment ids are
    unique (runtime/traceback.go prints each goroutine once; only a crash relay
    prints some again, and a crash traceback is never cut). The repeated goroutine
    begins the new dump, or the `[running]` goroutine just before it does when that
    one has frames: runtime.Stack prints its caller first, and a handler started
    per signal is new to every dump.
    """

    __slots__ = ("seen", "prev", "prev_opener")

    def __init__(self) -> None:
        self.seen: set[int] = set()  # the ids of the current dump so far
        self.prev: int | None = None  # the last id fed
        self.prev_opener = False  # whether it was `[running]` with frames

    def feed(self, gid: int, opener: bool, writer: bool) -> int:
        """Return where a dump begins as of goroutine `gid`: 0 nowhere, 1 here, 2 at the goroutine before.

        `opener`: it is `[running]` with frames (it may be a runtime.Stack caller);
        `writer`: its top frame is runtime/pprof's debug=2 writer."""
        seen = self.seen
        cut = 0
        if not seen:
            cut = 1
        elif writer or gid in seen:
            if not writer and self.prev_opener and len(seen) > 1:
                self.seen = seen = {self.prev}  # type: ignore[arg-type]
                cut = 2
            else:
                self.seen = seen = set()
                cut = 1
        seen.add(gid)
        self.prev, self.prev_opener = gid, opener
        return cut


def all_unique(ids: Iterable[int]) -> bool:
    """Return whether no id of `ids` comes twice. A sorted copy, not a set, for many ids: a dump's ids are
    mostly ascending (timsort runs through them), and a list of 200k ints is a fifth of such a set's memory;
    a small dump's ids (a fleet's: in no order) take a set, at a third of the sort's cost."""
    if isinstance(ids, list) and len(ids) < 10_000:
        return len(set(ids)) == len(ids)
    s = sorted(ids)
    return not any(map(operator.eq, s, islice(s, 1, None)))


def dump_starts(ids: list[int], openers: list[int], writers: list[int]) -> list[int]:
    """Return the indices of the goroutines (`ids`, in file order) where a dump begins (DumpCuts).

    `openers`: the indices of the `[running]` goroutines with frames, ascending;
    `writers`: those among them on the debug=2 writer's frame."""
    if not ids:
        return []
    if all_unique(ids):
        return [0] + [i for i in writers if i > 0]  # no id comes again: what feeding each would give
    cuts = DumpCuts()
    op, wr = set(openers), set(writers)
    out = []
    for i, gid in enumerate(ids):
        k = cuts.feed(gid, i in op, i in wr)
        if k:
            out.append(i - k + 1)
    return out


_HEADER_ID = re.compile(rb"^goroutine (\d+) (?:gp=\S+ m=\S+(?: mp=\S+)? )?\[(running\]:)?", re.M)
_WRITER_FRAME = DEBUG2_WRITER.encode() + b"("


class _Starts:
    """DumpCuts over raw text: the header lines where dumps begin, chunk after chunk."""

    def __init__(self) -> None:
        self.cuts = DumpCuts()
        self.prev_at = 0  # where the last header fed begins (absolute)

    def scan(self, buf: bytes | bytearray, lo: int, hi: int, origin: int) -> list[int]:
        """Return where dumps begin (absolute offsets of header lines; `buf` starts at `origin`) among
        the headers of lines `lo` to before `hi` of `buf`; the line after each must be in `buf`.

        A start may be the header before `lo` (a dump's opener, DumpCuts)."""
        out = []
        feed = self.cuts.feed
        for m in _HEADER_ID.finditer(buf, lo, hi):
            opener = writer = False
            if m.group(2) is not None:
                nxt = buf.find(b"\n", m.end()) + 1
                c = buf[nxt : nxt + 1]
                opener = nxt > 0 and c not in (b"\t", b" ", b"\r", b"\n", b"")
                writer = opener and buf.startswith(_WRITER_FRAME, nxt)
            at = origin + m.start()
            k = feed(int(m.group(1)), opener, writer)
            if k:
                out.append(at if k == 1 else self.prev_at)
            self.prev_at = at
        return out


def _marker_start(window: bytes | bytearray, at: int, floor: int) -> tuple[int, datetime | None]:
    """Return where the dump at `at` of `window` begins with its marker line (not before `floor`), and the marker's time."""
    lo = max(floor, at - 4096)
    text = bytes(window[lo:at]).decode("utf-8", "replace")
    off, when = marker_before(text, len(text), _debug2_line)
    if when is None:
        return at, None
    return lo + len(text[:off].encode("utf-8", "replace")), when


def debug2_parts(stream: BinaryIO) -> Iterator[tuple[bytes, datetime | None, int]]:
    """Yield every debug=2 dump of `stream` in order (DumpCuts says where each begins): its bytes
    (from its marker line), the time its marker line gives, and how many lines of the stream precede it.

    Read once, in chunks: what precedes the first dump is passed over, each dump is
    held until the next one begins. A dump followed by another is handed out without
    its last line end, so that one its writer's buffer cut short (runtime.Stack
    stops at the end of the caller's buffer without a word) reads as truncated.
    """
    starts = _Starts()
    buf = bytearray()  # the stream from `origin` on
    origin = 0
    origin_line = 0  # lines before `origin`
    judged = 0  # the stream is judged up to here (absolute; a line start)
    cur: int | None = None  # where the current dump begins (absolute), once one has
    cur_time: datetime | None = None
    cur_line = 0  # lines before `cur`
    while True:
        data = stream.read(_CHUNK)
        eof = not data
        buf += data
        if eof:
            hi = len(buf)
        else:
            last = buf.rfind(b"\n")
            hi = buf.rfind(b"\n", 0, last) + 1 if last > 0 else 0  # the last whole line waits: a header's next line
        lo = judged - origin
        for s in starts.scan(buf, lo, hi, origin):
            floor = (cur if cur is not None else origin) - origin
            begin, when = _marker_start(buf, s - origin, floor)
            begin += origin
            # lines counted on from the last dump's beginning (not from `origin` again: many dumps fit in a chunk)
            line = cur_line + buf.count(b"\n", cur - origin, begin - origin) if cur is not None else origin_line + buf.count(b"\n", 0, begin - origin)
            if cur is not None:
                piece = bytes(buf[cur - origin : begin - origin])
                yield (piece[:-1] if piece.endswith(b"\n") else piece), cur_time, cur_line
            cur, cur_time, cur_line = begin, when, line
        judged = origin + hi
        if eof:
            if cur is not None:
                yield bytes(buf[cur - origin :]), cur_time, cur_line
            return
        # keep the current dump, or before the first one the last bytes judged (its marker lines)
        keep = cur - origin if cur is not None else max(0, hi - _LOOKBACK)
        if keep > 0:
            k = buf.rfind(b"\n", 0, keep) + 1 if cur is None else keep  # cut at a line start
            origin_line += buf.count(b"\n", 0, k)
            del buf[:k]
            origin += k


def header_line(data: bytes) -> int:
    """Return how many lines of the dump `data` precede its first goroutine header (its marker lines)."""
    m = _HEADER_ID.search(data)
    return data.count(b"\n", 0, m.start()) if m else 0


def count_dumps(stream: BinaryIO) -> int:
    """Return how many debug=2 dumps `stream` holds (DumpCuts), reading it once without holding it."""
    starts = _Starts()
    n = 0
    pending = b""
    origin = 0
    while True:
        data = stream.read(_CHUNK)
        buf = pending + data
        if not data:
            return n + len(starts.scan(buf, 0, len(buf), origin))
        last = buf.rfind(b"\n")
        hi = buf.rfind(b"\n", 0, last) + 1 if last > 0 else 0
        n += len(starts.scan(buf, 0, hi, origin))
        pending = buf[hi:]
        origin += hi
