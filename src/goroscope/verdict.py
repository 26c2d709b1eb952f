"""The verdict of a run: the one sentence every output opens with.

Contract: `verdict(report, config) -> Verdict`, from the Report alone (its findings,
suspects and series), so the HTML, the PDF, the Markdown, the terminal summary and
the JSON say the same words:

    '3 findings (5 leak suspects) in 3 of 6 series'   findings across series; the
                                                      suspects count when it differs
    'No verdict: 2 snapshots per series, 3 needed to judge growth'
    'No leak suspects'
    … ' (1 acknowledged)'                             findings the team knows of
"""

from __future__ import annotations

from dataclasses import dataclass

from goroscope import words
from goroscope.config import Config
from goroscope.model import Report

__all__ = ["Verdict", "verdict"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """What a run concluded."""

    text: str  # the sentence
    ok: bool  # nothing to act on (no unacknowledged finding)
    findings: int  # findings not acknowledged
    suspects: int  # suspects not acknowledged
    acknowledged: int  # findings acknowledged


def verdict(report: Report, config: Config) -> Verdict:
    """Return the verdict of `report` (`config.rank.min_snapshots` says when there is none)."""
    active = [s for s in report.suspects if not s.acknowledged]
    live = [f for f in report.findings if not f.acknowledged]
    acknowledged = len(report.findings) - len(live)
    need = config.rank.min_snapshots
    if active:
        hit = len({s.series for s in active})
        text = words.plural(len(live), "finding")
        if len(active) != len(live):
            text += f" ({words.plural(len(active), 'leak suspect')})"
        text += f" in {hit} of {len(report.series)} series"
    elif report.series and all(len(se.snapshots) < need for se in report.series):
        # one or two snapshots cannot show growth: say so rather than sound an all-clear
        most = max(len(se.snapshots) for se in report.series)
        text = f"No verdict: {words.plural(most, 'snapshot')} per series, {need} needed to judge growth"
    else:
        text = "No leak suspects"
    if acknowledged:
        text += f" ({acknowledged} acknowledged)"
    return Verdict(text=text, ok=not active, findings=len(live), suspects=len(active), acknowledged=acknowledged)
