"""Tests of the HTML report: the view-model, escaping, self-containment, snippets, links, gold."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from goroscope.config import Config, RenderConfig
from goroscope.errors import RenderError
from goroscope.model import Frame
from goroscope.hints import hint_for
from goroscope.render.context import REDACTED, build_view, source_url
from goroscope.render.html import get_environment, render_html, wbr
from goroscope.render.source import find_source, snippet
from goroscope.resources import templates_dir

from goldtest import compare
from report_factory import EVIL_JS, hostile_report, make_report, make_suspect, f

REPO = Path(__file__).resolve().parents[1]
from helpers import CORPUS_SRC, need


class Tags(HTMLParser):
    """Collects every start tag with its attributes, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Tags:
    p = Tags()
    p.feed(html)
    return p


# ------------------------------------------------------------------ view-model


def test_view_orders_suspects_and_formats_fields():
    # GIVEN the three-series report
    view = build_view(make_report(), Config())
    # THEN the worst suspect comes first, with display-ready fields
    top = view.suspects[0]
    assert view.top is top
    assert top.location == "/usr/local/go/src/net/http/transport.go:2616"
    assert top.short_location == "http/transport.go:2616"
    assert top.counts_label == "4 → 117"
    assert top.trend == "+4,400/h"
    assert view.verdict == "3 findings (4 leak suspects) in 3 of 3 series"
    stuck = next(s for s in view.suspects if s.kind == "stuck")
    assert stuck.trend == "stuck 8 min"
    assert stuck.location.endswith("sampling/tail.go:88")
    assert [s.number for s in view.suspects] == [1, 2, 3, 4]
    assert view.suspects[1].series_affected == ("orders-a", "orders-b")


def test_view_no_suspects_verdict():
    view = build_view(make_report(suspects=()), Config())
    assert view.verdict == "No leak suspects" and view.verdict_ok and view.top is None


def test_view_series_chart_marks_restart_and_memory():
    view = build_view(make_report(), Config())
    b = next(s for s in view.series if s.id == "orders-b")
    assert b.restarts.startswith("1 restart")
    assert [r.label for r in b.chart.rules] == ["restart"]
    assert b.memory_chart is not None and b.memory_chart.y_label == "heap in use (MiB)"
    assert b.chart.x_label == "time (UTC)" and b.chart.y_label == "goroutines"
    # the total and the suspect share one chart, same axes
    assert [line.label for line in b.chart.lines][0] == "all goroutines"
    assert len(b.chart.lines) == 2


def test_view_stacks_emphasise_application_frames():
    view = build_view(make_report(), Config())
    stuck = next(s for s in view.suspects if s.kind == "stuck")
    classes = [(fr.function.rsplit("/", 1)[-1], fr.code_class, fr.is_leak_site) for fr in stuck.stack]
    assert classes == [
        ("sync.(*WaitGroup).Wait", "stdlib", False),
        ("sampling.(*TailPolicy).OnTick", "app", True),
        ("shard.(*Worker).loop", "app", False),
    ]


HINTS = [
    ("nil-chan", dict(state="chan receive (nil chan)", stack=[f("main.w", "/a/main.go", 1)])),
    ("http-body", dict(state="select", stack=[f("net/http.(*persistConn).writeLoop", "/usr/local/go/src/net/http/transport.go", 2833)])),
    ("mutex", dict(state="sync.Mutex.Lock", stack=[f("sync.(*Mutex).Lock", "/usr/local/go/src/sync/mutex.go", 90), f("x.io/s.(*S).Get", "/s/s.go", 3)])),
    ("mutex", dict(state="semacquire", stack=[f("sync.(*Mutex).lockSlow", "/usr/local/go/src/sync/mutex.go", 171), f("x.io/s.Get", "/s/s.go", 3)])),
    ("waitgroup", dict(state="semacquire", stack=[f("sync.(*WaitGroup).Wait", "/usr/local/go/src/sync/waitgroup.go", 118), f("x.io/a.F", "/a.go", 1)])),
    ("abandoned-send", dict(state="chan send", stack=[f("x.io/a.(*C).query", "/a.go", 46)])),
    ("never-closed", dict(state="chan receive", stack=[f("x.io/a.render", "/a.go", 9)])),
    ("ticker", dict(state="select", stack=[f("x.io/s.(*M).keepAlive", "/s.go", 40)])),
    (None, dict(state="IO wait", stack=[f("x.io/a.F", "/a.go", 1)])),
]


@pytest.mark.parametrize("pattern,kw", HINTS, ids=[f"{p}-{kw['state']}" for p, kw in HINTS])
def test_fix_hints_are_recognised_from_states_and_stdlib_names(pattern, kw):
    s = make_suspect(series="s", rank=1, kind="growing", score=0.9, counts=[1, 2, 3], created_by=None, growth=1.0, explanation="x", **kw)
    hint = hint_for(s)
    assert (hint.pattern if hint else None) == pattern


URLS = [
    # (template, path_map, frame file, expected)
    ("https://git/x/blob/{rev}/{path}#L{line}", (), "/src/app/main.go", "https://git/x/blob/main/src/app/main.go#L7"),
    ("https://git/x/blob/{rev}/{path}#L{line}", (("/go/src/github.com/acme/x/", ""),), "/go/src/github.com/acme/x/a/b.go", "https://git/x/blob/main/a/b.go#L7"),
    ("https://git/x/blob/{rev}/{path}#L{line}", (("/elsewhere/", ""),), "/go/src/github.com/acme/x/a/b.go", None),
    ("{path}", (), "javascript:alert(1)//x.go", None),
    ("https://git/{path}#L{line}", (), "/src/a b/<x>.go", "https://git/src/a%20b/%3Cx%3E.go#L7"),
    ("https://git/{path}#L{line}", (), "/src/../../etc/passwd", None),
]


@pytest.mark.parametrize("template,path_map,file,expected", URLS)
def test_source_url(template, path_map, file, expected):
    render = RenderConfig(url_template=template, path_map=path_map)
    assert source_url(Frame(function="main.f", file=file, line=7), render) == expected


def test_source_url_never_links_the_standard_library():
    render = RenderConfig(url_template="https://git/{path}#L{line}")
    assert source_url(Frame(function="net/http.(*conn).serve", file="/usr/local/go/src/net/http/server.go", line=1), render) is None


def test_redacted_labels_are_masked_in_tables_and_free_text():
    cfg = Config(render=RenderConfig(redact_labels=("tenant",)))
    html = render_html(make_report(), cfg)
    assert "t003" not in html and "t007" not in html
    assert f"tenant={REDACTED}" in html
    assert "route=export" in html  # other labels stay


def test_redacted_labels_hostile():
    cfg = Config(render=RenderConfig(redact_labels=("secret",)))
    assert "hunter2" not in render_html(hostile_report(), cfg)


# ------------------------------------------------------------------- escaping


def test_untrusted_content_is_inert_text():
    # GIVEN labels, functions, paths, series ids, reasons and the archive carrying markup
    cfg = Config(render=RenderConfig(url_template="{path}"))
    html = render_html(hostile_report(), cfg)
    parsed = parse(html)
    # THEN the only script is ours, there are no images, no event handlers, no javascript: links
    tags = [t for t, _ in parsed.tags]
    assert tags.count("script") == 1
    assert "img" not in tags and "b" not in tags
    for tag, attrs in parsed.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("src", "href", "action", "formaction", "xlink:href", "srcset", "poster"):
                assert value.startswith(("#", "data:,", "https://", "http://")), (tag, name, value)
    # AND the markup shows as text
    text = "".join(parsed.text)
    assert "<script>alert(1)</script>" in text
    assert "<img src=file:///etc/passwd onerror=alert(2)>" in text
    assert EVIL_JS in text
    assert "&lt;script&gt;alert(1)" in html


def test_wbr_escapes_before_adding_breaks():
    assert str(wbr("a/<b>.c")) == "a/<wbr>&lt;b&gt;.<wbr>c"


def test_page_is_self_contained_with_a_strict_csp():
    html = render_html(make_report(), Config())
    m = re.search(r"script-src '(sha256-[^']+)'", html)
    assert m, "CSP with a script hash"
    body = re.search(r"<script>(.*?)</script>", html, re.S).group(1)
    assert m.group(1) == "sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    assert "default-src 'none'" in html
    for tag, attrs in parse(html).tags:
        assert tag not in ("link",) or attrs.get("href", "").startswith("data:")
        assert "src" not in attrs
    assert "<style>" in html and "@page" in html and "size: A4" in html


def test_all_content_is_present_without_js():
    html = render_html(make_report(), Config())
    # suspect details, stacks, inputs and skipped reasons are in the markup itself
    assert html.count('class="suspect kind-') == 4
    assert "orders-a/notes.txt" in html.replace("<wbr>", "") and "not a goroutine dump" in html
    assert html.count("<details") >= 4
    assert "net/http.(*conn).serve" in html.replace("<wbr>", "")  # the stable signature


# -------------------------------------------------------------------- snippets


def test_find_source_tries_shorter_suffixes(tmp_path):
    (tmp_path / "internal" / "inv").mkdir(parents=True)
    target = tmp_path / "internal" / "inv" / "lookup.go"
    target.write_text("".join(f"line {i}\n" for i in range(1, 31)))
    assert find_source("/go/src/github.com/acme/orders/internal/inv/lookup.go", tmp_path) == target.resolve()
    assert find_source("C:\\work\\orders\\internal\\inv\\lookup.go", tmp_path) == target.resolve()
    sn = snippet("/go/src/x/internal/inv/lookup.go", 12, tmp_path)
    assert [l.number for l in sn.lines] == list(range(7, 18))
    assert [l.number for l in sn.lines if l.marked] == [12]
    assert sn.path == "internal/inv/lookup.go"
    assert snippet("/x/internal/inv/lookup.go", 99, tmp_path) is None


def test_find_source_never_leaves_the_root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.go").write_text("package secret\n")
    (root / "link.go").symlink_to(tmp_path / "secret.go")
    assert find_source("/a/../secret.go", root) is None
    assert find_source("/src/link.go", root) is None  # symlink out of the root
    assert find_source(str(tmp_path / "secret.go"), root) is None


def test_snippet_from_the_corpus_sources_is_in_the_page():
    html = render_html(make_report(), Config(), need(CORPUS_SRC / "orders-api", "the corpus sources"))
    assert 'class="src-line marked"' in html
    assert "internal/inventory/lookup.go</figcaption>" in html


def test_commands_to_dig_further():
    cfg = Config(render=RenderConfig(service_address="10.0.0.5:6060"))
    view = build_view(make_report(), cfg)
    b = next(s for s in view.suspects if s.series == "orders-b")
    texts = [c.text for c in b.commands]
    # non-interactive: -top prints and exits (a bare -base opens pprof's prompt)
    assert texts[0] == (
        "go tool pprof -top -cum -base /var/dumps/fleet-2026-12-01/orders-b/goroutine-000.pb.gz "
        "/var/dumps/fleet-2026-12-01/orders-b/goroutine-019.pb.gz"
    )
    assert "curl -s 'http://10.0.0.5:6060/debug/pprof/goroutine?debug=2'" in texts
    a = next(s for s in view.suspects if s.series == "orders-a")
    assert not any("-base" in t for t in (c.text for c in a.commands))  # no protobuf there


# ------------------------------------------------------------------ templates


def test_environment_is_cached_and_strict():
    env = get_environment()
    assert env is get_environment()
    assert env.autoescape is True and env.keep_trailing_newline
    with pytest.raises(Exception):
        env.from_string("{{ nope }}").render()


def test_templates_dir_override(tmp_path):
    with pytest.raises(RenderError, match="does not hold report.html.j2"):
        templates_dir(tmp_path)
    assert (templates_dir() / "report.html.j2").is_file()
    for name in ("base.html.j2", "_macros.html.j2", "report.css", "report.js", "summary.md.j2"):
        (tmp_path / name).write_text((templates_dir() / name).read_text())
    (tmp_path / "report.html.j2").write_text('{% extends "base.html.j2" %}{% block content %}CUSTOM{% endblock %}')
    html = render_html(make_report(), Config(render=RenderConfig(templates_dir=str(tmp_path))))
    assert "CUSTOM" in html


def test_gold_html():
    cfg = Config(render=RenderConfig(redact_labels=("tenant",), service_address="10.0.0.5:6060",
                                     url_template="https://git.acme/orders/blob/{rev}/{path}#L{line}",
                                     path_map=(("/go/src/github.com/acme/orders/", ""),)))
    compare("html", "fleet", {"report.html": render_html(make_report(), cfg)})


def test_gold_html_no_suspects():
    compare("html", "clean", {"report.html": render_html(make_report(suspects=(), stable=()), Config())})


def test_too_few_snapshots_give_no_verdict_rather_than_an_all_clear(tmp_path):
    from goroscope.pipeline import RunOptions, analyze

    from helpers import REPO

    one = sorted((REPO / "samples" / "tracing-collector").iterdir())[0]
    report = analyze(one, Config(), RunOptions(use_cache=False, jobs=1))
    html = render_html(report, Config())
    assert "No verdict: 1 snapshot per series" in html
    assert "No leak suspects" not in html


def test_gold_scrub_names_the_inlined_assets_and_tells_a_foreign_one(tmp_path):
    # GIVEN a page with the shipped assets, and one whose templates folder has another report.css
    import shutil

    from goldtest import DEFAULT_SCRUBS, scrub

    page = scrub(render_html(make_report(), Config()), DEFAULT_SCRUBS)
    for name in ("base.html.j2", "report.html.j2", "_macros.html.j2", "report.js", "report.css"):
        shutil.copy(templates_dir() / name, tmp_path / name)
    (tmp_path / "report.css").write_text((templates_dir() / "report.css").read_text() + "\nbody { color: red; }\n")
    other = scrub(render_html(make_report(), Config(render=RenderConfig(templates_dir=str(tmp_path)))), DEFAULT_SCRUBS)
    # THEN the gold form keeps no CSS or JS, only which asset was inlined
    assert "<style>/* templates/report.css, page A4 */</style>" in page
    assert "<script>/* templates/report.js */</script>" in page
    assert "script-src '[templates/report.js]'" in page
    assert "@media print" not in page and "addEventListener" not in page
    # AND a page that inlines something else does not pass for the shipped one
    assert "templates/report.css" not in other and "not what the templates render" in other


def test_skip_reasons_show_quoted_code_as_code_not_backticks():
    from dataclasses import replace

    from goroscope.model import Skipped

    reason = "not a goroutine dump: no `goroutine N [state]:` header, no `<b>` line"
    html = render_html(replace(make_report(), skipped=(Skipped(path="x/notes.txt", reason=reason),)), Config())
    row = re.search(r"<td class=\"path\">x/<wbr>notes.<wbr>txt</td><td>(.*?)</td>", html).group(1)
    assert "`" not in row
    assert row == "not a goroutine dump: no <code>goroutine N [state]:</code> header, no <code>&lt;b&gt;</code> line"


def test_without_source_root_the_report_says_once_how_to_get_snippets(tmp_path):
    # GIVEN suspects in application code and no --source-root
    html = render_html(make_report(), Config())
    # THEN the way to see the code is said once, with the link setting when none is configured
    assert html.count("Run with --source-root DIR") == 1
    assert "render.url_template" in html
    linked = render_html(make_report(), Config(render=RenderConfig(url_template="https://git/{path}#L{line}")))
    assert linked.count("Run with --source-root DIR") == 1 and "render.url_template" not in linked
    # AND with a source root it is not said at all
    assert "Run with --source-root" not in render_html(make_report(), Config(), tmp_path)


def test_the_terminal_summary_says_it_once_too():
    from goroscope.render.terminal import summary_text

    text = summary_text(build_view(make_report(), Config()))
    assert " ".join(text.split()).count("Run with --source-root DIR") == 1
