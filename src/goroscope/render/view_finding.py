"""Finding -> FindingView: one leak across series, as a row of the top table and a section.

Contract: `finding_views(report, config, paired, red)` returns one FindingView per
finding of `report` (report.findings, already ranked by findings.py), each
holding the SuspectViews of its series from `paired` (view_suspect.suspect_views),
so the finding's section and the series sections show the very same suspects.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from goroscope import words
from goroscope.config import Config
from goroscope.model import Finding, Kind, Report, Series, Suspect
from goroscope.render import charts
from goroscope.render.redact import Redactor
from goroscope.render.view import FindingMemberView, FindingView, LegendEntry, SuspectView
from goroscope.render.view_suspect import leak_fields, trend

CHART_SERIES = 5  # a finding's chart draws this many of its series, those with most goroutines now

__all__ = ["finding_views"]


def _each(f: Finding, uncertain: set[str]) -> str:
    """Return the typical series' rate ('+3,000/h each') for a growing finding in several series."""
    if len(f.series) < 2 or f.kind is Kind.STUCK or any(m.series in uncertain for m in f.series):
        return ""
    return f"{words.growth(statistics.median(m.growth_per_hour for m in f.series))} each"


def _chart(f: Finding, number: int, series_of: dict[str, Series], counts_of: dict[str, tuple[int, ...]]):
    """Return (chart, legend, note) of a finding in several series: its most-loaded series' counts over time.

    One chart stands for the finding in the PDF, where one block per series would
    repeat the same picture a hundred times. Series have their own snapshot times,
    so the axis is the union of them and each line is drawn through its own
    moments (None elsewhere).
    """
    if len(f.series) < 2:
        return None, (), ""
    top = sorted(f.series, key=lambda m: (-(counts_of[m.series][-1] if counts_of[m.series] else 0), m.series))
    top = [m for m in top[:CHART_SERIES] if m.series in series_of]
    times = sorted({snap.time for m in top for snap in series_of[m.series].snapshots})
    at = {t: i for i, t in enumerate(times)}
    lines, legend = [], []
    for i, m in enumerate(top):
        vals: list[float | None] = [None] * len(times)
        for snap, c in zip(series_of[m.series].snapshots, counts_of[m.series]):
            vals[at[snap.time]] = c
        color = charts.PALETTE[i % len(charts.PALETTE)]
        lines.append((m.series, vals, color, 2.0 if i == 0 else 1.4))
    chart = charts.line_chart(
        title=f"goroutines of finding {number} in its {len(top)} most-loaded series over time",
        times=times, lines=lines, y_label="goroutines", height=180,
    )
    for line in chart.lines:
        legend.append(LegendEntry(label=line.label if not line.same_as else f"{line.label} (same counts as {line.same_as})",
                                  color=line.color, dashed=line.dashed))
    shown = "its series" if len(top) == len(f.series) else f"the {len(top)} of its {len(f.series)} series with most goroutines now"
    return chart, tuple(legend), f"goroutines over time in {shown}"


def _hint_in(views: Sequence[SuspectView], number: int, first: dict[str, int]) -> int:
    """Return the earlier finding that showed the same hint as finding `number` (0: none; this one is then noted in `first`)."""
    hint = views[0].hint if views else None
    if hint is None:
        return 0
    if hint.pattern in first:
        return first[hint.pattern]
    first[hint.pattern] = number
    return 0


def finding_views(
    report: Report, config: Config, paired: Sequence[tuple[Suspect, SuspectView]], red: Redactor
) -> tuple[FindingView, ...]:
    """Return the view of every finding of `report`, with its suspects' views from `paired`."""
    view_of = {(s.series, s.fingerprint): v for s, v in paired}
    uncertain = {se.id for se in report.series if se.time_uncertain}
    series_of = {se.id: se for se in report.series}
    counts_of = {(s.series, s.fingerprint): s.counts for s, _ in paired}
    out = []
    hint_first: dict[str, int] = {}  # hint pattern -> the first finding that shows it
    for number, f in enumerate(report.findings, start=1):
        # highest peak first (stable: the finding's own order on ties), so the series a
        # finding shows and calls its worst is the one with the most goroutines
        # (render/evidence.representative, which the JSON names)
        pairs = sorted(
            ((m, view_of[(m.series, f.fingerprint)]) for m in f.series if (m.series, f.fingerprint) in view_of),
            key=lambda mv: -max(mv[0].counts, default=0),
        )
        views = tuple(v for _, v in pairs)
        members = []
        for m, v in pairs:
            text, _ = trend(m.kind, m.growth_per_hour, m.max_wait_minutes, m.series in uncertain)
            members.append(
                FindingMemberView(
                    series=m.series,
                    series_anchor=v.series_anchor,
                    suspect_anchor=v.anchor,
                    rank=m.rank,
                    kind=Kind(m.kind).value,
                    counts_label=v.counts_label,
                    trend=text,
                    max_wait=v.max_wait,
                    status=m.status,
                    peak=words.num(max(m.counts, default=0)),
                )
            )
        # a rate summed over a series whose times are uncertain would be noise too
        chart, legend, note = _chart(f, number, series_of, {m.series: counts_of.get((m.series, f.fingerprint), ()) for m in f.series})
        text, key = trend(f.kind, f.growth_per_hour, f.max_wait_minutes, any(m.series in uncertain for m in f.series))
        out.append(
            FindingView(
                anchor=f"finding-{number}",
                number=number,
                **leak_fields(f.kind, f.score, f.leak_site, f.created_by, f.state, config.render, f),
                where=words.where(f.groups, [(m.group, m.series) for m in f.series]),
                where_short=(f"{words.plural(len(f.series), 'series', 'series')} of {words.plural(len(f.groups), 'service')}"
                             if len(f.groups) > 2 else words.where(f.groups, [(m.group, m.series) for m in f.series])),
                series_ids=tuple(m.series for m, _ in pairs),
                series_count=len(f.series),
                counts_label=f"{words.num(f.first_total)} → {words.num(f.last_total)}",
                peak=words.num(f.peak_total),
                last_value=str(f.last_total),
                trend=text,
                trend_value=f"{key:.4f}",
                trend_each=_each(f, uncertain),
                max_wait=words.minutes(f.max_wait_minutes) if f.max_wait_minutes is not None else "—",
                explanation=views[0].explanation if views else red.text(f.explanation),
                status=f.status,
                acknowledged=f.acknowledged,
                fingerprint=f.fingerprint,
                members=tuple(members),
                suspects=views,
                chart=chart,
                legend=legend,
                chart_note=note,
                shown_why=f"{views[0].series}, the highest peak ({views[0].peak})" if len(views) > 1 else "",
                hint_in=_hint_in(views, number, hint_first),
            )
        )
    return tuple(out)
