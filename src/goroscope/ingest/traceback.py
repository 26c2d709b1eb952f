"""Parse debug=2 goroutine dumps and crash tracebacks (SIGQUIT, panic, fatal error).

Contract: `parse(stream, path) -> Snapshot`.

- `stream` is a decompressed binary reader. The text is the runtime's traceback
  format (runtime/traceback.go of Go 1.19-1.27): blocks of
  `goroutine N [state]:` + frames, separated by blank lines.
- Text before the first goroutine header and after the last goroutine (a panic
  message, `SIGQUIT: quit`, `PC=... m=0 sigcode=0`, a register dump, `exit status 2`,
  log lines) is junk around the dump and is skipped silently, as panicparse does.
  So is a sanitizer's or fuzzer's report glued to the last goroutine
  (`AddressSanitizer:DEADLYSIGNAL`, `SCARINESS: 10 (signal)`, `#0 0x… in fn
  file:line`): a line that ends in `)` but names no Go function (it has a space)
  is a frame only when Go's file line follows it, and an indented `#N` line is
  never one of Go's.
- `format` is "traceback" (and `crash` True) when the text is crash output, else
  "debug2"; `profile` is "goroutineleak" when the running goroutine is in
  runtime/pprof's leak-profile writer.
- A dump that ends mid-goroutine (net/http/pprof cuts debug=2 at exactly 64 MiB,
  mid-line, with no marker) keeps every goroutine read, sets `truncated` and adds
  a Problem "dump ends mid-goroutine" naming the line.
- A line that cannot be read becomes a Problem with its 1-based line number; the
  rest of its goroutine and of the dump is kept. DumpError(path, reason) is raised
  only when not a single goroutine could be read.
- Frames are as printed, top first, without argument lists or pc offsets.
  Goroutines with identical stacks share one `frames` tuple object (aggregate
  relies on identity).

Speed: the stream is read in large chunks cut at goroutine boundaries
(`\\n\\ngoroutine `). A block whose lines alternate function / file line (the
common case) is keyed by its file lines; the function lines are checked against
the cached names with C-level `bytes.startswith`, so argument lists and the
`in goroutine N` parent id never defeat the cache and each distinct stack is parsed
once. Anything else goes through a line-by-line parser that handles every form.
"""

from __future__ import annotations

import gc
import re
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import compress, count, repeat
from operator import attrgetter, not_
from typing import BinaryIO

from goroscope import words
from goroscope.errors import DumpError
from goroscope.ingest.parts import DEBUG2_WRITER, dump_starts
from goroscope.model import (
    PROFILE_GOROUTINE,
    PROFILE_GOROUTINELEAK,
    CreatedBy,
    Frame,
    Goroutine,
    Problem,
    Snapshot,
)

__all__ = ["parse", "collector_paused", "Goroutines", "CHUNK_BYTES", "MAX_PENDING_BYTES"]

CHUNK_BYTES = 4 * 1024 * 1024  # how much is read at a time (what is split stays in cache)
MAX_PENDING_BYTES = 64 * 1024 * 1024  # a longer stretch without a line end is skipped (bounded memory)
# runtime/pprof.writeGoroutineStacks gives up at a 64 MiB buffer and writes it as is.
PPROF_DEBUG2_LIMIT = 64 << 20
TRUNCATED = "dump ends mid-goroutine"

_SEP = b"\n\ngoroutine "
_LEAK_WRITER = "runtime/pprof.writeGoroutineLeak"  # runtime/pprof/pprof.go

# The start of a goroutine header (runtime/traceback.go goroutineheader):
#   goroutine N [status...]:   goroutine N gp=0x.. m=nil [..]:   goroutine N gp=.. m=3 mp=0x.. [..]:
_HEADER_START = re.compile(rb"^goroutine \d+ (?:gp=\S+ m=\S+(?: mp=\S+)? )?\[", re.M)
# The part of a header after `goroutine N `: optional gp/m words, the bracket, labels.
_HEADER_REST = re.compile(rb"(?:([^\[]*?) )?\[([^\]]*)\](?: (\{.*\}))?:[ \t]*")
_MINUTES = re.compile(r"(\d+) minutes?")
# The `, N minutes` of a header's bracket, a whole comma-separated part (what _MINUTES reads).
_WAIT_MINUTES = re.compile(rb", (\d+) minutes?(?=, |\])")
# Flags the runtime appends to the status inside the bracket, in print order.
_FLAGS = (" (leaked)", " (scan)", " (durable)")
# One `key: value` of a Go 1.27 header label set; a token is bare or Go-quoted.
_LABEL_TOKEN = rb'(?:"(?:[^"\\]|\\.)*"|[A-Za-z0-9./_]*)'
_LABEL_ITEM = re.compile(rb"(" + _LABEL_TOKEN + rb"): (" + _LABEL_TOKEN + rb")(?:, |$)")
_UNQUOTE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)", re.S)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"'}
_GO_VERSION = re.compile(r"(?<![\w.])(go1\.\d+(?:\.\d+)?(?:(?:rc|beta)\d+)?)(?![\w])")
_GO_VERSION_B = re.compile(rb"(?<![\w.])(go1\.\d+(?:\.\d+)?(?:(?:rc|beta)\d+)?)(?![\w])")
_ELIDED = re.compile(rb"\.\.\.(?:additional|\d+) frames elided\.\.\.")
_ANCESTOR = re.compile(rb"\[originating from goroutine (\d+)\]:")
_UNAVAILABLE = b"goroutine running on other thread; stack unavailable"


class _Detail:
    """What aggregate counts of a header: its state, labels and flags, one object for each
    distinct three (headers differ mostly in their minutes). Hashed by identity."""

    __slots__ = ("state", "labels", "flags")

    def __init__(self, state: str, labels: tuple[tuple[str, str], ...], flags: tuple[str, ...]) -> None:
        """Hold one header's `state`, `labels` and `flags`."""
        self.state = state
        self.labels = labels
        self.flags = flags


_DETAILS: dict[tuple, _Detail] = {}  # (state, labels, flags) -> its one _Detail (bounded)


def _detail(state: str, labels: tuple[tuple[str, str], ...], flags: tuple[str, ...]) -> _Detail:
    """Return the one _Detail of (`state`, `labels`, `flags`) in this process."""
    k = (state, labels, flags)
    d = _DETAILS.get(k)
    if d is None:
        if len(_DETAILS) >= 100_000:
            _DETAILS.clear()  # (a fresh object for a known three only splits a count in two: still right)
        d = _DETAILS[k] = _Detail(state, labels, flags)
    return d


@dataclass(slots=True, eq=False)
class _Header:
    """What a header says besides the id; shared by every header printed alike.

    Compared and hashed by identity: headers printed alike are one object (the
    header cache). Never changed once made (not frozen: a frozen record's __init__
    sets each field through object.__setattr__, and headers are made per minute waited)."""

    state: str
    minutes: int
    flags: tuple[str, ...]
    locked: bool
    labels: tuple[tuple[str, str], ...]
    extra: str
    problem: str | None  # set when part of the header could not be read
    detail: _Detail  # state, labels and flags as one shared object (what aggregate counts by)


class _Group:
    """What aggregate counts goroutines by: a stack's frames and its created-by position, whatever the
    parent id; shared by every goroutine of one regular stack. Hashed by identity."""

    __slots__ = ("frames", "at", "version")

    def __init__(self, frames: tuple[Frame, ...], created_by: CreatedBy | None) -> None:
        """Hold `frames` and the position of `created_by`."""
        self.frames = frames
        self.at = None if created_by is None else (created_by.function, created_by.file, created_by.line)
        self.version = _version_in_frames(frames)  # the Go version its GOROOT paths name, None if none


class _Stack:
    """One goroutine's stack as the fast path reads it: its frames and created-by, shared by
    every goroutine of one regular stack and parent id (the column `Goroutines` keeps), and
    its `_Group`. (No stack refers back to its entry: a dropped cache is freed at once, not
    by the cycle collector.)"""

    __slots__ = ("frames", "created_by", "step", "group")

    def __init__(self, frames: tuple[Frame, ...], created_by: CreatedBy | None, step: int, group: _Group) -> None:
        """Hold `frames` (interned), `created_by`, `step` (the lines of a block with this stack and the blank line
        after it) and `group`."""
        self.frames = frames
        self.created_by = created_by
        self.step = step
        self.group = group


class _Own:
    """The stack column's item for a goroutine the line parser read: its own record and group (see `_Stack`)."""

    __slots__ = ("record", "frames", "created_by", "group")

    def __init__(self, record: Goroutine) -> None:
        """Stand for `record`."""
        self.record = record
        self.frames = record.frames
        self.created_by = record.created_by
        self.group = _Group(record.frames, record.created_by)


_STEP = attrgetter("step")
_GROUP = attrgetter("group")


class _Entry:
    """One distinct regular stack: its parsed frames and how to recognise it again."""

    __slots__ = ("nlines", "prefixes", "frames", "cb_len", "cb", "group", "plain", "cbs", "cb_lines")

    def __init__(self, nlines, prefixes, frames, cb_len, cb_function, cb_file, cb_line):
        """Store what `_State.entry_for` parsed from one block."""
        self.nlines = nlines  # number of body lines
        self.prefixes = prefixes  # per even line: `name(` or `created by name`
        self.frames = frames  # interned frames tuple
        self.cb_len = cb_len  # len of the `created by name` prefix, 0 when none
        self.cb = (cb_function, cb_file, cb_line) if cb_len else None  # the created-by position
        self.group = _Group(frames, CreatedBy(function=cb_function, file=cb_file, line=cb_line) if cb_len else None)
        self.plain = None if cb_len else _Stack(frames, None, nlines + 2, self.group)  # the stack, when it has no created-by
        self.cbs: dict[int | None, _Stack] = {}  # parent id -> the stack with that created-by
        self.cb_lines: dict[bytes, _Stack] = {}  # created-by line -> the same, looked up first


def _unquote(token: bytes) -> str:
    """Return a label token as text, undoing the runtime's printquoted escapes."""
    text = token.decode("utf-8", "replace")
    if not (len(text) >= 2 and text[0] == '"' and text[-1] == '"'):
        return text

    def one(m: re.Match) -> str:
        """Return the character one escape stands for."""
        e = m.group(1)
        if len(e) == 1:
            return _ESCAPES.get(e, e)
        code = int(e[1:], 16)
        if e[0] == "x" and code >= 0x80:
            return "\ufffd"  # an invalid UTF-8 byte in the label
        try:
            return chr(code)
        except ValueError:
            return "\ufffd"

    return _UNQUOTE.sub(one, text[1:-1])


def _parse_labels(raw: bytes) -> tuple[tuple[str, str], ...] | None:
    """Return the `{k: v, ...}` label set of a Go 1.27 header, None if unreadable."""
    inner = raw[1:-1]
    out = []
    pos = 0
    while pos < len(inner):
        m = _LABEL_ITEM.match(inner, pos)
        if m is None or m.end() == pos:
            return None
        out.append((_unquote(m.group(1)), _unquote(m.group(2))))
        pos = m.end()
    return tuple(out)


def _parse_header_rest(rest: bytes) -> _Header | None:
    """Parse what follows `goroutine N ` in a header; None if it is no header."""
    m = _HEADER_REST.fullmatch(rest)
    if m is None:
        return None
    pre, inner, labels_raw = m.groups()
    text = inner.decode("utf-8", "replace")
    parts = text.split(", ")
    status = parts[0]
    flags: list[str] = []
    stripped = True
    while stripped:
        stripped = False
        for f in _FLAGS:
            if status.endswith(f) and len(status) > len(f):
                status = status[: -len(f)]
                flags.insert(0, f[2:-1])
                stripped = True
    minutes = 0
    locked = False
    extra: list[str] = []
    if pre:
        extra.append(pre.decode("utf-8", "replace"))
    for p in parts[1:]:
        mm = _MINUTES.fullmatch(p)
        if mm:
            minutes = int(mm.group(1))
        elif p == "locked to thread":
            locked = True
        else:
            extra.append(p)  # `synctest bubble N` (1.25+), `synctest group N` (1.24)
    labels: tuple[tuple[str, str], ...] = ()
    problem = None
    if labels_raw:
        parsed = _parse_labels(labels_raw)
        if parsed is None:
            problem = "unreadable goroutine labels"
            extra.append(labels_raw.decode("utf-8", "replace"))
        else:
            labels = parsed
    return _Header(
        state=status,
        minutes=minutes,
        flags=tuple(flags),
        locked=locked,
        labels=labels,
        extra=", ".join(extra),
        problem=problem,
        detail=_detail(status, labels, tuple(flags)),
    )


def _file_line(line: bytes) -> tuple[bytes, int] | None:
    """Return (file, line) of a frame's position line, None if unreadable."""
    text = line.strip(b" \t")
    k = text.find(b" fp=")
    if k >= 0:
        text = text[:k]
    k = text.rfind(b" +0x")
    if k >= 0:
        text = text[:k]
    k = text.find(b" pc=")  # cgo symbolizer frames: `\tfile:line pc=0x..`
    if k >= 0:
        text = text[:k]
    elif text.startswith(b"pc="):
        return b"?", 0
    f, colon, n = text.rpartition(b":")
    if not colon or not f or not n.isdigit():
        return None
    return f, int(n)


# A frame's position line without its indentation: a path with no blank or paren
# ending in a Go, assembly or (Go <= 1.4) C file and its line.
_BARE_POS = re.compile(rb"[^\s()]+\.(?:go|s|c):\d+(?: \+0x[0-9a-f]+)?(?: fp=0x[0-9a-f]+ sp=0x[0-9a-f]+ pc=0x[0-9a-f]+)?")


def _go_file_line(line: bytes) -> bool:
    """Return whether `line` is a frame's position line in Go's form (indented `path:line`)."""
    return line[:1] in (b"\t", b" ") and not _foreign_frame(line) and _file_line(line) is not None


def _foreign_frame(line: bytes) -> bool:
    """Return whether the indented `line` is a frame of another tool's stack (a sanitizer's
    or gdb's `#0 0x… in fn file:line`), which Go never prints."""
    return line.lstrip(b" \t")[:1] == b"#"


_G_FIELDS = (
    "id", "state", "wait_minutes", "flags", "locked_to_thread", "labels",
    "frames", "frames_elided", "created_by", "ancestors", "header_extra",
)


def _goroutine_factory():
    """Return a fast maker of Goroutine records for the cached path.

    The dataclass __init__ of a frozen record costs ~3 us (one object.__setattr__ per
    field); filling the slots through their descriptors costs a third of that, which
    matters at hundreds of thousands of goroutines. Falls back to the constructor
    if the record's fields ever differ from the ones set here.
    """
    import dataclasses

    names = tuple(f.name for f in dataclasses.fields(Goroutine))
    if names != _G_FIELDS or tuple(getattr(Goroutine, "__slots__", ())) != _G_FIELDS:

        def slow(gid: int, hdr: _Header, frames: tuple[Frame, ...], cb: CreatedBy | None) -> Goroutine:
            """Return the Goroutine of one cached block (the constructor way)."""
            return Goroutine(
                id=gid, state=hdr.state, wait_minutes=hdr.minutes, flags=hdr.flags,
                locked_to_thread=hdr.locked, labels=hdr.labels, frames=frames,
                created_by=cb, header_extra=hdr.extra,
            )

        return slow
    s_id, s_st, s_wm, s_fl, s_lk, s_lb, s_fr, s_el, s_cb, s_an, s_ex = (
        Goroutine.__dict__[n].__set__ for n in _G_FIELDS
    )
    new = object.__new__

    def fast(gid: int, hdr: _Header, frames: tuple[Frame, ...], cb: CreatedBy | None) -> Goroutine:
        """Return the Goroutine of one cached block (the slot-descriptor way)."""
        g = new(Goroutine)
        s_id(g, gid)
        s_st(g, hdr.state)
        s_wm(g, hdr.minutes)
        s_fl(g, hdr.flags)
        s_lk(g, hdr.locked)
        s_lb(g, hdr.labels)
        s_fr(g, frames)
        s_el(g, False)
        s_cb(g, cb)
        s_an(g, ())
        s_ex(g, hdr.extra)
        return g

    return fast


_make_goroutine = _goroutine_factory()


class Goroutines(Sequence):
    """The goroutines of a dump as the parser keeps them: Goroutine records made only when looked at.

    The fast path reads a goroutine as three columns: its id, its header (shared by
    every header printed alike) and its stack (a `_Stack`: frames and created-by,
    shared by every goroutine of one stack and parent); making it a Goroutine record
    costs several times that, and a report never looks at one goroutine: aggregate
    counts the columns (`columns()`). Anything else (iterating, indexing, comparing)
    sees the tuple of Goroutine records, made once, in dump order. A goroutine the
    line parser read keeps its record in the stack column (`_Own`).
    """

    __slots__ = ("_ids", "_headers", "_stacks", "_made")

    def __init__(self, ids: list[int | None], headers: list[_Header], stacks: list) -> None:
        """Hold the columns, one item per goroutine in dump order: `ids`, `headers`, `stacks` (`_Stack` or Goroutine)."""
        self._ids = ids
        self._headers = headers
        self._stacks = stacks
        self._made: tuple[Goroutine, ...] | None = None

    def records(self) -> tuple[Goroutine, ...]:
        """Return every goroutine as a Goroutine record (made on the first call)."""
        if self._made is None:
            make = _make_goroutine
            self._made = tuple(
                s.record if type(s) is _Own else make(gid, h, s.frames, s.created_by)
                for gid, h, s in zip(self._ids, self._headers, self._stacks)
            )
        return self._made

    def columns(self) -> tuple[list[int | None], list[_Header], list]:
        """Return (ids, headers, stacks), one item per goroutine in dump order, without making records.

        A header has `minutes` and `detail` (`state`, `labels`, `flags`); a stack has
        `frames`, `created_by` and `group` (`frames` and `at`, the created-by position
        or None). Details and groups are shared by the goroutines printed alike, and
        hash by identity."""
        return self._ids, self._headers, self._stacks

    @classmethod
    def of(cls, goroutines: Sequence[Goroutine]) -> Goroutines:
        """Return `goroutines` as Goroutines: as they are when they are, else made from their records."""
        if isinstance(goroutines, Goroutines):
            return goroutines
        made = cls(
            [g.id for g in goroutines],
            [
                _Header(state=g.state, minutes=g.wait_minutes, flags=g.flags, locked=g.locked_to_thread, labels=g.labels,
                        extra=g.header_extra, problem=None, detail=_detail(g.state, g.labels, g.flags))
                for g in goroutines
            ],
            [_Own(g) for g in goroutines],
        )
        made._made = tuple(goroutines)
        return made

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        return self.records()[i]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.records())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Goroutines):
            other = other.records()
        return isinstance(other, tuple) and self.records() == other

    def __hash__(self) -> int:
        return hash(self.records())

    def __repr__(self) -> str:
        return repr(self.records())

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (tuple, (self.records(),))  # pickled as the plain tuple of records


class _Builder:
    """A goroutine being read by the line parser."""

    __slots__ = (
        "gid", "hdr", "line", "frames", "elided", "created_by", "ancestors",
        "in_ancestor", "pending", "unavailable", "content",
    )

    def __init__(self, gid: int | None, hdr: _Header, line: int) -> None:
        """Start a goroutine from its header, read at `line`."""
        self.gid = gid
        self.hdr = hdr
        self.line = line
        self.frames: list[Frame] = []
        self.elided = False
        self.created_by: CreatedBy | None = None
        self.ancestors: list[int] = []
        self.in_ancestor = False
        # (kind, name, parent, line): a function or created-by line awaiting its file line
        self.pending: tuple[str, str, int | None, int] | None = None
        self.unavailable = False
        self.content = False  # any line after the header was read


_BAD_HEADER = _Header(state="", minutes=0, flags=(), locked=False, labels=(), extra="", problem=None, detail=_Detail("", (), ()))


# What the stack caches of one process may hold before the next parse starts them
# again empty: the estimated bytes of headers, block keys and frames (the stacks of a
# fleet's services fit many times over). Within one parse they always take what is
# new, as the per-file caches did: a single huge dump's distinct stacks are far fewer
# than its goroutines (discovery.max_stacks bounds them), and a stack left out of the
# cache would be parsed again at each of its goroutines (the 614 MB bench dump took
# 4.5x as long when the bound stopped inserts half way through it).
SHARED_CACHE_BYTES = 16 << 20
# Whole block bodies are another matter: a body carries its goroutine's argument
# words, so a big dump's bodies are mostly distinct. They get a budget of their own
# and stop being cached (not the stacks) once it is spent.
BODY_CACHE_BYTES = 4 << 20
# A dump whose first this many bodies missed, and that missed more often than it hit,
# stops looking bodies up: one huge dump's goroutines differ in their arguments.
BODY_MISSES_TRIED = 2000


class _Shared:
    """What one parse learns that the next parse in this process can use.

    A worker parses one small dump after another, and a service's stacks repeat
    across its snapshots and pods: the headers, the distinct stacks (the block
    entries with their frames), the frame tuples and the exact block bodies seen
    already are kept here between parses, so each distinct stack is parsed once per
    process, not once per file. Only what reads the same whatever file it is in
    goes here (a frame whose bytes are not UTF-8 records a Problem in its own
    file, so it is never shared). Bounded: past SHARED_CACHE_BYTES everything is
    dropped at the next parse's start; past BODY_CACHE_BYTES no body is added, and
    the bodies are dropped at the next parse's start.
    """

    __slots__ = ("hcache", "bad", "templates", "cache", "frame_cache", "tuples", "bodies", "bytes", "body_bytes")

    def __init__(self) -> None:
        """Start empty."""
        self.hcache: dict[bytes, _Header | None] = {}  # header after `goroutine N ` -> parsed
        self.bad: set[_Header] = set()  # the headers in hcache read with a problem (the fast path leaves them)
        self.templates: dict[bytes, _Header | None] = {}  # a header with its `N minutes` made `0 minutes` -> parsed
        self.cache: dict[bytes, list[_Entry]] = {}  # a block's file lines -> the stacks with them
        self.frame_cache: dict[tuple[bytes, bytes, int], Frame] = {}  # (function, file, line) -> shared Frame
        self.tuples: dict[tuple[Frame, ...], tuple[Frame, ...]] = {}  # interned frames tuples
        # a whole block body (the lines after the header) -> its stack:
        # a goroutine still blocked where it was prints the same body at every snapshot
        self.bodies: dict[bytes, _Stack] = {}
        self.bytes = 0  # estimated size of the above but bodies
        self.body_bytes = 0  # estimated size of bodies


_SHARED = _Shared()


def _shared() -> _Shared:
    """Return the caches this process shares between parses, emptied first when they outgrew their bound."""
    global _SHARED
    if _SHARED.bytes > SHARED_CACHE_BYTES:
        _SHARED = _Shared()
    elif _SHARED.body_bytes >= BODY_CACHE_BYTES:
        _SHARED.bodies = {}
        _SHARED.body_bytes = 0
    return _SHARED


# How many distinct stacks one parse may meet before it refuses the dump (config
# discovery.max_stacks; set_max_stacks). Identical stacks are counted, not stored again,
# but every distinct one is kept: a dump of a million goroutines that are all different
# would take gigabytes.
_MAX_STACKS = [100_000]


def set_max_stacks(n: int) -> None:
    """Set how many distinct stacks a parse in this process accepts (discovery.max_stacks)."""
    _MAX_STACKS[0] = n


class _State:
    """Everything one parse accumulates: goroutines, problems; the caches it shares (_Shared)."""

    def __init__(self, path: str) -> None:
        """Start an empty parse of `path`."""
        self.path = path
        # the goroutines read, in dump order, as columns (see Goroutines): ids, headers, stacks
        self.ids: list[int | None] = []
        self.headers: list[_Header] = []
        self.stacks: list[_Stack | Goroutine] = []
        self.problems: list[Problem] = []
        self.truncated = False
        self.crash = False
        self.gp_headers = False
        self.junk_crash = False  # crash markers in the text around the dump
        self.go_version: str | None = None
        self.shared = sh = _shared()
        self.hcache = sh.hcache
        self.cache = sh.cache
        self.frame_cache = sh.frame_cache
        self.tuples = sh.tuples
        self.bodies = sh.bodies
        self.bodies_get = sh.bodies.get  # None once this dump's bodies proved mostly new
        self.body_misses = 0
        self.cur: _Builder | None = None
        self.end_line: int | None = None  # the data's last line, once known
        self.stacks_left = _MAX_STACKS[0]  # new distinct stacks this parse may still meet

    # ------------------------------------------------------------------ helpers

    def problem(self, line: int | None, message: str) -> None:
        """Record a Problem at `line`."""
        self.problems.append(Problem(line=line, message=message))

    def text(self, raw: bytes, line: int) -> str:
        """Decode `raw`, recording a Problem at `line` when it is not UTF-8."""
        try:
            return raw.decode()
        except UnicodeDecodeError:
            self.problem(line, "line is not valid UTF-8 (bad bytes replaced)")
            return raw.decode("utf-8", "replace")

    def frame(self, name: bytes, file: bytes, n: int, line: int) -> Frame:
        """Return the shared Frame for (`name`, `file`, `n`) (one not UTF-8 is this file's own, with its Problem)."""
        k = (name, file, n)
        f = self.frame_cache.get(k)
        if f is None:
            try:
                f = Frame(function=name.decode(), file=file.decode(), line=n)
            except UnicodeDecodeError:
                return Frame(function=self.text(name, line), file=self.text(file, line), line=n)
            self.frame_cache[k] = f
            self.shared.bytes += len(name) + len(file) + 150
        return f

    def intern(self, frames: list[Frame] | tuple[Frame, ...]) -> tuple[Frame, ...]:
        """Return the one shared tuple equal to `frames`."""
        t = tuple(frames)
        got = self.tuples.setdefault(t, t)
        if got is t:
            self.stacks_left -= 1
            if self.stacks_left < 0:
                raise DumpError(
                    self.path,
                    f"more than {_MAX_STACKS[0]} distinct stacks in one dump: not read, to bound memory "
                    "(discovery.max_stacks raises the bound)",
                )
        return got

    def header(self, rest: bytes) -> _Header | None:
        """Return the parsed header for `rest` (what follows `goroutine N `), cached."""
        h = self.hcache.get(rest, False)
        if h is False:
            if rest.startswith(b"gp="):
                self.gp_headers = True
                return _parse_header_rest(rest)  # (never cached: gp= differs at every goroutine)
            h = self.waiting(rest)
            self.hcache[rest] = h
            if h is not None and h.problem is not None:
                self.shared.bad.add(h)
            self.shared.bytes += len(rest) + 200
        return h  # type: ignore[return-value]

    def waiting(self, rest: bytes) -> _Header | None:
        """Parse `rest` (see `header`): one that differs from a header read before only in its
        `N minutes` (a goroutine waiting one more minute) is that header with other minutes."""
        k = rest.find(b"]")  # the end of the bracket: the only `]` of the status, before any labels
        m = _WAIT_MINUTES.search(rest, 0, k + 1) if k > 0 else None
        if m is None or _WAIT_MINUTES.search(rest, m.end(), k + 1) is not None:
            return _parse_header_rest(rest)
        shape = rest[: m.start(1)] + b"0" + rest[m.end(1) :]
        templates = self.shared.templates
        proto = templates.get(shape, False)
        if proto is False:
            proto = templates[shape] = _parse_header_rest(shape)
            self.shared.bytes += len(shape) + 200
        if proto is None:
            return None
        return _Header(proto.state, int(m.group(1)), proto.flags, proto.locked, proto.labels, proto.extra, proto.problem, proto.detail)

    def junk(self, text: bytes) -> None:
        """Look at text around the dump for crash markers and a Go version."""
        if not text:
            return
        sample = text[: 1 << 20]
        if words.CRASH.search(sample):
            self.junk_crash = True
        if self.go_version is None:
            m = _GO_VERSION_B.search(sample)
            if m:
                self.go_version = m.group(1).decode("ascii")

    # ------------------------------------------------------------ fast path

    def entry_for(self, lines: list[bytes]) -> _Entry | None:
        """Parse a regular block body (function/file pairs, optional created by); else None."""
        n = len(lines)
        if n < 2 or n % 2:
            return None
        prefixes = []
        frames = []
        cb_len = 0
        cb = (None, None, 0)
        for i in range(0, n, 2):
            f = lines[i]
            fl = lines[i + 1]
            if fl[:1] != b"\t":
                return None
            pos = _file_line(fl)
            if pos is None:
                return None
            if f.startswith(b"created by "):
                if i + 2 != n:
                    return None
                rest = f[11:]
                k = rest.find(b" in goroutine ")
                if k >= 0:
                    if not rest[k + 14 :].isdigit():
                        return None
                    rest = rest[:k]
                if not rest or b" " in rest:
                    return None
                prefix = b"created by " + rest
                try:
                    cb = (rest.decode(), pos[0].decode(), pos[1])
                except UnicodeDecodeError:
                    return None
                cb_len = len(prefix)
                prefixes.append(prefix)
                continue
            if not f.endswith(b")") or f[:1] in (b"\t", b" ", b"[", b".", b""):
                return None
            k = f.rfind(b"(")
            if k <= 0 or f.startswith(b"goroutine "):
                return None
            name = f[:k]
            try:
                name.decode()
                pos[0].decode()
            except UnicodeDecodeError:
                return None
            prefixes.append(f[: k + 1])
            frames.append(self.frame(name, pos[0], pos[1], 0))
        if not frames:
            return None
        return _Entry(n, tuple(prefixes), self.intern(frames), cb_len, *cb)

    def stack_for(self, body: bytes) -> _Stack | None:
        """Return the stack of a block whose lines after the header are `body`, None unless it is a regular one.

        Its file lines are the key of the stacks seen before (arguments never defeat
        it); the body is remembered too, within its budget, while this dump looks
        bodies up."""
        lines = body.split(b"\n")
        funcs = lines[0::2]
        ent = self.lookup(lines, funcs, b"\n".join(lines[1::2]))
        if ent is None:
            return None
        stack = self.stack_of(ent, funcs[-1])
        shared = self.shared
        if stack is not None and self.bodies_get is not None and shared.body_bytes < BODY_CACHE_BYTES:
            self.bodies[body] = stack
            shared.body_bytes += len(body) + 100
        return stack

    def lookup(self, lines: list[bytes], funcs: list[bytes], key: bytes) -> _Entry | None:
        """Return the cache entry for a block body split into `lines`, parsing it on a miss."""
        ents = self.cache.get(key)
        n = len(lines)
        if ents is not None:
            for e in ents:
                if e.nlines == n and all(map(bytes.startswith, funcs, e.prefixes)):
                    return e
        ent = self.entry_for(lines)
        if ent is None:
            return None
        if ents is None:
            self.cache[key] = [ent]
            self.shared.bytes += len(key) + 200
        elif len(ents) < 8:
            ents.append(ent)
        return ent

    @staticmethod
    def stack_of(ent: _Entry, line: bytes) -> _Stack | None:
        """Return the stack of `ent` for its block's last function line `line` (a created-by names the parent id),
        None if that line differs from `ent`'s."""
        if not ent.cb_len:
            return ent.plain
        st = ent.cb_lines.get(line)
        if st is not None:
            return st
        rem = line[ent.cb_len :]
        if not rem:
            parent = None
        elif rem.startswith(b" in goroutine ") and rem[14:].isdigit():
            parent = int(rem[14:])
        else:
            return None
        st = ent.cbs.get(parent)
        if st is None:
            function, file, at = ent.cb  # type: ignore[misc]
            st = _Stack(ent.frames, CreatedBy(function=function, file=file, line=at, goroutine=parent), ent.nlines + 2, ent.group)
            if len(ent.cbs) < 100_000:
                ent.cbs[parent] = st
        if len(ent.cb_lines) < 100_000:
            ent.cb_lines[line] = st
            _SHARED.bytes += len(line) + 200  # the line, its CreatedBy and its stack
        return st

    # ------------------------------------------------------------ line parser

    def finish(self, at: int, blank: bool) -> None:
        """End the goroutine being read: by a blank line or header (`blank`), or by the data's end at `at`."""
        b = self.cur
        if b is None:
            return
        self.cur = None
        cut = False
        if b.pending is not None:
            kind, name, parent, pline = b.pending
            if kind == "cb":
                b.created_by = CreatedBy(function=name, file="?", line=0, goroutine=parent)
            if blank:
                what = "created by line" if kind == "cb" else "function line"
                self.problem(pline, f"{what} without its file line")
            else:
                cut = True
        elif not b.frames and not b.unavailable and not b.in_ancestor and b.created_by is None:
            if blank and b.content:
                pass  # its lines were unreadable, each has its Problem
            elif blank:
                self.problem(b.line, f"goroutine {b.gid} has no frames")
            else:
                cut = True
        if cut:
            self.cut(at)
        self.emit(b)

    def cut(self, at: int) -> None:
        """Record that the dump ends mid-goroutine at line `at`."""
        if not self.truncated:
            self.truncated = True
            self.problem(at, TRUNCATED)

    def emit(self, b: _Builder) -> None:
        """Add the goroutine `b` read."""
        h = b.hdr
        g = Goroutine(
            id=b.gid,
            state=h.state,
            wait_minutes=h.minutes,
            flags=h.flags,
            locked_to_thread=h.locked,
            labels=h.labels,
            frames=self.intern(b.frames),
            frames_elided=b.elided,
            created_by=b.created_by,
            ancestors=tuple(b.ancestors),
            header_extra=h.extra,
        )
        self.ids.append(g.id)
        self.headers.append(h)  # says what the record says
        self.stacks.append(_Own(g))

    def start(self, line: bytes, lno: int) -> bool:
        """Start a goroutine if `line` is a header; return whether it was one."""
        if not line.startswith(b"goroutine "):
            return False
        sp = line.find(b" ", 10)
        idb = line[10:sp] if sp > 0 else line[10:]
        if not idb.isdigit():
            return False
        hdr = self.header(line[sp + 1 :]) if sp > 0 else None
        if hdr is None:
            if b"[" not in line:
                return False
            self.problem(lno, "unreadable goroutine header")
            hdr = _BAD_HEADER
        elif hdr.problem:
            self.problem(lno, hdr.problem)
        self.cur = _Builder(int(idb), hdr, lno)
        return True

    def lines(self, lines: list[bytes], base: int) -> None:
        """Read `lines` (the first at line `base`) with the line parser."""
        n = len(lines)
        skip = False
        for i in range(n):
            if skip:
                skip = False
                continue
            line = lines[i]
            lno = base + i
            if not line:
                self.finish(lno, True)
                continue
            b = self.cur
            if b is None:
                self.start(line, lno)  # else: junk between or around goroutines
                continue
            first = line[:1]
            if b.pending is not None and first != b"\t" and first != b" " and _BARE_POS.fullmatch(line):
                first = b"\t"  # a file line whose tab a syslog daemon dropped (`host app: /src/x.go:12 +0x1d`)
            if first == b"\t" or first == b" ":
                b.content = True
                p = b.pending
                if p is not None:
                    b.pending = None
                    pos = _file_line(line)
                    if pos is None:
                        # keep the function: it is what signatures and reports name
                        self.problem(lno, "unreadable file:line")
                        pos = (b"?", 0)
                    if b.in_ancestor:
                        continue
                    if p[0] == "cb":
                        b.created_by = CreatedBy(
                            function=p[1], file=self.text(pos[0], lno), line=pos[1], goroutine=p[2]
                        )
                    else:
                        b.frames.append(self.frame(p[1].encode(), pos[0], pos[1], lno))
                elif line.strip(b" \t") == _UNAVAILABLE:
                    b.unavailable = True
                else:
                    self.problem(lno, "file:line without a function line")
                continue
            if line.startswith(b"goroutine ") and _HEADER_START.match(line):
                self.finish(lno, True)
                self.start(line, lno)
                continue
            if b.pending is not None:
                kind, name, parent, pline = b.pending
                b.pending = None
                what = "created by line" if kind == "cb" else "function line"
                self.problem(pline, f"{what} without its file line")
                if kind == "cb" and not b.in_ancestor:
                    b.created_by = CreatedBy(function=name, file="?", line=0, goroutine=parent)
            if line.startswith(b"created by "):
                b.content = True
                rest = line[11:]
                parent = None
                k = rest.find(b" in goroutine ")
                if k >= 0 and rest[k + 14 :].isdigit():
                    parent = int(rest[k + 14 :])
                    rest = rest[:k]
                b.pending = ("cb", self.text(rest, lno), parent, lno)
                continue
            if line.startswith(b"...") and _ELIDED.fullmatch(line):
                b.content = True
                if not b.in_ancestor:
                    b.elided = True
                continue
            if line.startswith(b"[originating"):
                m = _ANCESTOR.fullmatch(line)
                if m:
                    b.content = True
                    b.in_ancestor = True
                    b.ancestors.append(int(m.group(1)))
                    continue
            nxt = lines[i + 1] if i + 1 < n else b""
            nxt_indented = nxt[:1] in (b"\t", b" ") and not _foreign_frame(nxt)
            if line.endswith(b")") and not line.startswith(b"["):
                k = line.rfind(b"(")
                if k > 0:
                    if b" " in line[:k] and not _go_file_line(nxt):
                        # no Go function name has a space: a line like a sanitizer's
                        # `==17==ERROR: AddressSanitizer: … (pc 0x… T0)` or
                        # `SCARINESS: 10 (signal)`, not followed by Go's file line, is
                        # the end of the dump, not a frame
                        self.finish(lno, True)
                        continue
                    b.content = True
                    b.pending = ("fn", self.text(line[:k], lno), None, lno)
                    continue
            if line.startswith(b"non-Go function at pc="):
                b.content = True
                if not b.in_ancestor:
                    b.frames.append(self.frame(b"non-Go function", b"?", 0, lno))
                continue
            if nxt_indented and b"pc=0x" in nxt and b" " not in line.replace(b"non-Go function", b""):
                # cgo symbolizer frame: `name` then `\tfile:line pc=0x..` (no argument list)
                b.content = True
                b.pending = ("fn", self.text(line, lno), None, lno)
                continue
            if nxt_indented:
                b.content = True
                self.problem(lno, "unreadable function line")
                skip = True
                continue
            # A line no traceback prints: junk after the goroutine (an `exit status 2`
            # or a log line), unless frames follow it before the goroutine ends.
            more = False
            for j in range(i + 1, n):
                lj = lines[j]
                if not lj or lj.startswith(b"goroutine "):
                    break
                if lj[:1] in (b"\t", b" ") and not _foreign_frame(lj):
                    more = True
                    break
            if more:
                b.content = True
                self.problem(lno, "unreadable line")
                continue
            self.finish(lno, True)  # everything up to the next header is junk

    # ------------------------------------------------------------ blocks

    def region(self, region: bytes, base: int, final: bool, cont: bool, open_end: bool = False) -> int:
        """Read `region` (first line at `base`): goroutine blocks, the first starting `goroutine `.

        `cont` says the region instead continues the goroutine being read (the
        previous region was cut at a line end); `final` that it ends the data;
        `open_end` that its last block goes on in the next region (no blank line cut).
        Returns the number of line ends in `region`.
        """
        if cont:
            if final:
                self.last_block(region, base)
            else:
                self.lines(region.split(b"\n"), base)
            return region.count(b"\n")
        return self.blocks(region.split(_SEP), base, final, open_end)

    def blocks(self, blocks: list[bytes], base: int, final: bool, open_end: bool) -> int:
        """Read a region already split at `\\n\\ngoroutine ` (see `region`); return its line ends.

        A goroutine whose header and whole body were read before (in this dump or an
        earlier one) costs a few C-level operations, done for all the region's blocks
        at once: the two partitions that cut its id, header and body, two dict
        lookups and the id's conversion. The others are read one by one (`each`)."""
        blocks[0] = blocks[0][10:]  # the region starts with `goroutine `
        self.finish(base, True)  # a goroutine an open region left (a header follows)
        n = len(blocks)
        bget = self.bodies_get
        last = blocks[-1]
        if final and last.endswith(b"\n"):
            # the data's last block, when it ends with a line end, reads as any other: its
            # body without that line end (one never cached misses, and goes to last_block)
            blocks[-1] = last[:-1]
            fast = n
        else:
            fast = n if not (final or open_end) else n - 1  # a block cut short or going on is read line by line
        if bget is None or not fast:
            blocks[-1] = last
            return self.each(blocks, 0, n, base, final, open_end) - base - 2
        heads, _, bodies = zip(*map(bytes.partition, blocks if fast == n else blocks[:fast], repeat(b"\n")))
        idbs, _, rests = zip(*map(bytes.partition, heads, repeat(b" ")))
        hget = self.hcache.get
        headers = list(map(hget, rests))
        if None in headers:
            # headers not seen before (a wait of one more minute): each read once, then looked up again
            for rest in set(compress(rests, map(not_, headers))):
                self.header(rest)
            headers = list(map(hget, rests))
        bad = self.shared.bad
        if bad and not bad.isdisjoint(headers):
            headers = [None if h in bad else h for h in headers]  # read line by line, which says what was wrong
        stacks = list(map(bget, bodies))
        blocks[-1] = last
        digits = list(map(bytes.isdigit, idbs))
        missed = list(compress(count(), map(not_, stacks)))
        self.body_misses += len(missed)
        for i in missed:
            if headers[i] is not None and digits[i] and bodies[i]:
                stacks[i] = self.stack_for(bodies[i])  # a new body (arguments differ) of a stack seen before
        misses = set(compress(count(), map(not_, stacks)))
        misses.update(compress(count(), map(not_, headers)))
        misses.update(compress(count(), map(not_, digits)))
        if fast < n:
            misses.add(n - 1)
        ids_extend, headers_extend, stacks_extend = self.ids.extend, self.headers.extend, self.stacks.extend
        lno = base  # the line the current block starts at
        at = 0  # the first block not yet read
        for i in sorted(misses):
            if i > at:
                ids_extend(map(int, idbs[at:i]))
                headers_extend(headers[at:i])
                hit = stacks[at:i]
                stacks_extend(hit)
                lno += sum(map(_STEP, hit))
            lno = self.each(blocks, i, i + 1, lno, final, open_end)
            at = i + 1
        if at < n:
            ids_extend(map(int, idbs[at:]))
            headers_extend(headers[at:])
            hit = stacks[at:]
            stacks_extend(hit)
            lno += sum(map(_STEP, hit))
            if final:
                self.end_line = lno - 2  # (the last goroutine's last line: see last_block)
        if self.body_misses > BODY_MISSES_TRIED and 2 * self.body_misses > len(self.ids):
            # most bodies here are new (arguments differ): stop looking them up in this dump
            self.bodies_get = None
        return lno - base - 2  # no blank line after the last block

    def each(self, blocks: list[bytes], start: int, stop: int, lno: int, final: bool, open_end: bool) -> int:
        """Read `blocks[start:stop]` one by one (the first at line `lno`; see `region` for `final` and
        `open_end`, which concern the last of `blocks`); return the line after them."""
        last = len(blocks) - 1
        hget = self.hcache.get
        bget = self.bodies_get
        ids_append, headers_append, stacks_append = self.ids.append, self.headers.append, self.stacks.append
        fast_last = not (final or open_end)
        for bi in range(start, stop):
            blk = blocks[bi]
            if fast_last or bi != last:
                # the fast path: a cached header and a regular body (seen before, or parsed and cached now)
                h, _, body = blk.partition(b"\n")  # the header line (less `goroutine `), then the body
                sp = h.find(b" ")
                if sp > 0 and body:
                    rest = h[sp + 1 :]
                    hdr = hget(rest, False)
                    if hdr is False:
                        hdr = self.header(rest)
                    idb = h[:sp]
                    if hdr is not None and hdr.problem is None and idb.isdigit():
                        stack = bget(body) if bget is not None else None
                        if stack is None:
                            stack = self.stack_for(body)
                        if stack is not None:
                            if self.cur is not None:
                                self.finish(0, True)
                            ids_append(int(idb))
                            headers_append(hdr)
                            stacks_append(stack)
                            lno += stack.step
                            continue
            self.finish(lno, True)
            body = b"goroutine " + blk
            if final and bi == last:
                self.last_block(body, lno)
            elif open_end and bi == last:
                self.lines(body.split(b"\n"), lno)  # goes on in the next region
            else:
                self.lines(body.split(b"\n"), lno)
                self.finish(0, True)
            lno += blk.count(b"\n") + 2
        return lno

    def last_block(self, body: bytes, base: int) -> None:
        """Read the data's last block (first line at `base`): decide truncation, skip trailing junk."""
        lines = body.split(b"\n")
        partial = lines.pop()  # b"" when the data ends with a newline
        self.lines(lines, base)
        at = base + len(lines)  # the line number of `partial`
        self.end_line = at if partial else at - 1
        if not partial:
            self.finish(at - 1, False)
            return
        b = self.cur
        if b is not None and b.pending is not None and _whole_file_line(partial):
            # the last line lacks only its newline (an edited or re-saved file)
            self.lines([partial], at)
            self.finish(at, False)
            return
        if b is not None:
            if _could_be_cut_line(partial):
                # a line of this goroutine cut mid-text: what it started is dropped
                self.cur = None
                if b.pending is not None and b.pending[0] == "cb":
                    b.created_by = CreatedBy(function=b.pending[1], file="?", line=0, goroutine=b.pending[2])
                self.cut(at)
                self.emit(b)
                return
            self.finish(at, False)  # junk cut short after a complete goroutine
            return
        if partial.startswith(b"goroutine ") or b"goroutine ".startswith(partial):
            self.cut(at)  # a header cut mid-text

# A last line without its newline still reads whole when it ends in the pc offset
# (a cut inside the line number would otherwise pass for a smaller line number).
_WHOLE_POS = re.compile(rb"[ \t]+\S.*:\d+ \+0x[0-9a-f]+(?: fp=0x[0-9a-f]+ sp=0x[0-9a-f]+ pc=0x[0-9a-f]+)?")


def _whole_file_line(line: bytes) -> bool:
    """Return whether `line` reads as a whole file:line (not one cut mid-text)."""
    return _WHOLE_POS.fullmatch(line) is not None


_KEYWORDS = (b"created by ", b"goroutine ", b"...", b"[originating from goroutine ")


def _could_be_cut_line(partial: bytes) -> bool:
    """Return whether `partial` (a last line without newline) may be a traceback line cut short."""
    if partial[:1] in (b"\t", b" ") or b" " not in partial.split(b"(", 1)[0]:
        return True  # a file line, or a function name (`pkg.(*T).M(args...`)
    return any(partial.startswith(k) or k.startswith(partial) for k in _KEYWORDS)


def _read(stream: BinaryIO, path: str, n: int) -> bytes:
    """Read up to `n` bytes of `stream`, turning I/O errors into DumpError."""
    try:
        return stream.read(n)
    except DumpError:
        raise
    except (OSError, EOFError, ValueError, zlib.error) as e:
        raise DumpError(path, f"cannot read: {e}") from None


@contextmanager
def collector_paused() -> Iterator[None]:
    """Keep Python's cycle collector off for the block (as it was after): for work that makes many acyclic
    records, freed by reference counting, which the collector would only rescan over and over."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse(stream: BinaryIO, path: str) -> Snapshot:
    """Parse the debug=2 dump or crash traceback in `stream` (named `path`)."""
    # Hundreds of thousands of acyclic records: the collector would rescan them (a third of the time on big dumps).
    with collector_paused():
        return _parse(stream, path)


def _parse(stream: BinaryIO, path: str) -> Snapshot:
    """Parse `stream` (see `parse`), with the cycle collector off."""
    st = _State(path)
    total = 0
    line = 1  # line number of buf's first line
    buf = b""
    eof = False
    mid_line = False  # buf starts inside a line (a too-long line was dropped)

    # ---- phase 1: skip what precedes the first goroutine header
    while True:
        data = _read(stream, path, CHUNK_BYTES)
        if not data:
            eof = True
        total += len(data)
        buf += data
        if b"\r" in buf and b"\r\n" in buf:  # (memchr first: a two-byte search costs 100 times more)
            buf = buf.replace(b"\r\n", b"\n")
        start = 0
        if mid_line:
            k = buf.find(b"\n")
            start = len(buf) if k < 0 else k + 1
        m = _HEADER_START.search(buf, start)
        if m:
            st.junk(buf[: m.start()])
            line += buf.count(b"\n", 0, m.start())
            buf = buf[m.start() :]
            break
        if eof:
            st.junk(buf)
            if total == 0:
                raise DumpError(path, words.EMPTY_FILE)
            raise DumpError(path, words.NO_GOROUTINE_HEADER)
        st.junk(buf)
        k = buf.rfind(b"\n")
        line += buf.count(b"\n")
        tail = buf[k + 1 :] if k >= 0 else buf
        mid_line = mid_line and k < 0
        if len(tail) > 4096:
            buf = b""
            mid_line = True
        else:
            buf = tail

    # ---- phase 2: goroutine blocks
    cont = False
    skipping_line = False
    while True:
        if not eof:
            data = _read(stream, path, CHUNK_BYTES)
            if not data:
                eof = True
            else:
                total += len(data)
                if skipping_line:
                    k = data.find(b"\n")
                    if k < 0:
                        continue
                    data = data[k + 1 :]
                    line += 1
                    skipping_line = False
                    cont = True
                crlf = b"\r" in data or buf.endswith(b"\r")  # memchr, not a two-byte search
                buf += data
                if crlf:
                    buf = buf.replace(b"\r\n", b"\n")
        if eof:
            if buf:
                st.region(buf, line, True, cont)
            elif st.cur is not None:
                st.finish(line, False)
            break
        cut = buf.rfind(_SEP)
        if cut > 0:
            if cont:
                line += st.region(buf[:cut], line, False, cont) + 2
                cont = False
                buf = buf[cut + 2 :]
            else:
                blocks = buf.split(_SEP)  # the region and, last, what follows the cut
                buf = b"goroutine " + blocks.pop()
                line += st.blocks(blocks, line, False, False) + 2
            continue
        if len(buf) <= MAX_PENDING_BYTES:
            continue
        # no blank-line boundary in a long stretch: cut at a header line, else at a line end
        cut = buf.rfind(b"\ngoroutine ")
        if cut < 0:
            cut = buf.rfind(b"\n")
        if cut >= 0:
            line += st.region(buf[:cut], line, False, cont, open_end=True) + 1
            buf = buf[cut + 1 :]
            cont = not buf.startswith(b"goroutine ")
            continue
        # one line longer than we are willing to hold: skip it to its end
        st.problem(line, f"line longer than {MAX_PENDING_BYTES} bytes skipped")
        buf = b""
        skipping_line = True

    if not st.ids:
        reason = "no goroutine could be read"
        if st.problems:
            reason += f": {st.problems[0].message} (line {st.problems[0].line})"
        raise DumpError(path, reason)
    if total == PPROF_DEBUG2_LIMIT and not st.truncated:
        st.truncated = True
        st.problem(st.end_line, TRUNCATED)
    return _snapshot(st)


def _version_in_paths(stacks: list) -> str | None:
    """Return the Go version a GOROOT path of a runtime frame of `stacks` names (`…/go1.27.3/src/runtime/…`), None if none."""
    for group in dict.fromkeys(map(_GROUP, stacks)):  # each distinct group once, in first-seen order
        if group.version is not None:
            return group.version
    return None


def _version_in_frames(frames: tuple[Frame, ...]) -> str | None:
    """Return the Go version a GOROOT path of a runtime frame of `frames` names, None if none."""
    for f in frames:
        if "/src/runtime/" in f.file or f.file.startswith("runtime/"):
            m = _GO_VERSION.search(f.file)
            if m:
                return m.group(1)
    return None


def _dump_starts(ids: list[int | None], running: list[int], stacks: list) -> list[int]:
    """Return the indices of the goroutines (`ids`, `stacks`; `running`: the indices of those `[running]`)
    where a dump begins (ingest.parts.DumpCuts)."""
    openers = [i for i in running if stacks[i].frames]
    writers = [i for i in openers if stacks[i].frames[0].function == DEBUG2_WRITER]
    return dump_starts(ids, openers, writers)  # type: ignore[arg-type]


def _running(headers: list[_Header]) -> list[int]:
    """Return the indices of the goroutines `[running]`, ascending (headers printed alike are one object:
    each distinct one is looked at once, and its goroutines found by identity at C speed)."""
    out: list[int] = []
    for h in set(headers):
        if h.state == "running":
            i = -1
            for _ in range(headers.count(h)):
                i = headers.index(h, i + 1)
                out.append(i)
    return sorted(out)


def _snapshot(st: _State) -> Snapshot:
    """Assemble the Snapshot from what `st` read."""
    ids, headers, stacks = st.ids, st.headers, st.stacks
    has_g0 = 0 in ids
    running = _running(headers)
    leak = any(f.function == _LEAK_WRITER for i in running for f in stacks[i].frames)
    crash = st.junk_crash or has_g0
    starts = [] if crash else _dump_starts(ids, running, stacks)
    if len(starts) > 1:
        # back-to-back dumps (a collector appending to one file, a daemon dumping itself
        # on a signal): the last is read here; `goroscope report` reads each as a snapshot
        # of its own (ingest.parts)
        k = starts[-1]
        ids, headers, stacks = ids[k:], headers[k:], stacks[k:]
        st.problem(None, f"{len(starts)} goroutine dumps back to back: the last is read (`goroscope report` reads each as a snapshot)")
    if st.go_version is None:
        st.go_version = _version_in_paths(stacks)
    return Snapshot(
        format="traceback" if crash else "debug2",
        profile=PROFILE_GOROUTINELEAK if leak else PROFILE_GOROUTINE,
        go_version=st.go_version,
        goroutines=Goroutines(ids, headers, stacks),  # type: ignore[arg-type]  # a Sequence of Goroutine records, made on demand
        truncated=st.truncated,
        crash=crash,
        problems=tuple(st.problems),
        dumps=len(starts),
    )
