"""The command line: exit codes, output naming, --force, atomic writes, stdout layout."""

from __future__ import annotations

from helpers import read_pty, run
import json
import os
import shutil
from pathlib import Path

import pytest

from goroscope import cli, exitcodes

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"



@pytest.fixture()
def archive(tmp_path) -> Path:
    """A copy of one sample series (a stuck leak) to run on."""
    dst = tmp_path / "arch"
    shutil.copytree(SAMPLES / "tracing-collector", dst / "tracing-collector")
    return dst


def test_report_writes_json_and_prints_paths_last(capsys, tmp_path, archive):
    out_dir = tmp_path / "out"
    code, out, err = run(capsys, "report", str(archive), "--format", "json", "--no-cache", "--output", str(out_dir), "--name", "r")
    assert code == exitcodes.OK, err
    lines = out.strip().splitlines()
    assert lines[-1] == str(out_dir / "r.json")
    doc = json.loads((out_dir / "r.json").read_text())
    assert doc["schema"] == "goroscope.report/1"
    assert doc["archive"] == str(archive)
    assert [s["id"] for s in doc["series"]] == ["tracing-collector"]
    assert len(doc["series"][0]["snapshots"]) == 19
    assert err == ""  # not a terminal: no progress
    umask = os.umask(0)
    os.umask(umask)
    assert (out_dir / "r.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_default_name_is_archive_stem_and_utc_time(capsys, tmp_path, archive, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "report", str(archive), "--format", "json", "--no-cache", "-q")
    assert code == 0
    (path,) = out.strip().splitlines()
    assert path.startswith("reports/arch-") and path.endswith("Z.json")
    stamp = Path(path).stem[len("arch-"):]
    assert len(stamp) == len("20261201T081500Z") and stamp[8] == "T"


def test_default_stem_strips_archive_suffixes():
    from datetime import datetime, timezone

    t = datetime(2026, 12, 1, 8, 15, 0, tzinfo=timezone.utc)
    assert cli.default_stem(Path("/x/dumps.tar.gz"), t) == "dumps-20261201T081500Z"
    assert cli.default_stem(Path("/x/dumps.tgz"), t) == "dumps-20261201T081500Z"
    assert cli.default_stem(Path("/x/dumps.zip"), t) == "dumps-20261201T081500Z"
    assert cli.default_stem(Path("/x/one.txt.gz"), t) == "one.txt-20261201T081500Z"
    assert cli.default_stem(Path("/x/folder/"), t) == "folder-20261201T081500Z"


def test_quiet_prints_only_paths(capsys, tmp_path, archive):
    code, out, _ = run(capsys, "report", str(archive), "--format", "json", "--no-cache", "--output", str(tmp_path), "--name", "q", "-q")
    assert code == 0
    assert out.strip().splitlines() == [str(tmp_path / "q.json")]


def test_existing_target_is_an_error_unless_force(capsys, tmp_path, archive):
    target = tmp_path / "r.json"
    target.write_text("previous")
    code, _, err = run(capsys, "report", str(archive), "--format", "json", "--no-cache", "--output", str(tmp_path), "--name", "r")
    assert code == exitcodes.USAGE
    assert "already exists" in err and str(target) in err
    assert target.read_text() == "previous"
    code, _, _ = run(capsys, "report", str(archive), "--format", "json", "--no-cache", "--output", str(tmp_path), "--name", "r", "--force")
    assert code == 0
    assert json.loads(target.read_text())["schema"] == "goroscope.report/1"


def test_every_target_is_checked_before_any_is_written(capsys, tmp_path, archive):
    (tmp_path / "r.md").write_text("previous")
    code, _, _ = run(capsys, "report", str(archive), "--format", "json,md", "--no-cache", "--output", str(tmp_path), "--name", "r")
    assert code == exitcodes.USAGE
    assert not (tmp_path / "r.json").exists()


def test_failing_renderer_leaves_previous_report_intact(capsys, tmp_path, archive, monkeypatch):
    from goroscope import render

    (tmp_path / "r.json").write_text("previous")

    def boom(report, view, config):
        raise OSError("disk on fire")

    monkeypatch.setitem(render.RENDERERS, "md", render.Renderer("md", "md", boom))
    code, _, err = run(capsys, "report", str(archive), "--format", "json,md", "--no-cache", "--output", str(tmp_path), "--name", "r", "--force")
    assert code == exitcodes.NO_DATA
    assert "disk on fire" in err
    assert (tmp_path / "r.json").read_text() == "previous"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_json_is_written_as_it_is_made_and_a_failure_half_way_leaves_nothing(capsys, tmp_path, archive, monkeypatch):
    # the JSON (tens of MB for a fleet) goes to its temporary file a piece at a time, never held whole
    from goroscope import render
    from goroscope.render import json as json_mod

    (tmp_path / "r.json").write_text("previous")
    real_write = render._write_temp
    made: list[int] = []

    def chunks(report, config):
        for k, piece in enumerate(json_mod.json_chunks(report, config)):
            made.append(k)
            yield piece
            if k == 3:
                raise OSError("disk on fire")

    def write_temp(path, data):
        assert not isinstance(data, (bytes, bytearray)) or not path.name.endswith(".json")
        return real_write(path, data)

    monkeypatch.setattr(render, "_write_temp", write_temp)
    monkeypatch.setitem(render.RENDERERS, "json", render.Renderer("json", "json", lambda r, v, c: chunks(r, c), uses_view=False))
    code, _, err = run(capsys, "report", str(archive), "--format", "md,json", "--no-cache", "--output", str(tmp_path), "--name", "r", "--force")
    assert code == exitcodes.NO_DATA and "disk on fire" in err
    assert made == [0, 1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["r.json"] and (tmp_path / "r.json").read_text() == "previous"


@pytest.fixture()
def no_analysis(monkeypatch):
    """Make any analysis fail the test: output checks must come before the work."""
    from goroscope import pipeline

    def analyze(*a, **k):
        raise AssertionError("the analysis ran before the outputs were checked")

    monkeypatch.setattr(pipeline, "analyze", analyze)


@pytest.mark.parametrize("where", ["file", "file/sub"])
def test_output_that_is_a_file_exits_4_before_the_analysis(capsys, tmp_path, archive, no_analysis, where):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, out, err = run(capsys, "report", str(archive), "--format", "json", "--no-cache", "--output", str(tmp_path / where), "--name", "r")
    assert code == exitcodes.NO_DATA, err
    assert err.startswith(f"error: {blocker}: is not a directory"), err
    assert "File exists" not in err and out == ""


def test_target_that_is_a_folder_exits_4_before_the_analysis(capsys, tmp_path, archive, no_analysis):
    (tmp_path / "r.json").mkdir()
    code, _, err = run(capsys, "report", str(archive), "--format", "json", "--no-cache", "--output", str(tmp_path), "--name", "r", "--force")
    assert code == exitcodes.NO_DATA and f"{tmp_path / 'r.json'}: is a directory" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder; the next test covers the check")
def test_unwritable_output_exits_4_before_the_analysis(capsys, tmp_path, archive, no_analysis):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        code, out, err = run(capsys, "report", str(archive), "--format", "json", "--no-cache", "--output", str(locked / "out"), "--name", "r")
    finally:
        locked.chmod(0o755)
    assert code == exitcodes.NO_DATA, err
    assert f"{locked}: not writable" in err and out == ""


def test_output_folder_refused_by_the_os_exits_4_before_the_analysis(capsys, tmp_path, archive, no_analysis, monkeypatch):
    """As the previous test, for any user: the folder's access check (os.access) says no."""
    from goroscope import render

    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(render.os, "access", lambda p, mode, **k: False if Path(p) == locked else real(p, mode, **k))
    code, out, err = run(capsys, "report", str(archive), "--format", "json", "--no-cache", "--output", str(locked / "out"), "--name", "r")
    assert code == exitcodes.NO_DATA, err
    assert err.startswith(f"error: {locked}: not writable (so --output {locked / 'out'} cannot be made)") and out == ""


def test_fail_on_new_without_a_baseline_is_a_usage_error(capsys, tmp_path, archive, no_analysis):
    code, _, err = run(capsys, "report", str(archive), "--format", "json", "--no-cache", "--output", str(tmp_path), "--fail-on-new")
    assert code == exitcodes.USAGE
    assert "--fail-on-new needs --baseline" in err


def test_baseline_dir_takes_the_newest_report_of_the_same_archive(capsys, tmp_path, archive):
    reports = tmp_path / "reports"
    args = ("report", str(archive), "--format", "json", "--no-cache", "--output", str(reports))
    # night one: nothing to compare with, said once
    code, _, err = run(capsys, *args, "--name", "n1", "--baseline-dir", str(reports), "--fail-on-new")
    assert code == exitcodes.SUSPECTS
    assert err.count("every suspect is new") == 1
    one = json.loads((reports / "n1.json").read_text())
    assert {s["status"] for se in one["series"] for s in se["suspects"]} == {"new"}
    # a newer report of another archive, and a JSON file that is no report, are passed over
    other = dict(one, archive="elsewhere", series=[])
    (reports / "other.json").write_text(json.dumps(other))
    (reports / "junk.json").write_text("{not json")
    later = os.stat(reports / "n1.json").st_mtime + 60
    for name in ("other.json", "junk.json"):
        os.utime(reports / name, (later, later))
    code, _, err = run(capsys, *args, "--name", "n2", "--baseline-dir", str(reports), "--fail-on-new")
    assert code == exitcodes.OK, err
    assert "every suspect is new" not in err
    two = json.loads((reports / "n2.json").read_text())
    assert {s["status"] for se in two["series"] for s in se["suspects"]} == {"known"}


def test_settle_that_holds_back_every_file_says_so(capsys, tmp_path, archive):
    now = __import__("time").time()
    for p in (archive / "tracing-collector").iterdir():
        os.utime(p, (now, now))
    code, _, err = run(capsys, "report", str(archive), "--format", "json", "--no-cache", "--output", str(tmp_path), "--settle", "300")
    assert code == exitcodes.NO_DATA
    assert "19 files changed within the last 300s (--settle)" in err and "left for the next run" in err
    assert "no files found" not in err


@pytest.mark.parametrize("command", ["diff-old", "diff-new", "inspect"])
def test_inspect_and_diff_of_a_missing_file_are_usage_errors(capsys, tmp_path, command):
    real = str(sorted((SAMPLES / "notifier").glob("*.debug1.txt"))[0])
    missing = str(tmp_path / "nope.txt")
    args = {"diff-old": ("diff", missing, real), "diff-new": ("diff", real, missing), "inspect": ("inspect", missing)}[command]
    code, _, err = run(capsys, *args)
    assert code == exitcodes.USAGE, err
    assert err.strip() == f"error: {missing}: no such file or directory"


def test_nothing_usable_exits_4(capsys, tmp_path):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.txt").write_text("hello, not a dump\n")
    code, _, err = run(capsys, "report", str(junk), "--format", "json", "--no-cache", "--output", str(tmp_path / "o"))
    assert code == exitcodes.NO_DATA
    assert "a.txt" in err and "Traceback" not in err


def test_strict_exits_3_when_input_skipped(capsys, tmp_path, archive):
    (archive / "tracing-collector" / "notes.txt").write_text("not a dump\n")
    args = ("report", str(archive), "--format", "json", "--no-cache", "--output", str(tmp_path), "--name")
    code, _, _ = run(capsys, *args, "a")
    assert code == 0
    doc = json.loads((tmp_path / "a.json").read_text())
    assert [s["path"] for s in doc["skipped"]] == ["tracing-collector/notes.txt"]
    code, _, _ = run(capsys, *args, "b", "--strict")
    assert code == exitcodes.INPUT_SKIPPED


def test_fail_on_suspects_exits_1(capsys, tmp_path, archive):
    code, out, _ = run(capsys, "report", str(archive), "--format", "json", "--no-cache", "--output", str(tmp_path), "--name", "s", "--fail-on-suspects")
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["series"][0]["suspects"], out
    assert code == exitcodes.SUSPECTS


def test_acknowledged_suspects_do_not_fail(capsys, tmp_path, archive):
    code, _, _ = run(capsys, "report", str(archive), "--format", "json", "--no-cache", "--output", str(tmp_path), "--name", "a")
    doc = json.loads((tmp_path / "a.json").read_text())
    fps = [s["fingerprint"] for s in doc["series"][0]["suspects"]]
    cfg = tmp_path / "ack.yaml"
    cfg.write_text("acknowledged:\n" + "".join(f"  - {{fingerprint: '{fp}'}}\n" for fp in fps))
    code, _, _ = run(capsys, "report", str(archive), "--format", "json", "--no-cache", "--output", str(tmp_path), "--name", "b", "--fail-on-suspects", "--config", str(cfg))
    assert code == exitcodes.OK


def test_baseline_marks_every_suspect_known(capsys, tmp_path, archive):
    run(capsys, "report", str(archive), "--format", "json", "--no-cache", "--output", str(tmp_path), "--name", "first")
    code, _, _ = run(capsys, "report", str(archive), "--format", "json", "--no-cache", "--output", str(tmp_path), "--name", "second",
                     "--baseline", str(tmp_path / "first.json"), "--fail-on-new")
    assert code == exitcodes.OK
    doc = json.loads((tmp_path / "second.json").read_text())
    statuses = [s["status"] for series in doc["series"] for s in series["suspects"]]
    assert statuses and set(statuses) == {"known"}


def test_bad_config_exits_2_naming_key_and_file(capsys, tmp_path, archive):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("rank: {min_tau: lots}\n")
    code, _, err = run(capsys, "report", str(archive), "--format", "json", "--no-cache", "--config", str(cfg), "--output", str(tmp_path))
    assert code == exitcodes.USAGE
    assert str(cfg) in err and "rank.min_tau" in err


def test_config_inside_archive_is_never_read(capsys, tmp_path, archive, monkeypatch):
    (archive / "goroscope.yaml").write_text("colour: red\n")  # would be a config error if read
    monkeypatch.chdir(archive)
    code, _, err = run(capsys, "report", ".", "--format", "json", "--no-cache", "--output", str(tmp_path), "--name", "x")
    assert code == 0, err
    assert "inside the archive" in err


def test_unknown_format_is_usage_error(capsys, tmp_path, archive):
    code, _, err = run(capsys, "report", str(archive), "--format", "json,docx", "--output", str(tmp_path))
    assert code == exitcodes.USAGE and "docx" in err


def test_inspect_json_of_a_debug2_dump(capsys, tmp_path):
    src = sorted((SAMPLES / "tracing-collector").iterdir())[0]
    code, out, _ = run(capsys, "inspect", str(src), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["format"] == "debug2"
    assert doc["total"] == len(doc["goroutines"]) > 0
    g = doc["goroutines"][0]
    assert set(g) >= {"id", "state", "flags", "wait_minutes", "locked_to_thread", "labels", "frames", "frames_elided", "created_by"}


def test_inspect_text_of_every_sample_form(capsys):
    for path in [sorted((SAMPLES / "notifier").glob("*.pb.gz"))[0], sorted((SAMPLES / "notifier").glob("*.debug1.txt"))[0]]:
        code, out, err = run(capsys, "inspect", str(path))
        assert code == 0, err
        assert "goroutines" in out and "leak site" in out


def test_inspect_of_junk_exits_4_with_message(capsys, tmp_path):
    p = tmp_path / "junk.bin"
    p.write_bytes(os.urandom(2048))
    code, _, err = run(capsys, "inspect", str(p))
    assert code == exitcodes.NO_DATA
    assert err.startswith(f"error: {p}") and "Traceback" not in err


def test_diff_names_what_grew(capsys):
    files = sorted((SAMPLES / "notifier").glob("*.debug1.txt"))
    code, out, _ = run(capsys, "diff", str(files[0]), str(files[-1]), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["signatures"][0]["delta"] > 0
    code, out, _ = run(capsys, "diff", str(files[0]), str(files[-1]))
    assert code == 0 and "leak site" in out


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and "goroscope" in out


def test_inspect_json_streamed_equals_the_dict():
    from goroscope.ingest import load
    from goroscope.render.terminal import inspect_json, inspect_json_chunks

    for path in [sorted((SAMPLES / "tracing-collector").iterdir())[0], sorted((SAMPLES / "notifier").glob("*.debug1.txt"))[0]]:
        snap = load(path)
        text = "".join(inspect_json_chunks(snap))
        assert json.loads(text) == inspect_json(snap)
        assert text == json.dumps(inspect_json(snap), indent=2, ensure_ascii=False)


def test_progress_bar_only_on_a_terminal(tmp_path, archive):
    """With stderr on a terminal a progress bar (files, bytes) is drawn; stdout keeps the summary."""
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "goroscope", "report", str(archive), "--format", "json", "--no-cache", "--output", str(tmp_path), "--name", "p"],
            stdout=subprocess.PIPE, stderr=slave, timeout=120, check=False,
        )
        os.close(slave)
        slave = -1
        chunks = [read_pty(master)]
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    err = b"".join(chunks).decode()
    assert proc.returncode == 0
    assert "parsing [" in err and "19/19 files" in err and " MB" in err
    assert "parsing" not in proc.stdout.decode()
    assert proc.stdout.decode().strip().splitlines()[-1] == str(tmp_path / "p.json")


def test_short_function_keeps_the_end_of_the_name():
    from goroscope.render.terminal import short_function

    name = "github.com/acme/tracing-collector/internal/sampling.(*shardWorker).loop"
    assert short_function(name, 100) == name
    assert short_function(name, 40) == "…/internal/sampling.(*shardWorker).loop"
    assert len(short_function(name, 12)) == 12 and short_function(name, 12).endswith(").loop")


@pytest.mark.parametrize("width", [30, 40, 50, 60])
def test_short_location_drops_whole_folders_never_the_file_name(width):
    from goroscope.render.terminal import short_location

    path = "/go/pkg/mod/github.com/acme/ledger-api@v1.4.2/internal/settle/batcher.go"
    got = short_location(path, 245, width)
    assert len(got) <= width and got.endswith("/batcher.go:245")
    assert got.startswith("…/")
    kept = got[2:].split("/")
    assert kept == f"{path}:245".split("/")[-len(kept):]  # whole components: no '…hub.com' reading as another module


def test_inspect_and_diff_keep_file_names_of_long_paths(capsys, tmp_path):
    from goroscope.ingest import load

    src = sorted((SAMPLES / "tracing-collector").iterdir())[0]
    code, out, _ = run(capsys, "inspect", str(src))
    assert code == 0
    snap = load(src)
    names = {f.file.rsplit("/", 1)[-1] for g in snap.goroutines for f in g.frames}
    for line in out.splitlines():
        if "…" in line and ".go:" in line:
            loc = line.split()[-1]
            assert loc.startswith("…/") and loc[2:].split(":")[0].rsplit("/", 1)[-1] in names, line


def test_compiled_templates_are_kept_beside_the_cache_and_only_there(capsys, tmp_path, archive):
    import re

    from goroscope.render.html import get_environment

    def outputs(*args: str) -> list[str]:
        """Return the HTML and Markdown a report run writes, less the run's time."""
        code, _, err = run(capsys, "report", str(archive), "--format", "html,md", "--output", str(tmp_path / "o"), "--name", "r", "--force", *args)
        assert code == exitcodes.OK, err
        return [re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?( UTC|Z)?", "T", (tmp_path / "o" / f"r.{x}").read_text()) for x in ("html", "md")]

    # GIVEN a run with a cache, in a process that has compiled no template yet (as a command's has not)
    from goroscope.render.markdown import get_markdown_environment

    for env in (get_environment(), get_markdown_environment()):
        env.cache.clear()  # type: ignore[union-attr]
    cache = tmp_path / "c" / "s.sqlite3"
    first = outputs("--cache", str(cache))
    # THEN the compiled templates are beside it, the HTML and the Markdown ones apart
    kept = sorted(p.relative_to(tmp_path / "c") for p in (tmp_path / "c").rglob("*.cache"))
    assert {p.parts[0] for p in kept} == {"s.sqlite3.templates"} and {p.parts[1][:3] for p in kept} == {"htm", "md-"}
    # AND a second run reads them and writes the same reports, as does one whose files are junk
    assert outputs("--cache", str(cache)) == first
    for p in kept:
        (tmp_path / "c" / p).write_bytes(b"junk")
    assert outputs("--cache", str(cache)) == first
    # AND a run without the cache writes none, and leaves the templates compiled nowhere
    assert outputs("--no-cache") == first
    assert sorted(p.relative_to(tmp_path / "c") for p in (tmp_path / "c").rglob("*.cache")) == kept
    assert get_environment().bytecode_cache is None
