"""Realistic synthetic Reports for the renderer tests (the pipeline is not needed).

`make_report()` builds an archive of three series shaped like real services: an
orders API leaking result-channel sends and unclosed HTTP bodies (debug=2 with
debug=1 beside it), a second pod of it with a restart, heap profiles, pprof
snapshots and pprof labels, and a tracing collector whose fixed worker pool is
stuck in WaitGroup.Wait (-trimpath paths). `hostile_report()` puts markup,
`javascript:` and file URLs into every string a dump controls.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from goroscope.model import (
    Frame,
    MemoryPoint,
    Report,
    Segment,
    Series,
    Signature,
    Skipped,
    SnapshotInfo,
    Suspect,
    Timeline,
)

T0 = datetime(2026, 12, 1, 8, 21, 16, tzinfo=timezone.utc)
GENERATED = datetime(2026, 12, 1, 9, 0, 0, tzinfo=timezone.utc)

INV = "github.com/acme/orders/internal/inventory"
INV_FILE = "/go/src/github.com/acme/orders/internal/inventory/lookup.go"
TRANSPORT = "/usr/local/go/src/net/http/transport.go"

ORDERS_QUERY = [5, 16, 28, 28, 28, 28, 31, 37, 49, 54, 54, 55, 61, 73, 83, 83, 84, 85, 90, 97]
ORDERS_READ = [4, 23, 32, 34, 36, 39, 41, 51, 65, 66, 70, 72, 75, 85, 92, 94, 94, 95, 102, 117]
RESTARTED = [2, 6, 9, 14, 18, 22, 27, 31, 35, 40, 1, 4, 8, 11, 15, 19, 22, 26, 30, 34]


def f(function: str, file: str, line: int) -> Frame:
    """Return a Frame."""
    return Frame(function=function, file=file, line=line)


def snapshots(series_dir: str, n: int, totals, *, fmt="debug2", step=5, name="goroutine-{t}Z.debug2.txt", extra=None):
    """Return `n` SnapshotInfo records every `step` seconds."""
    out = []
    for i in range(n):
        t = T0 + timedelta(seconds=step * i)
        stamp = t.strftime("%Y-%m-%dT%H:%M:%S")
        src = f"{series_dir}/{name.format(t=stamp, i=i)}"
        sources = (src,) + ((f"{series_dir}/{extra.format(t=stamp, i=i)}",) if extra else ())
        out.append(
            SnapshotInfo(
                time=t,
                time_source="name",
                source=src,
                sources=sources,
                format=fmt,
                goroutines=totals[i],
                truncated=False,
                crash=False,
                go_version="go1.27.3",
            )
        )
    return tuple(out)


def timeline(frames, counts, states=(), created_by=None, labels=()) -> Timeline:
    """Return a Timeline."""
    return Timeline(
        signature=Signature(frames=tuple(frames)),
        counts=tuple(counts),
        lower_bound=tuple(False for _ in counts),
        states=tuple(states),
        created_by=created_by,
        labels=tuple(labels),
    )


def _fingerprint(stack, site: Frame) -> str:
    """Return the fingerprint (signature.fingerprint) rank.py gives this stack and leak site (line-free, created-by-free)."""
    from goroscope.config import Config
    from goroscope.signature import fingerprint

    return fingerprint(Signature(frames=tuple(stack)), site, Config().signature_options())


def make_suspect(
    *,
    series: str,
    rank: int,
    kind: str,
    score: float,
    stack,
    counts,
    state: str | None,
    created_by: Frame | None,
    growth: float,
    explanation: str,
    leak_site: Frame | None = None,
    max_wait: float | None = None,
    states=(),
    labels=(),
    also_in=(),
    variants=(),
    evidence=(),
    memory_correlation=None,
) -> Suspect:
    """Return a Suspect (leak site defaults to the top frame)."""
    stack = tuple(stack)
    site = leak_site or stack[0]
    return Suspect(
        series=series,
        rank=rank,
        kind=kind,
        score=score,
        fingerprint=_fingerprint(stack, site),
        leak_site=site,
        created_by=created_by,
        state=state,
        counts=tuple(counts),
        growth_per_hour=growth,
        max_wait_minutes=max_wait,
        explanation=explanation,
        stack=stack,
        variants=tuple(variants),
        also_in=tuple(also_in),
        states=tuple(states),
        labels=tuple(labels),
        # the last snapshot's share of them: as many goroutines as the counts end on
        states_last=_scaled(states, counts[-1] if counts else 0),
        labels_last=_scaled(labels, counts[-1] if counts else 0),
        evidence=tuple(evidence),
        memory_correlation=memory_correlation,
    )


def _scaled(pairs, total: int) -> tuple:
    """Return (key, count) `pairs` scaled to sum to about `total` (none dropped to zero)."""
    pairs = tuple(pairs)
    whole = sum(c for _, c in pairs)
    if not whole:
        return ()
    return tuple((k, max(1, round(c * total / whole))) for k, c in pairs if total)


def make_report(**overrides) -> Report:
    """Return a three-series Report with growing, stuck and restarted suspects."""
    query = [f(f"{INV}.(*Client).query", INV_FILE, 46)]
    available = f(f"{INV}.(*Client).Available", INV_FILE, 34)
    read_loop = [f("net/http.(*persistConn).readLoop", TRANSPORT, 2616)]
    dial = f("net/http.(*Transport).dialConn", TRANSPORT, 2123)
    serve = [
        f("internal/poll.(*FD).Read", "/usr/local/go/src/internal/poll/fd_unix.go", 165),
        f("net.(*conn).Read", "/usr/local/go/src/net/net.go", 196),
        f("net/http.(*connReader).Read", "/usr/local/go/src/net/http/server.go", 798),
        f("bufio.(*Reader).fill", "/usr/local/go/src/bufio/bufio.go", 113),
        f("net/http.(*conn).serve", "/usr/local/go/src/net/http/server.go", 2131),
    ]

    a_tot = [40 + q + r * 2 for q, r in zip(ORDERS_QUERY, ORDERS_READ)]
    a = Series(
        id="orders-a",
        snapshots=snapshots("orders-a", 20, a_tot, extra="goroutine-{t}Z.txt"),
        segments=(Segment(first=0, last=19),),
        totals=tuple(a_tot),
        timelines=(timeline(serve, [25] * 20, [("IO wait", 500)]),),
    )
    b_tot = [30 + 2 * c for c in RESTARTED]
    b_snaps = snapshots("orders-b", 20, b_tot, fmt="pprof", name="goroutine-{i:03d}.pb.gz")
    b = Series(
        id="orders-b",
        snapshots=b_snaps,
        segments=(Segment(first=0, last=9), Segment(first=10, last=19)),
        totals=tuple(b_tot),
        memory=tuple(
            MemoryPoint(time=s.time, inuse_bytes=(8 + RESTARTED[i] // 2) * 2**20, source=f"orders-b/heap-{i:03d}.pb.gz")
            for i, s in enumerate(b_snaps)
        ),
    )
    worker = [
        f("sync.runtime_SemacquireWaitGroup", "runtime/sema.go", 114),
        f("sync.(*WaitGroup).Wait", "sync/waitgroup.go", 118),
        f("github.com/acme/tracing/internal/sampling.(*TailPolicy).OnTick", "github.com/acme/tracing/internal/sampling/tail.go", 88),
        f("github.com/acme/tracing/internal/shard.(*Worker).loop", "github.com/acme/tracing/internal/shard/worker.go", 61),
    ]
    c_tot = [19] * 19
    c = Series(
        id="tracing-collector",
        snapshots=snapshots("tracing-collector", 19, c_tot, step=30, name="dump-{i:02d}.txt.gz"),
        segments=(Segment(first=0, last=18),),
        totals=tuple(c_tot),
    )
    suspects = (
        make_suspect(
            series="orders-a",
            rank=1,
            kind="growing",
            score=0.96,
            stack=read_loop,
            counts=ORDERS_READ,
            state="select",
            created_by=dial,
            growth=4400.0,
            explanation="117 goroutines in net/http.(*persistConn).readLoop (transport.go:2616), up from 4, "
            "and still rising: HTTP client connections whose response bodies are never closed.",
            states=[("select", 1100), ("select, 1 minutes", 120)],
            evidence=[("tau", 0.98), ("slope_per_hour", 4400.0)],
        ),
        make_suspect(
            series="orders-a",
            rank=2,
            kind="growing",
            score=0.93,
            stack=query,
            counts=ORDERS_QUERY,
            state="chan send",
            created_by=available,
            growth=3600.0,
            explanation="97 goroutines blocked sending on a channel in inventory.(*Client).query "
            "(lookup.go:46), up from 5 over 1 min 35 s; their creator Available has returned.",
            states=[("chan send", 900), ("chan send, 1 minutes", 80)],
            also_in=("orders-b",),
            evidence=[("tau", 0.97)],
        ),
        make_suspect(
            series="orders-b",
            rank=1,
            kind="growing",
            score=0.88,
            stack=query,
            counts=RESTARTED,
            state=None,
            created_by=None,
            growth=2900.0,
            explanation="Grows again after the restart at snapshot 10: 34 goroutines in inventory.(*Client).query, "
            "all from requests labelled tenant=t003.",
            also_in=("orders-a",),
            labels=[((("route", "export"), ("tenant", "t003")), 30), ((("route", "export"), ("tenant", "t007")), 4)],
            memory_correlation=0.97,
        ),
        make_suspect(
            series="tracing-collector",
            rank=1,
            kind="stuck",
            score=0.81,
            stack=worker[1:],
            leak_site=worker[2],
            counts=[8] * 19,
            state="sync.WaitGroup.Wait",
            created_by=f("github.com/acme/tracing/internal/shard.(*Pool).Start", "github.com/acme/tracing/internal/shard/pool.go", 40),
            growth=0.0,
            max_wait=8.0,
            explanation="8 goroutines have waited in sync.WaitGroup.Wait for 8 minutes (the same ids in every "
            "snapshot since 08:21): sampling.(*TailPolicy).OnTick never sees its WaitGroup reach zero.",
            states=[("sync.WaitGroup.Wait", 150)],
        ),
    )
    inputs = tuple(x for s in (a, b, c) for snap in s.snapshots for x in snap.sources)
    inputs += tuple(m.source for m in b.memory)
    report = Report(
        archive="/var/dumps/fleet-2026-12-01",
        generated_at=GENERATED,
        tool_version="0.1.0",
        command="goroscope report /var/dumps/fleet-2026-12-01 --format html,pdf",
        series=(a, b, c),
        suspects=suspects,
        skipped=(
            Skipped(path="orders-a/notes.txt", reason="not a goroutine dump (no goroutine header in the first 4 KiB)"),
            Skipped(path="orders-b/cpu-001.pb.gz", reason="a cpu profile, not a goroutine or heap profile"),
        ),
        inputs=inputs,
        config_digest="3f9a1c0d2e4b",
        stable=(("orders-a", a.timelines[0]),),
    )
    if overrides:
        from dataclasses import replace

        report = replace(report, **overrides)
    return with_findings(report)


def with_findings(report: Report) -> Report:
    """Return `report` with its findings, as the pipeline attaches them after rank."""
    from dataclasses import replace

    from goroscope.config import Config
    from goroscope.findings import find

    return replace(report, findings=find(report.suspects, report.series, Config()))


EVIL = '<script>alert(1)</script><img src=file:///etc/passwd onerror=alert(2)>'
EVIL_JS = "javascript:alert(3)"


def hostile_report() -> Report:
    """Return a Report whose dump-controlled strings carry markup and URLs."""
    base = make_report()
    evil_frame = f(f"main.{EVIL}", f"/src/{EVIL_JS}/</td><script>x()</script>.go", 7)
    s = make_suspect(
        series=f"pods/{EVIL}",
        rank=1,
        kind="growing",
        score=0.99,
        stack=[evil_frame, f("main.main", "/src/app/main.go", 3)],
        counts=[1, 2, 3, 4],
        state=f"chan receive {EVIL}",
        created_by=f(f"main.{EVIL_JS}", "/src/<b>bold</b>.go", 9),
        growth=10.0,
        explanation=f"grows in {EVIL} — see {EVIL_JS}",
        labels=[((("route", EVIL), ("secret", "hunter2")), 4)],
    )
    ser = Series(
        id=f"pods/{EVIL}",
        snapshots=snapshots(f"pods/{EVIL}", 4, [10, 11, 12, 13]),
        segments=(Segment(first=0, last=3),),
        totals=(10, 11, 12, 13),
    )
    from dataclasses import replace

    return with_findings(replace(
        base,
        archive=f"/tmp/{EVIL}",
        series=(ser,),
        suspects=(s,),
        skipped=(Skipped(path=f"{EVIL}.txt", reason=f"not a dump: {EVIL}"),),
        inputs=(f"{EVIL}.txt",),
        stable=(),
        command=f"goroscope report '{EVIL}'",
    ))
