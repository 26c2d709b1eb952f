"""Suspect -> SuspectView: one suspect's display-ready record, its stack, chart, hint and commands.

Contract: `suspect_views(report, config, source_root, redactor)` returns one
SuspectView per suspect, paired with it, worst first over the whole report (the
order every output shares: `order_key`). Source snippets are read here, once per
run, for at most MAX_SNIPPETS application leak sites.

The fix hint of a suspect is the analysis side's (hints.py), so every format says it
in the same words.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

from goroscope import signature as sig
from goroscope import words
from goroscope.config import Config, RenderConfig
from goroscope.model import Finding, Frame, Kind, Report, Series, Suspect
from goroscope.rank import order_key as rank_order
from goroscope.render import charts
from goroscope.render.redact import REDACTED, Redactor
from goroscope.render.source import snippet
from goroscope.hints import hint_for
from goroscope.render.evidence import command_path, evidence_of
from goroscope.render.view import Command, EvidenceView, FrameView, LabelView, StateView, SuspectView, VariantView

__all__ = ["MAX_SNIPPETS", "trend", "leak_fields", "order_key", "suspect_views", "source_url", "redact_labels",
           "frame_view", "stack_views", "evidence_view", "counts_label", "series_restarts", "series_events"]

MAX_SNIPPETS = 25  # source snippets read at most (a report with hundreds of suspects stays small)


def redact_labels(labels: Iterable[tuple[str, str]], keys: Sequence[str]) -> str:
    """Return a label set as 'k=v, k=v' with the values of `keys` replaced by REDACTED."""
    return ", ".join(f"{k}={REDACTED if k in keys else v}" for k, v in labels)


def source_url(frame: Frame, render: RenderConfig) -> str | None:
    """Return a link to `frame`'s source from `render.url_template`, or None.

    Only application code is linked (the standard library is not in the
    repository). With `path_map`, the longest matching printed prefix is replaced
    and unmapped paths get no link; without it the printed path is used, minus
    leading slashes. Path parts are URL-quoted, and only http(s) links come out:
    a path from a dump can never turn the link into `javascript:`.
    """
    if not render.url_template or not sig.is_application(frame) or frame.line <= 0:
        return None
    path = frame.file.replace("\\", "/")
    if render.path_map:
        for printed, repo in sorted(render.path_map, key=lambda pm: len(pm[0]), reverse=True):
            if path.startswith(printed.replace("\\", "/")):
                path = repo.rstrip("/") + "/" + path[len(printed) :].lstrip("/")
                break
        else:
            return None
    path = path.lstrip("/")
    if not path or any(p == ".." for p in path.split("/")):
        return None
    url = (
        render.url_template.replace("{rev}", quote(render.rev, safe=""))
        .replace("{path}", quote(path, safe="/"))
        .replace("{line}", str(int(frame.line)))
    )
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        return None
    return url


def frame_view(f: Frame, render: RenderConfig, leak: Frame | None) -> FrameView:
    """Return the view of one frame."""
    cls = sig.code_class(f)
    return FrameView(
        function=f.function,
        location=f.location,
        code_class=cls.value,
        is_app=cls in (sig.CodeClass.APP, sig.CodeClass.VENDOR),
        is_leak_site=leak is not None and f == leak,
        url=source_url(f, render),
    )


def stack_views(frames: Sequence[Frame], render: RenderConfig, leak: Frame | None, limit: int = 60):
    """Return the frame views of a stack (at most `limit`, keeping top and bottom) and how many were cut."""
    frames = tuple(frames)
    if len(frames) > limit:
        keep = frames[: limit - 10] + frames[-10:]
        return tuple(frame_view(f, render, leak) for f in keep), len(frames) - len(keep)
    return tuple(frame_view(f, render, leak) for f in frames), 0


# --------------------------------------------------------------------- commands


def _commands(s: Suspect, series: Series | None, report: Report, render: RenderConfig) -> tuple[Command, ...]:
    """Return commands to dig further into `s`: what grew between two protobuf profiles, a fresh dump.

    Every command runs to its end and prints (no interactive prompt): `pprof -top -base`."""
    out = []
    if series is not None:
        pprof = [snap for snap in series.snapshots if snap.format == "pprof"]
        if len(pprof) >= 2:
            old = shlex.quote(command_path(report.archive, pprof[0].source))
            new = shlex.quote(command_path(report.archive, pprof[-1].source))
            inside = any(x.split("/", 1)[0].endswith(words.ARCHIVE_SUFFIXES) for x in (pprof[0].source, report.archive))
            out.append(
                Command(
                    label="What grew between the first and the last protobuf profile"
                    + (" (extract them from the archive first)" if inside else ""),
                    text=f"go tool pprof -top -cum -base {old} {new}",
                )
            )
    if render.service_address:
        url = f"http://{render.service_address}/debug/pprof/goroutine?debug=2"
        out.append(Command(label="Take a fresh full dump (debug=2) from the service", text=f"curl -s {shlex.quote(url)}"))
        needle = s.leak_site.function + "("
        out.append(
            Command(
                label="Count the goroutines at this leak site now",
                text=f"curl -s {shlex.quote(url)} | grep -c -F {shlex.quote(needle)}",
            )
        )
    return tuple(out)


def evidence_view(s: Suspect, series: Series | None, archive: str) -> EvidenceView | None:
    """Return where to see `s` for oneself (render/evidence.py), display-ready, or None."""
    e = evidence_of(s, series, archive)
    if e is None:
        return None
    if e.goroutines:
        more = f" (the {len(e.goroutines)} oldest of {words.num(e.count)})" if e.count > len(e.goroutines) else ""
        what = f"{words.plural(e.count, 'goroutine')}, ids {', '.join(map(str, e.goroutines))}{more}"
        first = Command(label=f"its stack, as the dump prints it, and every goroutine id of its signature", text=e.command)
    else:
        what = f"{words.plural(e.count, 'goroutine')} (this form prints no goroutine ids)"
        first = Command(label="its stack and how many goroutines hold it", text=e.command)
    cmds = [first]
    if e.pprof_command:
        cmds.append(Command(label="the same with Go's own tool", text=e.pprof_command))
    return EvidenceView(
        series=e.series, source=e.source, when=f"{words.utc(e.time):%Y-%m-%d %H:%M:%S} UTC", format=e.format, what=what,
        commands=tuple(cmds),
    )


# ------------------------------------------------------------------------ build


def counts_label(counts: Sequence[int]) -> str:
    """Return 'first → last' of `counts`."""
    if not counts:
        return "—"
    return f"{words.num(counts[0])} → {words.num(counts[-1])}"


def trend(kind: str, growth_per_hour: float, max_wait_minutes: float | None, uncertain: bool = False) -> tuple[str, float]:
    """Return the trend text and its sort key: growth per hour, how long stuck, or that the time is uncertain."""
    if kind == Kind.STUCK:
        if max_wait_minutes is not None:
            return f"stuck {words.minutes(max_wait_minutes)}", float(max_wait_minutes)
        return "stuck", 0.0
    if uncertain:
        return words.TIME_UNCERTAIN, 0.0
    return words.growth(growth_per_hour), float(growth_per_hour)


def _last_snapshot_words(series: Series | None) -> str:
    """Return which goroutines a suspect's states and labels count: 'in the last snapshot (08:28:23 UTC)'."""
    if series is None or not series.snapshots:
        return "in the last snapshot"
    return f"in the last snapshot ({words.utc(series.snapshots[-1].time):%H:%M:%S} UTC)"


def _first_seen(s: Suspect, series: Series | None) -> str:
    """Return when the first snapshot holding goroutines of `s` was taken, or '—'."""
    if series is None:
        return "—"
    for count, snap in zip(s.counts, series.snapshots):
        if count > 0:
            return f"{words.utc(snap.time):%Y-%m-%d %H:%M:%S} UTC"
    return "—"


def _state_views(states: Sequence[tuple[str, int]]) -> tuple[StateView, ...]:
    """Return state rows with shares."""
    total = sum(c for _, c in states) or 1
    return tuple(StateView(state=st, count=words.num(c), share=f"{100 * c / total:.0f}%") for st, c in states)


def series_restarts(series: Series) -> list[datetime]:
    """Return the times at which each segment after the first starts."""
    out = []
    for seg in series.segments[1:]:
        if 0 <= seg.first < len(series.snapshots):
            out.append(series.snapshots[seg.first].time)
    return out


def series_events(series: Series) -> list[tuple[datetime, str]]:
    """Return the moments a series' charts mark besides restarts: crash dumps taken, goroutineleak profiles run."""
    out = [(snap.time, "crash dump") for snap in series.snapshots if snap.crash]
    out += [(t, "goroutineleak profile") for t in series.leak_profile_times]
    return out


def _suspect_chart(s: Suspect, series: Series | None, color: str) -> charts.Chart:
    """Return the timeline chart of one suspect."""
    times = [snap.time for snap in series.snapshots] if series else []
    lines: list = []
    if len(s.variants) > 1:
        for i, v in enumerate(s.variants):
            lines.append(
                (f"{words.short_location(v.leak_site)}", list(v.counts[: len(times)]), charts.PALETTE[(i + 1) % 8], 1.2)
            )
    lines.insert(0, ("goroutines at this leak site", list(s.counts[: len(times)]), color, 2.4))
    return charts.line_chart(
        title=f"goroutines of suspect {s.rank} in {s.series} over time",
        times=times,
        lines=lines,
        y_label="goroutines",
        restarts=series_restarts(series) if series else (),
        events=series_events(series) if series else (),
        height=180,
    )


def _memory_note(corr: float | None) -> str | None:
    """Return what the heap correlation says, or None when there is none."""
    if corr is None:
        return None
    if corr >= 0.7:
        return f"its count tracks the heap in use (r = {corr:.2f})"
    return f"correlation with the heap in use: r = {corr:.2f}"


def leak_fields(kind: str, score: float, site: Frame, created_by: Frame | None, state: str | None, render: RenderConfig,
                leak: Suspect | Finding | None = None) -> dict:
    """Return the LeakView fields (what suspects and findings both show) as keyword arguments.

    `leak` (the suspect or finding) adds what the analysis says of them: a state read
    from the stack's runtime frames, a created-by borrowed from another series, a pool."""
    inferred = leak is not None and getattr(leak, "state_inferred", False)
    borrowed = getattr(leak, "created_by_from", None) if leak is not None else None
    pool = getattr(leak, "pool", None) if leak is not None else None
    return dict(
        created_by_note=f"as in {borrowed}, which prints it (same stack)" if borrowed and created_by else "",
        pool=(f"{words.num(pool.stuck)} of the {words.plural(pool.size, 'goroutine')} created at {words.short_location(pool.created_by)}"
              if pool is not None else ""),
        kind=Kind(kind).value,
        kind_label=Kind(kind).label,
        score=f"{score:.2f}",
        score_value=f"{score:.4f}",
        function=site.function,
        location=site.location,
        short_location=words.short_location(site),
        location_url=source_url(site, render),
        created_by=frame_view(created_by, render, None) if created_by else None,
        state=(f"{state} (read from the stack)" if inferred else state) if state else "—",
    )


def order_key(s: Suspect) -> tuple:
    """Return the report-wide ordering key: acknowledged last, then rank's one order, then series and rank."""
    return (s.acknowledged, *rank_order(s), s.series, s.rank)


def suspect_views(
    report: Report, config: Config, source_root: Path | None, red: Redactor
) -> list[tuple[Suspect, SuspectView]]:
    """Return (suspect, its view) for every suspect of `report`, worst first over the report."""
    render = config.render
    keys = tuple(render.redact_labels)
    series_by_id = {s.id: s for s in report.series}
    series_index = {s.id: i for i, s in enumerate(report.series)}
    # Colours follow a suspect's rank within its series, so the series chart, its
    # legend and the suspect's own chart agree.
    by_series: dict[str, list[Suspect]] = {}
    for s in report.suspects:
        by_series.setdefault(s.series, []).append(s)
    color_of: dict[tuple[str, int], str] = {}
    for sid, mine in by_series.items():
        for i, s in enumerate(sorted(mine, key=lambda x: x.rank)):
            color_of[(sid, s.rank)] = charts.PALETTE[i % len(charts.PALETTE)]

    finding_no = {f.fingerprint: i for i, f in enumerate(report.findings, start=1)}
    out: list[tuple[Suspect, SuspectView]] = []
    snippets_left = MAX_SNIPPETS
    for number, s in enumerate(sorted(report.suspects, key=order_key), start=1):
        series = series_by_id.get(s.series)
        color = color_of[(s.series, s.rank)]
        trend_text, trend_key = trend(s.kind, s.growth_per_hour, s.max_wait_minutes, series is not None and series.time_uncertain)
        snip = None
        if source_root is not None and snippets_left > 0 and sig.is_application(s.leak_site):
            snip = snippet(s.leak_site.file, s.leak_site.line, source_root)
            snippets_left -= snip is not None
        stack, hidden = stack_views(s.stack, render, s.leak_site)
        view = SuspectView(
            anchor=f"suspect-{number}",
            number=number,
            rank=s.rank,
            series=s.series,
            series_anchor=f"series-{series_index.get(s.series, 0) + 1}",
            **leak_fields(s.kind, s.score, s.leak_site, s.created_by, s.state, render, s),
            first=words.num(s.counts[0]) if s.counts else "—",
            last=words.num(s.counts[-1]) if s.counts else "—",
            peak=words.num(max(s.counts)) if s.counts else "—",
            counts_label=counts_label(s.counts),
            trend=trend_text,
            trend_value=f"{trend_key:.4f}",
            max_wait=words.minutes(s.max_wait_minutes) if s.max_wait_minutes is not None else "—",
            explanation=red.text(s.explanation),
            series_affected=(s.series, *s.also_in),
            also_in=tuple(s.also_in),
            # the goroutines of one moment, the last (what the counts end on), never sums over snapshots
            states=_state_views(s.states_last or (((s.state, s.counts[-1]),) if s.state and s.counts and s.counts[-1] else ())),
            labels=tuple(LabelView(text=redact_labels(ls, keys), count=words.num(c)) for ls, c in s.labels_last),
            states_when=_last_snapshot_words(series),
            first_seen=_first_seen(s, series),
            variants=tuple(
                VariantView(location=v.leak_site.location, function=v.leak_site.function, counts=counts_label(v.counts))
                for v in s.variants
            )
            if len(s.variants) > 1
            else (),
            evidence=tuple((red.text(k), f"{v:.3g}") for k, v in s.evidence),
            stack=stack,
            hidden_frames=hidden,
            snippet=snip,
            hint=hint_for(s),
            commands=_commands(s, series, report, render),
            chart=_suspect_chart(s, series, color),
            color=color,
            fingerprint=s.fingerprint,
            acknowledged=s.acknowledged,
            baseline=s.baseline,
            memory_note=_memory_note(s.memory_correlation),
            finding_number=finding_no.get(s.fingerprint, 0),
            finding_anchor=f"finding-{finding_no[s.fingerprint]}" if s.fingerprint in finding_no else "",
            see=evidence_view(s, series, report.archive),
        )
        out.append((s, view))
    return out
