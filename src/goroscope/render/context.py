"""Report -> view-model: the display-ready records the HTML, PDF and Markdown templates read.

Contract (STYLE.md convention 6): templates only see what `build_view()` returns —
small frozen dataclasses whose fields are ready to print (`location="pkg/x.go:245"`,
`trend="+120/h"`, chart geometry as strings). Templates loop and test; they do no
arithmetic and no formatting. The JSON report is built from the model, not from here.

Everything taken from a dump stays a plain string: the templates' autoescape
makes it inert. Label values whose key is in `render.redact_labels` are replaced
by REDACTED here, once, so no output can show them; the same values are also
masked where they occur in free text (explanations, evidence names).

Fix hints are recognised from states and standard-library function names only,
never from application names, so they hold for any Go program.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, urlsplit

from goroscope.render.redact import REDACTED, Redactor
from goroscope import signature as sig
from goroscope.config import Config, RenderConfig
from goroscope.model import Frame, Report, Series, Suspect, Timeline
from goroscope.render import charts
from goroscope.render.source import Snippet, snippet

__all__ = [
    "REDACTED",
    "FrameView",
    "Hint",
    "Command",
    "SuspectView",
    "SeriesView",
    "SnapshotRow",
    "StableView",
    "SkippedView",
    "ReportView",
    "build_view",
    "fix_hint",
    "source_url",
    "redact_labels",
    "format_duration",
    "short_location",
]

KIND_ORDER = {"leaked": 0, "growing": 1, "stuck": 2}
KIND_LABELS = {"leaked": "leaked (proven)", "growing": "growing", "stuck": "stuck"}
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
MAX_SNIPPETS = 25  # source snippets read at most (a report with hundreds of suspects stays small)


# --------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True, kw_only=True)
class FrameView:
    """One stack frame as the report prints it."""

    function: str  # as printed
    location: str  # file:line as printed
    code_class: str  # runtime | stdlib | vendor | app
    is_app: bool  # emphasised (application or vendored code)
    is_leak_site: bool  # the frame the report names
    url: str | None  # link to the source, when configured


@dataclass(frozen=True, slots=True, kw_only=True)
class Hint:
    """A recognised leak pattern and what usually fixes it."""

    pattern: str  # short id: nil-chan, http-body, mutex, waitgroup, abandoned-send, never-closed, ticker
    title: str  # the pattern's name
    text: str  # what to do


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """A command to dig further."""

    label: str  # what it shows
    text: str  # the command line, shell-quoted


@dataclass(frozen=True, slots=True, kw_only=True)
class StateView:
    """One wait state of a suspect's goroutines."""

    state: str  # as printed
    count: str  # goroutines, formatted
    share: str  # '63%'


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelView:
    """One pprof label set (redacted) and how many goroutines carried it."""

    text: str  # 'route=export, tenant=•••'
    count: str  # formatted


@dataclass(frozen=True, slots=True, kw_only=True)
class VariantView:
    """One signature merged into a suspect."""

    location: str  # file:line where it blocks
    function: str  # the leak-site function
    counts: str  # 'first → last'


@dataclass(frozen=True, slots=True, kw_only=True)
class LegendEntry:
    """A line of a chart legend."""

    label: str  # text
    color: str  # swatch colour (from charts.PALETTE)
    anchor: str | None = None  # in-page link target


@dataclass(frozen=True, slots=True, kw_only=True)
class SuspectView:
    """One suspect, display-ready."""

    anchor: str  # html id ('suspect-3'), never from input
    number: int  # position in the report's suspects table (1 = worst overall)
    rank: int  # rank within its series
    series: str  # series id
    series_anchor: str  # html id of its series section
    kind: str  # growing | stuck | leaked
    kind_label: str  # for people
    score: str  # '0.93'
    score_value: str  # sort key
    function: str  # the leak site's function
    location: str  # leak site file:line, as printed
    short_location: str  # 'inventory/lookup.go:46'
    location_url: str | None  # link, when configured
    created_by: FrameView | None  # where the goroutines were started
    state: str  # most common state, '—' where not carried
    first: str  # first count
    last: str  # last count
    peak: str  # largest count
    counts_label: str  # 'first → last'
    trend: str  # '+120/h' or 'stuck 14 min'
    trend_value: str  # sort key
    max_wait: str  # '892 min' or '—'
    explanation: str  # one sentence (redacted)
    series_affected: tuple[str, ...]  # its series, then also_in
    also_in: tuple[str, ...]  # other series with the same fingerprint
    states: tuple[StateView, ...]  # wait states with counts
    labels: tuple[LabelView, ...]  # label sets (redacted)
    variants: tuple[VariantView, ...]  # merged signatures, when more than one
    evidence: tuple[tuple[str, str], ...]  # named statistics behind the score
    stack: tuple[FrameView, ...]  # the representative stack
    hidden_frames: int  # frames of the stack not drawn (long tails)
    snippet: Snippet | None  # source around the leak site
    hint: Hint | None  # recognised pattern
    commands: tuple[Command, ...]  # to dig further
    chart: charts.Chart  # its counts over time
    color: str  # its colour in the series chart
    fingerprint: str  # stable id
    acknowledged: bool  # known to the team (config)
    baseline: str | None  # new | known, with --baseline
    memory_note: str | None  # 'tracks heap in use (r = 0.97)'


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotRow:
    """One snapshot in the inputs list."""

    index: int  # 0-based, as in the JSON
    time: str  # UTC, seconds
    time_source: str  # name | content | mtime
    source: str  # primary file
    others: tuple[str, ...]  # the moment's other files
    format: str  # debug2 | debug1 | pprof | traceback
    goroutines: str  # total, formatted
    flags: str  # 'truncated (lower bound), crash' or ''
    problems: tuple[str, ...]  # parse problems


@dataclass(frozen=True, slots=True, kw_only=True)
class SeriesView:
    """One series: its chart, its suspects, its snapshots."""

    id: str  # series id
    anchor: str  # html id
    snapshots: str  # count, formatted
    span: str  # '08:21:16 → 08:22:51 UTC (1 min 35 s)'
    formats: str  # 'debug2, debug1'
    restarts: str  # '' or '1 restart (segments: 0–9, 10–19)'
    chart: charts.Chart  # total and suspects over time
    legend: tuple[LegendEntry, ...]  # chart legend
    memory_chart: charts.Chart | None  # heap in use over time
    memory_range: str  # 'min → max'
    suspects: tuple[SuspectView, ...]  # of this series, by rank
    rows: tuple[SnapshotRow, ...]  # its snapshots
    leak_profiles: tuple[str, ...]  # goroutineleak profiles read
    flags: str  # 'truncated snapshots: 2; crash dumps: 1'


@dataclass(frozen=True, slots=True, kw_only=True)
class StableView:
    """A large but stable signature (not a suspect)."""

    series: str  # series id
    function: str  # its leak site
    location: str  # file:line
    counts_label: str  # 'first → last'
    peak: str  # largest count
    state: str  # most common state or '—'
    stack: tuple[FrameView, ...]  # its frames


@dataclass(frozen=True, slots=True, kw_only=True)
class SkippedView:
    """An input not used."""

    path: str  # display path
    reason: str  # why


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportView:
    """The whole report, display-ready."""

    title: str  # page title
    archive: str  # as given
    generated_at: str  # 'YYYY-MM-DD HH:MM UTC'
    generated_date: str  # 'YYYY-MM-DD'
    span: str  # whole time span of the snapshots
    series_count: str  # formatted
    snapshot_count: str  # formatted
    verdict: str  # '3 leak suspects in 2 of 6 series' / 'No leak suspects'
    verdict_ok: bool  # no suspects
    top: SuspectView | None  # the worst suspect
    suspects: tuple[SuspectView, ...]  # all, worst first
    series: tuple[SeriesView, ...]  # in id order
    series_ids: tuple[str, ...]  # for the filter
    stable: tuple[StableView, ...]  # large stable signatures
    stable_more: int  # stable signatures not listed
    other_inputs: tuple[str, ...]  # inputs read that are not snapshot sources
    inputs_count: str  # every input read, formatted
    skipped: tuple[SkippedView, ...]  # inputs not used
    settled: tuple[str, ...]  # left for the next run
    gone: tuple[str, ...]  # baseline suspects not seen now
    tool_version: str  # provenance
    command: str  # provenance
    config_digest: str  # provenance
    provenance: str  # one line: tool, command, config
    page_size: str  # A4 | Letter
    acknowledged_count: int  # suspects the team knows of


# --------------------------------------------------------------------- helpers


def _utc(dt: datetime) -> datetime:
    """Return `dt` in UTC (naive times are taken as UTC)."""
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _num(n: float) -> str:
    """Return `n` with thousands separators."""
    return f"{n:,.0f}" if float(n).is_integer() else f"{n:,.1f}"


def format_duration(seconds: float) -> str:
    """Return a short human duration ('1 min 35 s', '2 h 5 min', '3 d 4 h')."""
    s = int(round(max(seconds, 0)))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s} s" if s else f"{m} min"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(h, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def _minutes(m: float) -> str:
    """Return a wait given in minutes ('14 min', '3 h 2 min')."""
    return format_duration(m * 60) if m >= 60 else f"{m:,.0f} min"


def _span(times: Sequence[datetime]) -> str:
    """Return 'first → last UTC (duration)' for `times`."""
    if not times:
        return "—"
    a, b = _utc(min(times)), _utc(max(times))
    if a.date() == b.date():
        text = f"{a:%Y-%m-%d %H:%M:%S} → {b:%H:%M:%S} UTC"
    else:
        text = f"{a:%Y-%m-%d %H:%M:%S} → {b:%Y-%m-%d %H:%M:%S} UTC"
    return f"{text} ({format_duration((b - a).total_seconds())})"


def short_location(frame: Frame) -> str:
    """Return the last two path components and the line ('inventory/lookup.go:46')."""
    parts = [p for p in re.split(r"[/\\]", frame.file) if p]
    return f"{'/'.join(parts[-2:]) or frame.file}:{frame.line}"


def _growth(v: float) -> str:
    """Return a growth rate per hour ('+120/h', '+3.5/h')."""
    sign = "+" if v >= 0 else "−"
    a = abs(v)
    body = f"{a:,.0f}" if a >= 10 else f"{a:.1f}"
    return f"{sign}{body}/h"


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


def _frame_view(f: Frame, render: RenderConfig, leak: Frame | None) -> FrameView:
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


def _stack_views(frames: Sequence[Frame], render: RenderConfig, leak: Frame | None, limit: int = 60):
    """Return the frame views of a stack (at most `limit`, keeping top and bottom) and how many were cut."""
    frames = tuple(frames)
    if len(frames) > limit:
        keep = frames[: limit - 10] + frames[-10:]
        return tuple(_frame_view(f, render, leak) for f in keep), len(frames) - len(keep)
    return tuple(_frame_view(f, render, leak) for f in frames), 0


# ------------------------------------------------------------------- fix hints

_HTTP_LOOPS = ("net/http.(*persistConn).readLoop", "net/http.(*persistConn).writeLoop")
_MUTEX_STATES = ("sync.Mutex.Lock", "sync.RWMutex.Lock", "sync.RWMutex.RLock")
_MUTEX_FUNCS = ("sync.(*Mutex).Lock", "sync.(*Mutex).lockSlow", "sync.(*RWMutex).Lock", "sync.(*RWMutex).RLock")
_WG_FUNCS = ("sync.(*WaitGroup).Wait",)


def fix_hint(s: Suspect) -> Hint | None:
    """Return the recognised leak pattern of `s` and its usual fix, or None.

    Recognised from the state and standard-library function names only.
    """
    state = s.state or ""
    states = {st for st, _ in s.states} | ({state} if state else set())
    funcs = {f.function for f in s.stack}
    created = s.created_by.function if s.created_by else ""
    if any("(nil chan)" in st for st in states):
        return Hint(
            pattern="nil-chan",
            title="Operation on a nil channel",
            text="A send or receive on a nil channel blocks forever. The channel was never made "
            "(a field or variable left at its zero value, or set to nil to disable a select case and "
            "never restored): initialise it with make() before the goroutine starts, or give the wait "
            "a <-ctx.Done() case.",
        )
    if funcs & set(_HTTP_LOOPS):
        return Hint(
            pattern="http-body",
            title="HTTP response body not closed",
            text="Each leaked client connection keeps one readLoop and one writeLoop goroutine. A caller "
            "of net/http does not close resp.Body on every path (non-2xx responses and early returns "
            "too): add defer resp.Body.Close() right after the error check, and drain the body "
            "(io.Copy(io.Discard, resp.Body)) so the connection can be reused. The caller is not on "
            "this stack: look for http.Client calls whose responses are dropped.",
        )
    if states & set(_MUTEX_STATES) or ("semacquire" in states and funcs & set(_MUTEX_FUNCS)):
        return Hint(
            pattern="mutex",
            title="Lock held across a blocking call",
            text="Goroutines queue for a mutex its holder does not release. Find the holder (a goroutine "
            "blocked elsewhere — a channel operation, I/O, or a second Lock of the same mutex — while "
            "holding it) and release the lock before blocking, or narrow the critical section.",
        )
    if "sync.WaitGroup.Wait" in states or ("semacquire" in states and funcs & set(_WG_FUNCS)):
        return Hint(
            pattern="waitgroup",
            title="WaitGroup never done",
            text="Wait never returns because some Add has no matching Done: a worker returned early "
            "(an error path, a select on ctx) without calling Done, or Add counted more goroutines "
            "than were started. Put defer wg.Done() first in every counted goroutine and call Add "
            "before the go statement.",
        )
    app_top = bool(s.stack) and sig.is_application(s.stack[0])
    if any(st.startswith("chan send") for st in states) and app_top:
        return Hint(
            pattern="abandoned-send",
            title="Result channel abandoned after a timeout",
            text="The goroutine sends a result nobody receives: the function that started it gave up "
            "(a timeout or a cancelled context) and returned. Make the result channel buffered "
            "(make(chan T, 1)) so the send always completes, or select on <-ctx.Done() around the send.",
        )
    if any(st.startswith("chan receive") for st in states) and app_top:
        return Hint(
            pattern="never-closed",
            title="Channel never closed",
            text="The goroutine waits on (or ranges over) a channel nobody sends on or closes any more. "
            "The producer must close the channel when it is done (defer close(ch)), or the receiver "
            "needs a <-ctx.Done() case.",
        )
    ticker = any(f.startswith(("time.(*Ticker)", "time.NewTicker", "time.Tick")) for f in funcs | {created})
    if ticker or (any(st.startswith("select") for st in states) and app_top and s.kind == "growing"):
        return Hint(
            pattern="ticker",
            title="Ticker loop never stopped",
            text="A goroutine loops on select (typically over a time.Ticker's channel) with no way out, "
            "one per request or connection. Add a case <-ctx.Done(): return (or a done channel the "
            "owner closes) and defer ticker.Stop().",
        )
    return None


# --------------------------------------------------------------------- commands


def _archive_path(archive: str, source: str) -> str | None:
    """Return `source` as a path a shell can open, or None inside a tar/zip."""
    first = source.split("/", 1)[0]
    if first.endswith(_ARCHIVE_SUFFIXES) or archive.endswith(_ARCHIVE_SUFFIXES):
        return None
    if os.path.basename(archive) == source or Path(archive).suffix in (".txt", ".gz", ".pb"):
        return archive
    return os.path.join(archive, source)


def _commands(s: Suspect, series: Series | None, report: Report, render: RenderConfig) -> tuple[Command, ...]:
    """Return commands to dig further into `s`."""
    out = []
    if series is not None:
        pprof = [snap for snap in series.snapshots if snap.format == "pprof"]
        if len(pprof) >= 2:
            old = _archive_path(report.archive, pprof[0].source)
            new = _archive_path(report.archive, pprof[-1].source)
            if old and new:
                out.append(
                    Command(
                        label="What grew between the first and the last protobuf profile",
                        text=f"go tool pprof -base {shlex.quote(old)} {shlex.quote(new)}",
                    )
                )
            else:
                out.append(
                    Command(
                        label="What grew between the first and the last protobuf profile "
                        "(extract them from the archive first)",
                        text=f"go tool pprof -base {shlex.quote(pprof[0].source)} {shlex.quote(pprof[-1].source)}",
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


# ------------------------------------------------------------------------ build


def _counts_label(counts: Sequence[int]) -> str:
    """Return 'first → last' of `counts`."""
    if not counts:
        return "—"
    return f"{_num(counts[0])} → {_num(counts[-1])}"


def _trend(s: Suspect) -> tuple[str, float]:
    """Return the trend text and its sort key: growth per hour, or how long stuck."""
    if s.kind == "stuck":
        if s.max_wait_minutes is not None:
            return f"stuck {_minutes(s.max_wait_minutes)}", float(s.max_wait_minutes)
        return "stuck", 0.0
    return _growth(s.growth_per_hour), float(s.growth_per_hour)


def _state_views(states: Sequence[tuple[str, int]]) -> tuple[StateView, ...]:
    """Return state rows with shares."""
    total = sum(c for _, c in states) or 1
    return tuple(StateView(state=st, count=_num(c), share=f"{100 * c / total:.0f}%") for st, c in states)


def _series_restarts(series: Series) -> list[datetime]:
    """Return the times at which each segment after the first starts."""
    out = []
    for seg in series.segments[1:]:
        if 0 <= seg.first < len(series.snapshots):
            out.append(series.snapshots[seg.first].time)
    return out


def _suspect_chart(s: Suspect, series: Series | None, color: str) -> charts.Chart:
    """Return the timeline chart of one suspect."""
    times = [snap.time for snap in series.snapshots] if series else []
    lines: list = []
    if len(s.variants) > 1:
        for i, v in enumerate(s.variants):
            lines.append(
                (f"{short_location(v.leak_site)}", list(v.counts[: len(times)]), charts.PALETTE[(i + 1) % 8], 1.2)
            )
    lines.insert(0, ("goroutines at this leak site", list(s.counts[: len(times)]), color, 2.4))
    return charts.line_chart(
        title=f"goroutines of suspect {s.rank} in {s.series} over time",
        times=times,
        lines=lines,
        y_label="goroutines",
        restarts=_series_restarts(series) if series else (),
        height=180,
    )


def _top_state(t: Timeline) -> str:
    """Return the most common state of a timeline, or '—'."""
    return t.states[0][0] if t.states else "—"


def _stable_views(report: Report, config: Config) -> tuple[tuple[StableView, ...], int]:
    """Return the large stable signatures to list, and how many more there are."""
    limit = max(config.render.max_stable, 0)
    items = sorted(report.stable, key=lambda st: (-max(st[1].counts or (0,)), st[0]))
    out = []
    opts = config.signature_options()
    for series_id, t in items[:limit]:
        leak = sig.leak_site(t.signature.frames, opts)
        frames, _ = _stack_views(t.signature.frames, config.render, leak, limit=30)
        out.append(
            StableView(
                series=series_id,
                function=leak.function if leak else "—",
                location=leak.location if leak else "—",
                counts_label=_counts_label(t.counts),
                peak=_num(max(t.counts or (0,))),
                state=_top_state(t),
                stack=frames,
            )
        )
    return tuple(out), max(len(items) - limit, 0)


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
                time=f"{_utc(snap.time):%Y-%m-%d %H:%M:%S}",
                time_source=snap.time_source,
                source=snap.source,
                others=tuple(x for x in snap.sources if x != snap.source),
                format=snap.format,
                goroutines=_num(snap.goroutines),
                flags=", ".join(flags),
                problems=tuple(snap.problems),
            )
        )
    return tuple(rows)


def _gone_text(g: dict) -> str:
    """Return one line naming a baseline suspect that is gone (whatever keys it carries)."""
    site = g.get("leak_site") if isinstance(g, dict) else None
    if isinstance(site, dict) and site.get("function"):
        where = f" ({site.get('file')}:{site.get('line')})" if site.get("file") else ""
        return f"{site['function']}{where}"
    if isinstance(g, dict):
        return str(g.get("fingerprint") or ", ".join(f"{k}={v}" for k, v in sorted(g.items())))
    return str(g)


def _order(s: Suspect) -> tuple:
    """Return the global ordering key: proven leaks first, then score, then series and rank."""
    return (s.acknowledged, KIND_ORDER.get(s.kind, 3), -s.score, s.series, s.rank)


def build_view(report: Report, config: Config, source_root: Path | None = None) -> ReportView:
    """Return the view-model of `report` under `config` (snippets read from `source_root`)."""
    render = config.render
    keys = tuple(render.redact_labels)
    label_sets = [ls for s in report.suspects for ls, _ in s.labels]
    label_sets += [ls for _, t in report.stable for ls, _ in t.labels]
    label_sets += [ls for se in report.series for t in se.timelines for ls, _ in t.labels]
    red = Redactor(keys, label_sets)
    series_by_id = {s.id: s for s in report.series}
    series_index = {s.id: i for i, s in enumerate(report.series)}

    ordered = sorted(report.suspects, key=_order)
    # Colours follow a suspect's rank within its series, so the series chart, its
    # legend and the suspect's own chart agree.
    views: dict[int, SuspectView] = {}
    snippets_left = MAX_SNIPPETS
    for number, s in enumerate(ordered, start=1):
        series = series_by_id.get(s.series)
        local = sorted((x for x in report.suspects if x.series == s.series), key=lambda x: x.rank)
        color = charts.PALETTE[next(i for i, x in enumerate(local) if x is s) % len(charts.PALETTE)]
        trend, trend_key = _trend(s)
        snip = None
        if source_root is not None and snippets_left > 0 and sig.is_application(s.leak_site):
            snip = snippet(s.leak_site.file, s.leak_site.line, source_root)
            snippets_left -= snip is not None
        stack, hidden = _stack_views(s.stack, render, s.leak_site)
        corr = s.memory_correlation
        views[id(s)] = SuspectView(
            anchor=f"suspect-{number}",
            number=number,
            rank=s.rank,
            series=s.series,
            series_anchor=f"series-{series_index.get(s.series, 0) + 1}",
            kind=s.kind,
            kind_label=KIND_LABELS.get(s.kind, s.kind),
            score=f"{s.score:.2f}",
            score_value=f"{s.score:.4f}",
            function=s.leak_site.function,
            location=s.leak_site.location,
            short_location=short_location(s.leak_site),
            location_url=source_url(s.leak_site, render),
            created_by=_frame_view(s.created_by, render, None) if s.created_by else None,
            state=s.state or "—",
            first=_num(s.counts[0]) if s.counts else "—",
            last=_num(s.counts[-1]) if s.counts else "—",
            peak=_num(max(s.counts)) if s.counts else "—",
            counts_label=_counts_label(s.counts),
            trend=trend,
            trend_value=f"{trend_key:.4f}",
            max_wait=_minutes(s.max_wait_minutes) if s.max_wait_minutes is not None else "—",
            explanation=red.text(s.explanation),
            series_affected=(s.series, *s.also_in),
            also_in=tuple(s.also_in),
            states=_state_views(s.states or (((s.state, max(s.counts or (0,))),) if s.state else ())),
            labels=tuple(LabelView(text=redact_labels(ls, keys), count=_num(c)) for ls, c in s.labels),
            variants=tuple(
                VariantView(location=v.leak_site.location, function=v.leak_site.function, counts=_counts_label(v.counts))
                for v in s.variants
            )
            if len(s.variants) > 1
            else (),
            evidence=tuple((red.text(k), f"{v:.3g}") for k, v in s.evidence),
            stack=stack,
            hidden_frames=hidden,
            snippet=snip,
            hint=fix_hint(s),
            commands=_commands(s, series, report, render),
            chart=_suspect_chart(s, series, color),
            color=color,
            fingerprint=s.fingerprint,
            acknowledged=s.acknowledged,
            baseline=s.baseline,
            memory_note=(
                f"its count tracks the heap in use (r = {corr:.2f})"
                if corr is not None and corr >= 0.7
                else (f"correlation with the heap in use: r = {corr:.2f}" if corr is not None else None)
            ),
        )
    suspect_views = tuple(views[id(s)] for s in ordered)

    series_views = []
    all_times: list[datetime] = []
    for i, se in enumerate(report.series, start=1):
        times = [snap.time for snap in se.snapshots]
        all_times += times
        mine = sorted((views[id(s)] for s in report.suspects if s.series == se.id), key=lambda v: v.rank)
        totals = list(se.totals) if se.totals else [snap.goroutines for snap in se.snapshots]
        lines = [("all goroutines", totals, charts.TOTAL_COLOR, 3.0)]
        legend = [LegendEntry(label="all goroutines", color=charts.TOTAL_COLOR)]
        for v in mine:
            s = next(x for x in report.suspects if views[id(x)] is v)
            lines.append((f"#{v.rank} {v.short_location}", list(s.counts[: len(times)]), v.color, 2.0))
            legend.append(LegendEntry(label=f"#{v.rank} {v.function} ({v.short_location})", color=v.color, anchor=v.anchor))
        restarts = _series_restarts(se)
        mem_chart = None
        mem_range = ""
        if se.memory:
            mtimes = [m.time for m in se.memory]
            mib = [m.inuse_bytes / 2**20 for m in se.memory]
            mem_chart = charts.line_chart(
                title=f"heap in use of {se.id} over time",
                times=mtimes,
                lines=[("heap in use", mib, charts.MEMORY_COLOR, 2.0)],
                y_label="heap in use (MiB)",
                restarts=restarts,
                width=420,
            )
            lo, hi = min(se.memory, key=lambda m: m.time), max(se.memory, key=lambda m: m.time)
            mem_range = f"{lo.inuse_bytes / 2**20:,.1f} MiB → {hi.inuse_bytes / 2**20:,.1f} MiB"
        segs = ", ".join(f"{g.first}–{g.last}" for g in se.segments)
        n_restarts = max(len(se.segments) - 1, 0)
        restarts_text = (
            f"{n_restarts} restart{'s' if n_restarts != 1 else ''} (segments {segs})" if n_restarts else ""
        )
        trunc = sum(snap.truncated for snap in se.snapshots)
        crash = sum(snap.crash for snap in se.snapshots)
        flags = "; ".join(
            x
            for x in (
                f"{trunc} truncated snapshot{'s' if trunc != 1 else ''} (counts are lower bounds)" if trunc else "",
                f"{crash} crash dump{'s' if crash != 1 else ''}" if crash else "",
            )
            if x
        )
        series_views.append(
            SeriesView(
                id=se.id,
                anchor=f"series-{i}",
                snapshots=_num(len(se.snapshots)),
                span=_span(times),
                formats=", ".join(dict.fromkeys(snap.format for snap in se.snapshots)) or "—",
                restarts=restarts_text,
                chart=charts.line_chart(
                    title=f"goroutines of {se.id} over time",
                    times=times,
                    lines=lines,
                    y_label="goroutines",
                    restarts=restarts,
                ),
                legend=tuple(legend),
                memory_chart=mem_chart,
                memory_range=mem_range,
                suspects=tuple(mine),
                rows=_snapshot_rows(se),
                leak_profiles=tuple(se.leak_profiles),
                flags=flags,
            )
        )

    stable, stable_more = _stable_views(report, config)
    in_snapshots = {x for se in report.series for snap in se.snapshots for x in (snap.source, *snap.sources)}
    in_snapshots |= {m.source for se in report.series for m in se.memory}
    in_snapshots |= {p for se in report.series for p in se.leak_profiles}
    other_inputs = tuple(p for p in report.inputs if p not in in_snapshots)
    n_series_hit = len({s.series for s in report.suspects if not s.acknowledged})
    active = [s for s in report.suspects if not s.acknowledged]
    acknowledged = len(report.suspects) - len(active)
    if active:
        n = len(active)
        verdict = f"{n} leak suspect{'s' if n != 1 else ''} in {n_series_hit} of {len(report.series)} series"
    elif report.series and all(len(se.snapshots) < config.rank.min_snapshots for se in report.series):
        # one or two snapshots cannot show growth: say so rather than sound an all-clear
        most = max(len(se.snapshots) for se in report.series)
        verdict = f"No verdict: {most} snapshot{'s' if most != 1 else ''} per series, {config.rank.min_snapshots} needed to judge growth"
    else:
        verdict = "No leak suspects"
    if acknowledged:
        verdict += f" ({acknowledged} acknowledged)"
    gen = _utc(report.generated_at)
    digest = report.config_digest or "defaults"
    gone = tuple(red.text(_gone_text(g)) for g in report.gone)
    return ReportView(
        title=f"goroscope: {verdict} — {report.archive}",
        archive=report.archive,
        generated_at=f"{gen:%Y-%m-%d %H:%M} UTC",
        generated_date=f"{gen:%Y-%m-%d}",
        span=_span(all_times),
        series_count=_num(len(report.series)),
        snapshot_count=_num(sum(len(se.snapshots) for se in report.series)),
        verdict=verdict,
        verdict_ok=not active,
        top=suspect_views[0] if suspect_views and not suspect_views[0].acknowledged else None,
        suspects=suspect_views,
        series=tuple(series_views),
        series_ids=tuple(se.id for se in report.series),
        stable=stable,
        stable_more=stable_more,
        other_inputs=other_inputs,
        inputs_count=_num(len(report.inputs)),
        skipped=tuple(SkippedView(path=k.path, reason=k.reason) for k in report.skipped),
        settled=tuple(report.settled),
        gone=gone,
        tool_version=report.tool_version,
        command=report.command,
        config_digest=digest,
        provenance=f"goroscope {report.tool_version} · {report.command} · config {digest}",
        page_size=render.page_size if render.page_size in ("A4", "Letter") else "A4",
        acknowledged_count=acknowledged,
    )
