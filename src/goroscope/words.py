"""The words and numbers every output shares: one spelling of each, used by all.

Contract: pure functions from numbers, times and frames to short text. The
explanations rank.py writes, the view-model the HTML, PDF and Markdown print, the
terminal summary and `inspect`/`diff` all spell a duration, a growth rate, a count
and a short location through these, so the same fact reads the same everywhere.

The ingest side lives here too: archive name endings, why a file is not read as a
dump, what marks a crash traceback (constants and small functions, below).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timezone

from goroscope.model import Frame

# What a rate reads as when a series' times are file mtimes under a second apart
# (model.Series.time_uncertain): a rate over them would be noise ('−58065/h').
TIME_UNCERTAIN = "time uncertain: file mtimes under 1 s apart"

__all__ = [
    "TIME_UNCERTAIN",
    "utc",
    "num",
    "plural",
    "duration",
    "minutes",
    "span",
    "growth",
    "short_path",
    "short_location",
    "fit_left",
    "mib",
    "where",
    "TAR_SUFFIXES",
    "ZIP_SUFFIXES",
    "ARCHIVE_SUFFIXES",
    "STEM_SUFFIXES",
    "CRASH",
    "EMPTY_FILE",
    "NO_GOROUTINE_HEADER",
    "profile_kind",
    "ARCHIVE_IN_ARCHIVE",
    "not_a_dump",
    "unused_profile",
    "wall_clock_note",
]


def utc(dt: datetime) -> datetime:
    """Return `dt` in UTC (naive times are taken as UTC)."""
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def num(n: float) -> str:
    """Return `n` with thousands separators ('12,573'; one decimal when not whole)."""
    return f"{n:,.0f}" if float(n).is_integer() else f"{n:,.1f}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """Return '1 suspect' / '3 suspects' (`many` for irregular plurals)."""
    return f"{num(n)} {word if n == 1 else (many or word + 's')}"


def duration(seconds: float) -> str:
    """Return a short duration ('45 s', '1 min 35 s', '40 min', '2 h 5 min', '3 d 4 h').

    Seconds are shown below ten minutes only: past that they are noise in a sentence.
    """
    s = int(round(max(seconds, 0)))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 10:
        return f"{m} min {s} s" if s else f"{m} min"
    if s >= 30:
        m += 1
    if m < 60:
        return f"{m} min"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(h, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def minutes(m: float) -> str:
    """Return a wait given in whole minutes as the runtime prints them ('14 min', '3 h 2 min')."""
    return duration(m * 60) if m >= 60 else f"{m:,.0f} min"


def span(times: Sequence[datetime]) -> str:
    """Return 'first → last UTC (duration)' for `times`, '—' for none."""
    if not times:
        return "—"
    a, b = utc(min(times)), utc(max(times))
    if a.date() == b.date():
        text = f"{a:%Y-%m-%d %H:%M:%S} → {b:%H:%M:%S} UTC"
    else:
        text = f"{a:%Y-%m-%d %H:%M:%S} → {b:%Y-%m-%d %H:%M:%S} UTC"
    return f"{text} ({duration((b - a).total_seconds())})"


def growth(per_hour: float) -> str:
    """Return a growth rate per hour ('+120/h', '+12,573/h', '+3.5/h', '−2.0/h')."""
    sign = "+" if per_hour >= 0 else "−"
    a = abs(per_hour)
    body = f"{a:,.0f}" if a >= 10 else f"{a:.1f}"
    return f"{sign}{body}/h"


def short_path(file: str) -> str:
    """Return the last two components of a path, the part a reader recognises ('inventory/lookup.go')."""
    parts = [p for p in re.split(r"[/\\]", file) if p]
    return "/".join(parts[-2:]) or file


def short_location(frame: Frame) -> str:
    """Return the short `dir/file.go:line` of `frame` ('inventory/lookup.go:46')."""
    return f"{short_path(frame.file)}:{frame.line}"


def fit_left(text: str, width: int) -> str:
    """Return `text` within `width` columns, whole path components dropped from the left.

    The end is what names it (a file name and line, a function). What is dropped
    becomes '…/', so the reader sees where the path was cut and never a
    component cut in two ('…hub.com/acme/…' reads as another module); only a
    last component too long by itself is cut, from the left, with '…'.
    """
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    cut = text.find("/")
    while cut != -1 and len(text) - cut - 1 + 2 > width:
        cut = text.find("/", cut + 1)
    if cut != -1:
        return "…/" + text[cut + 1 :]
    return "…" + text[-(width - 1) :]


def mib(n_bytes: float) -> str:
    """Return a size in MiB with one decimal ('12.3 MiB'), as the heap in use is shown."""
    return f"{n_bytes / 2**20:,.1f} MiB"


def where(groups: Sequence[tuple[str, int, int]], series: Sequence[tuple[str, str]] = (), root: str = ".") -> str:
    """Return where a finding is: '3 of 3 series of ledger-api', 'notifier; 2 of 5 series of billing'.

    `groups` holds (service group, series of it with the finding, series in the
    group); `series` the (group, series id) pairs, so that a group where the finding
    is in one series names that series. The group `root` (the archive root) is
    named by the count alone.
    """
    ids: dict[str, list[str]] = {}
    for group, sid in series:
        ids.setdefault(group, []).append(sid)
    parts = []
    for group, n, total in groups:
        if n == 1 and len(ids.get(group, ())) == 1:
            parts.append(ids[group][0])
            continue
        count = f"{n} of {plural(total, 'series', 'series')}" if total > 1 else plural(n, "series", "series")
        parts.append(count if group == root else f"{count} of {group}")
    return "; ".join(parts)


# ------------------------------------------------------------------ archive names

# Name endings of tar archives (checked after the content: a gzip holding a tar is a
# tar whatever its name).
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz")
ZIP_SUFFIXES = (".zip",)
# Every archive name ending, longest first where one ends another (".tar.gz" before ".tar").
ARCHIVE_SUFFIXES = tuple(sorted(TAR_SUFFIXES + ZIP_SUFFIXES, key=len, reverse=True))
# What the default report stem drops from ARCHIVE's name (DESIGN.md's command line), first match.
STEM_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip", ".gz")

# ------------------------------------------------------------------ crash output

# What the runtime prints before a crash traceback (runtime/panic.go, signal_unix.go).
CRASH = re.compile(
    rb"^(?:panic: |fatal error: |SIG[A-Z]+: |unexpected fault address |runtime: |\[signal |"
    rb"fatal: morestack|PC=0x|unexpected signal)",
    re.M,
)

# ------------------------------------------------------------ why a file is not read

EMPTY_FILE = "empty file"
NO_GOROUTINE_HEADER = "not a goroutine dump: no `goroutine N [state]:` header"
ARCHIVE_IN_ARCHIVE = "an archive inside an archive: not read (unpack the outer one first)"


def not_a_dump(head: bytes) -> str:
    """Return why a file starting with `head` (decompressed) is not read as a dump, for a person."""
    if not head:
        return EMPTY_FILE
    sample = head[:512]
    if b"\x00" in sample or sum(1 for c in sample if c < 9 or 13 < c < 32) > len(sample) // 10:
        return "not a goroutine dump: binary data of no known profile form"
    return f"{NO_GOROUTINE_HEADER} and no `goroutine profile: total N` line"


def profile_kind(kind: str) -> str:
    """Return a profile of `kind` (a sample type or a text profile's name) as a phrase ('a cpu profile')."""
    if kind == "contention":
        return "a contention (mutex or block) profile"
    if kind == "unknown":
        return "a profile with no sample type"
    return f"a {kind} profile"


def wall_clock_note(n: int, zone: str) -> str:
    """Return the run's note that `n` snapshots were timed by a log's wall clock without a zone (or year)."""
    return (
        f"{plural(n, 'snapshot')} timed by a log's own clock, which names no zone (journald, syslog, Kibana): "
        f"read as {zone} (discovery.timezone); where no year is written (journald, syslog), the year of the file's mtime"
    )


def unused_profile(kind: str) -> str:
    """Return why a profile of `kind` (cpu, mutex, ...) is not used."""
    return f"{profile_kind(kind)}, not a goroutine dump: not used"
