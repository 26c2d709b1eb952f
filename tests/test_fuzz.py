"""Property test: every parser, fed mutated real dumps of every form, either returns a
Snapshot (which aggregates) or raises goroscope's own DumpError: never anything else."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

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
