"""Real dumps as people paste and collect them (tests/data/real, sources in its README):
per-line log prefixes, indented dumps, sanitizer trailers, old Go forms, a debug=1 file
without its final newline, a folder of prefixed CI logs reported as a series, and
debug=1 and debug=2 dumps a collector appended to one file."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from goroscope import cli, exitcodes
from goroscope.aggregate import aggregate
from goroscope.ingest import SNIFF_BYTES, load, parse_parts, parse_stream, prefix, sniff
from goroscope.signature import leak_site, signature_of

from helpers import CORPUS, REPO

REAL = REPO / "tests" / "data" / "real"
FORMS = REPO / "tests" / "data" / "forms"


@dataclass(frozen=True)
class Case:
    name: str  # file under tests/data/real
    format: str  # Snapshot.format
    ids: tuple[int, ...]  # goroutine ids, in file order
    sites: tuple[str, ...]  # leak site (file:line) of each goroutine, in file order
    time: str | None = None  # the snapshot's time from the content, ISO UTC
    prefixed: bool = True  # the lines carry a prefix that sniffing names


CASES = [
    Case(
        name="matrixone-19185.log", format="traceback", ids=(311, 1), time="2024-10-09T09:16:43.637361+00:00",
        sites=("/opt/hostedtoolcache/go/1.23.0/x64/src/testing/testing.go:2373",
               "/opt/hostedtoolcache/go/1.23.0/x64/src/testing/testing.go:1751"),
    ),
    Case(
        name="ci-series/milvus-7977-a.log", format="debug2", ids=(177,), time="2021-09-15T07:40:15.145527+00:00",
        sites=("/go/src/github.com/milvus-io/milvus/internal/proxy/proxy_test.go:1043",),
    ),
    Case(
        name="ci-series/milvus-7977-b.log", format="debug2", ids=(162,), time="2021-09-16T03:24:13.272034+00:00",
        sites=("/go/src/github.com/milvus-io/milvus/internal/indexcoord/index_coord_test.go:103",),
    ),
    Case(
        name="ci-series/milvus-15986.log", format="traceback", ids=(782, 1), time="2022-03-09T11:24:39.206924+00:00",
        sites=("/usr/local/go/src/testing/testing.go:1700", "/usr/local/go/src/testing/testing.go:1193"),
    ),
    Case(
        name="ci-series/milvus-26964.log", format="traceback", ids=(552, 1), time="2023-09-10T00:38:51.620054+00:00",
        sites=("/usr/local/go/src/testing/testing.go:2241", "/usr/local/go/src/testing/testing.go:1630"),
    ),
    Case(
        # CRI log: the timestamp's +08:00 zone is honoured
        name="milvus-25821-cri.log", format="traceback", ids=(3633,), time="2023-08-22T10:02:06.654640+00:00",
        sites=("/usr/local/go/src/runtime/panic.go:987",),
    ),
    Case(
        # indentation only: no time
        name="go-26484-indented.txt", format="debug2", ids=(22556,),
        sites=("C:/workdir/go/src/testing/testing.go:827",),  # all standard library: the entry frame
    ),
    Case(
        # syslog: `Jun 22 11:01:19 worker1 kubelet: ` and the file lines' tab dropped; no year, no zone: a
        # wall-clock time (naive, the year timestamps.NO_YEAR) that grouping places by the mtime and the config
        name="k8s-92582-syslog.log", format="debug2", ids=(43,),
        sites=("/usr/lib/golang/src/internal/poll/fd_poll_runtime.go:85",), time="0004-06-22T11:01:19",
    ),
    Case(
        # libFuzzer's own frames after the goroutine are not Go frames
        name="clusterfuzz-golang_asan_panic.txt", format="traceback", ids=(17,), prefixed=False,
        sites=("/src/go/packages/src/github.com/dvyukov/go-fuzz-corpus/asn1/asn1.go:46",),
    ),
    Case(
        # was: `SCARINESS: 10 ` glued on as a fourth frame
        name="clusterfuzz-golang_generic_fatal_error_and_asan_abrt.txt", format="traceback", ids=(17,), prefixed=False,
        sites=("github.com/dvyukov/go-fuzz-corpus/json/go.fuzz.main/main.go:35",),
    ),
    Case(
        # Go 1.1: C runtime paths, no pc offsets, `·` in closure names; parsed as before
        name="go-issue5963-go11.txt", format="traceback", ids=(2, 3), prefixed=False,
        sites=("/Users/rsc/g/go/src/pkg/runtime/mheap.c:438", "/Users/rsc/g/go/test/fixedbugs/issue5963.go:22"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_real_dump(case: Case) -> None:
    # GIVEN a dump as it was published
    path = REAL / case.name
    head = path.read_bytes()[:SNIFF_BYTES]
    # WHEN it is sniffed and loaded
    found = sniff(head)
    snap = load(path)
    # THEN every goroutine is read, with its leak site, and nothing else
    assert found is not None and (found.prefix is not None) == case.prefixed
    assert snap.format == case.format
    assert tuple(g.id for g in snap.goroutines) == case.ids
    assert tuple(leak_site(signature_of(g.frames).frames).location for g in snap.goroutines) == case.sites
    assert snap.problems == ()
    assert not snap.truncated
    assert (snap.time.isoformat() if snap.time else None) == case.time
    assert sum(s.count for s in aggregate(snap).stacks) == len(case.ids)


def test_sanitizer_trailer_frames_are_not_glued_on() -> None:
    # GIVEN the fuzzer's report: the Go goroutine, then ASan's DEADLYSIGNAL block
    snap = load(REAL / "clusterfuzz-golang_generic_fatal_error_and_asan_abrt.txt")
    # THEN the goroutine keeps its three Go frames, and no `SCARINESS`/`#0` frame
    (g,) = snap.goroutines
    assert [f.function for f in g.frames] == [
        "encoding/json.(*decodeState).unquoteBytes",
        "main.LLVMFuzzerTestOneInput",
        "main._cgoexpwrap_e34c4d0cdb90_LLVMFuzzerTestOneInput",
    ]


def test_go11_frames_as_printed() -> None:
    snap = load(REAL / "go-issue5963-go11.txt")
    g2, g3 = snap.goroutines
    assert [(f.function, f.line) for f in g2.frames] == [("runtime.MHeap_Scavenger", 438), ("runtime.goexit", 1313)]
    assert (g2.created_by.function, g2.created_by.line) == ("runtime.main", 165)
    assert [f.function for f in g3.frames] == ["main.func·002"]
    assert (g3.created_by.function, g3.created_by.file) == ("main.init·1", "/Users/rsc/g/go/test/fixedbugs/issue5963.go")


# ------------------------------------------------------------------ prefix shapes

# goroutine 782 and 1 of milvus-15986.log, without their prefix: the dump the other
# shapes below are built from (the log collectors' prefixes, put on each line).
_PLAIN = re.sub(rb"(?m)^\S+Z ?", b"", (REAL / "ci-series" / "milvus-15986.log").read_bytes())


@dataclass(frozen=True)
class Shape:
    name: str
    prefix: str  # put before every line; {n} is the 1-based line number
    time: str | None = None


SHAPES = [
    Shape("kubectl --timestamps", "2024-05-01T10:00:{n:02d}.123456789Z ", "2024-05-01T10:00:03.123456+00:00"),
    Shape("pod tag", "[api-7d4b9c-x2x] "),
    Shape("docker compose", "api_1  | "),
    Shape("journald", "May 01 10:00:{n:02d} node-3 api[4242]: ", "0004-05-01T10:00:03"),  # no year, no zone: wall clock
    Shape("line numbers", "{n:>6} "),
    Shape("loki export", "2024-05-01 10:00:{n:02d}.123 +0200\t", "2024-05-01T08:00:03.123000+00:00"),
    Shape("go test nesting", "        "),
]


def _with_prefix(plain: bytes, fmt: str) -> bytes:
    lines = plain.split(b"\n")
    body = [fmt.format(n=i + 1).encode() + ln for i, ln in enumerate(lines[:-1])]
    return b"\n".join(body) + b"\n"


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_prefix_shapes(shape: Shape) -> None:
    # GIVEN a real dump whose every line carries a collector's prefix
    data = _with_prefix(_PLAIN, shape.prefix)
    # WHEN it is parsed as a file
    snap = parse_stream(io.BufferedReader(io.BytesIO(data)), "pod.log")
    plain = parse_stream(io.BufferedReader(io.BytesIO(_PLAIN)), "plain.log")
    # THEN it reads as the dump without the prefix, and takes a zoned time
    assert snap.goroutines == plain.goroutines and len(snap.goroutines) == 2
    assert snap.problems == plain.problems
    assert (snap.time.isoformat() if snap.time else None) == shape.time


def test_two_tags_in_one_file_each_stripped() -> None:
    # GIVEN one file holding the dumps of two pods, one after the other
    data = _with_prefix(_PLAIN, "[pod-a] ") + _with_prefix(_PLAIN, "[pod-b] ")
    # THEN both prefixes are known and every goroutine is read
    snap = parse_stream(io.BufferedReader(io.BytesIO(data)), "two.log")
    assert len(snap.goroutines) == 4 and snap.problems == ()


def test_a_second_source_beyond_the_head_is_named_not_dropped_silently() -> None:
    # GIVEN a pod's dump, a long stretch of its log, then another pod's dump (a tag sniffing never saw)
    filler = b"".join(b"[pod-a] level=info msg=\"request served\" n=%d\n" % i for i in range(2000))
    data = _with_prefix(_PLAIN, "[pod-a] ") + filler + _with_prefix(_PLAIN, "[pod-b] ")
    assert data.find(b"[pod-b]") > SNIFF_BYTES
    for read in (lambda: parse_stream(io.BufferedReader(io.BytesIO(data)), "two.log"),
                 lambda: next(iter(parse_parts(io.BufferedReader(io.BytesIO(data)), "two.log")))):
        snap = read()
        # THEN the first pod's dump is read and the file says another source's was not
        assert len(snap.goroutines) == 2
        (problem,) = snap.problems
        assert "`[pod-b]`" in problem.message and "split it per source" in problem.message


def test_debug1_with_prefix() -> None:
    data = _with_prefix((FORMS / "goroutine.debug1.txt").read_bytes(), "2026-12-01T10:00:00.5Z ")
    snap = parse_stream(io.BufferedReader(io.BytesIO(data)), "d1.log")
    plain = load(FORMS / "goroutine.debug1.txt")
    assert snap.format == "debug1" and snap.records == plain.records and snap.total == plain.total
    assert snap.time == datetime(2026, 12, 1, 10, 0, 0, 500000, tzinfo=timezone.utc)


def test_a_log_line_that_mentions_a_goroutine_is_no_prefix() -> None:
    # a log line quoting a header, with no dump line of the same prefix after it
    log = b'2024-05-01T10:00:00Z level=error msg="stuck" where="goroutine 7 [chan receive]:"\n2024-05-01T10:00:01Z level=info msg=ok\n'
    assert prefix.detect(log) is None
    assert sniff(log) is None


def test_stripped_reader_across_chunks(monkeypatch) -> None:
    # GIVEN a prefixed dump read a few bytes at a time
    data = _with_prefix(_PLAIN, "[api-1] ")
    lp = prefix.detect(data)
    assert lp is not None
    monkeypatch.setattr(prefix.StrippedReader, "CHUNK", 7)
    # THEN the stream gives exactly what stripping the whole gives
    out = io.BufferedReader(prefix.StrippedReader(io.BytesIO(data), lp.pattern), 5).read()
    assert out == prefix.strip(data, lp.pattern) == _PLAIN


def test_plain_dumps_never_take_a_prefix() -> None:
    # a plain dump is sniffed as before, and no prefix would be found in it either
    files = [FORMS / "goroutine.debug1.txt", FORMS / "goroutine.debug2.txt"]
    if CORPUS.exists():
        files += sorted(p for p in CORPUS.rglob("*.txt") if p.is_file())[:40]
    for p in files:
        head = p.read_bytes()[:SNIFF_BYTES]
        found = sniff(head)
        assert found is None or found.prefix is None, p
        assert prefix.detect(head) is None, p


# ------------------------------------------------------------- debug=1, last line


def test_debug1_without_final_newline_is_whole() -> None:
    # GIVEN the runtime's debug=1 profile with its final blank line and newline gone
    text = (FORMS / "goroutine.debug1.txt").read_bytes()
    assert text.endswith(b"\n\n")
    snap = parse_stream(io.BufferedReader(io.BytesIO(text[:-2])), "d1.txt")
    # THEN the last record is kept and the profile is complete
    whole = load(FORMS / "goroutine.debug1.txt")
    assert snap.records == whole.records and snap.count == snap.total == 23
    assert not snap.truncated and snap.problems == ()


def test_debug1_cut_in_its_last_frame_is_still_cut() -> None:
    text = (FORMS / "goroutine.debug1.txt").read_bytes()[:-2]
    cut = text[: text.rfind(b"\t")]  # the last frame line without its file:line
    snap = parse_stream(io.BufferedReader(io.BytesIO(cut)), "d1.txt")
    assert snap.truncated and snap.count == 22


# ------------------------------------------------------------------ the CI series


def test_prefixed_ci_logs_of_one_job_report_as_a_series(capsys, tmp_path) -> None:
    # GIVEN a folder of one CI job's timed-out runs, every line timestamped
    out = tmp_path / "out"
    # WHEN goroscope reports on it
    try:
        cli.main(["report", str(REAL / "ci-series"), "--format", "json", "--no-cache", "--output", str(out), "--name", "r", "-q"])
        code = 0
    except SystemExit as e:
        code = e.code
    # THEN it is one series of four snapshots, each timed by its content
    assert code == exitcodes.OK, capsys.readouterr().err
    doc = json.loads((out / "r.json").read_text())
    assert doc["skipped"] == []
    (series,) = doc["series"]
    snaps = series["snapshots"]
    assert [s["source"] for s in snaps] == ["milvus-7977-a.log", "milvus-7977-b.log", "milvus-15986.log", "milvus-26964.log"]
    assert [s["time_source"] for s in snaps] == ["content"] * 4
    assert [s["time"][:19] for s in snaps] == ["2021-09-15T07:40:15", "2021-09-16T03:24:13", "2022-03-09T11:24:39", "2023-09-10T00:38:51"]
    assert [s["goroutines"] for s in snaps] == [1, 1, 2, 2]
    assert all(s["problems"] == [] for s in snaps)


# --------------------------------------------------- back-to-back debug=1 profiles

APPENDED = REAL / "appended" / "collector-debug1.log"
CAPTURES = sorted((REPO / "tests" / "data" / "newshapes" / "series").glob("*.debug1.txt"))[:6]
CAPTURE_TIMES = ["2026-12-01T10:56:28Z", "2026-12-01T10:56:33Z", "2026-12-01T10:56:38Z",
                 "2026-12-01T10:56:43Z", "2026-12-01T10:56:48Z", "2026-12-01T10:56:53Z"]


def _report(capsys, archive: Path, out: Path) -> dict:
    """Run `goroscope report ARCHIVE --format json` in-process; return its document."""
    try:
        cli.main(["report", str(archive), "--format", "json", "--no-cache", "--output", str(out), "--name", "r", "-q"])
    except SystemExit as e:
        assert e.code in (None, 0, exitcodes.SUSPECTS), capsys.readouterr().err
    return json.loads((out / "r.json").read_text())


def _appended_variant(tmp_path: Path, name: str, data: bytes) -> Path:
    """Write `data` as the one file of series `pod` under a fresh archive; return the archive."""
    arch = tmp_path / "arch"
    (arch / "pod").mkdir(parents=True)
    (arch / "pod" / name).write_bytes(data)
    return arch


@pytest.mark.parametrize("part", range(1, 7))
def test_each_appended_profile_is_its_own_snapshot(part: int) -> None:
    # GIVEN six profiles a collector appended to one file, each after a `date -u` line
    with open(APPENDED, "rb") as f:
        snap = parse_stream(io.BufferedReader(f), "collector.log", part=part)
    # THEN profile N reads exactly as the file it was captured to, timed by its date line
    alone = load(CAPTURES[part - 1])
    assert snap.records == alone.records and snap.total == alone.total
    assert snap.time == datetime.fromisoformat(CAPTURE_TIMES[part - 1])
    assert snap.problems == () and not snap.truncated


def test_appended_profiles_without_part_read_the_last_and_say_so() -> None:
    snap = load(APPENDED)
    assert snap.records == load(CAPTURES[-1]).records
    assert any("6 goroutine profiles back to back" in p.message for p in snap.problems)


def test_appended_profiles_report_as_a_series(capsys, tmp_path) -> None:
    # GIVEN the collector's file alone in a folder
    arch = _appended_variant(tmp_path, "collector.log", APPENDED.read_bytes())
    # WHEN goroscope reports on it
    doc = _report(capsys, arch, tmp_path / "out")
    # THEN each profile is a snapshot at its own time, none summed into another
    (series,) = doc["series"]
    snaps = series["snapshots"]
    assert [s["source"] for s in snaps] == [f"pod/collector.log#{k}" for k in range(1, 7)]
    assert [s["time"][:19] for s in snaps] == [t[:19] for t in CAPTURE_TIMES]
    assert [s["time_source"] for s in snaps] == ["content"] * 6
    assert [s["goroutines"] for s in snaps] == [load(p).total for p in CAPTURES]
    assert all(s["problems"] == [] for s in snaps) and not series["time_uncertain"]
    # and the leaks of the captured program (tests/data/newshapes/truth.yaml) grow across them
    sites = {(x["leak_site"]["file"], x["leak_site"]["line"]) for x in series["suspects"] if x["kind"] == "growing"}
    assert {("example.com/newshapes/main.go", n) for n in (27, 48, 74, 92)} <= sites


def test_appended_profiles_with_a_log_prefix_take_each_header_time(capsys, tmp_path) -> None:
    # GIVEN the profiles as a sidecar's log shows them: every line timestamped, no date lines
    lines = []
    for p, t in zip(CAPTURES, CAPTURE_TIMES):
        stamp = t.replace("Z", ".000000001Z ")
        lines += [stamp.encode() + ln for ln in p.read_bytes().splitlines(keepends=True)]
    arch = _appended_variant(tmp_path, "sidecar.log", b"".join(lines))
    doc = _report(capsys, arch, tmp_path / "out")
    snaps = doc["series"][0]["snapshots"]
    assert [s["time"][:19] for s in snaps] == [t[:19] for t in CAPTURE_TIMES]
    assert [s["goroutines"] for s in snaps] == [load(p).total for p in CAPTURES]


def test_untimed_appended_profiles_keep_their_order_and_say_the_time_is_uncertain(capsys, tmp_path) -> None:
    # GIVEN the profiles appended with nothing between them
    arch = _appended_variant(tmp_path, "plain.log", b"".join(p.read_bytes() for p in CAPTURES))
    doc = _report(capsys, arch, tmp_path / "out")
    (series,) = doc["series"]
    # THEN they are six snapshots in file order at the file's time, and no rate is claimed
    assert [s["source"] for s in series["snapshots"]] == [f"pod/plain.log#{k}" for k in range(1, 7)]
    assert [s["goroutines"] for s in series["snapshots"]] == [load(p).total for p in CAPTURES]
    assert [s["time_source"] for s in series["snapshots"]] == ["mtime"] * 6
    assert series["time_uncertain"] is True


def test_appended_profiles_longer_than_the_head_inside_a_tar(capsys, tmp_path) -> None:
    # GIVEN twelve profiles (more than sniffing reads) in one member of a tar.gz
    import tarfile

    data = APPENDED.read_bytes() * 2
    assert len(data) > SNIFF_BYTES
    arch = tmp_path / "pods.tar.gz"
    with tarfile.open(arch, "w:gz") as tf:
        info = tarfile.TarInfo("pod/collector.log")
        info.size = len(data)
        info.mtime = 1_764_586_000
        tf.addfile(info, io.BytesIO(data))
    doc = _report(capsys, arch, tmp_path / "out")
    # THEN all twelve are snapshots (the repeated times are one moment each: six moments of two files' worth)
    snaps = doc["series"][0]["snapshots"]
    assert sorted({s["source"].rsplit("#", 1)[1] for s in snaps} | {o.rsplit("#", 1)[1] for s in snaps for o in s["sources"]}, key=int) == [str(k) for k in range(1, 13)]


def test_appended_profiles_from_the_cache_are_each_their_own(capsys, tmp_path) -> None:
    # GIVEN the collector's file reported once with a cache
    arch = _appended_variant(tmp_path, "collector.log", APPENDED.read_bytes())
    counts = []
    for run in ("cold", "cached"):
        out = tmp_path / run
        try:
            cli.main(["report", str(arch), "--format", "json", "--cache", str(tmp_path / "cache.db"), "--output", str(out), "--name", "r", "-q"])
        except SystemExit as e:
            assert e.code in (None, 0, exitcodes.SUSPECTS), capsys.readouterr().err
        doc = json.loads((out / "r.json").read_text())
        counts.append([s["goroutines"] for s in doc["series"][0]["snapshots"]])
    # THEN the cached run reads each profile's own summary, not one profile six times
    assert counts[0] == counts[1] == [load(p).total for p in CAPTURES]


# --------------------------------------------------- back-to-back debug=2 dumps

APPENDED2 = REAL / "appended" / "collector-debug2.log"
_DATE_LINE = re.compile(rb"(?m)^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d UTC \d{4}\n")
# the file cut at its `date -u` lines (not at what the parser looks for): each piece
# is one `curl …/goroutine?debug=2` response as the program wrote it
PIECES2 = [p for p in _DATE_LINE.split(APPENDED2.read_bytes()) if p]
TIMES2 = [
    datetime.strptime(m.group().decode().strip(), "%a %b %d %H:%M:%S UTC %Y").replace(tzinfo=timezone.utc)
    for m in _DATE_LINE.finditer(APPENDED2.read_bytes())
]


def _alone(piece: bytes):
    """Return the Snapshot of one debug=2 response parsed on its own."""
    return parse_stream(io.BufferedReader(io.BytesIO(piece)), "alone.txt")


def test_the_appended_debug2_capture_holds_eight_responses() -> None:
    assert len(PIECES2) == len(TIMES2) == 8
    assert all(_alone(p).dumps == 1 for p in PIECES2)


@pytest.mark.parametrize("chunk", [None, 97, 4096])
@pytest.mark.parametrize("part", range(1, 9))
def test_each_appended_debug2_dump_is_its_own_snapshot(part: int, chunk: int | None, monkeypatch) -> None:
    # GIVEN eight debug=2 dumps a collector appended to one file, each after a `date -u` line
    from goroscope.ingest import parts

    if chunk is not None:
        monkeypatch.setattr(parts, "_CHUNK", chunk)  # boundaries fall anywhere in a line
    with open(APPENDED2, "rb") as f:
        snap = parse_stream(io.BufferedReader(f), "collector.log", part=part)
    # THEN dump N reads exactly as the response it was, timed by its date line
    alone = _alone(PIECES2[part - 1])
    assert snap.goroutines == alone.goroutines and len(snap.goroutines) > 50
    assert snap.time == TIMES2[part - 1]
    assert snap.problems == () and not snap.truncated and snap.dumps == 1


def test_appended_debug2_dumps_without_part_read_the_last_and_say_so() -> None:
    snap = load(APPENDED2)
    assert snap.goroutines == _alone(PIECES2[-1]).goroutines
    assert snap.dumps == 8
    assert [p.message for p in snap.problems] == ["8 goroutine dumps back to back: the last is read (`goroscope report` reads each as a snapshot)"]


def test_a_missing_debug2_part_is_named() -> None:
    from goroscope.errors import DumpError

    with open(APPENDED2, "rb") as f, pytest.raises(DumpError, match="no goroutine dump 9"):
        parse_stream(io.BufferedReader(f), "collector.log", part=9)


def test_appended_debug2_dumps_report_as_a_series(capsys, tmp_path) -> None:
    # GIVEN the collector's file alone in a folder
    arch = _appended_variant(tmp_path, "collector.log", APPENDED2.read_bytes())
    doc = _report(capsys, arch, tmp_path / "out")
    # THEN each dump is a snapshot at its own time, none summed into another
    (series,) = doc["series"]
    snaps = series["snapshots"]
    assert [s["source"] for s in snaps] == [f"pod/collector.log#{k}" for k in range(1, 9)]
    assert [s["time"] for s in snaps] == [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in TIMES2]
    assert [s["time_source"] for s in snaps] == ["content"] * 8
    assert [s["goroutines"] for s in snaps] == [len(_alone(p).goroutines) for p in PIECES2]
    assert all(s["problems"] == [] for s in snaps) and not series["time_uncertain"]
    # and the leaks of the captured program (tests/data/newshapes/truth.yaml) grow across them
    sites = {(x["leak_site"]["file"], x["leak_site"]["line"]) for x in series["suspects"] if x["kind"] == "growing"}
    assert {("example.com/newshapes/main.go", n) for n in (27, 48, 74, 92)} <= sites
    # and not its semaphore fan-out, which ramps within these 35 s but whose goroutines
    # (0.8-2 s each) never stay from one dump to the next (its ids say so)
    assert ("example.com/newshapes/main.go", 167) not in {(x["leak_site"]["file"], x["leak_site"]["line"]) for x in series["suspects"]}


def test_appended_debug2_dumps_with_a_log_prefix_take_each_writer_time(capsys, tmp_path) -> None:
    # GIVEN the dumps as a CI log shows them: every line timestamped, no date lines
    lines = []
    for piece, t in zip(PIECES2, TIMES2):
        stamp = t.strftime("%Y-%m-%dT%H:%M:%S.1234567Z ").encode()
        lines += [stamp + ln for ln in piece.splitlines(keepends=True)]
    arch = _appended_variant(tmp_path, "ci.log", b"".join(lines))
    doc = _report(capsys, arch, tmp_path / "out")
    snaps = doc["series"][0]["snapshots"]
    assert [s["time"][:19] for s in snaps] == [t.strftime("%Y-%m-%dT%H:%M:%S") for t in TIMES2]
    assert [s["goroutines"] for s in snaps] == [len(_alone(p).goroutines) for p in PIECES2]


def test_appended_debug2_dumps_gzipped_and_from_the_cache(capsys, tmp_path, monkeypatch) -> None:
    # GIVEN the collector's file gzipped (longer than sniffing reads), reported twice with a cache
    import gzip

    from goroscope import pipeline

    assert APPENDED2.stat().st_size > SNIFF_BYTES
    arch = _appended_variant(tmp_path, "collector.log.gz", gzip.compress(APPENDED2.read_bytes()))
    counts = []
    parsed: list[str] = []
    parse_one, parse_parts_one = pipeline.parse_one, pipeline.parse_parts_one
    monkeypatch.setattr(pipeline, "parse_one", lambda src, *a, **k: parsed.append(src.path) or parse_one(src, *a, **k))
    monkeypatch.setattr(pipeline, "parse_parts_one", lambda src, config, parts, *a: parsed.append((src.path, tuple(parts))) or parse_parts_one(src, config, parts, *a))
    for run in ("cold", "cached"):
        out = tmp_path / run
        parsed.clear()
        try:
            cli.main(["report", str(arch), "--format", "json", "--cache", str(tmp_path / "cache.db"), "--output", str(out), "--name", "r", "-q", "--jobs", "1"])
        except SystemExit as e:
            assert e.code in (None, 0, exitcodes.SUSPECTS), capsys.readouterr().err
        doc = json.loads((out / "r.json").read_text())
        counts.append([s["goroutines"] for s in doc["series"][0]["snapshots"]])
        # the cold run parses the whole file (which counts its dumps), then reads it once more for all eight
        assert parsed == ([] if run == "cached" else ["pod/collector.log.gz", ("pod/collector.log.gz", tuple(range(1, 9)))])
    # THEN both runs read each dump's own summary, the cached one from the cache
    assert counts[0] == counts[1] == [len(_alone(p).goroutines) for p in PIECES2]


def test_a_gotraceback_crash_relay_is_one_dump() -> None:
    # GIVEN a real SIGQUIT traceback under GOTRACEBACK=crash: each thread prints its own
    # `SIGQUIT: quit` section after a `-----` line, and goroutine 0 many times
    data = (REAL / "newshapes-gotraceback-crash.txt").read_bytes()
    assert data.count(b"\nSIGQUIT: quit\n") >= 2 and data.count(b"\n-----\n") >= 2
    snap = load(REAL / "newshapes-gotraceback-crash.txt")
    # THEN it is one crash snapshot holding every goroutine, never cut into parts
    assert snap.crash and snap.dumps == 0 and snap.problems == ()
    ids = {g.id for g in snap.goroutines}
    assert len([i for i in ids if i]) > 50 and 1 in ids


def test_a_kibana_export_loses_its_date_prefix_and_dash_suffix() -> None:
    # GIVEN the dump as Kibana's Discover exports it: `August 3rd 2017, 19:28:27.000 ` before and ` - ` after every line
    lines = _PLAIN.split(b"\n")[:-1]
    data = b"".join(b"August 3rd 2017, 19:28:%02d.000 " % (i % 60) + ln + b" - \n" for i, ln in enumerate(lines))
    # WHEN parsed
    snap = parse_stream(io.BufferedReader(io.BytesIO(data)), "discover.csv")
    plain = parse_stream(io.BufferedReader(io.BytesIO(_PLAIN)), "plain.log")
    # THEN it reads as the dump itself, timed by the first header's wall clock (a year, no zone)
    assert snap.goroutines == plain.goroutines and snap.problems == plain.problems == ()
    assert snap.time == datetime(2017, 8, 3, 19, 28, 2)
