"""Tests of how a fleet's many small dumps are parsed: in batches, each series at once.

The archives here are small and generated (a few services of pods of snapshots);
bench/run.py fleet measures the same paths at 10,000 files.
"""

from __future__ import annotations

from pathlib import Path

from goroscope import pipeline
from goroscope.config import Config
from goroscope.model import Source


def _src(path: str, size: int, member: str | None = None) -> Source:
    """Return a Source of `size` stored bytes, its series the folder of `path`."""
    return Source(path=path, fs_path="/a.tar" if member else "/" + path, member=member, size=size, series=path.rsplit("/", 1)[0])


def _plan(sources: list[Source], jobs: int) -> list:
    """Return the batches the pipeline sends to `jobs` workers for `sources`."""
    items = pipeline._plan(sources, Config(), pipeline.RunOptions(jobs=jobs), hash_it=True)
    return pipeline._batches(items, jobs)


def test_small_files_travel_in_batches_of_one_series_order() -> None:
    # GIVEN 2 services x 3 pods x 40 small snapshots, listed out of order, and one big dump
    small = [_src(f"svc{s}/pod{p}/{t:03d}.txt.gz", 5000) for t in range(40) for p in range(3) for s in range(2)]
    big = _src("svc9/pod0/huge.txt", 80 << 20)
    # WHEN planned for 2 workers
    batches = _plan(small + [big], jobs=2)
    # THEN the big dump goes first and alone, then the small ones in path order in few batches
    assert [[m[0].path for m in b[1]] for b in batches[:1]] == [[big.path]]
    rest = [m[0] for b in batches[1:] for m in b[1]]
    assert [s.path for s in rest] == sorted(s.path for s in small)
    sizes = [len(b[1]) for b in batches[1:]]
    assert max(sizes) <= pipeline.BATCH_FILES and len(batches) - 1 >= 2 * pipeline.BATCHES_PER_JOB
    assert len(batches) - 1 <= -(-len(small) // 30) + 1  # 240 files: a handful of tasks, not 240
    # each batch carries the config once, not once a file
    assert all(isinstance(b[0], Config) for b in batches)


def test_few_files_are_not_batched_below_the_workers() -> None:
    # GIVEN fewer small files than workers times batches a worker
    small = [_src(f"svc/pod/{t}.txt", 5000) for t in range(5)]
    # THEN each is a batch of its own: both cores get work
    assert [len(b[1]) for b in _plan(small, jobs=2)] == [1, 1, 1, 1, 1]


def test_a_batch_is_bounded_in_bytes() -> None:
    # GIVEN small files whose sizes add up past the batch bound
    small = [_src(f"svc/pod/{t:03d}.txt", pipeline.BATCH_BYTES // 3) for t in range(12)]
    # THEN no batch holds more than the bound (plus the file that reached it)
    for _, members in _plan(small, jobs=1):
        assert sum(m[0].size for m in members) < pipeline.BATCH_BYTES + pipeline.BATCH_BYTES // 3
