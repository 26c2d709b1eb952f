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
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone

from goroscope import growth, stats, words
from goroscope.config import Config
from goroscope.ignore import is_ignored
from goroscope.model import Frame, Kind, Series, Suspect, Timeline, Variant
from goroscope.signature import fingerprint, leak_site
from goroscope.stuck import stuck_verdict

__all__ = ["rank", "stable", "size_class", "severity_key", "order_key"]


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


def _judge(series: Series, group: _Group, config: Config, today: date) -> Suspect | None:
    """Return the Suspect a group makes, or None."""
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
    stuck = stuck_verdict(group.timelines, main, group.site, segs[-1], rc, options)

    if leaked > 0:
        kind = Kind.LEAKED
        score = 0.9 + 0.1 * stats.clamp(math.log10(1 + leaked) / 2.0)
    elif grew.growing and grew.score >= rc.min_score:
        kind, score = Kind.GROWING, grew.score
    elif stuck.stuck and stuck.score >= rc.min_score:
        kind, score = Kind.STUCK, stuck.score
    else:
        return None

    created = _created_by(group.timelines)
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
    if leaked:
        evidence.append(("leaked", float(leaked)))
    if mem is not None:
        evidence.append(("memory_correlation", mem))
    evidence.append(("score", round(score, 4)))

    explanation = _explain(kind, series, group, counts, states, created, grew, stuck, leaked, mem)
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
    )


def _explain(kind, series, group, counts, states, created, grew, stuck, leaked, mem) -> str:
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
        sentence = (
            f"{n} goroutine{'s' if n != 1 else ''} blocked in {what} now, "
            f"{'the oldest' if n != 1 else 'it'} for {math.floor(stuck.minutes)}+ min{since}, {where}{made}"
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


def severity_key(peak: int, kind: str, score: float) -> tuple:
    """Return the one ordering of leaks: size class, then kind (proof first), then score, then size.

    A proven leak of one goroutine therefore ranks below a growing leak of
    hundreds, and above a growing leak of a handful. rank() orders the suspects of
    a series by it; findings.py orders findings by it, with their summed peaks.
    """
    return (-size_class(peak), Kind(kind).order, -score, -int(peak))


def order_key(s: Suspect) -> tuple:
    """Return the ordering key of a suspect: severity_key, then its leak site for a stable order."""
    return (*severity_key(max(s.counts, default=0), s.kind, s.score), s.leak_site.function, s.leak_site.line)


def rank(series: Sequence[Series], config: Config, today: date | None = None) -> list[Suspect]:
    """Return the suspects of every series, ranked within each series, best first."""
    today = today or datetime.now(timezone.utc).date()
    per_series: list[list[Suspect]] = []
    for s in series:
        found = [x for g in _groups(s, config) if (x := _judge(s, g, config, today)) is not None]
        found.sort(key=order_key)
        per_series.append([replace(x, rank=i + 1) for i, x in enumerate(found)])
    where: dict[str, set[str]] = defaultdict(set)
    for found in per_series:
        for x in found:
            where[x.fingerprint].add(x.series)
    out = []
    for found in per_series:
        for x in found:
            others = tuple(sorted(where[x.fingerprint] - {x.series}))
            out.append(replace(x, also_in=others) if others else x)
    return out


def stable(series: Sequence[Series], config: Config, suspects: Sequence[Suspect] | None = None) -> list[tuple[str, Timeline]]:
    """Return (series id, Timeline) of large signatures that are steady, not suspects, biggest first.

    `suspects` is what rank() returned for the same series (computed when not given).
    """
    if suspects is None:
        suspects = rank(series, config)
    flagged = {(x.series, v.signature) for x in suspects for v in x.variants}
    out: list[tuple[str, Timeline]] = []
    for s in series:
        picked = []
        for t in s.timelines:
            if (s.id, t.signature) in flagged or not t.counts:
                continue
            level = stats.median(t.counts)
            if level < config.rank.stable_min_count:
                continue
            if min(t.counts) < 0.5 * level:
                continue  # comes and goes: not a steady part of the process
            picked.append((level, t))
        picked.sort(key=lambda lt: (-lt[0], lt[1].signature.key()))
        out.extend((s.id, t) for _, t in picked[: config.render.max_stable])
    return out
