"""The goroscope.report/1 document keeps every field of the contract in DESIGN.md."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

from goroscope.config import config_from_dict
from goroscope.model import Frame, Report, Segment, Series, SnapshotInfo, Suspect, Variant
from goroscope.render.json import iso, render_json

T0 = datetime(2026, 12, 1, 8, 0, 0, tzinfo=timezone.utc)
SITE = Frame(function="github.com/acme/x.(*C).query", file="/go/src/github.com/acme/x/lookup.go", line=46)


def _report() -> Report:
    snaps = tuple(
        SnapshotInfo(time=T0.replace(minute=i), time_source="name", source=f"a/{i}.txt", sources=(f"a/{i}.txt",), format="debug2",
                     goroutines=10 + i, truncated=i == 2, crash=False)
        for i in range(3)
    )
    sus = Suspect(series="a", rank=1, kind="growing", score=0.9, fingerprint="abcd", leak_site=SITE,
                  created_by=Frame(function="github.com/acme/x.(*C).Available", file="/go/src/github.com/acme/x/lookup.go", line=34),
                  state="chan send", counts=(1, 2, 3), growth_per_hour=60.0, max_wait_minutes=2.0, explanation="it grows only for tenant t1",
                  stack=(SITE,), variants=(Variant(leak_site=SITE, counts=(1, 2, 3), signature=None),),  # type: ignore[arg-type]
                  labels=(((("tenant", "t1"),), 3),))
    series = Series(id="a", snapshots=snaps, segments=(Segment(first=0, last=2),))
    return Report(archive="arch", generated_at=T0, tool_version="0", command="goroscope report arch", series=(series,), suspects=(sus,))


def test_contract_fields_and_types():
    doc = json.loads(render_json(_report(), config_from_dict({})))
    assert doc["schema"] == "goroscope.report/1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["generated_at"])
    assert set(doc) >= {"schema", "generated_at", "tool", "archive", "series", "skipped"}
    assert set(doc["tool"]) >= {"version", "command"}
    (s,) = doc["series"]
    assert set(s) >= {"id", "snapshots", "segments", "memory", "suspects"}
    assert set(s["snapshots"][0]) >= {"time", "time_source", "source", "sources", "format", "goroutines", "truncated", "crash"}
    assert s["snapshots"][2]["truncated"] is True
    assert s["segments"] == [{"first": 0, "last": 2}]
    (sus,) = s["suspects"]
    assert set(sus) >= {"rank", "kind", "score", "fingerprint", "leak_site", "created_by", "state", "counts", "growth_per_hour",
                        "max_wait_minutes", "explanation", "stack", "variants", "also_in"}
    assert sus["leak_site"] == {"function": SITE.function, "file": SITE.file, "line": 46}
    assert sus["variants"] == [{"leak_site": sus["leak_site"], "counts": [1, 2, 3]}]
    assert len(sus["counts"]) == len(s["snapshots"])


def test_redacted_labels_are_masked():
    text = render_json(_report(), config_from_dict({"render": {"redact_labels": ["tenant"]}}))
    assert "t1" not in text


def test_iso_keeps_milliseconds_only_when_present():
    assert iso(T0) == "2026-12-01T08:00:00Z"
    assert iso(T0.replace(microsecond=195000)) == "2026-12-01T08:00:00.195Z"


def test_readme_documents_the_contract_and_ci_runs_its_test_command():
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    assert "goroscope.report/1" in readme
    blocks = re.findall(r"```sh\n(.*?)\n```", readme, re.S)
    test_cmd = [b for b in blocks if "pytest" in b]
    assert len(test_cmd) == 1
    assert test_cmd[0].strip() in (root / ".ci" / "run").read_text()
