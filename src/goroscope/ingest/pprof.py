"""Parse the protobuf form of runtime/pprof profiles (debug=0, profile.proto).

Contract: `parse(data, path) -> Snapshot`, where `data` is the already decompressed
serialized `perftools.profiles.Profile` (see profile.proto beside this module; the
decoder is profile_pb2.py, generated from it by protoc).

- A goroutine profile (sample type `goroutine/count`) gives format "pprof", profile
  "goroutine": one Record per sample, count = the sample's value, labels = its string
  labels (sorted), frames = its locations leaf first, each location's lines expanded
  innermost first (line[0] is the inlined callee, the last line the function it was
  inlined into), so the frames are those debug=1 and debug=2 print. Runtime frames
  (`runtime.gopark`, `runtime.main`, ...) are kept as the profile lists them, generic
  names as the symbol table spells them (`F[go.shape.int]`): signature.py folds and
  drops them. total = the sum of the counts; time = time_nanos, UTC.
- A goroutineleak profile is the same with sample type `goroutineleak/count`
  (runtime/pprof writeGoroutineLeak writes the profile's name as the sample type and
  the period type, as printCountProfile does for every count profile): profile
  "goroutineleak".
- A heap or allocs profile (sample types alloc_objects, alloc_space, inuse_objects,
  inuse_space) gives profile "heap", no records, heap_inuse_bytes = the sum of the
  inuse_space values.
- Anything else (cpu, mutex/block contention, threadcreate, a custom profile) raises
  DumpError naming the kind; a truncated or corrupt profile raises DumpError naming
  what failed.

`looks_like_profile(head)` tells from the first bytes of a decompressed file whether
it reads as a Profile message (sniffing; runtime/pprof writes period_type, field 11,
before sample_type, so the first byte alone says little).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from google.protobuf.message import DecodeError

from goroscope import words
from goroscope.errors import DumpError
from goroscope.ingest.aggregated import UNKNOWN_FRAME
from goroscope.model import PROFILE_GOROUTINE, PROFILE_GOROUTINELEAK, PROFILE_HEAP, Frame, Record, Snapshot

__all__ = ["parse", "looks_like_profile", "profile_kind"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Count profiles whose samples are goroutines (runtime/pprof printCountProfile writes
# `<name>/count` as the one sample type).
_GOROUTINE_KINDS = {"goroutine": PROFILE_GOROUTINE, "goroutineleak": PROFILE_GOROUTINELEAK}
_HEAP_TYPES = frozenset({"alloc_objects", "alloc_space", "inuse_objects", "inuse_space"})

# profile.proto's Profile fields and their wire types (0 varint, 2 length-delimited);
# comment (13) may be packed (2) or not (0).
_PROFILE_FIELDS = {
    1: (2,), 2: (2,), 3: (2,), 4: (2,), 5: (2,), 6: (2,), 7: (0,), 8: (0,), 9: (0,),
    10: (0,), 11: (2,), 12: (0,), 13: (0, 2), 14: (0,), 15: (0,),
}  # fmt: skip


def parse(data: bytes, path: str) -> Snapshot:
    """Parse the decompressed profile.proto bytes `data` read from `path`."""
    from goroscope.ingest import profile_pb2

    if not data:
        raise DumpError(path, "empty protobuf profile")
    prof = profile_pb2.Profile()
    try:
        prof.ParseFromString(data)
    except DecodeError as e:
        raise DumpError(path, f"corrupt or truncated protobuf profile: {e}") from None
    strings = prof.string_table
    if not strings or strings[0] != "":
        raise DumpError(path, "corrupt or truncated protobuf profile: no string table (string_table[0] must be \"\")")
    n_strings = len(strings)

    def s(index: int, what: str) -> str:
        """Return string `index` of the table, or fail naming `what` referred to it."""
        if 0 <= index < n_strings:
            return strings[index]
        raise DumpError(path, f"corrupt protobuf profile: {what} refers to string {index}, the table has {n_strings}")

    # runtime/pprof writes the string table last, one field per string, so a profile
    # cut at a field boundary shows as references past the end of the table.
    for m in prof.mapping:
        s(m.filename, f"mapping {m.id}")
        s(m.build_id, f"mapping {m.id}")
    for index in (prof.period_type.type, prof.period_type.unit, prof.default_sample_type, *prof.comment):
        s(index, "the profile header")
    types = [(s(vt.type, "a sample type"), s(vt.unit, "a sample type")) for vt in prof.sample_type]
    kind = profile_kind(types)
    time = _EPOCH + timedelta(microseconds=prof.time_nanos // 1000) if prof.time_nanos > 0 else None

    if kind == PROFILE_HEAP:
        idx = [t for t, _ in types].index("inuse_space")
        inuse = 0
        for sample in prof.sample:
            if len(sample.value) != len(types):
                raise DumpError(path, f"corrupt protobuf profile: a sample has {len(sample.value)} values for {len(types)} sample types")
            inuse += sample.value[idx]
        return Snapshot(format="pprof", profile=PROFILE_HEAP, time=time, heap_inuse_bytes=inuse)
    if kind not in _GOROUTINE_KINDS:
        raise DumpError(path, words.unused_profile(kind))

    idx = [t for t, _ in types].index(kind)
    functions: dict[int, tuple[str, str]] = {}
    for fn in prof.function:
        functions[fn.id] = (s(fn.name, f"function {fn.id}"), s(fn.filename, f"function {fn.id}"))
    # One frames tuple per location (a location with several lines is an inlined
    # call chain, innermost first, as profile.proto's Location.line documents).
    locations: dict[int, tuple[Frame, ...]] = {}
    frame_cache: dict[tuple[str, str, int], Frame] = {}
    for loc in prof.location:
        frames: list[Frame] = []
        for ln in loc.line:
            named = functions.get(ln.function_id)
            if named is None:
                raise DumpError(path, f"corrupt protobuf profile: location {loc.id} refers to missing function {ln.function_id}")
            name, file = named
            if not name:
                frames.append(UNKNOWN_FRAME)
                continue
            k = (name, file or "?", int(ln.line))
            f = frame_cache.get(k)
            if f is None:
                f = frame_cache[k] = Frame(function=k[0], file=k[1], line=k[2])
            frames.append(f)
        # A location the runtime could not symbolise has no line at all.
        locations[loc.id] = tuple(frames) if frames else (UNKNOWN_FRAME,)

    records: list[Record] = []
    stacks: dict[tuple[int, ...], tuple[Frame, ...]] = {}  # identical stacks share one tuple
    for sample in prof.sample:
        if len(sample.value) != len(types):
            raise DumpError(path, f"corrupt protobuf profile: a sample has {len(sample.value)} values for {len(types)} sample types")
        ids = tuple(sample.location_id)
        frames_t = stacks.get(ids)
        if frames_t is None:
            out: list[Frame] = []
            for lid in ids:
                lf = locations.get(lid)
                if lf is None:
                    raise DumpError(path, f"corrupt protobuf profile: a sample refers to missing location {lid}")
                out.extend(lf)
            frames_t = stacks[ids] = tuple(out)
        labels = tuple(
            sorted((s(lb.key, "a sample label"), s(lb.str, "a sample label")) for lb in sample.label if lb.str or not lb.num)
        )
        records.append(Record(count=int(sample.value[idx]), labels=labels, frames=frames_t))
    return Snapshot(
        format="pprof",
        profile=_GOROUTINE_KINDS[kind],
        total=sum(r.count for r in records),
        records=tuple(records),
        time=time,
    )


def profile_kind(types: list[tuple[str, str]]) -> str:
    """Return what a profile with sample `types` [(type, unit)] is a profile of.

    'goroutine' / 'goroutineleak' for goroutine count profiles, 'heap' for heap and
    allocs profiles, 'cpu', 'contention' (mutex and block profiles carry the same
    sample types), 'threadcreate', or `type/unit` of the first sample type otherwise.
    """
    names = [t for t, _ in types]
    if len(types) == 1 and types[0][1] == "count":
        # printCountProfile: the one sample type is the profile's name.
        return names[0]
    if "inuse_space" in names and set(names) <= _HEAP_TYPES:
        return PROFILE_HEAP
    if ("cpu", "nanoseconds") in types:
        return "cpu"
    if names[:1] == ["contentions"] and "delay" in names:
        return "contention"
    if not types:
        return "unknown"
    return f"{types[0][0]}/{types[0][1]}"


def looks_like_profile(head: bytes, min_fields: int = 2) -> bool:
    """Return True when `head` (the first bytes of a decompressed file) reads as a Profile message.

    Walks the protobuf wire format: every field until `head` ends must be a Profile
    field with its wire type and a length that fits; at least `min_fields` fields (or
    the whole of a shorter message) must be read, and at least one must be a
    sample_type (1) or period_type (11), which every runtime/pprof profile starts with.
    """
    pos, n, seen, typed = 0, len(head), 0, False
    while pos < n:
        key, pos = _varint(head, pos)
        if key is None:
            return seen >= min_fields and typed  # the head ends inside a key
        field, wire = key >> 3, key & 7
        if wire not in _PROFILE_FIELDS.get(field, ()):
            return False
        if wire == 0:
            value, pos = _varint(head, pos)
            if value is None:
                return seen >= min_fields and typed
        else:
            length, pos = _varint(head, pos)
            if length is None:
                return seen >= min_fields and typed
            if field in (1, 11) and length > 64:
                return False  # a ValueType is two small varints
            pos += length
            if pos > n:
                return seen + 1 >= min_fields and (typed or field in (1, 11))
        seen += 1
        typed = typed or field in (1, 11)
    return typed and (seen >= min_fields or pos == n)


def _varint(buf: bytes, pos: int) -> tuple[int | None, int]:
    """Return the varint at `pos` in `buf` and the position after it; None when it is cut or too long."""
    result = shift = 0
    while pos < len(buf) and shift < 64:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
    return None, pos
