"""Parse the aggregated text forms of runtime/pprof: goroutine debug=1 and heap debug=1.

Contract:
- `parse(stream, path) -> Snapshot` reads a goroutine (or goroutineleak) profile
  written with debug=1 (runtime/pprof printCountProfile):

      goroutine profile: total 61
      17 @ 0x48c60a 0x44c137 0x48b805 0x4934e1
      # labels: {"route":"export", "tenant":"t03"}
      #	0x48b804	internal/poll.runtime_pollWait+0x84	/usr/local/go/src/runtime/netpoll.go:351
      <blank line>

  One Record per `N @ pc…` line: `count` is N, `labels` the `# labels:` set as a
  sorted tuple of (key, value), `frames` the `#\t` lines top first, exactly as
  printed (function without its `+0xoff`, file, line), which are the frames debug=2
  prints for the same stack. A record may have no frame line at all. The Snapshot has
  format "debug1", profile "goroutine" or "goroutineleak", total = the header's N.
- `parse_heap_text(stream, path) -> Snapshot` reads a heap (or allocs) profile
  written with debug=1 and returns format "debug1", profile "heap", no records, and
  heap_inuse_bytes scaled as the protobuf form scales it, so both forms of one
  moment give the same number.

Leniency: CRLF line ends, text before the header and junk after the dump are
tolerated; every line that cannot be read becomes a Problem with its line number. A
dump that stops part way (a cut mid-record, or records missing against the header's
total) is flagged `truncated`. DumpError only when there is no header at all.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import BinaryIO

from goroscope.errors import DumpError
from goroscope.ingest.parts import marker_before
from goroscope.model import PROFILE_GOROUTINE, PROFILE_GOROUTINELEAK, PROFILE_HEAP, Frame, Problem, Record, Snapshot

__all__ = ["parse", "parse_heap_text", "parse_text", "split_profiles", "parse_profiles", "ProfilePart", "parse_labels", "go_unquote", "UNKNOWN_FRAME"]

# printStackRecord prints `#\t0xPC` alone for a PC the runtime cannot symbolise
# (frame.Function == ""): no function, file or line. It is kept as this frame so the
# stack still shows that something was there; pprof.py maps a location without
# function or line information to the same frame.
UNKNOWN_FRAME = Frame(function="?", file="?", line=0)

_HEADER = re.compile(r"^(goroutine|goroutineleak) profile: total (\d+)[ \t]*$", re.M)
# One record: the count line, an optional labels line, then its frame lines. Every
# line is newline-terminated here; the text is normalised to end with "\n" first.
_RECORD = re.compile(
    r"^(?P<count>\d+) @(?P<pcs>(?:[ \t]+0x[0-9a-fA-F]+)*)[ \t]*\n"
    r"(?P<labels>[ \t]*# labels: [^\n]*\n)?"
    r"(?P<frames>(?:#\t[^\n]*\n)*)",
    re.M,
)
# A frame line; the tabwriter pads columns with runs of tabs. The function ends at the
# first `+0x<hex>` followed by a tab, the file at the last `:<digits>`.
_FRAME = re.compile(
    r"#\t+0x[0-9a-fA-F]+(?:\t+(?P<func>[^\t\n]+?)\+0x[0-9a-fA-F]+\t+(?P<file>[^\n]*?):(?P<line>\d+))?[ \t]*\n"
)
_LABEL_PAIR = re.compile(r'\s*"((?:[^"\\]|\\.)*)"\s*:\s*"((?:[^"\\]|\\.)*)"\s*(,|\}$)')
_GO_ESCAPE = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", re.S)
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
}

_HEAP_HEADER = re.compile(
    r"^heap profile: (\d+): (\d+) \[(\d+): (\d+)\] @ (?:heap|heap_v2|heapprofile)/(\d+)[ \t]*$", re.M
)
_HEAP_RECORD = re.compile(r"^(\d+): (\d+) \[(\d+): (\d+)\] @", re.M)


def parse(stream: BinaryIO, path: str, times: Sequence[datetime | None] = ()) -> Snapshot:
    """Parse a debug=1 goroutine or goroutineleak profile read from `stream`.

    A file of back-to-back profiles (a collector appending `?debug=1` output): the last
    is read, `dumps` says how many there are and a Problem says so (`parse_profiles`
    reads each). `times[k]` is the time the log prefix gave the k-th header line, if any.
    """
    text = _read_text(stream, path)
    pieces = split_profiles(text)
    if len(pieces) == 1:
        snap = replace(parse_text(text, path), dumps=1)
        return replace(snap, time=times[0]) if times and times[0] is not None and snap.time is None else snap
    snap = _parse_piece(text, pieces, len(pieces), path, times)
    note = Problem(line=None, message=f"{len(pieces)} goroutine profiles back to back: the last is read (`goroscope report` reads each as a snapshot)")
    return replace(snap, problems=snap.problems + (note,), dumps=len(pieces))


def parse_profiles(stream: BinaryIO, path: str, times: Sequence[datetime | None] = (), only: int | None = None) -> Iterator[Snapshot]:
    """Yield the Snapshot of every back-to-back profile of `stream` in file order (only the `only`-th, 1-based, when given)."""
    text = _read_text(stream, path)
    pieces = split_profiles(text)
    for k in range(1, len(pieces) + 1):
        if only is None or k == only:
            yield _parse_piece(text, pieces, k, path, times)


def _parse_piece(text: str, pieces: Sequence[ProfilePart], k: int, path: str, times: Sequence[datetime | None]) -> Snapshot:
    """Return the Snapshot of the k-th (1-based) of `pieces` of `text`, its problems at the file's lines."""
    piece = pieces[k - 1]
    snap = parse_text(text[piece.start : piece.end], path)
    offset = text.count("\n", 0, piece.start)
    problems = tuple(p.below(offset) for p in snap.problems)
    when = piece.time if piece.time is not None else (times[k - 1] if len(times) >= k else snap.time)
    return replace(snap, problems=problems, time=when, dumps=1)


@dataclass(frozen=True, slots=True)
class ProfilePart:
    """Where one of several back-to-back profiles lies in a file's text."""

    start: int  # offset of its header (the first: 0, what precedes it is junk before the dump)
    end: int  # offset of the next one's marker line or header (or the text's end)
    time: datetime | None  # the zoned time its marker line gives, UTC


_PROFILE_HEADER = re.compile(r"^(?:goroutine|goroutineleak) profile: total \d+[ \t]*\r?$", re.M)


def split_profiles(text: str) -> list[ProfilePart]:
    """Return the profiles of `text` in file order, one per header; a marker line just
    before a header (a zoned time: `date -u`, `=== 2024-05-01T10:00:00Z ===`) times it
    and belongs to it, not to the profile before."""
    heads = [m.start() for m in _PROFILE_HEADER.finditer(text)]
    if len(heads) < 2:
        return [ProfilePart(start=0, end=len(text), time=None)]
    marks = [_marker_time(text, h) for h in heads]
    ends = [max(m[0], h + 1) for m, h in zip(marks[1:], heads)] + [len(text)]
    starts = [heads[0] if marks[0][1] is not None else 0] + heads[1:]
    return [ProfilePart(start=s, end=e, time=m[1]) for s, e, m in zip(starts, ends, marks)]


def _marker_time(text: str, head: int) -> tuple[int, datetime | None]:
    """Return (offset, time) of the marker line before the header at `head`, or (head, None)."""
    return marker_before(text, head, lambda line: line.startswith("#") or _RECORD_HEAD.match(line) is not None)


def parse_text(text: str, path: str) -> Snapshot:
    """Parse debug=1 goroutine profile `text` (already decoded) from file `path`."""
    text, cut_line, cut_text = _normalise(text)
    if cut_line is not None and _whole_last_frame(text, cut_text):
        # the file lost only its final newline (an editor, a paste): the record is whole
        text, cut_line, cut_text = text + cut_text + "\n", None, ""
    header = _HEADER.search(text)
    if header is None and cut_line is not None:
        header = _HEADER.search(cut_text)  # a file of the header line alone, without newline
        if header is not None:
            text, cut_line, cut_text = cut_text + "\n", None, ""
            header = _HEADER.search(text)
    if header is None:
        raise DumpError(path, "no `goroutine profile: total N` header: not a debug=1 goroutine profile")
    problems: list[Problem] = []
    header_line = text.count("\n", 0, header.start()) + 1
    if text[: header.start()].strip():
        problems.append(Problem(line=1, message=f"{header_line - 1} line(s) before the profile header ignored"))
    profile = PROFILE_GOROUTINELEAK if header.group(1) == "goroutineleak" else PROFILE_GOROUTINE
    total = int(header.group(2))

    records: list[Record] = []
    frames_cache: dict[str, tuple[Frame, ...]] = {}  # identical frame blocks share one tuple
    pos = header.end() + 1  # the header line's newline
    line_no = header_line + 1  # 1-based line number of text[pos]
    open_record: tuple[int, int] | None = None  # (line, count) of a last record with no blank line after it
    for m in _RECORD.finditer(text, pos):
        gap = text[pos : m.start()]
        if gap.strip():
            _gap_problems(gap, line_no, problems, "unreadable line(s) between records")
        line_no += gap.count("\n")
        rec_line = line_no
        frames_text = m.group("frames")
        frames = frames_cache.get(frames_text)
        if frames is None:
            frames = _parse_frames(frames_text, rec_line + (2 if m.group("labels") else 1), problems)
            frames_cache[frames_text] = frames
        labels: tuple[tuple[str, str], ...] = ()
        if m.group("labels"):
            try:
                labels = parse_labels(m.group("labels").strip()[len("# labels: ") :])
            except ValueError as e:
                problems.append(Problem(line=rec_line + 1, message=f"unreadable labels: {e}"))
        count = int(m.group("count"))
        records.append(Record(count=count, labels=labels, frames=frames))
        pos = m.end()
        line_no = rec_line + m.group(0).count("\n")
        # printStackRecord ends every record with a blank line; without it the record
        # may have lost frame lines to a cut.
        open_record = None if text.startswith("\n", pos) else (rec_line, count)

    rest = text[pos:]
    counted = sum(r.count for r in records)
    truncated = False
    if open_record is not None and not rest.strip() and (cut_line is not None or counted != total):
        # The text stops inside the last record: its stack may be incomplete, and a wrong
        # stack would be a signature of its own, so the record is dropped (counts stay
        # lower bounds, which `truncated` says).
        records.pop()
        counted -= open_record[1]
        truncated = True
        where = cut_line if cut_line is not None else open_record[0]
        problems.append(
            Problem(
                line=where,
                message=f"dump ends inside the record of {open_record[1]} goroutine(s) that starts at line "
                f"{open_record[0]}: record dropped",
            )
        )
    elif rest.strip():
        first = rest.lstrip("\n").split("\n", 1)[0]
        first_line = line_no + (len(rest) - len(rest.lstrip("\n")))
        if counted < total and _looks_cut(first):
            truncated = True
            problems.append(Problem(line=first_line, message=f"dump ends mid-record: {first[:120]!r}"))
        else:
            _gap_problems(rest, line_no, problems, "text after the dump ignored")
    elif cut_line is not None and counted < total:
        truncated = True
        problems.append(Problem(line=cut_line, message=f"dump ends mid-line: {cut_text[:120]!r}"))
    elif cut_line is not None and cut_text.strip():
        problems.append(Problem(line=cut_line, message=f"text after the dump ignored: {cut_text[:120]!r}"))
    if counted < total:
        if not truncated:
            problems.append(
                Problem(line=line_no, message=f"dump stops after {counted} of the header's {total} goroutines")
            )
        truncated = True
    elif counted > total:
        problems.append(Problem(line=header_line, message=f"records hold {counted} goroutines, the header says {total}"))
    return Snapshot(
        format="debug1",
        profile=profile,
        total=total,
        records=tuple(records),
        truncated=truncated,
        problems=tuple(problems),
    )


def parse_heap_text(stream: BinaryIO, path: str) -> Snapshot:
    """Parse a debug=1 heap profile from `stream` into a heap Snapshot (in-use bytes only)."""
    text, _, _ = _normalise(_read_text(stream, path))
    header = _HEAP_HEADER.search(text)
    if header is None:
        raise DumpError(path, "no `heap profile: A: B [C: D] @ heap/R` header: not a debug=1 heap profile")
    rate = int(header.group(5)) // 2  # the header prints 2*MemProfileRate (pprof.go writeHeapInternal)
    inuse = 0
    seen = False
    for m in _HEAP_RECORD.finditer(text, header.end()):
        seen = True
        objects, space, allocs, alloc_space = (int(g) for g in m.groups())
        size = alloc_space // allocs if allocs else (space // objects if objects else 0)
        inuse += _scale_heap_space(objects, size, rate)
    problems: tuple[Problem, ...] = ()
    if not seen:
        # No records: keep the header's unscaled figure rather than nothing.
        inuse = int(header.group(2))
    return Snapshot(format="debug1", profile=PROFILE_HEAP, heap_inuse_bytes=inuse, problems=problems)


def _scale_heap_space(count: int, size: int, rate: int) -> int:
    """Return the in-use bytes of `count` objects of `size` as runtime/pprof scaleHeapSample scales them."""
    if count == 0 or size == 0:
        return 0
    if rate <= 1:
        return count * size
    scale = 1 / (1 - math.exp(-size / rate))
    return int(float(count * size) * scale)


def parse_labels(text: str) -> tuple[tuple[str, str], ...]:
    """Return the label set printed as `{"k":"v", ...}` (labelMap.String), sorted by key."""
    text = text.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError(f"not a {{...}} label set: {text[:80]!r}")
    body = text[1:]
    if body.strip() == "}":
        return ()
    out = []
    pos = 0
    while pos < len(body):
        m = _LABEL_PAIR.match(body, pos)
        if m is None:
            raise ValueError(f"cannot read {body[pos:pos + 80]!r}")
        out.append((go_unquote(m.group(1)), go_unquote(m.group(2))))
        pos = m.end()
        if m.group(3) == "}":
            break
    if pos != len(body):
        raise ValueError(f"text after the label set: {body[pos:pos + 80]!r}")
    return tuple(sorted(out))


def go_unquote(body: str) -> str:
    """Return the string a Go %q literal's `body` (without its quotes) stands for."""
    if "\\" not in body:
        return body
    return _GO_ESCAPE.sub(_unescape, body)


def _unescape(m: re.Match[str]) -> str:
    """Return the character one Go escape sequence `m` stands for."""
    esc = m.group(0)[1:]
    if esc[0] in "xuU":
        code = int(esc[1:], 16)
        if esc[0] == "x":
            # \xNN is one byte of invalid UTF-8 (strconv.Quote); keep it visible as U+FFFD.
            return chr(code) if code < 0x80 else "\ufffd"
        return chr(code) if code <= 0x10FFFF else "\ufffd"
    if esc[0] in "01234567" and len(esc) == 3:
        code = int(esc, 8)
        return chr(code) if code < 0x80 else "\ufffd"
    return _SIMPLE_ESCAPES.get(esc, esc)


# ---------------------------------------------------------------------- helpers


def _read_text(stream: BinaryIO, path: str) -> str:
    """Return the whole of `stream` decoded as UTF-8 (damaged bytes replaced)."""
    try:
        data = stream.read()
    except OSError as e:
        raise DumpError(path, f"cannot read: {e}") from None
    # strconv.Quote leaves labels as valid UTF-8; anything else is damage, not fatal.
    return data.decode("utf-8", errors="replace")


def _normalise(text: str) -> tuple[str, int | None, str]:
    """Return `text` with LF line ends less a last line cut part way, that line's number and text."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text or text.endswith("\n"):
        return text, None, ""
    # Every line the runtime writes ends with a newline: a last line without one was
    # cut part way (net/http/pprof stopped, a copy was interrupted). It is set aside
    # so that no half line is read as a frame.
    nl = text.rfind("\n")
    return text[: nl + 1], text.count("\n") + 1, text[nl + 1 :]


def _parse_frames(block: str, first_line: int, problems: list[Problem]) -> tuple[Frame, ...]:
    """Return the frames of a record's `#\\t` lines; unreadable lines become Problems."""
    if not block:
        return ()
    frames: list[Frame] = []
    pos = 0
    line = first_line
    for m in _FRAME.finditer(block):
        if m.start() != pos:
            for bad in block[pos : m.start()].splitlines():
                problems.append(Problem(line=line, message=f"unreadable frame line: {bad[:120]!r}"))
                line += 1
        func = m.group("func")
        if func is None:
            frames.append(UNKNOWN_FRAME)
        else:
            frames.append(Frame(function=func, file=m.group("file"), line=int(m.group("line"))))
        pos = m.end()
        line += 1
    if pos != len(block):
        for bad in block[pos:].splitlines():
            problems.append(Problem(line=line, message=f"unreadable frame line: {bad[:120]!r}"))
            line += 1
    return tuple(frames)


_RECORD_HEAD = re.compile(r"^(\d+) @((?:[ \t]+0x[0-9a-fA-F]+)*)[ \t]*$", re.M)


def _whole_last_frame(text: str, last: str) -> bool:
    """Return whether `last`, a final line without its newline after `text`, ends the profile whole.

    It must be a whole frame line (function+offset, file:line) of the last record,
    its PC must be one of the record's last two (only runtime.goexit, which
    printStackRecord never prints, may follow it), and the records must hold the
    header's total: then no frame or record can be missing. A line cut inside its
    line number would still pass; a cut anywhere else does not.
    """
    m = _FRAME.fullmatch(last + "\n")
    if m is None or m.group("func") is None:
        return False
    header = _HEADER.search(text)
    if header is None:
        return False
    heads = list(_RECORD_HEAD.finditer(text, header.end()))
    if not heads or text.find("\n\n", heads[-1].end()) >= 0:
        return False  # the line does not belong to the last record
    if sum(int(h.group(1)) for h in heads) != int(header.group(2)):
        return False
    pcs = [int(x, 16) for x in heads[-1].group(2).split()][-2:]
    pc = int(re.match(r"#\t+0x([0-9a-fA-F]+)", last).group(1), 16)  # type: ignore[union-attr]
    return pc in pcs or pc + 1 in pcs


def _looks_cut(line: str) -> bool:
    """Return True when `line` is what a writer stopped part way through would leave."""
    return bool(re.match(r"^(?:#|\d+ @|\d+$|\d+ $)", line))


def _gap_problems(gap: str, first_line: int, problems: list[Problem], what: str) -> None:
    """Add one Problem for the non-blank text in `gap`, which starts at line `first_line`."""
    lines = gap.split("\n")
    for i, ln in enumerate(lines):
        if ln.strip():
            n_bad = sum(1 for x in lines[i:] if x.strip())
            problems.append(Problem(line=first_line + i, message=f"{what}: {ln[:120]!r} ({n_bad} line(s))"))
            return
