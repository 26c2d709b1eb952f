"""The whole dev corpus: every dump parses with nothing skipped, driven by the files found.

The files are found by discovery and told apart by content, not by their names; the
only inputs expected to be skipped are the corpus' own documents (README, truth.yaml).
"""

from __future__ import annotations

import re

import pytest

from goroscope.config import Config
from goroscope.ingest import archive, discover
from goroscope.model import Skipped
from goroscope.pipeline import parse_one

_HEADER_TOTAL = re.compile(rb"^goroutine(?:leak)? profile: total (\d+)", re.M)


@pytest.fixture(scope="module")
def parsed(corpus_dir):
    cfg = Config()
    sources, skipped = discover.walk(corpus_dir, cfg)
    results = [(src, parse_one(src, cfg)) for src in sources]
    archive.close_cursors()
    return sources, skipped, results


def test_every_dump_parses_with_nothing_skipped(parsed):
    sources, skipped, results = parsed
    assert len(sources) >= 180
    documents = {s.path for s in skipped}
    assert documents <= {"README.md", "truth.yaml"}, skipped
    failed = [(src.path, r.reason) for src, r in results if isinstance(r, Skipped)]
    assert not failed
    problems = [(src.path, p.line, p.message) for src, r in results if not isinstance(r, Skipped) for p in r.problems]
    assert not problems


def test_debug1_totals_equal_their_headers(parsed):
    sources, _, results = parsed
    checked = 0
    cfg = Config()
    for src, summary in results:
        if summary.format != "debug1" or summary.profile not in ("goroutine", "goroutineleak"):
            continue
        with archive.open_source(src, cfg.discovery.max_inflate_bytes) as f:
            m = _HEADER_TOTAL.search(f.read(4096))
        assert m, src.path
        assert summary.header_total == int(m.group(1)) == summary.total, src.path
        checked += 1
    assert checked >= 80


def test_every_form_is_present_and_recognised(parsed):
    _, _, results = parsed
    forms = {(r.format, r.profile) for _, r in results if not isinstance(r, Skipped)}
    assert {("debug2", "goroutine"), ("debug1", "goroutine"), ("pprof", "goroutine"), ("traceback", "goroutine")} <= forms
    assert any(p == "goroutineleak" for _, p in forms)
    crashes = [src.path for src, r in results if not isinstance(r, Skipped) and r.crash]
    assert len(crashes) == 1
