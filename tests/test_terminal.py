"""The terminal summary: the terminal's width when stdout is one, wrapped (never cut) otherwise,
every tag kept, no series id cut into something that reads as another series."""

from __future__ import annotations

from helpers import read_pty
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from goroscope.config import Config
from goroscope.render.context import build_view
from goroscope.render.terminal import summary_text

from report_factory import make_report, with_findings

REPO = Path(__file__).resolve().parents[1]
LONG = "prod-eu-west-1/payments/ledger-api-7f9c8d6b5-x2kqz-replica"


def long_ids_report():
    """Return the factory report with long, hyphenated series ids and a new/known tag on every suspect."""
    base = make_report()
    rename = {se.id: f"{LONG}-{i}" for i, se in enumerate(base.series)}
    series = tuple(replace(se, id=rename[se.id]) for se in base.series)
    suspects = tuple(
        replace(s, series=rename[s.series], also_in=tuple(rename.get(x, x) for x in s.also_in), baseline="new" if i % 2 else "known")
        for i, s in enumerate(base.suspects)
    )
    return with_findings(replace(base, series=series, suspects=suspects, findings=()))


def _is_command(line: str) -> bool:
    """Return whether `line` is a command the summary prints whole, on its own line, to be copied."""
    return line.lstrip().startswith(("goroscope inspect ", "go tool pprof "))


@pytest.mark.parametrize("width", [40, 60, 80])
def test_summary_wraps_never_cuts_and_keeps_every_tag(width):
    report = long_ids_report()
    text = summary_text(build_view(report, Config()), width=width)
    lines = text.splitlines()
    # every series id whole, on a line of its own or among words, never split at a hyphen or cut
    for se in report.series:
        assert se.id in lines
    for line in lines:
        for token in line.split():
            token = token.strip(",;:()[]")
            if token.startswith(LONG[:10]):
                # a whole id, or the folder that groups them ('2 of 3 series of prod-eu-west-1/payments')
                whole = {se.id for se in report.series} | {se.id.rsplit("/", 1)[0] for se in report.series}
                assert token in whole, f"cut series id {token!r} in {line!r}"
        assert not line.rstrip().endswith("-"), f"split at a hyphen: {line!r}"
        # a line is longer than the width only when a single word is, or it is a command (copied whole)
        if len(line) > width and not _is_command(line):
            # (a stack prints its frames' whole file:line at an indent of 10)
            assert max(len(w) for w in line.split()) > width - 12, line
    # the new/known tag of every suspect (and finding) is there
    assert text.count("[new]") >= sum(s.baseline == "new" for s in report.suspects)
    assert text.count("[known]") >= sum(s.baseline == "known" for s in report.suspects)
    # nothing was cut: the top finding's explanation is there whole, and with -v every one is
    flat = " ".join(text.split())
    findings = build_view(report, Config()).findings
    assert " ".join(findings[0].explanation.split()) in flat
    flat_all = " ".join(summary_text(build_view(report, Config()), width=width, verbose=True).split())
    for fd in findings:
        assert " ".join(fd.explanation.split()) in flat_all


def test_summary_uses_the_terminal_width_when_stdout_is_a_terminal(tmp_path):
    """Under a 132-column terminal the summary fills 132 columns; piped, it keeps to 80."""
    import fcntl
    import pty
    import struct
    import termios

    archive = tmp_path / "arch"
    shutil.copytree(REPO / "samples" / "notifier", archive / "notifier-deployment-5d4f8b7c9-qq7lm-canary-eu-west")
    args = [sys.executable, "-m", "goroscope", "report", str(archive), "--format", "json", "--no-cache", "--output", str(tmp_path / "o")]

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 132, 0, 0))
    try:
        proc = subprocess.Popen(args + ["--name", "tty"], stdout=slave, stderr=subprocess.DEVNULL, env={**os.environ, "COLUMNS": ""})
        os.close(slave)
        slave = -1
        chunks = [read_pty(master)]
        proc.wait(timeout=120)
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    on_tty = b"".join(chunks).decode().replace("\r\n", "\n").splitlines()
    piped = subprocess.run(args + ["--name", "pipe"], capture_output=True, text=True, timeout=120).stdout.splitlines()
    assert proc.returncode == 0
    assert max(len(l) for l in on_tty) > 80 and all(len(l) <= 132 for l in on_tty if " " in l.strip() and not _is_command(l))
    assert all(len(l) <= 80 for l in piped if " " in l.strip() and not l.startswith(str(tmp_path)) and not _is_command(l))
