#!/usr/bin/env python3
"""Capture one series of goroutine dumps from a test program: over loopback, or as its own log.

Usage: capture.py BINARY OUTDIR --name NAME [--every 5] [--for 75] [--gzip] [--browser | --signal USR1] [--arg=-flag ...].
Starts BINARY with `-run` a little longer than the capture (and each --arg, so one
binary runs as several pods of a service, each with its own flags), reads the "PORT n" line
it prints, then every --every seconds for --for seconds saves
/debug/pprof/goroutine as debug=2 (`NAME-<UTC>.debug2.txt`), debug=1
(`.debug1.txt`) and protobuf (`.pb.gz`), each file's mtime the request's moment;
--gzip gzips the text forms too (`.debug2.txt.gz`, `.debug1.txt.gz`).

The protobuf's mapping names the binary by its absolute (temporary) build path;
that path is written as `/bin/` + the binary's name, padded with `/` to the same
length so the protobuf's length prefixes still hold.

--browser saves the two text forms as a person does from a browser, with no time in
their names: debug=2 as `goroutine.txt`, `goroutine (1).txt`, … and, --pair-delay
seconds later, debug=1 as `goroutine_debug1.txt`, `goroutine_debug1 (1).txt`, …
(--skip-debug1 K leaves out the K-th moment's debug=1), each file's mtime its save.

--signal USR1 takes no HTTP dumps: the program dumps itself (runtime.Stack on the
signal, to its stderr) and this script sends the signal every --every seconds. The
program's stderr is kept as written (`NAME.stderr.log`) and as journald shows it
(`NAME.journal.log`: `Mon DD HH:MM:SS HOST SVC[PID]: ` before every line, the time
each line arrived, local time as journalctl prints it); both gzipped with --gzip.

Used by tests/data/newshapes, lookalikes, loadramp, fleetshapes, keepalive and selfdump (see their README.md).
"""
import argparse
import gzip
import os
import signal
import subprocess
import sys
import threading
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


def browser_name(stem, k):
    """Return the name a browser gives the k-th (0-based) download saved as `stem`.txt."""
    return f"{stem}.txt" if k == 0 else f"{stem} ({k}).txt"


def save(path, data, when):
    """Write `data` to `path` with mtime `when`."""
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, (when, when))


def capture_browser(base, a):
    """Save debug=2 and then debug=1 every --every seconds under browser download names."""
    t_end = time.time() + a.duration
    k = 0
    while time.time() <= t_end:
        t0 = time.time()
        save(os.path.join(a.out, browser_name("goroutine", k)), fetch(f"{base}?debug=2"), time.time())
        if k not in a.skip_debug1:
            time.sleep(a.pair_delay)
            save(os.path.join(a.out, browser_name("goroutine_debug1", k)), fetch(f"{base}?debug=1"), time.time())
        print(k, file=sys.stderr, flush=True)
        k += 1
        time.sleep(max(0.0, a.every - (time.time() - t0)))


def journal_prefix(when, host, svc, pid):
    """Return journalctl's short prefix for a line logged at `when` (local time)."""
    return time.strftime("%b %d %H:%M:%S", time.localtime(when)) + f" {host} {svc}[{pid}]: "


def capture_signal(a):
    """Run the program, signal it every --every seconds, keep its stderr plain and journald-prefixed."""
    sig = getattr(signal, "SIG" + a.signal)
    open_ = (lambda p: gzip.open(p + ".gz", "wb", compresslevel=9)) if a.gzip else (lambda p: open(p, "wb"))
    plain_path = os.path.join(a.out, f"{a.name}.stderr.log")
    journal_path = os.path.join(a.out, f"{a.name}.journal.log")
    p = subprocess.Popen([a.binary, "-run", f"{a.duration + 30}s", *a.arg], stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def pump():
        """Copy the program's stderr, line by line, to both logs."""
        with open_(plain_path) as plain, open_(journal_path) as journal:
            for line in p.stderr:
                plain.write(line)
                journal.write(journal_prefix(time.time(), a.host, a.name, p.pid).encode() + line)

    t = threading.Thread(target=pump)
    t.start()
    try:
        p.stdout.readline()  # READY
        time.sleep(2.0)
        t_end = time.time() + a.duration
        while time.time() <= t_end:
            t0 = time.time()
            p.send_signal(sig)
            print(datetime.fromtimestamp(t0, tz=timezone.utc).isoformat(), file=sys.stderr, flush=True)
            time.sleep(max(0.0, a.every - (time.time() - t0)))
        time.sleep(1.0)
    finally:
        p.terminate()
        p.wait(10)
        t.join()
    for path in (plain_path, journal_path):
        path += ".gz" if a.gzip else ""
        os.utime(path, (t_end, t_end))


def main():
    """Run the program and poll its goroutine profile (or have it dump itself)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("out")
    ap.add_argument("--name", required=True, help="file name prefix")
    ap.add_argument("--every", type=float, default=5.0)
    ap.add_argument("--for", dest="duration", type=float, default=75.0)
    ap.add_argument("--gzip", action="store_true", help="gzip the debug=2 and debug=1 files too")
    ap.add_argument("--browser", action="store_true", help="save debug=2 and debug=1 under browser download names")
    ap.add_argument("--pair-delay", type=float, default=1.5, help="seconds between a moment's two saves (--browser)")
    ap.add_argument("--skip-debug1", type=int, action="append", default=[], help="a moment (0-based) without debug=1 (--browser)")
    ap.add_argument("--signal", help="have the program dump itself on this signal (USR1) instead of polling")
    ap.add_argument("--host", default="node-7", help="host name in the journald prefix (--signal)")
    ap.add_argument("--arg", action="append", default=[], help="one more argument for BINARY (repeat; write --arg=-flag)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.signal:
        capture_signal(a)
        return
    text = ".gz" if a.gzip else ""
    forms = (("debug=2", "debug2.txt" + text), ("debug=1", "debug1.txt" + text), ("debug=0", "pb.gz"))
    args = (["-pprof"] if a.browser else []) + a.arg
    p = subprocess.Popen([a.binary, "-run", f"{a.duration + 30}s", *args], stdout=subprocess.PIPE, text=True)
    try:
        port = int(p.stdout.readline().split()[1])
        base = f"http://127.0.0.1:{port}/debug/pprof/goroutine"
        time.sleep(2.0)
        if a.browser:
            capture_browser(base, a)
            return
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
