"""The nightly job: the README's crontab line, run as cron would, over several nights.

The line is read from README.md itself (the ```cron block), so the documented line
is the tested one. A fake `mail` on PATH records each mail it is asked to send.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import REPO

SAMPLES = REPO / "samples"

FAKE_MAIL = r"""#!/bin/sh
# records one mail: its arguments, the attachment's first bytes, its body
n=$(ls "$MAILBOX" | wc -l)
f="$MAILBOX/mail-$n.txt"
: > "$f"
attach=""
while [ $# -gt 0 ]; do
  case "$1" in
    -s) echo "subject: $2" >> "$f"; shift 2 ;;
    -A) attach="$2"; echo "attachment: $2" >> "$f"; shift 2 ;;
    *) echo "to: $1" >> "$f"; shift ;;
  esac
done
if [ -n "$attach" ] && [ -f "$attach" ]; then
  echo "attachment starts: $(head -c 4 "$attach")" >> "$f"
fi
echo "body:" >> "$f"
cat >> "$f"
"""


def readme_cron_line() -> str:
    """Return the crontab line of README.md's ```cron block (exactly one)."""
    blocks = re.findall(r"```cron\n(.*?)\n```", (REPO / "README.md").read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "README.md holds one ```cron block"
    (line,) = blocks[0].strip().splitlines()
    return line


def _mails(box: Path) -> list[dict]:
    out = []
    for p in sorted(box.iterdir(), key=lambda p: int(p.stem.split("-")[1])):
        text = p.read_text()
        head, _, body = text.partition("body:\n")
        fields = dict(line.split(": ", 1) for line in head.splitlines())
        out.append({**fields, "body": body})
    return out


@pytest.fixture()
def night(tmp_path):
    """Return run(): one night of the README's cron line in tmp_path (/srv/goroscope and /srv/dumps moved there)."""
    line = readme_cron_line()
    fields = line.split(None, 5)
    assert len(fields) == 6 and all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5]), line
    command = fields[5]
    assert "%" not in command, "cron turns % into a newline"
    home, dumps, box, bin_dir = tmp_path / "srv-goroscope", tmp_path / "srv-dumps", tmp_path / "mailbox", tmp_path / "bin"
    for d in (home, box, bin_dir):
        d.mkdir()
    (bin_dir / "mail").write_text(FAKE_MAIL)
    (bin_dir / "mail").chmod(0o755)
    command = command.replace("/srv/goroscope", str(home)).replace("/srv/dumps", str(dumps))
    env = {
        # cron's own small environment, with goroscope (this venv) and the fake mail on PATH
        "PATH": os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
        "HOME": str(tmp_path),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "MAILBOX": str(box),
        "LANG": "C.UTF-8",
    }

    def run() -> list[dict]:
        subprocess.run(["/bin/sh", "-c", command], env=env, cwd=tmp_path, timeout=600, check=False)
        return _mails(box)

    run.home, run.dumps, run.env = home, dumps, env  # type: ignore[attr-defined]
    return run


def _add_series(dumps: Path, name: str) -> None:
    """Copy a sample series into the dumps folder, its files an hour old (past --settle)."""
    shutil.copytree(SAMPLES / name, dumps / name)
    old = time.time() - 3600
    for p in (dumps / name).rglob("*"):
        os.utime(p, (old, old))


def test_readme_cron_line_over_several_nights(night):
    # GIVEN a fleet's dumps with one stuck leak, and no report yet
    _add_series(night.dumps, "tracing-collector")
    # WHEN night one runs: no previous report, so every suspect is new
    mails = night()
    # THEN one mail, with the PDF attached
    assert len(mails) == 1, mails
    assert mails[0]["subject"] == "new goroutine leak suspects"
    assert mails[0]["attachment"].endswith(".pdf") and mails[0]["attachment starts"] == "%PDF"
    (first,) = (night.home / "reports").glob("*.json")
    doc = json.loads(first.read_text())
    assert {s["status"] for se in doc["series"] for s in se["suspects"]} == {"new"}
    assert sum("every suspect is new" in w for w in doc["warnings"]) == 1

    # WHEN night two finds the same leak: known, no mail
    time.sleep(1.1)  # the default stem carries the run's time to the second
    mails = night()
    assert len(mails) == 1, mails[1:]
    second = max((night.home / "reports").glob("*.json"), key=lambda p: p.stat().st_mtime)
    assert second != first
    doc = json.loads(second.read_text())
    assert {s["status"] for se in doc["series"] for s in se["suspects"]} == {"known"}
    assert not any("every suspect is new" in w for w in doc["warnings"])

    # WHEN night three has a new service with leaks of its own: mailed again
    _add_series(night.dumps, "notifier")
    time.sleep(1.1)
    mails = night()
    assert len(mails) == 2 and mails[1]["subject"] == "new goroutine leak suspects"
    assert mails[1]["attachment starts"] == "%PDF"


def test_readme_cron_line_reports_failures_as_failures(night):
    # GIVEN an output folder that cannot be made (exit 4): a failure mail with goroscope's message
    _add_series(night.dumps, "tracing-collector")
    (night.home / "reports").write_text("not a folder")
    mails = night()
    assert [m["subject"] for m in mails] == ["goroscope failed"]
    assert "is not a directory" in mails[0]["body"] and "attachment" not in mails[0]
    # GIVEN a dumps folder that is gone (exit 2): the same, never "new suspects"
    (night.home / "reports").unlink()
    shutil.rmtree(night.dumps)
    mails = night()
    assert [m["subject"] for m in mails] == ["goroscope failed", "goroscope failed"]
    assert "no such file or directory" in mails[1]["body"]


def test_readme_cron_line_tells_an_internal_error_from_a_leak(night, tmp_path):
    # GIVEN a leak in the dumps, and a goroscope with a bug outside any one file (its ranking),
    # injected through a sitecustomize the interpreter imports at start
    _add_series(night.dumps, "tracing-collector")
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import goroscope.rank\n"
        "def _broken(*a, **k):\n"
        "    raise ZeroDivisionError('a ranking bug')\n"
        "goroscope.rank.rank = goroscope.rank.rank_all = goroscope.rank.Gathered.ranked = _broken\n"
    )
    night.env["PYTHONPATH"] = str(hook)  # type: ignore[attr-defined]
    # WHEN the night runs: exit 5, never 1
    mails = night()
    # THEN the failure mail, naming the crash file, not "new goroutine leak suspects"
    assert [m["subject"] for m in mails] == ["goroscope failed"]
    assert "internal error" in mails[0]["body"] and "ZeroDivisionError" in mails[0]["body"]
    crash = mails[0]["body"].split("the traceback is in ")[1].split(";")[0]
    assert "a ranking bug" in Path(crash).read_text()
