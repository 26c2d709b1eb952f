"""The typed records that flow between goroscope's stages.

Every record is a frozen, slotted, keyword-only dataclass holding tuples, so that
records are hashable, cheap, picklable (they cross process boundaries) and cannot be
changed by a later stage. Fields are grouped by the stage that fills them.

The flow (see DESIGN.md):

    discover -> Source ........ one readable file (or archive member)
             -> Moment ........ the sources of one series at one moment
    parse    -> Snapshot ...... what one file holds (Goroutine or Record list)
    aggregate-> Summary ....... signature counts + goroutine ids per signature (what is cached)
    correlate-> Series ........ a series' snapshots in time order, split into segments,
                                with a Timeline per signature
    rank     -> Suspect ....... what the report names
             -> Report ........ everything the renderers need
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = [
    "Frame",
    "CreatedBy",
    "LastRow",
    "SeriesDigest",
    "Goroutine",
    "Record",
    "Problem",
    "Snapshot",
    "Signature",
    "StackCount",
    "Summary",
    "Store",
    "Source",
    "Moment",
    "Skipped",
    "Segment",
    "Timeline",
    "MemoryPoint",
    "SnapshotInfo",
    "Series",
    "Kind",
    "Suspect",
    "Variant",
    "FindingSeries",
    "Finding",
    "BaselineSuspect",
    "Baseline",
    "Report",
]

# Snapshot formats, richest first (DESIGN.md "Snapshots": the primary source of a
# moment is the richest of its files).
FORMATS = ("debug2", "traceback", "pprof", "debug1")
FORMAT_RICHNESS = {name: rank for rank, name in enumerate(FORMATS)}

# What a profile file is a profile of. Only "goroutine" makes a snapshot;
# "goroutineleak" is evidence about snapshots; "heap" is memory evidence.
PROFILE_GOROUTINE = "goroutine"
PROFILE_GOROUTINELEAK = "goroutineleak"
PROFILE_HEAP = "heap"


# --------------------------------------------------------------------------- parse


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """One stack frame: a function and the source position it is at."""

    function: str  # fully qualified, as printed, without the argument list
    file: str  # as printed (GOROOT, GOPATH, module or -trimpath path; '?' if unknown)
    line: int  # 0 when the dump gave none

    @property
    def location(self) -> str:
        """Return `file:line`."""
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatedBy:
    """The `created by` frame of a goroutine: where its `go` statement is."""

    function: str  # the function holding the go statement
    file: str  # its file, as printed
    line: int  # the go statement's line
    goroutine: int | None = None  # parent id (`in goroutine N`, Go 1.21+), else None

    def frame(self) -> Frame:
        """Return the created-by position as a plain Frame."""
        return Frame(function=self.function, file=self.file, line=self.line)


@dataclass(frozen=True, slots=True, kw_only=True)
class Goroutine:
    """One goroutine of a debug=2 dump or a crash traceback."""

    id: int | None  # goroutine id; ids are never reused within a process
    state: str  # wait reason as printed, without minutes and flags ('chan receive (nil chan)')
    wait_minutes: int = 0  # the header's `N minutes`, 0 when not printed
    flags: tuple[str, ...] = ()  # 'leaked', 'scan', 'durable', ... from the header
    locked_to_thread: bool = False  # header says `locked to thread`
    labels: tuple[tuple[str, str], ...] = ()  # pprof labels printed in the header (Go 1.27+)
    frames: tuple[Frame, ...] = ()  # as printed, top first; inlined frames are their own entries
    frames_elided: bool = False  # `...additional frames elided...` / `...N frames elided...`
    created_by: CreatedBy | None = None  # the `created by` frame, None for goroutine 1 and some runtime ones
    ancestors: tuple[int, ...] = ()  # `[originating from goroutine N]` ids, nearest first
    header_extra: str = ""  # anything else in the header (`gp=0x.. m=nil`, synctest bubble), kept verbatim


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One aggregated record of a debug=1 or protobuf profile: N goroutines, one stack."""

    count: int  # how many goroutines share this stack
    labels: tuple[tuple[str, str], ...] = ()  # `# labels: {...}` / sample labels
    frames: tuple[Frame, ...] = ()  # top first, inlined frames expanded


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """Something wrong in an input: where, and what."""

    line: int | None  # 1-based line in the file where it applies, None if not line-bound
    message: str  # what was wrong, for a person

    def below(self, lines: int) -> Problem:
        """Return this problem as it stands `lines` lines further down a file (a part read on its own)."""
        return self if self.line is None or not lines else Problem(line=self.line + lines, message=self.message)


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """What one parsed file holds. Set by the parsers in ingest/."""

    format: str  # one of FORMATS
    profile: str = PROFILE_GOROUTINE  # goroutine | goroutineleak | heap
    go_version: str | None = None  # 'go1.27.3' where the dump shows it
    total: int | None = None  # the header's total (debug=1 `total N`), else None
    goroutines: tuple[Goroutine, ...] = ()  # debug2/traceback forms
    records: tuple[Record, ...] = ()  # debug1/pprof forms
    truncated: bool = False  # the dump ends mid-goroutine: counts are lower bounds
    crash: bool = False  # a SIGQUIT / panic / fatal error traceback
    time: datetime | None = None  # time found in the content (pprof time_nanos), UTC
    heap_inuse_bytes: int | None = None  # heap profiles: the sum of inuse_space
    problems: tuple[Problem, ...] = ()  # what the parser could not read, with lines
    # dumps the file holds back to back (debug=1 profile headers, debug=2 writer goroutines;
    # 0: none counted, e.g. a crash traceback); more than 1: the report reads each as a part
    dumps: int = 0

    @property
    def count(self) -> int:
        """Return the number of goroutines this snapshot holds."""
        if self.goroutines:
            return len(self.goroutines)
        return sum(r.count for r in self.records)


# ----------------------------------------------------------------------- signature


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Signature:
    """The identity of a stack: its normalised frames only. Set by signature.py.

    Signatures are dict keys on every hot path, and equal ones arrive as distinct
    objects from worker processes and the cache; so the canonical key string (one
    frame a line) is built once, and hashing and equality use it at C speed instead
    of walking the frames. It travels with the pickle; its hash is recomputed after
    unpickling because string hashes differ between processes.
    """

    frames: tuple[Frame, ...]  # normalised, top first (leading runtime frames dropped)
    _key: str = field(init=False, repr=False, default="")  # canonical key, see key()
    _hash: int = field(init=False, repr=False, default=0)  # hash(_key), cached

    def __post_init__(self) -> None:
        k = "\n".join(f"{f.function} {f.file}:{f.line}" for f in self.frames)
        object.__setattr__(self, "_key", k)
        object.__setattr__(self, "_hash", hash(k))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Signature):
            return NotImplemented
        return self._key == other._key

    def __getstate__(self) -> tuple:
        return (self.frames, self._key)

    def __setstate__(self, state: tuple) -> None:
        object.__setattr__(self, "frames", state[0])
        object.__setattr__(self, "_key", state[1])
        object.__setattr__(self, "_hash", hash(state[1]))

    def key(self) -> str:
        """Return the canonical one-string key of this signature (one frame a line)."""
        return self._key


# ----------------------------------------------------------------------- aggregate


@dataclass(frozen=True, slots=True, kw_only=True)
class StackCount:
    """How many goroutines of one snapshot share one signature, and how they wait."""

    signature: Signature  # the identity
    count: int  # goroutines with this signature
    states: tuple[tuple[str, int], ...] = ()  # (state, count), most common first; () for debug1/pprof
    created_by: Frame | None = None  # the most common created-by frame (without parent id)
    labels: tuple[tuple[tuple[tuple[str, str], ...], int], ...] = ()  # (label set, count)
    leaked: int = 0  # goroutines flagged `(leaked)`
    max_wait_minutes: int | None = None  # the largest header minutes, None where not carried
    # what stuck detection follows by id (text forms only; () for debug1/pprof):
    # the goroutine ids at this signature and, aligned with them, their header minutes.
    # Plain int columns, not one record per goroutine: a nightly run reads hundreds of
    # thousands of them back from the cache.
    ids: tuple[int, ...] = ()
    waits: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """A parsed file reduced to what correlation needs. Set by aggregate; cached."""

    format: str  # one of FORMATS
    profile: str  # goroutine | goroutineleak | heap
    go_version: str | None  # as in Snapshot
    total: int  # goroutines counted (header total when larger: a lower bound otherwise)
    header_total: int | None  # the header's own total, if any
    truncated: bool  # counts are lower bounds
    crash: bool  # crash traceback
    time: datetime | None  # time found in the content
    heap_inuse_bytes: int | None  # heap profiles
    stacks: tuple[StackCount, ...]  # one per signature, largest first
    max_id: int | None = None  # the highest goroutine id seen (restart detection)
    problems: tuple[Problem, ...] = ()  # carried from the Snapshot
    dumps: int = 0  # carried from the Snapshot (summed over a big file's byte ranges)


# ----------------------------------------------------------------------- discover


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Store:
    """How to reach the object store an archive URL names (fsspec). Set by ingest.store.

    It travels with every Source of the store, to whatever process (a Dask worker)
    opens it; its options may hold credentials, so its repr shows their keys only
    and nothing writes it out (the cache keeps no Source)."""

    protocol: str  # the URL's scheme as fsspec knows it: s3, gs, az, memory, ...
    options: str = "{}"  # the storage options as sorted JSON (--storage-option, config `storage:`)

    def __repr__(self) -> str:
        """Return the protocol and the option keys, never their values."""
        import json

        keys = ",".join(sorted(json.loads(self.options)))
        return f"Store({self.protocol}://, options: {keys or 'none'})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """One input file, on disk or inside an archive. Set by discover.py."""

    path: str  # display path relative to the archive root ('x.tar.gz/member/path' inside archives)
    fs_path: str  # the file on disk to open (the archive file for members); an object's URL in a store
    member: str | None = None  # member name inside fs_path when it is a tar/zip, else None
    size: int = 0  # bytes on disk (compressed size for members)
    mtime: float = 0.0  # seconds since the epoch
    series: str = "."  # series id this file belongs to
    name_time: datetime | None = None  # timestamp read from the file name, UTC
    # set by sniffing the first bytes (ingest.sniff), before grouping:
    format: str | None = None  # one of FORMATS, None if not a goroutine dump
    profile: str | None = None  # goroutine | goroutineleak | heap | cpu, mutex, ...
    crash: bool = False  # a SIGQUIT / panic / fatal error traceback
    line_prefix: bytes | None = None  # regex of the log prefix every dump line carries (ingest.prefix), None: plain
    # which of a debug=1 file's back-to-back profiles this is (1-based; its path ends in `#N`), None: the whole file
    part: int | None = None
    # set for an object in a store (ingest.store), None for a local file:
    store: Store | None = None  # how to reach it; fs_path is then its URL
    version: str | None = None  # the object's ETag (else its last-modified) from the listing: the cache's key


@dataclass(frozen=True, slots=True, kw_only=True)
class Moment:
    """The files of one series at one moment. Set by discover.py."""

    series: str  # series id
    time: datetime  # UTC
    time_source: str  # name | content | mtime
    primary: Source  # the richest source
    sources: tuple[Source, ...]  # every file of this moment, primary first
    format: str  # the primary's format
    crash: bool = False  # a crash dump: never merged with other files


@dataclass(frozen=True, slots=True, kw_only=True)
class Skipped:
    """An input not used, and why."""

    path: str  # display path
    reason: str  # for a person


# ----------------------------------------------------------------------- correlate


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    """A stretch of a series between restarts, inclusive snapshot indices."""

    first: int  # index of the first snapshot
    last: int  # index of the last snapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryPoint:
    """The heap in use at one moment, from a heap profile."""

    time: datetime  # UTC
    inuse_bytes: int  # sum of inuse_space
    source: str  # display path of the heap profile


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotInfo:
    """One snapshot of a series as the report lists it."""

    time: datetime  # UTC
    time_source: str  # name | content | mtime
    source: str  # the primary file's display path
    sources: tuple[str, ...]  # every file of this moment
    format: str  # primary format
    goroutines: int  # total goroutines
    truncated: bool  # counts are lower bounds
    crash: bool  # crash dump
    go_version: str | None = None  # where shown
    problems: tuple[str, ...] = ()  # parse problems, for the inputs list


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeline:
    """One signature's counts across a series. Set by correlate.py."""

    signature: Signature  # identity
    counts: tuple[int, ...]  # aligned with Series.snapshots; absent = 0
    lower_bound: tuple[bool, ...]  # True where the snapshot was truncated
    states: tuple[tuple[str, int], ...] = ()  # states over the whole series (summed over snapshots), most common first
    created_by: Frame | None = None  # most common created-by
    labels: tuple[tuple[tuple[tuple[str, str], ...], int], ...] = ()  # label sets seen, with counts (summed over snapshots)
    # the same in the series' last snapshot only: goroutines there, which the counts' last value sums to
    states_last: tuple[tuple[str, int], ...] = ()
    labels_last: tuple[tuple[tuple[tuple[str, str], ...], int], ...] = ()
    leaked: int = 0  # the most goroutines proven leaked at one snapshot
    max_wait_minutes: tuple[int | None, ...] = ()  # per snapshot, None where not carried
    # stuck evidence, per snapshot: how many goroutines of this signature have been seen
    # blocked here (same id) since an earlier snapshot, and the longest such wait in minutes
    stuck_ids: tuple[int, ...] = ()
    stuck_minutes: tuple[float, ...] = ()
    stuck_since: datetime | None = None  # first time the oldest stuck id was seen here
    # per snapshot, goroutines whose id was here in the previous snapshot with ids (woken or
    # not); -1 where ids could not be compared (no ids, the segment's first, a truncated pair)
    kept_ids: tuple[int, ...] = ()
    # where a person can see it: the last snapshot that holds it (-1: none) and, in text
    # forms, the lowest goroutine ids it has there (at most EVIDENCE_IDS): what the
    # reports name so that `goroscope inspect FILE --stack ID` shows its stack
    last_seen: int = -1
    last_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LastRow:
    """One signature of a series' last snapshot, as its all-signatures table shows it. Set by correlate.py."""

    # the frame the table names: the leak-site rule's pick (signature.leak_site), None where there is none
    function: str | None
    location: str | None  # its file:line
    count: int  # goroutines at the last snapshot
    state: str | None  # the most common state there (else over the series); None where the form carries none
    # identity, kept only where the series keeps the signature's timeline (correlate.trimmed): what marks a suspect's row
    signature: Signature | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SeriesDigest:
    """What the reports read of every signature of a series, so that a series keeps only some Timelines. Set by correlate.py."""

    states: tuple[tuple[str, int], ...]  # states summed over every signature and snapshot, most common first
    label_sets: tuple[tuple[tuple[str, str], ...], ...]  # every label set seen (what redaction masks)
    last: tuple[LastRow, ...]  # signatures present in the last snapshot, most goroutines first (at most correlate.LAST_ROWS)
    present: int  # how many signatures the last snapshot holds (last may list fewer)


EVIDENCE_IDS = 8  # goroutine ids a report names per suspect (the oldest: lowest ids)


@dataclass(frozen=True, slots=True, kw_only=True)
class Series:
    """The snapshots of one process (host, pod) in time order."""

    id: str  # folder path relative to the archive ('.' for its root)
    snapshots: tuple[SnapshotInfo, ...]  # time order
    segments: tuple[Segment, ...]  # restarts split the series
    memory: tuple[MemoryPoint, ...] = ()  # heap profiles' in-use bytes over time
    timelines: tuple[Timeline, ...] = ()  # one per signature seen in the series
    totals: tuple[int, ...] = ()  # goroutines per snapshot
    leak_profiles: tuple[str, ...] = ()  # goroutineleak profiles read as evidence
    leak_profile_times: tuple[datetime, ...] = ()  # when each of leak_profiles ran, aligned with it
    # every snapshot is timed by its file's mtime, each under a second after the one
    # before (files copied or unpacked together): no rate can be read from the times
    time_uncertain: bool = False
    # what the reports read of every signature; timelines may then hold only those a report shows (correlate.trimmed)
    digest: SeriesDigest | None = None


# --------------------------------------------------------------------------- rank


class Kind(StrEnum):
    """What kind of suspect, in the one order every output ranks by (within equal severity).

    Proven first (the runtime's goroutineleak profile flagged the goroutines), then
    growing (a count that keeps rising), then stuck (the same goroutines blocked for
    long). The order decides between suspects of the same size class only: proof
    orders kinds, it does not trump size (rank.order_key). A StrEnum, so the JSON
    and templates see the plain string ("leaked", "growing", "stuck").
    """

    LEAKED = "leaked"
    GROWING = "growing"
    STUCK = "stuck"

    @property
    def order(self) -> int:
        """Return this kind's place in the report order (0 first)."""
        return _KIND_ORDER[self]

    @property
    def label(self) -> str:
        """Return the kind as a person reads it ('leaked (proven)')."""
        return "leaked (proven)" if self is Kind.LEAKED else self.value


_KIND_ORDER = {k: i for i, k in enumerate(Kind)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Variant:
    """One signature merged into a suspect."""

    leak_site: Frame  # where this variant blocks
    counts: tuple[int, ...]  # aligned with the series' snapshots
    signature: Signature  # its identity


@dataclass(frozen=True, slots=True, kw_only=True)
class Pool:
    """The goroutines of a series created at one site (a worker pool), and how many of them a stuck suspect holds. Set by rank.py."""

    created_by: Frame  # the `go` statement that made them
    size: int  # goroutines created there at the last snapshot, every signature
    stuck: int  # of them, stuck at the suspect's site


@dataclass(frozen=True, slots=True, kw_only=True)
class Suspect:
    """A leak the report names. Set by rank.py."""

    series: str  # series id
    rank: int  # 1 = worst, within its series
    kind: Kind  # leaked | growing | stuck (a StrEnum: equal to its string)
    score: float  # in [0, 1]
    fingerprint: str  # stable across runs and deploys (function names, not lines)
    leak_site: Frame  # first application frame (or the entry frame of a stdlib-only stack)
    created_by: Frame | None  # where the goroutines were started; None where not carried
    state: str | None  # most common state; None where not carried
    counts: tuple[int, ...]  # aligned with the series' snapshots
    growth_per_hour: float  # robust slope
    max_wait_minutes: float | None  # None where not carried
    explanation: str  # one sentence a person can act on
    stack: tuple[Frame, ...]  # the signature's frames
    variants: tuple[Variant, ...] = ()  # merged signatures (all of them, the main one first)
    also_in: tuple[str, ...] = ()  # other series with the same fingerprint
    states: tuple[tuple[str, int], ...] = ()  # all states with counts, summed over the snapshots
    labels: tuple[tuple[tuple[tuple[str, str], ...], int], ...] = ()  # label sets, summed over the snapshots
    states_last: tuple[tuple[str, int], ...] = ()  # states of its goroutines in the series' last snapshot
    labels_last: tuple[tuple[tuple[tuple[str, str], ...], int], ...] = ()  # label sets in the last snapshot
    evidence: tuple[tuple[str, float], ...] = ()  # named statistics behind the score
    baseline: str | None = None  # new | known (with --baseline), else None: this series had it in the baseline
    baseline_leak: str | None = None  # new | known (with --baseline): any series of the baseline had its fingerprint
    acknowledged: bool = False  # matched an acknowledged fingerprint in the config
    memory_correlation: float | None = None  # correlation of counts with heap in use
    evidence_snapshot: int | None = None  # the last snapshot holding its goroutines (its main signature's), None: none
    evidence_ids: tuple[int, ...] = ()  # the lowest of its goroutine ids there (text forms), at most EVIDENCE_IDS
    state_inferred: bool = False  # `state` was read from the stack's runtime frames (debug=1, protobuf), not printed by the runtime
    created_by_from: str | None = None  # the series `created_by` was borrowed from (same stack there), None: this series' own
    pool: Pool | None = None  # stuck: the pool (same created-by) its goroutines belong to, None where created-by is unknown
    parked_since_start: bool = False  # a set parked at start-up and unchanged since (Report.parked, never a suspect)


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingSeries:
    """One series a finding is a suspect in: that suspect's place and numbers. Set by findings.py."""

    series: str  # series id
    group: str  # its service group ('.' for the archive root)
    rank: int  # the suspect's rank within the series
    kind: Kind  # the suspect's kind there
    score: float  # the suspect's score there
    counts: tuple[int, ...]  # aligned with that series' snapshots
    growth_per_hour: float  # the suspect's robust slope there
    max_wait_minutes: float | None  # None where not carried
    status: str | None = None  # new | known in that series (with --baseline), else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One leak across the fleet: a fingerprint, with every series where it is a suspect. Set by findings.py."""

    fingerprint: str  # the suspects' shared fingerprint (leak site + signature family)
    kind: Kind  # of its worst-ranked suspect
    score: float  # the highest score of its suspects
    leak_site: Frame  # of its worst-ranked suspect
    created_by: Frame | None  # of the first suspect that carries one
    state: str | None  # most common state of its worst-ranked suspect
    explanation: str  # its worst-ranked suspect's sentence
    series: tuple[FindingSeries, ...]  # where it is a suspect, worst first
    groups: tuple[tuple[str, int, int], ...]  # (service group, series of it with this finding, series in the group)
    first_total: int  # goroutines at the first snapshot, summed over its series
    last_total: int  # at the last snapshot, summed
    peak_total: int  # each series' peak, summed
    growth_per_hour: float  # summed over its series
    max_wait_minutes: float | None  # the longest wait in any of its series
    status: str | None = None  # new (no series of the baseline had it) | known, with --baseline
    acknowledged: bool = False  # acknowledged in the config (by fingerprint: all its suspects are)
    state_inferred: bool = False  # its state was read from runtime frames (debug=1, protobuf), see Suspect
    created_by_from: str | None = None  # the series its created-by was borrowed from, see Suspect
    pool: Pool | None = None  # stuck: the pool of its worst-ranked suspect, see Suspect
    pooled_p: float | None = None  # the pooled trend test's p-value over its service's series (growing), rank.py
    q: float | None = None  # that p-value adjusted for the run's many tests (Benjamini-Hochberg), rank.py


# ------------------------------------------------------------------------ baseline


@dataclass(frozen=True, slots=True, kw_only=True)
class BaselineSuspect:
    """One suspect of a previous report (--baseline). Set by baseline.py."""

    series: str  # its series id ('.' where the report gave none)
    fingerprint: str  # its fingerprint ('' where the report gave none)
    leak_site: Frame | None = None  # where it blocked, None where the report gave no frame
    kind: str | None = None  # growing | stuck | leaked, as the report said


@dataclass(frozen=True, slots=True, kw_only=True)
class Baseline:
    """A previous goroscope.report/1 document, as much of it as a run compares with. Set by baseline.py."""

    source: str | None = None  # the report file it was read from; None: no previous report (every suspect is new)
    suspects: tuple[BaselineSuspect, ...] = ()  # every suspect of every series, in the report's order


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """Everything the renderers need; renderers never re-parse."""

    archive: str  # the path as given
    generated_at: datetime  # UTC
    tool_version: str  # goroscope version
    command: str  # the command line
    series: tuple[Series, ...]  # in id order
    suspects: tuple[Suspect, ...]  # all series, best first within each series
    findings: tuple[Finding, ...] = ()  # the suspects grouped by fingerprint across series, worst first
    skipped: tuple[Skipped, ...] = ()  # inputs not used, with reasons
    inputs: tuple[str, ...] = ()  # every input read
    gone: tuple[BaselineSuspect, ...] = ()  # with --baseline: suspects of the baseline not seen now, by (series, fingerprint)
    config_digest: str = ""  # sha256 prefix of the effective config
    settled: tuple[str, ...] = ()  # files left for the next run by --settle
    stable: tuple[tuple[str, Timeline], ...] = field(default=())  # large, stable signatures (series id, timeline)
    warnings: tuple[str, ...] = ()  # things the user should know that are not skipped inputs (cache rebuilt, ...)
    parked: tuple[Suspect, ...] = ()  # sets parked since start-up and unchanged since (rank.py): listed below the leaks, never suspects
