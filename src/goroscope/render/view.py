"""The view-model: the display-ready records every human-facing output reads.

Contract (STYLE.md convention 6): `context.build_view(report, config, source_root)`
builds one `ReportView` per run; the HTML, the PDF (the HTML printed), the Markdown
summary and the terminal summary all render that same object, so they cannot
disagree on order, numbers or words. The JSON report is built from the model, not
from here.

The shape, top down:

    ReportView ............ header facts (archive, span, verdict, provenance)
      .findings ........... FindingView, worst first: one leak (fingerprint) across
                            every series where it is a suspect; the top table
        .members .......... FindingMemberView per series, worst first
        .suspects ......... the SuspectViews of those series (the same objects)
      .suspects ........... SuspectView, worst first over the whole report
                            (`number` 1 = worst; `rank` = within its series;
                            `finding_number` = its finding)
      .series ............. SeriesView per series, in id order; its `.suspects` are
                            the same SuspectView objects, by rank in that series
      .stable ............. StableView: large signatures that are not suspects
      .skipped/.settled/.gone/.other_inputs: what was not used, and why

Every field is a string ready to print (or a tuple of records); templates loop and
test, they do no arithmetic and no formatting. Everything taken from a dump stays a
plain string: each renderer escapes it for its own format. Label values under
`render.redact_labels` are already REDACTED here.
"""

from __future__ import annotations

from dataclasses import dataclass

from goroscope.hints import Hint
from goroscope.render import charts
from goroscope.render.source import Snippet

__all__ = [
    "FrameView",
    "LeakView",
    "Hint",
    "Command",
    "EvidenceView",
    "InputRow",
    "SkippedGroup",
    "StateView",
    "LabelView",
    "VariantView",
    "LegendEntry",
    "SuspectView",
    "FindingMemberView",
    "FindingView",
    "SnapshotRow",
    "SeriesView",
    "SignatureRow",
    "StableView",
    "SkippedView",
    "ReportView",
]

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
class Command:
    """A command to dig further."""

    label: str  # what it shows
    text: str  # the command line, shell-quoted


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceView:
    """Where to see a suspect's goroutines for oneself: one file, its goroutine ids, a command printing the stack."""

    series: str  # the series the file belongs to
    source: str  # the file, whole, as the report names it (relative to the archive)
    when: str  # its time, '2026-12-01 08:28:23 UTC'
    format: str  # debug2 | traceback | debug1 | pprof
    what: str  # '6 goroutines, ids 9, 10, 11, 12, 13, 14' or '79 goroutines (this form prints no ids)'
    commands: tuple[Command, ...]  # non-interactive, each prints the stack: goroscope inspect ... first


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
    dashed: bool = False  # its line is drawn dashed (it lies on an earlier one of the same counts)


@dataclass(frozen=True, slots=True, kw_only=True)
class LeakView:
    """What a suspect and a finding both show: the kind, the score and where the leak is."""

    kind: str  # growing | stuck | leaked
    kind_label: str  # for people
    score: str  # '0.93' (a finding: the highest of its suspects)
    score_value: str  # sort key
    function: str  # the leak site's function
    location: str  # leak site file:line, as printed
    short_location: str  # 'inventory/lookup.go:46'
    location_url: str | None  # link, when configured
    created_by: FrameView | None  # where the goroutines were started
    state: str  # most common state, '—' where not carried; '(read from the stack)' added where inferred
    created_by_note: str = ""  # 'as in pods/a, which prints it (same stack)' where borrowed, else ''
    pool: str = ""  # stuck: '6 of the 8 goroutines created at worker.go:45' (its pool), else ''


@dataclass(frozen=True, slots=True, kw_only=True)
class SuspectView(LeakView):
    """One suspect, display-ready."""

    anchor: str  # html id ('suspect-3'), never from input
    number: int  # position in the report's suspects table (1 = worst overall)
    rank: int  # rank within its series
    series: str  # series id
    series_anchor: str  # html id of its series section
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
    states: tuple[StateView, ...]  # wait states of its goroutines in the series' last snapshot, with counts
    labels: tuple[LabelView, ...]  # label sets (redacted) in the last snapshot
    states_when: str  # which goroutines states and labels count: 'in the last snapshot (08:28:23 UTC)'
    first_seen: str  # time of the first snapshot that holds it, '2026-12-01 08:19:23 UTC'
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
    finding_number: int = 0  # the number of its finding in the findings table
    finding_anchor: str = ""  # html id of its finding's section
    see: EvidenceView | None = None  # where to see its goroutines for oneself (None: no snapshot holds them)


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingMemberView:
    """One series of a finding: that series' suspect, in a row."""

    series: str  # series id
    series_anchor: str  # html id of the series section
    suspect_anchor: str  # html id of that suspect's block
    rank: int  # the suspect's rank within the series
    kind: str  # its kind there
    counts_label: str  # 'first → last'
    trend: str  # '+120/h' or 'stuck 14 min'
    max_wait: str  # '892 min' or '—'
    status: str | None  # new | known, with --baseline
    peak: str = ""  # its largest count, formatted


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingView(LeakView):
    """One finding (a leak across series), display-ready: a row of the top table and a section."""

    anchor: str  # html id ('finding-2'), never from input
    number: int  # position in the findings table (1 = worst)
    where: str  # '3 of 3 series of ledger-api'
    where_short: str = ""  # the same in a few words: '17 series of 9 services' past two services, else `where`
    series_ids: tuple[str, ...]  # every series it is in, highest peak first
    series_count: int  # how many
    counts_label: str  # goroutines summed over its series, 'first → last'
    peak: str  # the series' peaks, summed
    last_value: str  # sort key: goroutines now, summed
    trend: str  # '+9,000/h' (summed) or 'stuck 892 min' (longest)
    trend_value: str  # sort key
    trend_each: str  # '+3,000/h each' (the median series) when in more than one series, else ''
    max_wait: str  # '892 min' or '—'
    explanation: str  # its representative suspect's sentence (redacted): evidence from series_ids[0]
    status: str | None  # new | known (with --baseline)
    acknowledged: bool  # known to the team (config)
    fingerprint: str  # stable id
    members: tuple[FindingMemberView, ...]  # one row per series, highest peak first (the first is the one shown)
    suspects: tuple[SuspectView, ...]  # the same suspects' views, in the same order: suspects[0] is the finding's
                                       # representative (stack, evidence, sentence)
    chart: charts.Chart | None = None  # the goroutines of its most-loaded series over time (several series only)
    legend: tuple[LegendEntry, ...] = ()  # that chart's legend
    chart_note: str = ""  # which series the chart draws: 'the 5 series with most goroutines now, of 100'
    shown_why: str = ""  # which series it shows and why: 'pod-3, the highest peak (94)'; '' in one series
    hint_in: int = 0  # an earlier finding's number whose hint (the same pattern) the print says in full, 0: none

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
class SignatureRow:
    """One signature of a series' last snapshot, for its all-signatures table (the holder of a lock is one)."""

    count: str  # goroutines in the last snapshot, formatted
    count_value: int  # sort key
    state: str  # most common state there, '—' where the form carries none
    function: str  # its top application frame (the leak-site rule), or the entry frame
    location: str  # that frame's file:line
    suspect: str | None  # '#2' when it is the signature of this series' suspect #2


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
    facts: str  # one line for the terminal: '19 snapshots, goroutines 40 → 900 (+120/h), 80% parked'
    signatures: tuple[SignatureRow, ...] = ()  # every signature of the last snapshot, most goroutines first (capped)
    signatures_count: str = "0"  # how many signatures the last snapshot holds, formatted
    signatures_more: int = 0  # signatures beyond the cap, not listed
    signatures_when: str = ""  # 'of the last snapshot (08:28:23 UTC)'
    group: str = "."  # its service group (findings.group_of)
    # shown: a suspect of a finding of this series alone (a block of its own everywhere);
    # covered: its suspects all belong to findings across several series (shown with them);
    # quiet: no suspects
    role: str = "quiet"


@dataclass(frozen=True, slots=True, kw_only=True)
class InputRow:
    """The inputs of one series, or of one service when there are many series: never one row per file."""

    label: str  # series id, or service group
    series: str  # how many series, formatted ('1' for a series row)
    snapshots: str  # snapshots, formatted
    span: str  # time span of its snapshots
    formats: str  # 'debug2, pprof'
    notes: str  # truncated snapshots, crash dumps, restarts, parse problems, goroutineleak profiles; '' when none


@dataclass(frozen=True, slots=True, kw_only=True)
class SkippedGroup:
    """Skipped inputs that share a reason: how many, and the first few paths."""

    reason: str  # why
    count: str  # formatted
    examples: tuple[str, ...]  # the first paths, whole
    more: int  # paths not named


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
    top_finding: FindingView | None  # the worst finding (not acknowledged)
    findings: tuple[FindingView, ...]  # the top table: every finding, worst first
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
    snippets_hint: str | None = None  # said once when no --source-root was given: how to see the code at each leak site
    inputs: tuple[InputRow, ...] = ()  # per series, or per service where there are many series
    inputs_by: str = "series"  # what a row of `inputs` is: series | service
    skipped_groups: tuple[SkippedGroup, ...] = ()  # skipped inputs by reason
    quiet_line: str = ""  # '183 series of 8 services: no suspects' ('' when none)
    snapshots_listed: bool = True  # the HTML lists every snapshot of every series (False past MAX_LISTED_SNAPSHOTS: the JSON does)
    parked: tuple[str, ...] = ()  # one line per site of sets parked since start-up (Report.parked): not leaks
    covered_line: str = ""  # '17 series whose suspects are all in findings 1, 2 (listed there)' ('' when none)
