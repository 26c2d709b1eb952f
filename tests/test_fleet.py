"""Tests of how a fleet's many small dumps are parsed: in batches, each series at once.

The archives here are small and generated (a few services of pods of snapshots);
bench/run.py fleet measures the same paths at 10,000 files.
"""

from __future__ import annotations

from pathlib import Path

from helpers import make_dump

from goroscope import correlate, incremental, pipeline
from goroscope.config import Config
from goroscope.ingest import discover
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


def _fleet(root: Path, services: int = 3, pods: int = 2, snapshots: int = 6) -> Path:
    """Write a small fleet: every pod of every service leaks one goroutine per snapshot beside a steady pool."""
    for s in range(services):
        for p in range(pods):
            for t in range(snapshots):
                blocks = [f"goroutine {1 + k} [select]:\nmain.pool{s}(0x{k:x})\n\t/src/svc{s}/pool.go:12 +0x1d\n"
                          f"created by main.main in goroutine 1\n\t/src/svc{s}/main.go:8 +0x2" for k in range(5)]
                blocks += [f"goroutine {100 + k} [chan send, {(t - k) * 30} minutes]:\nmain.leak{s}(0xc{k:08x})\n"
                           f"\t/src/svc{s}/leak.go:20 +0x25\ncreated by main.serve in goroutine 1\n\t/src/svc{s}/main.go:9 +0x3"
                           for k in range(t + 1)]
                make_dump(root, f"svc{s}/pod{p}/svc{s}-pod{p}-20261201T{t // 2:02d}{30 * (t % 2):02d}00Z.txt.gz",
                          "\n\n".join(blocks) + "\n")
    return root


def test_each_series_is_correlated_once_its_files_are_in(tmp_path: Path, monkeypatch) -> None:
    # GIVEN a fleet of 6 series, parsed in this process, in path order
    root = _fleet(tmp_path / "fleet")
    events: list[str] = []
    real_parse, real_correlate = pipeline.parse_one, correlate.correlate
    monkeypatch.setattr(pipeline, "parse_one", lambda src, *a, **k: events.append("parse " + src.series) or real_parse(src, *a, **k))
    monkeypatch.setattr(correlate, "correlate", lambda sid, *a, **k: events.append("correlate " + sid) or real_correlate(sid, *a, **k))
    kept: list = []
    real_result = incremental.SeriesStream.result

    def result(self):  # type: ignore[no-untyped-def]
        done = real_result(self)
        kept.extend(done.files)
        return done

    monkeypatch.setattr(incremental.SeriesStream, "result", result)
    # WHEN the report is made
    report = pipeline.analyze(root, Config(), pipeline.RunOptions(jobs=1, use_cache=False))
    # THEN each series is correlated as soon as its files are parsed, before the next series is parsed (the map over series)
    series = sorted({e.split(" ", 1)[1] for e in events})
    assert len(series) == 6
    for k, sid in enumerate(series[:-1]):
        assert events.index("correlate " + sid) < events.index("parse " + series[k + 1])
        assert max(i for i, e in enumerate(events) if e == "parse " + sid) < events.index("correlate " + sid)
    # and no parsed file is held by the parent: the map keeps each series' result and its inputs' names
    assert kept == [] and len(report.inputs) == 36
    # the leaks are found, on every pod
    assert {s.series for s in report.suspects if s.leak_site.function.startswith("main.leak")} == set(series)


def test_a_streamed_run_equals_one_correlating_everything_at_the_end(tmp_path: Path) -> None:
    # GIVEN a fleet, and the files as a run holds them once parsed
    root = _fleet(tmp_path / "fleet", services=2, pods=2, snapshots=4)
    config = Config()
    sources, _ = discover.walk(root, config)
    files = [incremental.ParsedFile.parsed(src, pipeline.parse_one(src, config), None) for src in sources]
    window = incremental.Window()
    # WHEN correlated all at once, and series by series as their files come in (out of order)
    at_once = incremental.correlate_all(root, files, config, window, None, lambda s: pipeline.parse_one(s, config))
    stream = incremental.SeriesStream(root, sources, config, window, None, lambda s: pipeline.parse_one(s, config))
    fresh = [incremental.ParsedFile.parsed(src, pipeline.parse_one(src, config), None) for src in sources]
    for f in reversed(fresh):
        stream.add(f.source, f)
    streamed = stream.result()
    # THEN both give the same series, files and skips
    assert streamed.series == at_once.series
    assert [f.source for f in streamed.files] == [f.source for f in at_once.files]
    assert (streamed.skipped, streamed.unused) == (at_once.skipped, at_once.unused)


def _add_snapshot(root: Path, s: int, p: int, t: int) -> None:
    """Write snapshot `t` of pod `p` of service `s` as _fleet does (steady pool, one leaked goroutine more)."""
    blocks = [f"goroutine {1 + k} [select]:\nmain.pool{s}(0x{k:x})\n\t/src/svc{s}/pool.go:12 +0x1d\n"
              f"created by main.main in goroutine 1\n\t/src/svc{s}/main.go:8 +0x2" for k in range(5)]
    blocks += [f"goroutine {100 + k} [chan send, {(t - k) * 30} minutes]:\nmain.leak{s}(0xc{k:08x})\n"
               f"\t/src/svc{s}/leak.go:20 +0x25\ncreated by main.serve in goroutine 1\n\t/src/svc{s}/main.go:9 +0x3"
               for k in range(t + 1)]
    make_dump(root, f"svc{s}/pod{p}/svc{s}-pod{p}-20261201T{t // 2:02d}{30 * (t % 2):02d}00Z.txt.gz", "\n\n".join(blocks) + "\n")


def test_the_map_parses_only_new_files_and_memoises_what_it_correlates(tmp_path: Path, monkeypatch) -> None:
    # GIVEN a fleet of 4 series reported once with a cache, then one new snapshot on 2 pods
    root = _fleet(tmp_path / "fleet", services=2, pods=2, snapshots=4)
    options = pipeline.RunOptions(jobs=1, cache_path=tmp_path / "cache.sqlite3")
    pipeline.analyze(root, Config(), options)
    _add_snapshot(root, 0, 0, 4)
    _add_snapshot(root, 1, 1, 4)
    parsed: list[str] = []
    correlated: list[str] = []
    real_parse, real_correlate = pipeline.parse_one, correlate.correlate
    monkeypatch.setattr(pipeline, "parse_one", lambda src, *a, **k: parsed.append(src.path) or real_parse(src, *a, **k))
    monkeypatch.setattr(correlate, "correlate", lambda sid, *a, **k: correlated.append(sid) or real_correlate(sid, *a, **k))
    # WHEN the report runs again
    again = pipeline.analyze(root, Config(), options)
    # THEN only the new files are parsed and only their series correlated again (in the map)
    assert sorted(parsed) == ["svc0/pod0/svc0-pod0-20261201T020000Z.txt.gz", "svc1/pod1/svc1-pod1-20261201T020000Z.txt.gz"]
    assert sorted(correlated) == ["svc0/pod0", "svc1/pod1"]
    # and the report is what a run without the cache gives
    cold = pipeline.analyze(root, Config(), pipeline.RunOptions(jobs=1, use_cache=False))
    assert again.series == cold.series and again.suspects == cold.suspects and again.inputs == cold.inputs
    assert again.stable == cold.stable and again.findings == cold.findings
    # WHEN it runs once more, nothing changed: nothing is parsed, and the series the map memoised are not correlated again
    parsed.clear()
    correlated.clear()
    third = pipeline.analyze(root, Config(), options)
    assert parsed == [] and correlated == []
    assert third.series == cold.series and third.suspects == cold.suspects


def _looked_at(monkeypatch) -> tuple[list[str], list[str]]:  # type: ignore[no-untyped-def]
    """Count, in this process, the files whose cache heads are looked up and the series grouped."""
    from goroscope.ingest import group as group_module

    heads: list[str] = []
    grouped: list[str] = []
    real_heads, real_group = incremental.cached_heads, group_module.group

    def cached_heads(sources, *args):  # type: ignore[no-untyped-def]
        heads.extend(s.path for s in sources)
        return real_heads(sources, *args)

    def group(parsed, *args):  # type: ignore[no-untyped-def]
        grouped.extend(sorted({src.series for src, _ in parsed}))
        return real_group(parsed, *args)

    monkeypatch.setattr(incremental, "cached_heads", cached_heads)
    monkeypatch.setattr(group_module, "group", group)
    return heads, grouped


def test_a_rerun_recalls_each_unchanged_series_of_the_fleet_whole(tmp_path: Path, monkeypatch) -> None:
    # GIVEN a fleet of 4 series reported once on two workers with a cache (the map judges each series in a worker)
    root = _fleet(tmp_path / "fleet", services=2, pods=2, snapshots=4)
    options = pipeline.RunOptions(jobs=2, cache_path=tmp_path / "cache.sqlite3", settle_seconds=0)
    first = pipeline.analyze(root, Config(), options)
    heads, grouped = _looked_at(monkeypatch)
    # WHEN it runs again over the unchanged fleet
    again = pipeline.analyze(root, Config(), options)
    # THEN every series is recalled whole, as the first run left it: no file's head is read, no series grouped
    assert heads == [] and grouped == []
    cold = pipeline.analyze(root, Config(), pipeline.RunOptions(jobs=1, use_cache=False))
    for report in (first, again):
        assert report.series == cold.series and report.suspects == cold.suspects and report.inputs == cold.inputs
        assert report.stable == cold.stable and report.findings == cold.findings and report.skipped == cold.skipped
    # WHEN one pod has a new snapshot
    _add_snapshot(root, 1, 0, 4)
    heads.clear()
    plus = pipeline.analyze(root, Config(), options)
    # THEN only that series' files are looked up (its new file goes to the map), the three others recalled
    assert {h.rsplit("/", 1)[0] for h in heads} == {"svc1/pod0"} and len(heads) == 5
    cold = pipeline.analyze(root, Config(), pipeline.RunOptions(jobs=1, use_cache=False))
    assert plus.series == cold.series and plus.suspects == cold.suspects and plus.inputs == cold.inputs
    assert plus.findings == cold.findings
