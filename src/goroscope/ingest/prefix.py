"""Per-line log prefixes around a dump: find them from a file's first bytes, strip them.

Contract:
- `detect(head) -> LinePrefix | None` looks at the lines that only a dump prints
  (`goroutine N [`, `goroutine profile: total N`) and, where they do not start the
  line, takes what stands before them as the prefix every line of that dump carries
  (a CI-log timestamp `2024-05-01T10:00:00.1234567Z `, `kubectl logs --timestamps`,
  a `[pod-name] ` or `app_1  | ` tag, a line number, journald's
  `May 01 10:00:00 host app[12]: `, Kibana's `August 3rd 2017, 19:28:27.000 `, or the
  4-8 spaces of nested `go test` output). A Kibana export also ends every line with
  ` - `: when the header line does, the pattern strips that suffix as well.
  A prefix counts only when a line of the dump's own form follows the header with
  the same prefix (a tab-indented `file:line`, a `N @ 0x…` record), so a log line
  that merely mentions a goroutine is not taken for a dump.
- The prefix is judged per dump block: every header line contributes its own shape
  (tokens of digits and punctuation — timestamps, line numbers — match any such
  token; other words must be equal), so two pods' tags in one file are both known.
- `strip(data, pattern)` removes the prefix from every line that starts with it and
  leaves other lines (the log around the dump) as they are; line numbers do not
  change. `StrippedReader` does the same on a stream, chunk by chunk.
- `LinePrefix.time` is the first header's prefixed timestamp when it names its zone
  (`Z`, `+02:00`, `UTC`); an ISO time without a zone is not guessed. The short forms of
  journald and syslog (`Dec 06 22:22:17 host svc[12]: `) and Kibana's
  (`August 3rd 2017, 19:28:27.000`) name no zone, and the first no year, yet are
  the only time such a log has: they are read as wall-clock times
  (timestamps.log_time), placed in the configured zone and the year of the file's
  mtime when the snapshot is timed (ingest.group).

A plain dump never reaches this module: sniffing tries the plain forms first.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

__all__ = ["LinePrefix", "detect", "strip", "StrippedReader", "prefix_times", "LineTimes", "foreign_prefixes", "foreign_problem"]

MAX_PREFIX = 200  # a longer stretch before a header is a log line, not a prefix
MAX_SHAPES = 16  # distinct prefix shapes kept (one per tagged source in the file)

# The lines only a dump prints, anywhere in a line (runtime/traceback.go goroutineheader,
# runtime/pprof printCountProfile).
_KEY = re.compile(
    rb"^(?P<pre>[^\n]{1,%d}?)(?:goroutine \d+ (?:gp=\S+ m=\S+(?: mp=\S+)? )?\[|goroutine(?:leak)? profile: total \d+)" % MAX_PREFIX,
    re.M,
)
# What follows a header in a dump, once the prefix is off: a frame's file line
# (tab, or spaces where a viewer turned tabs into spaces), a function line, a
# debug=1 record or frame line, a blank line.
_FOLLOW = re.compile(rb"(?:[\t ]+\S[^\n]*:\d+|[^\s(][^\n]*\)|\d+ @(?: 0x[0-9a-fA-F]+)*|#\t0x[0-9a-fA-F]+[^\n]*)[ \t\r]*$")
_TOKEN = re.compile(rb"(\S+)([ \t]+|$)")
# A token of digits and punctuation: a timestamp, a date, a time of day, a line number.
_NUMERIC = re.compile(rb"[0-9][0-9:.,/+\-_TZ]*")
_NUMERIC_PAT = rb"[0-9][0-9:.,/+\-_TZ]*"
_ORDINAL = re.compile(rb"\d{1,2}(?:st|nd|rd|th)")  # a day of the month as Kibana writes it
# What a Kibana export puts after every line's message: ` - ` (then the next column, empty)
_SUFFIX = re.compile(rb"[ \t]+-[ \t]*\r?$")
SUFFIX_PAT = rb"[ \t]+-[ \t]*(?=\r?$)"


@dataclass(frozen=True, slots=True)
class LinePrefix:
    """A per-line prefix found before a dump's lines."""

    pattern: bytes  # regex (re.M) matching the prefix at a line start; strip() removes it
    time: datetime | None  # the first header's prefixed time (UTC), when it names its zone


def _shape(pre: bytes) -> bytes | None:
    """Return the regex of prefixes shaped like `pre` (the text before a header), or None."""
    if not pre.strip():
        return re.escape(pre)  # indentation: exactly this much
    if pre[-1:] not in (b" ", b"\t"):
        return None  # glued to the header: not a prefix a logger writes
    body = pre.lstrip(b" \t")
    parts = [rb"[ \t]*"] if len(body) != len(pre) else []
    tokens = list(_TOKEN.finditer(body))
    if not tokens or sum(len(m.group(0)) for m in tokens) != len(body):
        return None  # words parted by other blanks (\v, \f, \r): no shape a logger writes
    for i, m in enumerate(tokens):
        tok = m.group(1)
        if _NUMERIC.fullmatch(tok):
            parts.append(_NUMERIC_PAT)
        elif _ORDINAL.fullmatch(tok):
            parts.append(_ORDINAL.pattern)  # Kibana's `August 3rd 2017,`
        elif tok[:1] == b"[" and tok[-1:] == b"]" and _NUMERIC.fullmatch(tok[1:-1]):
            parts.append(rb"\[" + _NUMERIC_PAT + rb"\]")
        else:
            parts.append(re.escape(tok))
        if i + 1 < len(tokens):
            parts.append(rb"[ \t]+")
    # the separator before the dump's text exactly as written (a file line's own tab
    # follows it); a blank log line may have lost its trailing blank
    parts.append(rb"(?:" + re.escape(tokens[-1].group(2)) + rb"|[ \t]*(?=\r?\n|$))")
    return b"".join(parts)


def detect(head: bytes) -> LinePrefix | None:
    """Return the line prefix of the dump in `head` (a file's first bytes), or None."""
    shapes: list[bytes] = []
    compiled: list[re.Pattern[bytes]] = []
    first_pre: bytes | None = None
    suffix = False
    for m in _KEY.finditer(head):
        pre = m.group("pre")
        if any(c.fullmatch(pre) for c in compiled):
            continue
        if len(shapes) >= MAX_SHAPES:
            break
        shape = _shape(pre)
        if shape is None:
            continue
        pat = re.compile(shape)
        end = head.find(b"\n", m.end())
        suffixed = _SUFFIX.search(head, m.end(), end if end >= 0 else len(head)) is not None
        if not _confirmed(head, m.end(), pat, suffixed):
            continue
        shapes.append(shape)
        compiled.append(pat)
        suffix = suffix or suffixed
        if first_pre is None:
            first_pre = pre
    if not shapes:
        return None
    pattern = rb"^(?:" + rb"|".join(shapes) + rb")"
    if suffix:
        pattern += rb"|" + SUFFIX_PAT  # strip() takes the suffix off every line's end too
    return LinePrefix(pattern=pattern, time=_time(first_pre or b""))


def _confirmed(head: bytes, at: int, pat: re.Pattern[bytes], suffixed: bool = False) -> bool:
    """Return whether a line of the dump's form follows the header ending at `at`, with the prefix `pat`
    (and, `suffixed`, Kibana's ` - ` after it)."""
    start = head.find(b"\n", at) + 1
    if start <= 0:
        return False
    for line in head[start:].split(b"\n", 6)[:6]:
        m = pat.match(line)
        if m is None:
            continue
        rest = line[m.end() :]
        if suffixed:
            rest = _SUFFIX.sub(b"", rest)
        if rest.strip() and _FOLLOW.match(rest):
            return True
    return False


def _time(pre: bytes) -> datetime | None:
    """Return the timestamp written in the prefix `pre` (timestamps.log_time), or None."""
    from goroscope.timestamps import log_time

    return log_time(pre.decode("utf-8", "replace"))


PROFILE_HEADER = rb"goroutine(?:leak)? profile: total \d+[ \t]*\r?$"


def prefix_times(data: bytes, pattern: bytes, key: bytes = PROFILE_HEADER) -> list[datetime | None]:
    """Return the time the prefix `pattern` gives each line of `data` that is `key` (a regex) behind it (see `_time`)."""
    return [_time(m.group(1)) for m in re.finditer(b"(" + pattern + b")" + key, data, re.M)]


class LineTimes:
    """The time the prefix `pattern` gives the lines of `data`, asked for in ascending line order."""

    def __init__(self, data: bytes, pattern: bytes) -> None:
        self._data = data
        self._re = _compiled(pattern)
        self._line = 0  # the line that starts at self._pos (0-based)
        self._pos = 0

    def at(self, line: int) -> datetime | None:
        """Return the time in the prefix of the 0-based `line` (not before the last one asked for), or None."""
        data = self._data
        while self._line < line:
            k = data.find(b"\n", self._pos)
            if k < 0:
                return None
            self._pos = k + 1
            self._line += 1
        m = self._re.match(data, self._pos)
        return _time(m.group(0)) if m else None


def strip(data: bytes, pattern: bytes) -> bytes:
    """Return `data` with the prefix `pattern` removed from every line that starts with it."""
    return _compiled(pattern).sub(b"", data)


_CACHE: dict[bytes, re.Pattern[bytes]] = {}


def _compiled(pattern: bytes) -> re.Pattern[bytes]:
    """Return `pattern` compiled (multi-line), cached."""
    c = _CACHE.get(pattern)
    if c is None:
        c = _CACHE[pattern] = re.compile(pattern, re.M)
    return c


_HEADER_AFTER = re.compile(rb"\d+ (?:gp=\S+ m=\S+(?: mp=\S+)? )?\[[^\]\n]*\]:|(?:leak)? ?profile: total \d+")
MAX_FOREIGN = 3  # other prefixes named in the message


def foreign_prefixes(stripped: bytes, found: list[bytes]) -> None:
    """Add to `found` (up to MAX_FOREIGN, each once) the prefixes of dump header lines that `stripped`
    (text with the known prefix removed) still carries: another log source's dump in the same file."""
    i = stripped.find(b"goroutine")
    while i >= 0 and len(found) < MAX_FOREIGN:
        start = stripped.rfind(b"\n", 0, i) + 1
        if start < i and _HEADER_AFTER.match(stripped, i + 9 + (stripped[i + 9 : i + 10] == b" ")):
            pre = stripped[start:i]
            if 0 < len(pre) <= MAX_PREFIX and pre.strip() and pre not in found:
                found.append(pre)
        i = stripped.find(b"goroutine", i + 9)


def foreign_problem(found: list[bytes]) -> str:
    """Return the Problem message for dump headers behind prefixes other than the file's own."""
    names = ", ".join(f"`{p.decode('utf-8', 'replace').strip()}`" for p in found)
    return (
        f"dump header lines behind another log prefix ({names}) were not read: the file mixes the "
        "output of several sources; split it per source (e.g. `kubectl logs` per pod)"
    )


class StrippedReader(io.RawIOBase):
    """A raw reader of `inner` with the prefix `pattern` stripped from every line (see `strip`)."""

    CHUNK = 4 << 20

    def __init__(self, inner: BinaryIO, pattern: bytes) -> None:
        super().__init__()
        self._inner = inner
        self._re = _compiled(pattern)
        self._out = b""  # stripped bytes, handed out from self._at on
        self._at = 0
        self._carry = b""  # the start of a line not yet whole
        self._eof = False
        self.foreign: list[bytes] = []  # prefixes of dump headers it left in place (foreign_prefixes)

    def readable(self) -> bool:
        """Return True: this is a reader."""
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def,override]
        """Fill `b` with stripped bytes; return how many (0 at the end)."""
        if self._at >= len(self._out):
            self._out, self._at = b"", 0
        while not self._out and not self._eof:
            data = self._inner.read(self.CHUNK)
            if not data:
                self._eof = True
                self._out = self._re.sub(b"", self._carry)
                self._carry = b""
                foreign_prefixes(self._out, self.foreign)
                break
            data = self._carry + data
            k = data.rfind(b"\n")
            if k < 0:
                self._carry = data
                continue
            self._carry = data[k + 1 :]
            self._out = self._re.sub(b"", data[: k + 1])
            foreign_prefixes(self._out, self.foreign)
        n = min(len(b), len(self._out) - self._at)
        b[:n] = self._out[self._at : self._at + n]
        self._at += n
        return n

    def close(self) -> None:
        """Close the inner reader too."""
        if not self.closed:
            super().close()
            self._inner.close()
