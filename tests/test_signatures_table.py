"""Every signature of a series' last snapshot in the HTML: a collapsed, filterable table
(count, state, top application frame) built from the analysis, so the holder of a lock
can be found in the report itself."""

from __future__ import annotations

import re

import pytest

from goroscope import signature as sig
from goroscope.config import Config
from goroscope.pipeline import RunOptions, analyze
from goroscope.render.context import build_view
from goroscope.render.html import render_html
from helpers import whole_series


@pytest.fixture(scope="module")
def samples_report(samples_dir):
    return analyze(samples_dir, Config(), RunOptions(use_cache=False))


def test_rows_are_every_signature_of_the_last_snapshot(samples_dir, samples_report):
    view = build_view(samples_report, Config())
    opts = Config().signature_options()
    wholes = whole_series(samples_dir)  # every timeline: the report keeps those it shows, and a digest of all
    assert [se.id for se in wholes] == [se.id for se in samples_report.series]
    assert sum(len(se.timelines) for se in samples_report.series) < sum(len(se.timelines) for se in wholes)
    for se, whole, sv in zip(samples_report.series, wholes, view.series):
        present = [t for t in whole.timelines if t.counts and t.counts[-1] > 0]
        assert sv.signatures_count == f"{len(present):,}" and len(sv.signatures) == min(len(present), 300)
        # the counts add up to the last snapshot's goroutines
        assert sum(r.count_value for r in sv.signatures) == sum(t.counts[-1] for t in present)
        if not se.snapshots[-1].truncated:
            assert sum(r.count_value for r in sv.signatures) == se.snapshots[-1].goroutines
        assert [r.count_value for r in sv.signatures] == sorted((r.count_value for r in sv.signatures), reverse=True)
        # each row names the frame the leak-site rule picks, and the state seen there
        picked = [sig.leak_site(t.signature.frames, opts) for t in present]
        sites = {(site.function, site.location) if site else ("—", "—") for site in picked}
        assert {(r.function, r.location) for r in sv.signatures} <= sites
        # this series' suspects are marked in it
        marked = {r.suspect for r in sv.signatures if r.suspect}
        assert marked == {f"#{s.rank}" for s in samples_report.suspects if s.series == se.id and s.counts[-1] > 0}


def test_the_table_is_collapsed_and_filterable_in_the_html(samples_report):
    html = render_html(samples_report, Config())
    tables = re.findall(r'<details class="all-signatures">\s*<summary>All ([\d,]+) signatures of the last snapshot \((\d\d:\d\d:\d\d) UTC\)', html)
    assert len(tables) == len(samples_report.series)
    assert '<details class="all-signatures" open' not in html  # collapsed
    assert html.count('<p class="sig-filter" hidden>') == len(samples_report.series)  # shown by the script
    # a debug=2 series shows the state of each signature; the stuck WaitGroup among them
    assert re.search(r'<td>sync.<wbr>WaitGroup.<wbr>Wait</td><td><span class="fn">[^<]*', html)
