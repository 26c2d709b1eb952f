"""Gold-file comparison for whole reports (STYLE.md convention 15, after coverage.py's goldtest).

`compare(case, actual, scrubs)` scrubs `actual` (a {file name: text} mapping) with
the (regex, replacement) pairs in `scrubs`, compares each file with
tests/gold/<kind>/<case>/<name>, and on a mismatch writes the scrubbed actual to
tests/actual/<kind>/<case>/ (git-ignored) and fails with a unified diff.
With GOROSCOPE_UPDATE_GOLD=1 the gold files are (re)written instead; review them with
`git diff tests/gold` before committing (tests/gold/README.md).

HTML pages inline all of report.css and report.js; a gold holding them would change
with every style edit. So the bodies of <style> and <script> (and the CSP hash of
the script) are scrubbed to a marker: `templates/report.css` when the body is
exactly what the current templates render, else a sha256 of the body. A gold change
then means a content change, and a page that inlines the wrong asset still fails.
"""

from __future__ import annotations

import base64
import difflib
import functools
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import SimpleNamespace

import pytest

TESTS = Path(__file__).resolve().parent
GOLD = TESTS / "gold"
ACTUAL = TESTS / "actual"

@functools.cache
def _assets() -> dict[str, str]:
    """Return {sha256 of an asset as the current templates render it: its marker}."""
    from goroscope.render.html import get_environment

    env = get_environment()
    out = {}
    for page in ("A4", "Letter"):
        css = env.get_template("report.css").render(view=SimpleNamespace(page_size=page))
        out[_sha(css.strip())] = f"templates/report.css, page {page}"
    js = env.get_template("report.js").render()
    out[_sha(js.strip())] = "templates/report.js"
    out["sha256-" + base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode("ascii")] = "templates/report.js"
    return out


def _sha(text: str) -> str:
    """Return the hex sha256 of `text`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _asset_body(m: re.Match) -> str:
    """Replace an inline <style>/<script> body with its marker (or its hash when it is not the template's)."""
    body = m.group(2).strip()
    digest = _sha(body)
    name = _assets().get(digest, f"sha256:{digest[:16]}, not what the templates render")
    return f"{m.group(1)}/* {name} */{m.group(3)}"


def _csp_hash(m: re.Match) -> str:
    """Replace the CSP script hash with the asset it is the hash of."""
    name = _assets().get(m.group(1), f"{m.group(1)}, not what the templates render")
    return f"script-src '[{name}]'"


Scrub = tuple[str, "str | Callable[[re.Match], str]"]

# What differs between runs and machines: versions and generation times; and the
# inlined assets, which are not the report's content (see the module docstring).
DEFAULT_SCRUBS: tuple[Scrub, ...] = (
    (r"(?s)(<style>)(.*?)(</style>)", _asset_body),
    (r"(?s)(<script>)(.*?)(</script>)", _asset_body),
    (r"script-src '(sha256-[A-Za-z0-9+/=]+)'", _csp_hash),
    (r"goroscope \d+\.\d+\.\d+\S*", "goroscope X.Y.Z"),
    (r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(?::\d\d)?(?:Z| UTC)(?= ·|</span>)", "GENERATED_AT"),
    (r'"generated_at": "[^"]*"', '"generated_at": "GENERATED_AT"'),
    (r'"version": "[^"]*"', '"version": "X.Y.Z"'),
)


def scrub(text: str, scrubs: Iterable[Scrub]) -> str:
    """Return `text` with every (regex, replacement) of `scrubs` applied in order."""
    for pattern, repl in scrubs:
        text = re.sub(pattern, repl, text)
    return text


def compare(kind: str, case: str, actual: Mapping[str, str], scrubs: Iterable[Scrub] = DEFAULT_SCRUBS) -> None:
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
