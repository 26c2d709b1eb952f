"""What a bad file or a killed run must not cost the night's report (issue 15).

One damaged or hostile input is a skipped input with its reason, never the run; an
error outside any one file is exit 5 with a crash file, never 1 (which cron reads as
"leak"); outputs appear all at once or not at all; nothing of a killed run lingers.
"""

from __future__ import annotations

import gzip
import json
import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from helpers import build_zip, run
from goroscope import exitcodes

REPO = Path(__file__).resolve().parents[1]
SERIES = REPO / "samples" / "tracing-collector"



def good_dumps() -> list[tuple[str, bytes]]:
    """Return (name, text) of three real debug=2 dumps of one series."""
    files = sorted(SERIES.glob("*.gz"))[:3]
    return [(p.name[: -len(".gz")], gzip.decompress(p.read_bytes())) for p in files]


def damage_local_header(data: bytes, k: int) -> bytes:
    """Return the zip `data` with the magic of its `k`-th (0-based) local file header changed."""
    out = bytearray(data)
    at = -1
    for _ in range(k + 1):
        at = out.index(b"PK\x03\x04", at + 1)
    out[at + 2] = 0x09
    return bytes(out)


def report_json(capsys, tmp_path: Path, archive: Path, *extra: str) -> tuple[int, dict | None, str]:
    """Run `report ARCHIVE --format json` into tmp_path/out; return (exit code, the JSON or None, stderr)."""
    out = tmp_path / "out"
    code, _, err = run(capsys, "report", str(archive), "--format", "json", "--no-cache", "--output", str(out), "--name", "r", "-q", *extra)
    path = out / "r.json"
    return code, (json.loads(path.read_text()) if path.exists() else None), err


# ------------------------------------------------------------------ row 1: a damaged zip member


def test_a_damaged_zip_member_is_skipped_and_the_rest_is_read(capsys, tmp_path):
    # GIVEN a folder of good dumps beside a zip whose second member's local header is damaged
    arch = tmp_path / "night"
    shutil.copytree(SERIES, arch / "pod-a")
    dumps = good_dumps()
    (arch / "pod-b.zip").write_bytes(damage_local_header(build_zip(dumps), 1))
    # WHEN the night's report runs
    code, doc, err = report_json(capsys, tmp_path, arch)
    # THEN it succeeds: every good dump read, the damaged member named with its reason
    assert code == exitcodes.OK, err
    assert doc is not None
    skipped = {s["path"]: s["reason"] for s in doc["skipped"]}
    bad = f"pod-b.zip/{dumps[1][0]}"
    assert bad in skipped and "corrupt archive member" in skipped[bad], skipped
    inputs = set(doc["inputs"]) if "inputs" in doc else {s["source"] for se in doc["series"] for s in se["snapshots"]}
    assert f"pod-b.zip/{dumps[0][0]}" in inputs and f"pod-b.zip/{dumps[2][0]}" in inputs
    assert sum(1 for i in inputs if i.startswith("pod-a/")) == len(list(SERIES.glob("*.gz")))


def test_a_zip_of_one_damaged_member_alone_exits_4_naming_it(capsys, tmp_path):
    dumps = good_dumps()[:1]
    z = tmp_path / "one.zip"
    z.write_bytes(damage_local_header(build_zip(dumps), 0))
    code, _, err = report_json(capsys, tmp_path, z)
    assert code == exitcodes.NO_DATA, err
    assert "Traceback" not in err and dumps[0][0] in err


# ------------------------------------------------- deliver 1: any error of one file is that file's


def test_any_error_while_reading_one_file_skips_that_file(capsys, tmp_path, monkeypatch):
    # GIVEN a sniffer with a bug that one file of the series trips
    arch = tmp_path / "night"
    shutil.copytree(SERIES, arch / "pod-a")
    victim = sorted(SERIES.glob("*.gz"))[2].name
    from goroscope.ingest import discover

    def buggy(real):
        def sniff(head: bytes):
            if b"goroutine 1 [" in head and calls[0] == 2:
                calls[0] += 1
                raise KeyError("a parser bug")
            calls[0] += 1
            return real(head)

        return sniff

    calls = [0]
    monkeypatch.setattr(discover, "sniff", buggy(discover.sniff))
    monkeypatch.setattr(discover, "sniff_settled", buggy(discover.sniff_settled))  # (a file's first 8 KB)
    # WHEN the report runs
    code, doc, err = report_json(capsys, tmp_path, arch)
    # THEN that one file is skipped as an internal error, and the run goes on
    assert code == exitcodes.OK, err
    reasons = [s["reason"] for s in doc["skipped"]]
    assert len(reasons) == 1 and reasons[0].startswith("internal error reading it: KeyError"), reasons
    assert "please report" in reasons[0]
    assert victim in doc["skipped"][0]["path"]


# --------------------------------------------------------- row 3: an internal error is exit 5


def test_an_error_outside_any_file_exits_5_naming_a_crash_file(capsys, tmp_path, monkeypatch):
    # GIVEN a ranker with a bug (outside any one file)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from goroscope import rank

    def broken(*a, **k):
        raise ZeroDivisionError("a ranking bug")

    monkeypatch.setattr(rank, "rank", broken)
    monkeypatch.setattr(rank.Gathered, "ranked", broken)  # what the pipeline calls (suspects and parked sets, across series)
    # WHEN the report runs
    code, doc, err = report_json(capsys, tmp_path, SERIES)
    # THEN exit 5 (never 1, the "leak" code), one line naming the crash file that holds the traceback
    assert code == exitcodes.INTERNAL == 5
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "internal error" in lines[0] and "ZeroDivisionError" in lines[0], err
    crash = Path(lines[0].split("traceback is in ")[1].split()[0].rstrip(";"))
    text = crash.read_text()
    assert "Traceback" in text and "a ranking bug" in text and "def broken" not in lines[0]
    assert doc is None


def test_verbose_also_prints_the_traceback(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from goroscope import rank

    monkeypatch.setattr(rank, "rank", lambda *a, **k: 1 / 0)
    monkeypatch.setattr(rank.Gathered, "ranked", lambda *a, **k: 1 / 0)
    code, _, err = report_json(capsys, tmp_path, SERIES, "-v")
    assert code == 5
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError" in err


# ------------------------------------------------------------ row 2: a prefix ending in \v or \f


@pytest.mark.parametrize("sep", [b"\v", b"\f", b"\x1c", b"\x85", b"\xa0"])
@pytest.mark.parametrize("command", ["report", "inspect", "diff"])
def test_a_prefix_ending_in_odd_whitespace_is_no_crash(capsys, tmp_path, sep, command):
    text = b"x" + sep + b" goroutine 1 [running]:\nx" + sep + b" main.main()\nx" + sep + b" \t/a/main.go:5 +0x1d\n"
    f = tmp_path / "odd.txt"
    f.write_bytes(text)
    args = {"report": ["report", str(f), "--format", "json", "--no-cache", "--output", str(tmp_path / "o"), "-q"],
            "inspect": ["inspect", str(f)], "diff": ["diff", str(f), str(f)]}[command]
    code, out, err = run(capsys, *args)
    assert code in (exitcodes.OK, exitcodes.NO_DATA), err
    assert "Traceback" not in err and "IndexError" not in err


# ------------------------------------------------------ row 4: zip members without file-type bits


def test_zip_members_without_file_type_bits_are_regular_files(capsys, tmp_path):
    # GIVEN a zip written by ZipFile.writestr(name, data): mode 0o600, no S_IFREG
    z = tmp_path / "py.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in good_dumps():
            zf.writestr(name, data)
    with zipfile.ZipFile(z) as zf:
        assert all(stat.S_IFMT(i.external_attr >> 16) == 0 for i in zf.infolist())
    # WHEN it is the archive
    code, doc, err = report_json(capsys, tmp_path, z)
    # THEN every member is read
    assert code == exitcodes.OK, err
    assert doc["skipped"] == [] and sum(len(se["snapshots"]) for se in doc["series"]) == 3


def test_zip_members_marked_special_are_still_refused(capsys, tmp_path):
    z = tmp_path / "special.zip"
    name, data = good_dumps()[0]
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr(name, data)
        info = zipfile.ZipInfo("fifo")
        info.external_attr = (stat.S_IFIFO | 0o644) << 16
        zf.writestr(info, b"")
    code, doc, err = report_json(capsys, tmp_path, z)
    assert code == exitcodes.OK, err
    assert [(s["path"], "fifo" in s["reason"]) for s in doc["skipped"]] == [("fifo", True)]


# --------------------------------------------------- deliver 3: prefix detection is total, fuzzed

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_FRAME_LINES = [b"main.main()", b"\t/a/main.go:5 +0x1d", b"", b"1 @ 0x1 0x2", b"#\t0x1\tmain.f+0x1\t/a.go:3"]


@st.composite
def prefixed_dumps(draw) -> bytes:
    """Return a small dump whose lines carry an arbitrary prefix (any bytes, odd blanks included)."""
    pre = draw(st.binary(max_size=12) | st.sampled_from([b"\v ", b"x\v ", b"\f\t", b" \r ", b"[1] ", b"a\x85 "]))
    header = draw(st.sampled_from([b"goroutine 1 [running]:", b"goroutine profile: total 1", b"goroutine 7 gp=0x1 m=0 [select]:"]))
    lines = [header] + draw(st.lists(st.sampled_from(_FRAME_LINES), max_size=6))
    sep = draw(st.sampled_from([b"\n", b"\r\n", b"\n\v"]))
    return sep.join(pre + ln for ln in lines)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefixed_dumps() | st.binary(max_size=300))
def test_prefix_detection_is_total_over_any_bytes(data: bytes) -> None:
    import io

    from goroscope.ingest import prefix, sniff

    sniff(data)  # returns, whatever the bytes
    lp = prefix.detect(data)
    if lp is None:
        return
    stripped = prefix.strip(data, lp.pattern)
    streamed = io.BufferedReader(prefix.StrippedReader(io.BytesIO(data), lp.pattern)).read()
    assert streamed == stripped
    prefix.prefix_times(data, lp.pattern)


# ------------------------------------------------ row 5: no process of a killed run lingers

import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

# Every parse in the workers takes a minute: the run is surely in its parse when killed.
_SLOW_PARSE = """
import time
import goroscope.pipeline as p
_real = p.parse_one
def _slow(*a, **k):
    time.sleep(60)
    return _real(*a, **k)
p.parse_one = _slow
"""


def _children(pid: int) -> dict[int, list[int]]:
    """Return every process's children, by parent pid, read from /proc."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    return kids


def _tree(pid: int) -> set[int]:
    """Return the pids of every descendant of `pid`."""
    kids = _children(pid)
    out: set[int] = set()
    todo = [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _alive(pid: int) -> bool:
    """Return True while `pid` exists and is no zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_killed_report_leaves_no_process_behind(tmp_path, sig):
    # GIVEN a report with two workers, each busy parsing
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_SLOW_PARSE)
    env = {**os.environ, "PYTHONPATH": str(hook), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    # every sample series: enough bytes (pipeline.SERIAL_BELOW_BYTES) and batches for a pool
    cmd = [sys.executable, "-m", "goroscope", "report", str(REPO / "samples"), "--jobs", "2", "--no-cache",
           "--format", "json", "--output", str(tmp_path / "out"), "--name", "r"]
    # a background job's shell hands its children SIGINT ignored (as land.sh's suite runs): Python then keeps it so
    default_int = (lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) if sig == signal.SIGINT else None
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=default_int)
    try:
        seen: set[int] = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            seen |= _tree(proc.pid)
            # the forkserver, the resource tracker and both workers
            if len(seen) >= 4 and sum(1 for p in seen if _alive(p)) >= 4:
                break
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.05)
        else:
            pytest.fail(f"the workers never came up: {seen}")
        time.sleep(0.3)
        seen |= _tree(proc.pid)
        # WHEN the run is killed
        proc.send_signal(sig)
        proc.wait(timeout=30)
        # THEN within 5 s no process of it is left
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(p) for p in seen):
            time.sleep(0.1)
        left = sorted(p for p in seen if _alive(p))
        assert not left, f"left behind: {left}"
        assert not list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in _tree(proc.pid) | locals().get("seen", set()):
            if _alive(p):
                os.kill(p, signal.SIGKILL)


# ------------------------------------------- row 10: a malformed Dask scheduler fails at once


def test_a_malformed_dask_scheduler_fails_at_once(tmp_path):
    if not os.environ.get("CI"):
        pytest.importorskip("distributed", reason="the optional extra goroscope[dask] is not installed")
    cmd = [sys.executable, "-m", "goroscope", "report", str(SERIES), "--executor", "dask", "--scheduler", "notaurl",
           "--no-cache", "--output", str(tmp_path / "out")]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)})
    took = time.monotonic() - start
    assert proc.returncode == exitcodes.USAGE, proc.stderr
    assert "notaurl" in proc.stderr and "Traceback" not in proc.stderr
    assert took < 15, f"lingered {took:.0f} s"


# ------------------------------------------- row 9: outputs all or nothing, on a full disk too


def test_a_full_disk_leaves_no_new_file_and_the_rerun_works(capsys, tmp_path, monkeypatch):
    # GIVEN a disk that fills up while the second of three reports is written
    import errno

    real_fsync = os.fsync
    calls = []

    def fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    out = tmp_path / "out"
    args = ["report", str(SERIES), "--format", "json,md,html", "--no-cache", "--output", str(out), "--name", "r", "-q"]
    # WHEN the report runs
    code, _, err = run(capsys, *args)
    # THEN exit 4 with the reason, and nothing new in the folder (no report, no temporary file)
    assert code == exitcodes.NO_DATA, err
    assert "No space left on device" in err
    assert list(out.iterdir()) == []
    # WHEN the disk has room again, the same --name works
    monkeypatch.setattr(os, "fsync", real_fsync)
    code, stdout, err = run(capsys, *args)
    assert code == exitcodes.OK, err
    assert sorted(p.name for p in out.iterdir()) == ["r.html", "r.json", "r.md"]


# ------------------------------------- row 10: two runs aiming at the same names, without --force


def test_a_name_taken_while_the_run_worked_is_not_overwritten(capsys, tmp_path, monkeypatch):
    # GIVEN another run that writes r.md while this one renders
    out = tmp_path / "out"
    from goroscope import render

    real = render.RENDERERS["md"]

    def racing(report, view, config):
        out.mkdir(parents=True, exist_ok=True)
        (out / "r.md").write_text("the other run's report\n")
        return real.render(report, view, config)

    monkeypatch.setitem(render.RENDERERS, "md", render.Renderer("md", "md", racing))
    # WHEN this run writes json, md and html without --force
    code, _, err = run(capsys, "report", str(SERIES), "--format", "json,md,html", "--no-cache", "--output", str(out), "--name", "r", "-q")
    # THEN it fails naming the file, leaves the other run's file alone and no file of its own
    assert code == exitcodes.NO_DATA, err
    assert f"{out / 'r.md'}: already exists" in err
    assert sorted(p.name for p in out.iterdir()) == ["r.md"]
    assert (out / "r.md").read_text() == "the other run's report\n"


def test_two_concurrent_runs_with_the_same_name_cannot_both_succeed(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    for attempt in range(2):
        name = f"r{attempt}"
        cmd = [sys.executable, "-m", "goroscope", "report", str(SERIES), "--jobs", "1", "--no-cache",
               "--format", "json,md", "--output", str(out), "--name", name, "-q"]
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
        codes = [p.wait(timeout=120) for p in procs]
        assert sorted(codes) in ([0, 2], [0, 4]), [p.stderr.read() for p in procs]
        assert sorted(p.name for p in out.glob(f"*{name}*")) == [f"{name}.json", f"{name}.md"]


# ------------------------------------ row 6: fifos, sockets and devices are refused at once


def _goroscope(*args: str, tmp_path: Path, timeout: float = 30) -> subprocess.CompletedProcess:
    """Run goroscope in a subprocess (a hang fails the test at `timeout`)."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "goroscope", *args], capture_output=True, text=True, timeout=timeout, env=env)


def _special(tmp_path: Path, kind: str) -> Path:
    """Return a fifo or a socket made in tmp_path, or a device."""
    if kind == "fifo":
        p = tmp_path / "dump.fifo"
        os.mkfifo(p)
        return p
    if kind == "socket":
        import socket

        p = tmp_path / "s.sock"
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(p))
        s.close()
        return p
    return Path("/dev/zero")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no fifos here")
@pytest.mark.parametrize("kind", ["fifo", "socket", "device"])
@pytest.mark.parametrize("command", ["report", "inspect", "inspect --json", "diff"])
def test_special_files_are_refused_at_once(tmp_path, kind, command):
    special = _special(tmp_path, kind)
    words = command.split()
    args = {"report": [*words, str(special), "--no-cache", "--format", "json", "--output", str(tmp_path / "o")],
            "diff": [*words, str(SERIES / sorted(os.listdir(SERIES))[0]), str(special)]}.get(command, [*words, str(special)])
    proc = _goroscope(*args, tmp_path=tmp_path)
    assert proc.returncode == exitcodes.NO_DATA, proc.stderr
    assert "not a regular file" in proc.stderr and "Traceback" not in proc.stderr


# ------------------------------------------- row 7: bounded effort on a stream of nothing


def _dump_then_newlines(mib: int) -> bytes:
    """Return a gzipped real dump followed by `mib` MiB of newlines."""
    import zlib

    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [co.compress(good_dumps()[0][1])]
    block = b"\n" * (1 << 20)
    out += [co.compress(block) for _ in range(mib)]
    out.append(co.flush())
    return b"".join(out)


def test_a_gz_of_mostly_newlines_is_refused_in_seconds(capsys, tmp_path):
    # GIVEN a dump followed by 256 MiB of newlines, gzipped to a few hundred KB, beside good dumps
    arch = tmp_path / "night"
    shutil.copytree(SERIES, arch / "pod-a")
    (arch / "pod-b").mkdir()
    (arch / "pod-b" / "padded.txt.gz").write_bytes(_dump_then_newlines(256))
    # WHEN the report runs
    start = time.monotonic()
    code, doc, err = report_json(capsys, tmp_path, arch, "--jobs", "1")
    took = time.monotonic() - start
    # THEN that file is refused as a bomb, quickly, and the good dumps are read
    assert code == exitcodes.OK, err
    (skip,) = doc["skipped"]
    assert skip["path"] == "pod-b/padded.txt.gz" and "times its compressed size" in skip["reason"], skip
    assert took < 20, f"took {took:.0f} s"


def test_a_tar_gz_member_of_mostly_newlines_is_refused(capsys, tmp_path):
    from helpers import build_tar

    name, dump = good_dumps()[0]
    padded = dump + b"\n" * (64 << 20)
    t = tmp_path / "a.tar.gz"
    t.write_bytes(build_tar([(name, dump), ("padded.txt", padded)]))
    code, doc, err = report_json(capsys, tmp_path, t, "--jobs", "1")
    assert code == exitcodes.OK, err
    assert any("times its compressed size" in s["reason"] for s in doc["skipped"]), doc["skipped"]
    assert [s["source"] for se in doc["series"] for s in se["snapshots"]] == [name]


# ------------------------------- row 8: memory for a dump of all-distinct goroutines is bounded


def _distinct_dump(n: int) -> bytes:
    """Return a debug=2 dump of `n` goroutines whose stacks all differ."""
    parts = [b"goroutine 1 [running]:\nmain.main()\n\t/app/main.go:10 +0x1d\n\n"]
    for i in range(2, n + 2):
        parts.append(
            f"goroutine {i} [chan receive]:\nmain.worker{i}(0xc000{i:06x})\n\t/app/gen/w{i % 100}.go:{i % 5000 + 1} +0x1d\n"
            f"created by main.spawn in goroutine 1\n\t/app/main.go:20 +0x25\n\n".encode()
        )
    return b"".join(parts)


def test_a_dump_of_too_many_distinct_stacks_is_refused_at_the_configured_bound(capsys, tmp_path):
    # GIVEN a bound of 2000 distinct stacks, a dump of 3000 distinct ones beside the good dumps
    arch = tmp_path / "night"
    shutil.copytree(SERIES, arch / "pod-a")
    (arch / "pod-b").mkdir()
    (arch / "pod-b" / "wide.txt").write_bytes(_distinct_dump(3000))
    cfg = tmp_path / "goroscope.yaml"
    cfg.write_text("discovery:\n  max_stacks: 2000\n")
    # WHEN the report runs
    code, doc, err = report_json(capsys, tmp_path, arch, "--config", str(cfg), "--jobs", "1")
    # THEN that dump is skipped naming the bound, and the rest is read
    assert code == exitcodes.OK, err
    (skip,) = doc["skipped"]
    assert skip["path"] == "pod-b/wide.txt" and "more than 2000 distinct stacks" in skip["reason"], skip
    assert "discovery.max_stacks" in skip["reason"]
    # and under the bound it is read
    cfg.write_text("discovery:\n  max_stacks: 4000\n")
    shutil.rmtree(tmp_path / "out")
    code, doc, err = report_json(capsys, tmp_path, arch, "--config", str(cfg), "--jobs", "1")
    assert code == exitcodes.OK and doc["skipped"] == [], err
