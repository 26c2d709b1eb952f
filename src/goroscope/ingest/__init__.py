"""Ingest: recognise a dump by its content and parse it into a Snapshot.

Contract:
- `sniff(head)` names the form of a dump from its first bytes (already
  decompressed), never from the file name. A dump whose every line carries a log
  prefix (CI timestamps, pod tags, indentation: ingest.prefix) is sniffed without
  it, and the Sniff names the prefix; `parse_stream` strips it on the way to the
  parser and takes the first header's prefixed time as the snapshot's.
- `parse_stream(stream, path)` reads one decompressed dump and returns a Snapshot;
  it raises DumpError (naming `path`) only when the input is not a dump at all. A
  dump that is damaged part way keeps what was parsed and lists Problems.
- `load(path)` does both for one file on disk, gzip included (what `inspect` and
  `diff` use); archives and whole trees go through ingest.discover, and every file
  and member is opened by ingest.archive.

Adding a form: a pattern in `sniff`, a `format` name, and one branch in
`parse_stream` that hands the stream to its parser.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from goroscope import words
from goroscope.errors import DumpError
from goroscope.ingest.archive import DEFAULT_MAX_INFLATE, SNIFF_BYTES, open_source
from goroscope.model import PROFILE_GOROUTINE, PROFILE_GOROUTINELEAK, PROFILE_HEAP, Problem, Snapshot, Source

__all__ = ["Sniff", "sniff", "sniff_settled", "parse_stream", "parse_parts", "load", "member_source", "SNIFF_BYTES"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Sniff:
    """What the first bytes of a file say it is."""

    format: str  # debug2 | traceback | debug1 | pprof | heap_text | other_text
    profile: str  # goroutine | goroutineleak | heap | cpu | mutex | block | threadcreate | unknown
    crash: bool = False  # SIGQUIT / panic / fatal error output
    prefix: bytes | None = None  # regex of a per-line log prefix to strip first (ingest.prefix), None: a plain dump


_DEBUG1 = re.compile(rb"^(goroutine|goroutineleak) profile: total \d+", re.M)
_GOROUTINE_HDR = re.compile(rb"^goroutine \d+ (?:gp=\S+ m=\S+(?: mp=\S+)? )?\[", re.M)
_HEAP_TEXT = re.compile(rb"^heap profile: \d+: \d+ \[\d+: \d+\] @ ", re.M)
_OTHER_TEXT = (
    (re.compile(rb"^--- contention:", re.M), "mutex"),
    (re.compile(rb"^threadcreate profile: total \d+", re.M), "threadcreate"),
)


def sniff(head: bytes) -> Sniff | None:
    """Return what `head` (the first bytes of a decompressed file) is, or None.

    A dump whose every line carries a log prefix (a CI log's timestamps, a pod tag)
    is sniffed with the prefix stripped, and the Sniff names the prefix."""
    if not head:
        return None
    found = _sniff_plain(head)
    if found is not None or b"goroutine" not in head:
        return found
    from goroscope.ingest import prefix

    lp = prefix.detect(head)
    if lp is None:
        return None
    found = _sniff_plain(prefix.strip(head, lp.pattern))
    if found is None or found.format not in ("debug2", "traceback", "debug1"):
        return None
    return replace(found, prefix=lp.pattern)


def sniff_settled(head: bytes) -> Sniff | None:
    """Return sniff(head + more) when the first bytes `head` (at least 4 KB) settle it whatever `more` is,
    else None (sniff more of the file): a debug=1 header in the first 4 KB, or a goroutine header with
    no gp= in it (sniff looks for crash markers only before it then). Discovery sniffs a small
    dump from its first bytes so, without inflating SNIFF_BYTES of every file."""
    if len(head) < 4096:
        return None
    found = _sniff_plain(head)
    if found is None or found.format not in ("debug1", "debug2", "traceback"):
        return None  # (a later goroutine header would outrank a heap or other profile's)
    if found.format != "debug1" and b" gp=" in _GOROUTINE_HDR.search(head).group(0):  # type: ignore[union-attr]
        return None  # crash markers may follow the first goroutine
    # debug=1 is decided by head[:4096]; a goroutine header found in `head` is the first in any longer
    # one (headers are whole lines, so none can begin before it and end past `head`), and what sniff
    # reads before it lies in `head`
    return found


def _marker_only(before: bytes) -> bool:
    """Return whether `before` (what precedes a debug=1 header) is blank or at most two
    short lines, such as the `date -u` or `=== time ===` line a collector writes first."""
    lines = before.strip().splitlines()
    return len(lines) <= 2 and all(len(ln) <= 120 for ln in lines)


def _sniff_plain(head: bytes) -> Sniff | None:
    """Return what `head` is when its lines carry no prefix, or None."""
    first = head[:4096]
    m = _DEBUG1.search(first) if b" profile: total " in first else None  # (the regex alone tries each byte: 30 us)
    if m and _marker_only(head[: m.start()]):
        profile = PROFILE_GOROUTINELEAK if m.group(1) == b"goroutineleak" else PROFILE_GOROUTINE
        return Sniff(format="debug1", profile=profile)
    m = _GOROUTINE_HDR.search(head)
    if m:
        crash = bool(words.CRASH.search(head, 0, m.start())) or head.startswith(b"goroutine 0 ")
        if not crash and b" gp=" in m.group(0):
            # GOTRACEBACK=system/crash dumps carry gp=/m= headers; only then look for
            # crash markers further on (they may follow the first goroutine)
            crash = bool(words.CRASH.search(head))
        return Sniff(format="traceback" if crash else "debug2", profile=PROFILE_GOROUTINE, crash=crash)
    if _HEAP_TEXT.search(head[:4096]):
        return Sniff(format="heap_text", profile=PROFILE_HEAP)
    for pat, profile in _OTHER_TEXT:
        if pat.search(head[:4096]):
            return Sniff(format="other_text", profile=profile)
    if _looks_like_profile_proto(head):
        return Sniff(format="pprof", profile="unknown")
    return None


def _looks_like_profile_proto(head: bytes) -> bool:
    # runtime/pprof writes period_type (field 11) before sample_type, so only a walk
    # over the first fields of the wire format tells a raw profile.proto apart.
    from goroscope.ingest.pprof import looks_like_profile

    return looks_like_profile(head)


def parse_stream(stream: BinaryIO, path: str, sniffed: Sniff | None = None, part: int | None = None) -> Snapshot:
    """Parse one decompressed dump from `stream`; raise DumpError if it is not a dump.

    A file of back-to-back dumps reads as its last (Snapshot.dumps says how many);
    `part` picks one of them instead (Source.part; `parse_parts` reads each)."""
    from goroscope.ingest import aggregated, pprof, prefix, traceback

    stream, sniffed = _sniffed(stream, path, sniffed)
    if part is not None:
        for snap in parse_parts(stream, path, sniffed, only=part):
            return snap
        raise DumpError(path, f"no goroutine dump {part}: the file holds fewer")
    if sniffed.prefix is not None and sniffed.format in ("debug2", "traceback", "debug1"):
        # the first header's prefixed time, when it names its zone, is the snapshot's
        foreign: list[bytes] = []  # another source's dump headers, left in place
        if sniffed.format == "debug1":
            data = _read_all(stream, path)  # the debug=1 parser reads it whole anyway
            stripped = prefix.strip(data, sniffed.prefix)
            prefix.foreign_prefixes(stripped, foreign)
            snap = aggregated.parse(io.BytesIO(stripped), path, prefix.prefix_times(data, sniffed.prefix))
        else:
            stream, head = _peek(stream, path)
            lp = prefix.detect(head)
            reader = prefix.StrippedReader(stream, sniffed.prefix)
            snap = traceback.parse(io.BufferedReader(reader, 1 << 20), path)  # type: ignore[arg-type]
            foreign = reader.foreign
            if snap.time is None and lp is not None and lp.time is not None and snap.dumps <= 1:
                # (the first header's time: not the one of the last of several dumps, which is read)
                snap = replace(snap, time=lp.time)
        return _noting_foreign(snap, foreign)
    if sniffed.format in ("debug2", "traceback"):
        return traceback.parse(stream, path)
    if sniffed.format == "debug1":
        return aggregated.parse(stream, path)
    if sniffed.format == "heap_text":
        return aggregated.parse_heap_text(stream, path)
    if sniffed.format == "pprof":
        return pprof.parse(_read_all(stream, path), path)
    raise DumpError(path, words.unused_profile(sniffed.profile))


def parse_parts(stream: BinaryIO, path: str, sniffed: Sniff | None = None, only: int | None = None) -> Iterator[Snapshot]:
    """Yield the Snapshot of every back-to-back dump of `stream`, in file order, reading it once
    (only the `only`-th, 1-based, when given; ingest.parts says where each begins).

    Each is timed by the marker line just before it, else by its header's log prefix."""
    from goroscope.ingest import prefix

    stream, sniffed = _sniffed(stream, path, sniffed)
    if sniffed.format not in ("debug1", "debug2") or sniffed.crash:
        if only in (None, 1):
            yield parse_stream(stream, path, sniffed)  # one dump: a crash traceback is never cut
        return
    times: list = []  # debug=1: each profile header's prefixed time
    line_times = None  # debug=2: the prefixed time of a line of the file
    foreign: list[bytes] = []  # another source's dump headers, left in place: said with the first dump
    if sniffed.prefix is not None:
        data = _read_all(stream, path)  # each dump's prefixed time, then the dumps without the prefix
        if sniffed.format == "debug1":
            times = prefix.prefix_times(data, sniffed.prefix)
        else:
            line_times = prefix.LineTimes(data, sniffed.prefix)
        stripped = prefix.strip(data, sniffed.prefix)
        prefix.foreign_prefixes(stripped, foreign)
        stream = io.BufferedReader(io.BytesIO(stripped))  # type: ignore[arg-type]
    for k, snap in enumerate(_each_part(stream, path, sniffed, times, line_times, only), 1):
        yield _noting_foreign(snap, foreign) if k == 1 or only is not None else snap


def _noting_foreign(snap: Snapshot, foreign: list[bytes]) -> Snapshot:
    """Return `snap` with a Problem naming the other log prefixes its file's dump headers stood behind, if any."""
    from goroscope.ingest import prefix

    if not foreign:
        return snap
    return replace(snap, problems=snap.problems + (Problem(line=None, message=prefix.foreign_problem(foreign)),))


def _each_part(stream: BinaryIO, path: str, sniffed: Sniff, times: list, line_times, only: int | None) -> Iterator[Snapshot]:
    """Yield the Snapshot of each back-to-back dump of the (prefix-free) `stream` (see parse_parts);
    `times`: a debug=1 profile's prefixed time each; `line_times`: the prefix's time of each line (prefix.LineTimes)."""
    from goroscope.ingest import aggregated, parts, traceback

    if sniffed.format == "debug1":
        yield from aggregated.parse_profiles(stream, path, times, only)
        return
    try:
        for k, (data, when, offset) in enumerate(parts.debug2_parts(stream), 1):
            if only is not None and k != only:
                continue
            snap = traceback.parse(io.BytesIO(data), path)
            problems = tuple(p.below(offset) for p in snap.problems)
            if when is None and line_times is not None:
                when = line_times.at(offset + parts.header_line(data))  # the prefix of its first header line
            yield replace(snap, time=when or snap.time, problems=problems, dumps=1)
    except OSError as e:
        raise DumpError(path, f"cannot read: {e}") from None


def _sniffed(stream: BinaryIO, path: str, sniffed: Sniff | None) -> tuple[BinaryIO, Sniff]:
    """Return `stream` and what it is: `sniffed` when discovery said so, else from its first bytes."""
    if sniffed is not None:
        return stream, sniffed
    stream, head = _peek(stream, path)
    if not head:
        raise DumpError(path, words.EMPTY_FILE)
    found = sniff(head)
    if found is None:
        raise DumpError(path, words.not_a_dump(head))
    return stream, found


def _peek(stream: BinaryIO, path: str) -> tuple[io.BufferedReader, bytes]:
    """Return `stream` as a buffered reader and its first SNIFF_BYTES, not consumed."""
    if not isinstance(stream, io.BufferedReader):
        stream = io.BufferedReader(stream, 1 << 20)  # type: ignore[arg-type]
    try:
        return stream, stream.peek(SNIFF_BYTES)[:SNIFF_BYTES]
    except OSError as e:
        raise DumpError(path, f"cannot read: {e}") from None


def _read_all(stream: BinaryIO, path: str) -> bytes:
    try:
        return stream.read()
    except OSError as e:
        raise DumpError(path, f"cannot read: {e}") from None


def member_source(path: str | Path) -> Source | None:
    """Return the Source of `path` when it names a member inside a tar or zip file ('x.tar.gz/pods/a/dump.txt'), else None.

    This is how reports name a file inside an archive, so `inspect` opens what a
    report names: the longest leading part of `path` that is a file must be an archive.
    """
    from goroscope.ingest.archive import archive_kind

    p = Path(path)
    if p.exists():
        return None
    for parent in p.parents:
        if parent.is_file():
            try:
                kind = archive_kind(str(parent))
            except OSError:
                return None
            if kind is None:
                return None
            return Source(path=str(p), fs_path=str(parent), member=p.relative_to(parent).as_posix())
        if parent.exists():
            return None
    return None


def load(path: str | Path | Source, max_inflate: int = DEFAULT_MAX_INFLATE) -> Snapshot:
    """Read and parse the single dump at `path` (gzip or not; or a member named 'ARCHIVE/member'; or the
    Source discovery gave, an object in a store), through ingest.archive like every file."""
    if isinstance(path, Source):
        with open_source(path, max_inflate) as stream:
            return parse_stream(stream, path.fs_path if path.member is None else f"{path.fs_path}/{path.member}")
    p = str(Path(path))
    source = member_source(p) or Source(path=p, fs_path=p)
    with open_source(source, max_inflate) as stream:
        return parse_stream(stream, p)
