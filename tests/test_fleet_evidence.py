"""Issue 19 at fleet scale: generated fleets (tests/fleetgen.py) find exactly the planted leaks.

Each fleet is services x pods x 6 snapshots 30 minutes apart, its background real
debug=2 stacks with jitter (short-lived counts following a daily load curve and a
mean-reverting random walk, so some signatures drift up on some pods by chance),
with real leaks planted: a growing one on half the pods of one service, another on
a few pods of a second, and a pool whose workers get stuck one by one on a third.
Over several seeds the findings are exactly the planted leaks, and nothing else
(before the pooled, FDR-controlled evidence rule, chance drifts were findings, and
one ranked above a planted leak); a fleet with nothing planted has no finding.
"""

from __future__ import annotations

import pytest

import fleetgen
from goroscope.config import Config
from goroscope.pipeline import RunOptions, analyze

SHAPE = dict(services=4, pods=10, snapshots=6, interval_minutes=30)
LEAKS = "produce@0:5x4,awaitAck@1:3x2,flush@2:3x1"
OPTIONS = RunOptions(use_cache=False, jobs=1)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_generated_fleet_finds_exactly_its_planted_leaks(tmp_path, seed):
    # GIVEN a fleet with three planted leaks
    truth = fleetgen.generate(tmp_path, seed=seed, leaks=fleetgen.parse_leaks(LEAKS, SHAPE["services"]), **SHAPE)
    planted = {(x["function"], x["line"]): x for x in truth["leaks"]}
    # WHEN it is analysed
    report = analyze(tmp_path, Config(), OPTIONS)
    # THEN the findings are the planted leaks, and only they (so they rank above everything)
    found = [(f.leak_site.function, f.leak_site.line) for f in report.findings]
    assert sorted(found) == sorted(planted), found
    for f in report.findings:
        leak = planted[(f.leak_site.function, f.leak_site.line)]
        # ...each on pods of its own service only, and never on more pods than it was planted on
        assert {g for g, _, _ in f.groups} == {leak["service"]}
        assert {m.series.rsplit("/", 1)[-1] for m in f.series} <= set(leak["pods"])
        if leak["kind"] == "growing" and f.kind == "growing":
            # the pooled trend test held after the false-discovery-rate control
            assert f.q is not None and f.q <= Config().rank.max_q_value
        if leak["kind"] == "stuck":
            assert f.kind == "stuck"


def test_a_generated_fleet_with_nothing_planted_has_no_finding(tmp_path):
    fleetgen.generate(tmp_path, seed=7, leaks=[], **SHAPE)
    report = analyze(tmp_path, Config(), OPTIONS)
    assert not report.findings, [(f.kind, f.leak_site.function, f.leak_site.line, f.groups) for f in report.findings]
