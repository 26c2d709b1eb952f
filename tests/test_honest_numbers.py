"""Numbers mean what their header says: wait states and labels count the goroutines of one
moment (the last snapshot), never sums over snapshots; every suspect says when it was first seen."""

from __future__ import annotations

import re

import pytest

from goroscope.config import Config
from goroscope.pipeline import RunOptions, analyze
from goroscope.render.context import build_view
from goroscope.render.html import render_html


@pytest.fixture(scope="module")
def samples_report(samples_dir):
    return analyze(samples_dir, Config(), RunOptions(use_cache=False))


def test_wait_states_add_up_to_the_last_count_not_a_sum_over_snapshots(samples_report):
    view = build_view(samples_report, Config())
    checked = 0
    for s, v in zip(sorted(samples_report.suspects, key=lambda s: (s.series, s.rank)), sorted((v for f in view.findings for v in f.suspects), key=lambda v: (v.series, v.rank))):
        if not s.states_last:
            continue
        total = sum(c for _, c in s.states_last)
        assert total == s.counts[-1], (s.series, s.rank, s.states_last, s.counts[-1])
        assert sum(int(sv.count.replace(",", "")) for sv in v.states) == s.counts[-1]
        assert v.states_when.startswith("in the last snapshot (")
        checked += 1
    assert checked >= 3
    # the summed figure is what the old table showed: larger than any moment's count
    assert any(sum(c for _, c in s.states) > max(s.counts) for s in samples_report.suspects)


def test_the_html_says_which_goroutines_the_tables_count(samples_report):
    html = render_html(samples_report, Config())
    assert "summed over the snapshots" not in html
    captions = re.findall(r"<caption>wait states ([^<]*)</caption>", html)
    assert captions and all(c.startswith("in the last snapshot (") and c.endswith(" UTC)") for c in captions)


def test_every_suspect_gets_first_seen(samples_report):
    view = build_view(samples_report, Config())
    suspects = [v for f in view.findings for v in f.suspects]
    assert suspects and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", v.first_seen) for v in suspects)
    html = render_html(samples_report, Config())
    assert html.count("<dt>first seen</dt>") == len(suspects)


def test_stuck_sentence_of_the_samples_counts_now_and_dates_the_oldest(samples_report):
    (stuck,) = [s for s in samples_report.suspects if s.kind == "stuck"]
    assert " now, the oldest for " in stuck.explanation and "(first seen here at " in stuck.explanation
    assert "the same ids since" not in stuck.explanation
