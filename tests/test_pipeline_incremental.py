"""Tests of the incremental pipeline: lazy summaries and memoised correlation give the cold report.

A small archive is built in tmp_path from the samples (a debug=2 series of gzipped
dumps with a goroutineleak dump and a heap profile beside them, a debug=1/protobuf
series, a tar archive of dumps). Each run is counted: files parsed, series
correlated, whole Summaries decoded from the cache; and each report, with a frozen
clock and command, must equal byte for byte the report of a --no-cache run of the
same tree.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from conftest import FROZEN_AT, SAMPLES
from helpers import DEFAULT_MTIME, LEAK_DEBUG2, make_dump, need

from goroscope import cache as cache_module
from goroscope import codec, correlate, incremental, pipeline
from goroscope.config import Config
from goroscope.ingest import discover
from goroscope.pipeline import RunOptions, analyze
from goroscope.render.json import render_json

TRACING = "tracing-collector"
SPARE = "tracing-collector-7f9c4d-qx2lm.goroutine.2026-12-01_08-28-23.txt.gz"  # the newest dump, added later


HEAP = """
    heap profile: 1: 2048 [3: 4096] @ heap/1048576
    1: 2048 [3: 4096] @ 0x4e4924 0x4854e1
"""


@dataclass
class Counts:
    """What one run did."""

    parsed: list[str] = field(default_factory=list)  # display paths parsed
    correlated: list[str] = field(default_factory=list)  # series ids correlated
    loaded: list[str] = field(default_factory=list)  # display paths whose whole Summary was decoded
    opened: list[str] = field(default_factory=list)  # display paths discovery opened (files and archive files)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """Return an archive of three series built from the samples, without the spare dump."""
    need(SAMPLES, "the samples/ folder")
    root = tmp_path / "archive"
    shutil.copytree(SAMPLES / TRACING, root / TRACING)
    (root / TRACING / SPARE).unlink()
    shutil.copytree(SAMPLES / "notifier", root / "notifier")
    shutil.copy2(SAMPLES / "profile-cache.tar.gz", root / "profile-cache.tar.gz")
    make_dump(root, f"{TRACING}/goroutineleak.debug2.txt", LEAK_DEBUG2, mtime=DEFAULT_MTIME + 1500)
    make_dump(root, f"{TRACING}/heap.txt", HEAP, mtime=DEFAULT_MTIME + 1400)
    return root


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Return run(archive, **options) -> (JSON report text, Counts), counting parses, correlations and decodes."""
    cache_path = tmp_path / "cache" / "summaries.sqlite3"
    counts = Counts()
    real_parse, real_correlate, real_load = pipeline.parse_one, correlate.correlate, cache_module.SummaryCache.load
    real_walk_file = discover._walk_file

    def parse_one(source, config, *args):  # type: ignore[no-untyped-def]
        counts.parsed.append(source.path)
        return real_parse(source, config, *args)

    def correlate_(series_id, *args):  # type: ignore[no-untyped-def]
        counts.correlated.append(series_id)
        return real_correlate(series_id, *args)

    def load(self, hit, source):  # type: ignore[no-untyped-def]
        counts.loaded.append(source.path)
        return real_load(self, hit, source)

    monkeypatch.setattr(pipeline, "parse_one", parse_one)
    monkeypatch.setattr(correlate, "correlate", correlate_)
    def walk_file(w, fs_path, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        counts.opened.append(path)
        return real_walk_file(w, fs_path, path, *args, **kwargs)

    monkeypatch.setattr(cache_module.SummaryCache, "load", load)
    monkeypatch.setattr(discover, "_walk_file", walk_file)

    def go(root: Path, config: Config | None = None, **options) -> tuple[str, Counts]:  # type: ignore[no-untyped-def]
        counts.parsed.clear()
        counts.correlated.clear()
        counts.loaded.clear()
        counts.opened.clear()
        config = config or Config()
        opts = RunOptions(jobs=1, cache_path=cache_path, settle_seconds=0, now=FROZEN_AT, command="goroscope report archive", **options)
        report = analyze(root, config, opts)
        assert report.warnings == (), report.warnings
        return render_json(report, config), Counts(*(list(v) for v in (counts.parsed, counts.correlated, counts.loaded, counts.opened)))

    go.cache_path = cache_path  # type: ignore[attr-defined]
    return go


def uncached(root: Path, config: Config | None = None, **options) -> str:  # type: ignore[no-untyped-def]
    """Return the JSON report of a --no-cache run of `root`."""
    config = config or Config()
    opts = RunOptions(jobs=1, use_cache=False, settle_seconds=0, now=FROZEN_AT, command="goroscope report archive", **options)
    return render_json(analyze(root, config, opts), config)


def test_cold_cached_and_one_more_dump(archive: Path, run) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a cold run that parsed and correlated everything
    cold, c = run(archive)
    files = len(c.parsed)
    assert files > 40 and sorted(c.correlated) == sorted(set(c.correlated)) and len(c.correlated) == 3
    assert c.loaded == [] and len(c.opened) > 40 and "profile-cache.tar.gz" in c.opened
    assert "tracing-collector/goroutineleak.debug2.txt" in [
        p for series in json.loads(cold)["series"] for p in series["leak_profiles"]
    ]
    assert '"source": "tracing-collector/heap.txt"' in cold
    # WHEN run again over the unchanged tree
    warm, c = run(archive)
    # THEN nothing is opened, parsed, correlated or decoded, and the report is the same, byte for byte
    assert (c.parsed, c.correlated, c.loaded, c.opened) == ([], [], [], [])
    assert warm == cold
    # WHEN one dump is added to one series
    shutil.copy2(SAMPLES / TRACING / SPARE, archive / TRACING / SPARE)
    plus, c = run(archive)
    # THEN only that file is opened and parsed, only its series correlated, only that series' summaries decoded
    assert c.parsed == [f"{TRACING}/{SPARE}"] and c.opened == [f"{TRACING}/{SPARE}"]
    assert c.correlated == [TRACING]
    assert c.loaded and all(p.startswith(f"{TRACING}/") for p in c.loaded)
    assert f"{TRACING}/{SPARE}" not in c.loaded  # parsed this run: already whole
    assert plus != cold and f'"source": "{TRACING}/{SPARE}"' in plus
    # AND the report equals a --no-cache run of the same tree, and a rerun of it
    assert plus == uncached(archive)
    again, c = run(archive)
    assert (c.parsed, c.correlated, c.loaded, c.opened) == ([], [], [], []) and again == plus


def test_no_cache_equals_cold(archive: Path, run) -> None:  # type: ignore[no-untyped-def]
    cold, _ = run(archive)
    assert uncached(archive) == cold


def test_touched_file_hits_by_content(archive: Path, run) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a cached archive, then one dump touched (new mtime, same bytes; its time is in its name)
    cold, _ = run(archive)
    victim = sorted((archive / TRACING).glob("*.txt.gz"))[3]
    st = victim.stat()
    import os

    os.utime(victim, (st.st_atime, st.st_mtime + 60))
    # WHEN run again
    warm, c = run(archive)
    # THEN it is sniffed again (its mtime changed), its summary is found by its content hash and the memoised series still fits
    assert c.opened == [f"{TRACING}/{victim.name}"]
    assert (c.parsed, c.correlated, c.loaded) == ([], [], [])
    assert warm == cold


def test_a_file_changed_into_another_kind_is_sniffed_again(archive: Path, run) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a cached archive, then its heap profile replaced by notes (another size) and a note made a dump
    run(archive)
    heap = archive / TRACING / "heap.txt"
    heap.write_text("notes of the night shift\n")
    os.utime(heap, (DEFAULT_MTIME + 1400, DEFAULT_MTIME + 1400))  # the mtime it had: the size tells
    make_dump(archive, "notifier/more.txt", LEAK_DEBUG2.replace("goroutineleak", "goroutine"), mtime=DEFAULT_MTIME + 1600)
    # WHEN run again
    report, c = run(archive)
    # THEN exactly those two are opened again, and the report is that of a run with no cache
    assert sorted(c.opened) == ["notifier/more.txt", f"{TRACING}/heap.txt"]
    assert [s for s in json.loads(report)["skipped"] if s["path"] == f"{TRACING}/heap.txt"]
    assert report == uncached(archive)


def test_an_archive_file_as_archive_and_inside_a_folder(archive: Path, run) -> None:  # type: ignore[no-untyped-def]
    # GIVEN the archive file alone, run with the cache (its members are then at its root)
    tgz = archive / "profile-cache.tar.gz"
    alone, _ = run(tgz)
    # WHEN its folder is run with the same cache (the archive file has the same display path there)
    folder, c = run(archive)
    # THEN its members are named under it there: what the first run found is not taken for the second
    assert "profile-cache.tar.gz" in c.opened
    assert folder == uncached(archive) and alone == uncached(tgz)
    assert run(tgz)[1].opened == [] and run(tgz)[0] == alone


def test_a_cached_rerun_judges_no_series(archive: Path, run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from goroscope import rank

    judged: list[str] = []
    real = rank.judge_series

    def judge_series(s, *args):  # type: ignore[no-untyped-def]
        judged.append(s.id)
        return real(s, *args)

    monkeypatch.setattr(rank, "judge_series", judge_series)
    # GIVEN a cold run, which judged every series
    cold, _ = run(archive)
    assert sorted(judged) == ["notifier", "profile-cache.tar.gz/profile-cache", TRACING]
    # WHEN run again
    judged.clear()
    warm, _ = run(archive)
    # THEN no series is judged again, and the report is the same
    assert judged == [] and warm == cold
    # AND a new dump judges its series only, as a run without the cache would
    shutil.copy2(SAMPLES / TRACING / SPARE, archive / TRACING / SPARE)
    plus, _ = run(archive)
    assert judged == [TRACING] and plus == uncached(archive)


def test_a_cached_rerun_decodes_no_whole_series(archive: Path, run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # what the run keeps of a memoised series is stored beside its judgement: the whole Series (every
    # signature's timelines) is decoded only when the series must be judged again
    from goroscope import cache as cache_mod

    decoded: list[str] = []
    real = cache_mod.decode_series

    def decode_series(blob):  # type: ignore[no-untyped-def]
        s = real(blob)
        decoded.append(s.id)
        return s

    monkeypatch.setattr(cache_mod, "decode_series", decode_series)
    # GIVEN a cold run
    cold, _ = run(archive)
    # WHEN run again
    warm, _ = run(archive)
    # THEN no Series is decoded, and the report is the same
    assert decoded == [] and warm == cold
    # AND with a judgement no longer kept (another day's acknowledgements, a new judging code), the whole Series is
    # decoded and judged again, to the same report
    with sqlite3.connect(run.cache_path) as db:
        db.execute("DELETE FROM judged")
    again, _ = run(archive)
    assert sorted(decoded) == ["notifier", "profile-cache.tar.gz/profile-cache", TRACING] and again == cold


def test_judged_key_follows_the_series_and_the_acknowledgements_in_force() -> None:
    from datetime import date

    from goroscope.config import Acknowledged

    dated = Config(acknowledged=(Acknowledged(fingerprint="f", until=date(2026, 12, 1)),))
    always = Config(acknowledged=(Acknowledged(fingerprint="f"),))
    key = pipeline.judged_key
    # the date counts only where an acknowledgement ends
    assert key("s", Config(), date(2026, 1, 1)) == key("s", Config(), date(2027, 1, 1))
    assert key("s", always, date(2026, 1, 1)) == key("s", always, date(2027, 1, 1))
    assert key("s", dated, date(2026, 11, 1)) == key("s", dated, date(2026, 12, 1)) != key("s", dated, date(2026, 12, 2))
    assert key("s", Config(), date(2026, 1, 1)) != key("t", Config(), date(2026, 1, 1))


def test_removed_dump_recorrelates_its_series_only(archive: Path, run) -> None:  # type: ignore[no-untyped-def]
    run(archive)
    (archive / "notifier" / "20261201-082240.debug1.txt").unlink()
    report, c = run(archive)
    assert c.parsed == [] and c.correlated == ["notifier"]
    assert all(p.startswith("notifier/") for p in c.loaded)
    assert report == uncached(archive)


def test_time_window_is_part_of_the_key(archive: Path, run) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a cached archive
    full, _ = run(archive)
    window = {"since": FROZEN_AT.replace(hour=8, minute=22), "until": FROZEN_AT.replace(hour=8, minute=25)}
    # WHEN a window is asked for, then the whole again
    part, c = run(archive, **window)
    whole, c2 = run(archive)
    # THEN the window is correlated anew and equals an uncached run; the whole is still memoised
    assert c.parsed == [] and len(c.correlated) >= 1
    assert part == uncached(archive, **window) and part != full
    assert (c2.parsed, c2.correlated) == ([], []) and whole == full


def test_config_change_recorrelates_without_reparsing(archive: Path, run) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a cached archive, then a setting that does not change what a parse produces
    run(archive)
    config = Config()
    other = replace(config, rank=replace(config.rank, min_net_growth=config.rank.min_net_growth + 1))
    assert other.digest() == config.digest() and other.full_digest() != config.full_digest()
    # WHEN run with it
    report, c = run(archive, other)
    # THEN summaries come from the cache but every series is correlated again, as uncached
    assert c.parsed == [] and len(c.correlated) == 3
    assert report == uncached(archive, other)


@pytest.mark.parametrize("junk", [b"\x00junk", bytes([codec.ENCODING]) + b"junk"], ids=["encoding", "data"])
def test_damaged_memo_row_is_recomputed(archive: Path, run, junk: bytes) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a cached archive whose memoised series hold junk, and no judgement kept beside them (with one, the
    # series as the run keeps it comes from there and the whole Series is not decoded)
    cold, _ = run(archive)
    with sqlite3.connect(run.cache_path) as db:
        db.execute("UPDATE series SET value = ?", (junk,))
        db.execute("DELETE FROM judged")
    # WHEN run again
    report = analyze(archive, Config(), RunOptions(jobs=1, cache_path=run.cache_path, settle_seconds=0, now=FROZEN_AT, command="goroscope report archive"))
    # THEN each is named in a warning, recomputed from the cached summaries, and the report is the same
    assert len(report.warnings) == 3 and all("memoised series is unreadable" in w for w in report.warnings)
    assert render_json(replace(report, warnings=()), Config()) == cold  # the same, but for the warning
    # AND stored again: the next run is clean
    warm, c = run(archive)
    assert (c.parsed, c.correlated, c.loaded) == ([], [], []) and warm == cold


def test_damaged_summary_blob_is_reparsed(archive: Path, run) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a cached archive, one series no longer memoised and one of its blobs damaged
    cold, _ = run(archive)
    with sqlite3.connect(run.cache_path) as db:
        db.execute("DELETE FROM series")
        db.execute("UPDATE blobs SET value = ? WHERE id = (SELECT id FROM entries WHERE path LIKE ?)", (b"\x01junk", "%08-21-53.txt.gz"))
    # WHEN run again
    report = analyze(archive, Config(), RunOptions(jobs=1, cache_path=run.cache_path, settle_seconds=0, now=FROZEN_AT, command="goroscope report archive"))
    # THEN the damage is named, the file parsed again, and the report is the same
    assert len(report.warnings) == 1 and "08-21-53.txt.gz" in report.warnings[0]
    assert render_json(replace(report, warnings=()), Config()) == cold  # the same, but for the warning
    # AND the entry is stored again: the next run decodes nothing
    warm, c = run(archive)
    assert (c.parsed, c.correlated, c.loaded) == ([], [], []) and warm == cold


def test_damaged_blob_of_a_file_rewritten_in_place_is_grouped_again(archive: Path, run) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a cached archive, one blob damaged, and that file's bytes replaced by another
    # dump of the same size with its old mtime (so the cache still finds its entry)
    run(archive)
    victim = archive / "notifier" / "notes.txt"
    other = "goroutine 7 [select]:\nmain.f()\n\t/src/main.go:9 +0x1\n\ngoroutine 8 [select]:\nmain.g()\n\t/src/main.go:12 +0x1\n"
    text = "goroutine 1 [running]:\nmain.main()\n\t/src/main.go:3 +0x1\n"
    text += "\n" * (len(other) - len(text))  # the same size: another count of goroutines
    victim.write_text(text)
    os.utime(victim, (DEFAULT_MTIME, DEFAULT_MTIME))
    run(archive)
    with sqlite3.connect(run.cache_path) as db:
        db.execute("DELETE FROM series")
        db.execute("UPDATE blobs SET value = ? WHERE id = (SELECT id FROM entries WHERE path LIKE ?)", (b"\x01junk", "%notes.txt"))
    victim.write_text(other)
    os.utime(victim, (DEFAULT_MTIME, DEFAULT_MTIME))
    # WHEN run again
    report = analyze(archive, Config(), RunOptions(jobs=1, cache_path=run.cache_path, settle_seconds=0, now=FROZEN_AT, command="goroscope report archive"))
    # THEN the damage is named, and the report is that of a run with no cache over what the file holds now
    assert len(report.warnings) == 1 and "notes.txt" in report.warnings[0]
    assert render_json(replace(report, warnings=()), Config()) == uncached(archive)


def test_no_cache_writes_nothing(archive: Path, run) -> None:  # type: ignore[no-untyped-def]
    uncached(archive)
    assert not run.cache_path.exists()


# ---------------------------------------------------------------- the series key


def _key_inputs():  # type: ignore[no-untyped-def]
    """Return (moments, evidence, memory, shas) of a small series."""
    from datetime import datetime, timezone

    from goroscope.model import MemoryPoint, Moment, Source

    a = Source(path="s/a.txt", fs_path="/x/s/a.txt", series="s", format="debug2", profile="goroutine")
    b = Source(path="s/a.pb.gz", fs_path="/x/s/a.pb.gz", series="s", format="pprof", profile="goroutine")
    leak = Source(path="s/leak.txt", fs_path="/x/s/leak.txt", series="s", format="debug2", profile="goroutineleak")
    t = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
    moments = [Moment(series="s", time=t, time_source="name", primary=a, sources=(a, b), format="debug2")]
    memory = [MemoryPoint(time=t, inuse_bytes=1024, source="s/heap.txt")]
    shas = {"s/a.txt": "aa", "s/a.pb.gz": "bb", "s/leak.txt": "ll"}
    return moments, [leak], memory, shas


def _changed(what: str):  # type: ignore[no-untyped-def]
    """Return the key inputs with one thing changed."""
    from datetime import timedelta

    moments, evidence, memory, shas = _key_inputs()
    m = moments[0]
    series_id, base = "s", "base"
    if what == "time":
        moments = [replace(m, time=m.time + timedelta(seconds=1))]
    elif what == "time_source":
        moments = [replace(m, time_source="mtime")]
    elif what == "format":
        moments = [replace(m, format="pprof")]
    elif what == "crash":
        moments = [replace(m, crash=True)]
    elif what == "primary":
        moments = [replace(m, primary=m.sources[1], sources=m.sources[::-1])]
    elif what == "sources":
        moments = [replace(m, sources=m.sources[:1])]
    elif what == "content":
        shas = dict(shas, **{"s/a.txt": "changed"})
    elif what == "evidence":
        evidence = []
    elif what == "evidence content":
        shas = dict(shas, **{"s/leak.txt": "changed"})
    elif what == "memory":
        memory = [replace(memory[0], inuse_bytes=2048)]
    elif what == "series":
        series_id = "t"
    elif what == "base":
        base = "another base"
    return incremental.series_key(series_id, moments, evidence, memory, shas, base)


@pytest.mark.parametrize(
    "what",
    ["time", "time_source", "format", "crash", "primary", "sources", "content", "evidence", "evidence content", "memory", "series", "base"],
)
def test_series_key_changes_with_each_input(what: str) -> None:
    assert _changed(what) != _changed("nothing") and _changed("nothing") == _changed("nothing")


def test_series_key_needs_every_content_hash() -> None:
    moments, evidence, memory, shas = _key_inputs()
    assert incremental.series_key("s", moments, evidence, memory, dict(shas, **{"s/a.txt": None}), "b") is None
    assert incremental.series_key("s", moments, evidence, memory, dict(shas, **{"s/leak.txt": None}), "b") is None
    # a secondary file's content is not read by correlate: its hash is not needed
    assert incremental.series_key("s", moments, evidence, memory, dict(shas, **{"s/a.pb.gz": None}), "b") is not None


def test_key_base_follows_config_and_tool() -> None:
    config = Config()
    other = replace(config, rank=replace(config.rank, min_snapshots=config.rank.min_snapshots + 1))
    assert incremental.key_base(config) == incremental.key_base(Config()) != incremental.key_base(other)
    assert cache_module.TOOL_KEY in incremental.key_base(config)


def test_the_map_leaves_no_reference_cycle(tmp_path: Path) -> None:
    # GIVEN two series of a few debug=2 dumps each, run once already (what importing leaves behind is not the map's)
    need(SAMPLES, "the samples/ folder")
    archive = tmp_path / "archive"
    for pod in ("a", "b"):
        (archive / pod).mkdir(parents=True)
        for dump in sorted((SAMPLES / TRACING).glob("*.txt.gz"))[:4]:
            shutil.copy2(dump, archive / pod / dump.name)
    uncached(archive)
    gc.collect()
    gc.disable()
    try:
        # WHEN it runs again with the cycle collector off
        uncached(archive)
        # THEN every parsed file, summary and series was freed as soon as it was done with:
        # a cycle among them would hold them all until the collector walked the heap
        assert gc.collect() == 0
    finally:
        gc.enable()


# ---------------------------------------------------------------- recalling a whole series


def test_a_rerun_recalls_every_unchanged_series_whole(archive: Path, run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from goroscope.ingest import group as group_module

    grouped: list[str] = []
    real_group = group_module.group
    monkeypatch.setattr(group_module, "group", lambda parsed, *a: grouped.extend(sorted({s.series for s, _ in parsed})) or real_group(parsed, *a))
    # GIVEN a cold run (in this process: each series recorded as it was correlated)
    cold, _ = run(archive)
    assert sorted(grouped) == ["notifier", "profile-cache.tar.gz/profile-cache", TRACING]
    with sqlite3.connect(run.cache_path) as db:
        assert db.execute("SELECT count(*) FROM recalls").fetchone() == (3,)
    # WHEN run again over the unchanged tree
    grouped.clear()
    warm, _ = run(archive)
    # THEN no series is grouped: each is recalled whole, to the same report
    assert grouped == [] and warm == cold
    # WHEN a time window is asked for
    window = {"since": FROZEN_AT.replace(hour=8, minute=22), "until": FROZEN_AT.replace(hour=8, minute=25)}
    part, _ = run(archive, **window)
    # THEN nothing is recalled (the window is part of the key), and the report is that of a run with no cache
    assert sorted(grouped) == ["notifier", "profile-cache.tar.gz/profile-cache", TRACING] and part == uncached(archive, **window)
    # WHEN one series has a file more
    grouped.clear()
    shutil.copy2(SAMPLES / TRACING / SPARE, archive / TRACING / SPARE)
    plus, _ = run(archive)
    # THEN that series only is grouped again, and the report is that of a run with no cache
    assert grouped == [TRACING] and plus == uncached(archive)


def test_a_series_whose_memo_is_gone_is_not_recalled(archive: Path, run) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a cached archive whose memoised series were superseded (a recall names a series that is gone)
    cold, _ = run(archive)
    with sqlite3.connect(run.cache_path) as db:
        db.execute("DELETE FROM series")
    # WHEN run again
    report, c = run(archive)
    # THEN each series is correlated again from its cached summaries, to the same report, and recalled next time
    assert c.parsed == [] and len(c.correlated) == 3 and report == cold
    again, c = run(archive)
    assert (c.parsed, c.correlated, c.loaded) == ([], [], []) and again == cold


@pytest.mark.parametrize("junk", [b"\x00junk", bytes([codec.ENCODING]) + b"junk"], ids=["encoding", "data"])
def test_a_damaged_recall_is_recomputed(archive: Path, run, junk: bytes) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a cached archive whose recalled series hold junk
    cold, _ = run(archive)
    with sqlite3.connect(run.cache_path) as db:
        db.execute("UPDATE recalls SET value = ?", (junk,))
    # WHEN run again
    report = analyze(archive, Config(), RunOptions(jobs=1, cache_path=run.cache_path, settle_seconds=0, now=FROZEN_AT, command="goroscope report archive"))
    # THEN each is named in a warning and deleted, the series made from the cache as before, to the same report
    assert len(report.warnings) == 3 and all("outcome of a series is unreadable" in w for w in report.warnings)
    assert render_json(replace(report, warnings=()), Config()) == cold
    # AND stored again: the next run is clean
    warm, c = run(archive)
    assert (c.parsed, c.correlated, c.loaded) == ([], [], []) and warm == cold


def test_recall_key_follows_every_file_and_the_run() -> None:
    from datetime import date

    from goroscope.config import Acknowledged
    from goroscope.incremental import Window
    from goroscope.model import Source

    config = Config()
    today = date(2026, 12, 1)
    files = [Source(path=f"pod/{k}.txt", fs_path=f"/a/pod/{k}.txt", size=100 + k, mtime=1000.0 + k, series="pod") for k in range(3)]
    base = pipeline.recall_base(Path("/a"), config, Window(), today)
    key = pipeline.recall_key("pod", files, base)
    # the order files come in does not matter; each file's path, size and mtime do, and so does the series
    assert pipeline.recall_key("pod", list(reversed(files)), base) == key
    for changed in ({"size": 1}, {"mtime": 1.5}, {"path": "pod/x.txt"}, {"fs_path": "/b/pod/0.txt"}, {"member": "m"}, {"version": "v2"}):
        assert pipeline.recall_key("pod", [replace(files[0], **changed), *files[1:]], base) != key, changed
    assert pipeline.recall_key("pod", files[:2], base) != key and pipeline.recall_key("pod2", files, base) != key
    # the run: the archive, the window, the config, the acknowledgements in force that day
    acked = replace(config, acknowledged=(Acknowledged(fingerprint="f", until=date(2026, 12, 2)),))
    others = [
        pipeline.recall_base(Path("/b"), config, Window(), today),
        pipeline.recall_base(Path("/a"), config, Window(since=FROZEN_AT), today),
        pipeline.recall_base(Path("/a"), replace(config, rank=replace(config.rank, min_snapshots=config.rank.min_snapshots + 1)), Window(), today),
        pipeline.recall_base(Path("/a"), acked, Window(), today),
    ]
    assert len({base, *others}) == 5
    # an acknowledgement expiring moves the key; a day that expires none does not
    assert pipeline.recall_base(Path("/a"), acked, Window(), date(2026, 11, 30)) == pipeline.recall_base(Path("/a"), acked, Window(), today)
    assert pipeline.recall_base(Path("/a"), acked, Window(), today) != pipeline.recall_base(Path("/a"), acked, Window(), date(2026, 12, 3))
