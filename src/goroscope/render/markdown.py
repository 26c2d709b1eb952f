"""The Markdown summary: a short report for tickets and chat.

Contract: `markdown_of_view(view, config)` returns Markdown text (GitHub-flavoured:
one table) of the run's ReportView, the one the HTML renders, so redaction,
order and words are shared. The registry writes it. `render_markdown(report,
config)` builds the view first, for callers that have only a Report.

Escaping: Markdown is not HTML, so this renderer has its own cached Environment
(autoescape off) whose `finalize` hook escapes *every* `{{ … }}` value for Markdown
(`*`, `_`, `[`, `|`, backticks). Code in running text becomes a code span, never
an HTML entity (Jira and Slack print `&lt;-ctx.Done()` literally): a `quoted`
part of a message, and any word holding `<` or `>`, so no HTML gets through
either. Templates mark a value for a code span with the `code` filter, which
picks a backtick fence longer than any run inside, and a link target with `url`.
As with the HTML, nothing is trusted and nothing is opted out of escaping.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import jinja2

from goroscope.config import Config
from goroscope.errors import RenderError
from goroscope.model import Report
from goroscope.render.context import ReportView, build_view
from goroscope.resources import templates_dir

__all__ = ["md_escape", "md_code", "md_url", "md_block", "get_markdown_environment", "markdown_of_view", "render_markdown"]

MAX_DETAILS = 25  # findings described below the table, each whole (a ticket)
MAX_MEMBERS = 60  # series named under a finding (the rest are counted; the JSON lists every one)
_SPECIAL = re.compile(r"([\\`*_\[\]|#!~])")


class _Code(str):
    """A value the template asked to print as a code span."""


_TICKED = re.compile(r"`([^`\n]+)`")  # a `quoted` part of a message: code
_ANGLED = re.compile(r"\S*[<>]\S*")  # a word holding < or >: code (`<-ctx.Done()`, `[]<-chan`)


def _md_plain(s: str) -> str:
    """Return text without backtick quotes as Markdown: words holding `<`/`>` as code spans, the rest escaped."""
    out = []
    pos = 0
    for m in _ANGLED.finditer(s):
        word = m.group()
        body = word.rstrip(".,;:")  # the sentence's punctuation stays outside the span
        out.append(_SPECIAL.sub(r"\\\1", s[pos : m.start()]))
        out.append(md_code(body) + word[len(body) :])
        pos = m.end()
    out.append(_SPECIAL.sub(r"\\\1", s[pos:]))
    return "".join(out)


def md_escape(value: object) -> str:
    """Return `value` as inert Markdown text (one line; no emphasis, links or HTML; code as code spans)."""
    s = " ".join(str(value).split()) if "\n" in str(value) or "\r" in str(value) else str(value)
    out = []
    pos = 0
    for m in _TICKED.finditer(s):
        out.append(_md_plain(s[pos : m.start()]))
        out.append(md_code(m.group(1)))
        pos = m.end()
    out.append(_md_plain(s[pos:]))
    return "".join(out)


def md_url(value: object) -> str:
    """Return an http(s) URL as a Markdown link target: the characters that would end it percent-encoded."""
    return "".join(c if c.isascii() and c.isprintable() and c not in " ()<>[]`\\" else "".join(f"%{b:02X}" for b in c.encode()) for c in str(value))


def md_code(value: object) -> str:
    """Return `value` as a Markdown code span, fenced by more backticks than it holds."""
    s = " ".join(str(value).split())
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    body = s.replace("|", "\\|")
    return f"{fence}{pad}{body}{pad}{fence}"


def md_block(lines: list[str] | tuple[str, ...], info: str = "") -> str:
    """Return `lines` as a fenced code block: printed as they are, fenced by more backticks than any run inside."""
    text = "\n".join(lines)
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def _stack_block(s) -> _Code:
    """Return a suspect view's stack as a code block laid out as Go prints one (terminal.stack_lines)."""
    from goroscope.render.terminal import stack_lines

    return _Code(md_block(stack_lines(s.stack, s.created_by, "", s.hidden_frames)))


def _snippet_block(sn) -> _Code:
    """Return a source snippet as a code block: line numbers, the blocking line marked."""
    return _Code(md_block([f"{ln.number:>5} {'▶' if ln.marked else ' '} {ln.text}" for ln in sn.lines], "go"))


def _finalize(value: object) -> str:
    """Escape every printed value (code spans are already safe)."""
    if isinstance(value, _Code):
        return str(value)
    if value is None:
        return ""
    return md_escape(value)


@functools.cache
def _environment(folder: Path) -> jinja2.Environment:
    """Return the Markdown Environment for `folder` (cached per folder)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=False,  # Markdown: escaping is done by `finalize` for every value instead
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
        auto_reload=False,
    )
    env.filters["code"] = lambda v: _Code(md_code(v))
    env.filters["url"] = lambda v: _Code(md_url(v))
    env.filters["stack_block"] = _stack_block
    env.filters["snippet_block"] = _snippet_block
    return env


def get_markdown_environment(override: str | Path | None = None) -> jinja2.Environment:
    """Return the cached Markdown Environment for the templates folder (`override` first)."""
    return _environment(templates_dir(override))


def markdown_of_view(view: ReportView, config: Config) -> str:
    """Return the Markdown summary of `view` (templates as `config` says)."""
    env = get_markdown_environment(config.render.templates_dir)
    try:
        return env.get_template("summary.md.j2").render(
            view=view, max_details=MAX_DETAILS, max_members=MAX_MEMBERS, more_findings=max(len(view.findings) - MAX_DETAILS, 0)
        )
    except jinja2.TemplateError as e:
        raise RenderError(f"summary.md.j2: {e}") from e


def render_markdown(report: Report, config: Config) -> str:
    """Return the Markdown summary of `report`."""
    return markdown_of_view(build_view(report, config, None), config)
