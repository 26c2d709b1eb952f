"""Time and peak memory of goroscope on the two costly hostile inputs of issue 15.

    python bench/hostile.py [--work DIR] [--src SRC ...]

- `distinct`: one debug=2 dump of 10^6 goroutines whose stacks all differ (~170 MB);
- `newlines`: a gzipped real dump followed by 5 GiB of newlines (~5 MB).

Each is run through `goroscope report --no-cache --format json` once per SRC (a
source tree's `src` folder, put first on PYTHONPATH; default: the installed one),
side by side, and the wall time, exit code and the process tree's peak memory are
printed: the sum of every process's VmHWM (workers included; an upper bound of the
tree's peak, since the peaks need not coincide) and the largest single one.
"""

from __future__ import annotations

import argparse
import os
import sys
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import run_measured  # noqa: E402


def distinct_dump(path: Path, n: int = 10**6) -> Path:
    """Write (once) a debug=2 dump of `n` goroutines, every stack its own function and line."""
    if not path.exists():
        with open(path, "w") as f:
            f.write("goroutine 1 [running]:\nmain.main()\n\t/app/main.go:10 +0x1d\n\n")
            for i in range(2, n + 1):
                f.write(
                    f"goroutine {i} [chan receive, {i % 60} minutes]:\nmain.worker{i}(0xc000{i:06x})\n"
                    f"\t/app/gen/w{i % 1000}.go:{i % 5000 + 1} +0x{i % 4096:x}\n"
                    f"created by main.spawn{i % 977} in goroutine 1\n\t/app/main.go:{i % 300 + 20} +0x{i % 256:x}\n\n"
                )
    return path


def newlines_gz(path: Path, gib: int = 5) -> Path:
    """Write (once) a gzipped small dump followed by `gib` GiB of newlines."""
    if not path.exists():
        co = zlib.compressobj(9, zlib.DEFLATED, 31)
        block = b"\n" * (64 << 20)
        with open(path, "wb") as out:
            out.write(co.compress(b"goroutine 1 [running]:\nmain.main()\n\t/app/main.go:10 +0x1d\n\n"))
            for _ in range(gib * 16):
                out.write(co.compress(block))
            out.write(co.flush())
    return path


def main() -> None:
    """Build the inputs and measure each source tree on each."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/goroscope-hostile"))
    ap.add_argument("--src", action="append", default=[], help="a source tree's src folder (repeatable)")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    inputs = {"distinct": distinct_dump(args.work / "distinct.txt"), "newlines": newlines_gz(args.work / "newlines.txt.gz")}
    for name, path in inputs.items():
        for src in args.src or [""]:
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            if src:
                env["PYTHONPATH"] = src
            cmd = [sys.executable, "-m", "goroscope", "report", str(path), "--no-cache", "--format", "json",
                   "--output", str(args.work / "out"), "--force", "-q"]
            res = run_measured(cmd, env=env)
            print(
                f"{name:9} {src or 'installed':30} exit {res['code']} wall {res['wall_s']:.1f} s "
                f"tree peak (sum of VmHWM) {res['tree_hwm_mb']:.0f} MiB, largest process {res['maxrss_mb']:.0f} MiB",
                flush=True,
            )


if __name__ == "__main__":
    main()
