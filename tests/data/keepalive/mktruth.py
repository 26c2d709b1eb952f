"""Write tests/data/keepalive/truth.yaml from the debug=2 files (tests/data/counts.py's reading), per pod. Run from the repository root."""
import sys
from pathlib import Path

import yaml

sys.path.insert(0, "tests/data")
import counts as C  # noqa: E402

ROOT = Path("tests/data/keepalive")
FLAGS = {"quotes/pod-1": ["-seed=101", "-leak"], "quotes/pod-2": ["-seed=202"], "quotes/pod-3": ["-seed=303"], "quotes/pod-4": ["-seed=404"]}
T = "net/http/transport.go"
LEAKS = {
    ("net/http.(*persistConn).readLoop", T, 2616): (
        "growing", "-leak",
        "read loops of connections whose response body main.fetchQuote never closed (it returns on a 503): each waits in select for a body read that never comes",
    ),
    ("net/http.(*persistConn).writeLoop", T, 2833): (
        "growing", "-leak",
        "the write loops of every connection: the fixed and elastic pools' (benign, as on the other pods) plus one per leaked connection, which never returns",
    ),
}
BENIGN = {
    ("net/http.(*persistConn).readLoop", T, 2493): "idle keep-alive connections' read loops (IO wait): the fixed pool's 8 (7 never used again, minutes growing for the whole run), the elastic pool's kept 4",
    ("net/http.(*persistConn).writeLoop", T, 2833): "the same connections' write loops idle in select: the fixed pool's 8 (same ids, minutes growing) plus the elastic pool's, whose number moves with the waves",
    ("net/http.(*persistConn).readLoop", T, 2616): "read loops of calls in flight, waiting for their caller to read the body (short-lived)",
    ("main.(*queue).take", "example.com/keepalive/main.go", 174): "work-queue consumer in sync.Cond.Wait between items that come every 150 s: one id, over two minutes at a time",
}
OTHER = "load drivers, callers sleeping between calls and calls in flight (short-lived or woken every few seconds)"


series = []
for path, flags in FLAGS.items():
    files, counts, info = C.per_site(ROOT / path)
    entry = {"path": path, "flags": flags, "snapshot_count": len(files), "expected_leaks": [], "benign": []}
    for site, c in sorted(counts.items()):
        fn, file, line = site
        states = sorted(info[site][0])
        cb = info[site][1]
        if site in LEAKS and LEAKS[site][1] in flags:
            kind, _, note = LEAKS[site]
            entry["expected_leaks"].append({"function": fn, "file": file, "line": line, "kind": kind,
                                            "created_by": {"function": cb[0], "file": cb[1], "line": cb[2]},
                                            "states_seen": states, "note": note, "counts": c})
        else:
            entry["benign"].append({"function": fn, "file": file, "line": line, "trap": BENIGN.get(site, OTHER), "states_seen": states, "counts": c})
    series.append(entry)

doc = {
    "set": "keepalive",
    "generated": "captured 2026-12-07 by tests/data/capture.py (--arg per pod) from prog/ (go1.27.3, go 1.24 module, -trimpath); counts by tests/data/counts.py's reading of the debug=2 files (mktruth.py)",
    "conventions": {
        "service": "quotes: four pods of one binary, each with its own -seed; only pod-1 runs with -leak",
        "kind": "growing = the count rises (a leaked connection's read and write loops never return)",
        "counts": "goroutines at the site in each debug=2 snapshot, in snapshot order",
    },
    "series": series,
}
(ROOT / "truth.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, width=200, default_flow_style=None), encoding="utf-8")
print("wrote", len(series), "series")
