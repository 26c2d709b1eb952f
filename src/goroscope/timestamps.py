"""Read the moment a dump was taken from its file name.

Contract: `name_time(name, config) -> datetime | None`, an aware UTC datetime or None.

Looked for, in this order, anywhere in `name` (a base name, not a path):

1. `config.timestamp_pattern` when set: a regex with named groups `year`, `month`,
   `day`, `hour`, `minute`, `second`, `fraction`, `zone` (month may be a number or an
   English month name), or one group `epoch` (unix seconds, or milli/micro/nanoseconds
   told apart by the number of digits). A name the pattern does not match falls back
   to the built-in forms below.
2. A calendar date and a time of day, with any separators or none, fractions and a
   zone optional: `2026-12-01T08:15:00Z`, `20261201T081500Z`, `20261201-081500`,
   `2026-12-01_08-15-00`, `2026-12-01T08:15:00.123+02:00`, `2026-12-01 08:15 UTC`.
   Separators must be used consistently inside the date and inside the time, every
   field must be in range, and the digits may not be part of a longer digit run.
3. A date alone, with separators (`2026-12-01`): midnight of that day.
4. Unix seconds (10 digits) or milliseconds (13 digits), not part of a longer digit run.

Only years 2000..2100 count, so pod hashes, pids, ports and sequence numbers are not
mistaken for times. A time without a zone is in `config.timezone`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache

from goroscope.config import Discovery

__all__ = ["name_time", "zoned_time", "log_time", "place", "is_wall_clock", "parse_zone", "MIN_YEAR", "MAX_YEAR", "NO_YEAR"]

MIN_YEAR = 2000  # earliest plausible year of a dump
MAX_YEAR = 2100  # latest plausible year of a dump

_EPOCH_MIN = int(datetime(MIN_YEAR, 1, 1, tzinfo=timezone.utc).timestamp())
_EPOCH_MAX = int(datetime(MAX_YEAR, 12, 31, 23, 59, 59, tzinfo=timezone.utc).timestamp())

_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        )
    )
    for name in names
}

# A zone written after a time: Z, UTC/GMT, or a numeric offset. `-HHMM` without a
# colon is taken only after an ISO `T` (see _zone_ok), since `-0100` after a time is
# as often a sequence number.
_ZONE = r"(?P<zone>Z(?![a-z])|[ _]?(?:UTC|GMT)(?![A-Za-z])|[+-]\d{2}:\d{2}|[+-]\d{4}(?!\d))?"

_DATETIME = re.compile(
    r"(?<!\d)"
    r"(?P<year>20\d{2}|2100)(?P<ds>[-_./]?)(?P<month>\d{2})(?P=ds)(?P<day>\d{2})"
    r"(?P<dt>[Tt _-]?)"
    r"(?P<hour>\d{2})(?P<ts>[:._-]?)(?P<minute>\d{2})"
    r"(?:(?P=ts)(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?"
    r"(?!\d)" + _ZONE
)

# a date alone, not followed by something that looks like a (malformed) time of day
_DATE = re.compile(r"(?<!\d)(?P<year>20\d{2}|2100)(?P<ds>[-_.])(?P<month>\d{2})(?P=ds)(?P<day>\d{2})(?!\d)(?![Tt ]?\d)")

# date(1)'s default output, in a zone it names as UTC/GMT or an offset
_DATE_CMD = re.compile(
    r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?P<month>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(?P<day>\d{1,2}) "
    r"(?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2}) (?P<zone>UTC|GMT|[+-]\d{4}) (?P<year>\d{4})\b"
)

_EPOCH = re.compile(r"(?<!\d)(?P<epoch>\d{13}|\d{10})(?!\d)")


def name_time(name: str, config: Discovery) -> datetime | None:
    """Return the UTC time written in the file name `name`, or None."""
    default_zone = _zone_named(config.timezone)
    if config.timestamp_pattern:
        found = _from_pattern(_compiled(config.timestamp_pattern), name, default_zone)
        if found is not None:
            return found
    return _builtin(name, default_zone)


def parse_zone(text: str) -> tzinfo | None:
    """Return the zone written as `text` (Z, UTC, +02:00, -0700, Europe/Berlin), or None."""
    t = text.strip(" _")
    if not t:
        return None
    if t.upper() in ("Z", "UTC", "GMT"):
        return timezone.utc
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})?", t)
    if m:
        hours, minutes = int(m.group(2)), int(m.group(3) or 0)
        if hours > 14 or minutes > 59:
            return None
        delta = timedelta(hours=hours, minutes=minutes)
        return timezone(-delta if m.group(1) == "-" else delta)
    try:
        from zoneinfo import ZoneInfo  # only for names in a zone: its import costs a cached run

        return ZoneInfo(t)
    except (ValueError, KeyError, OSError):
        return None


# ---------------------------------------------------------------------- internals


@lru_cache(maxsize=32)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@lru_cache(maxsize=32)
def _zone_named(name: str) -> tzinfo:
    if name.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _builtin(name: str, default_zone: tzinfo) -> datetime | None:
    """Return the first plausible built-in timestamp form in `name`, or None."""
    for m in _DATETIME.finditer(name):
        found = _from_match(m, default_zone)
        if found is not None:
            return found
    for m in _DATE.finditer(name):
        found = _assemble(m.group("year"), m.group("month"), m.group("day"), None, None, None, None, None, default_zone)
        if found is not None:
            return found
    for m in _EPOCH.finditer(name):
        found = _from_epoch(m.group("epoch"))
        if found is not None:
            return found
    return None


def _from_match(m: re.Match[str], default_zone: tzinfo) -> datetime | None:
    """Return the time of a _DATETIME match, or None when a field is out of range."""
    ds, dt, ts = m.group("ds"), m.group("dt"), m.group("ts")
    second = m.group("second")
    if second is None and not ts:
        # `HHMM` with no separators and no seconds is too easily some other number
        return None
    if second is None and re.match(r"[:._-]\d", m.string[m.end("minute") :]):
        # `08-15:00`: the separators disagree, so this is not a time of day
        return None
    if ds and not dt and not ts:
        # `2026-12-01` followed directly by four digits is not a time of day
        return None
    zone = m.group("zone")
    if zone and zone.startswith("-") and ":" not in zone and dt not in ("T", "t"):
        # `20261201-081500-0100`: the trailing number is not taken as a zone
        zone = None
    return _assemble(
        m.group("year"),
        m.group("month"),
        m.group("day"),
        m.group("hour"),
        m.group("minute"),
        second,
        m.group("fraction"),
        zone,
        default_zone,
    )


def _from_pattern(pattern: re.Pattern[str], name: str, default_zone: tzinfo) -> datetime | None:
    """Return the time the configured pattern finds in `name`, or None."""
    m = pattern.search(name)
    if m is None:
        return None
    groups = m.groupdict()
    if groups.get("epoch") is not None:
        return _from_epoch(groups["epoch"])
    if groups.get("year") is None or groups.get("month") is None or groups.get("day") is None:
        return None
    return _assemble(
        groups["year"],
        groups["month"],
        groups["day"],
        groups.get("hour"),
        groups.get("minute"),
        groups.get("second"),
        groups.get("fraction"),
        groups.get("zone"),
        default_zone,
    )


def _assemble(
    year: str,
    month: str,
    day: str,
    hour: str | None,
    minute: str | None,
    second: str | None,
    fraction: str | None,
    zone: str | None,
    default_zone: tzinfo,
) -> datetime | None:
    """Return the UTC datetime of these fields, or None when one is out of range."""
    try:
        y = int(year)
        mo = int(month) if month.strip().isdigit() else _MONTHS.get(month.strip().lower(), 0)
        d = int(day)
        h = int(hour) if hour else 0
        mi = int(minute) if minute else 0
        s = int(second) if second else 0
    except ValueError:
        return None
    if not (MIN_YEAR <= y <= MAX_YEAR) or h > 23 or mi > 59 or s > 60:
        return None
    s = min(s, 59)  # a leap second is shown as :60
    digits = re.sub(r"\D", "", fraction or "")
    micro = int((digits + "000000")[:6]) if digits else 0
    tz = default_zone
    if zone:
        parsed = parse_zone(zone)
        if parsed is None:
            return None
        tz = parsed
    try:
        local = datetime(y, mo, d, h, mi, s, micro, tzinfo=tz)
    except ValueError:
        return None
    return local.astimezone(timezone.utc)


def _from_epoch(text: str) -> datetime | None:
    """Return the UTC time of unix seconds/ms/µs/ns `text` (by digit count), or None."""
    m = re.fullmatch(r"\s*(\d+)(?:[.,](\d+))?\s*", text)
    if m is None:
        return None
    digits, frac = m.group(1), m.group(2) or ""
    scale = {13: 1_000, 16: 1_000_000, 19: 1_000_000_000}.get(len(digits), 1)
    if scale == 1 and len(digits) > 10:
        return None
    seconds, rest = divmod(int(digits), scale)
    if not (_EPOCH_MIN <= seconds <= _EPOCH_MAX):
        return None
    micro = rest * 1_000_000 // scale if scale > 1 else int((frac + "000000")[:6])
    return datetime.fromtimestamp(seconds, timezone.utc).replace(microsecond=micro)


def zoned_time(text: str) -> datetime | None:
    """Return the first date and time in `text` that names its zone (Z, UTC, +02:00), as UTC, or None.

    For times written inside a file's content (a log line's timestamp, `date -u`'s
    `Fri Dec  4 10:00:00 UTC 2026`), where a time without a zone would be a guess."""
    d = _DATE_CMD.search(text)
    if d is not None:
        return _assemble(d.group("year"), d.group("month"), d.group("day"), d.group("hour"), d.group("minute"),
                         d.group("second"), None, d.group("zone"), timezone.utc)
    for m in _DATETIME.finditer(text):
        found = None
        if m.group("zone"):
            found = _from_match(m, timezone.utc)
        else:
            # `2024-05-01 10:00:00.123 +0200`: a log's offset after a blank
            z = re.match(r" ([+-]\d{2}:?\d{2})(?![\d:])", text[m.end() :])
            if z and m.group("second") is not None:
                found = _assemble(m.group("year"), m.group("month"), m.group("day"), m.group("hour"), m.group("minute"),
                                  m.group("second"), m.group("fraction"), z.group(1), timezone.utc)
        if found is not None:
            return found
    return None


# --------------------------------------------------------------- wall-clock log times

# A log's own time without a zone (and in syslog's short form without a year) is read
# as a naive datetime: the wall clock of the configured zone. A missing year is
# written NO_YEAR, a leap year no dump is from (so that Feb 29 reads), until `place`
# puts it in the year of the file's mtime.
NO_YEAR = 4

# journald's `short` output and syslog's RFC 3164 stamp: `Dec 06 22:22:17` / `Dec  6 22:22:17`
# (journalctl -o short-precise adds microseconds), at the start of a line's prefix
_SYSLOG = re.compile(
    r"(?P<month>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (?P<day>[ \d]\d) "
    r"(?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})(?:\.(?P<fraction>\d{1,9}))?(?= )"
)
# Kibana's default date format (`MMMM Do YYYY, HH:mm:ss.SSS`): `August 3rd 2017, 19:28:27.000`
_KIBANA = re.compile(
    r"(?P<month>January|February|March|April|May|June|July|August|September|October|November|December) "
    r"(?P<day>\d{1,2})(?:st|nd|rd|th) (?P<year>\d{4}), (?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})"
    r"(?:\.(?P<fraction>\d{1,9}))?"
)


def log_time(text: str) -> datetime | None:
    """Return the time at the start of a log line's prefix `text`: zoned (zoned_time) as UTC, else a
    journald/syslog short or Kibana stamp as a wall-clock (naive) time, its year NO_YEAR when not written."""
    found = zoned_time(text)
    if found is not None:
        return found
    body = text.lstrip()
    for pat in (_SYSLOG, _KIBANA):
        m = pat.match(body)
        if m is not None:
            year = int(m.group("year")) if "year" in pat.groupindex else NO_YEAR
            if year != NO_YEAR and not MIN_YEAR <= year <= MAX_YEAR:
                return None
            micro = int(((m.group("fraction") or "") + "000000")[:6])
            try:
                return datetime(year, _MONTHS[m.group("month").lower()], int(m.group("day")), int(m.group("hour")),
                                int(m.group("minute")), min(int(m.group("second")), 59), micro)
            except ValueError:
                return None
    return None


def is_wall_clock(t: datetime) -> bool:
    """Return whether `t` is a log's wall-clock time (log_time), not yet placed in a zone."""
    return t.tzinfo is None


def place(t: datetime, mtime: float, zone: str) -> datetime:
    """Return `t` as UTC: a wall-clock time (log_time) in `zone`, in the year of `mtime` when its own is NO_YEAR
    (the year before when that would put it more than a day after the mtime: a December log read in January)."""
    if t.tzinfo is not None:
        return t.astimezone(timezone.utc)
    tz = _zone_named(zone)
    if t.year != NO_YEAR:
        return t.replace(tzinfo=tz).astimezone(timezone.utc)
    year = datetime.fromtimestamp(mtime, tz).year
    limit = mtime + 86400
    for y in (year, year - 1, year - 2, year - 3):
        try:
            out = t.replace(year=y, tzinfo=tz)
        except ValueError:  # Feb 29 of a year that has none
            continue
        if out.timestamp() <= limit:
            return out.astimezone(timezone.utc)
    return t.replace(year=year - 4, tzinfo=tz).astimezone(timezone.utc)
