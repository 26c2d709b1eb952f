"""Suspects -> Findings: one leak across every series where it is a suspect.

Contract: `find(suspects, series, config)` groups the ranked suspects by
fingerprint (leak site + signature family, signature.fingerprint) into Findings,
worst first by rank.severity_key over their summed peaks, so a leak on 100 pods of
one service is one finding, not 100 rows. Each finding keeps, per series, that
suspect's rank, kind, counts, growth and wait, and names the service groups it
touches ("3 of 3 series of ledger-api"): a series' group is the `group` named group
of `discovery.series_pattern` where the pattern has one and matches, else the
series' parent folder ('.' at the archive root).

`gone(report)` groups the baseline's gone suspects (Report.gone) by fingerprint,
leaving out fingerprints that are still found somewhere: a leak gone from one pod
but alive on another is not gone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePosixPath

from goroscope.config import Config
from goroscope.model import Finding, FindingSeries, Kind, Report, Series, Suspect
from goroscope.rank import order_key, severity_key

__all__ = ["ROOT_GROUP", "find", "group_of", "gone"]

ROOT_GROUP = "."  # the group of series that sit at the archive root


def group_of(series: Series, pattern: re.Pattern[str] | None) -> str:
    """Return the service group of `series`: the pattern's `group` match, else its parent folder."""
    if pattern is not None and "group" in pattern.groupindex:
        for path in (series.snapshots[0].source,) if series.snapshots else ():
            m = pattern.search(path)
            if m is not None and m.group("group"):
                return m.group("group")
    parent = PurePosixPath(series.id).parent.as_posix()
    return ROOT_GROUP if parent in ("", ".") else parent


def _member(s: Suspect, group: str) -> FindingSeries:
    """Return one series' part of a finding."""
    return FindingSeries(
        series=s.series,
        group=group,
        rank=s.rank,
        kind=Kind(s.kind),
        score=s.score,
        counts=s.counts,
        growth_per_hour=s.growth_per_hour,
        max_wait_minutes=s.max_wait_minutes,
        status=s.baseline,
    )


def _finding(members: Sequence[Suspect], groups_of: dict[str, str], group_sizes: dict[str, int]) -> Finding:
    """Return the finding of the suspects sharing one fingerprint, `members` worst first."""
    top = members[0]
    touched: dict[str, set[str]] = {}
    for s in members:
        touched.setdefault(groups_of[s.series], set()).add(s.series)
    waits = [s.max_wait_minutes for s in members if s.max_wait_minutes is not None]
    # a leak the baseline had on any pod is known, wherever it is now: one that
    # reached another pod (or moved to one) is not a new leak
    statuses = {s.baseline_leak for s in members}
    creator = next((s for s in members if s.created_by is not None), None)
    evidence = [dict(s.evidence) for s in members]
    pooled = [e["pooled_p"] for e in evidence if "pooled_p" in e]
    qs = [e["q"] for e in evidence if "q" in e]
    return Finding(
        fingerprint=top.fingerprint,
        kind=Kind(top.kind),
        score=max(s.score for s in members),
        leak_site=top.leak_site,
        created_by=creator.created_by if creator is not None else None,
        created_by_from=creator.created_by_from if creator is not None else None,
        state_inferred=top.state_inferred,
        pool=top.pool,
        pooled_p=min(pooled) if pooled else None,
        q=min(qs) if qs else None,
        state=top.state,
        explanation=top.explanation,
        series=tuple(_member(s, groups_of[s.series]) for s in members),
        groups=tuple((g, len(ids), group_sizes[g]) for g, ids in sorted(touched.items(), key=lambda kv: (-len(kv[1]), kv[0]))),
        first_total=sum(s.counts[0] for s in members if s.counts),
        last_total=sum(s.counts[-1] for s in members if s.counts),
        peak_total=sum(max(s.counts, default=0) for s in members),
        growth_per_hour=round(sum(s.growth_per_hour for s in members), 2),
        max_wait_minutes=max(waits) if waits else None,
        status=None if statuses == {None} else ("known" if "known" in statuses else "new"),
        acknowledged=all(s.acknowledged for s in members),
    )


def find(suspects: Sequence[Suspect], series: Sequence[Series], config: Config) -> tuple[Finding, ...]:
    """Return the findings of `suspects` (ranked within their `series`), worst first."""
    pattern = config.discovery.series_pattern
    rx = re.compile(pattern) if pattern else None
    groups_of = {se.id: group_of(se, rx) for se in series}
    group_sizes: dict[str, int] = {}
    for g in groups_of.values():
        group_sizes[g] = group_sizes.get(g, 0) + 1
    by_fp: dict[str, list[Suspect]] = {}
    for s in sorted(suspects, key=lambda x: (order_key(x), x.series)):
        groups_of.setdefault(s.series, ROOT_GROUP)
        group_sizes.setdefault(groups_of[s.series], 1)
        by_fp.setdefault(s.fingerprint, []).append(s)
    found = [_finding(members, groups_of, group_sizes) for members in by_fp.values()]
    found.sort(key=lambda f: (f.acknowledged, *severity_key(f.peak_total, f.kind, f.score, _share(f)), f.leak_site.function, f.leak_site.line, f.fingerprint))
    return tuple(found)


def _share(f: Finding) -> float | None:
    """Return the share of its pool the finding's worst stuck suspect holds, None where no pool is known."""
    return f.pool.stuck / f.pool.size if f.pool is not None and f.pool.size > 0 else None


def gone(report: Report) -> tuple[dict, ...]:
    """Return the baseline's gone suspects grouped by fingerprint: {fingerprint, kind, leak_site (a Frame), series[]}.

    A fingerprint still found in some series is not gone (it left some pods only).
    """
    alive = {f.fingerprint for f in report.findings} | {s.fingerprint for s in report.suspects}
    out: dict[str, dict] = {}
    for g in report.gone:
        if not g.fingerprint or g.fingerprint in alive:
            continue
        entry = out.setdefault(g.fingerprint, {"fingerprint": g.fingerprint, "kind": g.kind, "leak_site": g.leak_site, "series": []})
        entry["series"].append(g.series)
    return tuple(out[k] for k in sorted(out))
