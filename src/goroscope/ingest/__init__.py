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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from goroscope import words
from goroscope.errors import DumpError
from goroscope.ingest.archive import DEFAULT_MAX_INFLATE, SNIFF_BYTES, open_source
from goroscope.model import PROFILE_GOROUTINE, PROFILE_GOROUTINELEAK, PROFILE_HEAP, Snapshot, Source

__all__ = ["Sniff", "sniff", "parse_stream", "load", "SNIFF_BYTES"]


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


def _marker_only(before: bytes) -> bool:
    """Return whether `before` (what precedes a debug=1 header) is blank or at most two
    short lines, such as the `date -u` or `=== time ===` line a collector writes first."""
    lines = before.strip().splitlines()
    return len(lines) <= 2 and all(len(ln) <= 120 for ln in lines)


def _sniff_plain(head: bytes) -> Sniff | None:
    """Return what `head` is when its lines carry no prefix, or None."""
    m = _DEBUG1.search(head[:4096])
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

    `part` picks one of a file's back-to-back dumps (Source.part, ingest.parts)."""
    from goroscope.ingest import aggregated, pprof

    if sniffed is None:
        stream, head = _peek(stream, path)
        if not head:
            raise DumpError(path, words.EMPTY_FILE)
        sniffed = sniff(head)
        if sniffed is None:
            raise DumpError(path, words.not_a_dump(head))
    if sniffed.prefix is not None and sniffed.format in ("debug2", "traceback", "debug1"):
        return _parse_prefixed(stream, path, sniffed, part)
    if sniffed.format in ("debug2", "traceback"):
        return _parse_traceback(stream, path, part)
    if sniffed.format == "debug1":
        return aggregated.parse(stream, path, part)
    if sniffed.format == "heap_text":
        return aggregated.parse_heap_text(stream, path)
    if sniffed.format == "pprof":
        return pprof.parse(_read_all(stream, path), path)
    raise DumpError(path, words.unused_profile(sniffed.profile))


def _parse_prefixed(stream: BinaryIO, path: str, sniffed: Sniff, part: int | None = None) -> Snapshot:
    """Parse a dump whose lines carry the log prefix `sniffed.prefix`; the first header's
    prefixed time (each profile header's, for back-to-back debug=1 profiles), when it
    names its zone, becomes the snapshot's time."""
    from goroscope.ingest import aggregated, parts, prefix, traceback

    assert sniffed.prefix is not None
    if sniffed.format == "debug1":
        data = _read_all(stream, path)  # the debug=1 parser reads it whole anyway
        times = prefix.prefix_times(data, sniffed.prefix)
        return aggregated.parse(io.BytesIO(prefix.strip(data, sniffed.prefix)), path, part, times)
    if part is not None:
        data = _read_all(stream, path)  # a part: its writer's prefixed time, then its own bytes
        times = prefix.prefix_times(data, sniffed.prefix, parts.debug2_key(sniffed.prefix))
        snap = _parse_traceback(io.BytesIO(prefix.strip(data, sniffed.prefix)), path, part)
        when = times[part - 1] if len(times) >= part else None
        return replace(snap, time=when) if snap.time is None and when is not None else snap
    stream, head = _peek(stream, path)
    lp = prefix.detect(head)  # for the first header's time
    snap = traceback.parse(io.BufferedReader(prefix.StrippedReader(stream, sniffed.prefix), 1 << 20), path)  # type: ignore[arg-type]
    if snap.time is None and lp is not None and lp.time is not None:
        snap = replace(snap, time=lp.time)
    return snap


def _parse_traceback(stream: BinaryIO, path: str, part: int | None) -> Snapshot:
    """Parse a debug=2 dump or traceback; `part`: only the part-th of back-to-back debug=2 dumps (ingest.parts)."""
    from goroscope.ingest import parts, traceback

    if part is None:
        return traceback.parse(stream, path)
    try:
        data, when, offset = parts.read_debug2_part(stream, part)
    except OSError as e:
        raise DumpError(path, f"cannot read: {e}") from None
    if not data:
        raise DumpError(path, f"no goroutine dump {part}: the file holds fewer")
    snap = traceback.parse(io.BytesIO(data), path)
    problems = tuple(replace(p, line=p.line + offset) if p.line is not None else p for p in snap.problems)
    return replace(snap, time=when or snap.time, problems=problems, dumps=1)


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


def load(path: str | Path, max_inflate: int = DEFAULT_MAX_INFLATE) -> Snapshot:
    """Read and parse the single dump file at `path` (gzip or not), through ingest.archive like every file."""
    p = str(Path(path))
    with open_source(Source(path=p, fs_path=p), max_inflate) as stream:
        return parse_stream(stream, p)
