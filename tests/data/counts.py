#!/usr/bin/env python3
"""Count goroutines per leak site in the debug=2 files of a series folder, independently of goroscope.

Usage: counts.py SERIES_FOLDER (the debug=2 files may be gzipped). Used by
tests/data/newshapes and tests/data/lookalikes to write their truth.yaml; the
truth scripts of fleetshapes and keepalive read it too (`per_site`).

The leak site is the first frame whose function is in package main (every frame of
this program is); a goroutine with no such frame is counted under its bottom frame.
Prints one line per site: function, file:line, state(s) and counts in snapshot order.
"""
import gzip
import re
import sys
from collections import defaultdict
from pathlib import Path

HEADER = re.compile(r"^goroutine (\d+) (?:gp=\S+ m=\S+(?: mp=\S+)? )?\[([^\]]*)\]:$")


def goroutines(text):
    """Yield (state, frames, created_by) of each goroutine of a debug=2 dump."""
    for block in text.split("\n\n"):
        lines = block.strip("\n").split("\n")
        m = HEADER.match(lines[0]) if lines else None
        if not m:
            continue
        state = re.sub(r", \d+ minutes$", "", m.group(2))
        frames, created = [], None
        i = 1
        while i + 1 < len(lines):
            fn = lines[i]
            loc = lines[i + 1].strip().split(" +")[0]
            file, _, line = loc.rpartition(":")
            if fn.startswith("created by "):
                created = (fn[len("created by "):].split(" in goroutine")[0], file, int(line))
            else:
                frames.append((re.sub(r"\([^()]*\)$", "", fn), file, int(line)))
            i += 2
        yield state, frames, created


def per_site(folder):
    """Return (the debug=2 files of `folder` in order, {site: counts per file}, {site: (states seen, created-by)})."""
    files = sorted(Path(folder).glob("*.debug2.txt*"))
    counts = defaultdict(lambda: [0] * len(files))
    info = {}
    for i, f in enumerate(files):
        for state, frames, created in goroutines(gzip.decompress(f.read_bytes()).decode() if f.suffix == ".gz" else f.read_text()):
            app = [fr for fr in frames if fr[0].startswith("main.")]
            site = app[0] if app else frames[-1]
            counts[site][i] += 1
            info.setdefault(site, (set(), created))[0].add(state)
    return files, dict(counts), info


def main():
    """Print the per-site counts of every debug=2 file under the given folder."""
    files, counts, info = per_site(sys.argv[1])
    for site, c in sorted(counts.items()):
        states, created = info[site]
        print(f"{site[0]} {site[1]}:{site[2]} {sorted(states)} created_by={created} counts={c}")


if __name__ == "__main__":
    main()
