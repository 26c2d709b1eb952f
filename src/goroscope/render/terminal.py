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
from goroscope.model import Frame, Snapshot, Summary
from goroscope.render.view import FindingView, ReportView, SuspectView
from goroscope.signature import fingerprint, leak_site

__all__ = ["summary_text", "inspect_json", "inspect_json_chunks", "inspect_text", "stack_text", "diff_rows", "diff_text", "short_location", "short_function"]


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


LEAK_MARK = "   <- leak site"


def stack_lines(frames, created_by, indent: str, hidden: int = 0, width: int = 100) -> list[str]:
    """Return a report's stack as Go prints one: each function, its whole file:line under it; created-by last.

    The leak site is marked after its function, or on a line of its own below its
    file:line when the mark would pass `width`."""
    out = []
    for f in frames:
        mark = f.is_leak_site and len(indent) + len(f.function) + len(LEAK_MARK) <= width
        out.append(f"{indent}{f.function}" + (LEAK_MARK if mark else ""))
        out.append(f"{indent}    {f.location}")
        if f.is_leak_site and not mark:
            out.append(f"{indent}    ^ leak site")
    if hidden:
        out.append(f"{indent}({hidden} frames in the middle not shown: goroscope inspect prints them)")
    if created_by is not None:
        if len(indent) + 11 + len(created_by.function) <= width:
            out.append(f"{indent}created by {created_by.function}")
        else:
            out.extend([f"{indent}created by", f"{indent}{created_by.function}"])
        out.append(f"{indent}    {created_by.location}")
    return out


def see_lines(see, width: int, indent: str) -> list[str]:
    """Return where to see a suspect for oneself: the file whole, its goroutines, and the commands, each whole on its line."""
    if see is None:
        return []
    out = _wrap(f"see it yourself: {see.what}, in the {see.format} dump of {see.when}:", width, indent, indent + "  ")
    # (the command names the file whole)
    for c in see.commands:
        out.append(f"{indent}  {c.text}")
    return out


def _common_start(ids: list[str]) -> str:
    """Return the longest start of every id in `ids` that ends at a '/' or '-' and leaves each id some name ('' if none)."""
    import os.path

    start = os.path.commonprefix(ids)
    while start and (start[-1] not in "/-" or any(len(x) == len(start) for x in ids)):
        start = start[:-1]
    return start


def _finding_lines(f: FindingView, width: int) -> list[str]:
    """Return the lines of one finding, a ticket: where, the site whole, the numbers, created-by, the sentence,
    its series, its stack and how to see it yourself."""
    head = f"{f.number:>2}. {f.kind:<8} {f.trend}"
    if f.trend_each:
        head += f" ({f.trend_each})"
    tags = [t for t in (f.status, "acknowledged" if f.acknowledged else None) if t]
    lines = _wrap(f"{head}  in {f.where}" + (f"  [{', '.join(tags)}]" if tags else ""), width, more="    ")
    lines.append("    " + f.function)
    lines.append("    at " + f.location)
    facts = [x for x in (None if f.state == "—" else f.state, f"{f.counts_label} goroutines", f"score {f.score}") if x]
    if f.max_wait != "—":
        facts.append(f"waiting {f.max_wait}")
    if f.pool:
        facts.append(f"pool: {f.pool} are stuck")
    facts.append(f"fingerprint {f.fingerprint}")
    lines.extend(_units(facts, width, "    "))
    # the sentence is one series' evidence: say which, when the finding spans several
    lines.extend(_wrap(f"in {f.shown_why}: {f.explanation}" if f.shown_why else f.explanation, width, "    "))
    if f.series_count > 1:
        # the start all their ids share (a service's folder, its pods' generated prefix) is said once
        common = _common_start([m.series for m in f.members])
        pods = ", ".join(f"{m.series[len(common):]} {m.counts_label}" for m in f.members)
        named = f"{common}*" if common else ""
        lines.extend(_wrap(f"its {f.series_count} series {named}, highest peak first: {pods}", width, "    ", "      "))
    s = f.suspects[0] if f.suspects else None
    if s is not None:
        lines.append(f"    stack{f' (from {s.series})' if f.series_count > 1 else ''}:")
        lines.extend(stack_lines(s.stack, s.created_by, "      ", s.hidden_frames, width))
        if s.created_by_note:
            lines.extend(_wrap(f"(created by {s.created_by_note})", width, "      "))
        lines.extend(see_lines(s.see, width, "    "))
    elif f.created_by is not None:
        lines.extend(_created_lines(f.created_by, "    "))
    return lines


def _suspect_lines(s: SuspectView, width: int) -> list[str]:
    """Return one suspect of a series: rank, kind, site, counts, trend, its finding and tags, wrapped, never cut."""
    tags = "".join(f"  [{t}]" for t in (s.baseline, "acknowledged" if s.acknowledged else None) if t)
    return _wrap(f"{s.rank:>2}. {s.kind:<8} {s.short_location} · {s.counts_label} · {s.trend} (finding {s.finding_number}){tags}", width, more="      ")


FOLD_SERIES = 6  # more series than this: one line per kind of series (with a finding of its own, covered, quiet), no blocks
MAX_LINES = 60  # the summary's lines, past which later findings are printed in short (-v: every one whole)


def _finding_short(f: FindingView, width: int) -> list[str]:
    """Return one finding in short: number, kind, trend, where; its function and whole leak site."""
    tags = [t for t in (f.status, "acknowledged" if f.acknowledged else None) if t]
    head = f"{f.number:>2}. {f.kind:<8} {f.trend}  in {f.where_short}" + (f"  [{', '.join(tags)}]" if tags else "")
    site = f"    at {f.location}"
    if len(site) + len(f.function) + 3 <= width:
        site += f" ({f.function})"
    return [*_wrap(head, width, more="    "), site]


def _series_lines(view: ReportView, width: int) -> list[str]:
    """Return the series part: a block per series for a small archive, else one line per kind of series."""
    out: list[str] = []
    if len(view.series) <= FOLD_SERIES:
        for series in view.series:
            out.append("")
            out.append(series.id)  # whole, however long: a cut id reads as another series
            out.extend(_wrap(series.facts, width, "  "))
            if not series.suspects:
                out.append("  no suspects")
            for s in series.suspects:
                out.extend("  " + line for line in _suspect_lines(s, width - 2))
        return out
    shown = sum(se.role == "shown" for se in view.series)
    lines = [f"{words.plural(shown, 'series', 'series')} with a finding of their own (named above)" if shown else "",
             view.covered_line, view.quiet_line]
    out.append("")
    for line in lines:
        if line:
            out.extend(_wrap(line, width))
    return out


def summary_text(view: ReportView, *, verbose: bool = False, width: int = 80) -> str:
    """Return the terminal summary of the run's `view`: the verdict, the findings (each a ticket), then the series.

    Each finding is a ticket (where, its series, its stack, how to see it yourself)
    while the summary stays within MAX_LINES; the findings after that are printed
    in short (the top one is always whole; `verbose` prints every one whole). Past
    FOLD_SERIES series, the series are three lines (with a finding of their own,
    covered by findings across several series, without suspects), not a block each:
    the summary grows with the findings, not with the pods.
    """
    head = _wrap(f"goroscope {view.archive}: {view.verdict} · {view.series_count} series, {view.snapshot_count} snapshots, {view.span}", width)
    series = _series_lines(view, width)
    tail = _tail_lines(view, verbose, width)
    full = [_finding_lines(f, width) for f in view.findings]
    short = [_finding_short(f, width) for f in view.findings]
    whole = brief = len(full)
    if not verbose:
        room = MAX_LINES - len(head) - len(series) - len(tail) - 5
        whole = 1
        while whole < len(full) and sum(len(x) + 1 for x in full[: whole + 1]) + sum(len(x) for x in short[whole + 1 :]) + 2 <= room:
            whole += 1
        # past the room, the last findings are counted, not printed (-v prints them)
        brief = whole
        while brief < len(short) and sum(len(x) + 1 for x in full[:whole]) + sum(len(x) for x in short[whole : brief + 1]) + 2 <= room:
            brief += 1
    out = list(head)
    if view.findings:
        out.append("")
        out.append("Findings, worst first:")
        for i, lines in enumerate(full[:whole]):
            if i:
                out.append("")
            out.extend(lines)
        if whole < brief:
            out.append("")
            which = f"Finding {brief}" if brief == whole + 1 else f"Findings {whole + 1} to {brief}"
            out.extend(_wrap(f"{which} in short (-v prints each whole; the Markdown and HTML reports carry every stack):", width))
            for lines in short[whole:brief]:
                out.extend(lines)
        if brief < len(full):
            out.extend(_wrap(f"and {words.plural(len(full) - brief, 'more finding')} ({brief + 1} to {len(full)}): -v prints them, the reports carry them.", width))
    out.extend(series)
    out.append("")
    out.extend(tail)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def _tail_lines(view: ReportView, verbose: bool, width: int) -> list[str]:
    """Return the summary's last lines: gone, settling and skipped inputs, the snippets hint."""
    out: list[str] = []
    if view.parked:
        out.extend(_wrap(f"Parked since start-up and unchanged since, not leaks ({words.plural(len(view.parked), 'site')}; JSON \"parked\"):", width))
        for line in view.parked[:5]:
            out.extend(_wrap(line, width, "  ", "    "))
        if len(view.parked) > 5:
            out.append(f"  and {len(view.parked) - 5} more")
    if view.gone:
        out.append(f"{words.plural(len(view.gone), 'suspect')} of the baseline gone.")
    if view.settled:
        out.append(f"{words.plural(len(view.settled), 'file')} still being written, left for the next run.")
    if view.snippets_hint and view.findings:
        out.extend(_wrap(view.snippets_hint, width))
    if view.skipped:
        out.append(f"{words.plural(len(view.skipped), 'input')} skipped" + (":" if verbose else " (-v lists them):" if len(view.skipped_groups) > 1 else " (-v lists them)."))
        if verbose:
            for sk in view.skipped:
                out.extend(_wrap(f"{sk.path}: {sk.reason}", width, "  ", "    "))
        elif len(view.skipped_groups) > 1:
            for g in view.skipped_groups[:5]:
                out.extend(_wrap(f"{g.count}: {g.reason}", width, "  ", "    "))
            if len(view.skipped_groups) > 5:
                out.append(f"  and {len(view.skipped_groups) - 5} other reasons")
        else:
            out[-1] = out[-1][:-1] + f": {view.skipped_groups[0].reason}"
    return out


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


def _sig_facts(sc, opts) -> tuple[object, str]:
    """Return (leak site, fingerprint) of one StackCount's signature."""
    site = leak_site(sc.signature.frames, opts)
    return site, (fingerprint(sc.signature, site, opts) if site is not None else "")


def _waits(sc) -> str:
    """Return how long the goroutines of one signature have waited, as the dump's headers print it ('' when none does)."""
    mins = [w for w in sc.waits if w > 0]
    if not mins:
        return ""
    lo, hi = min(mins), max(mins)
    shown = words.minutes(hi) if lo == hi else f"{lo:,}–{words.minutes(hi)}"
    return f"{len(mins)} waiting {shown}" if len(mins) < sc.count else f"waiting {shown}"


def _units(units: list[str], width: int, indent: str = "") -> list[str]:
    """Return `units` joined by ' · ' in lines of `width`, a unit never split (one longer than the line stands alone)."""
    lines: list[str] = []
    for u in units:
        if lines and len(lines[-1]) + 3 + len(u) <= width:
            lines[-1] += " · " + u
        else:
            lines.append(indent + u)
    return lines


def _created_lines(created_by: Frame | None, indent: str) -> list[str]:
    """Return 'created by FUNCTION' and, under it, its whole file:line (never wrapped inside)."""
    if created_by is None:
        return []
    return [f"{indent}created by {created_by.function}", f"{indent}           {created_by.location}"]


def _signature_lines(sc, opts, width: int) -> list[str]:
    """Return the lines of one signature beside its count: leak site whole, states and waits, fingerprint, created-by."""
    site, fp = _sig_facts(sc, opts)
    if site is None:
        return ["(no frames)"]
    facts = [", ".join(f"{st} {words.num(n)}" for st, n in sc.states[:3])] if sc.states else []
    wait = _waits(sc)
    if wait:
        facts.append(wait)
    facts.append(f"fingerprint {fp}")
    return [site.function, site.location, *_units(facts, width), *_created_lines(sc.created_by, "")]


def inspect_text(path: str, summary: Summary, config: Config, *, top: int = 15, width: int = 80) -> str:
    """Return pprof-`top`-like text for one dump: totals, states, top signatures.

    Each signature shows its leak site whole (function and file:line), its wait
    states and the minutes its headers print, who created it, and its
    fingerprint, which `inspect FILE --stack FINGERPRINT` (and the report) use.
    """
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
        out.extend(_wrap("states: " + ", ".join(f"{st} {n}" for st, n in states.most_common(8)), width, "  ", "    "))
    if summary.stacks:
        out.append(f"  top {min(top, len(summary.stacks))} signatures (goroutines, share, leak site):")
    for s in summary.stacks[:top]:
        share = 100 * s.count / summary.total if summary.total else 0
        lines = _signature_lines(s, opts, width - 17)
        out.append(f"  {s.count:>6} {share:>5.1f}%  {lines[0]}")
        out.extend("                 " + line for line in lines[1:])
    if summary.stacks:
        out.append("  one stack whole: inspect FILE --stack FINGERPRINT (or a goroutine id)")
    return "\n".join(out)


# ------------------------------------------------------------------- one stack


def _printed_frames(frames, created_by, indent: str = "") -> list[str]:
    """Return frames the way the Go runtime prints them: function, then a tab and file:line; created-by last."""
    out = []
    for f in frames:
        out.append(f"{indent}{f.function}(...)")
        out.append(f"{indent}\t{f.file}:{f.line}")
    if created_by is not None:
        parent = f" in goroutine {created_by.goroutine}" if getattr(created_by, "goroutine", None) is not None else ""
        out.append(f"{indent}created by {created_by.function}{parent}")
        out.append(f"{indent}\t{created_by.file}:{created_by.line}")
    return out


def _goroutine_header(g) -> str:
    """Return a goroutine's header line as the runtime prints it: `goroutine 7 [chan receive, 12 minutes]:`."""
    parts = [g.state]
    if g.wait_minutes:
        parts.append(f"{g.wait_minutes} minutes")
    parts.extend(g.flags)
    if g.locked_to_thread:
        parts.append("locked to thread")
    labels = "{" + ", ".join(f'"{k}":"{v}"' for k, v in g.labels) + "}" if g.labels else ""
    return f"goroutine {g.id} [{', '.join(parts)}]{':' if not labels else ' ' + labels + ':'}"


def _id_list(ids: list[int], limit: int = 40) -> str:
    """Return goroutine ids as a comma list, the first `limit` of them and how many more."""
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def stack_text(path: str, snapshot: Snapshot, query: str, config: Config, *, limit: int = 5) -> str:
    """Return one stack of a dump whole: the goroutine with id `query`, or the signature(s) `query` names.

    `query` is a goroutine id (text forms), a fingerprint (as `inspect` and the
    reports print it), or a leak site's `file:line` or function. For a signature
    the text names every goroutine id holding it and prints the stack of the
    oldest (lowest id) exactly as the dump does (frames top first, runtime ones
    included, `created by` last); an aggregated form (debug=1, protobuf) prints
    the record's frames and count. Raises UsageError naming `path` when nothing
    matches.
    """
    from goroscope.errors import UsageError
    from goroscope.signature import signature_of

    opts = config.signature_options()
    q = query.strip()
    text_form = snapshot.format in ("debug2", "traceback")
    out = [path]
    if text_form and q.isdigit():
        g = next((g for g in snapshot.goroutines if g.id == int(q)), None)
        if g is not None:
            sig = signature_of(g.frames, opts)
            site = leak_site(sig.frames, opts)
            peers = sorted(x.id for x in snapshot.goroutines if x.id is not None and signature_of(x.frames, opts) == sig)
            fp = fingerprint(sig, site, opts) if site is not None else "—"
            out.append(f"goroutine {g.id}: leak site {site.function if site else '—'} at {site.location if site else '—'}")
            out.append(f"its signature (fingerprint {fp}) holds {words.plural(len(peers), 'goroutine')}: {_id_list(peers)}")
            out.append("")
            out.append(_goroutine_header(g))
            out.extend(_printed_frames(g.frames, g.created_by))
            return "\n".join(out)
    # signature: group what the dump holds by signature, then match
    groups: dict = {}
    if text_form:
        for g in snapshot.goroutines:
            groups.setdefault(signature_of(g.frames, opts), []).append(g)
    else:
        for r in snapshot.records:
            groups.setdefault(signature_of(r.frames, opts), []).append(r)
    low = q.lower()
    matched = []
    for sig, members in groups.items():
        site = leak_site(sig.frames, opts)
        if site is None:
            continue
        fp = fingerprint(sig, site, opts)
        if low == fp or q == site.function or q == site.location or (":" in q and site.location.endswith(q)):
            count = len(members) if text_form else sum(r.count for r in members)
            matched.append((count, sig.key(), sig, site, fp, members))
    if not matched:
        what = "goroutine id, fingerprint, leak-site function or file:line" if text_form else "fingerprint, leak-site function or file:line"
        raise UsageError(f"{path}: no goroutine or signature matches {query!r} (give a {what}; `goroscope inspect {path}` lists them)")
    matched.sort(key=lambda m: (-m[0], m[1]))
    if len(matched) > 1:
        out.append(f"{len(matched)} signatures match {query!r}, most goroutines first" + (f" (the first {limit} shown)" if len(matched) > limit else ""))
    for count, _, sig, site, fp, members in matched[:limit]:
        out.append("")
        out.append(f"fingerprint {fp}: {words.plural(count, 'goroutine')}, leak site {site.function} at {site.location}")
        if text_form:
            ids = sorted(g.id for g in members if g.id is not None)
            states = Counter(g.state for g in members)
            waits = [g.wait_minutes for g in members if g.wait_minutes]
            facts = ", ".join(f"{st} {n}" for st, n in states.most_common(4))
            if waits:
                facts += f"; waiting {words.minutes(max(waits))}" + (f" (from {min(waits)} min)" if min(waits) != max(waits) else "")
            out.append(facts)
            out.append(f"goroutine ids: {_id_list(ids)}")
            oldest = min(members, key=lambda g: (g.id is None, g.id or 0))
            out.append("")
            out.append(_goroutine_header(oldest))
            out.extend(_printed_frames(oldest.frames, oldest.created_by))
        else:
            for r in sorted(members, key=lambda r: -r.count)[:3]:
                labels = ", ".join(f"{k}={v}" for k, v in r.labels)
                out.append("")
                out.append(f"{r.count} goroutines with this stack" + (f", labels {labels}" if labels else "") + " (this form prints no ids nor created-by):")
                out.extend(_printed_frames(r.frames, None))
    return "\n".join(out)


# ------------------------------------------------------------------------- diff


def diff_rows(old: Summary, new: Summary, config: Config) -> list[dict]:
    """Return per signature the counts in `old` and `new`, biggest growth first (biggest shrink last)."""
    opts = config.signature_options()
    a = {s.signature: s for s in old.stacks}
    b = {s.signature: s for s in new.stacks}
    rows = []
    for sig in set(a) | set(b):
        n0 = a[sig].count if sig in a else 0
        n1 = b[sig].count if sig in b else 0
        if n0 == n1:
            continue
        sc = b.get(sig) or a[sig]
        site, fp = _sig_facts(sc, opts)
        st = sc.states
        rows.append(
            {
                "delta": n1 - n0,
                "old": n0,
                "new": n1,
                "leak_site": None if site is None else _frame(site),
                "state": st[0][0] if st else None,
                "fingerprint": fp or None,
                "created_by": None if sc.created_by is None else _frame(sc.created_by),
                "max_wait_minutes": sc.max_wait_minutes,
                "stack": [_frame(f) for f in sig.frames],
            }
        )
    rows.sort(key=lambda r: (-r["delta"], r["leak_site"]["file"] if r["leak_site"] else "", r["leak_site"]["line"] if r["leak_site"] else 0))
    return rows


def _diff_row_lines(r: dict, width: int) -> list[str]:
    """Return one signature of a diff: delta, old, new, then its leak site whole, state, wait, fingerprint, created-by."""
    site = r["leak_site"]
    head = f"  {r['delta']:>+7} {r['old']:>6} {r['new']:>6}  "
    pad = " " * len(head)
    if site is None:
        return [head + "(no frames)"]
    facts = [x for x in (r["state"], f"waiting {words.minutes(r['max_wait_minutes'])}" if r.get("max_wait_minutes") else None,
                         f"fingerprint {r['fingerprint']}" if r.get("fingerprint") else None) if x]
    cb = r.get("created_by")
    created = _created_lines(Frame(function=cb["function"], file=cb["file"], line=cb["line"]) if cb else None, "")
    body = [site["function"], f"{site['file']}:{site['line']}", *_units(facts, width - len(head)), *created]
    return [head + body[0]] + [pad + line for line in body[1:]]


def diff_text(old_path: str, new_path: str, old: Summary, new: Summary, rows: list[dict], *, top: int = 15, width: int = 80) -> str:
    """Return the signatures that grew and those that shrank between two dumps, the largest changes first, as text."""
    out = [f"{old_path} → {new_path}", f"  total {old.total} → {new.total} ({new.total - old.total:+d})"]
    grew = [r for r in rows if r["delta"] > 0]
    shrank = sorted((r for r in rows if r["delta"] < 0), key=lambda r: r["delta"])
    for name, part in (("grew", grew), ("shrank", shrank)):
        if not part:
            out.append(f"  no signature {name}")
            continue
        total = sum(r["delta"] for r in part)
        shown = f", the {top} largest shown" if len(part) > top else ""
        out.append(f"  {words.plural(len(part), 'signature')} {name} ({total:+,d} goroutines in all{shown}):")
        out.append(f"  {'delta':>7} {'old':>6} {'new':>6}  leak site")
        for r in part[:top]:
            out.extend(_diff_row_lines(r, width))
    if rows:
        out.append("  one stack whole: goroscope inspect NEW --stack FINGERPRINT (OLD for what shrank)")
    return "\n".join(out)
