"""A fleet's report follows its findings, not its inputs, and a finding goes into a ticket whole.

The fleet is tests/fleetgen.py's: 10 services of 20 pods (200 series) of real debug=2
stacks with two planted leaks, here at 5 snapshots a pod (1,000 files) so that the
suite stays fast; it is generated, analysed and rendered once for the module. The
issue measured 48 snapshots a pod by hand (9,600 files, bench figures in the closing
note): the outputs checked here do not grow with the snapshots, only the JSON does.
"""

from __future__ import annotations

import io
import json
import re
import shlex
from pathlib import Path

import pypdf
import pytest

import fleetgen
from goroscope import cli
from goroscope.config import Config
from goroscope.pipeline import RunOptions, analyze
from goroscope.render import write_outputs
from goroscope.render.context import build_view
from goroscope.render.terminal import summary_text


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Return (archive, truth, {format: text or bytes}, terminal summary) of a 200-pod fleet."""
    root = tmp_path_factory.mktemp("fleet")
    archive = root / "fleet"
    # the default leaks' pods and sites, each planting 4 goroutines a snapshot, so that 5 snapshots tell
    leaks = fleetgen.parse_leaks("produce@0:10x4,awaitAck@1:5x4", 10)
    truth = fleetgen.generate(archive, services=10, pods=20, snapshots=5, leaks=leaks, truth_path=root / "truth.yaml")
    config = Config()
    report = analyze(archive, config, RunOptions(use_cache=False))
    view = build_view(report, config)
    out = root / "out"
    paths = write_outputs(report, config, out, "fleet", ("html", "pdf", "json", "md"), view=view)
    files = {p.suffix[1:]: p.read_bytes() for p in paths}
    return archive, truth, files, summary_text(view, width=80)


def _finding_of(doc: dict, leak: dict) -> dict:
    """Return the JSON finding whose leak site is the planted leak's function."""
    found = [f for f in doc["findings"] if f["leak_site"]["function"] == leak["function"]]
    assert len(found) == 1, (leak["function"], [f["leak_site"]["function"] for f in doc["findings"]])
    return found[0]


def test_the_planted_leaks_are_the_findings_with_their_pods(fleet):
    _, truth, files, _ = fleet
    doc = json.loads(files["json"])
    for leak in truth["leaks"]:
        f = _finding_of(doc, leak)
        assert sorted(m["id"].rsplit("/", 1)[-1] for m in f["series"]) == sorted(leak["pods"])


def test_pdf_is_at_most_8_pages_with_every_finding_on_page_one(fleet):
    _, truth, files, _ = fleet
    pages = pypdf.PdfReader(io.BytesIO(files["pdf"])).pages
    assert len(pages) <= 8, len(pages)
    one = "".join(pages[0].extract_text().split())
    for leak in truth["leaks"]:
        assert "".join(f"{leak['file']}:{leak['line']}".split()) in one
    # no page lists files one by one: the inputs are one row per service
    text = "".join(p.extract_text() for p in pages)
    assert text.count(".txt.gz") <= 20, text.count(".txt.gz")


def test_terminal_summary_is_at_most_60_lines_and_cuts_no_path(fleet):
    _, truth, _, term = fleet
    lines = term.splitlines()
    assert len(lines) <= 60, term
    assert "…" not in term
    # the healthy pods are one line, not a block each
    assert sum(bool(re.fullmatch(r"\d+ series of 10 services: no suspects", line)) for line in lines) == 1, term
    assert "no suspects" not in term.replace(": no suspects", "")
    for leak in truth["leaks"]:
        assert f"{leak['file']}:{leak['line']}" in term


def test_html_stays_small_and_folds_the_every_suspect_table(fleet):
    _, _, files, _ = fleet
    html = files["html"].decode()
    assert len(files["html"]) <= 1_500_000
    assert '<details class="suspects-all">' in html  # folded by default
    assert '<details class="series-quiet">' in html  # healthy pods: one folded list


def test_markdown_finding_is_a_ticket_and_its_command_prints_the_stack(fleet, capsys):
    archive, truth, files, _ = fleet
    md = files["md"].decode()
    doc = json.loads(files["json"])
    details = {part.splitlines()[0]: part for part in md.split("\n### ")[1:]}
    for leak in truth["leaks"]:
        f = _finding_of(doc, leak)
        part = next(p for head, p in details.items() if leak["function"] in head)
        # its whole stack, whole paths, in the Go layout, and its created-by
        for frame in f["stack"]:
            assert f"\n{frame['function']}" in part and f"\n    {frame['file']}:{frame['line']}\n" in part
        assert f"created by {f['created_by']['function']}\n    {f['created_by']['file']}:{f['created_by']['line']}" in part
        # its pods, each named, and its fingerprint
        for pod in leak["pods"]:
            assert f"/{pod}`" in part
        assert f"`{f['fingerprint']}`" in part
        # the command that shows the evidence, and it prints that stack
        command = f["inspect"]["command"]
        assert f"`{command}`" in part
        argv = shlex.split(command)
        assert argv[:2] == ["goroscope", "inspect"] and Path(argv[2]).is_file()
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            cli.main(argv[1:])
        printed = capsys.readouterr().out
        assert e.value.code == 0
        assert f"goroutine {f['inspect']['goroutines'][0]} [" in printed
        for frame in f["stack"]:
            assert f"{frame['function']}(...)\n\t{frame['file']}:{frame['line']}" in printed
