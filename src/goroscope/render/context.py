"""Report -> ReportView: the one view-model of a run (its records are in render/view.py).

Contract: `build_view(report, config, source_root)` is called once per run
(render.write_outputs, or the caller that also prints the terminal summary) and
its result is handed to every human-facing renderer. It assembles three parts,
each built by its own module:

    view_suspect.suspect_views ... one SuspectView per suspect, worst first
    view_finding.finding_views ... one FindingView per finding, holding its SuspectViews
    view_series.series_views ..... one SeriesView per series, holding the same SuspectViews
    header (here) ................ verdict (verdict.py: the analysis says it), span,
                                   provenance, skipped/settled/gone

Label values whose key is in `render.redact_labels` are replaced by REDACTED here,
once, so no output can show them; the same values are also masked where they occur
in free text (explanations, evidence names).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from goroscope import signature as sig
from goroscope import words
from goroscope.config import Config
from goroscope.correlate import digest
from goroscope.model import BaselineSuspect, Report
from goroscope.verdict import verdict as verdict_of
from goroscope.render.redact import REDACTED, Redactor
from goroscope.render.view import *  # noqa: F401,F403  (the records, for callers that import them from here)
from goroscope.render.view import ReportView, SkippedView, SuspectView
from goroscope.render.view_finding import finding_views
from goroscope.render.view_series import MAX_LISTED_SNAPSHOTS, covered_line, input_rows, quiet_line, series_views, skipped_groups, stable_views
from goroscope.render.view_suspect import redact_labels, source_url, suspect_views

__all__ = ["REDACTED", "ReportView", "build_view", "source_url", "redact_labels"]


def _gone_text(g: BaselineSuspect) -> str:
    """Return one line naming a baseline suspect that is gone: its leak site, else its fingerprint."""
    site = g.leak_site
    if site is not None:
        where = f" ({site.file}:{site.line})" if site.file else ""
        return f"{site.function}{where}"
    return g.fingerprint or f"series={g.series}"


def _redactor(report: Report, config: Config) -> Redactor:
    """Return the redactor for every label set the report carries."""
    label_sets = [ls for s in report.suspects for ls, _ in s.labels]
    label_sets += [ls for _, t in report.stable for ls, _ in t.labels]
    label_sets += [ls for se in report.series for ls in digest(se, config).label_sets]
    return Redactor(tuple(config.render.redact_labels), label_sets)


def build_view(report: Report, config: Config, source_root: Path | None = None) -> ReportView:
    """Return the view-model of `report` under `config` (snippets read from `source_root`)."""
    render = config.render
    red = _redactor(report, config)
    paired = suspect_views(report, config, source_root, red)
    suspects: tuple[SuspectView, ...] = tuple(v for _, v in paired)
    findings = finding_views(report, config, paired, red)
    stable, stable_more = stable_views(report, config)

    in_snapshots = {x for se in report.series for snap in se.snapshots for x in (snap.source, *snap.sources)}
    in_snapshots |= {m.source for se in report.series for m in se.memory}
    in_snapshots |= {p for se in report.series for p in se.leak_profiles}
    all_times: list[datetime] = [snap.time for se in report.series for snap in se.snapshots]
    acknowledged = sum(s.acknowledged for s in report.suspects)
    verdict = verdict_of(report, config)
    gen = words.utc(report.generated_at)
    digest = report.config_digest or "defaults"
    series = series_views(report, paired, config)
    inputs, inputs_by = input_rows(report, series)
    return ReportView(
        title=f"goroscope: {verdict.text} — {report.archive}",
        archive=report.archive,
        generated_at=f"{gen:%Y-%m-%d %H:%M} UTC",
        generated_date=f"{gen:%Y-%m-%d}",
        span=words.span(all_times),
        series_count=words.num(len(report.series)),
        snapshot_count=words.num(len(all_times)),
        verdict=verdict.text,
        verdict_ok=verdict.ok,
        top=suspects[0] if suspects and not suspects[0].acknowledged else None,
        top_finding=findings[0] if findings and not findings[0].acknowledged else None,
        findings=findings,
        suspects=suspects,
        series=series,
        series_ids=tuple(se.id for se in report.series),
        stable=stable,
        stable_more=stable_more,
        other_inputs=tuple(p for p in report.inputs if p not in in_snapshots),
        inputs_count=words.num(len(report.inputs)),
        skipped=tuple(SkippedView(path=k.path, reason=k.reason) for k in report.skipped),
        settled=tuple(report.settled),
        gone=tuple(red.text(_gone_text(g)) for g in report.gone),
        tool_version=report.tool_version,
        command=report.command,
        config_digest=digest,
        provenance=f"goroscope {report.tool_version} · {report.command} · config {digest}",
        page_size=render.page_size if render.page_size in ("A4", "Letter") else "A4",
        acknowledged_count=acknowledged,
        snippets_hint=_snippets_hint(report, config, source_root),
        inputs=inputs,
        inputs_by=inputs_by,
        skipped_groups=skipped_groups(report),
        quiet_line=quiet_line(series),
        covered_line=covered_line(series),
        snapshots_listed=len(all_times) <= MAX_LISTED_SNAPSHOTS,
        parked=_parked_lines(report),
    )


def _parked_lines(report: Report) -> tuple[str, ...]:
    """Return one line per leak site of the sets parked since start-up: where, how many, in how many series."""
    by_site: dict[tuple[str, str, int], list] = {}
    for p in report.parked:
        by_site.setdefault((p.leak_site.function, p.leak_site.file, p.leak_site.line), []).append(p)
    out = []
    for ps in by_site.values():
        n = [p.counts[-1] for p in ps if p.counts]
        size = f"{min(n)}-{max(n)}" if n and min(n) != max(n) else str(n[0] if n else 0)
        where = f"{ps[0].series}" if len(ps) == 1 else f"{len(ps)} series"
        out.append(f"{size} goroutines in {ps[0].state or 'a wait'} at {words.short_location(ps[0].leak_site)} ({where})")
    return tuple(out)


def _snippets_hint(report: Report, config: Config, source_root: Path | None) -> str | None:
    """Return, once per report, how to see the source at each leak site; None when given or nothing to show."""
    if source_root is not None or not any(sig.is_application(s.leak_site) for s in report.suspects):
        return None
    links = "" if config.render.url_template else " (or set render.url_template in the config to link each leak site to your repository)"
    return f"Run with --source-root DIR, a checkout of the code, to see the lines around each leak site{links}."
