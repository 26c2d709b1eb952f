"""The previous report a run compares with (--baseline, --baseline-dir), read once into a typed record.

Contract:
- `load_baseline(path) -> Baseline` reads a goroscope.report/1 JSON report; a file
  that cannot be read or is not such a report is a UsageError naming it.
- `latest_report(folder, archive) -> (path, Baseline) | None`: the newest report of
  `archive` in `folder` (the nightly job's reports folder).
- `baseline_of(doc, source)` turns a report document into a Baseline: every suspect
  of every series by series id, fingerprint, leak site and kind, nothing else.
- `mark(suspects, baseline) -> (suspects, gone)`: each suspect marked `new` or
  `known` by (series, fingerprint) (`baseline`: this pod had it), and by
  fingerprint alone (`baseline_leak`: some pod had this leak; what a finding's
  status and --fail-on-new go by); `gone` the baseline's suspects not seen now,
  in (series, fingerprint) order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from goroscope.errors import UsageError
from goroscope.model import Baseline, BaselineSuspect, Frame, Suspect

__all__ = ["load_baseline", "latest_report", "baseline_of", "mark", "SCHEMA"]

SCHEMA = "goroscope.report/1"  # what a report this run can compare with says it is


def load_baseline(path: Path) -> Baseline:
    """Read the previous JSON report at `path` for --baseline."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: cannot read the baseline report: {e}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise UsageError(f"{path}: not a goroscope.report/1 JSON report")
    return baseline_of(doc, str(path))


def latest_report(folder: Path, archive: str) -> tuple[Path, Baseline] | None:
    """Return (path, Baseline) of the newest goroscope.report/1 JSON of `archive` in `folder`, or None.

    For --baseline-dir: a nightly job keeps its reports in one folder, so the
    previous night's is the newest by modification time whose "archive" is the
    same path as given; reports of other archives and files that are not reports
    (unreadable, other JSON) are passed over. Files are read newest first and the
    first match ends the search, so a folder of a year of reports costs one read.
    """
    try:
        entries = [(e.stat().st_mtime, e.name, Path(e.path)) for e in os.scandir(folder) if e.name.endswith(".json") and e.is_file()]
    except FileNotFoundError:
        return None
    except OSError as e:
        raise UsageError(f"{folder}: cannot read the baseline folder: {e.strerror or e}") from None
    for _, _, path in sorted(entries, reverse=True):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("schema") == SCHEMA and doc.get("archive") == archive:
            return path, baseline_of(doc, str(path))
    return None


def baseline_of(doc: dict, source: str | None = None) -> Baseline:
    """Return the Baseline of the report document `doc` (read from `source`)."""
    suspects = []
    for series in doc.get("series", []):
        sid = series.get("id", ".")
        for s in series.get("suspects", []):
            suspects.append(
                BaselineSuspect(series=sid, fingerprint=s.get("fingerprint", ""), leak_site=_frame(s.get("leak_site")), kind=s.get("kind"))
            )
    return Baseline(source=source, suspects=tuple(suspects))


def _frame(value: object) -> Frame | None:
    """Return the report's {function, file, line} as a Frame, None where it is none."""
    if not isinstance(value, dict) or not value.get("function"):
        return None
    line = value.get("line")
    return Frame(function=str(value["function"]), file=str(value.get("file") or ""), line=line if isinstance(line, int) else 0)


def mark(suspects: Sequence[Suspect], baseline: Baseline | None) -> tuple[list[Suspect], list[BaselineSuspect]]:
    """Mark each suspect new or known against `baseline`; return also the baseline's gone ones."""
    if baseline is None:
        return list(suspects), []
    before = {(b.series, b.fingerprint): b for b in baseline.suspects}  # a repeated one: the last
    leaks = {b.fingerprint for b in baseline.suspects}
    seen = set()
    out = []
    for s in suspects:
        k = (s.series, s.fingerprint)
        seen.add(k)
        out.append(replace(s, baseline="known" if k in before else "new", baseline_leak="known" if s.fingerprint in leaks else "new"))
    return out, [b for k, b in sorted(before.items()) if k not in seen]
