"""One order everywhere: rank, JSON, terminal, HTML, Markdown and PDF name the same suspect first."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import io

import pypdf

from goroscope.cli import main

import dumpgen as g

STUCK_FN = "internal/batch.(*Flusher).flush"
GROWING_FN = "internal/screener.(*Screener).check"


def _run(capsys, *args: str) -> tuple[int, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, _ = capsys.readouterr()
    return code, out


def _first(text: str, *names: str) -> str:
    """Return which of `names` occurs first in `text`."""
    at = {n: text.find(n) for n in names if n in text}
    assert at, f"none of {names} in the output"
    return min(at, key=at.get)


def test_a_stuck_and_a_growing_suspect_rank_the_same_in_every_format(capsys, tmp_path):
    # GIVEN one series with a noisy growing leak (tens of goroutines) and twelve goroutines
    # stuck in WaitGroup.Wait for over an hour: same size class, the stuck one scores higher
    grow = [2, 5, 4, 8, 7, 11, 10, 14, 13, 17, 16, 20]
    idle = [8, 9, 8, 7, 9, 8, 8, 9, 7, 8, 8, 9]
    g.write_series(tmp_path / "in" / "ledger-api", 12, {g.SEND: grow, g.WAITGROUP: [12] * 12, g.IDLE: idle},
                   step=timedelta(minutes=6), stuck=(g.WAITGROUP,))
    # WHEN every format is written
    code, terminal = _run(capsys, "report", str(tmp_path / "in"), "--format", "json,html,md,pdf", "--no-cache",
                          "--output", str(tmp_path / "out"), "--name", "r")
    assert code == 0
    doc = json.loads((tmp_path / "out" / "r.json").read_text())
    suspects = doc["series"][0]["suspects"]
    kinds = {s["leak_site"]["function"].rsplit("ledger/", 1)[-1]: (s["kind"], s["score"]) for s in suspects}
    assert kinds[STUCK_FN][0] == "stuck" and kinds[GROWING_FN][0] == "growing"
    assert kinds[STUCK_FN][1] > kinds[GROWING_FN][1], "the case needs the stuck one to score higher"
    # THEN the kind order decides within the size class, and every output agrees on rank 1
    top = suspects[0]
    assert top["rank"] == 1 and top["kind"] == "growing" and top["leak_site"]["function"].endswith(GROWING_FN)
    if "findings" in doc:
        assert doc["findings"][0]["fingerprint"] == top["fingerprint"]
    assert _first(terminal, STUCK_FN, GROWING_FN) == GROWING_FN
    html = (tmp_path / "out" / "r.html").read_text()
    table = html[html.index("<table"):]
    assert _first(table, STUCK_FN, GROWING_FN) == GROWING_FN
    md = (tmp_path / "out" / "r.md").read_text()
    assert _first(md[md.index("|"):], STUCK_FN, GROWING_FN) == GROWING_FN
    page1 = pypdf.PdfReader(io.BytesIO((tmp_path / "out" / "r.pdf").read_bytes())).pages[0].extract_text()
    page1 = re.sub(r"\s+", "", page1)
    assert _first(page1, re.sub(r"\s+", "", STUCK_FN), re.sub(r"\s+", "", GROWING_FN)) == GROWING_FN
