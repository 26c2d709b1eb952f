#!/usr/bin/env python3
"""Print, per truth set, the lowest score of a true leak beside the highest score of a benign signature (the margin).

Usage: bench/margins.py [CORPUS] [--fleet SERVICESxPODSxSNAPSHOTS:SEED,SEED,...] [--fleet-dir DIR[:TRUTH]] [--fleets-only] ...
(CORPUS: default $GOROSCOPE_CORPUS or ../shared/corpus). Each --fleet also measures
generated fleets (tests/fleetgen.py, its default leaks) of that shape, one per seed;
each --fleet-dir a fleet fleetgen already wrote (its truth DIR/fleet-truth.yaml unless
given, e.g. one written with --truth): there "benign flagged" is any finding that is
not a planted leak. --fleets-only skips the truth sets.
Each set is analysed with the default config. "leak min" is the lowest score among
the true leaks found (and how many of them were found, of their number, with their
kind); "benign flagged" the highest score of a benign signature that is a suspect
(none is the goal); "benign candidate" the highest score any benign signature's
growth or stuck statistics reach whether or not they pass the evidence rule (how
far below the bar the look-alikes stay).
"""
from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path

import yaml

from goroscope import growth
from goroscope.config import Config
from goroscope.pipeline import RunOptions, analyze
from goroscope.rank import _groups, _series_facts
from goroscope.stuck import stuck_verdict

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


def _entries(truth: dict) -> list[tuple[str, list, list]]:
    """Return (series path, leaks, benign) of a truth document of any of our sets."""
    if "series" in truth:
        return [(e["path"], e.get("expected_leaks") or [], e.get("benign") or []) for e in truth["series"]]
    return [(".", truth.get("leaks") or [], truth.get("benign") or [])]


def _candidate_scores(root: Path, config: Config) -> dict:
    """Return {(series id, function, line): the best growth or stuck score its group reaches, pass or not}.

    Read from every timeline of every series, as correlation makes them (a report
    keeps of a series only the timelines it shows)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from helpers import whole_series

    out = {}
    rc = config.rank
    options = config.signature_options()
    for s in whole_series(root, config):
        facts = _series_facts(s)
        n = len(s.snapshots)
        times = [x.time for x in s.snapshots]
        segs = [(g.first, g.last) for g in s.segments] or [(0, n - 1)]
        for g in _groups(s, config):
            counts = g.counts(n)
            lower = g.timelines[0].lower_bound or tuple(x.truncated for x in s.snapshots)
            gv = growth.growth_verdict(counts, times, segs, rc, lower, g.kept(n))
            sv = stuck_verdict(g.timelines, g.timelines[0], g.site, segs[-1], rc, options, times=times, uptime_minutes=facts.uptime_minutes)
            score = max(gv.score if gv.best is not None and gv.best.failed != "net" else 0.0, sv.score)
            out[(s.id, g.site.function, g.site.line)] = score
    return out


def _match(series_id: str, path: str, root_is_series: bool) -> bool:
    """Return True when the report's `series_id` is the truth entry's `path`."""
    return series_id == path or series_id.startswith(path + "/") or (root_is_series and path in (".", "series")) or series_id.endswith("/" + path) or path.endswith("/" + series_id)


def margin(name: str, root: Path, truth: dict, config: Config) -> str:
    """Return one line of the table for the set at `root`."""
    report = analyze(root, config, RunOptions(use_cache=False, jobs=1))
    cand = _candidate_scores(root, config)
    found = {}
    for x in report.suspects:
        for v in x.variants:
            found[(x.series, v.leak_site.function, v.leak_site.line)] = x
    leak_scores, missed, wrong, flagged, benign_cand = [], 0, 0, [], []
    total = 0
    for path, leaks, benign in _entries(truth):
        ids = [s.id for s in report.series if _match(s.id, path, len(report.series) == 1)]
        for leak in leaks:
            total += 1
            x = next((found[(sid, leak["function"], leak["line"])] for sid in ids if (sid, leak["function"], leak["line"]) in found), None)
            if x is None:
                missed += 1
                print(f"  {name}: missed {path} {leak['function']}:{leak['line']} (series {ids})", file=sys.stderr)
                continue
            leak_scores.append(x.score)
            if leak.get("kind") and x.kind != leak["kind"] and not (leak["kind"] == "leaked" or x.kind == "leaked"):
                wrong += 1
        for b in benign:
            for sid in ids:
                x = found.get((sid, b["function"], b["line"]))
                if x is not None:
                    flagged.append(x.score)
                c = cand.get((sid, b["function"], b["line"]))
                if c is not None:
                    benign_cand.append(c)
    low = f"{min(leak_scores):.3f}" if leak_scores else "-"
    hi = f"{max(flagged):.3f}" if flagged else "none"
    hc = f"{max(benign_cand):.3f}" if benign_cand else "-"
    return f"{name:28} leaks {total - missed:>2}/{total:<2} (kind wrong {wrong})  leak min {low}  benign flagged {hi} ({len(flagged)})  benign candidate max {hc}  parked {len(report.parked)}"


def fleet_margin(shape: str, seed: int, config: Config) -> str:
    """Return one line of the table for a generated fleet of `shape` ('5x20x6') and `seed`."""
    import tempfile

    sys.path.insert(0, str(ROOT / "tests"))
    import fleetgen

    services, pods, snapshots = (int(x) for x in shape.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        truth = fleetgen.generate(tmp, seed=seed, services=services, pods=pods, snapshots=snapshots, interval_minutes=30)
        report = analyze(Path(tmp), config, RunOptions(use_cache=False, jobs=1))
    return _fleet_line(f"fleet {shape} seed {seed:<3}     ", truth, report)


def fleet_dir_margin(spec: str, config: Config) -> str:
    """Return one line of the table for a fleet already generated: `spec` is 'DIR' or 'DIR:TRUTH' (default DIR/fleet-truth.yaml)."""
    folder, _, truth_path = spec.partition(":")
    truth = yaml.safe_load(Path(truth_path or Path(folder) / "fleet-truth.yaml").read_text(encoding="utf-8"))
    shape = f"{truth['services']}x{truth['pods_per_service']}x{truth['snapshots']}"
    report = analyze(Path(folder), config, RunOptions(use_cache=False, jobs=2))
    return _fleet_line(f"fleet {shape} seed {truth['seed']:<3} (dir)", truth, report)


def _fleet_line(name: str, truth: dict, report) -> str:
    """Return the table line of a fleet's `report` against its fleetgen `truth`."""
    planted = {(x["function"], x["line"]) for x in truth["leaks"]}
    hits = [f for f in report.findings if (f.leak_site.function, f.leak_site.line) in planted]
    extra = [f for f in report.findings if (f.leak_site.function, f.leak_site.line) not in planted]
    found = {(f.leak_site.function, f.leak_site.line) for f in hits}
    low = f"{min(f.score for f in hits):.3f}" if hits else "-"
    hi = f"{max(f.score for f in extra):.3f}" if extra else "none"
    first = "planted" if report.findings and report.findings[0] in hits else ("-" if not report.findings else "EXTRA")
    return f"{name} leaks {len(found):>2}/{len(planted):<2}  leak min {low}  benign flagged {hi} ({len(extra)})  finding #1 {first}"


def main() -> None:
    fleets, dirs = [], []
    for flag, into in (("--fleet-dir", dirs), ("--fleet", fleets)):
        while flag in sys.argv:
            i = sys.argv.index(flag)
            into.append(sys.argv[i + 1])
            del sys.argv[i : i + 2]
    only_fleets = "--fleets-only" in sys.argv
    if only_fleets:
        sys.argv.remove("--fleets-only")
    corpus = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("GOROSCOPE_CORPUS", ROOT.parent / "shared" / "corpus"))
    config = Config()
    sets = []
    if (corpus / "truth.yaml").is_file():
        sets.append(("dev corpus", corpus, corpus / "truth.yaml"))
    sets += [
        ("newshapes", DATA / "newshapes" / "series", DATA / "newshapes" / "truth.yaml"),
        ("lookalikes", DATA / "lookalikes", DATA / "lookalikes" / "truth.yaml"),
        ("loadramp", DATA / "loadramp" / "series", DATA / "loadramp" / "truth.yaml"),
        ("fleetshapes", DATA / "fleetshapes", DATA / "fleetshapes" / "truth.yaml"),
        ("keepalive", DATA / "keepalive", DATA / "keepalive" / "truth.yaml"),
    ]
    for name, root, truth in [] if only_fleets else sets:
        print(margin(name, root, yaml.safe_load(truth.read_text(encoding="utf-8")), config), flush=True)
    for spec in dirs:
        print(fleet_dir_margin(spec, config), flush=True)
    for spec in fleets:
        shape, _, seeds = spec.partition(":")
        for seed in (int(x) for x in (seeds or "1").split(",")):
            print(fleet_margin(shape, seed, config), flush=True)


if __name__ == "__main__":
    main()
