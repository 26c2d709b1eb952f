#!/usr/bin/env python3
"""Capture one series of goroutine dumps from the newshapes program over loopback.

Usage: capture.py BINARY OUTDIR [--every 5] [--for 75]. Starts BINARY, reads the
"PORT n" line it prints, then every --every seconds for --for seconds saves
/debug/pprof/goroutine as debug=2 (`newshapes-<UTC>.debug2.txt`), debug=1
(`.debug1.txt`) and protobuf (`.pb.gz`), each file's mtime the request's moment.
"""
import argparse
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


def main():
    """Run the program and poll its goroutine profile."""
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("out")
    ap.add_argument("--every", type=float, default=5.0)
    ap.add_argument("--for", dest="duration", type=float, default=75.0)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    p = subprocess.Popen([a.binary, "-run", f"{a.duration + 15}s"], stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().split()
        port = int(line[1])
        base = f"http://127.0.0.1:{port}/debug/pprof/goroutine"
        time.sleep(2.0)
        t_end = time.time() + a.duration
        while time.time() <= t_end:
            t0 = time.time()
            stamp = datetime.fromtimestamp(t0, tz=timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            for query, suffix in (("debug=2", "debug2.txt"), ("debug=1", "debug1.txt"), ("debug=0", "pb.gz")):
                ts = time.time()
                data = fetch(f"{base}?{query}")
                path = os.path.join(a.out, f"newshapes-{stamp}.{suffix}")
                with open(path, "wb") as f:
                    f.write(data)
                os.utime(path, (ts, ts))
            print(stamp, file=sys.stderr)
            time.sleep(max(0.0, a.every - (time.time() - t0)))
    finally:
        p.terminate()
        p.wait(10)


if __name__ == "__main__":
    main()
