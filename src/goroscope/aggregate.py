"""Reduce a parsed Snapshot to a Summary: signature counts and the goroutine ids of each.

Contract: `aggregate(snapshot, options) -> Summary`. The Summary is all later stages
see of a file (and what the cache stores), so it keeps per signature the count, the
states, the most common created-by, the label sets, the goroutines flagged
`(leaked)` and the longest wait; and per goroutine id (text forms only) the signature
it is at, its state and its minutes, for stuck detection.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from goroscope.model import (
    PROFILE_GOROUTINELEAK,
    Frame,
    Signature,
    Snapshot,
    StackCount,
    Summary,
)
from goroscope.signature import DEFAULT_OPTIONS, Options, signature_of

__all__ = ["aggregate"]


class _Acc:
    __slots__ = ("count", "states", "created", "labels", "leaked", "max_wait", "ids", "waits")

    def __init__(self) -> None:
        self.count = 0
        self.states: Counter[str] = Counter()
        self.created: Counter[Frame] = Counter()
        self.labels: Counter[tuple] = Counter()
        self.leaked = 0
        self.max_wait: int | None = None
        self.ids: list[int] = []
        self.waits: list[int] = []


def aggregate(snapshot: Snapshot, options: Options = DEFAULT_OPTIONS) -> Summary:
    """Return the Summary of `snapshot` under signature `options`."""
    accs: dict[Signature, _Acc] = defaultdict(_Acc)
    max_id: int | None = None
    # frames tuples are shared between identical goroutines (the parsers intern them),
    # so the signature is computed once per distinct stack
    sig_cache: dict[int, tuple[tuple[Frame, ...], Signature]] = {}

    def sig_for(frames: tuple[Frame, ...]) -> Signature:
        hit = sig_cache.get(id(frames))
        if hit is not None and hit[0] is frames:
            return hit[1]
        sig = signature_of(frames, options)
        sig_cache[id(frames)] = (frames, sig)
        return sig

    text_form = bool(snapshot.goroutines)
    for g in snapshot.goroutines:
        sig = sig_for(g.frames)
        a = accs[sig]
        a.count += 1
        a.states[g.state] += 1
        if g.created_by is not None:
            a.created[g.created_by.frame()] += 1
        if g.labels:
            a.labels[g.labels] += 1
        if "leaked" in g.flags:
            a.leaked += 1
        a.max_wait = g.wait_minutes if a.max_wait is None else max(a.max_wait, g.wait_minutes)
        if g.id is not None:
            a.ids.append(g.id)
            a.waits.append(g.wait_minutes)
            if max_id is None or g.id > max_id:
                max_id = g.id
    leak_profile = snapshot.profile == PROFILE_GOROUTINELEAK
    for r in snapshot.records:
        sig = sig_for(r.frames)
        a = accs[sig]
        a.count += r.count
        if r.labels:
            a.labels[r.labels] += r.count
        if leak_profile:
            # the goroutineleak profile lists only goroutines the runtime proved leaked
            a.leaked += r.count

    ordered = sorted(accs.items(), key=lambda kv: (-kv[1].count, kv[0].key()))
    stacks = tuple(
        StackCount(
            signature=sig,
            count=a.count,
            states=tuple(sorted(a.states.items(), key=lambda kv: (-kv[1], kv[0]))),
            created_by=a.created.most_common(1)[0][0] if a.created else None,
            labels=tuple(sorted(a.labels.items(), key=lambda kv: (-kv[1], kv[0]))),
            leaked=a.leaked,
            max_wait_minutes=a.max_wait if text_form else None,
            ids=tuple(a.ids),
            waits=tuple(a.waits),
        )
        for sig, a in ordered
    )
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
    )
