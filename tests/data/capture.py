#!/usr/bin/env python3
"""Capture one series of goroutine dumps from a test program over loopback.

Usage: capture.py BINARY OUTDIR --name NAME [--every 5] [--for 75] [--gzip].
Starts BINARY with `-run` a little longer than the capture, reads the "PORT n" line
it prints, then every --every seconds for --for seconds saves
/debug/pprof/goroutine as debug=2 (`NAME-<UTC>.debug2.txt`), debug=1
(`.debug1.txt`) and protobuf (`.pb.gz`), each file's mtime the request's moment;
--gzip gzips the text forms too (`.debug2.txt.gz`, `.debug1.txt.gz`).

The protobuf's mapping names the binary by its absolute (temporary) build path;
that path is written as `/bin/` + the binary's name, padded with `/` to the same
length so the protobuf's length prefixes still hold.
Used by tests/data/newshapes and tests/data/lookalikes (see their README.md).
"""
import argparse
import gzip
import os
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone


def fetch(url):
    """GET url over loopback and return the body."""
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


def scrub(pb_gz, binary):
    """Return the gzipped protobuf with the binary's build path replaced by a same-length /bin/ path."""
    raw = gzip.decompress(pb_gz)
    path = os.path.abspath(binary).encode()
    name = b"/bin/" + os.path.basename(binary).encode()
    if len(name) > len(path):
        raise SystemExit(f"{binary}: path shorter than /bin/<name>; build it under a longer folder")
    return gzip.compress(raw.replace(path, b"/" * (len(path) - len(name)) + name), mtime=0)


def main():
    """Run the program and poll its goroutine profile."""
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("out")
    ap.add_argument("--name", required=True, help="file name prefix")
    ap.add_argument("--every", type=float, default=5.0)
    ap.add_argument("--for", dest="duration", type=float, default=75.0)
    ap.add_argument("--gzip", action="store_true", help="gzip the debug=2 and debug=1 files too")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    text = ".gz" if a.gzip else ""
    forms = (("debug=2", "debug2.txt" + text), ("debug=1", "debug1.txt" + text), ("debug=0", "pb.gz"))
    p = subprocess.Popen([a.binary, "-run", f"{a.duration + 30}s"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(p.stdout.readline().split()[1])
        base = f"http://127.0.0.1:{port}/debug/pprof/goroutine"
        time.sleep(2.0)
        t_end = time.time() + a.duration
        while time.time() <= t_end:
            t0 = time.time()
            stamp = datetime.fromtimestamp(t0, tz=timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            for query, suffix in forms:
                ts = time.time()
                data = fetch(f"{base}?{query}")
                if query == "debug=0":
                    data = scrub(data, a.binary)
                elif a.gzip:
                    data = gzip.compress(data, mtime=0)
                path = os.path.join(a.out, f"{a.name}-{stamp}.{suffix}")
                with open(path, "wb") as f:
                    f.write(data)
                os.utime(path, (ts, ts))
            print(stamp, file=sys.stderr, flush=True)
            time.sleep(max(0.0, a.every - (time.time() - t0)))
    finally:
        p.terminate()
        p.wait(10)


if __name__ == "__main__":
    main()
