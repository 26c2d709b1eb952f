"""Tests of the Markdown summary: content, escaping, redaction."""

from __future__ import annotations

import re

import pytest

from goroscope.config import Config, RenderConfig
from goroscope.render.markdown import md_code, md_escape, render_markdown

from report_factory import hostile_report, make_report


def test_summary_names_verdict_top_suspect_and_skips():
    md = render_markdown(make_report(), Config(render=RenderConfig(service_address="h:6060")))
    lines = md.splitlines()
    assert lines[0] == "## goroscope: 3 findings (4 leak suspects) in 3 of 3 series"
    assert "**Top finding:** growing +4,400/h in orders-a at `/usr/local/go/src/net/http/transport.go:2616`" in md
    start = lines.index(next(l for l in lines if l.startswith("| # |")))
    table = [l for l in lines[start:][: lines[start:].index("")] if l.startswith("| ")]
    assert len(table) == 1 + 3  # header + one row per finding: the query leak of orders-a and -b is one
    assert table[2].startswith("| 2 | growing | `/go/src/github.com/acme/orders/internal/inventory/lookup.go:46`")
    assert "| 2 of 3 series |" in table[2]
    assert re.search(r"^- not a goroutine dump .*\(1\): `orders-a/notes.txt`$", md, re.M)
    assert "HTTP response body not closed" in md
    assert "`curl -s 'http://h:6060/debug/pprof/goroutine?debug=2'`" in md
    assert md.endswith("config 3f9a1c0d2e4b</sub>\n")


def test_summary_without_suspects():
    md = render_markdown(make_report(suspects=()), Config())
    assert "No leak suspects" in md and "| # |" not in md


def test_summary_escapes_untrusted_text():
    md = render_markdown(hostile_report(), Config(render=RenderConfig(redact_labels=("secret",))))
    # no raw HTML outside code spans, no links
    outside = re.sub(r"^(`{3,})\n.*?\n\1$", "", md, flags=re.S | re.M)  # code blocks: printed as they are
    outside = re.sub(r"(`+).*?\1", "", outside)
    outside = outside.replace("<sub>", "").replace("</sub>", "")
    assert "<" not in outside and ">" not in outside
    assert "](" not in outside
    assert "hunter2" not in md


@pytest.mark.parametrize(
    "value,expected",
    [
        ("plain", "plain"),
        ("a*b_c", "a\\*b\\_c"),
        ("[x](javascript:y)", "\\[x\\](javascript:y)"),
        ("<b>", "`<b>`"),
        ("or select on <-ctx.Done() around", "or select on `<-ctx.Done()` around"),
        ("a case <-ctx.Done(): return", "a case `<-ctx.Done()`: return"),
        ("no `goroutine N [state]:` header", "no `goroutine N [state]:` header"),
        ("a `x*y` b*c", "a `x*y` b\\*c"),
        ("a|b", "a\\|b"),
        ("two\nlines", "two lines"),
    ],
)
def test_md_escape(value, expected):
    assert md_escape(value) == expected


def test_md_code_fences_longer_than_content():
    assert md_code("a`b") == "``a`b``"
    assert md_code("`x") == "`` `x ``"
    assert md_code("a|b") == "`a\\|b`"


def test_code_in_running_text_is_a_code_span_not_an_entity():
    """Jira and Slack print `&lt;-ctx.Done()` as typed: code goes in code spans."""
    md = render_markdown(make_report(), Config())
    assert "&lt;" not in md and "&gt;" not in md
    assert "select on `<-ctx.Done()` around the send" in md


def test_leak_sites_link_to_the_code_where_configured():
    url = "https://git.acme/orders/blob/main/go/src/github.com/acme/orders/internal/inventory/lookup.go#L46"
    md = render_markdown(make_report(), Config(render=RenderConfig(url_template="https://git.acme/orders/blob/{rev}/{path}#L{line}")))
    assert f"- **blocks at** [`/go/src/github.com/acme/orders/internal/inventory/lookup.go:46`]({url})" in md
    plain = render_markdown(make_report(), Config())
    assert "](" not in plain


def test_md_url_keeps_a_link_target_whole():
    from goroscope.render.markdown import md_url

    assert md_url("https://h/a b/(x)#L1") == "https://h/a%20b/%28x%29#L1"
