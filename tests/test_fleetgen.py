"""The fleet generator (tests/fleetgen.py): deterministic for a seed, its files what its truth
says, every stack a real captured one, and every file one goroscope reads without a problem."""

from __future__ import annotations

import gzip
from datetime import datetime, timezone
from pathlib import Path

import pytest

import fleetgen
from goroscope.config import Config
from goroscope.ingest import load
from goroscope.pipeline import RunOptions, analyze

SHAPE = dict(services=3, pods=3, snapshots=5, interval_minutes=30)
LEAKS = "produce@0:2x4,awaitAck@1:2x4,flush@2:2x1"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("fleet")
    leaks = fleetgen.parse_leaks(LEAKS, SHAPE["services"])
    return out, fleetgen.generate(out, seed=3, leaks=leaks, **SHAPE)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.gz"))}


def test_same_seed_same_bytes_other_seed_other_fleet(tmp_path, fleet) -> None:
    out, truth = fleet
    again = fleetgen.generate(tmp_path / "again", seed=3, leaks=fleetgen.parse_leaks(LEAKS), jobs=2,
                              **SHAPE)
    assert again == truth
    assert _files(tmp_path / "again") == _files(out)
    other = fleetgen.generate(tmp_path / "other", seed=4, leaks=[], **SHAPE)
    assert other["leaks"] == []
    assert _files(tmp_path / "other") != _files(out)


def test_the_files_are_where_and_when_the_truth_says(fleet) -> None:
    out, truth = fleet
    assert fleetgen.load_truth(out) == truth
    files = sorted(out.rglob("*.gz"))
    assert len(files) == truth["files"] == 3 * 3 * 5
    for svc in truth["fleet"]:
        for pod in svc["pods"]:
            dumps = sorted((out / svc["service"] / pod).iterdir())
            assert len(dumps) == 5
            for i, path in enumerate(dumps):
                taken = datetime.strptime(path.name, "goroutine-%Y%m%dT%H%M%SZ.txt.gz").replace(tzinfo=timezone.utc)
                assert 0 <= (taken - fleetgen.START).total_seconds() - i * 1800 < 53  # the pod's turn in the round
                assert path.stat().st_mtime == taken.timestamp()


def test_planted_leaks_grow_or_stick_on_exactly_their_pods(fleet) -> None:
    out, truth = fleet
    kinds = {leak["name"]: leak["kind"] for leak in truth["leaks"]}
    assert kinds == {"produce": "growing", "awaitAck": "growing", "(*collector).flush": "stuck"}
    for leak in truth["leaks"]:
        svc = next(s for s in truth["fleet"] if s["service"] == leak["service"])
        assert set(leak["pods"]) <= set(svc["pods"]) and len(leak["pods"]) == 2
        site = f"\t{leak['file']}:{leak['line']}"
        for pod in svc["pods"]:
            per_dump, ids = [], []
            for path in sorted((out / svc["service"] / pod).iterdir()):
                blocks = [b for b in gzip.decompress(path.read_bytes()).decode().split("\n\n")
                          if site in b and f"{leak['function']}(" in b]
                per_dump.append(len(blocks))
                ids.append({b.split(" ", 2)[1] for b in blocks})
            stayed = [len(a & b) for a, b in zip(ids, ids[1:])]
            if pod in leak["pods"]:
                assert per_dump == leak["counts"][pod]
                planted = leak["leaked"][pod]
                assert planted == sorted(planted) and planted[-1] > planted[0], (leak["name"], pod, planted)
                assert all(s >= n for s, n in zip(stayed, planted)), (stayed, planted)  # planted ones keep their ids
            else:
                assert pod not in leak["counts"]
                assert stayed == [0] * 4  # the same code without the leak: short-lived goroutines only


def test_every_stack_is_a_real_captured_one(fleet) -> None:
    out, truth = fleet
    for svc in truth["fleet"]:
        for path in sorted((out / svc["service"]).rglob("*.gz")):
            text = gzip.decompress(path.read_bytes()).decode()
            assert text.startswith("goroutine ") and text.endswith("\n") and not text.endswith("\n\n")
            blocks = text.split("\n\n")
            assert "[running]:" in blocks[0]
            ids = [b.split(" ", 2)[1] for b in blocks]
            assert len(set(ids)) == len(ids), path  # an id repeats only where a second dump begins
            assert 150 <= len(blocks) <= 450
            for block in blocks:
                assert fleetgen.origin(block, svc) in svc["programs"], block[:300]
            assert not any(f"example.com/{p}/" in text for p in fleetgen.PROGRAMS)


def test_goroscope_reads_every_file_and_finds_the_planted_leaks(fleet) -> None:
    out, truth = fleet
    for path in sorted(out.rglob("*.gz")):
        snap = load(path)
        assert snap.problems == () and not snap.truncated, path
        assert snap.count == gzip.decompress(path.read_bytes()).count(b"\ngoroutine ") + 1
    report = analyze(out, Config(), RunOptions(use_cache=False, jobs=1))
    assert [s.path for s in report.skipped] == [fleetgen.TRUTH_NAME]
    found = {(f.leak_site.function, f.leak_site.line) for f in report.findings}
    for leak in truth["leaks"]:
        assert (leak["function"], leak["line"]) in found, leak["name"]


def test_a_bad_leak_spec_is_named() -> None:
    with pytest.raises(ValueError, match="nosuch"):
        fleetgen.parse_leaks("nosuch@0:1")
    with pytest.raises(ValueError, match="no service"):
        fleetgen.parse_leaks("produce@9:1", services=3)
