"""Tests of the SQLite summary cache: round trip, keys, content hash, concurrency, damage."""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import signal
import sqlite3
import tarfile
import time
import zipfile
import zlib
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from goroscope import cache as cache_module
from goroscope.aggregate import aggregate
from goroscope import codec
from goroscope.cache import SummaryCache, content_sha256, default_cache_path
from goroscope.codec import decode_series, decode_summary, encode_series, encode_summary
from goroscope.model import CreatedBy, Frame, Goroutine, MemoryPoint, Moment, Problem, Record, Series, Skipped, Snapshot, Source, Summary

DIGEST = "cfg0123456789abc"


def make_summary(n: int = 300, stacks: int = 12, seed: int = 0) -> Summary:
    """Return a real Summary (through aggregate) of `n` goroutines over `stacks` call chains."""
    chains = []
    for k in range(stacks):
        frames = tuple(
            Frame(function=f"example.com/app/pkg{k}.step{d}", file=f"/src/app/pkg{k}/f{d}.go", line=10 + d + seed)
            for d in range(3 + k % 5)
        )
        chains.append((Frame(function="runtime.gopark", file="/usr/local/go/src/runtime/proc.go", line=435),) + frames)
    states = ("chan receive", "select", "sync.Mutex.Lock", "IO wait")
    goroutines = tuple(
        Goroutine(
            id=1000 + i,
            state=states[i % len(states)],
            wait_minutes=(i * 7) % 90,
            flags=("leaked",) if i % 50 == 0 else (),
            labels=(("handler", f"h{i % 3}"),) if i % 2 else (),
            frames=chains[i % stacks],
            created_by=CreatedBy(function="example.com/app.spawn", file="/src/app/spawn.go", line=40, goroutine=1),
        )
        for i in range(n)
    )
    snap = Snapshot(
        format="debug2",
        go_version="go1.27.3",
        goroutines=goroutines,
        truncated=bool(seed % 2),
        time=datetime(2026, 12, 1, 8, 0, seed % 60, tzinfo=timezone.utc),
        problems=(Problem(line=812, message="dump ends mid-goroutine"),),
    )
    return aggregate(snap)


def write_dump(path: Path, text: str = "goroutine 1 [running]:\nmain.main()\n\t/src/main.go:3 +0x1\n") -> Source:
    """Write `text` at `path` and return its Source, as discovery would list it."""
    path.write_text(text)
    return source_of(path)


def source_of(path: Path, member: str | None = None) -> Source:
    """Return the Source of `path` with its current size and mtime."""
    st = path.stat()
    return Source(path=path.name, fs_path=str(path), member=member, size=st.st_size, mtime=st.st_mtime)


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    """Return where a test's cache file lives."""
    return tmp_path / "cache" / "summaries.sqlite3"


# ------------------------------------------------------------------- round trip


def test_round_trip_is_exact(tmp_path: Path, cache_path: Path) -> None:
    # GIVEN a real summary with every kind of field filled
    summary = make_summary(n=500, seed=3)
    assert any(st.ids for st in summary.stacks) and summary.time and summary.problems and any(s.labels for s in summary.stacks)
    src = write_dump(tmp_path / "a.txt")
    # WHEN it is stored and read back, in this handle and in a new one
    with SummaryCache.open(cache_path) as cache:
        assert cache.get(src, DIGEST) is None
        cache.put(src, DIGEST, summary)
        first = cache.get(src, DIGEST)
    with SummaryCache.open(cache_path) as cache:
        again = cache.get(src, DIGEST)
        assert cache.warnings == []
    # THEN it is the same record, field for field
    assert first == summary and again == summary
    assert again.time.tzinfo is not None


def test_a_batch_is_stored_in_one_transaction(tmp_path: Path, cache_path: Path) -> None:
    # GIVEN the summaries of a batch of files, parsed by one worker
    items = []
    for k in range(5):
        src = write_dump(tmp_path / f"d{k}.txt")
        items.append((src, make_summary(n=20 + k, stacks=3, seed=k), content_sha256(src)))
    with SummaryCache.open(cache_path) as cache:
        begun: list[str] = []
        cache._db.set_trace_callback(lambda sql: begun.append(sql) if sql.startswith("BEGIN") else None)
        # WHEN they are stored together
        cache.put_many(items, DIGEST)
        cache._db.set_trace_callback(None)
        # THEN one transaction wrote them all, and each reads back whole with its hash
        assert len(begun) == 1
        for src, summary, sha in items:
            hit = cache.get_head(src, DIGEST)
            assert hit is not None and hit.sha256 == sha
            assert cache.load(hit, src) == summary


@pytest.mark.parametrize(
    "summary",
    [
        make_summary(n=1, stacks=1),
        make_summary(n=2000, stacks=40, seed=1),
        aggregate(Snapshot(format="debug1", total=7, records=(Record(count=7, frames=(Frame(function="main.f", file="/m.go", line=1),)),))),
        Summary(format="pprof", profile="heap", go_version=None, total=0, header_total=None, truncated=False,
                crash=False, time=None, heap_inuse_bytes=123456789, stacks=()),
    ],
    ids=["one", "many", "debug1", "heap"],
)
def test_encoding_round_trips(summary: Summary) -> None:
    assert decode_summary(encode_summary(summary)) == summary


def test_encoding_is_compact() -> None:
    # 20k goroutines reduce to well under 10 bytes each once stored
    summary = make_summary(n=20000, stacks=300)
    blob = encode_summary(summary)
    assert len(blob) < 20000 * 10, len(blob)


@pytest.mark.parametrize("payload", [{"x": os.getcwd}, [os.system, "true"]], ids=["function", "call"])
def test_decoding_refuses_foreign_objects(payload: object) -> None:
    evil = bytes([codec.ENCODING]) + zlib.compress(pickle.dumps(payload))
    with pytest.raises(ValueError, match="refusing"):
        decode_summary(evil)


# ------------------------------------------------------------------------ keys


def test_other_config_digest_misses(tmp_path: Path, cache_path: Path) -> None:
    src = write_dump(tmp_path / "a.txt")
    with SummaryCache.open(cache_path) as cache:
        cache.put(src, DIGEST, make_summary())
        assert cache.get(src, "another-digest") is None
        assert cache.get(src, DIGEST) is not None


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p: p.write_text(p.read_text() + "more\n"), id="grown"),
        pytest.param(lambda p: p.write_text(p.read_text().replace("3", "4")), id="same-size-new-bytes"),
    ],
)
def test_changed_file_misses(tmp_path: Path, cache_path: Path, change) -> None:
    # GIVEN a cached file
    path = tmp_path / "a.txt"
    src = write_dump(path)
    with SummaryCache.open(cache_path) as cache:
        cache.put(src, DIGEST, make_summary())
        # WHEN its content changes (and with it the mtime)
        change(path)
        os.utime(path, (src.mtime + 10, src.mtime + 10))
        # THEN the entry is not used
        assert cache.get(source_of(path), DIGEST) is None
        assert cache.hashed == 1  # a row for the path existed, so the hash decided


def test_touch_without_change_hits_by_content_hash(tmp_path: Path, cache_path: Path) -> None:
    # GIVEN a cached file
    path = tmp_path / "a.txt"
    src = write_dump(path)
    summary = make_summary()
    with SummaryCache.open(cache_path) as cache:
        cache.put(src, DIGEST, summary)
        # WHEN it is touched (same bytes, new mtime)
        os.utime(path, (src.mtime + 3600, src.mtime + 3600))
        touched = source_of(path)
        assert touched.mtime != src.mtime
        # THEN the content hash finds the entry, and the row takes the new mtime
        assert cache.get(touched, DIGEST) == summary
        assert cache.hashed == 1
        assert cache.get(touched, DIGEST) == summary
        assert cache.hashed == 1  # second time: the cheap key hit


def test_cheap_key_hit_does_not_hash(tmp_path: Path, cache_path: Path) -> None:
    src = write_dump(tmp_path / "a.txt")
    with SummaryCache.open(cache_path) as cache:
        cache.put(src, DIGEST, make_summary())
        assert cache.get(src, DIGEST) is not None
        assert (cache.hits, cache.misses, cache.hashed) == (1, 0, 0)


def test_unknown_path_does_not_hash(tmp_path: Path, cache_path: Path) -> None:
    with SummaryCache.open(cache_path) as cache:
        assert cache.get(write_dump(tmp_path / "new.txt"), DIGEST) is None
        assert cache.hashed == 0


def test_same_file_by_another_path_hits(tmp_path: Path, cache_path: Path) -> None:
    src = write_dump(tmp_path / "a.txt")
    (tmp_path / "link").symlink_to(tmp_path)
    via_link = replace(src, fs_path=str(tmp_path / "link" / "a.txt"))
    with SummaryCache.open(cache_path) as cache:
        cache.put(src, DIGEST, make_summary())
        assert cache.get(via_link, DIGEST) is not None


def test_file_changing_while_read_is_not_stored(tmp_path: Path, cache_path: Path) -> None:
    # GIVEN a file listed, then appended to before the summary is stored (still being written)
    path = tmp_path / "a.txt"
    src = write_dump(path)
    path.write_text(path.read_text() + "goroutine 2 [select]:\n")
    with SummaryCache.open(cache_path) as cache:
        # WHEN its summary is put under the old size
        cache.put(src, DIGEST, make_summary())
        # THEN nothing is stored: the next run parses it again
        assert len(cache) == 0


def test_archive_members_are_keyed_and_hashed(tmp_path: Path, cache_path: Path) -> None:
    # GIVEN a tar and a zip holding two members each
    data = {"pods/a/1.txt": b"goroutine 1 [select]:\n", "pods/a/2.txt": b"goroutine 1 [chan receive]:\n"}
    tar_path, zip_path = tmp_path / "x.tar.gz", tmp_path / "x.zip"
    with tarfile.open(tar_path, "w:gz") as tf:
        for name, body in data.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(body), 1_700_000_000
            tf.addfile(info, io.BytesIO(body))
    with zipfile.ZipFile(zip_path, "w") as zf:
        for name, body in data.items():
            zf.writestr(name, body)
    import hashlib

    for archive in (tar_path, zip_path):
        members = [
            Source(path=f"{archive.name}/{m}", fs_path=str(archive), member=m, size=len(b), mtime=1_700_000_000.0)
            for m, b in data.items()
        ]
        # THEN the content hash is the member's bytes
        for m, src in zip(data.values(), members):
            assert content_sha256(src) == hashlib.sha256(m).hexdigest()
        # AND each member is its own entry, found again after a new mtime by its content
        one, two = make_summary(seed=1), make_summary(seed=2)
        with SummaryCache.open(cache_path) as cache:
            cache.put(members[0], DIGEST, one)
            cache.put(members[1], DIGEST, two)
            assert cache.get(members[0], DIGEST) == one
            assert cache.get(members[1], DIGEST) == two
            assert cache.get(replace(members[1], mtime=1_800_000_000.0), DIGEST) == two


def test_default_location_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "goroscope" / "summaries.sqlite3"
    with SummaryCache.open(None) as cache:
        assert cache.enabled and cache.path.exists()
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec says relative values are invalid
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_path() == tmp_path / "home" / ".cache" / "goroscope" / "summaries.sqlite3"


def test_unusable_location_disables_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    src = write_dump(tmp_path / "a.txt")
    with SummaryCache.open(tmp_path / "file" / "c.sqlite3") as cache:
        assert not cache.enabled
        assert len(cache.warnings) == 1 and "without the cache" in cache.warnings[0]
        cache.put(src, DIGEST, make_summary())
        assert cache.get(src, DIGEST) is None


def test_older_schema_is_rebuilt(tmp_path: Path, cache_path: Path) -> None:
    src = write_dump(tmp_path / "a.txt")
    with SummaryCache.open(cache_path) as cache:
        cache.put(src, DIGEST, make_summary())
    with sqlite3.connect(cache_path) as db:
        db.execute("PRAGMA user_version = 0")
    with SummaryCache.open(cache_path) as cache:
        assert cache.enabled and cache.warnings == []
        assert len(cache) == 0
        cache.put(src, DIGEST, make_summary())
        assert cache.get(src, DIGEST) is not None


def _age(cache_path: Path, where: str, days: float) -> None:
    """Make the entries matching `where` look unused for `days`, and the last prune old."""
    with sqlite3.connect(cache_path) as db:
        db.execute(f"UPDATE entries SET used = used - ? WHERE {where}", (days * 86400,))
        db.execute("UPDATE meta SET value = '0' WHERE key = 'pruned_at'")


def test_prune_drops_unused_and_foreign_entries(tmp_path: Path, cache_path: Path) -> None:
    # GIVEN a cache of four entries: one unused for 40 days, one of another goroscope version
    sources = _fill(cache_path, tmp_path, 4)
    _age(cache_path, "path LIKE '%f0.txt'", 40)
    with sqlite3.connect(cache_path) as db:
        db.execute("UPDATE entries SET tool = 'old-version' WHERE path LIKE '%f1.txt'")
    # WHEN it is opened after a day
    with SummaryCache.open(cache_path) as cache:
        # THEN those two are gone, with their data, and the others are kept
        assert cache.pruned == 2 and len(cache) == 2
        assert cache.get(sources[0], DIGEST) is None and cache.get(sources[2], DIGEST) is not None
    with sqlite3.connect(cache_path) as db:
        assert db.execute("SELECT count(*) FROM blobs").fetchone()[0] == 2


def test_reading_an_entry_keeps_it(tmp_path: Path, cache_path: Path) -> None:
    # GIVEN an entry 20 days old, read by a run, then 20 more days pass
    sources = _fill(cache_path, tmp_path, 1)
    _age(cache_path, "1", 20)
    with SummaryCache.open(cache_path) as cache:
        assert cache.get(sources[0], DIGEST) is not None
    _age(cache_path, "1", 20)
    # THEN it was used 20 days ago, not 40: it stays
    with SummaryCache.open(cache_path) as cache:
        assert cache.pruned == 0 and cache.get(sources[0], DIGEST) is not None


def test_prune_runs_at_most_daily(tmp_path: Path, cache_path: Path) -> None:
    _fill(cache_path, tmp_path, 1)
    with sqlite3.connect(cache_path) as db:
        db.execute("UPDATE entries SET used = used - 40 * 86400")  # old, but pruned_at is recent
    with SummaryCache.open(cache_path) as cache:
        assert cache.pruned == 0 and len(cache) == 1


# ------------------------------------------------------------------ concurrency


def _writer(cache_path: str, tmp: str, tag: str, count: int, start, out) -> None:
    """Put `count` entries named after `tag`, starting when `start` is set; report warnings."""
    start.wait(10)
    cache = SummaryCache.open(Path(cache_path))
    for i in range(count):
        src = write_dump(Path(tmp) / f"{tag}-{i}.txt", f"goroutine {i} [select]:\n{tag}\n")
        cache.put(src, DIGEST, make_summary(n=200, seed=i))
    out.put((tag, cache.warnings, len(cache)))
    cache.close()


def test_two_processes_writing_at_once_both_finish(tmp_path: Path, cache_path: Path) -> None:
    # GIVEN two processes putting into one new cache at the same moment
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    count = 120
    procs = [ctx.Process(target=_writer, args=(str(cache_path), str(tmp_path), t, count, start, out)) for t in "ab"]
    for p in procs:
        p.start()
    start.set()
    # WHEN both finish
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    # THEN neither saw a problem and the cache holds every entry of both
    assert all(warnings == [] for _, warnings, _ in results)
    with SummaryCache.open(cache_path) as cache:
        assert len(cache) == 2 * count
        for tag in "ab":
            for i in (0, count // 2, count - 1):
                src = source_of(tmp_path / f"{tag}-{i}.txt")
                assert cache.get(src, DIGEST) == make_summary(n=200, seed=i)
        assert cache.warnings == []


def _put_forever(cache_path: str, tmp: str, started) -> None:
    """Put ever new entries until killed."""
    cache = SummaryCache.open(Path(cache_path))
    big = make_summary(n=5000, stacks=80)
    i = 0
    while True:
        src = write_dump(Path(tmp) / f"k-{i % 50}.txt", f"goroutine {i} [select]:\n")
        cache.put(src, DIGEST, big)
        i += 1
        if i == 5:
            started.set()


def test_sigkill_mid_write_leaves_a_usable_cache(tmp_path: Path, cache_path: Path) -> None:
    # GIVEN a process killed with SIGKILL while it writes in a loop
    ctx = multiprocessing.get_context("fork")
    started = ctx.Event()
    child = ctx.Process(target=_put_forever, args=(str(cache_path), str(tmp_path), started))
    child.start()
    assert started.wait(60)
    time.sleep(0.3)
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    assert child.exitcode == -signal.SIGKILL
    # WHEN the cache is opened again
    with SummaryCache.open(cache_path) as cache:
        # THEN it opens clean, answers, and takes new entries
        assert cache.enabled and cache.warnings == []
        assert len(cache) >= 5
        src = write_dump(tmp_path / "after.txt")
        summary = make_summary(seed=9)
        cache.put(src, DIGEST, summary)
        assert cache.get(src, DIGEST) == summary
    with sqlite3.connect(cache_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# ----------------------------------------------------------------------- damage


def _fill(cache_path: Path, tmp_path: Path, count: int) -> list[Source]:
    """Return the sources of `count` entries stored in a fresh cache at `cache_path`."""
    sources = []
    with SummaryCache.open(cache_path) as cache:
        for i in range(count):
            src = write_dump(tmp_path / f"f{i}.txt", f"goroutine {i} [select]:\n")
            cache.put(src, DIGEST, make_summary(n=3000, stacks=50, seed=i))
            sources.append(src)
    return sources


def _truncate_half(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)


def _random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


def _zero_pages(path: Path) -> None:
    # overwrite the middle of the file (b-tree pages) with junk, keeping the header valid
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(size // 3)
        f.write(b"\xa5" * (size // 3))


@pytest.mark.parametrize("damage", [_random_bytes, _truncate_half, _zero_pages], ids=["random-bytes", "truncated", "junk-pages"])
def test_corrupt_file_is_set_aside_and_rebuilt(tmp_path: Path, cache_path: Path, damage) -> None:
    # GIVEN a cache file damaged on disk
    sources = _fill(cache_path, tmp_path, 8)
    damage(cache_path)
    # WHEN it is opened
    with SummaryCache.open(cache_path) as cache:
        # THEN the damage is reported once, the file is kept aside, and a fresh cache works
        assert cache.enabled
        assert len(cache.warnings) == 1, cache.warnings
        assert "damaged" in cache.warnings[0]
        aside = list(cache_path.parent.glob(cache_path.name + ".corrupt-*"))
        assert len(aside) == 1 and aside[0].name in cache.warnings[0]
        assert len(cache) == 0
        summary = make_summary(seed=5)
        cache.put(sources[0], DIGEST, summary)
        assert cache.get(sources[0], DIGEST) == summary
    with SummaryCache.open(cache_path) as cache:
        assert cache.warnings == [] and len(cache) == 1


def test_unreadable_entry_is_removed_with_a_warning(tmp_path: Path, cache_path: Path) -> None:
    # GIVEN a cache whose entry for one file holds junk
    sources = _fill(cache_path, tmp_path, 2)
    with sqlite3.connect(cache_path) as db:
        db.execute("UPDATE blobs SET value = ? WHERE id = (SELECT id FROM entries WHERE path LIKE ?)", (b"\x01junk", "%f0.txt"))
    with SummaryCache.open(cache_path) as cache:
        # WHEN it is read
        assert cache.get(sources[0], DIGEST) is None
        # THEN it is a miss with a warning naming the file, the entry is gone, the others still hit
        assert len(cache.warnings) == 1 and sources[0].path in cache.warnings[0]
        assert len(cache) == 1
        assert cache.get(sources[1], DIGEST) is not None


# ------------------------------------------------------------- heads, memoised series


def make_series(seed: int = 0) -> Series:
    """Return a real Series (through correlate) of three summaries."""
    from goroscope.config import Config
    from goroscope.correlate import correlate

    moments = []
    for i in range(3):
        summary = make_summary(n=200 + 50 * i, seed=2 * (i + seed))  # even seeds: not truncated
        src = Source(path=f"s/{i}.txt", fs_path=f"/nowhere/s/{i}.txt", size=10 + i, mtime=1.0 + i, format="debug2", profile="goroutine")
        moment = Moment(series="s", time=datetime(2026, 12, 1, 8, i, tzinfo=timezone.utc), time_source="name", primary=src, sources=(src,), format="debug2")
        moments.append((moment, summary))
    memory = (MemoryPoint(time=datetime(2026, 12, 1, 8, 1, tzinfo=timezone.utc), inuse_bytes=1 << 20, source="s/heap.txt"),)
    return correlate("s", moments, (), memory, Config())


def test_head_is_read_without_the_stacks(tmp_path: Path, cache_path: Path) -> None:
    # GIVEN a stored summary whose stacks blob is then damaged
    summary = make_summary(n=400, seed=3)
    src = write_dump(tmp_path / "a.txt")
    with SummaryCache.open(cache_path) as cache:
        cache.put(src, DIGEST, summary)
    with sqlite3.connect(cache_path) as db:
        db.execute("UPDATE blobs SET value = ?", (b"\x01junk",))
    with SummaryCache.open(cache_path) as cache:
        # WHEN its head is asked for
        hit = cache.get_head(src, DIGEST)
        # THEN it is everything but the stacks, with the content hash, and reading it did not touch the blob
        assert hit is not None and hit.head == replace(summary, stacks=()) and hit.sha256 == content_sha256(src)
        assert cache.warnings == [] and cache.hits == 1
        # AND loading the stacks finds the damage: a warning, the entry gone
        assert cache.load(hit, src) is None
        assert len(cache.warnings) == 1 and "a.txt" in cache.warnings[0] and len(cache) == 0


def test_load_returns_the_whole_summary(tmp_path: Path, cache_path: Path) -> None:
    summary = make_summary(n=400, seed=4)
    src = write_dump(tmp_path / "a.txt")
    with SummaryCache.open(cache_path) as cache:
        assert cache.put(src, DIGEST, summary) == content_sha256(src)
    with SummaryCache.open(cache_path) as cache:
        hit = cache.get_head(src, DIGEST)
        assert hit is not None and cache.load(hit, src) == summary


def test_a_blob_that_disagrees_with_its_head_is_refused(tmp_path: Path, cache_path: Path) -> None:
    # GIVEN two entries whose blobs are swapped
    a, b = write_dump(tmp_path / "a.txt"), write_dump(tmp_path / "b.txt", "x\n")
    with SummaryCache.open(cache_path) as cache:
        cache.put(a, DIGEST, make_summary(seed=2))
        cache.put(b, DIGEST, make_summary(seed=3))
    with sqlite3.connect(cache_path) as db:
        _, (vb,) = db.execute("SELECT value FROM blobs ORDER BY id").fetchall()
        db.execute("UPDATE blobs SET value = ? WHERE id = (SELECT min(id) FROM blobs)", (vb,))
    # WHEN a's stacks are loaded
    with SummaryCache.open(cache_path) as cache:
        hit = cache.get_head(a, DIGEST)
        assert hit is not None and cache.load(hit, a) is None
        # THEN it is a miss with a warning
        assert "does not match its head" in cache.warnings[0]


def test_series_round_trip_is_exact(cache_path: Path) -> None:
    # GIVEN a real Series with timelines, stuck evidence and memory points
    series = make_series()
    assert series.timelines and series.memory and any(any(t.stuck_ids) for t in series.timelines)
    with SummaryCache.open(cache_path) as cache:
        assert cache.get_series("k1") is None and cache.series_misses == 1
        cache.put_series("k1", "scope", series)
    with SummaryCache.open(cache_path) as cache:
        again = cache.get_series("k1")
        assert again == series and cache.series_hits == 1 and cache.warnings == []
    # signatures hash by their key in this process, whichever process stored them
    assert {t.signature for t in again.timelines} == {t.signature for t in series.timelines}
    assert all(hash(t.signature) == hash(t.signature.key()) for t in again.timelines)


def test_series_encoding_round_trips_and_is_no_larger_than_plain_pickle() -> None:
    series = make_series()
    blob = encode_series(series)
    assert decode_series(blob) == series
    plain = zlib.compress(pickle.dumps(series, protocol=pickle.HIGHEST_PROTOCOL), 1)
    assert len(blob) <= len(plain) + 16


def test_a_newer_state_of_a_series_supersedes_old_ones(cache_path: Path) -> None:
    # GIVEN more states of one series than are kept, and one of another series
    series = make_series()
    with SummaryCache.open(cache_path) as cache:
        cache.put_series("other", "scope-b", series)
        for i in range(cache_module.SERIES_KEEP + 2):
            cache.put_series(f"k{i}", "scope-a", series)
            time.sleep(0.002)
        # THEN only the newest of that scope are kept, and the other series is untouched
        assert cache.series_count() == cache_module.SERIES_KEEP + 1
        assert cache.get_series("k0") is None and cache.get_series(f"k{cache_module.SERIES_KEEP + 1}") == series
        assert cache.get_series("other") == series


def test_prune_drops_old_and_foreign_series(tmp_path: Path, cache_path: Path) -> None:
    _fill(cache_path, tmp_path, 1)
    with SummaryCache.open(cache_path) as cache:
        for key in ("old", "foreign", "fresh"):
            cache.put_series(key, key, make_series())
    with sqlite3.connect(cache_path) as db:
        db.execute("UPDATE series SET used = used - 40 * 86400 WHERE key = 'old'")
        db.execute("UPDATE series SET tool = 'old-version' WHERE key = 'foreign'")
        db.execute("UPDATE meta SET value = '0' WHERE key = 'pruned_at'")
    with SummaryCache.open(cache_path) as cache:
        assert cache.series_count() == 1 and cache.get_series("fresh") is not None


def test_reading_a_series_keeps_it(cache_path: Path) -> None:
    with SummaryCache.open(cache_path) as cache:
        cache.put_series("k", "s", make_series())
    with sqlite3.connect(cache_path) as db:
        db.execute("UPDATE series SET used = used - 20 * 86400")
    with SummaryCache.open(cache_path) as cache:
        assert cache.get_series("k") is not None
    with sqlite3.connect(cache_path) as db:
        used = db.execute("SELECT used FROM series").fetchone()[0]
    assert time.time() - used < 60


@pytest.mark.parametrize(
    "junk",
    [b"", b"\x00junk", bytes([codec.ENCODING]) + zlib.compress(b"junk")],
    ids=["empty", "encoding", "data"],
)
def test_unreadable_series_is_removed_with_a_warning(cache_path: Path, junk: bytes) -> None:
    with SummaryCache.open(cache_path) as cache:
        cache.put_series("k", "s", make_series())
    with sqlite3.connect(cache_path) as db:
        db.execute("UPDATE series SET value = ?", (junk,))
    with SummaryCache.open(cache_path) as cache:
        assert cache.get_series("k") is None
        assert len(cache.warnings) == 1 and "memoised series is unreadable" in cache.warnings[0]
        assert cache.series_count() == 0


def test_decoding_checks_the_record_type_and_arity() -> None:
    # GIVEN the encoding, which calls a builder per record
    raw = zlib.decompress(encode_summary(replace(make_summary(n=5), problems=(Problem(line=1, message="m"),)))[1:])
    assert b"_build_Problem" in raw and b"_build_Frame" in raw
    # THEN a Summary is not a Series
    with pytest.raises(ValueError, match="not a Series"):
        decode_series(encode_summary(make_summary(n=5)))
    # AND a builder called with the wrong number of fields is refused, not half-built
    short = b"cgoroscope.cache\n_build_Frame\n(S'f'\ntR."
    with pytest.raises(ValueError, match="unreadable"):
        decode_summary(bytes([codec.ENCODING]) + zlib.compress(short))
    # AND a record pickled the default way still decodes as what it is
    plain = pickle.dumps(Frame(function="f", file="/f.go", line=1))
    with pytest.raises(ValueError, match="not a Summary"):
        decode_summary(bytes([codec.ENCODING]) + zlib.compress(plain))


def test_a_hit_from_a_replaced_database_is_not_loaded(tmp_path: Path, cache_path: Path) -> None:
    # GIVEN a head found in one database, which is then replaced mid-run by a fresh one
    a, b = write_dump(tmp_path / "a.txt"), write_dump(tmp_path / "b.txt", "x\n")
    with SummaryCache.open(cache_path) as cache:
        cache.put(a, DIGEST, make_summary(seed=2))
    with SummaryCache.open(cache_path) as cache:
        hit = cache.get_head(a, DIGEST)
        assert hit is not None
        for extra in ("", "-wal", "-shm"):
            Path(str(cache_path) + extra).unlink(missing_ok=True)
        cache._damaged(cache_module._Corrupt("gone"))
        assert cache.enabled
        # WHEN another file is stored there (under the same row id) and the old hit is loaded
        cache.put(b, DIGEST, make_summary(seed=4))
        # THEN nothing is returned rather than the other file's summary
        assert cache.load(hit, a) is None
        assert cache.get(b, DIGEST) == make_summary(seed=4)


# ------------------------------------------------------------ hashing archive members


def test_hashing_the_members_of_a_big_tar_gz_in_order_is_linear(tmp_path: Path) -> None:
    """The cache hashes members through ingest.archive's cursor: member k does not re-inflate 0..k-1."""
    import gc
    import hashlib

    # GIVEN a tar.gz of 2,000 members of 16 KiB each
    tar_path = tmp_path / "big.tar.gz"
    bodies = [os.urandom(8192).hex().encode() for _ in range(2000)]
    with tarfile.open(tar_path, "w:gz", compresslevel=1) as tf:
        for i, body in enumerate(bodies):
            info = tarfile.TarInfo(f"pods/a/{i:04d}.txt")
            info.size, info.mtime = len(body), 1_700_000_000
            tf.addfile(info, io.BytesIO(body))
    members = [
        Source(path=f"big.tar.gz/pods/a/{i:04d}.txt", fs_path=str(tar_path), member=f"pods/a/{i:04d}.txt", size=len(b), mtime=1.7e9)
        for i, b in enumerate(bodies)
    ]
    # WHEN each member is hashed the way the cache hashes it, in archive order, timing each
    # hundred (CPU time of this process: what the work costs, whatever else the machine runs)
    times = []
    gc.disable()
    try:
        for start in range(0, len(members), 100):
            t0 = time.process_time()
            digests = [content_sha256(src) for src in members[start : start + 100]]
            times.append(time.process_time() - t0)
            assert digests == [hashlib.sha256(b).hexdigest() for b in bodies[start : start + 100]]
    finally:
        gc.enable()
    # THEN the last hundred took no more than twice the first hundred
    assert times[-1] <= 2 * times[0], f"first hundred {times[0]:.3f} s, last hundred {times[-1]:.3f} s"


def test_an_inflation_bomb_member_is_refused_by_the_cache_naming_the_member(tmp_path: Path, cache_path: Path) -> None:
    from goroscope.errors import DumpError

    # GIVEN a tar.gz whose second member inflates to 2 MB of zeros, and a bound of 100 kB
    tar_path = tmp_path / "bomb.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tf:
        for name, body in (("ok.txt", b"goroutine 1 [select]:\n"), ("pods/z.txt", b"\0" * 2_000_000)):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(body), 1_700_000_000
            tf.addfile(info, io.BytesIO(body))
    bomb = Source(path="bomb.tar.gz/pods/z.txt", fs_path=str(tar_path), member="pods/z.txt", size=2_000_000, mtime=1.7e9)
    # WHEN the cache's hashing reads it
    with pytest.raises(DumpError) as err:
        content_sha256(bomb, 100_000)
    # THEN the one bound message names the member and the bound
    assert err.value.path == bomb.path
    assert "member 'pods/z.txt'" in err.value.reason and "max_inflate_bytes (100000)" in err.value.reason
    # AND a cache bounded so stores the summary without a content hash, reading no further
    with SummaryCache.open(cache_path, max_inflate_bytes=100_000) as cache:
        assert cache.put(bomb, DIGEST, make_summary()) is None
        assert cache.get(bomb, DIGEST) is not None
        assert cache.get(replace(bomb, mtime=1.8e9), DIGEST) is None  # changed, and no hash to tell it is the same


def test_a_file_is_named_by_its_real_path_with_its_folder_resolved_once(tmp_path, monkeypatch):
    # what the cache keys a file by is os.path.realpath's answer, through links and '..' after a link
    from goroscope.cache import _REAL_FOLDERS, _real_path

    (tmp_path / "real" / "deep").mkdir(parents=True)
    for name in ("real/f.gz", "real/deep/g.gz"):
        (tmp_path / name).write_text("x")
    (tmp_path / "to-deep").symlink_to(tmp_path / "real" / "deep")
    (tmp_path / "real" / "link.gz").symlink_to(tmp_path / "real" / "f.gz")
    monkeypatch.chdir(tmp_path)
    _REAL_FOLDERS.clear()
    for p in ("real/f.gz", "to-deep/g.gz", "to-deep/../f.gz", "real/link.gz", str(tmp_path / "to-deep" / "g.gz"), "real/./f.gz", "real/deep/..", "."):
        assert _real_path(p) == os.path.realpath(p), p
        assert _real_path(p) == os.path.realpath(p), p  # the folder now known


def test_a_folder_listing_and_a_recall_decode_only_as_what_they_are() -> None:
    src = Source(path="pod/a.txt", fs_path="/x/pod/a.txt", size=3, mtime=1.0, series="pod")
    skip = Skipped(path="pod/b.txt", reason="not a goroutine dump")
    # GIVEN each encoded as written
    found = {"a.txt": ((src,), ()), "b.txt": ((), (skip,))}
    assert codec.decode_folder(codec.encode_folder(found)) == found
    assert codec.decode_recall(codec.encode_recall("k", (skip,), 2)) == ("k", (skip,), 2)
    assert codec.decode_recall(codec.encode_recall(None, (), 0)) == (None, (), 0)
    # THEN neither is taken for the other, nor for a file's listing, nor a listing for them
    with pytest.raises(ValueError):
        codec.decode_folder(codec.encode_recall("k", (skip,), 2))
    with pytest.raises(ValueError):
        codec.decode_recall(codec.encode_folder(found))
    with pytest.raises(ValueError):
        codec.decode_recall(codec.encode_listing(((src,), ())))
    with pytest.raises(ValueError):
        codec.decode_folder(codec.encode_listing(((src,), (skip,))))
    # AND a folder listing keeps no Store (no credentials on disk)
    from goroscope.model import Store

    with pytest.raises(ValueError, match="without its Store"):
        codec.encode_folder({"a.txt": ((replace(src, store=Store(protocol="s3")),), ())})
