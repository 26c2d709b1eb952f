"""Findings across series: one leak, one row, whatever the number of pods it is in."""

from __future__ import annotations

import json
from datetime import timedelta

from goroscope.cli import main
from goroscope.config import Config
from goroscope.pipeline import RunOptions, analyze
from goroscope.render.context import build_view
from goroscope.render.html import html_of_view
from goroscope.render.markdown import markdown_of_view
from goroscope.render.terminal import summary_text

import dumpgen as g

GROW = [1, 2, 3, 5, 6, 8, 9, 11]
IDLE = [4, 5, 4, 4, 5, 4, 5, 4]


def _run(capsys, *args: str) -> int:
    try:
        main(list(args))
        return 0
    except SystemExit as e:
        return int(e.code or 0)
    finally:
        capsys.readouterr()


def test_one_leak_on_100_pods_is_one_finding(tmp_path):
    # GIVEN 100 pods of one service, each with the same send leak beside an idle pool
    for i in range(100):
        g.write_series(tmp_path / "ledger-api" / f"pod-{i:03d}", 8, {g.SEND: GROW, g.IDLE: IDLE})
    # WHEN it is analysed
    report = analyze(tmp_path, Config(), RunOptions(use_cache=False, jobs=1))
    # THEN each pod has its suspect, and they make one finding that names all 100
    assert len(report.series) == 100 and len(report.suspects) == 100
    (finding,) = report.findings
    assert finding.kind == "growing" and finding.leak_site.line == g.SEND.line
    assert finding.groups == (("ledger-api", 100, 100),)
    assert finding.last_total == 100 * GROW[-1] and len(finding.series) == 100
    view = build_view(report, Config())
    assert len(view.findings) == 1 and view.findings[0].where == "100 of 100 series of ledger-api"
    assert view.verdict == "1 finding (100 leak suspects) in 100 of 100 series"
    # AND the Markdown table and the terminal's findings list hold one row
    md = markdown_of_view(view, Config())
    rows = [line for line in md.splitlines() if line.startswith("| ") and "screener.go:30" in line]
    assert len(rows) == 1 and "| 100 of 100 series of ledger-api |" in rows[0]
    html = html_of_view(view, Config())
    table = html[html.index('<table id="findings-table"'):]
    table = table[: table.index("</table>")]
    assert table.count("<tr ") == 1 and "100 of 100 series of ledger-api" in table
    text = summary_text(view)
    findings_part = text.split("Findings, worst first:")[1].split("\n\nledger-api/")[0]
    assert findings_part.count("    at /app/internal/screener/screener.go:30") == 1


def test_markdown_of_three_pods_lists_each_leak_once_with_its_pods(tmp_path):
    # GIVEN three pods of ledger-api with a send leak each, two of them also a nil-channel
    # receive leak, and another service with neither
    for i in range(3):
        shapes = {g.SEND: GROW, g.IDLE: IDLE}
        if i < 2:
            shapes[g.NIL_RECV] = [0, 1, 3, 4, 6, 7, 9, 10]
        g.write_series(tmp_path / "ledger-api" / f"pod-{i}", 8, shapes)
    g.write_series(tmp_path / "billing" / "pod-0", 8, {g.IDLE: IDLE})
    report = analyze(tmp_path, Config(), RunOptions(use_cache=False, jobs=1))
    md = markdown_of_view(build_view(report, Config()), Config())
    # THEN the table has one row per leak, saying where
    rows = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| #")]
    sites = [r for r in rows if "screener.go:30" in r or "tailer.go:57" in r]
    assert len(sites) == 2
    send = next(r for r in sites if "screener.go:30" in r)
    recv = next(r for r in sites if "tailer.go:57" in r)
    assert "| 3 of 3 series of ledger-api |" in send
    assert "| 2 of 3 series of ledger-api |" in recv
    # AND each leak's details list its pods, each once
    detail = md.split("### ")[1:]
    send_detail = next(d for d in detail if "screener" in d.splitlines()[0])
    assert [p for p in ("pod-0", "pod-1", "pod-2") if send_detail.count(f"ledger-api/pod-{p[-1]}`") == 1] == ["pod-0", "pod-1", "pod-2"]
    assert md.count("### ") == 2


def test_json_findings_keep_series_suspects_and_baseline_works_per_finding(capsys, tmp_path):
    # GIVEN night one: the send leak on two pods
    for i in range(2):
        g.write_series(tmp_path / "n1" / "ledger-api" / f"pod-{i}", 8, {g.SEND: GROW, g.IDLE: IDLE})
    assert _run(capsys, "report", str(tmp_path / "n1"), "--format", "json", "--no-cache", "--output", str(tmp_path / "r"), "--name", "n1") == 0
    one = json.loads((tmp_path / "r" / "n1.json").read_text())
    # THEN a series-only reader still finds every suspect under series[].suspects
    assert [len(s["suspects"]) for s in one["series"]] == [1, 1]
    (f,) = one["findings"]
    assert {"fingerprint", "kind", "score", "leak_site", "created_by", "series"} <= set(f)
    assert [(m["id"], m["rank"]) for m in f["series"]] == [("ledger-api/pod-0", 1), ("ledger-api/pod-1", 1)]
    assert f["fingerprint"] == one["series"][0]["suspects"][0]["fingerprint"]
    assert f["last"] == 2 * GROW[-1] and all(m["counts"] == GROW for m in f["series"])
    # GIVEN night two: the send leak spread to a third pod, pod-0 is clean, a new nil-channel leak
    for i in range(3):
        shapes = {g.SEND: GROW, g.IDLE: IDLE} if i else {g.IDLE: IDLE}
        if i == 2:
            shapes[g.NIL_RECV] = [0, 1, 3, 4, 6, 7, 9, 10]
        g.write_series(tmp_path / "n2" / "ledger-api" / f"pod-{i}", 8, shapes)
    _run(capsys, "report", str(tmp_path / "n2"), "--format", "json", "--no-cache", "--output", str(tmp_path / "r"),
         "--name", "n2", "--baseline", str(tmp_path / "r" / "n1.json"))
    two = json.loads((tmp_path / "r" / "n2.json").read_text())
    by_site = {x["leak_site"]["line"]: x for x in two["findings"]}
    # THEN the send leak is one known finding (new only on the pod it reached), the receive leak is new
    send = by_site[g.SEND.line]
    assert send["status"] == "known"
    assert {m["id"]: m["status"] for m in send["series"]} == {"ledger-api/pod-1": "known", "ledger-api/pod-2": "new"}
    assert by_site[g.NIL_RECV.line]["status"] == "new"
    # AND a leak gone from one pod but alive on others is not a gone finding
    assert two["findings_gone"] == []
    assert [x["series"] for x in two["gone"]] == ["ledger-api/pod-0"]


def test_pdf_of_60_pods_with_one_leak_is_a_few_pages_naming_every_pod(tmp_path):
    """The fleet PDF prints one block for the finding, not one per pod, and still names every pod."""
    import io

    import pypdf

    from goroscope.render.pdf import pdf_of_view

    # GIVEN 60 pods of one service, each with the same send leak beside an idle pool
    for i in range(60):
        g.write_series(tmp_path / "ledger-api" / f"pod-{i:03d}", 8, {g.SEND: GROW, g.IDLE: IDLE})
    report = analyze(tmp_path, Config(), RunOptions(use_cache=False, jobs=1))
    assert len(report.findings) == 1 and len(report.suspects) == 60
    # WHEN its PDF is printed
    view = build_view(report, Config())
    pages = pypdf.PdfReader(io.BytesIO(pdf_of_view(view, Config()))).pages
    text = "".join(p.extract_text() for p in pages)
    flat = "".join(text.split())
    # THEN it is a handful of pages, with the leak site and its sentence once in the body
    assert len(pages) <= 10, len(pages)
    assert flat.count("".join(report.suspects[0].explanation.split())[:40]) == 1
    # AND every pod of the finding is named, in its table and in the inputs
    for i in range(60):
        assert f"ledger-api/pod-{i:03d}" in flat
    # AND one chart stands for the finding, not one per pod
    assert "mostgoroutinesnow" in flat and flat.count("goroutinesatthisleaksite") == 0


def test_html_of_many_pods_keeps_every_series_but_collapses_the_finding_s_copies(tmp_path):
    """The HTML keeps a section per series; the finding's other suspects sit in one collapsed <details>."""
    for i in range(12):
        g.write_series(tmp_path / "ledger-api" / f"pod-{i:03d}", 8, {g.SEND: GROW, g.IDLE: IDLE})
    report = analyze(tmp_path, Config(), RunOptions(use_cache=False, jobs=1))
    html = html_of_view(build_view(report, Config()), Config())
    assert html.count('<section class="series"') == 12
    details = html[html.index('<section id="details"'):]
    assert details.count('<details class="more-series">') == 1
    opened = details[: details.index('<details class="more-series">')]
    assert opened.count('<section class="suspect') == 1  # one suspect open, eleven collapsed
    # AND the twelve series' own sections, all repeating the one finding, fold into one <details>
    series_part = html[html.index('<section id="series"'):html.index('<section id="details"')]
    folded = series_part[series_part.index('<details class="series-covered">'):]
    assert folded.count('<section class="series"') == 12


def _night(capsys, tmp_path, name: str, pods: dict[str, dict], *extra: str) -> int:
    """Write one night's archive of `pods` (pod -> shapes) and report it as JSON; return the exit code."""
    for pod, shapes in pods.items():
        g.write_series(tmp_path / name / "ledger-api" / pod, 8, shapes)
    return _run(capsys, "report", str(tmp_path / name), "--format", "json", "--no-cache",
                "--output", str(tmp_path / "r"), "--name", name, *extra)


def test_fail_on_new_passes_a_known_leak_that_reached_or_moved_to_other_pods(capsys, tmp_path):
    # GIVEN night one: the send leak on pod-0 only
    assert _night(capsys, tmp_path, "n1", {"pod-0": {g.SEND: GROW, g.IDLE: IDLE}, "pod-1": {g.IDLE: IDLE}}) == 0
    base = str(tmp_path / "r" / "n1.json")
    # WHEN night two has it on pod-1 and pod-2 and no longer on pod-0 (no pod of night two had it before)
    code = _night(capsys, tmp_path, "n2", {"pod-0": {g.IDLE: IDLE}, "pod-1": {g.SEND: GROW, g.IDLE: IDLE},
                                          "pod-2": {g.SEND: GROW, g.IDLE: IDLE}}, "--baseline", base, "--fail-on-new")
    # THEN it is one known finding, its pods tagged new, and --fail-on-new exits 0
    two = json.loads((tmp_path / "r" / "n2.json").read_text())
    (send,) = two["findings"]
    assert send["status"] == "known" and {m["status"] for m in send["series"]} == {"new"}
    assert code == 0
    # while --fail-on-suspects still fails on it
    assert _run(capsys, "report", str(tmp_path / "n2"), "--format", "json", "--no-cache", "--output",
                str(tmp_path / "r"), "--name", "n2b", "--fail-on-suspects") == 1


def test_fail_on_new_fails_on_a_new_leak_beside_a_known_one(capsys, tmp_path):
    # GIVEN night one: the send leak on pod-0
    assert _night(capsys, tmp_path, "n1", {"pod-0": {g.SEND: GROW, g.IDLE: IDLE}}) == 0
    base = str(tmp_path / "r" / "n1.json")
    # WHEN night two adds a nil-channel receive leak on the same pod
    code = _night(capsys, tmp_path, "n2", {"pod-0": {g.SEND: GROW, g.IDLE: IDLE, g.NIL_RECV: [0, 1, 3, 4, 6, 7, 9, 10]}},
                  "--baseline", base, "--fail-on-new")
    # THEN the new leak is a new finding and --fail-on-new exits 1
    two = json.loads((tmp_path / "r" / "n2.json").read_text())
    status = {f["leak_site"]["line"]: f["status"] for f in two["findings"]}
    assert status == {g.SEND.line: "known", g.NIL_RECV.line: "new"}
    assert code == 1
