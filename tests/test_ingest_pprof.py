"""ingest.pprof: the protobuf (debug=0) form of goroutine, goroutineleak and heap profiles.

Small profiles are built here with the generated profile_pb2 classes, laid out as
runtime/pprof lays them out (period_type first, string table last); the real ones
come from tests/data/forms (one quiet process) and the dev corpus.
"""

from __future__ import annotations

import gzip
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest

from goroscope.errors import DumpError
from goroscope.ingest import aggregated, pprof, profile_pb2
from goroscope.model import Frame, Record

DATA = Path(__file__).resolve().parent / "data"
FORMS_PB = DATA / "forms" / "goroutine.debug0.pb.gz"

GOPARK = ("runtime.gopark", "/usr/local/go/src/runtime/proc.go", 474)
CHANRECV = ("runtime.chanrecv", "/usr/local/go/src/runtime/chan.go", 667)
TAKE = ("main.take", "/app/main.go", 54)
DRAIN = ("main.drain", "/app/main.go", 59)
MAIN = ("main.main", "/app/main.go", 30)


def _f(t: tuple[str, str, int]) -> Frame:
    return Frame(function=t[0], file=t[1], line=t[2])


@dataclass
class Sample:
    value: list[int]
    locations: list[list[tuple[str, str, int]]]  # leaf first; each location's lines innermost first
    labels: list[tuple[str, str | int]] = field(default_factory=list)


def build(sample_types: list[tuple[str, str]], samples: list[Sample], time_nanos: int = 0) -> bytes:
    """Return a serialized Profile holding `samples`, laid out as runtime/pprof writes one."""
    strings: dict[str, int] = {"": 0}

    def s(x: str) -> int:
        return strings.setdefault(x, len(strings))

    p = profile_pb2.Profile()
    p.period_type.type, p.period_type.unit = s(sample_types[0][0]), s(sample_types[0][1])
    p.period = 1
    for t, u in sample_types:
        p.sample_type.add(type=s(t), unit=s(u))
    funcs: dict[tuple[str, str], int] = {}
    locs: dict[tuple, int] = {}
    for smp in samples:
        ps = p.sample.add(value=smp.value)
        for loc in smp.locations:
            key = tuple(loc)
            if key not in locs:
                locs[key] = len(locs) + 1
                pl = p.location.add(id=locs[key], address=0x1000 + locs[key])
                for name, file, line in loc:
                    if (name, file) not in funcs:
                        funcs[(name, file)] = len(funcs) + 1
                        p.function.add(id=funcs[(name, file)], name=s(name), system_name=s(name), filename=s(file))
                    pl.line.add(function_id=funcs[(name, file)], line=line)
            ps.location_id.append(locs[key])
        for k, v in smp.labels:
            if isinstance(v, int):
                ps.label.add(key=s(k), num=v)
            else:
                ps.label.add(key=s(k), str=s(v))
    p.time_nanos = time_nanos
    p.string_table.extend(sorted(strings, key=strings.get))
    return p.SerializeToString()


GOROUTINE = [("goroutine", "count")]


@dataclass
class Case:
    name: str
    data: bytes
    profile: str
    records: tuple[Record, ...] = ()
    total: int | None = None
    time: datetime | None = None
    heap_inuse_bytes: int | None = None


CASES = [
    Case(
        name="goroutine profile, runtime frames kept, time from time_nanos",
        data=build(GOROUTINE, [Sample([3], [[GOPARK], [CHANRECV], [MAIN]])], time_nanos=1_796_113_275_123_456_789),
        profile="goroutine",
        records=(Record(count=3, frames=(_f(GOPARK), _f(CHANRECV), _f(MAIN))),),
        total=3,
        time=datetime(2026, 12, 1, 8, 21, 15, 123456, tzinfo=timezone.utc),
    ),
    Case(
        name="a location with several lines is inlined frames, innermost first",
        data=build(GOROUTINE, [Sample([2], [[GOPARK], [TAKE, DRAIN], [MAIN]])]),
        profile="goroutine",
        records=(Record(count=2, frames=(_f(GOPARK), _f(TAKE), _f(DRAIN), _f(MAIN))),),
        total=2,
    ),
    Case(
        name="string labels sorted, numeric labels left out",
        data=build(GOROUTINE, [Sample([1], [[MAIN]], [("tenant", "t1"), ("route", "export"), ("bytes", 64)])]),
        profile="goroutine",
        records=(Record(count=1, labels=(("route", "export"), ("tenant", "t1")), frames=(_f(MAIN),)),),
        total=1,
    ),
    Case(
        name="an unsymbolised location is the unknown frame",
        data=build(GOROUTINE, [Sample([1], [[("", "", 0)], [MAIN]]), Sample([4], [])]),
        profile="goroutine",
        records=(Record(count=1, frames=(aggregated.UNKNOWN_FRAME, _f(MAIN))), Record(count=4, frames=())),
        total=5,
    ),
    Case(
        name="goroutineleak profile: the sample type is the profile's name",
        data=build([("goroutineleak", "count")], [Sample([2], [[GOPARK], [MAIN]])]),
        profile="goroutineleak",
        records=(Record(count=2, frames=(_f(GOPARK), _f(MAIN))),),
        total=2,
    ),
    Case(
        name="heap profile: the sum of inuse_space",
        data=build(
            [("alloc_objects", "count"), ("alloc_space", "bytes"), ("inuse_objects", "count"), ("inuse_space", "bytes")],
            [Sample([9, 900, 2, 200], [[MAIN]], [("bytes", 100)]), Sample([5, 5000, 1, 1000], [[TAKE]])],
        ),
        profile="heap",
        heap_inuse_bytes=1200,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_parse_protobuf(case: Case):
    snap = pprof.parse(case.data, "p.pb")
    assert snap.format == "pprof"
    assert snap.profile == case.profile
    assert snap.records == case.records
    assert snap.total == case.total
    assert snap.time == case.time
    assert snap.heap_inuse_bytes == case.heap_inuse_bytes
    assert snap.problems == ()


def test_identical_location_lists_share_one_frames_tuple():
    data = build(GOROUTINE, [Sample([1], [[MAIN]], [("k", "a")]), Sample([2], [[MAIN]], [("k", "b")])])
    a, b = pprof.parse(data, "p").records
    assert a.frames is b.frames


@pytest.mark.parametrize(
    "types, kind",
    [
        ([("samples", "count"), ("cpu", "nanoseconds")], "cpu"),
        ([("contentions", "count"), ("delay", "nanoseconds")], "contention (mutex or block)"),
        ([("threadcreate", "count")], "threadcreate"),
        ([("wall", "seconds")], "wall/seconds"),
    ],
)
def test_other_profiles_are_named_and_refused(types, kind):
    data = build(types, [Sample([1] * len(types), [[MAIN]])])
    with pytest.raises(DumpError) as e:
        pprof.parse(data, "cpu.pb")
    assert e.value.path == "cpu.pb"
    assert e.value.reason == f"a {kind} profile, not a goroutine dump: not used"


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty"),
        (b"\x0a\x04\x08\x01", "corrupt or truncated"),
        (b"\xff\xff\xff\xff", "corrupt or truncated"),
        (profile_pb2.Profile(sample_type=[profile_pb2.ValueType(type=1, unit=2)]).SerializeToString(), "string table"),
    ],
    ids=["empty", "cut-inside-a-field", "garbage", "no-string-table"],
)
def test_corrupt_protobuf_raises_dump_error(data: bytes, words: str):
    with pytest.raises(DumpError) as e:
        pprof.parse(data, "bad.pb")
    assert e.value.path == "bad.pb" and words in e.value.reason


def test_every_cut_of_a_real_profile_is_refused():
    # runtime/pprof writes the string table last, so even a cut at a field boundary
    # leaves references past its end: no prefix of the file passes as a smaller profile.
    data = gzip.decompress(FORMS_PB.read_bytes())
    for n in range(len(data)):
        with pytest.raises(DumpError):
            pprof.parse(data[:n], "cut.pb")


def test_flipped_bytes_never_escape_as_another_exception():
    data = bytearray(gzip.decompress(FORMS_PB.read_bytes()))
    rng = random.Random(7)
    for _ in range(200):
        bad = bytearray(data)
        bad[rng.randrange(len(bad))] ^= 1 << rng.randrange(8)
        try:
            pprof.parse(bytes(bad), "flip.pb")
        except DumpError:
            pass


def test_forms_protobuf_keeps_runtime_frames_and_expands_inlining():
    snap = pprof.parse(gzip.decompress(FORMS_PB.read_bytes()), "goroutine.debug0.pb.gz")
    assert snap.total == snap.count == 23
    assert snap.time is not None and snap.time.tzinfo is timezone.utc
    drain = next(r for r in snap.records if any(f.function == "main.drain" for f in r.frames))
    names = [f.function for f in drain.frames]
    assert names[0] == "runtime.gopark"
    assert names[names.index("main.take") + 1] == "main.drain"  # inlined callee above its caller
    # generic functions carry their symbol name; signature.py folds it
    assert any(f.function.startswith("main.waitFor[") for r in snap.records for f in r.frames)
    labelled = [r for r in snap.records if r.labels]
    assert [r.labels for r in labelled] == [(("route", "export"), ("tenant", 't"1'))]


# ----------------------------------------------------------------------- sniffing


def test_looks_like_profile_on_real_and_built_profiles():
    real = gzip.decompress(FORMS_PB.read_bytes())
    assert real[0] == 0x5A  # runtime/pprof writes period_type (field 11) first
    assert pprof.looks_like_profile(real[:4096])
    assert pprof.looks_like_profile(real)
    assert pprof.looks_like_profile(build(GOROUTINE, [Sample([1], [[MAIN]])]))


@pytest.mark.parametrize(
    "head",
    [
        b"goroutine profile: total 3\n",
        b"goroutine 1 [running]:\n",
        b"\x89PNG\r\n\x1a\n\x00\x00",
        bytes(range(256)),
        b"",
    ],
    ids=["debug1", "debug2", "png", "bytes", "empty"],
)
def test_looks_like_profile_refuses_other_content(head: bytes):
    assert not pprof.looks_like_profile(head)


def test_corpus_protobuf_profiles_parse(corpus_dir: Path):
    files = [p for p in sorted(corpus_dir.rglob("*.gz")) if pprof.looks_like_profile(gzip.decompress(p.read_bytes())[:4096])]
    assert files, f"no protobuf profile under {corpus_dir}"
    for p in files:
        data = gzip.decompress(p.read_bytes())
        snap = pprof.parse(data, str(p))
        assert snap.profile == "goroutine" and snap.total == snap.count > 0, p
        assert snap.time is not None, p
