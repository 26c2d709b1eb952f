"""A real program whose request load ramps beside a real leak (tests/data/loadramp):
goroutines that grow in number but never live from one dump to the next are load in
flight, not a leak, wherever goroutine ids can tell."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from goroscope.config import Config
from goroscope.pipeline import RunOptions, analyze

from helpers import REPO

DATA = REPO / "tests" / "data" / "loadramp"
TRUTH = yaml.safe_load((DATA / "truth.yaml").read_text())


def _sites(archive: Path) -> dict[tuple[str, int], str]:
    """Return {(file, line): kind} of the suspects a report of `archive` names."""
    report = analyze(archive, Config(), RunOptions(use_cache=False, jobs=1))
    return {(s.leak_site.file, s.leak_site.line): s.kind for s in report.suspects}


def _only(tmp_path: Path, suffix: str) -> Path:
    """Return a copy of the series holding only its files ending in `suffix`."""
    out = tmp_path / suffix.strip(".")
    out.mkdir()
    for f in sorted((DATA / "series").glob(f"*{suffix}")):
        shutil.copy2(f, out / f.name)
    return out


def test_the_leak_is_found_and_the_load_in_flight_is_not() -> None:
    sites = _sites(DATA / "series")
    for leak in TRUTH["leaks"]:
        assert sites.get((leak["file"], leak["line"])) == "growing", leak["function"]
    for benign in TRUTH["benign"]:
        assert (benign["file"], benign["line"]) not in sites, benign["trap"]


@pytest.mark.parametrize("suffix", [".debug1.txt", ".pb.gz"])
def test_without_ids_the_turnover_cannot_be_seen(tmp_path, suffix) -> None:
    # GIVEN the same moments in a form that carries no goroutine ids
    sites = _sites(_only(tmp_path, suffix))
    # THEN the leak is found, and the load in flight reads as growth: the rule needs ids
    assert sites.get(("example.com/loadramp/main.go", 38)) == "growing"
    assert sites.get(("example.com/loadramp/main.go", 30)) == "growing"
