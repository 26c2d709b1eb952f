"""The `goroscope.report/1` JSON document (DESIGN.md "JSON report contract").

Contract: built from the model (not the view-model); every field DESIGN.md lists
keeps its name and meaning; fields are only ever added. Labels named in
`render.redact_labels` are masked here as in every output. Keys are sorted within
each object only where the contract does not fix an order; output is deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone

from goroscope.config import Config
from goroscope import findings as findings_mod
from goroscope import words
from goroscope.hints import hint_for
from goroscope.model import BaselineSuspect, CreatedBy, Finding, Frame, Pool, Report, Series, Suspect, Timeline
from goroscope.render.evidence import evidence_of, representative
from goroscope.render.redact import REDACTED, Redactor
from goroscope.verdict import verdict

__all__ = ["SCHEMA", "report_dict", "render_json", "dumps", "iso", "frame_dict", "REDACTED"]

SCHEMA = "goroscope.report/1"


def iso(t: datetime | None) -> str | None:
    """Return `t` as ISO-8601 UTC with a Z (milliseconds when not whole seconds)."""
    if t is None:
        return None
    t = t.astimezone(timezone.utc) if t.tzinfo else t.replace(tzinfo=timezone.utc)
    base = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        base += f".{t.microsecond // 1000:03d}"
    return base + "Z"


def frame_dict(f: Frame | CreatedBy | None) -> dict | None:
    """Return {function, file, line} for a frame, None for None."""
    if f is None:
        return None
    return {"function": f.function, "file": f.file, "line": f.line}


def _gone(g: BaselineSuspect) -> dict:
    """Return one baseline suspect not seen now: {series, fingerprint, leak_site, kind}."""
    return {"series": g.series, "fingerprint": g.fingerprint, "leak_site": frame_dict(g.leak_site), "kind": g.kind}


def _labels(labelsets, redact: frozenset[str]) -> list[dict]:
    return [
        {"labels": {k: (REDACTED if k in redact else v) for k, v in ls}, "count": n}
        for ls, n in labelsets
    ]


def _inspect(s: Suspect | None, series: Series | None, archive: str) -> dict | None:
    """Return where `s` can be seen for oneself: {series, snapshot, source, time, format, count, goroutines, command, pprof_command}."""
    e = evidence_of(s, series, archive) if s is not None else None
    if e is None:
        return None
    return {"series": e.series, "snapshot": e.snapshot, "source": e.source, "time": iso(e.time), "format": e.format,
            "count": e.count, "goroutines": list(e.goroutines), "command": e.command, "pprof_command": e.pprof_command}


def _suspect(s: Suspect, redact: frozenset[str], red: Redactor, series: Series | None = None, archive: str = "") -> dict:
    return {
        "rank": s.rank,
        "kind": s.kind,
        "score": round(s.score, 3),
        "fingerprint": s.fingerprint,
        "leak_site": frame_dict(s.leak_site),
        "created_by": frame_dict(s.created_by),
        "state": s.state,
        "counts": list(s.counts),
        "growth_per_hour": round(s.growth_per_hour, 2),
        "max_wait_minutes": None if s.max_wait_minutes is None else round(s.max_wait_minutes, 1),
        "explanation": red.text(s.explanation),
        "stack": [frame_dict(f) for f in s.stack],
        "variants": [{"leak_site": frame_dict(v.leak_site), "counts": list(v.counts)} for v in s.variants],
        "also_in": list(s.also_in),
        # additions to the contract
        "states": [{"state": st, "count": n} for st, n in s.states],
        "labels": _labels(s.labels, redact),
        # states and labels summed over the snapshots say how often, these how many now
        "states_last": [{"state": st, "count": n} for st, n in s.states_last],
        "labels_last": _labels(s.labels_last, redact),
        "evidence": {k: round(v, 4) for k, v in s.evidence},
        "status": s.baseline,
        "acknowledged": s.acknowledged,
        "memory_correlation": None if s.memory_correlation is None else round(s.memory_correlation, 3),
        "hint": _hint(s),
        "inspect": _inspect(s, series, archive),
        "state_inferred": s.state_inferred,
        "created_by_from": s.created_by_from,
        "pool": _pool(s.pool),
        "parked_since_start": s.parked_since_start,
    }


def _pool(p: Pool | None) -> dict | None:
    """Return a stuck suspect's pool as {created_by, size, stuck}, None where unknown."""
    return None if p is None else {"created_by": frame_dict(p.created_by), "size": p.size, "stuck": p.stuck}


def _hint(s: Suspect) -> dict | None:
    """Return the fix hint of `s` as {pattern, title, text} (hints.py), None when none is recognised."""
    h = hint_for(s)
    return None if h is None else {"pattern": h.pattern, "title": h.title, "text": h.text}


def _finding(f: Finding, top: Suspect | None, red: Redactor, shown: Suspect | None, series: Series | None, archive: str) -> dict:
    return {
        "fingerprint": f.fingerprint,
        "kind": f.kind,
        "score": round(f.score, 3),
        "leak_site": frame_dict(f.leak_site),
        "created_by": frame_dict(f.created_by),
        "state": f.state,
        "where": words.where(f.groups, [(m.group, m.series) for m in f.series]),
        "groups": [{"group": g, "series": n, "of": total} for g, n, total in f.groups],
        "first": f.first_total,
        "last": f.last_total,
        "peak": f.peak_total,
        "growth_per_hour": round(f.growth_per_hour, 2),
        "max_wait_minutes": None if f.max_wait_minutes is None else round(f.max_wait_minutes, 1),
        "explanation": red.text(f.explanation),
        "status": f.status,
        "acknowledged": f.acknowledged,
        "hint": _hint(top) if top is not None else None,
        "state_inferred": f.state_inferred,
        "created_by_from": f.created_by_from,
        "pool": _pool(f.pool),
        "pooled_p": f.pooled_p,
        "q": f.q,
        "series": [
            {
                "id": m.series,
                "group": m.group,
                "rank": m.rank,
                "kind": m.kind,
                "score": round(m.score, 3),
                "counts": list(m.counts),
                "growth_per_hour": round(m.growth_per_hour, 2),
                "max_wait_minutes": None if m.max_wait_minutes is None else round(m.max_wait_minutes, 1),
                "status": m.status,
            }
            for m in f.series
        ],
        # the series whose suspect the reports show for this finding: the highest peak
        "representative": shown.series if shown is not None else None,
        "stack": [frame_dict(x) for x in shown.stack] if shown is not None else [],
        "inspect": _inspect(shown, series, archive),
    }


def _timeline(t: Timeline) -> dict:
    return {"stack": [frame_dict(f) for f in t.signature.frames], "counts": list(t.counts)}


def _series(series: Series, suspects: list[Suspect], redact: frozenset[str], red: Redactor, archive: str) -> dict:
    return {
        "id": series.id,
        "snapshots": [
            {
                "time": iso(s.time),
                "time_source": s.time_source,
                "source": s.source,
                "sources": list(s.sources),
                "format": s.format,
                "goroutines": s.goroutines,
                "truncated": s.truncated,
                "crash": s.crash,
                "go_version": s.go_version,
                "problems": list(s.problems),
            }
            for s in series.snapshots
        ],
        "segments": [{"first": seg.first, "last": seg.last} for seg in series.segments],
        "memory": [{"time": iso(m.time), "inuse_bytes": m.inuse_bytes, "source": m.source} for m in series.memory],
        "suspects": [_suspect(s, redact, red, series, archive) for s in suspects],
        "leak_profiles": list(series.leak_profiles),
        "time_uncertain": series.time_uncertain,
    }


def report_dict(report: Report, config: Config) -> dict:
    """Return the goroscope.report/1 document of `report`."""
    redact = frozenset(config.render.redact_labels)
    red = Redactor(tuple(redact), (ls for s in report.suspects for ls, _ in s.labels))
    by_series: dict[str, list[Suspect]] = {}
    for s in report.suspects:
        by_series.setdefault(s.series, []).append(s)
    for lst in by_series.values():
        lst.sort(key=lambda s: s.rank)
    # a finding's hint is its worst suspect's (findings.py puts that series first)
    first = {(f.series[0].series, f.fingerprint) for f in report.findings if f.series}
    worst = {s.fingerprint: s for s in report.suspects if (s.series, s.fingerprint) in first}
    by_key = {(s.series, s.fingerprint): s for s in report.suspects}
    shown = {f.fingerprint: representative(f, by_key) for f in report.findings}
    series_of = {se.id: se for se in report.series}
    return {
        "schema": SCHEMA,
        "generated_at": iso(report.generated_at),
        "tool": {"version": report.tool_version, "command": report.command, "config_digest": report.config_digest},
        "archive": report.archive,
        # every file of every series is listed: one series' dict at a time (json_bytes)
        "series": _Each(report.series, lambda s: _series(s, by_series.get(s.id, []), redact, red, report.archive)),
        "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
        # additions to the contract
        "inputs": list(report.inputs),
        "settling": list(report.settled),
        "gone": [_gone(g) for g in report.gone],
        "warnings": list(report.warnings),
        "stable": [{"series": sid, **_timeline(t)} for sid, t in report.stable],
        # one leak across every series where it is a suspect, worst first (README "JSON report")
        "verdict": verdict(report, config).text,
        "findings": [_finding(f, worst.get(f.fingerprint), red, shown[f.fingerprint], series_of.get(getattr(shown[f.fingerprint], "series", None)), report.archive)
                     for f in report.findings],
        "findings_gone": [dict(g, leak_site=frame_dict(g["leak_site"])) for g in findings_mod.gone(report)],
        # sets parked since start-up and unchanged since: not suspects, listed below the leaks (README "Evidence")
        "parked": [dict(_suspect(p, redact, red), series=p.series) for p in report.parked],
    }


def render_json(report: Report, config: Config) -> str:
    """Return the JSON text of `report` (newline at the end): see dumps()."""
    return json_bytes(report, config).decode("utf-8")


def json_bytes(report: Report, config: Config) -> bytes:
    """Return the JSON of `report` in UTF-8 (newline at the end), as dumps() lays it out (see json_chunks)."""
    return b"".join(json_chunks(report, config))


def json_chunks(report: Report, config: Config) -> Iterator[bytes]:
    """Yield the JSON of `report` in UTF-8 (newline at the end), as dumps() lays it out, a piece at a time.

    Its largest part lists every file of every series (the contract): it is made a
    series at a time, and each piece encoded and yielded at once, so that no whole tree
    of dicts nor any copy of the text is held when it is written as made (tens of MB
    at a fleet's 40,000 files: render.write_outputs)."""
    doc = report_dict(report, config)
    for i, (key, value) in enumerate(doc.items()):
        head = ("{\n" if i == 0 else ",\n") + f"  {_compact(key)}: "
        if not isinstance(value, _Each):
            yield (head + dumps(value, "  ", "  ")).encode("utf-8")
            continue
        if not value.items:
            yield (head + "[]").encode("utf-8")
            continue
        yield (head + "[").encode("utf-8")
        for k, item in enumerate(value.items):
            yield ((",\n" if k else "\n") + "    " + dumps(value.make(item), "  ", "    ")).encode("utf-8")
        yield b"\n  ]"
    yield b"\n}\n" if doc else b"{}\n"


class _Each:
    """A list whose items dumps() renders each from `make(item)`, made just then (a fleet's series: one dict at a time)."""

    __slots__ = ("items", "make")

    def __init__(self, items, make) -> None:  # type: ignore[no-untyped-def]
        """Hold `items` and how each becomes what dumps() renders."""
        self.items = items
        self.make = make

    def __iter__(self):  # type: ignore[no-untyped-def]
        """Yield each item made."""
        return (self.make(x) for x in self.items)


_compact = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
_SCALARS = (str, int, float, bool, type(None))


def dumps(obj, indent: str = "  ", _at: str = "") -> str:
    """Return `obj` as JSON indented by structure, with flat lists and objects on one line.

    A frame {function, file, line}, a leak site or a `counts` list reads best on one
    line; and json's indenting encoder is pure Python while the compact one is C, so a
    report of hundreds of thousands of values is written several times faster.
    """
    if isinstance(obj, dict):
        if not obj or all(isinstance(v, _SCALARS) for v in obj.values()):
            return _compact(obj)
        inner = _at + indent
        items = [f"{inner}{_compact(str(k))}: {dumps(v, indent, inner)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + _at + "}"
    if isinstance(obj, _Each):
        obj = list(obj)
    if isinstance(obj, (list, tuple)):
        if not obj or all(isinstance(v, _SCALARS) for v in obj):
            return _compact(list(obj))
        inner = _at + indent
        return "[\n" + ",\n".join(inner + dumps(v, indent, inner) for v in obj) + "\n" + _at + "]"
    return _compact(obj)
