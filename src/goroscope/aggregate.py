"""Reduce a parsed Snapshot to a Summary: signature counts and the goroutine ids of each.

Contract: `aggregate(snapshot, options) -> Summary`, and `merge(parts) -> Summary`
for the Summaries of consecutive byte ranges of one big dump parsed apart:
`split_points(source, parts, min_part_bytes)` plans those ranges (each starts at a
goroutine header) and `merge_parts(source, results)` joins what they parsed to. The Summary is all later stages
see of a file (and what the cache stores), so it keeps per signature the count, the
states, the most common created-by, the label sets, the goroutines flagged
`(leaked)` and the longest wait; and per goroutine id (text forms only) the signature
it is at, its state and its minutes, for stuck detection.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import replace
from itertools import accumulate
from operator import attrgetter, itemgetter, methodcaller, neg

from goroscope.codec import record_builder
from goroscope.errors import DumpError
from goroscope.ingest.archive import DEFAULT_MAX_INFLATE, GZIP_MAGIC, open_source
from goroscope.ingest.parts import all_unique, count_dumps
from goroscope.ingest.traceback import Goroutines
from goroscope.model import (
    PROFILE_GOROUTINELEAK,
    Frame,
    Goroutine,
    Problem,
    Signature,
    Skipped,
    Snapshot,
    Source,
    StackCount,
    Summary,
)
from goroscope.signature import DEFAULT_OPTIONS, Options, inferred_state, signature_of

__all__ = ["aggregate", "merge", "floor_counts", "split_points", "merge_parts", "SPLIT_MIN_PART_BYTES"]

# A plain debug=2 dump at least this big per core is parsed in byte ranges on every
# core (when there are fewer files to parse than cores): one 600 MB dump of a big
# service otherwise keeps one core busy while the other idles.
SPLIT_MIN_PART_BYTES = 32 * 1024 * 1024

_GROUP = attrgetter("group")  # of a parser's stack (ingest.traceback.Goroutines)
_DETAIL = attrgetter("detail")  # of a parser's header
_MINUTES = attrgetter("minutes")  # of a parser's header
_KEY = methodcaller("key")  # of a Signature
_COUNT = itemgetter(1)
# signature options -> {id(frames tuple): (the tuple, its Signature)}: what aggregate() learnt, kept
# for the next dump this process reads (bounded)
_SIG_BY_ID: dict[Options, dict[int, tuple[tuple[Frame, ...], Signature]]] = {}
_FRAMES_AT: dict[tuple[str, str, int], Frame] = {}  # one Frame per created-by position (bounded)


def _frame_at(function: str, file: str, line: int) -> Frame:
    """Return the one Frame of a created-by position, made once per process."""
    k = (function, file, line)
    f = _FRAMES_AT.get(k)
    if f is None:
        if len(_FRAMES_AT) > 100_000:
            _FRAMES_AT.clear()
        f = _FRAMES_AT[k] = Frame(function=function, file=file, line=line)
    return f


class _Acc:
    __slots__ = ("count", "states", "labels", "leaked", "max_wait", "ids", "waits")

    def __init__(self) -> None:
        self.count = 0
        self.states: dict[str, int] = {}
        self.labels: dict[tuple, int] = {}
        self.leaked = 0
        self.max_wait: int | None = None
        self.ids: list[int] = []
        self.waits: list[int] = []


def aggregate(snapshot: Snapshot, options: Options = DEFAULT_OPTIONS) -> Summary:
    """Return the Summary of `snapshot` under signature `options`."""
    # frames tuples are shared between identical goroutines (the parsers intern them, across
    # the dumps a process reads), so the signature is computed once per distinct stack
    sig_cache = _SIG_BY_ID.get(options)
    if sig_cache is None or len(sig_cache) > 200_000:
        _SIG_BY_ID.clear()
        sig_cache = _SIG_BY_ID[options] = {}

    def sig_for(frames: tuple[Frame, ...]) -> Signature:
        """Return the signature of `frames`, computed once per frames object."""
        hit = sig_cache.get(id(frames))
        if hit is not None and hit[0] is frames:
            return hit[1]
        sig = signature_of(frames, options)
        sig_cache[id(frames)] = (frames, sig)  # holding the tuple keeps its id from being reused
        return sig

    text_form = bool(snapshot.goroutines)
    stacks, max_id = _goroutine_stacks(snapshot.goroutines, sig_for) if text_form else ((), None)
    if snapshot.records:
        stacks = _record_stacks(snapshot, stacks, sig_for, options, text_form)
    counted = sum(s.count for s in stacks)
    return Summary(
        format=snapshot.format,
        profile=snapshot.profile,
        go_version=snapshot.go_version,
        total=counted,
        header_total=snapshot.total,
        truncated=snapshot.truncated,
        crash=snapshot.crash,
        time=snapshot.time,
        heap_inuse_bytes=snapshot.heap_inuse_bytes,
        stacks=stacks,
        max_id=max_id,
        problems=snapshot.problems,
        dumps=snapshot.dumps,
    )


def _record_stacks(snapshot: Snapshot, stacks: tuple[StackCount, ...], sig_for, options: Options, text_form: bool) -> tuple[StackCount, ...]:
    """Return the StackCounts of `snapshot`'s aggregated records (debug=1, protobuf), added to `stacks`
    (those of its goroutines: none, as no parser gives both)."""
    accs: dict[Signature, _Acc] = defaultdict(_Acc)
    best: dict[Signature, tuple[int, Frame | None]] = {}
    _add_stacks(accs, best, stacks)
    leak_profile = snapshot.profile == PROFILE_GOROUTINELEAK
    waits: dict[int, str | None] = {}
    for r in snapshot.records:
        sig = sig_for(r.frames)
        a = accs[sig]
        a.count += r.count
        # debug=1 and the protobuf print no state: the wait reason their frames tell
        # (signature.inferred_state) stands in, and the report marks it as inferred
        fid = id(r.frames)
        if fid not in waits:
            waits[fid] = inferred_state(r.frames, options)
        if w := waits[fid]:
            a.states[w] = a.states.get(w, 0) + r.count
        if r.labels:
            a.labels[r.labels] = a.labels.get(r.labels, 0) + r.count
        if leak_profile:
            # the goroutineleak profile lists only goroutines the runtime proved leaked
            a.leaked += r.count
    return _stack_counts(accs, {sig: frame for sig, (_, frame) in best.items()}, text_form)


def _goroutine_stacks(goroutines: Sequence[Goroutine], sig_for) -> tuple[tuple[StackCount, ...], int | None]:
    """Return the StackCounts of `goroutines`, largest first (ties by signature key), and the highest id (None if none).

    Hundreds of thousands of goroutines share a few hundred stacks, so nothing here
    is done per goroutine in Python: the parser's columns (ingest.traceback.Goroutines:
    ids, headers and stacks) are counted with Counter per stack group (frames and
    created-by position) and per (signature, header detail: state, labels, flags),
    objects shared by the goroutines printed alike; each signature's ids are a slice
    of the ids put in signature order by one stable sort. The result is the one a
    loop over the goroutines in dump order gives, tie order of created-by counts
    included: a signature's created-by is its most common position, the first seen
    among equals (as Counter.most_common(1)).
    """
    ids, headers, stacks = Goroutines.of(goroutines).columns()
    groups = list(map(_GROUP, stacks))
    slot: dict[object, int] = {}  # stack group -> signature number
    numbers: dict[Signature, int] = {}
    sigs: list[Signature] = []  # by signature number, in first-seen order
    sizes: list[int] = []  # goroutines per signature number
    created: list[dict[tuple[str, str, int], int]] = []  # per signature number: created-by position -> goroutines
    for group, c in Counter(groups).items():  # each distinct group, in first-seen order
        sig = sig_for(group.frames)
        k = numbers.get(sig)
        if k is None:
            k = numbers[sig] = len(sigs)
            sigs.append(sig)
            sizes.append(c)
            created.append({})
        else:
            sizes[k] += c
        slot[group] = k
        at = group.at
        if at is not None:  # a created-by counts by its position, whatever the parent id
            cr = created[k]
            cr[at] = cr.get(at, 0) + c
    nums = list(map(slot.__getitem__, groups))
    # state, labels and flags: counted per signature and detail, read once each
    states: list[dict[str, int]] = [{} for _ in sigs]
    labels: list[dict[tuple, int]] = [{} for _ in sigs]
    leaked = [0] * len(sigs)
    for (k, d), c in Counter(zip(nums, map(_DETAIL, headers))).items():
        st = states[k]
        st[d.state] = st.get(d.state, 0) + c
        if d.labels:
            lb = labels[k]
            lb[d.labels] = lb.get(d.labels, 0) + c
        if "leaked" in d.flags:
            leaked[k] += c
    waits = list(map(_MINUTES, headers))
    if len(sigs) > 1:
        order = sorted(range(len(nums)), key=nums.__getitem__)  # stable: dump order within a signature
        ids = list(map(ids.__getitem__, order))
        waits = list(map(waits.__getitem__, order))
    has_none = None in ids
    starts = list(accumulate(sizes, initial=0))
    out = []
    make = _stack_count
    # largest first, ties by signature key
    for _, _, k in sorted(zip(map(neg, sizes), map(_KEY, sigs), range(len(sigs)))):
        i, w = ids[starts[k] : starts[k + 1]], waits[starts[k] : starts[k + 1]]
        top = max(w)
        if has_none:
            pairs = [(gid, wt) for gid, wt in zip(i, w) if gid is not None]
            i = [gid for gid, _ in pairs]
            w = [wt for _, wt in pairs]
        cr = created[k]
        at = (next(iter(cr)) if len(cr) == 1 else max(cr.items(), key=_COUNT)[0]) if cr else None
        st = states[k]
        lb = labels[k]
        out.append(
            make(
                sigs[k], sizes[k], tuple(st.items()) if len(st) < 2 else _most_first(st), None if at is None else _frame_at(*at),
                tuple(lb.items()) if len(lb) < 2 else _most_first(lb), leaked[k], top, tuple(i), tuple(w),
            )
        )
    known = [gid for gid in ids if gid is not None] if has_none else ids
    return tuple(out), (max(known) if known else None)


def _add_stacks(accs: dict[Signature, _Acc], best: dict[Signature, tuple[int, Frame | None]], stacks: Sequence[StackCount]) -> None:
    """Add `stacks` (of one dump, or one part of it) to `accs`; `best`: each signature's created-by of the largest count so far."""
    for sc in stacks:
        a = accs[sc.signature]
        a.count += sc.count
        for state, n in sc.states:
            a.states[state] = a.states.get(state, 0) + n
        for labels, n in sc.labels:
            a.labels[labels] = a.labels.get(labels, 0) + n
        a.leaked += sc.leaked
        if sc.max_wait_minutes is not None:
            a.max_wait = sc.max_wait_minutes if a.max_wait is None else max(a.max_wait, sc.max_wait_minutes)
        a.ids.extend(sc.ids)
        a.waits.extend(sc.waits)
        if sc.created_by is not None and sc.count > best.get(sc.signature, (0, None))[0]:
            best[sc.signature] = (sc.count, sc.created_by)


def merge(parts: Sequence[Summary], line_offsets: Sequence[int] | None = None) -> Summary:
    """Return the Summary of one dump from the Summaries of its consecutive `parts`.

    The parts are byte ranges cut at goroutine headers and parsed apart (a big dump
    on several cores); `line_offsets[i]` is the number of lines before part i, added
    to its problems' line numbers. Counts, states, labels, leaked flags and ids add up
    and keep dump order; a signature's created-by is the one of the part holding
    most of its goroutines (a Summary keeps only the most common one, and a
    signature has one `go` statement in all but contrived programs).
    """
    if len(parts) == 1:
        return parts[0]
    offsets = list(line_offsets) if line_offsets is not None else [0] * len(parts)
    accs: dict[Signature, _Acc] = defaultdict(_Acc)
    best: dict[Signature, tuple[int, Frame | None]] = {}
    text_form = any(p.max_id is not None for p in parts)
    for part in parts:
        _add_stacks(accs, best, part.stacks)
    stacks = _stack_counts(accs, {sig: frame for sig, (_, frame) in best.items()}, text_form)
    first = parts[0]
    ids = [p.max_id for p in parts if p.max_id is not None]
    return Summary(
        format=first.format,
        # only the part holding the profile writer's own goroutine can tell a goroutineleak dump
        profile=PROFILE_GOROUTINELEAK if any(p.profile == PROFILE_GOROUTINELEAK for p in parts) else first.profile,
        go_version=next((p.go_version for p in parts if p.go_version), None),
        total=sum(sc.count for sc in stacks),
        header_total=next((p.header_total for p in parts if p.header_total is not None), None),
        truncated=any(p.truncated for p in parts),
        crash=any(p.crash for p in parts),
        time=next((p.time for p in parts if p.time is not None), None),
        heap_inuse_bytes=first.heap_inuse_bytes,
        stacks=stacks,
        max_id=max(ids) if ids else None,
        dumps=_dumps(parts),
        problems=tuple(pr.below(off) for part, off in zip(parts, offsets) for pr in part.problems),
    )


def _dumps(parts: Sequence[Summary]) -> int:
    """Return how many dumps the consecutive `parts` of one file hold as far as they tell: one when each
    holds one and no goroutine id is in two of them, else -1 (merge_parts counts them in the file)."""
    if any(p.dumps > 1 for p in parts):
        return -1
    if not any(p.dumps for p in parts):
        return 0  # a crash traceback: never cut
    return 1 if all_unique(i for p in parts for sc in p.stacks for i in sc.ids) else -1


def floor_counts(primary: Summary, complete: Summary) -> Summary:
    """Return `primary` (a truncated dump) with its counts raised to those of `complete`.

    net/http/pprof cuts debug=2 at 64 MiB while the debug=1 or protobuf profile of the
    same moment is whole: each signature counts at least as many goroutines as the
    complete form shows, and signatures only it shows are added (without ids). The
    primary's states, created-by, ids and its `truncated` flag stay as they were.
    """
    whole = {sc.signature: sc.count for sc in complete.stacks}
    stacks = []
    for sc in primary.stacks:
        n = whole.pop(sc.signature, 0)
        stacks.append(sc if n <= sc.count else replace(sc, count=n))
    stacks.extend(StackCount(signature=sig, count=n) for sig, n in whole.items())
    stacks.sort(key=lambda sc: (-sc.count, sc.signature.key()))
    return replace(primary, stacks=tuple(stacks), total=sum(sc.count for sc in stacks), header_total=primary.header_total or complete.header_total)


def _most_first(counts: dict) -> tuple:
    """Return the (key, count) pairs of `counts`, largest count first (ties by key)."""
    if len(counts) < 2:
        return tuple(counts.items())
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _stack_counts(accs: dict[Signature, _Acc], created: dict[Signature, Frame | None], text_form: bool) -> tuple[StackCount, ...]:
    """Return the StackCounts of `accs`, largest first (ties by signature key); `created`: each one's created-by."""
    ordered = sorted(accs.items(), key=lambda kv: (-kv[1].count, kv[0].key()))
    return tuple(
        _stack_count(sig, a.count, _most_first(a.states), created.get(sig), _most_first(a.labels), a.leaked,
                     a.max_wait if text_form else None, tuple(a.ids), tuple(a.waits))
        for sig, a in ordered
    )


# A StackCount from its fields in order, through codec's builder: a frozen record's dataclass __init__ sets
# each field through object.__setattr__, the builder fills the slots through their descriptors, at a third
# of the cost (dozens of signatures in each of ten thousand small dumps)
_stack_count = record_builder(StackCount)


# ------------------------------------------------------------------ byte ranges


def split_points(source: Source, parts: int, min_part_bytes: int) -> list[tuple[int, int]] | None:
    """Return `parts` byte ranges of `source` that each start at a goroutine header, or None.

    Only a plain text dump on disk (not gzipped, not an archive member, not one of a
    file's back-to-back dumps) of at least
    `parts * min_part_bytes` bytes is split, so that one huge debug=2 dump can be
    parsed on several cores; each range but the last ends with the blank line that
    closes a goroutine. None where splitting does not apply or finds no boundary.
    """
    if parts < 2 or source.member is not None or source.line_prefix is not None or source.part is not None or source.format not in ("debug2", "traceback"):
        return None
    size = source.size
    if size < parts * min_part_bytes:
        return None
    starts = [0]
    try:
        if _read_span(source, 0, 2) == GZIP_MAGIC:
            return None
        for i in range(1, parts):
            at = max(size * i // parts, starts[-1] + 1)
            k = _read_span(source, at, at + (4 << 20)).find(b"\n\ngoroutine ")
            if k < 0:
                break
            starts.append(at + k + 2)
    except DumpError:
        return None
    if len(starts) < 2:
        return None
    return [(a, b) for a, b in zip(starts, starts[1:] + [size])]


def merge_parts(source: Source, slots: Sequence[tuple[tuple[int, int], Summary | Skipped]]) -> Summary | Skipped:
    """Return the Summary of `source` from the results of its byte ranges, in file order.

    A range that failed becomes a Problem naming its bytes; only when every one failed
    is the file Skipped (with the first one's reason)."""
    good = [(span, r) for span, r in slots if not isinstance(r, Skipped)]
    if not good:
        return slots[0][1]
    extra = tuple(
        Problem(line=None, message=f"bytes {span[0]}-{span[1]}: {r.reason}") for span, r in slots if isinstance(r, Skipped)
    )
    offsets = [0] * len(good)
    if any(r.problems for (span, r) in good[1:]):
        offsets = [_lines_before(source, span[0]) for span, _ in good]
    merged = merge([r for _, r in good], offsets)
    if merged.dumps < 0:
        # a goroutine id in two ranges: dumps back to back, cut where ids repeat (ingest.parts)
        with open_source(source, DEFAULT_MAX_INFLATE) as f:
            merged = replace(merged, dumps=count_dumps(f))
    return replace(merged, problems=merged.problems + extra) if extra else merged


def _lines_before(source: Source, offset: int) -> int:
    """Return how many lines of the plain file `source` lie before byte `offset` (problems' line numbers)."""
    n = 0
    with open_source(source, DEFAULT_MAX_INFLATE, span=(0, offset)) as f:  # a plain byte range: nothing to inflate
        while chunk := f.read(1 << 24):
            n += chunk.count(b"\n")
    return n


def _read_span(source: Source, start: int, end: int) -> bytes:
    """Return bytes [start, end) of the plain file `source` (fewer at its end); raise DumpError."""
    with open_source(source, DEFAULT_MAX_INFLATE, span=(start, end)) as f:
        return f.read()
