"""Rank leak suspects: group signatures by cause, judge each group, explain and order.

Contract: `rank(series, config) -> list[Suspect]`, ranked within each series
(rank 1 = worst), series in the order given, best first within each; and
`stable(series, config) -> list[(series id, Timeline)]`, the large signatures that
are steady (not suspects), for the report's collapsed section; `severity_key` and
`order_key`, the one order of leaks every view and findings.py share.

How a signature becomes a suspect (DESIGN.md "Two kinds of suspect"):

- Signatures the ignore rules match (ignore.py) are dropped first.
- Signatures whose leak site is the same function at the same file:line are one
  cause: their counts are summed and judged together, and the Suspect lists them all
  as variants (the largest first). Different lines of one function stay apart.
- *leaked*: goroutines the runtime's goroutineleak profile proved leaked.
- *growing*: the summed counts grow like a leak in some restart segment
  (growth.py: trend, slope, noise, give-back and floor rules).
- *stuck*: the same goroutine ids blocked at the site ever longer, as many as
  what they wait on requires (stuck.py).

Kinds are tried in that order; the first that holds with a score of at least
`rank.min_score` makes the suspect. Its fingerprint (signature.fingerprint) is
line-free, so the same leak is linked across series (`also_in`) and runs.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone

from goroscope import growth, stats, words
from goroscope.config import Config
from goroscope.ignore import is_ignored
from goroscope.model import Frame, Kind, Pool, Series, Signature, Suspect, Timeline, Variant
from goroscope.signature import fingerprint, leak_site
from goroscope.stuck import stuck_ids, stuck_verdict

__all__ = ["rank", "rank_all", "judge_series", "Judged", "Gathered", "Ranked", "pooled", "stable", "size_class", "severity_key", "order_key", "pool_share", "POOL_WEIGHT"]


@dataclass(slots=True)
class _Group:
    """The timelines of one series sharing a leak site."""

    site: Frame
    timelines: list[Timeline] = field(default_factory=list)

    def counts(self, n: int) -> list[int]:
        """Return the summed counts."""
        out = [0] * n
        for t in self.timelines:
            for i, c in enumerate(t.counts[:n]):
                out[i] += c
        return out

    def kept(self, n: int) -> list[int]:
        """Return the summed kept ids (Timeline.kept_ids): -1 where ids could not tell, [] when none carries them."""
        rows = [t.kept_ids for t in self.timelines if len(t.kept_ids) >= n]
        if not rows:
            return []
        return [-1 if rows[0][i] < 0 else sum(r[i] for r in rows) for i in range(n)]


def _groups(series: Series, config: Config) -> list[_Group]:
    """Return the not-ignored timelines of `series` grouped by leak site, largest first."""
    options = config.signature_options()
    by_site: dict[tuple[str, str, int], _Group] = {}
    for t in series.timelines:
        if not t.signature.frames or is_ignored(t, config):
            continue
        site = leak_site(t.signature.frames, options)
        if site is None:
            continue
        g = by_site.setdefault((site.function, site.file, site.line), _Group(site=site))
        g.timelines.append(t)
    for g in by_site.values():
        g.timelines.sort(key=lambda t: (-sum(t.counts), -max(t.counts, default=0), t.signature.key()))
    return list(by_site.values())


def _merged(timelines: Sequence[Timeline], field: str) -> tuple:
    """Return the (key, count) pairs of Timeline `field` (states, labels, states_last, …) over a group, most common first."""
    c: Counter = Counter()
    for t in timelines:
        for key, k in getattr(t, field):
            c[key] += k
    return tuple(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


def _merged_states(timelines: Sequence[Timeline]) -> tuple[tuple[str, int], ...]:
    """Return the states of a group, most common first."""
    return _merged(timelines, "states")


def _created_by(timelines: Sequence[Timeline]) -> Frame | None:
    """Return the created-by frame of the largest variant that has one."""
    for t in timelines:
        if t.created_by is not None:
            return t.created_by
    return None


def _state_phrase(states: Sequence[tuple[str, int]]) -> str:
    """Return '97% blocked in chan send' (or 'blocked' when no state is carried)."""
    if not states:
        return "blocked"
    total = sum(k for _, k in states)
    top, k = states[0]
    pct = round(100.0 * k / total) if total else 100
    return f"{pct}% blocked in {top}" if pct < 100 else f"all blocked in {top}"


def _memory_correlation(series: Series, counts: Sequence[int]) -> float | None:
    """Return the correlation of counts with the heap in use, interpolated at snapshot times."""
    if len(series.memory) < 2:
        return None
    t0 = series.snapshots[0].time
    mx = [(p.time - t0).total_seconds() for p in series.memory]
    my = [float(p.inuse_bytes) for p in series.memory]
    xs, ys = [], []
    for snap, c in zip(series.snapshots, counts):
        v = stats.interpolate(mx, my, (snap.time - t0).total_seconds())
        if v is not None:
            xs.append(float(c))
            ys.append(v)
    r = stats.pearson(xs, ys)
    return None if r is None else round(r, 3)


def _acknowledged(fp: str, config: Config, today: date) -> bool:
    """Return True when `fp` is acknowledged in the config until today or later."""
    return any(a.fingerprint == fp and (a.until is None or a.until >= today) for a in config.acknowledged)


@dataclass(slots=True)
class _SeriesFacts:
    """What judging one group needs to know of its whole series."""

    pools: Counter  # created-by frame -> goroutines created there at the last snapshot (every signature)
    uptime_minutes: float  # the longest wait any goroutine prints at the last snapshot (0 where not carried)
    pool_counts: dict  # created-by frame -> goroutines created there at each snapshot (every signature)


def _series_facts(series: Series) -> _SeriesFacts:
    """Return the pools and seen uptime of `series`."""
    pools: Counter = Counter()
    pool_counts: dict = {}
    uptime = 0.0
    for t in series.timelines:
        if t.created_by is not None and t.counts:
            row = pool_counts.setdefault(t.created_by, [0] * len(t.counts))
            for i, c in enumerate(t.counts):
                row[i] += c
            if t.counts[-1] > 0:
                pools[t.created_by] += t.counts[-1]
        if t.max_wait_minutes and t.max_wait_minutes[-1] is not None:
            uptime = max(uptime, float(t.max_wait_minutes[-1]))
    return _SeriesFacts(pools=pools, uptime_minutes=uptime, pool_counts=pool_counts)


def _fixed_pool(facts: _SeriesFacts, created: Frame, segment: tuple[int, int]) -> bool:
    """Return True when the goroutines of `created`'s `go` statement held their number over the segment: a fixed pool.

    A statement that starts a goroutine per request or batch is no pool: the
    share of it a stuck site holds says nothing of lost capacity.
    """
    row = facts.pool_counts.get(created, [])[segment[0] : segment[1] + 1]
    return bool(row) and max(row) - min(row) <= max(1, 0.1 * max(row))


def _pool_held(facts: _SeriesFacts, created: Frame | None, grew: growth.GrowthVerdict) -> bool:
    """Return True when the goroutines this site gained came out of a pool that did not grow: workers stuck one by one.

    A leak creates the goroutines it strands; a fixed pool whose workers get stuck
    one by one only moves them from their idle site to the stuck one, so its total
    (every goroutine its `go` statement made) stays flat while the stuck site grows.
    """
    g = grew.best
    row = facts.pool_counts.get(created) if created is not None else None
    if g is None or row is None:
        return False
    return row[g.last] - row[g.first] < 0.5 * g.net


def _judge(series: Series, group: _Group, config: Config, today: date, facts: _SeriesFacts | None = None) -> Suspect | None:
    """Return the Suspect a group makes, or None."""
    facts = facts or _series_facts(series)
    rc = config.rank
    options = config.signature_options()
    n = len(series.snapshots)
    main = group.timelines[0]
    counts = group.counts(n)
    times = [s.time for s in series.snapshots]
    segs = [(s.first, s.last) for s in series.segments] or [(0, n - 1)]
    lower = main.lower_bound or tuple(s.truncated for s in series.snapshots)
    states = _merged_states(group.timelines)
    leaked = max(t.leaked for t in group.timelines)

    grew = growth.growth_verdict(counts, times, segs, rc, lower, group.kept(n))
    created = _created_by(group.timelines)
    here = counts[-1] if counts else 0
    pool_size = facts.pools.get(created, 0) if created is not None else 0
    stuck = stuck_verdict(
        group.timelines, main, group.site, segs[-1], rc, options,
        times=times, uptime_minutes=facts.uptime_minutes, siblings=max(0, pool_size - here),
    )

    if leaked > 0:
        kind = Kind.LEAKED
        score = 0.9 + 0.1 * stats.clamp(math.log10(1 + leaked) / 2.0)
    elif stuck.stuck and stuck.score >= rc.min_score and grew.growing and _pool_held(facts, created, grew):
        kind, score = Kind.STUCK, max(stuck.score, grew.score)
    elif grew.growing and grew.score >= rc.min_score:
        kind, score = Kind.GROWING, grew.score
    elif stuck.stuck and stuck.score >= rc.min_score:
        kind, score = Kind.STUCK, stuck.score
    else:
        return None

    # a pool: the goroutines of one `go` statement, some of them elsewhere (siblings);
    # where every one of them is at this site, the site is all there is to size
    pool = (
        Pool(created_by=created, size=pool_size, stuck=stuck.goroutines)
        if kind is Kind.STUCK and created is not None and pool_size > stuck.goroutines > 0 and _fixed_pool(facts, created, segs[-1])
        else None
    )
    waits = [w for t in group.timelines for w in t.max_wait_minutes if w is not None]
    stuck_max = max((m for t in group.timelines for m in t.stuck_minutes), default=0.0)
    max_wait = float(max(max(waits), stuck_max)) if waits else (stuck_max or None)
    mem = _memory_correlation(series, counts)
    best = grew.best
    slope = best.slope_per_hour if best is not None else 0.0

    evidence: list[tuple[str, float]] = []
    if best is not None:
        evidence += [
            ("tau", round(best.tau, 4)),
            ("p", float(f"{best.p:.3g}")),
            ("slope_per_hour", round(best.slope_per_hour, 2)),
            ("net", round(best.net, 2)),
            ("nondecreasing_share", round(best.nondecreasing, 3)),
            ("last_to_max", round(best.last_to_max, 3)),
            ("retained", round(best.retained, 3)),
            ("step_noise", round(best.noise, 2)),
            ("recent_gain", round(best.recent_gain, 2)),
            ("segments_growing", float(sum(1 for g in grew.segments if g.growing))),
            ("segments_judged", float(len(grew.segments))),
            ("lower_bound_points", float(best.lower_bounds)),
        ]
        if best.gave_back >= growth.GIVE_BACK_SHARE:
            evidence += [("gave_back_share", round(best.gave_back, 3)), ("kept_growth", round(best.kept_growth, 2))]
    evidence += [("stuck_goroutines", float(stuck.goroutines)), ("stuck_minutes", round(stuck.minutes, 2))]
    if kind is Kind.STUCK and stuck.by_trend:
        evidence.append(("stuck_by_trend", 1.0))
    if pool is not None:
        evidence += [("pool_size", float(pool.size)), ("pool_share", round(pool.stuck / pool.size, 3))]
    if leaked:
        evidence.append(("leaked", float(leaked)))
    if mem is not None:
        evidence.append(("memory_correlation", mem))
    evidence.append(("score", round(score, 4)))

    explanation = _explain(kind, series, group, counts, states, created, grew, stuck, leaked, mem, pool)
    fp = fingerprint(main.signature, group.site, options)
    variants = tuple(
        Variant(leak_site=leak_site(t.signature.frames, options) or group.site, counts=t.counts, signature=t.signature)
        for t in group.timelines
    )
    return Suspect(
        series=series.id,
        rank=0,
        kind=kind,
        score=round(stats.clamp(score), 4),
        fingerprint=fp,
        leak_site=group.site,
        created_by=created,
        state=states[0][0] if states else None,
        counts=tuple(counts),
        growth_per_hour=round(slope, 2),
        max_wait_minutes=max_wait,
        explanation=explanation,
        stack=main.signature.frames,
        variants=variants,
        states=states,
        labels=_merged(group.timelines, "labels"),
        states_last=_merged(group.timelines, "states_last"),
        labels_last=_merged(group.timelines, "labels_last"),
        evidence=tuple(evidence),
        acknowledged=_acknowledged(fp, config, today),
        memory_correlation=mem,
        evidence_snapshot=main.last_seen if main.last_seen >= 0 else None,
        evidence_ids=main.last_ids,
        state_inferred=bool(states) and _states_inferred(series, counts),
        pool=pool,
        parked_since_start=kind is Kind.STUCK and stuck.parked,
    )


# the forms whose goroutine headers print the wait reason (runtime/traceback.go)
_STATE_FORMS = frozenset({"debug2", "traceback"})


def _states_inferred(series: Series, counts: Sequence[int]) -> bool:
    """Return True when no snapshot holding these goroutines printed their state: it was read from their frames (aggregate.py)."""
    return not any(c > 0 and snap.format in _STATE_FORMS for snap, c in zip(series.snapshots, counts))


def _explain(kind, series, group, counts, states, created, grew, stuck, leaked, mem, pool=None) -> str:
    """Return the one sentence a person can act on."""
    where = f"at {words.short_location(group.site)}"
    made = f" (created at {words.short_location(created)})" if created is not None else ""
    if kind is Kind.LEAKED:
        head = f"{leaked} goroutine{'s' if leaked != 1 else ''} proven leaked by the runtime's goroutineleak profile"
        sentence = f"{head}; {_state_phrase(states)} {where}{made}"
    elif kind is Kind.STUCK:
        since = ""
        if stuck.since is not None:
            t = stuck.since.astimezone(timezone.utc)
            last = series.snapshots[-1].time.astimezone(timezone.utc) if series.snapshots else t
            when = f"{t:%H:%M:%S}" if t.date() == last.date() else f"{t:%Y-%m-%d %H:%M:%S} UTC"
            # only the oldest was there since then: the others joined later, so the
            # sentence dates the oldest and counts the goroutines now, never "all since"
            # (one snapshot cannot follow ids: its time comes from the dump's own minutes)
            since = f" (first seen here at {when})" if len(series.snapshots) > 1 else f" (since about {when} by the dump's own count)"
        what = stuck.state or "a wait"
        n = stuck.goroutines
        of_pool = ""
        if pool is not None:
            # a stuck worker is sized by the share of its pool it takes
            of_pool = f"; {n} of the {pool.size} workers created at {words.short_location(pool.created_by)} ({round(100 * n / pool.size)}% of the pool)"
        parked = " (parked since start-up, unchanged since: not a leak)" if stuck.parked else ""
        sentence = (
            f"{n} goroutine{'s' if n != 1 else ''} blocked in {what} now{parked}, "
            f"{'the oldest' if n != 1 else 'it'} for {math.floor(stuck.minutes)}+ min{since}, {where}{'' if of_pool else made}{of_pool}"
        )
    else:
        g = grew.best
        fell = "never fell" if g.max_drop <= 0 else f"fell back at most {g.max_drop:.0f}"
        if g.gave_back >= growth.GIVE_BACK_SHARE:
            fell += f" (short-lived goroutines at the same site) while its floor rose {g.kept_growth:+.0f}"
        net = counts[g.last] - counts[g.first]
        again = ""
        if grew.regrowths:
            again = f", regrew after {'each of the ' + str(grew.regrowths) + ' restarts' if grew.regrowths > 1 else 'the restart'}"
        sentence = f"{net:+d} goroutines in {words.duration(g.hours * 3600)}, {fell}{again}; {_state_phrase(states)} {where}{made}"
    if mem is not None and mem >= 0.8 and kind is not Kind.STUCK:
        sentence += "; memory grows with it"
    return sentence


def size_class(peak: int) -> int:
    """Return how severe a peak of `peak` goroutines is: its order of magnitude.

    0 for 1–9 goroutines, 1 for 10–99, 2 for 100–999, … A class, not the count
    itself, so that between suspects (or findings) of about the same size the kind
    decides.
    """
    peak = int(peak)
    return len(str(peak)) - 1 if peak > 0 else 0


# A stuck set weighs like this many goroutines times the share of its pool it holds:
# a pool with every worker stuck does no work at all, as grave as a process
# drowning in a thousand leaked goroutines; 5 of 12 workers weigh like hundreds.
POOL_WEIGHT = 1000


def severity_key(peak: int, kind: str, score: float, share: float | None = None) -> tuple:
    """Return the one ordering of leaks: size class, then kind (proof first), then score, then size.

    The size is the peak, or for a stuck set of a known pool the larger of its
    peak and its share of the pool times POOL_WEIGHT (a stuck worker is sized by the
    capacity it takes away, not by its own count). A proven leak of one goroutine
    therefore ranks below a growing leak of hundreds, and above a growing leak of a
    handful. rank() orders the suspects of a series by it; findings.py orders
    findings by it, with their summed peaks and the largest share of their suspects.
    Which leaks are there at all is the evidence rule's (growth.py, pooled() here).
    """
    size = max(int(peak), math.ceil(share * POOL_WEIGHT)) if share else int(peak)
    return (-size_class(size), Kind(kind).order, -score, -int(peak))


def pool_share(s: Suspect) -> float | None:
    """Return the share of its pool a stuck suspect holds, None where no pool is known."""
    return s.pool.stuck / s.pool.size if s.pool is not None and s.pool.size > 0 else None


def order_key(s: Suspect) -> tuple:
    """Return the ordering key of a suspect: severity_key, then its leak site for a stable order."""
    return (*severity_key(max(s.counts, default=0), s.kind, s.score, pool_share(s)), s.leak_site.function, s.leak_site.line)


@dataclass(frozen=True, slots=True)
class Ranked:
    """What ranking a run gives: its suspects, and the sets parked since start-up (never suspects)."""

    suspects: tuple[Suspect, ...]  # every series, ranked within each, best first
    parked: tuple[Suspect, ...]  # kind stuck with parked_since_start, in series order


def rank(series: Sequence[Series], config: Config, today: date | None = None) -> list[Suspect]:
    """Return the suspects of every series, ranked within each series, best first."""
    return list(rank_all(series, config, today).suspects)


def rank_all(series: Sequence[Series], config: Config, today: date | None = None) -> Ranked:
    """Return the suspects of every series (ranked within each, best first) and the parked sets.

    Each series is judged on its own (judge_series: the map a worker runs); then
    growing suspects must hold on the pooled evidence of their service with the run's
    many tests accounted for (pooled()), and a suspect without created-by borrows it
    from a series that has the same stack (Gathered: the reduce).
    """
    today = today or datetime.now(timezone.utc).date()
    gathered = Gathered()
    for i, s in enumerate(series):
        gathered.add(judge_series(s, config, today), order=i)
    return gathered.ranked(series, config)


@dataclass(frozen=True, slots=True, kw_only=True)
class Judged:
    """One series judged on its own: all that ranking across series needs of it, not its timelines."""

    series: str  # the series' id
    found: tuple[Suspect, ...]  # its suspects, before the pooled evidence of its service (pooled())
    parked: tuple[Suspect, ...]  # its sets parked since start-up (never suspects)
    # every group that varies (what pooled() tests): (fingerprint, leak site line) -> (counts, stuck ids per snapshot)
    tested: tuple[tuple[tuple[str, int], tuple[int, ...], tuple[int, ...]], ...]
    # what a suspect of another series may borrow (_borrow_created_by): signature -> its created-by, and its states
    creators: tuple[tuple[Signature, Frame], ...]
    waits: tuple[tuple[Signature, tuple[tuple[str, int], ...]], ...]
    # stable() candidates, biggest first: the steady timelines not parked, of which all that are
    # variants of `found` (pooling may drop those suspects) and `config.render.max_stable` others
    steady: tuple[tuple[float, Timeline], ...]

    def shown(self) -> set[Signature]:
        """Return the signatures whose timelines a report may show: its suspects' and parked sets' variants, its steady ones."""
        return {v.signature for x in (*self.found, *self.parked) for v in x.variants} | {t.signature for _, t in self.steady}


def judge_series(s: Series, config: Config, today: date) -> Judged:
    """Return what `s` gives on its own: its suspects and parked sets, its varying groups, lenders and steady timelines."""
    options = config.signature_options()
    facts = _series_facts(s)
    found: list[Suspect] = []
    parked: list[Suspect] = []
    tested = []
    n = len(s.snapshots)
    for g in _groups(s, config):
        counts = g.counts(n)
        held = stuck_ids(g.timelines, n)
        if counts and (min(counts) != max(counts) or min(held) != max(held)) and not _turns_over(g.kept(n)):
            tested.append(((fingerprint(g.timelines[0].signature, g.site, options), g.site.line), tuple(counts), tuple(held)))
        x = _judge(s, g, config, today, facts)
        if x is None:
            continue
        (parked if x.parked_since_start else found).append(x)
    creators = tuple((t.signature, t.created_by) for t in s.timelines if t.created_by is not None)
    waits = tuple((t.signature, t.states) for t in s.timelines if t.states)
    variants = {v.signature for x in found for v in x.variants}
    steady = _steady(s, config, {v.signature for x in parked for v in x.variants})
    kept = [st for st in steady if st[1].signature in variants]
    others = [st for st in steady if st[1].signature not in variants][: config.render.max_stable]
    return Judged(
        series=s.id, found=tuple(found), parked=tuple(parked), tested=tuple(tested), creators=creators, waits=waits,
        steady=tuple(sorted(kept + others, key=_steady_order)),
    )


class Gathered:
    """The reduce of ranking: every series' Judged, added in any order, then ranked across series.

    Only the Judged are kept, and of their lenders only the first of each signature
    (in series order), so what it holds follows the suspects and the distinct stacks,
    not the files read.
    """

    def __init__(self) -> None:
        """Start with no series."""
        self._parts: dict[str, Judged] = {}
        self._creators: dict[Signature, tuple[object, Frame, str]] = {}  # signature -> (order, created-by, series id)
        self._waits: dict[Signature, tuple[object, tuple, str]] = {}  # signature -> (order, states, series id)

    def add(self, judged: Judged, order: object = None) -> None:
        """Take `judged` (its series' place in the series order is `order`: the series id when not given)."""
        order = judged.series if order is None else order
        self._parts[judged.series] = replace(judged, creators=(), waits=())
        for table, rows in ((self._creators, judged.creators), (self._waits, judged.waits)):
            for sig, value in rows:
                had = table.get(sig)
                if had is None or order < had[0]:  # type: ignore[operator]
                    table[sig] = (order, value, judged.series)

    def ranked(self, series: Sequence[Series], config: Config) -> Ranked:
        """Return the Ranked of `series` (each added before), in their order: pooled evidence, borrowing, also_in."""
        parts = [self._parts[s.id] for s in series]
        per_series = [list(p.found) for p in parts]
        tested = {p.series: {key: (list(c), list(h)) for key, c, h in p.tested} for p in parts}
        per_series = pooled(series, per_series, tested, config)
        creators = {sig: (v, sid) for sig, (_, v, sid) in self._creators.items()}
        waits = {sig: (v, sid) for sig, (_, v, sid) in self._waits.items()}
        per_series = _borrow_created_by(creators, waits, per_series)
        ranked = []
        for found in per_series:
            found.sort(key=order_key)
            ranked.append([replace(x, rank=i + 1) for i, x in enumerate(found)])
        where: dict[str, set[str]] = defaultdict(set)
        for found in ranked:
            for x in found:
                where[x.fingerprint].add(x.series)
        out = []
        for found in ranked:
            for x in found:
                others = tuple(sorted(where[x.fingerprint] - {x.series}))
                out.append(replace(x, also_in=others) if others else x)
        return Ranked(suspects=tuple(out), parked=tuple(p for part in parts for p in part.parked))

    def stable(self, series: Sequence[Series], config: Config, suspects: Sequence[Suspect]) -> list[tuple[str, Timeline]]:
        """Return stable() of `series` (each added before), given what was flagged (`suspects` and parked sets)."""
        flagged = {(x.series, v.signature) for x in suspects for v in x.variants}
        out: list[tuple[str, Timeline]] = []
        for s in series:
            picked = [(level, t) for level, t in self._parts[s.id].steady if (s.id, t.signature) not in flagged]
            out.extend((s.id, t) for _, t in picked[: config.render.max_stable])
        return out


def _turns_over(kept: Sequence[int]) -> bool:
    """Return True when goroutine ids say no goroutine of a signature was ever seen at two snapshots in a row.

    Such a signature cannot be a leak (growth.py's turnover test): it is no test
    of the evidence rule, whatever its counts. The filter does not look at the order
    of the counts, so it leaves the trend tests' p-values as they were.
    """
    known = [k for k in kept if k >= 0]
    return len(known) >= 2 and not any(known)


def _segments(series: Series) -> list[tuple[int, int]]:
    """Return the (first, last) restart segments of `series` (the whole series when none)."""
    n = len(series.snapshots)
    return [(g.first, g.last) for g in series.segments] or [(0, n - 1)]


@dataclass(frozen=True, slots=True)
class _PodTrend:
    """One series' part of a pooled test: its trend, level and recent rise, on its segment with the strongest trend."""

    z: float  # Mann-Kendall z of an upward trend (0 where flat)
    p: float  # its one-sided p
    start: float  # level at the start (median of the first fifth)
    net: float  # level at the end minus at the start (medians of the last and first fifths)
    recent_gain: float  # Theil-Sen gain over the recent half
    noise: float  # step noise (stats.step_noise)


def _pod_trend(series: Series, counts: Sequence[int], rc) -> _PodTrend:
    """Return the _PodTrend of `counts`, on the segment of `series` with the strongest upward trend (the last when none rises)."""
    best = None
    for first, last in _segments(series):
        ys = [float(c) for c in counts[first : last + 1]]
        if len(ys) < max(2, rc.min_snapshots):
            continue
        xs = [float(i) for i in range(len(ys))]
        if len(ys) > stats.MAX_POINTS:
            xs, ys = stats.thin(xs, ys)
        mk = stats.mann_kendall(ys) if min(ys) != max(ys) else None
        k = max(1, len(ys) // 5)
        h = max(3, (len(ys) + 1) // 2)
        start = stats.median(ys[:k])
        pt = _PodTrend(
            z=mk.z if mk else 0.0, p=mk.p_up if mk else 1.0, start=start, net=stats.median(ys[-k:]) - start,
            recent_gain=stats.theil_sen(xs[-h:], ys[-h:]) * (xs[-1] - xs[-h]), noise=stats.step_noise(ys),
        )
        if best is None or pt.z > best.z or (pt.z == best.z and first > 0):
            best = pt
    return best or _PodTrend(z=0.0, p=1.0, start=0.0, net=0.0, recent_gain=0.0, noise=0.0)


# Across the pods of a service, a growing signature must gain at least this share of
# what it held at the start: load moves every goroutine of a service by a share
# (the daily curve, a pool's random walk) and pods drift both ways, so the summed
# levels move by a fraction; a leak adds goroutines that were not there.
MIN_RELATIVE_GROWTH = 0.5


def pooled(
    series: Sequence[Series], per_series: list[list[Suspect]], tested: dict[str, dict[tuple[str, int], tuple[list[int], list[int]]]], config: Config
) -> list[list[Suspect]]:
    """Return `per_series` with the growing suspects that do not hold on the pooled evidence of their service left out.

    The evidence rule across a fleet (README "Evidence"). A signature is one test per
    service group (findings.group_of); the series that enter it are those where it
    varies and where ids do not say that none of its goroutines ever stays
    (_turns_over). Neither filter looks at the order of the counts, so under no trend
    they leave the p-values as they were (independent filtering). Its pooled p-value
    is twice the smaller of Fisher's combination of the series' one-sided
    Mann-Kendall p-values and the smallest of them times their number (_combined):
    a signature rising on the pods where it leaks stands out, one flat on most pods
    and drifting on a few does not, and a strong leak on one pod of many still holds.
    Over all the run's tests the Benjamini-Hochberg procedure keeps the false
    discovery rate at `rank.max_q_value`: a growing suspect is kept where its test's
    q-value is at most that, and where the service's pods, summed, grew materially and
    still rise in their recent halves (_service_grows). A stuck suspect that is stuck
    only because its number of stuck ids grows is held to the same test and the same
    materiality on that number; other stuck and proven suspects rest on goroutine
    ids and the runtime's proof, not on a trend.
    """
    from goroscope.findings import group_of

    rc = config.rank
    pattern = config.discovery.series_pattern
    rx = re.compile(pattern) if pattern else None
    groups = {s.id: group_of(s, rx) for s in series}
    by_id = {s.id: s for s in series}
    members: dict[str, list[str]] = defaultdict(list)
    for s in series:
        members[groups[s.id]].append(s.id)
    # one test per (service group, fingerprint, leak site line): a fingerprint is
    # line-free, and two lines of one function are two causes within one build
    hypotheses = {(groups[sid], key) for sid, keys in tested.items() for key in keys}
    m = max(1, len(hypotheses))
    wanted = {(groups[x.series], (x.fingerprint, x.leak_site.line), _on_trend(x)) for found in per_series for x in found if _on_trend(x)}
    pvalue: dict[tuple, float] = {}
    persists: dict[tuple, bool] = {}
    for g, fp, what in wanted:
        rows = [(sid, tested[sid][fp]) for sid in members[g] if fp in tested.get(sid, {})]
        # (a pod where the signature is absent or flat has ties only: no trend either way)
        if what == "counts":
            pods = [_pod_trend(by_id[sid], counts, rc) for sid, (counts, _) in rows]
            pvalue[(g, fp, what)] = _combined([(t.z, t.p) for t in pods])
            persists[(g, fp, what)] = _service_grows(pods, rc)
        else:
            # stuck only because the number of stuck ids grows: that trend, pooled the same way,
            # and that number, summed over the pods, material and still rising like a growing count
            pvalue[(g, fp, what)] = _combined([_last_segment_trend(by_id[sid], held, rc) for sid, (_, held) in rows])
            persists[(g, fp, what)] = _service_grows([_pod_trend(by_id[sid], held, rc) for sid, (_, held) in rows], rc)
    qvalue = stats.benjamini_hochberg(pvalue, m)
    out = []
    for found in per_series:
        kept = []
        for x in found:
            key = (groups[x.series], (x.fingerprint, x.leak_site.line), _on_trend(x))
            if not _on_trend(x):
                kept.append(x)
            elif qvalue[key] <= rc.max_q_value and persists[key]:
                kept.append(replace(x, evidence=x.evidence + (("pooled_p", float(f"{pvalue[key]:.3g}")), ("q", float(f"{qvalue[key]:.3g}")))))
        out.append(kept)
    return out


def _on_trend(x: Suspect) -> str:
    """Return what trend a suspect rests on: 'counts' (growing), 'stuck' (stuck by a growing number of stuck ids), '' (ids or proof alone)."""
    if x.kind is Kind.GROWING:
        return "counts"
    if x.kind is Kind.STUCK and dict(x.evidence).get("stuck_by_trend"):
        return "stuck"
    return ""


def _last_segment_trend(series: Series, values: Sequence[int], rc) -> tuple[float, float]:
    """Return (Mann-Kendall z, one-sided p) of `values` over the last segment of `series` ((0, 1) where too short or flat)."""
    first, last = _segments(series)[-1]
    ys = [float(v) for v in values[first : last + 1]]
    if len(ys) < max(2, rc.min_snapshots) or min(ys) == max(ys):
        return (0.0, 1.0)
    if len(ys) > stats.MAX_POINTS:
        ys = stats.thin(list(range(len(ys))), ys)[1]
    mk = stats.mann_kendall(ys)
    return (mk.z, mk.p_up)


def _service_grows(pods: Sequence[_PodTrend], rc) -> bool:
    """Return True when the service's pods, summed, grew materially and still rise in their recent halves.

    Material: the summed net growth at least MIN_RELATIVE_GROWTH of the summed
    starting level. Persisting: the summed recent gain beats the pooled step noise
    (about one sigma of a sum of recent gains: a consistency check beside the
    FDR-controlled test), so a ramp then a plateau, which rises early on every pod and
    late only where a pod wandered up by chance, does not. One pod alone is judged by
    growth.py's own rules.
    """
    if len(pods) < 2:
        return True
    net = sum(t.net for t in pods)
    start = sum(max(t.start, 0.0) for t in pods)
    recent = sum(t.recent_gain for t in pods)
    noise = math.sqrt(sum(t.noise**2 for t in pods))
    return net >= MIN_RELATIVE_GROWTH * start and recent >= noise


def _combined(tests: Sequence[tuple[float, float]]) -> float:
    """Return the pooled one-sided p of per-series (z, p) trend tests: twice the smaller of Fisher's and the Bonferroni minimum (1.0 for none)."""
    if not tests:
        return 1.0
    ps = [p for _, p in tests]
    return min(1.0, 2.0 * min(stats.fisher(ps), len(ps) * min(ps)))


def _borrow_created_by(creators: dict, waits: dict, per_series: list[list[Suspect]]) -> list[list[Suspect]]:
    """Return `per_series` with created-by (and a state) filled in, where a suspect lacks it, from a series whose same stack has it.

    debug=1 and the protobuf carry no created-by, and debug=1 hides the runtime
    frames a channel wait is read from; a sibling pod of the same binary dumped as
    debug=2 (or as a protobuf) names them for the very same stack (same frames and
    lines, so the same build). `creators` and `waits` map a signature to (its
    created-by or states, the first series in order that has them). The suspect says
    where created-by was borrowed from (created_by_from); a borrowed state is marked inferred.
    """
    need = {v.signature for found in per_series for x in found if x.created_by is None or x.state is None for v in x.variants}
    if not need:
        return per_series
    out = []
    for found in per_series:
        done = []
        for x in found:
            hit = None if x.created_by is not None else next((creators[v.signature] for v in x.variants if v.signature in creators), None)
            if hit is not None and hit[1] != x.series:
                frame, sid = hit
                made = f" (created at {words.short_location(frame)}, as {sid} shows for the same stack)"
                x = replace(x, created_by=frame, created_by_from=sid, explanation=_with_creator(x.explanation, x.leak_site, made))
            wait = None if x.state is not None else next((waits[v.signature] for v in x.variants if v.signature in waits), None)
            if wait is not None and wait[1] != x.series:
                states, sid = wait
                x = replace(
                    x, state=states[0][0], states=states, state_inferred=True,
                    explanation=x.explanation.replace("; blocked at ", f"; blocked in {states[0][0]} (as {sid} shows for the same stack) at ", 1),
                )
            done.append(x)
        out.append(done)
    return out


def _with_creator(sentence: str, site: Frame, made: str) -> str:
    """Return `sentence` with `made` put right after its 'at <leak site>'."""
    at = f"at {words.short_location(site)}"
    return sentence.replace(at, at + made, 1) if at in sentence else sentence + made


def stable(series: Sequence[Series], config: Config, suspects: Sequence[Suspect] | None = None) -> list[tuple[str, Timeline]]:
    """Return (series id, Timeline) of large signatures that are steady, not suspects, biggest first.

    `suspects` is what rank() returned for the same series (computed when not given).
    """
    if suspects is None:
        suspects = rank(series, config)
    flagged = {(x.series, v.signature) for x in suspects for v in x.variants}
    out: list[tuple[str, Timeline]] = []
    for s in series:
        picked = _steady(s, config, {sig for sid, sig in flagged if sid == s.id})
        out.extend((s.id, t) for _, t in picked[: config.render.max_stable])
    return out


def _steady(s: Series, config: Config, flagged: set) -> list[tuple[float, Timeline]]:
    """Return (level, Timeline) of every large, steady signature of `s` not in `flagged`, biggest first."""
    picked = []
    for t in s.timelines:
        if t.signature in flagged or not t.counts:
            continue
        level = stats.median(t.counts)
        if level < config.rank.stable_min_count:
            continue
        if min(t.counts) < 0.5 * level:
            continue  # comes and goes: not a steady part of the process
        picked.append((level, t))
    picked.sort(key=_steady_order)
    return picked


def _steady_order(lt: tuple[float, Timeline]) -> tuple:
    """Return where a steady (level, Timeline) goes: biggest first, then by signature."""
    return (-lt[0], lt[1].signature.key())
