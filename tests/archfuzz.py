"""Seeded mutation fuzzing of real tar, tar.gz and zip archives, each beside a good dump.

`case(seed)` builds one night: a folder holding a good debug=2 dump (pod-a) and an
archive of real dumps (pod-b.tar, .tar.gz or .zip) damaged by a few seeded
mutations (bytes flipped, a range zeroed, cut, junk put in, a range doubled), in
the stored bytes or, for tar.gz, in the tar inside the gzip. `run(seed, tmp)` runs
`goroscope report` on it through the command line and returns (exit code, whether
the good dump was read, stderr). The suite runs a few dozen seeds
(test_fuzz.test_mutated_archives_never_cost_the_good_dump); run this module to try
thousands:

    python tests/archfuzz.py 3000
"""

from __future__ import annotations

import gzip
import io
import json
import random
import sys
import tarfile
import zipfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERIES = REPO / "samples" / "tracing-collector"
KINDS = ("tar", "tar.gz", "zip")


def _dumps() -> list[tuple[str, bytes]]:
    """Return (name, text) of the sample series' real debug=2 dumps."""
    return [(p.name[: -len(".gz")], gzip.decompress(p.read_bytes())) for p in sorted(SERIES.glob("*.gz"))]


DUMPS = _dumps()


def mutate(data: bytes, rng: random.Random) -> bytes:
    """Return `data` with 1-4 random edits."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not b:
            break
        at = rng.randrange(len(b))
        op = rng.choice(("flip", "flip", "zero", "cut", "junk", "dup", "magic"))
        if op == "flip":
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == "zero":
            n = rng.randint(1, 600)
            b[at : at + n] = bytes(len(b[at : at + n]))
        elif op == "cut":
            del b[at:]
        elif op == "junk":
            b[at:at] = rng.randbytes(rng.randint(1, 64))
        elif op == "dup":
            n = rng.randint(1, 2000)
            b[at:at] = b[at : at + n]
        else:
            # where a header magic is, hit it (PK.., ustar, gzip)
            for magic in (b"PK\x03\x04", b"PK\x01\x02", b"ustar", b"\x1f\x8b"):
                i = b.find(magic, at) if rng.random() < 0.5 else b.rfind(magic, 0, at)
                if i >= 0:
                    b[i + rng.randrange(len(magic))] ^= 1 << rng.randrange(8)
                    break
    return bytes(b)


def build(kind: str, members: list[tuple[str, bytes]]) -> bytes:
    """Return a `kind` archive of `members`."""
    buf = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members:
                # as Info-ZIP writes them: a Unix regular file's mode
                info = zipfile.ZipInfo(name, (2026, 12, 1, 8, 0, 0))
                info.create_system = 3
                info.external_attr = 0o100644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)
        return buf.getvalue()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1796112000
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def case(seed: int, root: Path) -> tuple[Path, str]:
    """Write night `seed` under `root`; return (the archive folder, the good dump's display path)."""
    rng = random.Random(seed)
    kind = KINDS[seed % len(KINDS)]
    members = [(f"pods/b/{name}", data) for name, data in rng.sample(DUMPS[1:], rng.randint(1, 4))]
    data = build(kind, members)
    if kind == "tar.gz":
        data = gzip.compress(mutate(data, rng), mtime=0) if rng.random() < 0.5 else mutate(gzip.compress(data, mtime=0), rng)
    else:
        data = mutate(data, rng)
    night = root / f"night-{seed}"
    (night / "pod-a").mkdir(parents=True)
    good_name, good = DUMPS[0]
    (night / "pod-a" / good_name).write_bytes(good)
    (night / f"pod-b.{kind}").write_bytes(data)
    return night, f"pod-a/{good_name}"


def run(seed: int, root: Path) -> tuple[int, bool, str]:
    """Run `goroscope report` on night `seed`; return (exit code, the good dump was read, stderr)."""
    from goroscope import cli

    night, good = case(seed, root)
    out = root / f"out-{seed}"
    err = io.StringIO()
    code = 0
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        try:
            cli.main(["report", str(night), "--no-cache", "--jobs", "1", "--format", "json", "--output", str(out), "--name", "r", "-q"])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except Exception:  # noqa: BLE001 - what escapes cli.main: the console script's traceback and exit 1
            import traceback

            traceback.print_exc()
            code = 1
    path = out / "r.json"
    read = path.exists() and good in {s["source"] for se in json.loads(path.read_text())["series"] for s in se["snapshots"]}
    return code, read, err.getvalue()


def main(argv: list[str]) -> None:
    """Run seeds 0..N-1 (argv[1], default 1000) and print the counts by exit code and by archive kind."""
    import shutil
    import tempfile
    from collections import Counter

    n = int(argv[1]) if len(argv) > 1 else 1000
    codes: Counter = Counter()
    lost: list[int] = []
    reasons: Counter = Counter()
    root = Path(tempfile.mkdtemp(prefix="archfuzz-"))
    try:
        for seed in range(n):
            code, read, err = run(seed, root)
            codes[(KINDS[seed % len(KINDS)], code)] += 1
            if code != 0 or not read:
                lost.append(seed)
                print(f"seed {seed}: exit {code}, good dump read: {read}: {err.strip()[-300:]}", flush=True)
            shutil.rmtree(root / f"night-{seed}", ignore_errors=True)
            shutil.rmtree(root / f"out-{seed}", ignore_errors=True)
            if seed % 250 == 249:
                print(f"{seed + 1} done: {dict(codes)}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{n} nights: {dict(sorted(codes.items()))}; lost the good dump or failed: {len(lost)} {lost[:20]}")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    main(sys.argv)
