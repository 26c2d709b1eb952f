"""Series -> SeriesView: one series' chart, legend, suspects, snapshots and facts; the stable signatures.

Contract: `series_views(report, paired, config)` returns one SeriesView per series of
`report`, in id order; `paired` is what view_suspect.suspect_views returned, so
a series lists the very SuspectView objects of the report-wide table (by rank in
the series). `stable_views(report, config)` lists the large steady signatures.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from goroscope import signature as sig
from goroscope import words
from goroscope.config import Config
from goroscope.correlate import LAST_ROWS, digest
from goroscope.findings import group_of
from goroscope.model import Report, Series, Signature, Suspect, Timeline
from goroscope.render import charts
from goroscope.render.view import InputRow, LegendEntry, SeriesView, SkippedGroup, SignatureRow, SnapshotRow, StableView, SuspectView
from goroscope.render.view_suspect import counts_label, series_events, series_restarts, stack_views

__all__ = ["series_views", "stable_views", "series_facts", "input_rows", "skipped_groups", "quiet_line", "covered_line", "MAX_INPUT_ROWS", "MAX_LISTED_SNAPSHOTS"]

_ACTIVE = ("running", "runnable", "syscall")  # states of goroutines that are not parked


def _snapshot_rows(series: Series) -> tuple[SnapshotRow, ...]:
    """Return the inputs table of one series."""
    rows = []
    for i, snap in enumerate(series.snapshots):
        flags = []
        if snap.truncated:
            flags.append("truncated (count is a lower bound)")
        if snap.crash:
            flags.append("crash dump")
        rows.append(
            SnapshotRow(
                index=i,
                time=f"{words.utc(snap.time):%Y-%m-%d %H:%M:%S}",
                time_source=snap.time_source,
                source=snap.source,
                others=tuple(x for x in snap.sources if x != snap.source),
                format=snap.format,
                goroutines=words.num(snap.goroutines),
                flags=", ".join(flags),
                problems=tuple(snap.problems),
            )
        )
    return tuple(rows)


def series_facts(series: Series, config: Config) -> str:
    """Return one line of a series' facts: snapshots, totals and their rate, share parked, restarts."""
    states = dict(digest(series, config).states)
    totals = series.totals or tuple(s.goroutines for s in series.snapshots)
    facts = [words.plural(len(series.snapshots), "snapshot")]
    if len(totals) >= 2:
        first, last = totals[0], totals[-1]
        span_h = (series.snapshots[-1].time - series.snapshots[0].time).total_seconds() / 3600
        rate = f" ({words.growth((last - first) / span_h)})" if span_h > 0 and last != first else ""
        if series.time_uncertain:
            rate = f" ({words.TIME_UNCERTAIN})"
        facts.append(f"goroutines {words.num(first)} → {words.num(last)}{rate}")
    carried = sum(states.values())
    if carried:
        active = sum(n for st, n in states.items() if st.split(" (")[0] in _ACTIVE)
        facts.append(f"{100 * (carried - active) / carried:.0f}% parked")
    if len(series.segments) > 1:
        facts.append(words.plural(len(series.segments) - 1, "restart"))
    trunc = sum(s.truncated for s in series.snapshots)
    if trunc:
        facts.append(f"{trunc} truncated")
    return ", ".join(facts)


def _memory(se: Series, restarts) -> tuple[charts.Chart | None, str]:
    """Return the heap chart of a series and its 'first → last' range ('' without heap profiles)."""
    if not se.memory:
        return None, ""
    mtimes = [m.time for m in se.memory]
    mib = [m.inuse_bytes / 2**20 for m in se.memory]
    chart = charts.line_chart(
        title=f"heap in use of {se.id} over time",
        times=mtimes,
        lines=[("heap in use", mib, charts.MEMORY_COLOR, 2.0)],
        y_label="heap in use (MiB)",
        restarts=restarts,
        width=420,
    )
    lo, hi = min(se.memory, key=lambda m: m.time), max(se.memory, key=lambda m: m.time)
    return chart, f"{words.mib(lo.inuse_bytes)} → {words.mib(hi.inuse_bytes)}"


def _flags(se: Series) -> str:
    """Return the series' caveats: truncated snapshots and crash dumps."""
    trunc = sum(snap.truncated for snap in se.snapshots)
    crash = sum(snap.crash for snap in se.snapshots)
    parts = []
    if trunc:
        parts.append(f"{words.plural(trunc, 'truncated snapshot')} (counts are lower bounds)")
    if crash:
        parts.append(words.plural(crash, "crash dump"))
    return "; ".join(parts)


def _legend_with_overlaps(legend: list[LegendEntry], chart: charts.Chart) -> list[LegendEntry]:
    """Return `legend` (one entry per line of `chart`, in order) naming each line drawn over an identical one."""
    out = []
    for entry, line in zip(legend, chart.lines):
        if line.same_as is not None:
            entry = replace(entry, label=f"{entry.label}: same counts as {line.same_as}, drawn dashed over it", dashed=True)
        out.append(entry)
    return out


MAX_SIGNATURES = LAST_ROWS  # rows of a series' all-signatures table (a 200k-goroutine dump has thousands)
MAX_SIGNATURES_FLEET = 15  # the same where more than FLEET_SECTIONS series have suspects (a section each)
FLEET_SECTIONS = 6


def _signature_rows(se: Series, local: Sequence[tuple[Suspect, SuspectView]], config: Config, cap: int = MAX_SIGNATURES) -> tuple[tuple[SignatureRow, ...], int, int]:
    """Return the all-signatures rows of the last snapshot of `se` (from its digest), how many there are, how many more.

    The analysis already holds them: each signature's last count and last-snapshot
    state (correlate.digest_of); the frame shown is the one the leak-site rule picks (the first
    application frame that is not a configured wrapper, else the entry frame).
    """
    if not se.snapshots:
        return (), 0, 0
    suspect_of = {Signature(frames=tuple(s.stack)): f"#{s.rank}" for s, _ in local}
    d = digest(se, config)
    rows = []
    for r in d.last[:cap]:
        rows.append(
            SignatureRow(
                count=words.num(r.count),
                count_value=r.count,
                state=r.state or "—",
                function=r.function or "—",
                location=r.location or "—",
                suspect=suspect_of.get(r.signature) if r.signature is not None else None,
            )
        )
    return tuple(rows), d.present, max(d.present - cap, 0)


def _role(local: Sequence[tuple[Suspect, SuspectView]], alone: set[str]) -> str:
    """Return a series' role: shown (a suspect of a finding of this series alone), covered (all in wider findings), quiet."""
    if not local:
        return "quiet"
    return "shown" if any(s.fingerprint in alone for s, _ in local) else "covered"


def series_views(report: Report, paired: Sequence[tuple[Suspect, SuspectView]], config: Config) -> tuple[SeriesView, ...]:
    """Return the view of every series of `report`, with its suspects from `paired`, its service group and role."""
    mine: dict[str, list[tuple[Suspect, SuspectView]]] = {}
    for s, v in paired:
        mine.setdefault(s.series, []).append((s, v))
    pattern = config.discovery.series_pattern
    rx = re.compile(pattern) if pattern else None
    alone = {f.fingerprint for f in report.findings if len(f.series) == 1}
    # a fleet's HTML holds a section per series with suspects: each lists fewer signatures
    cap = MAX_SIGNATURES if len(mine) <= FLEET_SECTIONS else MAX_SIGNATURES_FLEET
    out = []
    for i, se in enumerate(report.series, start=1):
        times = [snap.time for snap in se.snapshots]
        local = sorted(mine.get(se.id, ()), key=lambda sv: sv[0].rank)
        totals = list(se.totals) if se.totals else [snap.goroutines for snap in se.snapshots]
        lines = [("all goroutines", totals, charts.TOTAL_COLOR, 3.0)]
        legend = [LegendEntry(label="all goroutines", color=charts.TOTAL_COLOR)]
        for s, v in local:
            lines.append((f"#{v.rank} {v.short_location}", list(s.counts[: len(times)]), v.color, 2.0))
            legend.append(LegendEntry(label=f"#{v.rank} {v.function} ({v.short_location})", color=v.color, anchor=v.anchor))
        restarts = series_restarts(se)
        mem_chart, mem_range = _memory(se, restarts)
        segs = ", ".join(f"{g.first}–{g.last}" for g in se.segments)
        n_restarts = max(len(se.segments) - 1, 0)
        chart = charts.line_chart(
            title=f"goroutines of {se.id} over time", times=times, lines=lines, y_label="goroutines", restarts=restarts,
            events=series_events(se),
        )
        legend = _legend_with_overlaps(legend, chart)
        sig_rows, sig_count, sig_more = _signature_rows(se, local, config, cap)
        out.append(
            SeriesView(
                id=se.id,
                anchor=f"series-{i}",
                snapshots=words.num(len(se.snapshots)),
                span=words.span(times),
                formats=", ".join(dict.fromkeys(snap.format for snap in se.snapshots)) or "—",
                restarts=f"{words.plural(n_restarts, 'restart')} (segments {segs})" if n_restarts else "",
                chart=chart,
                legend=tuple(legend),
                memory_chart=mem_chart,
                memory_range=mem_range,
                suspects=tuple(v for _, v in local),
                rows=_snapshot_rows(se),
                leak_profiles=tuple(se.leak_profiles),
                flags=_flags(se),
                facts=series_facts(se, config),
                signatures=sig_rows,
                signatures_count=words.num(sig_count),
                signatures_more=sig_more,
                signatures_when=f"of the last snapshot ({words.utc(se.snapshots[-1].time):%H:%M:%S} UTC)" if se.snapshots else "",
                group=group_of(se, rx),
                role=_role(local, alone),
            )
        )
    return tuple(out)


def _top_state(t: Timeline) -> str:
    """Return the most common state of a timeline, or '—'."""
    return t.states[0][0] if t.states else "—"


def stable_views(report: Report, config: Config) -> tuple[tuple[StableView, ...], int]:
    """Return the large stable signatures to list, and how many more there are."""
    limit = max(config.render.max_stable, 0)
    items = sorted(report.stable, key=lambda st: (-max(st[1].counts or (0,)), st[0]))
    out = []
    opts = config.signature_options()
    for series_id, t in items[:limit]:
        leak = sig.leak_site(t.signature.frames, opts)
        frames, _ = stack_views(t.signature.frames, config.render, leak, limit=30)
        out.append(
            StableView(
                series=series_id,
                function=leak.function if leak else "—",
                location=leak.location if leak else "—",
                counts_label=counts_label(t.counts),
                peak=words.num(max(t.counts or (0,))),
                state=_top_state(t),
                stack=frames,
            )
        )
    return tuple(out), max(len(items) - limit, 0)


# ------------------------------------------------------------------------ inputs

MAX_INPUT_ROWS = 30  # more series than this: the inputs are summarised one row per service
MAX_LISTED_SNAPSHOTS = 600  # more snapshots than this: the HTML lists no file, the JSON lists every one
SKIPPED_EXAMPLES = 3  # paths named per skip reason (the JSON lists every one)


def _input_notes(series: Sequence[Series]) -> str:
    """Return what the inputs of `series` carry besides plain snapshots: flags, restarts, problems, leak profiles."""
    snaps = [snap for se in series for snap in se.snapshots]
    parts = []
    trunc = sum(snap.truncated for snap in snaps)
    if trunc:
        parts.append(f"{words.plural(trunc, 'truncated snapshot')} (counts are lower bounds)")
    crash = sum(snap.crash for snap in snaps)
    if crash:
        parts.append(words.plural(crash, "crash dump"))
    restarts = sum(max(len(se.segments) - 1, 0) for se in series)
    if restarts:
        parts.append(words.plural(restarts, "restart"))
    problems = sum(bool(snap.problems) for snap in snaps)
    if problems:
        parts.append(f"{words.plural(problems, 'snapshot')} with parse problems")
    files = sum(len(snap.sources) for snap in snaps)
    if files > len(snaps):
        parts.append(f"{words.num(files)} files (several forms of one moment)")
    leak = sum(len(se.leak_profiles) for se in series)
    if leak:
        parts.append(words.plural(leak, "goroutineleak profile"))
    heap = sum(len(se.memory) for se in series)
    if heap:
        parts.append(words.plural(heap, "heap profile"))
    uncertain = sum(se.time_uncertain for se in series)
    if uncertain:
        parts.append(f"time uncertain in {words.plural(uncertain, 'series', 'series')}")
    return "; ".join(parts)


def _input_row(label: str, series: Sequence[Series]) -> InputRow:
    """Return one inputs row over `series`."""
    times = [snap.time for se in series for snap in se.snapshots]
    return InputRow(
        label=label,
        series=words.num(len(series)),
        snapshots=words.num(len(times)),
        span=words.span(times),
        formats=", ".join(dict.fromkeys(snap.format for se in series for snap in se.snapshots)) or "—",
        notes=_input_notes(series),
    )


def _merged(rows: Sequence[InputRow]) -> tuple[InputRow, ...]:
    """Return `rows` with those that differ only in their label as one row ('svc-00, svc-01': '20 each')."""
    same: dict[tuple, list[InputRow]] = {}
    for r in rows:
        same.setdefault((r.series, r.snapshots, r.span, r.formats, r.notes), []).append(r)
    out = []
    for group in same.values():
        r = group[0]
        if len(group) > 1:
            r = replace(r, label=", ".join(x.label for x in group), series=f"{r.series} each", snapshots=f"{r.snapshots} each")
        out.append(r)
    return tuple(out)


def input_rows(report: Report, views: Sequence[SeriesView]) -> tuple[tuple[InputRow, ...], str]:
    """Return the inputs summary of `report` and what a row is: one per series, or one per service when there are
    many; rows alike but for their name are one (a fleet's services often are)."""
    if len(report.series) <= MAX_INPUT_ROWS:
        return tuple(_input_row(se.id, (se,)) for se in report.series), "series"
    by_group: dict[str, list[Series]] = {}
    for se, v in zip(report.series, views):
        by_group.setdefault(v.group, []).append(se)
    return _merged([_input_row(g, members) for g, members in sorted(by_group.items())]), "service"


def skipped_groups(report: Report) -> tuple[SkippedGroup, ...]:
    """Return the skipped inputs grouped by reason, most first: a count and the first few paths of each."""
    by_reason: dict[str, list[str]] = {}
    for k in report.skipped:
        by_reason.setdefault(k.reason, []).append(k.path)
    return tuple(
        SkippedGroup(reason=r, count=words.num(len(paths)), examples=tuple(paths[:SKIPPED_EXAMPLES]), more=max(len(paths) - SKIPPED_EXAMPLES, 0))
        for r, paths in sorted(by_reason.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    )


def _services(views: Sequence[SeriesView]) -> str:
    """Return ' of 8 services' for series of several service groups, '' for one."""
    groups = {v.group for v in views}
    return f" of {words.plural(len(groups), 'service')}" if len(groups) > 1 else ""


def quiet_line(views: Sequence[SeriesView]) -> str:
    """Return '183 series of 8 services: no suspects' for the series without suspects ('' when none)."""
    quiet = [v for v in views if v.role == "quiet"]
    if not quiet:
        return ""
    return f"{words.plural(len(quiet), 'series', 'series')}{_services(quiet)}: no suspects"


def covered_line(views: Sequence[SeriesView]) -> str:
    """Return '17 series of 2 services: suspects only of findings 1, 2' (each finding names its series; '' when none)."""
    covered = [v for v in views if v.role == "covered"]
    if not covered:
        return ""
    numbers = sorted({s.finding_number for v in covered for s in v.suspects})
    which = f"finding {numbers[0]}" if len(numbers) == 1 else "findings " + ", ".join(map(str, numbers))
    return f"{words.plural(len(covered), 'series', 'series')}{_services(covered)}: suspects only of {which}"
