"""Fix hints and the verdict are the analysis side's: each rule alone, and every format says the same words."""

from __future__ import annotations

import json
from html import unescape

import pytest

from goroscope import hints
from goroscope.config import Config
from goroscope.render import RENDERERS
from goroscope.render.context import build_view
from goroscope.render.terminal import summary_text
from goroscope.verdict import verdict

from report_factory import f, make_report, make_suspect

SUSPECT = dict(series="s", rank=1, kind="growing", score=0.9, counts=[1, 2, 3], created_by=None, growth=1.0, explanation="x")
APP = [f("x.io/a.(*C).work", "/src/x.io/a/work.go", 46)]

# (rule, a suspect it recognises, one it must leave alone)
CASES = [
    (hints.nil_channel, dict(state="chan receive (nil chan)", stack=APP), dict(state="chan receive", stack=APP)),
    (hints.http_body, dict(state="select", stack=[f("net/http.(*persistConn).readLoop", "/usr/local/go/src/net/http/transport.go", 2616)]),
     dict(state="select", stack=APP)),
    (hints.mutex, dict(state="sync.RWMutex.RLock", stack=APP), dict(state="semacquire", stack=APP)),
    (hints.waitgroup, dict(state="semacquire", stack=[f("sync.(*WaitGroup).Wait", "/usr/local/go/src/sync/waitgroup.go", 118), *APP]),
     dict(state="semacquire", stack=[f("sync.(*Mutex).lockSlow", "/usr/local/go/src/sync/mutex.go", 171), *APP])),
    (hints.abandoned_send, dict(state="chan send", stack=APP),
     dict(state="chan send", stack=[f("net/http.(*conn).serve", "/usr/local/go/src/net/http/server.go", 2131)])),
    (hints.never_closed, dict(state="chan receive", stack=APP), dict(state="chan send", stack=APP)),
    (hints.ticker, dict(state="select", stack=APP), dict(state="select", stack=APP, kind="stuck")),
]


@pytest.mark.parametrize("rule, yes, no", CASES, ids=[c[0].__name__ for c in CASES])
def test_each_rule_alone(rule, yes, no):
    assert rule(make_suspect(**{**SUSPECT, **yes})) is not None
    assert rule(make_suspect(**{**SUSPECT, **no})) is None
    assert rule.__doc__ and rule in hints.RULES


def test_rules_are_tried_in_order_and_a_shorter_list_drops_a_pattern():
    s = make_suspect(**{**SUSPECT, "state": "chan send (nil chan)", "stack": APP})
    assert hints.hint_for(s).pattern == "nil-chan"  # before abandoned-send
    assert hints.hint_for(s, [r for r in hints.RULES if r is not hints.nil_channel]).pattern == "abandoned-send"


def test_every_format_says_the_same_verdict_and_hints():
    # GIVEN one report and its one view
    report, config = make_report(), Config()
    view = build_view(report, config)
    said = verdict(report, config).text
    made = {name: RENDERERS[name].render(report, view, config) for name in ("json", "html", "md")}
    outputs = {name: (c if isinstance(c, bytes) else b"".join(c)).decode("utf-8") for name, c in made.items()}  # (JSON: pieces)
    doc = json.loads(outputs["json"])
    # THEN the verdict reads the same everywhere
    assert view.verdict == doc["verdict"] == said
    assert said in unescape(outputs["html"]) and said in outputs["md"]
    assert said in " ".join(summary_text(view).split())  # the terminal wraps lines
    # AND each finding's hint is the one hints.py gives its worst suspect, in every format
    for fv, fj in zip(view.findings, doc["findings"]):
        h = hints.hint_for(next(s for s in report.suspects if s.fingerprint == fv.fingerprint and s.series == fv.series_ids[0]))
        assert (fj["hint"] or {}).get("title") == (h.title if h else None) == (fv.suspects[0].hint.title if fv.suspects[0].hint else None)
        if h is not None:
            assert h.title in unescape(outputs["html"]) and h.title in outputs["md"]


@pytest.mark.parametrize("suffix", [".pb.gz", ""])
def test_the_samples_notifier_findings_have_an_inferred_wait_and_its_hint(tmp_path, suffix):
    # GIVEN the samples' notifier as its protobuf files alone, or as captured (debug=1 and protobuf)
    import shutil
    from pathlib import Path

    from goroscope.pipeline import RunOptions, analyze

    src = Path(__file__).resolve().parent.parent / "samples" / "notifier"
    for p in src.iterdir():
        if p.name.endswith(suffix):
            shutil.copy2(p, tmp_path / p.name)
    report = analyze(tmp_path, Config(), RunOptions(use_cache=False, jobs=1))
    # THEN every finding shows the wait its runtime frames tell, marked inferred, and a hint
    assert report.findings
    states = {f.leak_site.function.rsplit("/", 1)[-1]: f.state for f in report.findings}
    assert states == {"pubsub.(*Broker).pump": "chan send", "digest.(*Scheduler).render": "chan receive"}
    for x in report.suspects:
        assert x.state_inferred and hints.hint_for(x) is not None, (x.leak_site, x.state)
