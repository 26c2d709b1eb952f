"""The shared vocabulary: one spelling of durations, rates, counts and locations."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from goroscope import words
from goroscope.model import Frame


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0, "0 s"),
        (45, "45 s"),
        (95, "1 min 35 s"),
        (120, "2 min"),
        (599, "9 min 59 s"),
        (40 * 60 + 12, "40 min"),
        (40 * 60 + 31, "41 min"),
        (2 * 3600 + 5 * 60, "2 h 5 min"),
        (3 * 3600, "3 h"),
        (3 * 86400 + 4 * 3600, "3 d 4 h"),
        (-5, "0 s"),
    ],
)
def test_duration(seconds, text):
    assert words.duration(seconds) == text


@pytest.mark.parametrize("rate, text", [(120.4, "+120/h"), (12573.2, "+12,573/h"), (3.46, "+3.5/h"), (-2.0, "−2.0/h"), (0, "+0.0/h")])
def test_growth(rate, text):
    assert words.growth(rate) == text


def test_counts_waits_and_plurals():
    assert words.num(1234) == "1,234" and words.num(2.5) == "2.5"
    assert words.minutes(14) == "14 min" and words.minutes(182) == "3 h 2 min"
    assert words.plural(1, "series", "series") == "1 series" and words.plural(3, "pod") == "3 pods"
    assert words.mib(3 * 2**20 + 2**19) == "3.5 MiB"


def test_short_location_keeps_the_part_a_reader_recognises():
    f = Frame(function="x.F", file="/go/src/github.com/acme/inventory/lookup.go", line=46)
    assert words.short_location(f) == "inventory/lookup.go:46"
    assert words.short_location(Frame(function="x", file="C:\\src\\app\\main.go", line=3)) == "app/main.go:3"
    assert words.short_location(Frame(function="x", file="main.go", line=3)) == "main.go:3"


def test_fit_left_cuts_from_the_left_and_marks_it():
    assert words.fit_left("abc", 5) == "abc"
    # whole components only: never '…e/x.go:12', a folder cut in two
    assert words.fit_left("github.com/acme/x.go:12", 10) == "…/x.go:12"
    assert words.fit_left("github.com/acme/x.go:12", 16) == "…/acme/x.go:12"
    assert len(words.fit_left("x" * 100, 10)) == 10


def test_span_same_day_and_across_days():
    a = datetime(2026, 12, 1, 8, 19, 23, tzinfo=timezone.utc)
    b = datetime(2026, 12, 1, 8, 28, 23, tzinfo=timezone.utc)
    c = datetime(2026, 12, 2, 9, 0, 0, tzinfo=timezone.utc)
    assert words.span([b, a]) == "2026-12-01 08:19:23 → 08:28:23 UTC (9 min)"
    assert words.span([a, c]) == "2026-12-01 08:19:23 → 2026-12-02 09:00:00 UTC (24 h 41 min)"
    assert words.span([]) == "—"
