"""Gold-file comparison for whole reports (STYLE.md convention 15, after coverage.py's goldtest).

`compare(case, actual, scrubs)` scrubs `actual` (a {file name: text} mapping) with
the (regex, replacement) pairs in `scrubs`, compares each file with
tests/gold/<kind>/<case>/<name>, and on a mismatch writes the scrubbed actual to
tests/actual/<kind>/<case>/ (git-ignored) and fails with a unified diff.
With GOROSCOPE_UPDATE_GOLD=1 the gold files are (re)written instead; review them with
`git diff tests/gold` before committing (tests/gold/README.md).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
GOLD = TESTS / "gold"
ACTUAL = TESTS / "actual"

# What differs between runs and machines: versions and generation times.
DEFAULT_SCRUBS: tuple[tuple[str, str], ...] = (
    (r"goroscope \d+\.\d+\.\d+\S*", "goroscope X.Y.Z"),
    (r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(?::\d\d)?(?:Z| UTC)(?= ·|</span>)", "GENERATED_AT"),
    (r'"generated_at": "[^"]*"', '"generated_at": "GENERATED_AT"'),
    (r'"version": "[^"]*"', '"version": "X.Y.Z"'),
)


def scrub(text: str, scrubs: Iterable[tuple[str, str]]) -> str:
    """Return `text` with every (regex, replacement) of `scrubs` applied in order."""
    for pattern, repl in scrubs:
        text = re.sub(pattern, repl, text)
    return text


def compare(kind: str, case: str, actual: Mapping[str, str], scrubs: Iterable[tuple[str, str]] = DEFAULT_SCRUBS) -> None:
    """Fail (with a diff) unless each scrubbed file of `actual` equals its gold copy."""
    scrubs = tuple(scrubs)
    expected_dir = GOLD / kind / case
    update = os.environ.get("GOROSCOPE_UPDATE_GOLD") == "1"
    problems = []
    for name, text in sorted(actual.items()):
        got = scrub(text, scrubs)
        gold = expected_dir / name
        if update:
            gold.parent.mkdir(parents=True, exist_ok=True)
            gold.write_text(got, encoding="utf-8")
            continue
        if not gold.exists():
            problems.append(f"{gold.relative_to(TESTS)} is missing (run with GOROSCOPE_UPDATE_GOLD=1)")
            _save(kind, case, name, got)
            continue
        want = gold.read_text(encoding="utf-8")
        if want != got:
            saved = _save(kind, case, name, got)
            diff = "".join(
                difflib.unified_diff(
                    want.splitlines(keepends=True), got.splitlines(keepends=True), f"gold/{kind}/{case}/{name}", str(saved)
                )
            )
            problems.append(diff[:20000])
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def _save(kind: str, case: str, name: str, text: str) -> Path:
    """Write the scrubbed actual beside the gold tree; return its path."""
    out = ACTUAL / kind / case / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
