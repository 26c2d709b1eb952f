"""ingest.aggregated: debug=1 goroutine profiles and debug=1 heap profiles.

Inline dumps are written as runtime/pprof printCountProfile writes them (a tabwriter
pads the frame columns with tabs); the real files come from tests/data/forms (one
quiet process) and the dev corpus.
"""

from __future__ import annotations

import io
import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from goroscope.errors import DumpError
from goroscope.ingest import aggregated, sniff
from goroscope.model import Frame, Record

DATA = Path(__file__).resolve().parent / "data"

POLL = Frame(function="internal/poll.runtime_pollWait", file="/usr/local/go/src/runtime/netpoll.go", line=351)
SERVE = Frame(function="net/http.(*conn).serve", file="/usr/local/go/src/net/http/server.go", line=2157)
LEAK = Frame(function="main.leak", file="/app/main.go", line=10)


def _dump(text: str) -> bytes:
    """Return dedented `text` with `\\t` written literally in the source turned into tabs."""
    return textwrap.dedent(text).lstrip("\n").replace("\\t", "\t").encode()


def _parse(raw: bytes):
    return aggregated.parse(io.BytesIO(raw), "dump.txt")


@dataclass
class Case:
    name: str
    raw: bytes
    records: tuple[Record, ...]
    total: int
    profile: str = "goroutine"
    truncated: bool = False
    problem_lines: tuple[int, ...] = ()  # the lines Problems point at, in order
    problem_words: tuple[str, ...] = field(default_factory=tuple)  # words each Problem message holds


BASIC = _dump(
    """
    goroutine profile: total 4
    3 @ 0x48c60a 0x44c137 0x48b805 0x66d65c 0x4934e1
    #\\t0x48b804\\tinternal/poll.runtime_pollWait+0x84\\t\\t/usr/local/go/src/runtime/netpoll.go:351
    #\\t0x66d65b\\tnet/http.(*conn).serve+0x6db\\t\\t\\t/usr/local/go/src/net/http/server.go:2157

    1 @ 0x48c60a 0x71a9ae 0x4934e1
    #\\t0x71a9ad\\tmain.leak+0x4d\\t/app/main.go:10

    """
)

CASES = [
    Case(
        name="two records, tab-padded columns",
        raw=BASIC,
        records=(Record(count=3, frames=(POLL, SERVE)), Record(count=1, frames=(LEAK,))),
        total=4,
    ),
    Case(
        name="CRLF line ends",
        raw=BASIC.replace(b"\n", b"\r\n"),
        records=(Record(count=3, frames=(POLL, SERVE)), Record(count=1, frames=(LEAK,))),
        total=4,
    ),
    Case(
        name="labels, sorted, with Go escapes",
        raw=_dump(
            """
            goroutine profile: total 2
            2 @ 0x48c60a 0x71a9ae 0x4934e1
            # labels: {"route":"export", "tenant":"t\\"1\\\\x", "a":"\\u00e9\\t"}
            #\\t0x71a9ad\\tmain.leak+0x4d\\t/app/main.go:10

            """
        ),
        records=(
            Record(count=2, labels=(("a", "\u00e9\t"), ("route", "export"), ("tenant", 't"1\\x')), frames=(LEAK,)),
        ),
        total=2,
    ),
    Case(
        name="a record with no frame line, a record with an unknown PC",
        raw=_dump(
            """
            goroutine profile: total 3
            2 @ 0x4934e1

            1 @ 0x5000 0x71a9ae 0x4934e1
            #\\t0x4fff
            #\\t0x71a9ad\\tmain.leak+0x4d\\t/app/main.go:10

            """
        ),
        records=(Record(count=2, frames=()), Record(count=1, frames=(aggregated.UNKNOWN_FRAME, LEAK))),
        total=3,
    ),
    Case(
        name="inlined frames share a PC and are each a frame",
        raw=_dump(
            """
            goroutine profile: total 4
            4 @ 0x47f32a 0x4e4925 0x4e4926 0x4e58b7 0x4854e1
            #\\t0x4e4924\\tmain.take+0x24\\t\\texample.com/p/main.go:54
            #\\t0x4e4925\\tmain.drain+0x25\\t\\texample.com/p/main.go:59
            #\\t0x4e58b6\\tmain.main.func4+0x16\\texample.com/p/main.go:127

            """
        ),
        records=(
            Record(
                count=4,
                frames=(
                    Frame(function="main.take", file="example.com/p/main.go", line=54),
                    Frame(function="main.drain", file="example.com/p/main.go", line=59),
                    Frame(function="main.main.func4", file="example.com/p/main.go", line=127),
                ),
            ),
        ),
        total=4,
    ),
    Case(
        name="generic names and a Windows path keep their brackets and drive colon",
        raw=_dump(
            """
            goroutine profile: total 1
            1 @ 0x47f32a 0x4e58a5 0x4854e1
            #\\t0x4e58a4\\tmain.waitFor[...]+0x24\\tC:/src/app/main.go:48

            """
        ),
        records=(Record(count=1, frames=(Frame(function="main.waitFor[...]", file="C:/src/app/main.go", line=48),)),),
        total=1,
    ),
    Case(
        name="goroutineleak profile",
        raw=_dump(
            """
            goroutineleak profile: total 1
            1 @ 0x48c60a 0x71a9ae 0x4934e1
            #\\t0x71a9ad\\tmain.leak+0x4d\\t/app/main.go:10

            """
        ),
        records=(Record(count=1, frames=(LEAK,)),),
        total=1,
        profile="goroutineleak",
    ),
    Case(name="empty profile", raw=b"goroutine profile: total 0\n", records=(), total=0),
    Case(
        name="final blank line stripped, counts add up: complete",
        raw=BASIC[:-1],
        records=(Record(count=3, frames=(POLL, SERVE)), Record(count=1, frames=(LEAK,))),
        total=4,
    ),
    Case(
        # an editor or a paste dropped the final newline: the last frame line is whole
        # (function+offset, file:line), its PC the record's last but goexit's, and the
        # records hold the header's total, so nothing can be missing
        name="no final newline: a whole last record is kept",
        raw=BASIC.rstrip(b"\n"),
        records=(Record(count=3, frames=(POLL, SERVE)), Record(count=1, frames=(LEAK,))),
        total=4,
    ),
    Case(
        # the same last line, but a record short of the header's total: it may be cut
        name="no final newline, records short of the total: the last record is dropped",
        raw=BASIC.replace(b"total 4", b"total 5").rstrip(b"\n"),
        records=(Record(count=3, frames=(POLL, SERVE)),),
        total=5,
        truncated=True,
        problem_lines=(7,),
        problem_words=("record dropped",),
    ),
    Case(
        name="junk before the header and after the dump",
        raw=b"$ curl localhost:6060/debug/pprof/goroutine?debug=1\n" + BASIC + b"HTTP/1.1 200 OK\nmore\n",
        records=(Record(count=3, frames=(POLL, SERVE)), Record(count=1, frames=(LEAK,))),
        total=4,
        problem_lines=(1, 10),
        problem_words=("before the profile header", "after the dump"),
    ),
    Case(
        name="cut mid frame line: the last record is dropped, the cut line named",
        raw=BASIC[: BASIC.index(b"main.leak") + 4],
        records=(Record(count=3, frames=(POLL, SERVE)),),
        total=4,
        truncated=True,
        problem_lines=(7,),
        problem_words=("starts at line 6",),
    ),
    Case(
        name="cut at a line boundary inside the last record: counts fall short",
        raw=BASIC[: BASIC.index(b"/netpoll.go:351\n") + len(b"/netpoll.go:351\n")],
        records=(),
        total=4,
        truncated=True,
        problem_lines=(2,),
        problem_words=("record dropped",),
    ),
    Case(
        name="cut between records: a lower bound",
        raw=BASIC[: BASIC.index(b"1 @")],
        records=(Record(count=3, frames=(POLL, SERVE)),),
        total=4,
        truncated=True,
        problem_words=("3 of the header's 4",),
    ),
    Case(
        name="cut inside a count line",
        raw=BASIC[: BASIC.index(b"1 @") + 5],
        records=(Record(count=3, frames=(POLL, SERVE)),),
        total=4,
        truncated=True,
        problem_lines=(6,),
        problem_words=("mid-line",),
    ),
    Case(
        name="an unreadable frame line and unreadable labels are Problems, the rest is kept",
        raw=_dump(
            """
            goroutine profile: total 1
            1 @ 0x48c60a 0x71a9ae 0x4934e1
            # labels: {route=export}
            #\\tgarbage here
            #\\t0x71a9ad\\tmain.leak+0x4d\\t/app/main.go:10

            """
        ),
        records=(Record(count=1, frames=(LEAK,)),),
        total=1,
        problem_lines=(4, 3),
        problem_words=("unreadable frame line", "unreadable labels"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_parse_debug1(case: Case):
    snap = _parse(case.raw)
    assert snap.format == "debug1"
    assert snap.profile == case.profile
    assert snap.total == case.total
    assert snap.records == case.records
    assert snap.truncated is case.truncated
    if case.problem_lines:
        assert tuple(p.line for p in snap.problems) == case.problem_lines
    if case.problem_words:
        assert len(snap.problems) == len(case.problem_words)
        for p, words in zip(snap.problems, case.problem_words):
            assert words in p.message
    if not case.problem_lines and not case.problem_words:
        assert snap.problems == ()


def test_identical_stacks_share_one_frames_tuple():
    # GIVEN two records with the same stack and different labels
    raw = _dump(
        """
        goroutine profile: total 3
        2 @ 0x48c60a 0x71a9ae 0x4934e1
        # labels: {"k":"a"}
        #\\t0x71a9ad\\tmain.leak+0x4d\\t/app/main.go:10

        1 @ 0x48c60a 0x71a9ae 0x4934e1
        # labels: {"k":"b"}
        #\\t0x71a9ad\\tmain.leak+0x4d\\t/app/main.go:10

        """
    )
    # WHEN parsed
    a, b = _parse(raw).records
    # THEN the frames are one object (aggregate computes one signature per object)
    assert a.frames is b.frames and a.labels != b.labels


@pytest.mark.parametrize(
    "raw",
    [b"", b"hello\n", b"goroutine 1 [running]:\nmain.main()\n", b"heap profile: 1: 2 [3: 4] @ heap/1024\n"],
    ids=["empty", "text", "debug2", "heap"],
)
def test_not_a_debug1_profile_raises_dump_error(raw: bytes):
    with pytest.raises(DumpError) as e:
        aggregated.parse(io.BytesIO(raw), "x.txt")
    assert e.value.path == "x.txt" and "header" in e.value.reason


@pytest.mark.parametrize(
    "quoted, plain",
    [
        ("plain", "plain"),
        (r"a\"b", 'a"b'),
        (r"back\\slash", "back\\slash"),
        (r"\a\b\f\n\r\t\v", "\a\b\f\n\r\t\v"),
        (r"\u00e9\U0001F600", "\u00e9\U0001f600"),
        (r"\x41\xff", "A\ufffd"),
        (r"\101", "A"),
    ],
)
def test_go_unquote(quoted: str, plain: str):
    assert aggregated.go_unquote(quoted) == plain


def test_parse_labels_keeps_commas_and_braces_inside_values():
    assert aggregated.parse_labels('{"a":"x, \\"y\\":z", "b":"}"}') == (("a", 'x, "y":z'), ("b", "}"))
    assert aggregated.parse_labels("{}") == ()
    with pytest.raises(ValueError):
        aggregated.parse_labels('{"a":"x" "b":"y"}')


# --------------------------------------------------------------------- heap text


HEAP = _dump(
    """
    heap profile: 3: 3072 [10: 20480] @ heap/1048576
    2: 2048 [4: 4096] @ 0x4d1571 0x44aa67
    #\\t0x4d1570\\tmain.alloc+0xb0\\t/app/main.go:8

    1: 1024 [6: 16384] @ 0x4d1571 0x44aa67
    #\\t0x4d1570\\tmain.other+0xb0\\t/app/main.go:9

    0: 0 [0: 0] @ 0x4d1571

    # runtime.MemStats
    # Alloc = 123456
    # HeapInuse = 999999
    """
)


def _scaled(objects: int, size: int, rate: int) -> int:
    return int(objects * size / (1 - math.exp(-size / rate)))


def test_heap_text_inuse_is_scaled_as_the_protobuf_scales_it():
    snap = aggregated.parse_heap_text(io.BytesIO(HEAP), "heap.txt")
    assert snap.profile == "heap" and snap.format == "debug1" and snap.records == ()
    # heap/R prints 2*MemProfileRate; each record's object size is alloc bytes / alloc objects
    assert snap.heap_inuse_bytes == _scaled(2, 1024, 524288) + _scaled(1, 16384 // 6, 524288)
    assert snap.heap_inuse_bytes > 3072  # more than the unscaled header figure


def test_heap_text_without_records_keeps_the_header_figure():
    snap = aggregated.parse_heap_text(io.BytesIO(b"heap profile: 0: 0 [0: 0] @ heap/1048576\n"), "h")
    assert snap.heap_inuse_bytes == 0
    snap = aggregated.parse_heap_text(io.BytesIO(b"heap profile: 3: 3072 [9: 9000] @ heap/1\n"), "h")
    assert snap.heap_inuse_bytes == 3072


def test_heap_text_needs_its_header():
    with pytest.raises(DumpError):
        aggregated.parse_heap_text(io.BytesIO(b"goroutine profile: total 1\n"), "h")


# ------------------------------------------------------------------- real files


def test_forms_debug1_file_reads_every_record():
    snap = aggregated.parse(io.BytesIO((DATA / "forms" / "goroutine.debug1.txt").read_bytes()), "goroutine.debug1.txt")
    assert snap.problems == () and not snap.truncated
    assert snap.count == snap.total
    by_top = {r.frames[0].function: r for r in snap.records if r.frames}
    # the inlined helper is a frame of its own, above its caller, on the caller's PC
    assert [f.function for f in by_top["main.take"].frames[:2]] == ["main.take", "main.drain"]
    assert "main.waitFor[...]" in by_top
    labelled = [r for r in snap.records if r.labels]
    assert [r.labels for r in labelled] == [(("route", "export"), ("tenant", 't"1'))]
    # runtime frames at the top are not printed by debug=1 (printStackRecord)
    assert not any(r.frames[0].function.startswith("runtime.") for r in snap.records if r.frames)


def test_corpus_debug1_files_parse_without_problems(corpus_dir: Path):
    # GIVEN every debug=1 file of the corpus, found by content
    files = []
    for p in sorted(corpus_dir.rglob("*")):
        if p.is_file():
            with p.open("rb") as fh:
                s = sniff(fh.read(4096))
            if s is not None and s.format == "debug1":
                files.append(p)
    assert files, f"no debug=1 file under {corpus_dir}"
    # THEN each reads whole: no problem, no cut, every frame with a file and a line
    for p in files:
        snap = aggregated.parse(io.BytesIO(p.read_bytes()), str(p))
        assert snap.problems == (), p
        assert not snap.truncated, p
        assert all(r.count > 0 for r in snap.records), p
        assert all(f.line > 0 and f.file != "?" for r in snap.records for f in r.frames), p
