"""Property test: every parser, fed mutated real dumps of every form, either returns a
Snapshot (which aggregates) or raises goroscope's own DumpError: never anything else."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goroscope.aggregate import aggregate
from goroscope.errors import DumpError
from goroscope.ingest import parse_stream
from goroscope.model import Snapshot

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
FORMS = Path(__file__).resolve().parent / "data" / "forms"


def _seeds() -> list[bytes]:
    """Return small real dumps of every form: debug=2, debug=1, protobuf (raw), crash."""
    seeds = []
    for p in sorted((SAMPLES / "tracing-collector").glob("*.gz"))[:2]:
        seeds.append(gzip.decompress(p.read_bytes()))
    for p in sorted((SAMPLES / "notifier").glob("*.debug1.txt"))[:2]:
        seeds.append(p.read_bytes())
    for p in sorted((SAMPLES / "notifier").glob("*.pb.gz"))[:2]:
        seeds.append(gzip.decompress(p.read_bytes()))
    for p in sorted(FORMS.glob("*")):
        data = p.read_bytes()
        seeds.append(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    seeds.append(
        b"panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:5 +0x1d\nexit status 2\n"
    )
    return seeds


SEEDS = _seeds()


@st.composite
def mutated(draw) -> bytes:
    """Return a real dump with a few random edits: cuts, flipped bytes, lines dropped or doubled, junk."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["cut", "flip", "drop_line", "dup_line", "junk", "splice"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if op == "cut":
            del data[at:]
        elif op == "flip":
            data[at] = draw(st.integers(0, 255))
        elif op in ("drop_line", "dup_line"):
            start = data.rfind(b"\n", 0, at) + 1
            end = data.find(b"\n", at)
            end = len(data) if end < 0 else end + 1
            line = bytes(data[start:end])
            if op == "drop_line":
                del data[start:end]
            else:
                data[start:start] = line
        elif op == "junk":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        else:
            other = draw(st.sampled_from(SEEDS))
            data[at:at] = other[: draw(st.integers(0, min(len(other), 2000)))]
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_only_our_error_comes_out(data: bytes) -> None:
    try:
        snap = parse_stream(io.BufferedReader(io.BytesIO(data)), "fuzz.txt")  # type: ignore[arg-type]
    except DumpError as e:
        assert e.path == "fuzz.txt" and e.reason
        return
    assert isinstance(snap, Snapshot)
    aggregate(snap)


# Seeded mutations of real tar, tar.gz and zip archives, each beside a good dump, through
# `goroscope report`: the run never fails and never loses the good dump (issue 15).
ARCHIVE_SEEDS = range(36)


@pytest.mark.parametrize("seed", ARCHIVE_SEEDS)
def test_mutated_archives_never_cost_the_good_dump(tmp_path, seed: int) -> None:
    import archfuzz

    code, read, err = archfuzz.run(seed, tmp_path)
    assert code == 0 and read, f"seed {seed}: exit {code}: {err}"
    assert "Traceback" not in err


@pytest.mark.parametrize("seed", range(24))
def test_mutated_dumps_through_inspect_and_diff_give_no_foreign_error(tmp_path, capsys, seed: int) -> None:
    import random

    import archfuzz
    from goroscope import cli

    rng = random.Random(seed)
    data = archfuzz.mutate(rng.choice(SEEDS), rng)
    f = tmp_path / ("dump.txt.gz" if seed % 3 == 0 else "dump.txt")
    f.write_bytes(gzip.compress(data) if seed % 3 == 0 else data)
    for args in (["inspect", str(f)], ["inspect", "--json", str(f)], ["diff", str(f), str(f)]):
        try:
            cli.main(args)
            code = 0
        except SystemExit as e:
            code = e.code
        _, err = capsys.readouterr()
        assert code in (0, 4), f"{args[0]} seed {seed}: exit {code}: {err}"
        assert "Traceback" not in err
