"""Tests for goroscope.timestamps: times read from file names, and digit runs that are not times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from goroscope.config import Discovery
from goroscope.timestamps import name_time, parse_zone

UTC = timezone.utc


def utc(*args: int) -> datetime:
    """Return an aware UTC datetime."""
    return datetime(*args, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    name: str  # the file name
    want: datetime | None  # expected UTC time
    timezone: str = "UTC"  # Discovery.timezone
    pattern: str | None = None  # Discovery.timestamp_pattern


CASES = [
    # the forms of the brief, and of the corpus
    Case("2026-12-01T08:15:00Z", utc(2026, 12, 1, 8, 15, 0)),
    Case("20261201T081500Z", utc(2026, 12, 1, 8, 15, 0)),
    Case("20261201-081500", utc(2026, 12, 1, 8, 15, 0)),
    Case("2026-12-01_08-15-00", utc(2026, 12, 1, 8, 15, 0)),
    Case("2026-12-01T08:15:00.123+02:00", utc(2026, 12, 1, 6, 15, 0, 123000)),
    Case("goroutine-2026-12-01T08:22:47Z.debug2.txt", utc(2026, 12, 1, 8, 22, 47)),
    Case("goroutine-2026-12-01T08:21:16Z.txt", utc(2026, 12, 1, 8, 21, 16)),
    Case("billing-worker_2026-12-01T082158Z_goroutines.txt", utc(2026, 12, 1, 8, 21, 58)),
    Case("tracing-collector-7f9c4d-qx2lm.goroutine.2026-12-01_08-19-23.txt.gz", utc(2026, 12, 1, 8, 19, 23)),
    Case("profile-cache.2026-12-01T08:21:15.debug2.txt", utc(2026, 12, 1, 8, 21, 15)),
    Case("20261201-082115.pb.gz", utc(2026, 12, 1, 8, 21, 15)),
    Case("1796113275.goroutines.txt", utc(2026, 12, 1, 8, 21, 15)),
    Case("goroutineleak.1796113361.debug1.txt", utc(2026, 12, 1, 8, 22, 41)),
    # more separators, fractions and zones
    Case("20261201081500.txt", utc(2026, 12, 1, 8, 15, 0)),
    Case("dump 2026-12-01 08:15:00 UTC.txt", utc(2026, 12, 1, 8, 15, 0)),
    Case("2026.12.01-08.15.00.txt", utc(2026, 12, 1, 8, 15, 0)),
    Case("2026-12-01T08:15Z.txt", utc(2026, 12, 1, 8, 15, 0)),
    Case("2026-12-01T08:15:00,5Z", utc(2026, 12, 1, 8, 15, 0, 500000)),
    Case("2026-12-01T08:15:00.123456789Z", utc(2026, 12, 1, 8, 15, 0, 123456)),
    Case("20261201T081500-0700.txt", utc(2026, 12, 1, 15, 15, 0)),
    Case("2026-12-01T08:15:00-07:00.txt", utc(2026, 12, 1, 15, 15, 0)),
    Case("2026-12-01T08:15:00+0530.txt", utc(2026, 12, 1, 2, 45, 0)),
    Case("2026-12-31T23:59:60Z", utc(2026, 12, 31, 23, 59, 59)),  # a leap second
    Case("daily-2026-12-01.txt", utc(2026, 12, 1, 0, 0, 0)),  # a date alone: midnight
    # unix times
    Case("1796113275123.txt", utc(2026, 12, 1, 8, 21, 15, 123000)),
    Case("dump-1796113275-pid-4242.txt", utc(2026, 12, 1, 8, 21, 15)),
    # no zone: the configured one
    Case("2026-12-01T09:15:00.txt", utc(2026, 12, 1, 8, 15, 0), timezone="Europe/Berlin"),
    Case("2026-07-01T09:15:00.txt", utc(2026, 7, 1, 7, 15, 0), timezone="Europe/Berlin"),  # summer time
    Case("2026-12-01T08:15:00Z.txt", utc(2026, 12, 1, 8, 15, 0), timezone="Europe/Berlin"),  # a zone wins
    Case("1796113275.txt", utc(2026, 12, 1, 8, 21, 15), timezone="Asia/Tokyo"),  # epochs are UTC
    # digit runs that are not times
    Case("goroutines.txt", None),
    Case("pod-7f9c4d-qx2lm-12345.txt", None),  # pod hash and pid
    Case("host-10.0.0.12-port-6060.txt", None),  # address and port
    Case("dump-123456789.txt", None),  # 9 digits
    Case("dump-12345678901.txt", None),  # 11 digits
    Case("dump-17961132751234.txt", None),  # 14 digits that are no date
    Case("dump-0123456789.txt", None),  # 10 digits before 2000
    Case("dump-9999999999.txt", None),  # 10 digits after 2100
    Case("20261301-081500.txt", None),  # month 13
    Case("20261232-081500.txt", None),  # day 32
    Case("2026-02-30T08:15:00Z", None),  # no such day
    Case("20261201-251500.txt", None),  # hour 25
    Case("20261201-086100.txt", None),  # minute 61
    Case("1999-12-01T08:15:00Z", None),  # before 2000
    Case("2026-12-01T0815", None),  # HHMM without separator or seconds: too weak
    Case("v20261201.txt", None),  # eight bare digits are not a date
    Case("2026-12-0108:15:00", utc(2026, 12, 1, 8, 15, 0)),  # no date-time separator
    Case("2026-12-01T08:15-00", None),  # mixed time separators
    Case("2026-12-01T08-15:00", None),  # mixed time separators
    # a configured pattern
    Case("snap_01.12.2026_08h15m00s.txt", utc(2026, 12, 1, 8, 15, 0),
         pattern=r"(?P<day>\d\d)\.(?P<month>\d\d)\.(?P<year>\d{4})_(?P<hour>\d\d)h(?P<minute>\d\d)m(?P<second>\d\d)s"),
    Case("snap-Dec-01-2026-0815.txt", utc(2026, 12, 1, 8, 15, 0),
         pattern=r"(?P<month>[A-Z][a-z]{2})-(?P<day>\d\d)-(?P<year>\d{4})-(?P<hour>\d\d)(?P<minute>\d\d)"),
    Case("seq-17-at-1796113275.5.txt", utc(2026, 12, 1, 8, 21, 15, 500000), pattern=r"at-(?P<epoch>\d+\.\d+)"),
    Case("snap_01.12.2026_0815_CET.txt", utc(2026, 12, 1, 7, 15, 0),
         pattern=r"(?P<day>\d\d)\.(?P<month>\d\d)\.(?P<year>\d{4})_(?P<hour>\d\d)(?P<minute>\d\d)_(?P<zone>\w+)"),
    # the pattern does not match: the built-in forms still apply
    Case("goroutine-2026-12-01T08:22:47Z.txt", utc(2026, 12, 1, 8, 22, 47), pattern=r"never(?P<epoch>\d+)"),
    # the pattern matches but is out of range: None (no guessing)
    Case("snap_99.99.2026.txt", None, pattern=r"(?P<day>\d\d)\.(?P<month>\d\d)\.(?P<year>\d{4})"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_name_time(case: Case) -> None:
    # GIVEN a discovery config
    config = Discovery(timezone=case.timezone, timestamp_pattern=case.pattern)
    # WHEN the name is read
    got = name_time(case.name, config)
    # THEN the time (UTC, aware) is the expected one
    assert got == case.want
    if got is not None:
        assert got.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text, offset",
    [
        ("Z", timedelta(0)),
        ("UTC", timedelta(0)),
        ("+02:00", timedelta(hours=2)),
        ("-0700", timedelta(hours=-7)),
        ("+0530", timedelta(hours=5, minutes=30)),
        ("+15:00", None),
        ("Mars/Olympus", None),
    ],
)
def test_parse_zone(text: str, offset: timedelta | None) -> None:
    zone = parse_zone(text)
    if offset is None:
        assert zone is None
    else:
        assert zone is not None and zone.utcoffset(datetime(2026, 12, 1)) == offset


def test_named_zone() -> None:
    zone = parse_zone("Europe/Berlin")
    assert zone is not None and zone.utcoffset(datetime(2026, 12, 1)) == timedelta(hours=1)
