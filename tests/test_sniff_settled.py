"""Discovery classifies most small dumps from their first PEEK_BYTES (ingest.sniff_settled):
whenever it does, the answer must be the one SNIFF_BYTES would give, for any bytes that follow."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from goroscope.config import Config
from goroscope.ingest import SNIFF_BYTES
from goroscope.ingest import discover
from goroscope.ingest.discover import PEEK_BYTES, _settled, _Walk, walk

DATA = Path(__file__).parent / "data"
SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _real_dumps() -> list[bytes]:
    out = []
    for root in (DATA / "forms", DATA / "real", DATA / "selfdump", DATA / "newshapes", SAMPLES):
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.stat().st_size < 4 << 20:
                data = p.read_bytes()
                out.append(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    return out


DUMPS = _real_dumps()
# what may stand before, inside or after a dump and change how a file is told
PIECES = [
    b"panic: runtime error: index out of range\n\n",
    b"SIGQUIT: quit\nPC=0x46a1c1 m=0 sigcode=0\n\n",
    b"fatal error: all goroutines are asleep - deadlock!\n\n",
    b"goroutine 0 gp=0x1 m=0 mp=0x2 [idle]:\nruntime.mcall()\n\n",
    b"goroutine 7 gp=0xc000007 m=nil [chan receive]:\nmain.f()\n\t/x/main.go:3 +0x1\n\n",
    b"goroutine 1 [running]:\nruntime/pprof.writeGoroutineLeak(0x1)\n\t/r/pprof.go:1 +0x1\n\n",
    # a goroutineleak profile's writer, its name past the peek in a deep first stack
    b"goroutine 1 [running]:\n" + b"main.deep(...)\n\t/x/main.go:9 +0x1d\n" * 300
    + b"runtime/pprof.writeGoroutineLeak(0x1)\n\t/r/pprof.go:1 +0x1\n\n",
    b"heap profile: 1: 8 [1: 8] @ heap/1048576\n",
    b"--- contention:\ncycles/second=1\n",
    b"goroutine profile: total 3\n",
    b"2026-12-07T01:02:03.000Z stdout F ",
    b"=== 2026-12-07T01:02:03Z ===\n",
    b"\n",
    b"x" * 300 + b"\n",
]


def _variant(rng: random.Random) -> bytes:
    data = bytearray(rng.choice(DUMPS))
    for _ in range(rng.randint(0, 4)):
        piece = rng.choice(PIECES)
        at = rng.choice([0, 0, 0, rng.randint(0, max(0, len(data))), rng.randint(PEEK_BYTES - 400, PEEK_BYTES + 400)])
        at = min(at, len(data))
        if rng.random() < 0.5:  # at a line's start, as a writer would put it
            nl = data.rfind(b"\n", 0, at)
            at = nl + 1
        data[at:at] = piece
    if rng.random() < 0.2:  # a log prefix on every line
        pre = rng.choice(PIECES[10:12])
        data = bytearray(b"".join(pre + ln for ln in bytes(data).splitlines(keepends=True)))
    if rng.random() < 0.2:
        cut = rng.randint(0, len(data))
        data = data[:cut]
    return bytes(data)


def _long_dump() -> bytes:
    """Return a debug=2 dump of more than SNIFF_BYTES: a real one's goroutines, again and again."""
    one = next(d for d in DUMPS if d.startswith(b"goroutine 1 [running]:") and d.count(b"\n\ngoroutine ") > 3)
    return one * (2 * SNIFF_BYTES // len(one) + 1)


def _told(head: bytes) -> tuple:
    w = _Walk(Path("."), Config())
    draft = w.draft("s/x.txt", "s/x.txt", None, len(head), 0.0)
    w.add(draft, head, None)
    return ([(s.format, s.profile, s.crash, s.line_prefix) for s in w.sources], [k.reason for k in w.skipped])


@pytest.mark.parametrize("seed", range(4))
def test_settled_heads_are_told_as_sniff_bytes_would(seed: int) -> None:
    rng = random.Random(seed)
    settled = 0
    for _ in range(400):
        data = _variant(rng)
        peek = data[:PEEK_BYTES]
        if len(peek) == PEEK_BYTES and _settled(peek):
            settled += 1
            assert _told(peek) == _told(data[:SNIFF_BYTES]), data[:300]
    assert settled >= 40  # most real dumps are settled by their first bytes (what makes discovery cheap)


def test_what_first_bytes_cannot_settle() -> None:
    body = _long_dump()
    assert _settled(body[:PEEK_BYTES])
    # a heap profile: a goroutine header may come later
    heap = b"heap profile: 1: 8 [1: 8] @ heap/1048576\n" + b"1: 8 [1: 8] @ 0x1 0x2\n#\t0x1\tmain.f+0x1\t/x/main.go:3\n\n" * 300
    assert not _settled(heap[:PEEK_BYTES])
    # a crash dump with gp= headers: its crash markers may follow the first goroutine
    assert not _settled(PIECES[4] + body[:PEEK_BYTES])
    # the first stack runs past the peek: a goroutineleak profile names itself in it
    assert not _settled(b"goroutine 1 [running]:\n" + b"main.f()\n" * (PEEK_BYTES // 9))
    # a log's lines: prefix detection reads all of SNIFF_BYTES
    assert not _settled(b"".join(PIECES[10] + ln for ln in body.splitlines(keepends=True))[:PEEK_BYTES])


def test_walk_reads_only_the_peek_of_a_settled_gzip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = _long_dump()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.txt.gz").write_bytes(gzip.compress(body))
    # a gzip of two members, the first shorter than the peek: told from SNIFF_BYTES as before
    (tmp_path / "a" / "two.txt.gz").write_bytes(gzip.compress(body[:100]) + gzip.compress(body[100:]))
    heads = []
    real = discover.arc.read_head
    monkeypatch.setattr(discover.arc, "read_head", lambda *a, **k: heads.append(1) or real(*a, **k))
    sources, skipped = walk(tmp_path, Config())
    assert sorted((s.path, s.format) for s in sources) == [("a/one.txt.gz", "debug2"), ("a/two.txt.gz", "debug2")]
    assert skipped == [] and len(heads) == 1
