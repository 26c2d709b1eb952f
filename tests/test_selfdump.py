"""Dumps a program writes itself (runtime.Stack on a signal), many in one log: where each begins.

In one moment goroutine ids are unique, so an id seen again begins a new dump
(ingest.parts.DumpCuts). These tests build runtime.Stack's output by hand, in the
shapes a daemon's log holds it, and read it every way the ingest does: the whole
file (the last dump, and how many), one part, every part, byte ranges of a big file.
"""

from __future__ import annotations

import io

import pytest

from goroscope import aggregate as aggregate_mod
from goroscope import pipeline
from goroscope.config import Config
from goroscope.ingest import parse_parts, parse_stream
from goroscope.ingest.parts import DumpCuts, count_dumps, dump_starts

CFG = Config()


def _goroutine(gid: int, state: str, frames: list[tuple[str, str]], created: tuple[str, str, int] | None = None) -> str:
    """Return one goroutine as the runtime prints it: header, function and file lines, created-by."""
    lines = [f"goroutine {gid} [{state}]:"]
    for fn, pos in frames:
        lines += [f"{fn}(...)", f"\t{pos} +0x1d"]
    if created is not None:
        fn, pos, parent = created
        lines += [f"created by {fn} in goroutine {parent}", f"\t{pos} +0x55"]
    return "\n".join(lines) + "\n"


def _handler(gid: int) -> str:
    """Return the goroutine that called runtime.Stack: `[running]`, first in its dump."""
    return _goroutine(gid, "running", [("main.dumpOnSignal", "example.com/svc/main.go:87")], ("main.main", "example.com/svc/main.go:103", 1))


def _stack_dump(handler: int, retriers: int, first: int = 100) -> str:
    """Return what runtime.Stack(buf, true) writes: the caller, goroutine 1, then the rest, blank lines
    between them and none after the last (its output ends with the last line's newline)."""
    blocks = [
        _handler(handler),
        _goroutine(1, "sleep", [("time.Sleep", "runtime/time.go:368"), ("main.main", "example.com/svc/main.go:138")]),
        _goroutine(21, "syscall", [("os/signal.signal_recv", "runtime/sigqueue.go:152")], ("os/signal.Notify.func2.1", "os/signal/signal.go:164", 1)),
    ]
    blocks += [
        _goroutine(first + k, "sleep", [("time.Sleep", "runtime/time.go:368"), ("main.reconnect", "example.com/svc/main.go:45")], ("main.main", "example.com/svc/main.go:130", 1))
        for k in range(retriers)
    ]
    return "\n".join(blocks)


def _sites(snap) -> dict[str, int]:
    """Return how many goroutines of `snap` block in each main function."""
    out: dict[str, int] = {}
    for g in snap.goroutines:
        fn = next((f.function for f in g.frames if f.function.startswith("main.")), "")
        out[fn] = out.get(fn, 0) + 1
    return out


def _parts(data: bytes) -> list:
    """Return the Snapshot of every dump of `data`, read in one pass."""
    return list(parse_parts(io.BufferedReader(io.BytesIO(data)), "svc.log"))


def _whole(data: bytes):
    """Return the Snapshot of the whole of `data` (the last dump, and how many there are)."""
    return parse_stream(io.BufferedReader(io.BytesIO(data)), "svc.log")


# ------------------------------------------------------------------ the rule itself


@pytest.mark.parametrize(
    "ids, openers, starts",
    [
        ([7, 1, 2, 3, 7, 1, 2, 3], [0, 4], [0, 4]),  # the same handler each time: its own id repeats
        ([50, 1, 2, 51, 1, 2, 3], [0, 3], [0, 3]),  # a new handler per signal: goroutine 1 repeats, the dump began at the handler
        ([1, 2, 3, 1, 2, 3], [], [0, 3]),  # no handler printed first
        ([9, 1, 2, 40, 1, 2], [0, 3], [0, 3]),
        ([5, 6, 7], [0], [0]),  # one dump
        ([], [], []),
    ],
)
def test_dump_starts_where_an_id_repeats(ids, openers, starts) -> None:
    assert dump_starts(ids, openers, []) == starts


def test_a_running_goroutine_without_frames_before_a_repeat_does_not_begin_the_dump() -> None:
    # GIVEN a dump's last goroutine `[running]` on another thread (no stack: not an opener), then goroutine 1 again
    cuts = DumpCuts()
    assert [cuts.feed(g, opener, False) for g, opener in [(7, True), (1, False), (2, False), (40, False), (1, False)]] == [1, 0, 0, 0, 1]


def test_a_writer_begins_a_dump_even_with_new_ids() -> None:
    cuts = DumpCuts()
    assert [cuts.feed(g, w, w) for g, w in [(20, True), (1, False), (21, True), (2, False)]] == [1, 0, 1, 0]


# ------------------------------------------------------------------ the shapes of a log


def test_dumps_glued_without_a_blank_line_are_each_a_snapshot() -> None:
    # GIVEN three runtime.Stack dumps written one after another to stderr (no blank line
    # between them: runtime.Stack's output ends with its last line's newline), the handler
    # goroutine 22 first each time, not goroutine 1
    dumps = [_stack_dump(22, n) for n in (1, 3, 6)]
    data = "".join(dumps).encode()
    assert "\n\ngoroutine 22 " not in data.decode()
    # WHEN read whole and in parts
    whole = _whole(data)
    parts = _parts(data)
    # THEN there are three, each its own goroutines: the leak grows 1, 3, 6
    assert whole.dumps == 3 and [g.id for g in whole.goroutines] == [g.id for g in parts[-1].goroutines]
    assert [p.message for p in whole.problems] == ["3 goroutine dumps back to back: the last is read (`goroscope report` reads each as a snapshot)"]
    assert [_sites(p)["main.reconnect"] for p in parts] == [1, 3, 6]
    assert [len(p.goroutines) for p in parts] == [4, 6, 9]
    assert all(p.problems == () and not p.truncated and p.dumps == 1 for p in parts)
    assert [p.goroutines[0].id for p in parts] == [22, 22, 22]


def test_a_new_handler_per_signal_begins_its_dump_not_goroutine_1() -> None:
    # GIVEN dumps each written by a goroutine started for the signal (ids 50, 61, 72), with log lines between
    data = "".join(f"INFO received SIGUSR1, dumping\n{_stack_dump(h, n)}\n" for h, n in ((50, 2), (61, 2), (72, 4))).encode()
    parts = _parts(data)
    # THEN each dump opens with its own handler, and holds goroutine 1 once
    assert [p.goroutines[0].id for p in parts] == [50, 61, 72]
    assert [[g.id for g in p.goroutines].count(1) for p in parts] == [1, 1, 1]
    assert [_sites(p)["main.reconnect"] for p in parts] == [2, 2, 4]
    assert _whole(data).dumps == 3


def test_a_dump_cut_mid_goroutine_then_a_complete_one() -> None:
    # GIVEN a dump runtime.Stack cut at the end of its caller's buffer (mid-line, no word said),
    # the logger's newline after it, then a complete dump
    first = _stack_dump(22, 5)
    cut = first[: first.rindex("main.reconnect") + len("main.reco")]
    data = (cut + "\n" + _stack_dump(22, 6)).encode()
    parts = _parts(data)
    # THEN the first is truncated, its goroutines kept but the cut one; the second is whole
    assert len(parts) == 2 and _whole(data).dumps == 2
    assert parts[0].truncated and [p.message for p in parts[0].problems] == ["dump ends mid-goroutine"]
    assert _sites(parts[0])["main.reconnect"] == 4
    assert not parts[1].truncated and parts[1].problems == () and _sites(parts[1])["main.reconnect"] == 6


def test_a_dump_whose_first_goroutine_is_not_goroutine_1_nor_repeats() -> None:
    # GIVEN a first dump opening with goroutine 9 and a second whose handler is new (40): only goroutine 1 repeats
    data = (_stack_dump(9, 2) + _stack_dump(40, 3)).encode()
    parts = _parts(data)
    assert [p.goroutines[0].id for p in parts] == [9, 40]
    assert [len(p.goroutines) for p in parts] == [5, 6]


def test_a_crash_traceback_whose_ids_repeat_is_one_dump() -> None:
    # GIVEN a real GOTRACEBACK=crash traceback: goroutine 0 (and a running goroutine's id) printed
    # again by each thread's own section (runtime/signal_unix.go sighandler: crash relays SIGQUIT)
    from helpers import REPO

    data = (REPO / "tests" / "data" / "real" / "newshapes-gotraceback-crash.txt").read_bytes()
    snap = _whole(data)
    ids = [g.id for g in snap.goroutines]
    assert len(ids) > len(set(ids))  # ids do repeat
    # THEN it is one crash snapshot, read whole and as parts alike
    assert snap.crash and snap.dumps == 0
    (only,) = _parts(data)
    assert only.goroutines == snap.goroutines


def test_a_panic_traceback_is_never_cut() -> None:
    # GIVEN a panic: the panicking goroutine, then the others, ids unique
    data = ("panic: boom\n\n" + _stack_dump(7, 3) + "exit status 2\n").encode()
    snap = _whole(data)
    assert snap.crash and snap.problems == () and len(snap.goroutines) == 6 and len(_parts(data)) == 1


# ------------------------------------------------------------------ every way in


def test_dumps_in_byte_ranges_of_a_big_file_are_counted_across_the_ranges(tmp_path, monkeypatch) -> None:
    # GIVEN a plain log of eight self-written dumps, big enough to be cut for two cores
    data = "".join(_stack_dump(22, 40 + k * 5) for k in range(8)).encode()
    path = tmp_path / "svc.log"
    path.write_bytes(data)
    monkeypatch.setattr(aggregate_mod, "SPLIT_MIN_PART_BYTES", len(data) // 3)
    planned: list = []
    real = aggregate_mod.split_points
    monkeypatch.setattr(aggregate_mod, "split_points", lambda *a: planned.append(real(*a)) or planned[-1])
    # WHEN summarised on two cores (byte ranges) and in one piece
    split = pipeline.summarize_file(path, CFG, jobs=2)
    # THEN both count eight dumps, as a reading from the start does
    assert planned and len(planned[0]) == 2
    with open(path, "rb") as f:
        assert count_dumps(f) == 8
    assert split.dumps == 8 and pipeline.summarize_file(path, CFG, jobs=1).dumps == 8


# ------------------------------------------------------------------ the real capture

import gzip  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

from helpers import REPO  # noqa: E402

from goroscope import cli, exitcodes  # noqa: E402

SELFDUMP = REPO / "tests" / "data" / "selfdump"
JOURNAL = SELFDUMP / "journal" / "retrysvc.journal.log.gz"
STDERR = SELFDUMP / "journal" / "retrysvc.stderr.log.gz"
_JOURNAL_LINE = re.compile(rb"(?m)^(\w{3} \d\d \d\d:\d\d:\d\d) node-7 retrysvc\[\d+\]: (.*)$")


def _journal() -> list[tuple[str, bytes]]:
    """Return the journal's lines as (stamp, message)."""
    return [(m.group(1).decode(), m.group(2)) for m in _JOURNAL_LINE.finditer(gzip.decompress(JOURNAL.read_bytes()))]


def _truth() -> tuple[list[datetime], list[int]]:
    """Return, from the program's own log, each dump's time (its `INFO received SIGUSR1` line's
    journald stamp) and how many reconnect loops it had started by then (its `WARN peer` lines)."""
    times, loops, started = [], [], 0
    for stamp, msg in _journal():
        if msg.startswith(b"WARN peer "):
            started += 1
        elif msg.startswith(b"INFO received SIGUSR1"):
            times.append(datetime.strptime(f"2026 {stamp}", "%Y %b %d %H:%M:%S").replace(tzinfo=timezone.utc))
            loops.append(started)
    return times, loops


def _folder(tmp_path, src, name: str):
    """Copy the capture `src` into a fresh folder with the mtime it had when captured (the end of its last dump)."""
    times, _ = _truth()
    d = tmp_path / "svc"
    d.mkdir()
    dst = d / name
    shutil.copyfile(src, dst)
    end = times[-1].timestamp() + 10
    os.utime(dst, (end, end))
    return d


def _report(capsys, archive, out) -> dict:
    """Run `goroscope report ARCHIVE --format json` in-process; return its document."""
    try:
        cli.main(["report", str(archive), "--format", "json", "--no-cache", "--output", str(out), "--name", "r", "-q"])
    except SystemExit as e:
        assert e.code in (None, 0, exitcodes.SUSPECTS), capsys.readouterr().err
    return json.loads((out / "r.json").read_text())


def _reconnect(doc: dict) -> dict:
    """Return the suspect whose leak site is main.reconnect."""
    (series,) = doc["series"]
    return next(s for s in series["suspects"] if s["leak_site"]["function"] == "main.reconnect")


def test_the_journald_capture_is_one_snapshot_per_dump_at_its_own_time(capsys, tmp_path) -> None:
    # GIVEN the journald log of a daemon that dumped itself on every SIGUSR1 while a retry loop leaked
    times, loops = _truth()
    assert len(times) >= 20 and loops[0] >= 1 and loops[-1] >= 15
    doc = _report(capsys, _folder(tmp_path, JOURNAL, JOURNAL.name), tmp_path / "out")
    # THEN each dump is a snapshot, timed by its own journald prefix (the year from the mtime, UTC)
    (series,) = doc["series"]
    snaps = series["snapshots"]
    assert [s["time"] for s in snaps] == [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in times]
    assert [s["time_source"] for s in snaps] == ["content"] * len(times)
    assert all(s["problems"] == [] and not s["truncated"] for s in snaps)
    # the dumps' own sizes, not their sum
    assert max(s["goroutines"] for s in snaps) < 40
    # and the leak grows as the program's log says, dump by dump, though no wait reaches a minute
    leak = _reconnect(doc)
    assert leak["kind"] == "growing" and leak["counts"] == loops
    assert any("journald" in w and "UTC" in w for w in doc.get("warnings", []))


def test_the_plain_stderr_capture_is_one_snapshot_per_dump_in_order(capsys, tmp_path) -> None:
    # GIVEN the same dumps as the program wrote them to stderr: no time on any line
    times, loops = _truth()
    doc = _report(capsys, _folder(tmp_path, STDERR, STDERR.name), tmp_path / "out")
    (series,) = doc["series"]
    snaps = series["snapshots"]
    # THEN there is a snapshot per dump, in file order, timed by the file's own moment, and said uncertain
    assert [s["source"] for s in snaps] == [f"{STDERR.name}#{k}" for k in range(1, len(times) + 1)]
    assert series["time_uncertain"]
    assert _reconnect(doc)["counts"] == loops


def test_inspect_on_the_journald_capture_reads_the_last_dump_and_says_how_many(capsys) -> None:
    times, loops = _truth()
    try:
        cli.main(["inspect", str(JOURNAL), "--json"])
    except SystemExit as e:
        assert e.code in (None, 0)
    doc = json.loads(capsys.readouterr().out)
    assert sum(1 for g in doc["goroutines"] if g["frames"] and any(f["function"] == "main.reconnect" for f in g["frames"])) == loops[-1]
    assert f"{len(times)} goroutine dumps back to back: the last is read" in " ".join(p["message"] for p in doc["problems"])


def test_the_browser_saved_folder_is_one_snapshot_per_moment(capsys, tmp_path) -> None:
    # GIVEN debug=2 and debug=1 saved from a browser at each moment (`goroutine (3).txt`,
    # `goroutine_debug1 (3).txt`: no time in the names, no shared stem), one moment without debug=1,
    # each file's mtime its save (git keeps none: browser-mtimes.json has them)
    mtimes = json.loads((SELFDUMP / "browser-mtimes.json").read_text())
    d = tmp_path / "saved"
    shutil.copytree(SELFDUMP / "browser", d)
    for name, t in mtimes.items():
        os.utime(d / name, (t, t))
    moments = sum(1 for n in mtimes if not n.startswith("goroutine_debug1"))
    assert len(mtimes) == 2 * moments - 1
    doc = _report(capsys, d, tmp_path / "out")
    # THEN there is one snapshot per moment, the debug=2 primary with its debug=1 beside it
    (series,) = doc["series"]
    snaps = series["snapshots"]
    assert len(snaps) == moments
    assert all(s["format"] == "debug2" for s in snaps)
    assert sorted(len(s["sources"]) for s in snaps) == [1] + [2] * (moments - 1)
    number = re.compile(r"(?: \((\d+)\))?\.txt$")  # the browser's `(k)` (none for the first): each save's own
    assert all(len({number.search(o).group(1) for o in s["sources"]}) == 1 for s in snaps)
    # and one count per moment, no alternating between forms: the leak only grows
    counts = _reconnect(doc)["counts"]
    assert counts == sorted(counts) and counts[-1] > counts[0]


def test_inspect_places_a_journald_time_in_the_year_of_the_mtime(capsys, tmp_path) -> None:
    # GIVEN one dump in a journald log (no year, no zone), the file written in 2027
    body = _stack_dump(22, 2)
    data = "".join(f"Dec 31 23:59:58 node-7 svc[12]: {ln}\n" for ln in body.splitlines()).encode()
    path = tmp_path / "svc.log"
    path.write_bytes(data)
    jan = datetime(2027, 1, 1, 0, 5, tzinfo=timezone.utc).timestamp()
    os.utime(path, (jan, jan))
    # WHEN inspected
    try:
        cli.main(["inspect", str(path), "--json"])
    except SystemExit as e:
        assert e.code in (None, 0)
    doc = json.loads(capsys.readouterr().out)
    # THEN its time is the last second of 2026 in UTC (the default zone): December, the year before
    assert doc["time"] == "2026-12-31T23:59:58Z" and len(doc["goroutines"]) == 5


@pytest.mark.parametrize("chunk", [97, 4096])
def test_the_stderr_capture_cuts_alike_whatever_the_read_size(chunk: int, monkeypatch) -> None:
    # GIVEN the plain capture read in chunks that end anywhere in a line (a dump's opener in one, its repeat in the next)
    from goroscope.ingest import parts

    data = gzip.decompress(STDERR.read_bytes())
    whole = _parts(data)
    monkeypatch.setattr(parts, "_CHUNK", chunk)
    # THEN every dump reads as with one read, and the count agrees
    assert [p.goroutines for p in _parts(data)] == [p.goroutines for p in whole]
    assert count_dumps(io.BytesIO(data)) == len(whole) == len(_truth()[0])


def test_the_journald_capture_inside_a_tar_archive(capsys, tmp_path) -> None:
    # GIVEN the journald log as a member of a .tar.gz (the member's mtime: the capture's end)
    import tarfile

    times, loops = _truth()
    data = gzip.decompress(JOURNAL.read_bytes())
    arch = tmp_path / "logs.tar.gz"
    with tarfile.open(arch, "w:gz") as tf:
        info = tarfile.TarInfo("node-7/retrysvc.journal.log")
        info.size, info.mtime = len(data), int(times[-1].timestamp()) + 10
        tf.addfile(info, io.BytesIO(data))
    doc = _report(capsys, arch, tmp_path / "out")
    # THEN it reads as the file does: a snapshot per dump at its journald time, the leak per dump
    (series,) = doc["series"]
    assert [s["time"] for s in series["snapshots"]] == [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in times]
    assert _reconnect(doc)["counts"] == loops
