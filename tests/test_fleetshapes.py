"""Issue 19 on real captures: pods of one binary where only some leak, and the shapes that look like leaks.

tests/data/fleetshapes holds dumps of prog/ run as the pods of two services
(checkout: four pods, two with the abandoned-send leak, one whose fixed pool of 12
loses its workers to a lock one by one, one healthy; search: four healthy pods),
each moment as debug=2, debug=1 and protobuf, and truth.yaml (README.md there says
how they were made). Every pod carries the look-alikes: a long-poll handler whose
count ramps, then wanders about a plateau (and its net/http twins), a start-up
warm-up that parks a set and holds it, and an idle fixed pool. Every true leak must
be a suspect of its kind, no benign signature may be one, the warm-up's set is
listed as parked, the stuck pool's finding says which share of the pool is stuck,
and the one-form copies keep a wait reason (inferred) and borrow created-by from a
sibling pod.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from goroscope.config import Config
from goroscope.pipeline import RunOptions, analyze
from goroscope.render.json import render_json
from helpers import suspect_sites, truth_site

HERE = Path(__file__).resolve().parent / "data" / "fleetshapes"
TRUTH = yaml.safe_load((HERE / "truth.yaml").read_text(encoding="utf-8"))["series"]
OPTIONS = RunOptions(use_cache=False, jobs=1)
_REPORTS: dict[str, object] = {}


def _report(key: str, folder: Path):
    """Return the memoised Report of `folder` under the default config."""
    if key not in _REPORTS:
        _REPORTS[key] = analyze(folder, Config(), OPTIONS)
    return _REPORTS[key]


def _copy(root: Path, forms: dict[str, str]) -> Path:
    """Return a copy of the set under `root` keeping, per series path, only files ending in forms[path] ('' = every form)."""
    if not root.is_dir():
        for entry in TRUTH:
            src, dst = HERE / entry["path"], root / entry["path"]
            dst.mkdir(parents=True)
            for f in src.iterdir():
                if f.name.endswith(forms.get(entry["path"], "")):
                    shutil.copy2(f, dst / f.name)
    return root


def _by_series(report) -> dict[str, dict]:
    """Return {series id: suspect_sites of its suspects}."""
    out: dict[str, dict] = {}
    for x in report.suspects:
        out.setdefault(x.series, {})
    for sid in out:
        out[sid] = suspect_sites(type("R", (), {"suspects": [x for x in report.suspects if x.series == sid]})())
    return out


def test_every_true_leak_is_a_suspect_of_its_kind_and_no_benign_signature_is():
    report = _report("all", HERE)
    assert sorted(s.id for s in report.series) == sorted(e["path"] for e in TRUTH)
    found = _by_series(report)
    problems = []
    for entry in TRUTH:
        here = found.get(entry["path"], {})
        for leak in entry["expected_leaks"]:
            x = here.get(truth_site(leak))
            if x is None:
                problems.append(f"{entry['path']}: missed {leak['function']}:{leak['line']}")
            elif x.kind != leak["kind"]:
                problems.append(f"{entry['path']}: {leak['function']} is {x.kind}, not {leak['kind']}")
        for benign in entry["benign"]:
            x = here.get(truth_site(benign))
            if x is not None:
                problems.append(f"{entry['path']}: benign {benign['function']}:{benign['line']} is {x.kind} ({x.score}): {x.explanation}")
    assert not problems, "\n".join(problems)
    # the leak on two of checkout's four pods is one finding, the only growing one
    growing = [f for f in report.findings if f.kind == "growing"]
    assert [(f.leak_site.function, len(f.series)) for f in growing] == [("main.(*refresher).fetch", 2)]


def test_the_warm_up_set_is_parked_since_start_up_not_a_suspect():
    report = _report("all", HERE)
    parked = {(p.series, p.leak_site.function, p.leak_site.line) for p in report.parked}
    for entry in TRUTH:
        for p in entry["parked"]:
            assert (entry["path"], p["function"], p["line"]) in parked, (entry["path"], sorted(parked))
    assert all(p.parked_since_start and p.kind == "stuck" and "parked since start-up" in p.explanation for p in report.parked)
    assert not {(x.series, x.fingerprint) for x in report.suspects} & {(p.series, p.fingerprint) for p in report.parked}


def test_the_pool_losing_workers_one_by_one_ranks_first_and_says_its_share():
    report = _report("all", HERE)
    (entry,) = [e for e in TRUTH if any(x["kind"] == "stuck" for x in e["expected_leaks"])]
    (leak,) = [x for x in entry["expected_leaks"] if x["kind"] == "stuck"]
    (x,) = [s for s in report.suspects if s.series == entry["path"] and s.leak_site.line == leak["line"]]
    # THEN it is stuck, sized by the share of its pool it holds, and says so
    assert x.rank == 1 and x.pool is not None
    n = leak["counts"][-1]
    assert (x.pool.stuck, x.pool.size) == (n, 12)
    assert x.pool.created_by.line == leak["created_by"]["line"]
    assert f"{n} of the 12 workers created at fleetshapes/main.go:{leak['created_by']['line']}" in x.explanation
    # ...and its finding ranks above every signature truth calls benign (none is a finding)
    (f,) = [f for f in report.findings if f.leak_site.line == leak["line"]]
    assert f.pool == x.pool and report.findings.index(f) < len(report.findings)
    benign = {truth_site(b) for e in TRUTH for b in e["benign"]}
    assert not [g for g in report.findings if (g.leak_site.function, g.leak_site.file, g.leak_site.line) in benign]


def test_protobuf_only_suspects_carry_an_inferred_wait_reason_and_its_hint(tmp_path_factory):
    root = _copy(tmp_path_factory.mktemp("fs") / "pb", {e["path"]: ".pb.gz" for e in TRUTH})
    report = _report("pb", root)
    fetch = [x for x in report.suspects if x.leak_site.function == "main.(*refresher).fetch"]
    assert sorted(x.series for x in fetch) == ["checkout/pod-a", "checkout/pod-b"]
    for x in fetch:
        assert (x.state, x.state_inferred) == ("chan send", True)
    doc = render_json(report, Config())
    assert '"state_inferred": true' in doc and '"pattern": "abandoned-send"' in doc


def test_a_debug1_pod_borrows_created_by_and_its_wait_from_a_debug2_sibling(tmp_path_factory):
    # GIVEN checkout/pod-b with its debug=1 files only, pod-a with every form
    forms = {e["path"]: ".debug1.txt.gz" for e in TRUTH if e["path"] != "checkout/pod-a"}
    report = _report("d1", _copy(tmp_path_factory.mktemp("fs") / "d1", forms))
    (x,) = [x for x in report.suspects if x.series == "checkout/pod-b" and x.leak_site.function == "main.(*refresher).fetch"]
    leak = next(x for e in TRUTH if e["path"] == "checkout/pod-a" for x in e["expected_leaks"])
    # THEN it names pod-a's created-by for the same stack, and says it was borrowed
    assert (x.created_by.function, x.created_by.line) == (leak["created_by"]["function"], leak["created_by"]["line"])
    assert x.created_by_from == "checkout/pod-a" and "as checkout/pod-a shows" in x.explanation
    assert (x.state, x.state_inferred) == ("chan send", True)


def test_edge_gateway_host_b_borrows_created_by_from_host_a_s_debug2_dumps(corpus_dir):
    # GIVEN the dev corpus' edge-gateway: host-a dumps debug=1 and debug=2, host-b debug=1 only
    report = _report("edge-gateway", corpus_dir / "edge-gateway")
    a = {x.leak_site.function: x for x in report.suspects if x.series == "host-a"}
    b = [x for x in report.suspects if x.series == "host-b"]
    assert b
    for x in b:
        # THEN each host-b suspect names host-a's created-by for the same stack, marked as borrowed
        assert x.created_by is not None and x.created_by_from == "host-a", x.explanation
        assert x.created_by == a[x.leak_site.function].created_by
        assert "as host-a shows for the same stack" in x.explanation
        # ...and the wait reason host-a's debug=2 prints, marked as inferred
        assert x.state == a[x.leak_site.function].state and x.state_inferred


def test_the_terminal_summary_lists_the_parked_sets_below_the_findings():
    from goroscope.render.context import build_view
    from goroscope.render.terminal import summary_text

    text = summary_text(build_view(_report("all", HERE), Config()), width=100)
    assert "Parked since start-up and unchanged since, not leaks" in text
    assert text.index("Findings, worst first:") < text.index("Parked since start-up")
    assert "goroutines in chan receive at fleetshapes/main.go:119 (8 series)" in text
