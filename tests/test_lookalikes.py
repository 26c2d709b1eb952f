"""Look-alikes from real services, on real dumps captured from tests/data/lookalikes/prog (issue 8 parts 3 and 4).

The series (debug=2, debug=1 and protobuf of each moment, gzipped, 40 snapshots 15 s
apart, 9.75 minutes) and its answer key truth.yaml were made by
tests/data/capture.py and tests/data/counts.py. Part 3, goroutines given back: an
on-demand pool whose idle workers retire (ramps noisily, falls by more than half
twice, returns to a plateau below its bound), a lazily grown pool that plateaus, and
two real leaks whose site also hosts short-lived goroutines. Part 4, blocked by
design: a signal waiter, accept loops, idle connections of fixed client pools (raw
TCP and HTTP keep-alive), main in `select {}`; beside shard workers of a fixed pool
that get stuck one by one on a WaitGroup.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from goroscope import rank
from goroscope.config import Config
from goroscope.pipeline import RunOptions, analyze
from goroscope.signature import leak_site
from helpers import one_form, suspect_sites, truth_site

HERE = Path(__file__).resolve().parent / "data" / "lookalikes"
SERIES = HERE / "series"
TRUTH = yaml.safe_load((HERE / "truth.yaml").read_text(encoding="utf-8"))["series"][0]
OPTIONS = RunOptions(use_cache=False, jobs=1)
LEAKS = TRUTH["expected_leaks"]
GROWING = [x for x in LEAKS if x["kind"] == "growing"]
BENIGN = {(b["function"], b["line"]): b for b in TRUTH["benign"]}
_REPORTS: dict[str, object] = {}


def _report(key: str, folder: Path):
    """Return the memoised Report of `folder` under the default config."""
    if key not in _REPORTS:
        _REPORTS[key] = analyze(folder, Config(), OPTIONS)
    return _REPORTS[key]


@pytest.fixture(scope="module")
def forms(tmp_path_factory) -> Path:
    """A scratch folder for the one-form copies of the series."""
    return tmp_path_factory.mktemp("lookalikes")




def _folder(key: str, forms: Path) -> Path:
    """Return the whole series for "all", else a folder of that form only."""
    return SERIES if key == "all" else one_form(SERIES, forms, key)






def _timeline(report, entry):
    """Return the largest timeline of the series whose leak site is the truth entry's."""
    options = Config().signature_options()
    series = report.series[0]
    found = [t for t in series.timelines if t.signature.frames and (s := leak_site(t.signature.frames, options)) is not None
             and (s.function, s.file, s.line) == truth_site(entry)]
    return max(found, key=lambda t: sum(t.counts))


def test_the_series_is_read_whole():
    report = _report("all", SERIES)
    assert [s.id for s in report.series] == ["."]
    series = report.series[0]
    assert len(series.snapshots) == TRUTH["snapshot_count"] == 40
    assert {s.format for s in series.snapshots} == {"debug2"}
    assert all(len(s.sources) == 3 for s in series.snapshots)
    assert [(g.first, g.last) for g in series.segments] == [(0, 39)]
    span = (series.snapshots[-1].time - series.snapshots[0].time).total_seconds() / 60
    assert span >= 8  # long enough for the runtime's own wait minutes (printed from 1 minute)
    assert not report.skipped


@pytest.mark.parametrize("leak", LEAKS, ids=lambda x: x["function"])
def test_every_true_leak_is_a_suspect_of_its_kind(leak):
    # WHEN the series is analysed with the default config
    x = suspect_sites(_report("all", SERIES)).get(truth_site(leak))
    # THEN the leak is a suspect of its kind, named by its site, created-by and counts
    assert x is not None
    assert x.kind == leak["kind"]
    cb = leak["created_by"]
    assert (x.created_by.function, x.created_by.file, x.created_by.line) == (cb["function"], cb["file"], cb["line"])
    assert list(x.counts) == leak["counts"]


@pytest.mark.parametrize("suffix", [".debug1.txt.gz", ".pb.gz"])
@pytest.mark.parametrize("leak", GROWING, ids=lambda x: x["function"])
def test_a_growing_leak_is_found_from_each_form_alone(leak, suffix, forms):
    # GIVEN only the debug=1 (or only the protobuf) files: counts, no ids, no minutes
    x = suspect_sites(_report(suffix, one_form(SERIES, forms, suffix))).get(truth_site(leak))
    # THEN the same site is a growing suspect with the same counts
    assert x is not None and x.kind == "growing"
    assert list(x.counts) == leak["counts"]


@pytest.mark.parametrize("key", ["all", ".debug1.txt.gz", ".pb.gz"])
def test_no_benign_signature_is_a_suspect(key, forms):
    found = suspect_sites(_report(key, _folder(key, forms)))
    flagged = [f"{b['function']}:{b['line']}" for b in TRUTH["benign"] if truth_site(b) in found]
    assert not flagged
    expected = {truth_site(x) for x in LEAKS}
    assert set(found) <= expected, sorted(set(found) - expected)


# ------------------------------------------------ part 3: given back is not leaked


def _verdict(counts, report, last=None):
    """Return the growth verdict of `counts` over the series' snapshots up to index `last`."""
    series = report.series[0]
    n = len(counts) if last is None else last + 1
    times = [s.time for s in series.snapshots[:n]]
    return rank.growth_verdict(list(counts[:n]), times, [(0, n - 1)], Config().rank)


def test_the_on_demand_pool_gave_back_more_than_half_and_is_not_growing_at_any_length_after_its_first_fall():
    report = _report("all", SERIES)
    pool = BENIGN[("main.(*onDemand).worker", 74)]["counts"]
    first_fall = next(i for i in range(1, len(pool)) if pool[i] <= 0.5 * max(pool[:i]))
    assert first_fall == 13  # 58 -> 18: retired idle workers
    for last in range(first_fall, len(pool)):
        v = _verdict(pool, report, last)
        assert not v.growing, (last, v.best)
    # after its second fall, as before the first, it is the give-back rule that says so
    v = _verdict(pool, report)
    assert v.best.gave_back >= rank.GIVE_BACK_SHARE and v.best.kept_growth < 3


@pytest.mark.parametrize("leak", GROWING, ids=lambda x: x["function"])
def test_a_leak_site_with_short_lived_goroutines_gives_back_only_those(leak):
    report = _report("all", SERIES)
    v = _verdict(leak["counts"], report)
    assert v.growing, v.best
    # what it holds for good rose by more than a quarter of its deepest fall
    assert v.best.kept_growth >= rank.KEPT_OF_FALL * v.best.max_drop or v.best.gave_back < rank.GIVE_BACK_SHARE


def test_a_leak_caught_in_a_quiet_moment_below_its_peak_is_still_growing_from_counts_alone():
    # the send leak's series cut in its last quiet phase (7.5-9 minutes): the count is
    # down to its leaked part (24-26, peak 48), but that part rose all along
    report = _report("all", SERIES)
    counts = next(x for x in LEAKS if x["function"] == "main.fetchQuote")["counts"]
    bar = Config().rank.min_last_to_max
    below_peak = []
    for last in (29, 30, 32, 33, 34, 35):
        v = _verdict(counts, report, last)
        assert v.growing, (last, v.best)
        if v.best.last_to_max < bar and v.best.retained < bar:
            below_peak.append(last)  # ended too far below its peak for the raw counts alone
    assert below_peak
    ack = next(x for x in LEAKS if x["function"] == "main.awaitAck")["counts"]
    assert all(_verdict(ack, report, last).growing for last in range(20, len(ack)))


def test_the_send_leak_fell_by_half_and_is_found_by_its_rising_floor():
    x = suspect_sites(_report("all", SERIES))[("main.fetchQuote", "example.com/lookalikes/main.go", 164)]
    ev = dict(x.evidence)
    assert ev["gave_back_share"] >= rank.GIVE_BACK_SHARE  # 48 -> 24 in the second quiet phase
    assert ev["kept_growth"] >= 10
    assert "while its floor rose" in x.explanation


def test_the_lazy_pool_keeps_its_ids_but_is_woken_by_work_so_it_is_not_stuck():
    report = _report("all", SERIES)
    t = _timeline(report, BENIGN[("main.(*lazyPool).worker", 124)])
    # the same 24 ids from snapshot 9 on, but their header minutes never reach 1
    assert t.counts[-1] == 24 and max(t.max_wait_minutes[9:]) == 0
    assert max(t.stuck_minutes) < Config().rank.stuck_min_minutes


# ---------------------------------------------- part 4: stuck by design is not stuck


BY_DESIGN = [
    ("main.watchSignals", 269),
    ("main.acceptLoop", 288),
    ("main.serveConn", 278),
    ("main.main", 365),
    ("net/http.(*conn).serve", 2193),
    ("net/http.(*persistConn).readLoop", 2493),
    ("net/http.(*persistConn).writeLoop", 2833),
]


@pytest.mark.parametrize("site", BY_DESIGN, ids=lambda s: f"{s[0]}:{s[1]}")
def test_blocked_by_design_for_the_whole_series_is_not_stuck(site):
    report = _report("all", SERIES)
    entry = BENIGN[site]
    t = _timeline(report, entry)
    # the same ids, blocked for the whole series by their own header minutes...
    assert max(w for w in t.max_wait_minutes if w is not None) >= 8
    assert max(t.stuck_minutes) >= 8
    # ...and no suspect
    assert truth_site(entry) not in suspect_sites(report)


def test_the_pool_hidden_stuck_workers_are_stuck_one_by_one():
    x = suspect_sites(_report("all", SERIES))[("main.(*collector).flush", "example.com/lookalikes/main.go", 240)]
    assert x.kind == "stuck" and x.state == "sync.WaitGroup.Wait"
    ev = dict(x.evidence)
    assert ev["stuck_goroutines"] == 6.0
    assert ev["stuck_minutes"] >= 8
    assert x.max_wait_minutes >= 9
