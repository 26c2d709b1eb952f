"""Idle keep-alive connections beside leaked ones, on real captures of tests/data/keepalive/prog.

Four pods of one client binary (quotes/pod-1 .. pod-4, 36 moments 15 s apart;
pod-1 and pod-2 as debug=2, debug=1 and protobuf, pod-3 and pod-4 debug=2 only),
README.md there says how they were made. Every pod keeps a fixed pool of 8 keep-alive
connections idle with a zero http.Transport (IdleConnTimeout 0: the same read and
write loop ids for the whole run, their minutes growing) and an elastic pool whose
number moves with waves of load; pod-1 also leaks a connection whenever a caller
returns on a 503 without closing the body. The leak's read and write loops must be
growing suspects; no benign signature may be one (main flagged pod-3's write loops
as stuck, 0.67, on a number of idle connections that wandered up by chance). A 70 s
window of a healthy pod shows why newshapes' sync.Cond.Wait singleton cannot be
found in 70 s: a work-queue consumer between items looks the same.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from goroscope.config import Config
from goroscope.pipeline import RunOptions, analyze
from helpers import one_form, suspect_sites, truth_site, whole_series

HERE = Path(__file__).resolve().parent / "data" / "keepalive"
TRUTH = {e["path"]: e for e in yaml.safe_load((HERE / "truth.yaml").read_text(encoding="utf-8"))["series"]}
NEWSHAPES = yaml.safe_load((HERE.parent / "newshapes" / "truth.yaml").read_text(encoding="utf-8"))["series"][0]
OPTIONS = RunOptions(use_cache=False, jobs=1)
WRITE_LOOP = ("net/http.(*persistConn).writeLoop", "net/http/transport.go", 2833)
CONSUMER = ("main.(*queue).take", "example.com/keepalive/main.go", 174)
_REPORTS: dict[str, object] = {}


def _report(key: str, folder: Path, config: Config | None = None):
    """Return the memoised Report of `folder` (default config unless given)."""
    if key not in _REPORTS:
        _REPORTS[key] = analyze(folder, config or Config(), OPTIONS)
    return _REPORTS[key]


def _short_config() -> Config:
    """Return the default config with rank.stuck_min_minutes = 1: what finds newshapes' Cond.Wait singleton in its 70 s."""
    c = Config()
    return replace(c, rank=replace(c.rank, stuck_min_minutes=1.0))


def test_the_leaked_connections_are_growing_and_no_idle_connection_is_a_suspect():
    # WHEN the four pods are analysed together (one service)
    report = _report("all", HERE)
    assert sorted(s.id for s in report.series) == sorted(TRUTH)
    problems = []
    for sid, entry in TRUTH.items():
        found = suspect_sites(type("R", (), {"suspects": [x for x in report.suspects if x.series == sid]})())
        # THEN each leaked read and write loop is a growing suspect of its pod
        for leak in entry["expected_leaks"]:
            x = found.get(truth_site(leak))
            if x is None or x.kind != leak["kind"]:
                problems.append(f"{sid}: {leak['function']}:{leak['line']} is {x and x.kind}, not {leak['kind']}")
        # AND no benign signature (idle pools, the queue consumer, load drivers) is one
        for benign in entry["benign"]:
            x = found.get(truth_site(benign))
            if x is not None:
                problems.append(f"{sid}: benign {benign['function']}:{benign['line']} is {x.kind} ({x.score}): {x.explanation}")
    assert not problems, problems
    assert [x for x in report.suspects if x.series != "quotes/pod-1"] == []


def test_the_healthy_pods_idle_write_loops_are_stuck_ids_that_do_not_make_a_suspect():
    # GIVEN a healthy pod: its write loops include the fixed pool's idle connections,
    # followed by id and waiting for minutes, and an elastic pool's, whose number wanders
    report = _report("all", HERE)
    every = whole_series(HERE)  # every timeline of each series (a report keeps those it shows)
    for sid in ("quotes/pod-2", "quotes/pod-3", "quotes/pod-4"):
        series = next(s for s in every if s.id == sid)
        t = next(t for t in series.timelines if (t.signature.frames[-1].function, t.signature.frames[-1].file,
                                                  t.signature.frames[-1].line) == WRITE_LOOP)
        # THEN the evidence of a stuck set is there (8 or more ids held, waits past 5 minutes) ...
        assert min(t.stuck_ids[1:]) >= 8 and max(t.stuck_minutes) >= 5.0, (sid, t.stuck_ids, max(t.stuck_minutes))
        # ... and its number moves both ways, so it is not a suspect
        assert max(t.stuck_ids) - min(t.stuck_ids[1:]) >= 4
    assert all(x.series == "quotes/pod-1" for x in report.suspects)


@pytest.mark.parametrize("suffix", [".debug1.txt.gz", ".pb.gz"])
def test_each_form_alone_finds_the_leak_and_only_it(suffix, tmp_path_factory):
    # GIVEN only the debug=1 (or only the protobuf) files of the leaking pod and of a healthy one
    root = tmp_path_factory.mktemp("keepalive-forms")
    for sid in ("quotes/pod-1", "quotes/pod-2"):
        one_form(HERE / sid, root / sid, suffix)
    report = _report(suffix, root)
    # THEN the leaked read loop is a growing suspect of pod-1 and nothing else is flagged
    leak = next(x for x in TRUTH["quotes/pod-1"]["expected_leaks"] if x["line"] == 2616)
    flagged = {(x.series.split("/")[1], x.leak_site.function, x.leak_site.line, x.kind.value) for x in report.suspects}
    assert ("pod-1", leak["function"], leak["line"], "growing") in flagged, flagged
    assert all(f[0] == "pod-1" and f[1].startswith("net/http.(*persistConn).") for f in flagged), flagged


def test_a_70_s_window_cannot_tell_a_stuck_cond_singleton_from_an_idle_consumer(tmp_path):
    # GIVEN the first 70 s of a healthy pod (6 moments, as newshapes' 15 in 70 s): its
    # work-queue consumer waits in sync.Cond.Wait for the first item, due at 150 s
    window = tmp_path / "pod-2"
    window.mkdir()
    for f in sorted((HERE / "quotes" / "pod-2").glob("*.debug2.txt.gz"))[:6]:
        shutil.copy2(f, window / f.name)
    # WHEN it is judged with the bar that finds newshapes' never-signalled Cond.Wait singleton
    short = suspect_sites(_report("window-short", window, _short_config()))
    default = suspect_sites(_report("window-default", window))
    # THEN the healthy consumer is flagged the same way (one id, sync.Cond.Wait, a minute):
    # the two cannot be told apart in 70 s, so the default bar (5 minutes) flags neither
    x = short.get(CONSUMER)
    assert x is not None and x.kind == "stuck", sorted(short)
    assert dict(x.evidence)["stuck_goroutines"] == 1.0 and x.state == "sync.Cond.Wait"
    gate = next(s for s in NEWSHAPES["expected_leaks"] if s["kind"] == "stuck")
    assert gate["states_seen"][0] == x.state
    assert CONSUMER not in default
