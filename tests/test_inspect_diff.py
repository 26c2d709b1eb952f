"""`inspect` and `diff` say what they know: wait minutes and created-by per signature,
what shrank as well as what grew, and one stack whole with `inspect FILE --stack`."""

from __future__ import annotations

import re
from pathlib import Path

from goroscope import exitcodes
from goroscope.config import Config
from goroscope.ingest import load
from goroscope.signature import fingerprint, leak_site, signature_of

from test_cli import SAMPLES, run

COLLECTOR = sorted((SAMPLES / "tracing-collector").iterdir())
NOTIFIER_PB = sorted((SAMPLES / "notifier").glob("*.pb.gz"))


def _by_fingerprint(path: Path) -> dict[str, list]:
    """Return the goroutines of a debug=2 dump grouped by their signature's fingerprint."""
    opts = Config().signature_options()
    out: dict[str, list] = {}
    for g in load(path).goroutines:
        sig = signature_of(g.frames, opts)
        site = leak_site(sig.frames, opts)
        if site is not None:
            out.setdefault(fingerprint(sig, site, opts), []).append(g)
    return out


def test_inspect_shows_wait_minutes_created_by_and_fingerprint_per_signature(capsys):
    # GIVEN the last dump of tracing-collector: six goroutines in sync.WaitGroup.Wait, 6 to 8 minutes
    path = COLLECTOR[-1]
    groups = _by_fingerprint(path)
    # WHEN inspected
    code, out, _ = run(capsys, "inspect", str(path))
    # THEN each signature names its wait minutes, its created-by whole and its fingerprint
    assert code == 0
    assert "…" not in out
    for fp, gs in groups.items():
        assert f"fingerprint {fp}" in out
        mins = [g.wait_minutes for g in gs if g.wait_minutes]
        block = out[out.index(f"fingerprint {fp}") - 400 : out.index(f"fingerprint {fp}") + 400]
        if mins:
            assert f"{max(mins)} min" in block, block
        cb = gs[0].created_by
        if cb is not None:
            assert f"created by {cb.function}" in block and f"{cb.file}:{cb.line}" in block
    assert "waiting 6–8 min" in out


def test_inspect_stack_by_goroutine_id_prints_it_as_the_dump_does(capsys):
    path = COLLECTOR[-1]
    g = next(g for g in load(path).goroutines if g.state == "sync.WaitGroup.Wait")
    code, out, _ = run(capsys, "inspect", str(path), "--stack", str(g.id))
    assert code == 0
    assert f"goroutine {g.id} [sync.WaitGroup.Wait, {g.wait_minutes} minutes]:" in out
    lines = out.splitlines()
    for f in g.frames:
        i = lines.index(f"{f.function}(...)")
        assert lines[i + 1] == f"\t{f.file}:{f.line}"
    assert f"created by {g.created_by.function} in goroutine {g.created_by.goroutine}" in out
    assert f"\t{g.created_by.file}:{g.created_by.line}" in lines


def test_inspect_stack_by_fingerprint_names_every_goroutine_id(capsys):
    path = COLLECTOR[-1]
    fp, gs = max(_by_fingerprint(path).items(), key=lambda kv: len(kv[1]))
    code, out, _ = run(capsys, "inspect", str(path), "--stack", fp)
    assert code == 0
    ids = sorted(g.id for g in gs)
    assert f"goroutine ids: {', '.join(map(str, ids))}" in out
    assert f"goroutine {ids[0]} [" in out


def test_inspect_stack_of_a_protobuf_profile_by_leak_site(capsys):
    code, out, _ = run(capsys, "inspect", str(NOTIFIER_PB[-1]))
    m = re.search(r"^\s+\d+\s+[\d.]+%\s+(\S+)\n\s+(\S+:\d+)$", out, re.M)
    assert m, out
    code, stack, _ = run(capsys, "inspect", str(NOTIFIER_PB[-1]), "--stack", m.group(2))
    assert code == 0
    assert f"leak site {m.group(1)} at {m.group(2)}" in stack
    assert "goroutines with this stack" in stack


def test_inspect_stack_that_matches_nothing_is_a_usage_error_naming_the_file(capsys):
    code, _, err = run(capsys, "inspect", str(COLLECTOR[-1]), "--stack", "999999")
    assert code == exitcodes.USAGE
    assert str(COLLECTOR[-1]) in err and "999999" in err


def test_diff_names_the_signatures_that_shrank_too(capsys):
    # GIVEN the first and last dumps of tracing-collector: +5 stuck in OnTick, -5 in shardWorker.loop
    code, out, _ = run(capsys, "diff", str(COLLECTOR[0]), str(COLLECTOR[-1]))
    assert code == 0
    grew, shrank = out.split("shrank (")
    assert "(*TailPolicy).OnTick" in grew and re.search(r"^\s+\+5\s+1\s+6\s", grew, re.M)
    assert "(*shardWorker).loop" in shrank and re.search(r"^\s+-5\s+7\s+2\s", shrank, re.M)
    assert "created by github.com/acme/tracing-collector/internal/sampling.(*Scheduler).Start" in shrank
