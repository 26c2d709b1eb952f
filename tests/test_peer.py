"""goroscope's traceback parser against its peers' own test data.

- DataDog/gostackparse: for every NAME.txt with NAME.golden.json, every goroutine
  gostackparse found is found by goroscope with the same ID, State, Wait
  (minutes * 60e9 ns), LockedToThread, Stack (Func, File, Line), FramesElided and
  CreatedBy; on the inputs gostackparse rejects lines of, goroscope keeps at least
  as many goroutines (it never drops a goroutine for one bad line).
- uber-go/goleak: its dumps parse with no problems.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from goroscope.ingest import traceback as tb

from helpers import PEER, need


def peer_dir(name: str) -> Path:
    """Return ../shared/peer/`name`, or skip (fail under CI) when it is absent."""
    return need(PEER / name, "peer test data")


def _cases(name: str) -> list[str]:
    """Return the fixture names (NAME of NAME.txt + NAME.golden.json) of a peer, if present."""
    d = PEER / name
    if not d.is_dir():
        return ["<absent>"]
    return sorted(p.name[: -len(".golden.json")] for p in d.glob("*.golden.json") if (d / (p.name[:-12] + ".txt")).exists())


def parse_file(path: Path):
    """Parse one peer dump as ingest hands it over."""
    with open(path, "rb") as f:
        return tb.parse(io.BufferedReader(f), str(path))


def inspect_json(capsys, path: Path) -> dict | None:
    """Return what `goroscope inspect PATH --json` prints, or None when it refused the file."""
    from goroscope import cli

    try:
        cli.main(["inspect", str(path), "--json"])
        code = 0
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    if code != 0:
        assert err.startswith(f"error: {path}"), err
        return None
    return json.loads(out)


@pytest.mark.parametrize("name", _cases("gostackparse"))
def test_gostackparse_golden(name: str, capsys) -> None:
    d = peer_dir("gostackparse")
    golden = json.loads((d / f"{name}.golden.json").read_text())
    want = golden.get("Goroutines") or []
    # WHEN `goroscope inspect --json` reads the same input
    doc = inspect_json(capsys, d / f"{name}.txt")
    if doc is None:
        # only acceptable where gostackparse found nothing either
        assert want == []
        return
    got = {g["id"]: g for g in doc["goroutines"]}
    # THEN every goroutine gostackparse found is there, field for field
    for w in want:
        g = got.get(w["ID"])
        assert g is not None, f"goroutine {w['ID']} missing"
        assert g["state"] == w["State"]
        assert g["wait_minutes"] * 60_000_000_000 == w["Wait"]
        assert g["locked_to_thread"] == w["LockedToThread"]
        assert [{"Func": f["function"], "File": f["file"], "Line": f["line"]} for f in g["frames"]] == w["Stack"]
        assert g["frames_elided"] == w["FramesElided"]
        cb = w["CreatedBy"]
        if cb is None:
            assert g["created_by"] is None
        else:
            assert (g["created_by"]["function"], g["created_by"]["file"], g["created_by"]["line"]) == (cb["Func"], cb["File"], cb["Line"])
        if w.get("Ancestor"):
            assert g["ancestors"][0] == w["Ancestor"]["ID"]
    # and where gostackparse gave up on goroutines, goroscope keeps at least as many
    assert len(doc["goroutines"]) >= len(want)
    headers = len(re.findall(rb"^goroutine \d+ \[", (d / f"{name}.txt").read_bytes(), re.M))
    assert len(doc["goroutines"]) == headers
    if golden.get("Errors"):
        assert doc["problems"], "gostackparse rejected lines here; goroscope must name them too"


def test_gostackparse_fixtures_are_all_covered() -> None:
    d = peer_dir("gostackparse")
    assert len(_cases("gostackparse")) == len(list(d.glob("*.golden.json"))) >= 10


@pytest.mark.parametrize("name", ["http.txt", "http.go1.20.txt", "http.tracebackancestors.txt"])
def test_goleak_fixtures_parse_clean(name: str) -> None:
    d = peer_dir("goleak")
    path = d / name
    snap = parse_file(path)
    data = path.read_bytes()
    assert snap.problems == ()
    assert not snap.truncated
    assert len(snap.goroutines) == len(re.findall(rb"^goroutine \d+ \[", data, re.M))
    assert all(g.frames for g in snap.goroutines)
    if "ancestors" in name:
        # ancestor sections give ids, never frames of the goroutine itself
        with_anc = [g for g in snap.goroutines if g.ancestors]
        assert with_anc
        assert all(f.function != "main.main" for g in with_anc for f in g.frames if g.id != 1)
