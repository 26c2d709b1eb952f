"""Where a person sees a suspect for themselves: one file, its goroutine ids, a command that prints the stack.

Contract: `evidence_of(suspect, series, archive)` returns the Evidence of one
suspect, built from the model alone (the JSON and the view-model both use it, so
they name the same file and command), or None where the series holds no snapshot
of it. The file is the last snapshot holding the suspect's goroutines (its main
signature's: rank.py sets `evidence_snapshot` and, for text forms, the lowest of
its goroutine ids there). The command is non-interactive and prints the stack:

- text forms (debug=2, tracebacks): `goroscope inspect FILE --stack ID`, the
  oldest goroutine's id; inspect prints its stack as the dump does and names every
  goroutine id of the signature;
- aggregated forms (debug=1, protobuf): `goroscope inspect FILE --stack FILE:LINE`
  of the leak site; for a protobuf profile also `go tool pprof -traces -focus=RE
  FILE`, which prints the stacks through the leak-site function, no prompt.

`representative(finding, suspects)` names the suspect a finding shows (its stack,
its evidence): the one with the highest peak, the earlier in the finding's own
order on ties, so "the worst pod" always means the most goroutines.

A path inside a tar or zip is named 'ARCHIVE/member', which `inspect` opens; so is
an object-store URL (`inspect s3://b/p/pod/dump.txt`); the pprof command is offered
for local files only.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from goroscope.ingest.store import is_url
from goroscope.model import Finding, Series, Suspect

__all__ = ["Evidence", "evidence_of", "command_path", "representative"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """One snapshot where a suspect's goroutines are, and how to see them."""

    series: str  # the series id
    snapshot: int  # its index in the series (as in the JSON's snapshots[])
    source: str  # the primary file, as the report names it (relative to the archive)
    time: datetime  # when it was taken
    format: str  # debug2 | traceback | debug1 | pprof
    count: int  # the suspect's goroutines (main signature and variants) there
    goroutines: tuple[int, ...]  # the lowest ids of the main signature's goroutines there; () for aggregated forms
    command: str  # a shell command printing the stack (goroscope inspect ... --stack ...)
    pprof_command: str | None  # go tool pprof -traces -focus=... for a protobuf profile, else None


def command_path(archive: str, source: str) -> str:
    """Return the path a shell command opens for `source` of a report of `archive`.

    A report of one file names it by its base name; otherwise the source is
    relative to ARCHIVE (a member of a tar or zip reads 'x.tar.gz/member', which
    `goroscope inspect` opens as such).
    """
    if os.path.basename(archive.rstrip("/")) == source:
        return archive
    return os.path.join(archive, source)


def _focus(function: str) -> str:
    """Return a Go regexp matching exactly `function` (pprof -focus)."""
    return "^" + re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", function) + "$"


def evidence_of(s: Suspect, series: Series | None, archive: str) -> Evidence | None:
    """Return where `s` can be seen (the last snapshot holding it) and the command that shows it, or None."""
    if series is None or s.evidence_snapshot is None or not 0 <= s.evidence_snapshot < len(series.snapshots):
        return None
    i = s.evidence_snapshot
    snap = series.snapshots[i]
    path = shlex.quote(command_path(archive, snap.source))
    text_form = snap.format in ("debug2", "traceback")
    if text_form and s.evidence_ids:
        target = str(s.evidence_ids[0])
    else:
        target = shlex.quote(s.leak_site.location)
    pprof = None
    if snap.format == "pprof" and not is_url(archive):  # (go tool pprof reads files and http URLs, not a bucket's)
        pprof = f"go tool pprof -traces -focus={shlex.quote(_focus(s.leak_site.function))} {path}"
    return Evidence(
        series=series.id,
        snapshot=i,
        source=snap.source,
        time=snap.time,
        format=snap.format,
        count=s.counts[i] if i < len(s.counts) else 0,
        goroutines=tuple(s.evidence_ids) if text_form else (),
        command=f"goroscope inspect {path} --stack {target}",
        pprof_command=pprof,
    )


def representative(f: Finding, by_key: Mapping[tuple[str, str], Suspect]) -> Suspect | None:
    """Return the suspect a finding shows: of its series, the one with the highest peak (the earlier on ties).

    `by_key` maps (series id, fingerprint) to the suspect."""
    best, best_peak = None, -1
    for m in f.series:
        s = by_key.get((m.series, f.fingerprint))
        if s is None:
            continue
        peak = max(s.counts, default=0)
        if peak > best_peak:
            best, best_peak = s, peak
    return best
