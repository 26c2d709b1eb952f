"""Gold test of the whole JSON report of the sample archive, end to end.

Any change in what the pipeline finds (snapshots, segments, suspects, scores,
explanations) shows here as a diff against tests/gold/json/samples/report.json.
"""

from __future__ import annotations

import re

from datetime import datetime, timezone

from goldtest import DEFAULT_SCRUBS, compare
from goroscope.config import Config
from goroscope.pipeline import RunOptions, analyze
from goroscope.render.json import render_json


def test_gold_json_of_the_samples(samples_dir):
    # GIVEN the README's sample archive, analysed without cache at a fixed time
    options = RunOptions(use_cache=False, jobs=1, now=datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc), command="goroscope report samples/")
    report = analyze(samples_dir, Config(), options)
    # WHEN rendered as JSON
    text = render_json(report, Config())
    # THEN it equals the gold file once the archive path is scrubbed
    # (the archive as given also opens the paths of the evidence commands)
    scrubs = DEFAULT_SCRUBS + ((r'"archive": "[^"]*"', '"archive": "samples"'), (re.escape(str(samples_dir)), "samples"))
    compare("json", "samples", {"report.json": text}, scrubs)
