"""Tests for goroscope.ingest.traceback: every header and frame form of
runtime/traceback.go (Go 1.19-1.27), crash output, truncation, bad input, and the
real corpus dumps."""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goroscope.errors import DumpError
from goroscope.ingest import traceback as tb
from goroscope.model import CreatedBy, Frame, Snapshot

from helpers import CORPUS, need
HEADER = re.compile(rb"^goroutine \d+ (?:gp=\S+ m=\S+(?: mp=\S+)? )?\[", re.M)


def parse(text: str | bytes) -> Snapshot:
    """Parse `text` (dedented when str) the way ingest.parse_stream hands it over."""
    data = textwrap.dedent(text).lstrip("\n").encode() if isinstance(text, str) else text
    return tb.parse(io.BufferedReader(io.BytesIO(data)), "dump.txt")


def need_corpus() -> Path:
    """Return the corpus folder, or skip (fail under CI) when it is absent."""
    return need(CORPUS, "the dump corpus")


def corpus_dumps() -> list[tuple[str, bytes]]:
    """Return (name, bytes) of every debug=2 / traceback dump of the corpus, archives included."""
    root = need_corpus()
    out = []
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.name.endswith(".pb.gz"):
            continue
        if p.suffix in (".txt", ".gz") and not p.name.endswith((".tar.gz", ".tgz")):
            data = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
            if HEADER.search(data[:65536]):
                out.append((str(p.relative_to(root)), data))
        elif p.name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(p) as tar:
                for m in tar.getmembers():
                    if m.isfile():
                        data = tar.extractfile(m).read()  # type: ignore[union-attr]
                        if HEADER.search(data[:65536]):
                            out.append((f"{p.name}/{m.name}", data))
    return out


# --------------------------------------------------------------------- headers


@dataclass(frozen=True)
class HeaderCase:
    name: str
    header: str
    id: int
    state: str
    minutes: int = 0
    flags: tuple[str, ...] = ()
    locked: bool = False
    labels: tuple[tuple[str, str], ...] = ()
    extra: str = ""


HEADERS = [
    HeaderCase("plain", "goroutine 1 [running]:", 1, "running"),
    HeaderCase("minutes", "goroutine 22 [sleep, 1 minutes]:", 22, "sleep", minutes=1),
    HeaderCase("many-minutes", "goroutine 9 [select, 892 minutes]:", 9, "select", minutes=892),
    HeaderCase("locked", "goroutine 7 [running, locked to thread]:", 7, "running", locked=True),
    HeaderCase(
        "minutes-locked", "goroutine 17 [syscall, 3 minutes, locked to thread]:", 17, "syscall", minutes=3, locked=True
    ),
    HeaderCase("nil-chan", "goroutine 5 [chan receive (nil chan)]:", 5, "chan receive (nil chan)"),
    HeaderCase("idle-is-state", "goroutine 2 [force gc (idle)]:", 2, "force gc (idle)"),
    HeaderCase(
        "leaked", "goroutine 5 [chan receive (nil chan) (leaked)]:", 5, "chan receive (nil chan)", flags=("leaked",)
    ),
    HeaderCase("scan", "goroutine 3 [select (scan)]:", 3, "select", flags=("scan",)),
    HeaderCase(
        "leaked-scan-minutes",
        "goroutine 3 [chan send (leaked) (scan), 4 minutes]:",
        3,
        "chan send",
        minutes=4,
        flags=("leaked", "scan"),
    ),
    HeaderCase("durable-reason", "goroutine 8 [chan receive (durable)]:", 8, "chan receive", flags=("durable",)),
    HeaderCase(
        "synctest-bubble",
        "goroutine 8 [sleep (durable), synctest bubble 6]:",
        8,
        "sleep",
        flags=("durable",),
        extra="synctest bubble 6",
    ),
    HeaderCase("synctest-group-1.24", "goroutine 9 [select, synctest group 6]:", 9, "select", extra="synctest group 6"),
    HeaderCase("gp-m-nil", "goroutine 1 gp=0xc000002380 m=nil [sleep]:", 1, "sleep", extra="gp=0xc000002380 m=nil"),
    HeaderCase(
        "gp-m-mp", "goroutine 0 gp=0xa55e20 m=0 mp=0xa56dc0 [idle]:", 0, "idle", extra="gp=0xa55e20 m=0 mp=0xa56dc0"
    ),
    HeaderCase(
        "labels-bare", "goroutine 4 [select] {route: export, tenant: t003}:", 4, "select",
        labels=(("route", "export"), ("tenant", "t003")),
    ),
    HeaderCase(
        "labels-quoted",
        'goroutine 4 [select] {"a b": "x, y}", k: "q\\"\\n\\x41\\u00e9"}:',
        4,
        "select",
        labels=(("a b", "x, y}"), ("k", 'q"\nAé')),
    ),
    HeaderCase(
        "everything",
        "goroutine 7 gp=0x1 m=nil [chan send (leaked), 2 minutes, locked to thread, synctest bubble 1] {k: v}:",
        7,
        "chan send",
        minutes=2,
        flags=("leaked",),
        locked=True,
        labels=(("k", "v"),),
        extra="gp=0x1 m=nil, synctest bubble 1",
    ),
    HeaderCase("runnable-many", "goroutine 123456789 [runnable]:", 123456789, "runnable"),
]
@pytest.mark.parametrize("case", HEADERS, ids=lambda c: c.name)
@pytest.mark.parametrize("path", ["cached", "line-parser"])
def test_header_forms(case: HeaderCase, path: str) -> None:
    # GIVEN a goroutine with this header, read by the cached path (a regular body
    # that is not the last block) or by the line parser (the last block)
    body = "main.f(0x1)\n\t/src/x.go:3 +0x1\n"
    text = f"{case.header}\n{body}"
    if path == "cached":
        text += "\ngoroutine 999999 [select]:\nmain.g()\n\t/src/x.go:9 +0x1\n"
    # WHEN it is parsed
    snap = parse(text.encode())
    # THEN every header field lands where DESIGN.md says
    g = snap.goroutines[0]
    assert snap.problems == ()
    assert (g.id, g.state, g.wait_minutes, g.flags, g.locked_to_thread, g.labels, g.header_extra) == (
        case.id,
        case.state,
        case.minutes,
        case.flags,
        case.locked,
        case.labels,
        case.extra,
    )
    assert g.frames == (Frame(function="main.f", file="/src/x.go", line=3),)


# ---------------------------------------------------------------------- frames


@dataclass(frozen=True)
class FrameCase:
    name: str
    dump: str
    frames: tuple[tuple[str, str, int], ...]
    created_by: CreatedBy | None = None
    elided: bool = False
    ancestors: tuple[int, ...] = ()
    count: int = 1  # goroutines expected


F = "/src/app/main.go"
FRAMES = [
    FrameCase(
        "args-forms",
        f"""
        goroutine 1 [chan send]:
        main.a({{0xc000010000, 0x1, 0x2}}, 0x3?, ...)
        \t{F}:10 +0x1f
        main.b(_, 0x0?, {{{{0x1, 0x2}}, 0x3}})
        \t{F}:20 +0x2
        main.main()
        \t{F}:30 +0x3
        """,
        (("main.a", F, 10), ("main.b", F, 20), ("main.main", F, 30)),
    ),
    FrameCase(
        "inlined-no-offset",
        f"""
        goroutine 1 [running]:
        internal/poll.(*pollDesc).waitRead(...)
        \t/usr/local/go/src/internal/poll/fd_poll_runtime.go:89
        main.main()
        \t{F}:30 +0x3
        """,
        (("internal/poll.(*pollDesc).waitRead", "/usr/local/go/src/internal/poll/fd_poll_runtime.go", 89),
         ("main.main", F, 30)),
    ),
    FrameCase(
        "fp-sp-pc",
        """
        goroutine 1 gp=0xc0000061c0 m=nil [sleep]:
        runtime.gopark(0x1?, 0x2?)
        \t/usr/local/go/src/runtime/proc.go:474 +0xca fp=0x2fc8f5305d38 sp=0x2fc8f5305d18 pc=0x48c18a
        time.Sleep(0x1fec1fe9)
        \t/usr/local/go/src/runtime/time.go:368 +0x165 fp=0x2fc8f5305d90 sp=0x2fc8f5305d38 pc=0x48ff65
        """,
        (("runtime.gopark", "/usr/local/go/src/runtime/proc.go", 474),
         ("time.Sleep", "/usr/local/go/src/runtime/time.go", 368)),
    ),
    FrameCase(
        "created-by-old",
        f"""
        goroutine 6 [select]:
        main.worker()
        \t{F}:5 +0x1
        created by main.main
        \t{F}:14 +0x5
        """,
        (("main.worker", F, 5),),
        created_by=CreatedBy(function="main.main", file=F, line=14, goroutine=None),
    ),
    FrameCase(
        "created-by-in-goroutine",
        f"""
        goroutine 6 [select]:
        main.worker()
        \t{F}:5 +0x1
        created by main.main in goroutine 1
        \t{F}:14 +0x5
        """,
        (("main.worker", F, 5),),
        created_by=CreatedBy(function="main.main", file=F, line=14, goroutine=1),
    ),
    FrameCase(
        "names",
        """
        goroutine 6 [select]:
        gopkg.in/yaml%2ev3.(*parser).parse(0x1)
        \t/go/pkg/mod/gopkg.in/yaml.v3/parser.go:5 +0x1
        example.com/q.(*Queue[...]).Pop(0x2)
        \t/q/q.go:9 +0x1
        example.com/q.Map[...].func1.2()
        \t/q/q.go:12 +0x1
        net/http.(*connReader).startBackgroundRead.gowrap2()
        \t/usr/local/go/src/net/http/server.go:686 +0x25
        panic({0x1, 0x2})
        \t/usr/local/go/src/runtime/panic.go:770 +0x132
        """,
        (("gopkg.in/yaml%2ev3.(*parser).parse", "/go/pkg/mod/gopkg.in/yaml.v3/parser.go", 5),
         ("example.com/q.(*Queue[...]).Pop", "/q/q.go", 9),
         ("example.com/q.Map[...].func1.2", "/q/q.go", 12),
         ("net/http.(*connReader).startBackgroundRead.gowrap2", "/usr/local/go/src/net/http/server.go", 686),
         ("panic", "/usr/local/go/src/runtime/panic.go", 770)),
    ),
    FrameCase(
        "windows-paths",
        """
        goroutine 1 [running]:
        main.a()
        \tC:/Users/me/app/main.go:12 +0x9f
        main.b()
        \tC:\\Users\\me\\app\\main.go:13 +0x1
        """,
        (("main.a", "C:/Users/me/app/main.go", 12), ("main.b", "C:\\Users\\me\\app\\main.go", 13)),
    ),
    FrameCase(
        "space-indented",
        f"""
        goroutine 1 [running]:
        main.a()
            {F}:12 +0x9f
        main.b()
          {F}:13
        """,
        (("main.a", F, 12), ("main.b", F, 13)),
    ),
    FrameCase(
        "trimpath",
        """
        goroutine 1 [running]:
        runtime/pprof.writeGoroutineStacks({0xa04270, 0x2dcec14965a0})
        \truntime/pprof/pprof.go:816 +0x69
        """,
        (("runtime/pprof.writeGoroutineStacks", "runtime/pprof/pprof.go", 816),),
    ),
    FrameCase(
        "elided-additional",
        f"""
        goroutine 1 [running]:
        main.rec(0x1)
        \t{F}:5 +0x1
        ...additional frames elided...
        created by main.main in goroutine 1
        \t{F}:14 +0x5
        """,
        (("main.rec", F, 5),),
        created_by=CreatedBy(function="main.main", file=F, line=14, goroutine=1),
        elided=True,
    ),
    FrameCase(
        "elided-count",
        f"""
        goroutine 1 [running]:
        main.rec(0x1)
        \t{F}:5 +0x1
        ...63 frames elided...
        main.rec(0x40)
        \t{F}:6 +0x1
        main.main()
        \t{F}:7 +0x1
        """,
        (("main.rec", F, 5), ("main.rec", F, 6), ("main.main", F, 7)),
        elided=True,
    ),
    FrameCase(
        "ancestors",
        f"""
        goroutine 25 [chan receive]:
        main.bar(0x140000a4060, 0x0)
        \t{F}:57 +0x11c
        created by main.d1 in goroutine 24
        \t{F}:69 +0x34
        [originating from goroutine 24]:
        main.d1(...)
        \t{F}:70 +0x34
        ...additional frames elided...
        created by main.d0
        \t{F}:60 +0x34
        [originating from goroutine 1]:
        main.main(...)
        \t{F}:14 +0x13
        """,
        (("main.bar", F, 57),),
        created_by=CreatedBy(function="main.d1", file=F, line=69, goroutine=24),
        ancestors=(24, 1),
    ),
    FrameCase(
        "stack-unavailable",
        f"""
        goroutine 8 [running]:
        \tgoroutine running on other thread; stack unavailable
        created by main.main in goroutine 1
        \t{F}:14 +0x5
        """,
        (),
        created_by=CreatedBy(function="main.main", file=F, line=14, goroutine=1),
    ),
    FrameCase(
        "cgo",
        """
        goroutine 6 [syscall]:
        main._Cfunc_c_sleep_loop(0xf4240)
        \t_cgo_gotypes.go:56 +0x45
        non-Go function at pc=0x4f2a3b
        main.cSleepLoop(0x3b9aca00)
        \t/x/cgo.go:44 +0x45
        """,
        (("main._Cfunc_c_sleep_loop", "_cgo_gotypes.go", 56), ("non-Go function", "?", 0),
         ("main.cSleepLoop", "/x/cgo.go", 44)),
    ),
    FrameCase(
        "goroutine-0-idle",
        """
        goroutine 0 gp=0xa55e20 m=0 mp=0xa56dc0 [idle]:
        runtime.futex(0xa56f00, 0x80, 0x0, 0x0, 0x0, 0x0)
        \t/usr/local/go/src/runtime/sys_linux_amd64.s:557 +0x21 fp=0x7ffd sp=0x7ffc pc=0x46a0e1
        """,
        (("runtime.futex", "/usr/local/go/src/runtime/sys_linux_amd64.s", 557),),
    ),
]


@pytest.mark.parametrize("case", FRAMES, ids=lambda c: c.name)
@pytest.mark.parametrize("path", ["cached", "line-parser"])
def test_frame_forms(case: FrameCase, path: str) -> None:
    # GIVEN one goroutine of this form, as a middle block or as the last one
    text = textwrap.dedent(case.dump).lstrip("\n")
    if path == "cached":
        text += "\ngoroutine 999999 [select]:\nmain.g()\n\t/src/x.go:9 +0x1\n"
    # WHEN it is parsed
    snap = parse(text.encode())
    # THEN the frames are as printed, top first, and nothing else leaks in
    assert snap.problems == ()
    assert not snap.truncated
    g = snap.goroutines[0]
    assert tuple((f.function, f.file, f.line) for f in g.frames) == case.frames
    assert g.created_by == case.created_by
    assert g.frames_elided is case.elided
    assert g.ancestors == case.ancestors


def test_crlf_line_ends() -> None:
    # GIVEN a dump saved with CRLF line ends
    text = "goroutine 1 [running]:\r\nmain.main()\r\n\t/x/main.go:5 +0x1d\r\n\r\ngoroutine 2 [select]:\r\n"
    text += "main.w(0x1)\r\n\t/x/main.go:9 +0x1\r\ncreated by main.main in goroutine 1\r\n\t/x/main.go:4 +0x2\r\n"
    # WHEN parsed THEN no `\r` reaches a field
    snap = parse(text.encode())
    assert snap.problems == ()
    assert [g.frames[0] for g in snap.goroutines] == [
        Frame(function="main.main", file="/x/main.go", line=5),
        Frame(function="main.w", file="/x/main.go", line=9),
    ]
    assert snap.goroutines[1].created_by == CreatedBy(function="main.main", file="/x/main.go", line=4, goroutine=1)


# ------------------------------------------------------- identity and the cache


def test_identical_stacks_share_one_frames_tuple() -> None:
    # GIVEN goroutines with one stack but other args, ids, states and parents
    blocks = []
    for i in range(1, 7):
        blocks.append(
            f"goroutine {i} [chan send, {i} minutes]:\nmain.leak(0xc{i:09x}, {{0x{i}, 0x2}})\n\t/a/m.go:10 +0x1f\n"
            f"created by main.spawn in goroutine {100 + i}\n\t/a/m.go:20 +0x2"
        )
    blocks.append("goroutine 50 [chan send]:\nmain.other(0x1)\n\t/a/m.go:11 +0x1f")
    # WHEN parsed
    snap = parse("\n\n".join(blocks).encode() + b"\n")
    # THEN the six share the very same tuple, and keep their own parents
    first = snap.goroutines[0].frames
    assert all(g.frames is first for g in snap.goroutines[:6])
    assert snap.goroutines[6].frames is not first
    assert [g.created_by.goroutine for g in snap.goroutines[:6]] == [101, 102, 103, 104, 105, 106]
    assert [g.wait_minutes for g in snap.goroutines[:6]] == [1, 2, 3, 4, 5, 6]


def test_same_file_lines_other_functions_are_not_confused() -> None:
    # GIVEN two stacks whose file lines are identical but whose functions differ
    text = (
        "goroutine 1 [select]:\nmain.a(0x1)\n\t/a/m.go:10 +0x1\n\n"
        "goroutine 2 [select]:\nmain.b(0x1)\n\t/a/m.go:10 +0x1\n\n"
        "goroutine 3 [select]:\nmain.a(0x2)\n\t/a/m.go:10 +0x1\n\n"
        "goroutine 4 [select]:\nmain.ab(0x2)\n\t/a/m.go:10 +0x1\n"
    )
    snap = parse(text.encode())
    assert [g.frames[0].function for g in snap.goroutines] == ["main.a", "main.b", "main.a", "main.ab"]


def test_created_by_with_and_without_parent_share_the_cache() -> None:
    text = (
        "goroutine 2 [select]:\nmain.w()\n\t/a/m.go:10 +0x1\ncreated by main.m in goroutine 1\n\t/a/m.go:3 +0x1\n\n"
        "goroutine 3 [select]:\nmain.w()\n\t/a/m.go:10 +0x1\ncreated by main.m\n\t/a/m.go:3 +0x1\n\n"
        "goroutine 4 [select]:\nmain.w()\n\t/a/m.go:10 +0x1\ncreated by main.mm in goroutine 1\n\t/a/m.go:3 +0x1\n"
    )
    snap = parse(text.encode())
    assert [(g.created_by.function, g.created_by.goroutine) for g in snap.goroutines] == [
        ("main.m", 1),
        ("main.m", None),
        ("main.mm", 1),
    ]


def _fleet_dump(first_id: int, minutes: int) -> bytes:
    """Return a small dump of one process: the same stacks as every snapshot of it, other ids and minutes."""
    blocks = []
    for i in range(4):
        gid = first_id + i
        blocks.append(
            f"goroutine {gid} [chan receive, {minutes} minutes]:\nmain.worker(0xc{i:09x})\n\t/app/w.go:{10 + i % 2} +0x1f\n"
            f"created by main.start in goroutine 1\n\t/app/w.go:3 +0x2"
        )
    blocks.append(f"goroutine {first_id + 9} [select]:\nmain.loop()\n\t/app/l.go:7 +0x1\nmain.main()\n\t/app/m.go:4 +0x1")
    return ("\n\n".join(blocks) + "\n").encode()


def test_a_dump_reads_the_same_after_others_of_its_stacks(monkeypatch) -> None:
    # GIVEN dumps of one process, as a worker reads them one after another
    dumps = [_fleet_dump(100 * k, k) for k in range(1, 5)]
    alone = []
    for d in dumps:
        monkeypatch.setattr(tb, "_SHARED", tb._Shared())  # a fresh process each time
        alone.append(parse(d))
    # WHEN each is read after the ones before it, with what they left in the caches
    monkeypatch.setattr(tb, "_SHARED", tb._Shared())
    after = [parse(d) for d in dumps]
    # THEN each reads exactly as it does alone, and the later ones parsed no stack again
    assert after == alone
    assert after[3].goroutines[0].frames is after[0].goroutines[0].frames


def test_shared_caches_are_bounded(monkeypatch) -> None:
    # GIVEN caches allowed almost nothing
    monkeypatch.setattr(tb, "_SHARED", tb._Shared())
    monkeypatch.setattr(tb, "SHARED_CACHE_BYTES", 300)
    monkeypatch.setattr(tb, "BODY_CACHE_BYTES", 200)
    # WHEN several dumps are read
    snaps = [parse(_fleet_dump(100 * k, k)) for k in range(1, 4)]
    # THEN every goroutine is still read, and the caches started again empty instead of growing:
    # they hold what the last dump alone puts in a fresh cache
    assert [len(s.goroutines) for s in snaps] == [5, 5, 5]
    last = tb._SHARED
    monkeypatch.setattr(tb, "_SHARED", tb._Shared())
    parse(_fleet_dump(300, 3))
    assert 0 < last.bytes <= tb._SHARED.bytes < 300 + 2 * 1000 + 300 and last.body_bytes <= tb._SHARED.body_bytes < 200 + 1000
    assert snaps == [parse(_fleet_dump(100 * k, k)) for k in range(1, 4)]


def test_bodies_never_crowd_out_headers_and_stacks(monkeypatch) -> None:
    # GIVEN a body cache already full (a huge dump whose bodies all differ in their arguments)
    monkeypatch.setattr(tb, "_SHARED", tb._Shared())
    monkeypatch.setattr(tb, "BODY_CACHE_BYTES", 1)
    # WHEN a dump is read
    parse(_fleet_dump(100, 1))
    # THEN its headers and stacks are still cached (each parsed once, not once per goroutine)
    assert tb._SHARED.hcache and tb._SHARED.cache


def test_a_big_dumps_stacks_stay_cached_when_its_bodies_spend_their_budget(monkeypatch) -> None:
    # GIVEN a dump of many goroutines of two stacks, each body its own (argument words differ),
    # and cache budgets that the first few bodies already spend
    monkeypatch.setattr(tb, "_SHARED", tb._Shared())
    monkeypatch.setattr(tb, "SHARED_CACHE_BYTES", 300)
    monkeypatch.setattr(tb, "BODY_CACHE_BYTES", 300)
    blocks = [
        f"goroutine {gid} [chan receive]:\nmain.worker(0xc{gid:09x})\n\t/app/w.go:{10 + gid % 2} +0x1f\n"
        f"created by main.start in goroutine 1\n\t/app/w.go:3 +0x2"
        for gid in range(2, 2002)
    ]
    text = ("\n\n".join(blocks) + "\n").encode()
    parsed = []
    entry_for = tb._State.entry_for

    def counting(self, lines):
        parsed.append(1)
        return entry_for(self, lines)

    monkeypatch.setattr(tb._State, "entry_for", counting)
    # WHEN it is read
    snap = parse(text)
    # THEN every goroutine is read, and each distinct stack was parsed once, not once per goroutine
    # (a bound that stopped caching stacks half way made the 614 MB bench dump 4.5x slower)
    assert len(snap.goroutines) == 2000
    assert len(parsed) == 2


def test_goroutines_as_rows_read_as_records() -> None:
    # GIVEN a dump read by the fast path and, for one elided goroutine, by the line parser
    text = _fleet_dump(100, 3) + (
        b"\ngoroutine 7 [select, 9 minutes]:\nmain.deep()\n\t/app/d.go:1 +0x1\n...additional frames elided...\n"
        b"created by main.start in goroutine 1\n\t/app/w.go:3 +0x2\n"
    )
    snap = parse(text)
    rows = snap.goroutines
    # WHEN its columns are taken (as aggregate does), and then its records made
    ids, headers, stacks = rows.columns()
    records = tuple(rows)
    # THEN both say the same of every goroutine, in dump order
    assert isinstance(rows, tb.Goroutines) and len(rows) == len(records) == 6
    assert ids == [g.id for g in records]
    assert [s.frames for s in stacks] == [g.frames for g in records] and [s.created_by for s in stacks] == [g.created_by for g in records]
    assert [(h.state, h.minutes, h.flags, h.labels) for h in headers] == [(g.state, g.wait_minutes, g.flags, g.labels) for g in records]
    assert [(h.detail.state, h.detail.flags, h.detail.labels) for h in headers] == [(g.state, g.flags, g.labels) for g in records]
    # what aggregate counts by: the goroutines of one stack and created-by position are one group
    assert stacks[0].group is stacks[2].group and stacks[0].group is not stacks[1].group
    assert stacks[0].group.at == ("main.start", "/app/w.go", 3) and stacks[4].group.at is None
    assert records[-1].frames_elided and rows.columns()[0] == ids  # the same after the records were made
    # and they compare, hash and pickle as the tuple of records
    import pickle

    assert rows == records and records == rows and hash(rows) == hash(records)
    assert pickle.loads(pickle.dumps(rows)) == records


def test_non_utf8_frames_are_a_problem_in_every_file() -> None:
    # a frame that is not UTF-8 is never shared: each file that has it says so
    data = b"goroutine 1 [running]:\nmain.f\xff(0x1)\n\t/x/m.go:3 +0x1\n"
    for _ in range(2):
        assert [p.line for p in parse(data).problems] == [2]


# -------------------------------------------------------------- crash output


CRASHES = {
    "panic": """
        panic: runtime error: invalid memory address or nil pointer dereference
        [signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x48f1c3]

        goroutine 1 [running]:
        main.main()
        \t/src/app/main.go:10 +0x23
        exit status 2
        """,
    "fatal-error": """
        fatal error: all goroutines are asleep - deadlock!

        goroutine 1 [chan receive]:
        main.main()
        \t/src/app/main.go:10 +0x23

        goroutine 5 [chan send]:
        main.w()
        \t/src/app/main.go:20 +0x23
        created by main.main in goroutine 1
        \t/src/app/main.go:9 +0x1
        """,
    "sigquit": """
        SIGQUIT: quit
        PC=0x46a0e1 m=0 sigcode=0

        goroutine 0 gp=0xa55e20 m=0 mp=0xa56dc0 [idle]:
        runtime.futex(0xa56f00, 0x80, 0x0)
        \t/usr/local/go/src/runtime/sys_linux_amd64.s:557 +0x21 fp=0x7ffd sp=0x7ffc pc=0x46a0e1

        goroutine 1 gp=0xc000002380 m=nil [sleep]:
        time.Sleep(0x3b9aca00)
        \t/usr/local/go/src/runtime/time.go:195 +0x125 fp=0xc sp=0xd pc=0x46

        rax    0xfffffffffffffffc
        rbx    0x3
        rip    0x46a0e1
        """,
    "log-around": """
        2026/12/01 08:00:00 starting
        some log line
        goroutine 1 [running]:
        main.main()
        \t/src/app/main.go:10 +0x23
        2026/12/01 08:00:01 after
        """,
}


@pytest.mark.parametrize("name", sorted(CRASHES))
def test_crash_output_junk_is_skipped(name: str) -> None:
    # GIVEN crash output (or a log) around the goroutines
    snap = parse(CRASHES[name])
    # THEN only goroutines are read, silently, and crashes say so
    assert snap.problems == ()
    assert not snap.truncated
    assert all(g.frames for g in snap.goroutines)
    crash = name != "log-around"
    assert snap.crash is crash
    assert snap.format == ("traceback" if crash else "debug2")
    assert len(snap.goroutines) == len(re.findall(r"^goroutine \d+ ", textwrap.dedent(CRASHES[name]), re.M))


def test_go_version_only_when_shown() -> None:
    shown = parse("""
        goroutine 1 [running]:
        runtime.gopark()
        \t/home/me/sdk/go1.22.4/src/runtime/proc.go:402 +0xce
        """)
    assert shown.go_version == "go1.22.4"
    not_shown = parse("""
        goroutine 1 [running]:
        runtime.gopark()
        \t/usr/local/go/src/runtime/proc.go:402 +0xce
        """)
    assert not_shown.go_version is None


def test_goroutineleak_profile_is_recognised_by_its_writer() -> None:
    text = """
        goroutine 4412 [running]:
        runtime/pprof.writeGoroutineStacks({0xab8798, 0xc115875e000})
        \t/usr/local/go/src/runtime/pprof/pprof.go:816 +0x69
        runtime/pprof.writeGoroutineLeak({0xab8798, 0xc115875e000}, 0x2)
        \t/usr/local/go/src/runtime/pprof/pprof.go:803 +0xa8

        goroutine 7 [chan receive (nil chan) (leaked)]:
        main.leak()
        \t/src/app/main.go:10 +0x1
        """
    assert parse(text).profile == "goroutineleak"
    assert parse(text.replace("writeGoroutineLeak", "writeGoroutine")).profile == "goroutine"


# ----------------------------------------------------------------- truncation


REAL = """
goroutine 1 [IO wait]:
internal/poll.runtime_pollWait(0x7ff712492000, 0x72)
\t/usr/local/go/src/runtime/netpoll.go:351 +0x85
net/http.(*Server).Serve(0xc115866e000, {0xabad18, 0xc1158630340})
\t/usr/local/go/src/net/http/server.go:3574 +0x379
main.main()
\t/apps/gw/cmd/gateway/main.go:32 +0x607

goroutine 20 [select, 3 minutes]:
github.com/acme/gw/internal/search.(*Fanout).wait(0xc1158646200)
\t/apps/gw/internal/search/search.go:24 +0xf4
created by github.com/acme/gw/internal/search.New in goroutine 1
\t/apps/gw/internal/search/search.go:11 +0x4fd

goroutine 21 [chan send]:
github.com/acme/gw/internal/export.(*Service).reportProgress(0xc1158646200, {0x1, 0x2})
\t/apps/gw/internal/export/export.go:40 +0x85
created by github.com/acme/gw/internal/export.(*Service).Run in goroutine 20
\t/apps/gw/internal/export/export.go:33 +0x6b
""".lstrip("\n")


def _cut_at(marker: str, offset: int = 0) -> bytes:
    """Return REAL cut just after `marker` (+`offset` bytes)."""
    return REAL.encode()[: REAL.index(marker) + len(marker) + offset]


@pytest.mark.parametrize(
    "name,data,truncated,kept",
    [
        ("mid-header", _cut_at("goroutine 21 [cha"), True, 2),
        ("header-whole-no-frames", _cut_at("goroutine 21 [chan send]:\n"), True, 3),
        ("mid-function-line", _cut_at("reportProgress(0xc11"), True, 3),
        ("function-line-without-file", _cut_at("reportProgress(0xc1158646200, {0x1, 0x2})\n"), True, 3),
        ("mid-file-line", _cut_at("\t/apps/gw/internal/ex"), True, 3),
        ("mid-created-by", _cut_at("created by github.com/acme/gw/internal/export.(*Ser"), True, 3),
        ("created-by-without-file", _cut_at("(*Service).Run in goroutine 20\n"), True, 3),
        ("between-goroutines", _cut_at("search.go:11 +0x4fd\n\n"), False, 2),
        ("after-last-file-line", _cut_at("search.go:11 +0x4fd\n"), False, 2),
        ("whole", REAL.encode(), False, 3),
        ("no-final-newline", REAL.encode().rstrip(b"\n"), False, 3),
    ],
)
def test_truncation_cut_points(name: str, data: bytes, truncated: bool, kept: int) -> None:
    # WHEN a dump is cut at this point
    snap = parse(data)
    # THEN goroutines before the cut are kept, and the cut is flagged only mid-goroutine
    assert snap.truncated is truncated
    assert len(snap.goroutines) == kept
    assert [g.id for g in snap.goroutines] == [1, 20, 21][:kept]
    assert all(f.line > 0 for g in snap.goroutines for f in g.frames)  # no half-read frame
    problems = [p for p in snap.problems]
    if truncated:
        assert [p.message for p in problems] == ["dump ends mid-goroutine"]
        assert problems[0].line == data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    else:
        assert problems == []


# A last line that lacks only its newline: a file line through its pc offset.
WHOLE_LAST_LINE = re.compile(rb"\t.*:\d+ \+0x[0-9a-f]+")


def test_truncation_at_many_points_of_a_real_file() -> None:
    # GIVEN a real debug=2 dump of the corpus, cut at every 97th byte
    name, data = next((n, d) for n, d in corpus_dumps() if "stacks" in n)
    whole = parse(data)
    for cut in range(200, len(data), 97):
        part = data[:cut]
        snap = parse(part)
        headers = len(HEADER.findall(part))
        # THEN no goroutine before the cut is lost, nothing is invented
        assert headers - 1 <= len(snap.goroutines) <= headers, (name, cut)
        for got, full in zip(snap.goroutines, whole.goroutines):
            assert got.id == full.id
            assert got.frames == full.frames[: len(got.frames)]
        # a cut inside a goroutine is flagged, a cut at a blank line is not
        at_boundary = part.endswith(b"\n\n") or data[cut:].startswith(b"\ngoroutine ")
        tail = part[part.rfind(b"\n") + 1 :]
        if tail and not WHOLE_LAST_LINE.fullmatch(tail):
            assert snap.truncated, (name, cut)
        if at_boundary:
            assert not snap.truncated, (name, cut)
        assert all(p.message == "dump ends mid-goroutine" for p in snap.problems), snap.problems


def test_pprof_64mib_cut_is_truncated(monkeypatch) -> None:
    # net/http/pprof writes exactly 64 MiB when its buffer filled (runtime/pprof.writeGoroutineStacks)
    monkeypatch.setattr(tb, "PPROF_DEBUG2_LIMIT", len(REAL))
    assert parse(REAL.encode()).truncated
    monkeypatch.setattr(tb, "PPROF_DEBUG2_LIMIT", 64 << 20)
    assert not parse(REAL.encode()).truncated


# ----------------------------------------------------------------- bad input


def test_empty_is_a_dump_error() -> None:
    with pytest.raises(DumpError, match="empty"):
        parse(b"")


@pytest.mark.parametrize(
    "data",
    [b"\x00\x01\x02\xff" * 1000, b"hello world\nnot a dump\n", b"goroutine profile: total 3\n", b"goroutine pool\n"],
    ids=["binary", "text", "debug1-header", "words"],
)
def test_not_a_dump_is_a_dump_error(data: bytes) -> None:
    with pytest.raises(DumpError):
        parse(data)


def test_only_unreadable_goroutines_is_a_dump_error() -> None:
    with pytest.raises(DumpError, match="no goroutine"):
        parse(b"junk\ngoroutine 1 [")


def test_non_utf8_inside_a_frame_line_is_a_problem() -> None:
    snap = parse(b"goroutine 1 [running]:\nmain.f\xff\xfe(0x1)\n\t/x/m\xe9.go:3 +0x1\nmain.main()\n\t/x/m.go:4 +0x1\n")
    g = snap.goroutines[0]
    assert [f.line for f in g.frames] == [3, 4]
    assert g.frames[0].function == "main.f\ufffd\ufffd"
    assert {p.line for p in snap.problems} == {2, 3}


def test_bad_lines_cost_only_themselves() -> None:
    # GIVEN goroutines with one unreadable line each, in the middle of a dump
    text = """
        goroutine 1 [running]:
        main.main)(
        \t/example/main.go:152 +0x3d2
        main.caller()
        \t/example/main.go:160 +0x1

        goroutine 2 [select]:
        main.a()
        \t/example/main.go:x
        main.b()
        \t/example/main.go:20 +0x1

        goroutine 3 [select]:
        main.a()
        main.b()
        \t/example/main.go:20 +0x1

        goroutine 4 [select]:

        goroutine 5 [running]:
        main.ok()
        \t/example/main.go:1 +0x1
        """
    snap = parse(text)
    # THEN every goroutine is kept with what could be read, and each bad line is named
    assert [g.id for g in snap.goroutines] == [1, 2, 3, 4, 5]
    assert [[f.function for f in g.frames] for g in snap.goroutines] == [
        ["main.caller"], ["main.a", "main.b"], ["main.b"], [], ["main.ok"],
    ]
    assert snap.goroutines[1].frames[0].file == "?"
    assert [(p.line, p.message) for p in snap.problems] == [
        (2, "unreadable function line"),
        (9, "unreadable file:line"),
        (14, "function line without its file line"),
        (18, "goroutine 4 has no frames"),
    ]
    assert not snap.truncated


def test_a_100mb_line_does_not_blow_up(monkeypatch) -> None:
    # GIVEN a dump with a 100 MB line and no newline in it, read in small chunks
    monkeypatch.setattr(tb, "CHUNK_BYTES", 1 << 20)
    monkeypatch.setattr(tb, "MAX_PENDING_BYTES", 4 << 20)
    head = b"goroutine 1 [running]:\nmain.main()\n\t/x/m.go:4 +0x1\n\ngoroutine 2 [select]:\nmain.f("
    tail = b")\n\t/x/m.go:5 +0x1\n\ngoroutine 3 [select]:\nmain.g()\n\t/x/m.go:6 +0x1\n"

    class Gen(io.RawIOBase):
        """A stream of head + 100 MB of 'A' + tail, never held whole."""

        def __init__(self) -> None:
            self.parts = [head] + [b"A" * (1 << 20)] * 100 + [tail]

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:
            if not self.parts:
                return 0
            p = self.parts[0]
            n = min(len(b), len(p))
            b[:n] = p[:n]
            if n == len(p):
                self.parts.pop(0)
            else:
                self.parts[0] = p[n:]
            return n

    t0 = time.perf_counter()
    snap = tb.parse(io.BufferedReader(Gen(), 1 << 20), "huge.txt")
    # THEN it finishes quickly, keeps every goroutine, and names the skipped line
    assert time.perf_counter() - t0 < 20
    assert [g.id for g in snap.goroutines] == [1, 2, 3]
    assert snap.goroutines[2].frames == (Frame(function="main.g", file="/x/m.go", line=6),)
    assert any("longer than" in p.message for p in snap.problems)
    assert any(p.line == 6 for p in snap.problems)


def test_blocks_without_blank_lines_and_small_chunks(monkeypatch) -> None:
    # a log collector that dropped empty lines: headers follow frames directly
    monkeypatch.setattr(tb, "CHUNK_BYTES", 64)
    monkeypatch.setattr(tb, "MAX_PENDING_BYTES", 256)
    text = "".join(f"goroutine {i} [select]:\nmain.w{i % 3}(0x{i:x})\n\t/x/m.go:{i % 3 + 1} +0x1\n" for i in range(1, 60))
    snap = parse(text.encode())
    assert snap.problems == ()
    assert [g.id for g in snap.goroutines] == list(range(1, 60))
    assert [g.frames[0].line for g in snap.goroutines] == [i % 3 + 1 for i in range(1, 60)]


# ----------------------------------------------------------------- the corpus


def test_every_corpus_dump_parses_clean() -> None:
    dumps = corpus_dumps()
    assert len(dumps) > 50
    for name, data in dumps:
        snap = parse(data)
        assert snap.problems == (), name
        assert not snap.truncated, name
        assert len(snap.goroutines) == len(HEADER.findall(data)), name
        assert all(g.frames for g in snap.goroutines), name
        assert snap.crash is ("sigquit" in name), name
        assert snap.format == ("traceback" if "sigquit" in name else "debug2"), name
        assert snap.profile == ("goroutineleak" if "goroutineleak" in name else "goroutine"), name


def test_corpus_sigquit_dump_details() -> None:
    name, data = next((n, d) for n, d in corpus_dumps() if "sigquit" in n)
    snap = parse(data)
    g0 = snap.goroutines[0]
    assert (g0.id, g0.state) == (0, "idle")
    assert re.fullmatch(r"gp=0x[0-9a-f]+ m=0 mp=0x[0-9a-f]+", g0.header_extra)
    assert all(g.header_extra.startswith("gp=0x") for g in snap.goroutines)
    assert all(f.line > 0 for g in snap.goroutines for f in g.frames)


def test_small_chunks_give_the_same_snapshot(monkeypatch) -> None:
    # chunk boundaries must never change what is read
    dumps = [d for n, d in corpus_dumps() if "sigquit" in n or "stacks" in n][:4]
    expected = [parse(d) for d in dumps]
    monkeypatch.setattr(tb, "CHUNK_BYTES", 777)
    monkeypatch.setattr(tb, "MAX_PENDING_BYTES", 8000)
    for d, want in zip(dumps, expected):
        got = parse(d)
        assert got == want


# ----------------------------------------------------------------- property


def _seed_dumps() -> list[bytes]:
    """Return a few small real dumps to mutate (inline ones when the corpus is absent)."""
    seeds = [REAL.encode(), textwrap.dedent(CRASHES["sigquit"]).encode()]
    if CORPUS.is_dir():
        for name, data in corpus_dumps():
            if len(data) < 40_000 and ("sigquit" in name or "goroutineleak" in name or "gz" in name):
                seeds.append(data)
    return seeds[:6]


SEEDS = _seed_dumps()


@st.composite
def mutated(draw) -> bytes:
    """Draw a real dump mutated by truncation, byte flips, line duplication or deletion."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["truncate", "flip", "dup", "delete", "insert"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "truncate":
            del data[i:]
        elif op == "flip":
            data[i] = draw(st.integers(0, 255))
        elif op == "insert":
            data[i:i] = draw(st.binary(max_size=20))
        else:
            lines = bytes(data).split(b"\n")
            j = i % len(lines)
            if op == "dup":
                lines.insert(j, lines[j])
            else:
                del lines[j]
            data = bytearray(b"\n".join(lines))
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_dumps_give_a_snapshot_or_a_dump_error(data: bytes) -> None:
    try:
        snap = parse(data)
    except DumpError:
        return
    assert isinstance(snap, Snapshot)
    assert snap.goroutines
    for g in snap.goroutines:
        assert isinstance(g.id, int)
        assert all(isinstance(f.line, int) and isinstance(f.function, str) for f in g.frames)
    # (a goroutine id seen again begins another dump: that note is about the file, not a line)
    assert all(isinstance(p.line, int) and p.line >= 1 for p in snap.problems if "back to back" not in p.message)


def test_headers_that_differ_in_their_minutes_read_as_each_alone(monkeypatch) -> None:
    # GIVEN headers read before, then the same with other minutes (one more minute of waiting),
    # and look-alikes: a minutes-like label value, two minutes parts, flags and a locked thread
    rests = [
        "[IO wait, 5 minutes]:", "[IO wait, 6 minutes]:", "[IO wait, 1 minute]:", "[IO wait, 007 minutes]:",
        "[chan receive (nil chan) (leaked), 12 minutes, locked to thread]:", "[chan receive (nil chan) (leaked), 13 minutes, locked to thread]:",
        '[select, 4 minutes] {"k": "a, 9 minutes]"}:', '[select, 5 minutes] {"k": "a, 9 minutes]"}:',
        "[sleep, 3 minutes, 4 minutes]:", "[sleep, 3 minutes, 5 minutes]:", "[5 minutes]:", "[6 minutes]:",
    ]
    monkeypatch.setattr(tb, "_SHARED", tb._Shared())
    st = tb._State("x")
    # WHEN each is read through the header cache, one after another
    got = [st.header(r.encode()) for r in rests]
    # THEN each says what parsing it alone says
    for r, h in zip(rests, got):
        alone = tb._parse_header_rest(r.encode())
        assert (h.state, h.minutes, h.flags, h.locked, h.labels, h.extra, h.problem) == (
            alone.state, alone.minutes, alone.flags, alone.locked, alone.labels, alone.extra, alone.problem
        ), r
    assert [h.minutes for h in got[:4]] == [5, 6, 1, 7] and got[0].detail is got[1].detail
