"""The HTML report: one self-contained file (inline CSS, JS and SVG), built from the view-model.

Contract: `html_of_view(view, config)` returns the page of the run's ReportView as a
string; the registry (render/__init__.py) writes it. `render_html(report, config,
source_root)` builds the view first, for callers that have only a Report. Templates come from
`resources.templates_dir(config.render.templates_dir)` through one cached jinja2
Environment per folder (autoescape on, StrictUndefined, deterministic output): dump
content (function names, paths, labels) is never marked safe, so it renders as
text. The page's Content-Security-Policy allows only its own inline script (by
hash), inline styles and data: images, so even a browser opening it fetches nothing.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from goroscope.config import Config
from goroscope.errors import RenderError
from goroscope.model import Report
from goroscope.render.context import ReportView, build_view
from goroscope.resources import templates_dir

__all__ = ["MEDIA", "get_environment", "html_of_view", "render_html", "render_view", "script_hash", "ticks", "wbr"]


_BREAK_AFTER = re.compile(r"(?<=[/.(|])")
_SPACES = re.compile(r"(\s+)")
_LONG_RUN = 24  # a run this long without a separator gets break chances of its own
_PIECE = 16


def wbr(text: object) -> Markup:
    """Return `text` escaped, with <wbr> break chances after '/', '.', '(' and '|'.

    Long Go paths and function names then wrap at their separators instead of
    mid-word; a run of more than 24 characters without one (a generated file
    name, a long id) gets a chance every 16, so that no cell ever needs to break
    at an arbitrary letter. WeasyPrint, unlike browsers, breaks anywhere under
    `overflow-wrap` even where a <wbr> would do, so the print CSS turns that off
    for the text this marks. Each piece is escaped; only the <wbr> tags are markup.
    """
    out: list[str] = []
    # a space is a break chance already: runs are counted between spaces ('3 of 3 series of x')
    for word in _SPACES.split(str(text)):
        pieces: list[str] = []
        for part in _BREAK_AFTER.split(word) if word and not word.isspace() else [word]:
            if len(part) > _LONG_RUN:
                pieces.extend(part[i : i + _PIECE] for i in range(0, len(part), _PIECE))
            elif part:
                pieces.append(part)
        out.append("<wbr>".join(str(escape(p)) for p in pieces))
    return Markup("".join(out))


_TICKED = re.compile(r"`([^`\n]+)`")


def ticks(text: object) -> Markup:
    """Return a message escaped, its `quoted` parts as <code> (skip reasons quote the lines they expected).

    The text is escaped first; only the <code> tags are markup.
    """
    escaped = str(escape(str(text)))
    # escape() leaves backticks alone, and an entity never holds one
    return Markup(_TICKED.sub(r"<code>\1</code>", escaped))


@functools.cache
def _environment(folder: Path) -> jinja2.Environment:
    """Return the jinja2 Environment reading templates from `folder` (cached per folder)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        auto_reload=False,
        extensions=["jinja2.ext.do"],
    )
    env.filters["wbr"] = wbr
    env.filters["ticks"] = ticks
    env.policies["json.dumps_kwargs"] = {"sort_keys": True}
    env.policies["json.dumps_function"] = json.dumps
    return env


def get_environment(override: str | Path | None = None) -> jinja2.Environment:
    """Return the cached HTML Environment for the templates folder (`override` first)."""
    return _environment(templates_dir(override))


def script_hash(env: jinja2.Environment) -> str:
    """Return the CSP source ('sha256-…') of the page's inline script."""
    js = env.get_template("report.js").render()
    return "sha256-" + base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode("ascii")


MEDIA = ("screen", "print")
PRINT_FINDINGS = 8  # findings the print page (the PDF) shows whole; the rest are one row each


def render_view(view: ReportView, env: jinja2.Environment, medium: str = "screen") -> str:
    """Return the HTML page of `view` for `medium`: 'screen' (the HTML report) or 'print' (what the PDF prints).

    The print page is a document for a ticket: the findings table, one compact block
    per finding (however many series it is in; the first PRINT_FINDINGS, the rest a
    row each), the series' own detail only for a small archive, and the inputs one row
    per series or service. The screen page keeps every series with suspects in a
    section, collapsible, and the series without suspects in one folded list.
    """
    if medium not in MEDIA:
        raise RenderError(f"report.html.j2: unknown medium {medium!r} (one of {', '.join(MEDIA)})")
    try:
        template = env.get_template("report.html.j2")
        page = template.render(view=view, script_hash=script_hash(env), medium=medium, print_findings=PRINT_FINDINGS)
    except jinja2.TemplateError as e:
        raise RenderError(f"report.html.j2: {e}") from e
    # WeasyPrint prints a <wbr> as the zero-width space its own stylesheet gives it (wbr::before), but lays
    # each out as a box of its own: a fleet's page, with some 200 of them, took half as long again to lay out.
    # The print page carries the character itself: the same text and the same line breaks in the PDF.
    return page.replace("<wbr>", "\u200b") if medium == "print" else page


def html_of_view(view: ReportView, config: Config, medium: str = "screen") -> str:
    """Return the self-contained HTML page of `view` for `medium` (templates as `config` says)."""
    return render_view(view, get_environment(config.render.templates_dir), medium)


def render_html(report: Report, config: Config, source_root: Path | None = None) -> str:
    """Return the self-contained HTML report of `report` (snippets from `source_root`)."""
    return html_of_view(build_view(report, config, source_root), config)
