"""Discovery of an archive in an S3 bucket, heads fetched ahead (ingest.store.prefetch) or not, alternated.

Run by hand: `python bench/store.py [ROUNDS]` with the test extra installed (s3fs, moto[server]).
It starts moto's S3 API server on 127.0.0.1, uploads the dev corpus (`$GOROSCOPE_CORPUS`,
else ../shared/corpus beside the repository) under a prefix, then alternates, per round,
discover.walk_store and a whole `analyze(--no-cache, --jobs 2)` without and with the
prefetch, and prints the medians and their ratios.
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import time
from pathlib import Path


def main() -> None:
    """Measure and print."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.server import ThreadedMotoServer

    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    corpus = Path(os.environ.get("GOROSCOPE_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpus")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=f"http://{host}:{port}")
    import s3fs

    from goroscope.config import Config
    from goroscope.ingest import discover
    from goroscope.ingest import store as st
    from goroscope.pipeline import RunOptions, analyze

    fs = s3fs.S3FileSystem()
    fs.mkdir("bench")
    files = [p for p in sorted(corpus.rglob("*")) if p.is_file()]
    for p in files:
        fs.pipe(f"bench/dev/{p.relative_to(corpus).as_posix()}", p.read_bytes())
    url, real = "s3://bench/dev/", st.prefetch
    walk: dict[str, list[float]] = {"before": [], "after": []}
    whole: dict[str, list[float]] = {"before": [], "after": []}
    try:
        for r in range(rounds):
            for mode in ("before", "after"):
                st.prefetch = real if mode == "after" else (lambda *a, **k: None)  # type: ignore[assignment]
                s3fs.S3FileSystem.clear_instance_cache()
                t = time.perf_counter()
                sources, _ = discover.walk_store(url, st.store_for(url), Config())
                walk[mode].append(time.perf_counter() - t)
                s3fs.S3FileSystem.clear_instance_cache()
                t = time.perf_counter()
                report = analyze(url, Config(), RunOptions(use_cache=False, jobs=2))
                whole[mode].append(time.perf_counter() - t)
                print(f"{mode} {r}: walk {walk[mode][-1]:.2f}s, analyze {whole[mode][-1]:.2f}s, {len(sources)} sources, {len(report.findings)} findings", flush=True)
    finally:
        st.prefetch = real  # type: ignore[assignment]
        server.stop()
    b, a = statistics.median(walk["before"]), statistics.median(walk["after"])
    bt, at = statistics.median(whole["before"]), statistics.median(whole["after"])
    print(f"{len(files)} objects; discovery {b:.2f}s -> {a:.2f}s ({a / b:.2f}); analyze {bt:.2f}s -> {at:.2f}s ({at / bt:.2f})")


if __name__ == "__main__":
    main()
