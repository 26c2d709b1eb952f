"""Plain-text views for the terminal: the report summary, `inspect` and `diff`.

Contract: pure functions from records to text (or JSON-ready dicts); cli.py prints
them. The report summary is a renderer of the run's ReportView like the HTML and
Markdown (same order, verdict and words); `inspect` and `diff` read Summaries.
Lines fit `width` columns (80 by default): long `file:line` locations and function
names lose whole leading path components ('…/', words.fit_left), never the file name.
"""

from __future__ import annotations

import textwrap
from collections import Counter

from goroscope import words
from goroscope.config import Config
from goroscope.model import Snapshot, Summary
from goroscope.render.view import FindingView, ReportView, SuspectView
from goroscope.signature import leak_site

__all__ = ["summary_text", "inspect_json", "inspect_json_chunks", "inspect_text", "diff_rows", "diff_text", "short_location", "short_function"]


def short_location(file: str, line: int, width: int) -> str:
    """Return `file:line` within `width`: leading folders dropped whole, the file name kept."""
    return words.fit_left(f"{file}:{line}", width)


def short_function(name: str, width: int) -> str:
    """Return a function name within `width`: leading parts of its package path dropped whole."""
    return words.fit_left(name, width)


def _wrap(text: str, width: int, indent: str = "", more: str | None = None) -> list[str]:
    """Return `text` wrapped to `width` at spaces only: a series id, a path or a name is never split.

    Hyphens are no break (a broken 'ledger-api' reads as two series) and a word
    longer than the line keeps its own line whole; nothing is cut.
    """
    return textwrap.wrap(
        text, width=width, initial_indent=indent, subsequent_indent=indent if more is None else more,
        break_long_words=False, break_on_hyphens=False,
    ) or [indent.rstrip()]


def _finding_lines(f: FindingView, width: int) -> list[str]:
    """Return the lines of one finding: number, kind, tags and where; the site; the numbers; the sentence."""
    head = f"{f.number:>2}. {f.kind:<8} {f.trend}"
    if f.trend_each:
        head += f" ({f.trend_each})"
    tags = [t for t in (f.status, "acknowledged" if f.acknowledged else None) if t]
    lines = _wrap(f"{head}  in {f.where}" + (f"  [{', '.join(tags)}]" if tags else ""), width, more="    ")
    lines.append("    at " + words.fit_left(f.location, width - 7))
    lines.append("    " + short_function(f.function, width - 4))
    facts = [x for x in (None if f.state == "—" else f.state, f"{f.counts_label} goroutines", f"score {f.score}") if x]
    if f.max_wait != "—":
        facts.append(f"waiting {f.max_wait}")
    lines.extend(_wrap(" · ".join(facts), width, "    "))
    if f.created_by is not None:
        lines.append("    created at " + words.fit_left(f.created_by.location, width - 15))
    # the sentence is one series' evidence: say which, when the finding spans several
    lines.extend(_wrap(f"in {f.series_ids[0]}: {f.explanation}" if f.series_count > 1 else f.explanation, width, "    "))
    return lines


def _suspect_lines(s: SuspectView, width: int) -> list[str]:
    """Return one suspect of a series: rank, kind, site, counts, trend, its finding and tags, wrapped, never cut."""
    tags = "".join(f"  [{t}]" for t in (s.baseline, "acknowledged" if s.acknowledged else None) if t)
    return _wrap(f"{s.rank:>2}. {s.kind:<8} {s.short_location} · {s.counts_label} · {s.trend} (finding {s.finding_number}){tags}", width, more="      ")


def summary_text(view: ReportView, *, verbose: bool = False, width: int = 80) -> str:
    """Return the terminal summary of the run's `view`: the verdict, the findings, then per series its facts and suspects."""
    out: list[str] = []
    head = f"goroscope {view.archive}: {view.verdict} · {view.series_count} series, {view.snapshot_count} snapshots, {view.span}"
    out.extend(_wrap(head, width))
    if view.findings:
        out.append("")
        out.append("Findings, worst first:")
        for f in view.findings:
            out.extend(_finding_lines(f, width))
    for series in view.series:
        out.append("")
        out.append(series.id)  # whole, however long: a cut id reads as another series
        out.extend(_wrap(series.facts, width, "  "))
        if not series.suspects:
            out.append("  no suspects")
        for s in series.suspects:
            out.extend("  " + line for line in _suspect_lines(s, width - 2))
    out.append("")
    if view.gone:
        out.append(f"{words.plural(len(view.gone), 'suspect')} of the baseline gone.")
    if view.settled:
        out.append(f"{words.plural(len(view.settled), 'file')} still being written, left for the next run.")
    if view.snippets_hint and view.findings:
        out.extend(_wrap(view.snippets_hint, width))
    if view.skipped:
        out.append(f"{words.plural(len(view.skipped), 'input')} skipped" + (":" if verbose else " (-v lists them)."))
        if verbose:
            for sk in view.skipped:
                out.extend(_wrap(f"{sk.path}: {sk.reason}", width, "  ", "    "))
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


# ---------------------------------------------------------------------- inspect


def _frame(f) -> dict:
    return {"function": f.function, "file": f.file, "line": f.line}


def _goroutine_dict(g) -> dict:
    return {
        "id": g.id,
        "state": g.state,
        "flags": list(g.flags),
        "wait_minutes": g.wait_minutes,
        "locked_to_thread": g.locked_to_thread,
        "labels": dict(g.labels),
        "frames": [_frame(f) for f in g.frames],
        "frames_elided": g.frames_elided,
        "created_by": None if g.created_by is None else {**_frame(g.created_by), "goroutine": g.created_by.goroutine},
        "ancestors": list(g.ancestors),
    }


def _record_dict(r) -> dict:
    return {"count": r.count, "labels": dict(r.labels), "frames": [_frame(f) for f in r.frames]}


def _inspect_parts(snapshot: Snapshot) -> tuple[dict, str, list, dict]:
    head: dict = {
        "format": snapshot.format,
        "profile": snapshot.profile,
        "go_version": snapshot.go_version,
        "total": snapshot.total if snapshot.total is not None else snapshot.count,
        "truncated": snapshot.truncated,
        "crash": snapshot.crash,
    }
    if snapshot.heap_inuse_bytes is not None:
        head["heap_inuse_bytes"] = snapshot.heap_inuse_bytes
    if snapshot.time is not None:
        head["time"] = snapshot.time.isoformat().replace("+00:00", "Z")
    text_form = snapshot.format in ("debug2", "traceback")
    name = "goroutines" if text_form else "records"
    items = snapshot.goroutines if text_form else snapshot.records
    tail = {"problems": [{"line": p.line, "message": p.message} for p in snapshot.problems]}
    return head, name, items, tail


def inspect_json(snapshot: Snapshot) -> dict:
    """Return what was parsed from one dump, frames as printed (DESIGN.md inspect --json)."""
    head, name, items, tail = _inspect_parts(snapshot)
    convert = _goroutine_dict if name == "goroutines" else _record_dict
    return {**head, name: [convert(x) for x in items], **tail}


def inspect_json_chunks(snapshot: Snapshot, indent: int = 2):
    """Yield the text of inspect_json(`snapshot`) piece by piece, one goroutine at a time.

    A 200k-goroutine dump as one dict and one json.dumps string takes gigabytes; the
    output is the same JSON, written as it is made.
    """
    import json

    head, name, items, tail = _inspect_parts(snapshot)
    convert = _goroutine_dict if name == "goroutines" else _record_dict
    pad = " " * indent
    yield "{\n"
    for k, v in head.items():
        yield f"{pad}{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},\n"
    yield f"{pad}{json.dumps(name)}: ["
    for i, x in enumerate(items):
        body = json.dumps(convert(x), indent=indent, ensure_ascii=False).replace("\n", "\n" + pad * 2)
        yield ("," if i else "") + "\n" + pad * 2 + body
    yield ("\n" + pad if items else "") + "],\n"
    problems = json.dumps(tail["problems"], indent=indent, ensure_ascii=False).replace("\n", "\n" + pad)
    yield f"{pad}\"problems\": {problems}\n}}"


def inspect_text(path: str, summary: Summary, config: Config, *, top: int = 15, width: int = 80) -> str:
    """Return pprof-`top`-like text for one dump: totals, states, top signatures."""
    opts = config.signature_options()
    out = [f"{path}"]
    kind = summary.format + ("" if summary.profile == "goroutine" else f" ({summary.profile} profile)")
    out.append(f"  format {kind}" + (f", {summary.go_version}" if summary.go_version else ""))
    total = f"  {summary.total} goroutines"
    if summary.header_total is not None and summary.header_total != summary.total:
        total += f" (header says {summary.header_total})"
    if summary.truncated:
        total += ", TRUNCATED: counts are lower bounds"
    if summary.crash:
        total += ", crash dump"
    out.append(total + f", {len(summary.stacks)} signatures")
    if summary.heap_inuse_bytes is not None:
        out.append(f"  heap in use: {words.mib(summary.heap_inuse_bytes)}")
    states: Counter[str] = Counter()
    for s in summary.stacks:
        for st, n in s.states:
            states[st] += n
    if states:
        out.append("  states: " + ", ".join(f"{st} {n}" for st, n in states.most_common(8)))
    if summary.stacks:
        out.append(f"  top {min(top, len(summary.stacks))} signatures:")
        out.append(f"  {'count':>7} {'share':>6}  leak site")
    for s in summary.stacks[:top]:
        site = leak_site(s.signature.frames, opts)
        share = 100 * s.count / summary.total if summary.total else 0
        loc = short_location(site.file, site.line, width - 18) if site else "(no frames)"
        out.append(f"  {s.count:>7} {share:>5.1f}%  {loc}")
        if site:
            detail = site.function
            if s.states:
                detail += f"  [{s.states[0][0]}]"
            out.append("                  " + short_function(detail, width - 18))
    return "\n".join(out)


# ------------------------------------------------------------------------- diff


def diff_rows(old: Summary, new: Summary, config: Config) -> list[dict]:
    """Return per signature the counts in `old` and `new`, biggest growth first."""
    opts = config.signature_options()
    a = {s.signature: s for s in old.stacks}
    b = {s.signature: s for s in new.stacks}
    rows = []
    for sig in set(a) | set(b):
        n0 = a[sig].count if sig in a else 0
        n1 = b[sig].count if sig in b else 0
        if n0 == n1:
            continue
        site = leak_site(sig.frames, opts)
        st = (b.get(sig) or a.get(sig)).states
        rows.append(
            {
                "delta": n1 - n0,
                "old": n0,
                "new": n1,
                "leak_site": None if site is None else _frame(site),
                "state": st[0][0] if st else None,
                "stack": [_frame(f) for f in sig.frames],
            }
        )
    rows.sort(key=lambda r: (-r["delta"], r["leak_site"]["file"] if r["leak_site"] else "", r["leak_site"]["line"] if r["leak_site"] else 0))
    return rows


def diff_text(old_path: str, new_path: str, old: Summary, new: Summary, rows: list[dict], *, top: int = 15, width: int = 80) -> str:
    """Return the signatures that grew between two dumps, as text."""
    out = [f"{old_path} → {new_path}", f"  total {old.total} → {new.total} ({new.total - old.total:+d})"]
    grew = [r for r in rows if r["delta"] > 0][:top]
    if not grew:
        out.append("  no signature grew")
    else:
        out.append(f"  {'delta':>7} {'old':>6} {'new':>6}  leak site")
        for r in grew:
            site = r["leak_site"]
            loc = short_location(site["file"], site["line"], width - 26) if site else "(no frames)"
            out.append(f"  {r['delta']:>+7} {r['old']:>6} {r['new']:>6}  {loc}")
            if site:
                out.append("                          " + short_function(site["function"], width - 26))
    shrank = [r for r in rows if r["delta"] < 0]
    if shrank:
        out.append(f"  {len(shrank)} signature(s) shrank by {-sum(r['delta'] for r in shrank)} goroutines in all")
    return "\n".join(out)
