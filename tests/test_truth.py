"""The answer key: every expected leak of the dev corpus is a suspect, no benign signature is.

Reads ../shared/corpus/truth.yaml (beside the repository) and runs the whole
pipeline, `goroscope.pipeline.analyze`, on every series of it. Skipped with a reason
where the corpus is absent, except under CI (env CI set), where that fails.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from goroscope.config import Config
from goroscope.pipeline import RunOptions, analyze

from helpers import CORPUS, need

TRUTH = CORPUS / "truth.yaml"

pytestmark = pytest.mark.corpus


def _truth() -> dict:
    """Return the parsed truth.yaml, or skip (fail under CI) when it is absent."""
    need(TRUTH, "the dev corpus answer key (truth.yaml)")
    import yaml

    return yaml.safe_load(TRUTH.read_text(encoding="utf-8"))


def _series_paths() -> list[str]:
    """Return the truth's series paths (for test ids), [] when the corpus is absent."""
    if not TRUTH.is_file():
        return ["(corpus absent)"]
    import yaml

    return [s["path"] for s in yaml.safe_load(TRUTH.read_text(encoding="utf-8"))["series"]]


OPTIONS = RunOptions(use_cache=False, jobs=1)
_REPORTS: dict[str, object] = {}


def _report(path: str):
    """Return the Report of one corpus path (memoised: each archive is analysed once)."""
    if path not in _REPORTS:
        _REPORTS[path] = analyze(CORPUS / path, Config(), OPTIONS)
    return _REPORTS[path]


def _sites(suspect) -> set[tuple[str, str, int]]:
    """Return the (function, file, line) of a suspect and all its variants."""
    out = {(suspect.leak_site.function, suspect.leak_site.file, suspect.leak_site.line)}
    out |= {(v.leak_site.function, v.leak_site.file, v.leak_site.line) for v in suspect.variants}
    return out


@pytest.mark.parametrize("path", _series_paths())
def test_series_against_the_truth(path):
    truth = _truth()
    entry = next(s for s in truth["series"] if s["path"] == path)
    # WHEN the pipeline reads this series alone
    report = _report(path)
    # THEN it is one series with the snapshots the truth lists
    assert len(report.series) == 1, [s.id for s in report.series]
    series = report.series[0]
    crashes = sum(1 for e in entry.get("events") or [] if e.get("event") == "sigquit")
    assert len(series.snapshots) == entry["snapshot_count"] + crashes
    restarts = [e for e in entry.get("events") or [] if e.get("event") == "restart"]
    assert [(g.first, g.last) for g in series.segments] == _segments(len(series.snapshots), [e["after_snapshot"] for e in restarts])
    suspects = [x for x in report.suspects if x.series == series.id]
    has_created_by = any(s.format in ("debug2", "traceback") for s in series.snapshots)
    problems = []
    for leak in entry.get("expected_leaks") or []:
        want = (leak["function"], leak["file"], leak["line"])
        hits = [x for x in suspects if want in _sites(x)]
        if not hits:
            problems.append(f"missed {leak['function']} {leak['file']}:{leak['line']} ({leak['kind']})")
            continue
        x = hits[0]
        if x.kind not in (leak["kind"], "leaked"):
            problems.append(f"{leak['function']}: kind {x.kind}, expected {leak['kind']}")
        # the truth counts one form of each moment; the primary may be another form
        # fetched a moment apart, so allow a goroutine or two of difference
        if len(leak["counts"]) != len(x.counts) or any(abs(a - b) > max(2, 0.1 * b) for a, b in zip(x.counts, leak["counts"])):
            problems.append(f"{leak['function']}: counts {list(x.counts)} != truth {leak['counts']}")
        if has_created_by:
            cb = leak["created_by"]
            got = (x.created_by.function, x.created_by.line) if x.created_by else None
            if got != (cb["function"], cb["line"]):
                problems.append(f"{leak['function']}: created by {got}, expected {(cb['function'], cb['line'])}")
        assert x.explanation and f":{leak['line']}" in x.explanation, x.explanation
    for benign in entry.get("benign") or []:
        for x in suspects:
            if any(f == benign["function"] and line == benign["line"] for f, _, line in _sites(x)):
                problems.append(f"benign {benign['function']}:{benign['line']} reported as {x.kind}: {x.explanation}")
    assert not problems, "\n".join(problems)
    # ranks are 1..n within the series, best first
    assert [x.rank for x in suspects] == list(range(1, len(suspects) + 1))


def _segments(n: int, after: list[int]) -> list[tuple[int, int]]:
    """Return the inclusive segments of n snapshots split after the given 1-based snapshot numbers."""
    starts = [0] + sorted(after)
    ends = sorted(after) + [n]
    return [(a, b - 1) for a, b in zip(starts, ends)]


def test_the_same_cause_on_several_hosts_is_also_in_the_others():
    truth = _truth()
    group = [s["path"] for s in truth["series"] if s.get("service_group") == "edge-gateway"]
    if len(group) < 2:
        pytest.skip("the corpus has no service with several hosts")
    parent = Path(group[0]).parent
    report = analyze(CORPUS / parent, Config(), OPTIONS)
    # GIVEN a leak site expected on at least two hosts
    by_host: dict[str, set[tuple[str, int]]] = {}
    for s in truth["series"]:
        if s["path"] in group:
            by_host[s["path"]] = {(e["function"], e["line"]) for e in s.get("expected_leaks") or []}
    shared = set.intersection(*[v for v in by_host.values() if v])
    assert shared
    for fn, line in shared:
        hits = [x for x in report.suspects if x.leak_site.function == fn and x.leak_site.line == line]
        assert len(hits) >= 2
        for x in hits:
            others = {h.series for h in hits} - {x.series}
            assert others <= set(x.also_in), (x.series, x.also_in)


def test_the_whole_corpus_in_one_run_finds_the_same():
    truth = _truth()
    report = analyze(CORPUS, replace(Config()), OPTIONS)
    ids = {s.id for s in report.series}
    for entry in truth["series"]:
        sid = next((i for i in ids if i == entry["path"] or i.startswith(entry["path"] + "/")), None)
        assert sid is not None, (entry["path"], sorted(ids))
        sites = {(x.leak_site.function, x.leak_site.line) for x in report.suspects if x.series == sid}
        for leak in entry.get("expected_leaks") or []:
            assert (leak["function"], leak["line"]) in sites, (sid, leak["function"])
