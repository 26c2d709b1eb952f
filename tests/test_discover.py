"""Tests for goroscope.ingest.discover: walking trees and archives, opening sources, grouping snapshots."""

from __future__ import annotations

import gzip
import math
import multiprocessing
import os
import pickle
import tarfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import LEAK_DEBUG2, Member, build_tar, build_zip, dedent, make_dump

from goroscope.config import Config, Discovery
from goroscope.errors import DumpError
from goroscope.ingest import archive, parse_stream
from goroscope.ingest.discover import FolderWalk, walk
from goroscope.ingest.group import group, stem_of
from goroscope.model import MemoryPoint, Skipped, Source, Summary
from goroscope.timestamps import name_time

UTC = timezone.utc

DEBUG2 = """
    goroutine 1 [running]:
    main.main()
    \t/src/app/main.go:10 +0x1d

    goroutine 7 [chan receive, 3 minutes]:
    main.leak()
    \t/src/app/main.go:20 +0x25
    created by main.main in goroutine 1
    \t/src/app/main.go:14 +0x2b
"""

DEBUG1 = """
    goroutine profile: total 2
    1 @ 0x47f32a 0x4854e1
    #\t0x4e4924\tmain.leak+0x24\t/src/app/main.go:20

    1 @ 0x440e51 0x4854e1
    #\t0x4e54f6\tmain.main+0x16\t/src/app/main.go:10
"""

CRASH = """
    SIGQUIT: quit
    PC=0x41148e m=0 sigcode=0

    goroutine 1 gp=0xc000002380 m=nil [chan receive]:
    main.main()
    \t/src/app/main.go:10 +0x1d fp=0xc00006ff50 sp=0xc00006ff38 pc=0x4e54f6
"""


MUTEX = """
    --- contention:
    cycles/second=2000000000
    12 3 @ 0x47f32a 0x4854e1
"""

HEAP = """
    heap profile: 1: 2048 [3: 4096] @ heap/1048576
    1: 2048 [3: 4096] @ 0x4e4924 0x4854e1
"""

CFG = Config()


def small_bound(n: int) -> Config:
    """Return a config whose decompression bound is `n` bytes."""
    return replace(CFG, discovery=replace(CFG.discovery, max_inflate_bytes=n))


def read_all(source: Source, config: Config = CFG) -> bytes:
    """Return the whole decompressed content of `source`."""
    with archive.open_source(source, config.discovery.max_inflate_bytes) as f:
        return f.read()


def paths(items) -> list[str]:  # type: ignore[no-untyped-def]
    """Return the display paths of Sources or Skipped, sorted."""
    return sorted(i.path for i in items)


def tree_listing(root: Path) -> list[str]:
    """Return every path under `root` (to check nothing was extracted)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# --------------------------------------------------------------------- walk: trees


def test_walk_folder_tree_series_paths_and_formats(tmp_path: Path) -> None:
    # GIVEN a tree of dumps in several folders, with a .git folder and a note
    make_dump(tmp_path, "root-2026-12-01T08:00:00Z.txt", DEBUG2)
    make_dump(tmp_path, "pods/a/goroutine-2026-12-01T08:15:00Z.debug2.txt", DEBUG2)
    make_dump(tmp_path, "pods/a/goroutine-2026-12-01T08:15:00Z.txt", DEBUG1)
    make_dump(tmp_path, "pods/b/1796113275.txt.gz", DEBUG2)
    make_dump(tmp_path, "pods/b/crash.txt", CRASH)
    make_dump(tmp_path, ".git/objects/aa/dump.txt", DEBUG2)
    make_dump(tmp_path, ".hidden/dump.txt", DEBUG2)
    # WHEN walked
    sources, skipped = walk(tmp_path, CFG)
    # THEN every dump is a Source with its series, name time and sniffed form; .git says nothing
    assert skipped == []
    by_path = {s.path: s for s in sources}
    assert sorted(by_path) == [
        ".hidden/dump.txt",
        "pods/a/goroutine-2026-12-01T08:15:00Z.debug2.txt",
        "pods/a/goroutine-2026-12-01T08:15:00Z.txt",
        "pods/b/1796113275.txt.gz",
        "pods/b/crash.txt",
        "root-2026-12-01T08:00:00Z.txt",
    ]
    assert by_path["root-2026-12-01T08:00:00Z.txt"].series == "."
    assert by_path["pods/a/goroutine-2026-12-01T08:15:00Z.txt"].series == "pods/a"
    assert by_path["pods/a/goroutine-2026-12-01T08:15:00Z.txt"].format == "debug1"
    assert by_path["pods/a/goroutine-2026-12-01T08:15:00Z.debug2.txt"].format == "debug2"
    gz = by_path["pods/b/1796113275.txt.gz"]
    assert (gz.series, gz.format, gz.name_time) == ("pods/b", "debug2", datetime(2026, 12, 1, 8, 21, 15, tzinfo=UTC))
    crash = by_path["pods/b/crash.txt"]
    assert (crash.format, crash.crash, crash.name_time) == ("traceback", True, None)
    assert all(s.member is None and Path(s.fs_path).is_file() for s in sources)
    assert by_path["pods/b/crash.txt"].size == (tmp_path / "pods/b/crash.txt").stat().st_size


def test_folder_walk_hands_each_series_over_whole_once_its_folder_is_walked(tmp_path: Path) -> None:
    # a folder's files before and after a subfolder, the root's own files, a link to a file and one
    # to a folder (followed last), a hard link, an archive member
    dump = dedent(DEBUG2)
    for rel in ("a.txt", "svc/a.txt", "svc/p1/a.txt", "svc/p1/b.txt", "svc/p2/a.txt", "svc/z.txt", "w/a.txt", "w/q/a.txt",
                "x/a.txt", "x/deep/er/a.txt", "x/deep/er/b.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(dump)
    os.symlink(tmp_path / "x" / "a.txt", tmp_path / "w" / "link.txt")
    os.symlink(tmp_path / "svc" / "p1", tmp_path / "x" / "p1-again")
    os.link(tmp_path / "svc" / "p2" / "a.txt", tmp_path / "x" / "hard.txt")
    (tmp_path / "svc" / "p2" / "more.tar").write_bytes(build_tar([("m/a.txt", dump)], ""))
    whole, whole_skipped = walk(tmp_path, CFG)
    fw = FolderWalk(tmp_path, CFG)
    handed = list(fw.series())
    # THEN every source comes once, handed over or left at the end, as walk() finds them
    got = [s for chunk in handed for s in chunk] + fw.rest
    assert sorted(got, key=lambda s: s.path) == sorted(whole, key=lambda s: s.path)
    assert sorted(fw.skipped, key=lambda k: k.path) == sorted(whole_skipped, key=lambda k: k.path)
    # and each series handed over is whole, in one piece, none of it left for the end
    for chunk in handed:
        assert len({s.series for s in chunk}) == 1
    series = [chunk[0].series for chunk in handed]
    assert len(series) == len(set(series)) and not set(series) & {s.series for s in fw.rest}
    assert series == ["svc/p1", "svc/p2", "svc", "w/q", "x/deep/er"]  # as the walk leaves each folder
    assert {s.series for s in fw.rest} == {".", "w", "x", "svc/p2/more.tar/m"}  # the root, folders with a link, a member


def test_folder_walk_under_a_series_pattern_hands_nothing_over_early(tmp_path: Path) -> None:
    for rel in ("pod-a/x.txt", "pod-b/x.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(dedent(DEBUG2))
    config = replace(CFG, discovery=replace(CFG.discovery, series_pattern=r"pod-[ab]"))
    fw = FolderWalk(tmp_path, config)
    assert list(fw.series()) == [] and len(fw.rest) == 2


def test_walk_one_dump_file(tmp_path: Path) -> None:
    # GIVEN a single gzipped dump as ARCHIVE
    f = make_dump(tmp_path, "goroutine-2026-12-01T08:15:00Z.txt.gz", DEBUG2)
    # WHEN walked
    sources, skipped = walk(f, CFG)
    # THEN it is the one Source, at the root
    assert skipped == []
    assert [(s.path, s.series, s.format) for s in sources] == [("goroutine-2026-12-01T08:15:00Z.txt.gz", ".", "debug2")]
    assert read_all(sources[0]) == dedent(DEBUG2).encode()


def test_walk_classifies_profiles(tmp_path: Path) -> None:
    # GIVEN a goroutineleak profile in both text forms, a heap profile and a mutex profile
    make_dump(tmp_path, "goroutineleak.1796113361.debug1.txt", DEBUG1.replace("goroutine profile", "goroutineleak profile"))
    make_dump(tmp_path, "goroutineleak.1796113361.debug2.txt", LEAK_DEBUG2)
    make_dump(tmp_path, "heap.txt", HEAP)
    make_dump(tmp_path, "mutex.txt", MUTEX)
    # WHEN walked
    sources, skipped = walk(tmp_path, CFG)
    # THEN the leak profiles say so (debug=2 by its writer's frame), heap stays, mutex is skipped
    got = {s.path: (s.format, s.profile) for s in sources}
    assert got == {
        "goroutineleak.1796113361.debug1.txt": ("debug1", "goroutineleak"),
        "goroutineleak.1796113361.debug2.txt": ("debug2", "goroutineleak"),
        "heap.txt": ("heap_text", "heap"),
    }
    assert [(s.path, s.reason) for s in skipped] == [("mutex.txt", "a mutex profile, not a goroutine dump: not used")]


def test_walk_protobuf_profile_is_kept_for_the_parser(tmp_path: Path) -> None:
    # GIVEN Go's own debug=0 profile (its first field is not sample_type)
    real = Path(__file__).parent / "data" / "forms" / "goroutine.debug0.pb.gz"
    (tmp_path / "goroutine.pb.gz").write_bytes(real.read_bytes())
    # WHEN walked
    sources, skipped = walk(tmp_path, CFG)
    # THEN it is a pprof Source of a kind the parser decides
    assert skipped == []
    assert [(s.format, s.profile) for s in sources] == [("pprof", "unknown")]


def test_walk_series_pattern(tmp_path: Path) -> None:
    # GIVEN dumps of one service on two hosts, and a pattern naming the service as series
    make_dump(tmp_path, "svc-a/host-1/x.txt", DEBUG2)
    make_dump(tmp_path, "svc-a/host-2/y.txt", DEBUG2)
    make_dump(tmp_path, "loose.txt", DEBUG2)
    named = replace(CFG, discovery=Discovery(series_pattern=r"^(?P<series>svc-[^/]+)/"))
    numbered = replace(CFG, discovery=Discovery(series_pattern=r"^([^/]+)/host-\d+/"))
    # WHEN walked with each
    for config in (named, numbered):
        sources, _ = walk(tmp_path, config)
        # THEN matching files share the named series, others keep their folder
        assert {s.path: s.series for s in sources} == {"svc-a/host-1/x.txt": "svc-a", "svc-a/host-2/y.txt": "svc-a", "loose.txt": "."}


def test_walk_settling_files_are_left_for_later(tmp_path: Path, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    # GIVEN one old dump and one written two seconds ago, and settle_seconds=10
    now = frozen_clock.time()
    make_dump(tmp_path, "old.txt", DEBUG2, mtime=now - 3600)
    make_dump(tmp_path, "new.txt", DEBUG2, mtime=now - 2)
    (tmp_path / "fresh.tar.gz").write_bytes(build_tar([("a/x.txt", DEBUG2)]))
    os.utime(tmp_path / "fresh.tar.gz", (now - 1, now - 1))
    config = replace(CFG, discovery=Discovery(settle_seconds=10))
    # WHEN walked
    sources, skipped = walk(tmp_path, config)
    # THEN the recent ones are Skipped as settling (the archive as a whole)
    assert paths(sources) == ["old.txt"]
    assert paths(skipped) == ["fresh.tar.gz", "new.txt"]
    assert all(s.reason.startswith("settling:") for s in skipped)
    # and once the clock moves on, they are read
    frozen_clock.advance(60)
    sources, skipped = walk(tmp_path, config)
    assert paths(sources) == ["fresh.tar.gz/a/x.txt", "new.txt", "old.txt"] and skipped == []


def test_walk_max_files(tmp_path: Path) -> None:
    # GIVEN five dumps and max_files=3
    for i in range(5):
        make_dump(tmp_path, f"d{i}.txt", DEBUG2)
    config = replace(CFG, discovery=Discovery(max_files=3))
    # WHEN walked
    sources, skipped = walk(tmp_path, config)
    # THEN three are read and the walk says where it stopped, once
    assert paths(sources) == ["d0.txt", "d1.txt", "d2.txt"]
    assert len(skipped) == 1 and skipped[0].path == "d3.txt" and "max_files (3)" in skipped[0].reason


def test_walk_follows_links_once(tmp_path: Path) -> None:
    # GIVEN a folder reached twice (directly and through a link) and a linked file
    make_dump(tmp_path, "real/a.txt", DEBUG2)
    (tmp_path / "again").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "b.txt").symlink_to(tmp_path / "real" / "a.txt")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    make_dump(outside, "c.txt", DEBUG2)
    (tmp_path / "ext").symlink_to(outside, target_is_directory=True)
    # WHEN walked
    sources, skipped = walk(tmp_path, CFG)
    # THEN each file is read once, under the first path that reaches it; a link elsewhere is followed
    assert paths(sources) == ["ext/c.txt", "real/a.txt"]
    assert {s.path: s.reason for s in skipped} == {
        "again": "the same folder as 'real' (through a link): read once",
        "b.txt": "the same file as 'real/a.txt' (a link): read once",
    }


# -------------------------------------------------------------------- walk: archives


def test_walk_archives_in_tree_are_streamed_not_extracted(tmp_path: Path) -> None:
    # GIVEN a tar.gz and a zip, one nested in a folder, holding dumps (one itself gzipped)
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "x.tar.gz").write_bytes(
        build_tar(
            [
                Member(name="pods", kind="dir"),
                Member(name="./pods/a/goroutine-2026-12-01T08:15:00Z.txt", data=DEBUG2, mtime=1796113275),
                ("pods/a/goroutine-2026-12-01T08:16:00Z.txt.gz", gzip.compress(dedent(DEBUG1).encode())),
            ]
        )
    )
    (tmp_path / "y.zip").write_bytes(build_zip([Member(name="b/1796113275.txt", data=DEBUG2, mtime=1796113000)]))
    before = tree_listing(tmp_path)
    # WHEN walked
    sources, skipped = walk(tmp_path, CFG)
    # THEN members are listed with the archive's name as a folder, and nothing was written
    assert skipped == []
    got = {s.path: s for s in sources}
    assert sorted(got) == [
        "nested/x.tar.gz/pods/a/goroutine-2026-12-01T08:15:00Z.txt",
        "nested/x.tar.gz/pods/a/goroutine-2026-12-01T08:16:00Z.txt.gz",
        "y.zip/b/1796113275.txt",
    ]
    t = got["nested/x.tar.gz/pods/a/goroutine-2026-12-01T08:15:00Z.txt"]
    assert (t.series, t.member, t.mtime, t.format) == ("nested/x.tar.gz/pods/a", "./pods/a/goroutine-2026-12-01T08:15:00Z.txt", 1796113275.0, "debug2")
    assert t.fs_path == str(tmp_path / "nested" / "x.tar.gz")
    assert got["nested/x.tar.gz/pods/a/goroutine-2026-12-01T08:16:00Z.txt.gz"].format == "debug1"
    z = got["y.zip/b/1796113275.txt"]
    assert (z.series, z.member, z.mtime) == ("y.zip/b", "b/1796113275.txt", 1796113000.0)
    assert tree_listing(tmp_path) == before
    # and every member opens to its decompressed content
    assert read_all(got["nested/x.tar.gz/pods/a/goroutine-2026-12-01T08:16:00Z.txt.gz"]) == dedent(DEBUG1).encode()
    assert read_all(z) == dedent(DEBUG2).encode()


@pytest.mark.parametrize("name, compression", [("a.tar", ""), ("a.tar.gz", "gz"), ("a.tgz", "gz"), ("a.tar.bz2", "bz2"), ("a.tar.xz", "xz"), ("a.zip", None)])
def test_walk_archive_as_root(tmp_path: Path, name: str, compression: str | None) -> None:
    # GIVEN ARCHIVE is itself an archive file
    members = [("svc/goroutine-2026-12-01T08:15:00Z.txt", DEBUG2), ("top.txt", DEBUG1)]
    data = build_zip(members) if compression is None else build_tar(members, compression)
    archive = tmp_path / name
    archive.write_bytes(data)
    # WHEN walked
    sources, skipped = walk(archive, CFG)
    # THEN the root is its contents
    assert skipped == []
    assert [(s.path, s.series) for s in sorted(sources, key=lambda s: s.path)] == [
        ("svc/goroutine-2026-12-01T08:15:00Z.txt", "svc"),
        ("top.txt", "."),
    ]
    assert [read_all(s) for s in sorted(sources, key=lambda s: s.path)] == [dedent(DEBUG2).encode(), dedent(DEBUG1).encode()]


def test_walk_archive_recognised_by_content(tmp_path: Path) -> None:
    # GIVEN a tar.gz whose name does not say so
    (tmp_path / "bundle.gz").write_bytes(build_tar([("a.txt", DEBUG2)]))
    sources, skipped = walk(tmp_path, CFG)
    # THEN its members are read
    assert paths(sources) == ["bundle.gz/a.txt"] and skipped == []


def _spawned_read(source: Source, config: Config) -> bytes:
    """Read a source in a worker process."""
    return read_all(source, config)


def test_open_source_in_another_process(tmp_path: Path) -> None:
    # GIVEN sources of every kind: plain, gzip, tar member, zip member
    make_dump(tmp_path, "a.txt", DEBUG2)
    make_dump(tmp_path, "b.txt.gz", DEBUG1)
    (tmp_path / "c.tar.gz").write_bytes(build_tar([("m/c.txt", DEBUG2), ("m/d.txt", CRASH)]))
    (tmp_path / "e.zip").write_bytes(build_zip([("e.txt.gz", gzip.compress(dedent(DEBUG1).encode()))]))
    sources, _ = walk(tmp_path, CFG)
    assert len(sources) == 5
    # WHEN each is opened in a freshly spawned process, given only the (pickled) Source
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        contents = list(pool.map(_spawned_read, sources, [CFG] * len(sources)))
    # THEN it reads the same bytes as here
    assert contents == [read_all(pickle.loads(pickle.dumps(s))) for s in sources]
    assert sorted(contents) == sorted(dedent(t).encode() for t in (DEBUG2, DEBUG1, DEBUG2, CRASH, DEBUG1))


def test_tar_members_read_in_order_inflate_the_archive_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a compressed tar of several dumps
    members = [(f"m/{i:02d}.txt", DEBUG2.replace("goroutine 7", f"goroutine {100 + i}")) for i in range(6)]
    (tmp_path / "a.tar.gz").write_bytes(build_tar(members))
    sources, _ = walk(tmp_path, CFG)
    sources.sort(key=lambda s: s.path)
    opened: list[str] = []
    real_open_tar = archive.open_tar

    def counting_open_tar(fs_path: str, bound: int, store=None):  # type: ignore[no-untyped-def]
        opened.append(fs_path)
        return real_open_tar(fs_path, bound, store)

    monkeypatch.setattr(archive, "open_tar", counting_open_tar)
    expected = [dedent(text).encode() for _, text in members]
    # WHEN its members are read in walk order
    assert [read_all(s) for s in sources] == expected
    # THEN the archive was opened (inflated) once
    assert len(opened) == 1
    # and out of order, or two at a time, still reads the right bytes
    assert [read_all(s) for s in reversed(sources)] == expected[::-1]
    bound = CFG.discovery.max_inflate_bytes
    with archive.open_source(sources[1], bound) as one, archive.open_source(sources[4], bound) as two:
        assert (one.read(), two.read()) == (expected[1], expected[4])
    assert read_all(sources[5]) == expected[5]


# ------------------------------------------------------------------- walk: bad input


@dataclass(frozen=True)
class Bad:
    name: str  # the file written under tmp_path
    data: bytes  # its bytes
    reason: str  # a part of the Skipped reason
    config: Config = CFG  # the config walked with
    kept: tuple[str, ...] = ()  # Sources that must survive (members read before a corruption)


def _big_debug2() -> bytes:
    """Return a debug=2 dump of some 300 kB."""
    return dedent(DEBUG2).encode() * 2000


def _tar_then_damaged_header() -> bytes:
    """Return a plain tar whose second member header is overwritten."""
    data = bytearray(build_tar([("a.txt", DEBUG2), ("b.txt", DEBUG2)], compression=""))
    second = 512 + math.ceil(len(dedent(DEBUG2).encode()) / 512) * 512
    data[second : second + 100] = b"\xff" * 100
    return bytes(data)


def _truncated_tar_gz() -> bytes:
    """Return a tar.gz cut in the middle of its second member."""
    big = os.urandom(300_000).hex().encode()  # incompressible: the second member spans the cut
    data = build_tar([("a.txt", DEBUG2), ("b.txt", dedent(DEBUG2).encode() + big)])
    return data[: len(data) // 2]


BAD = [
    Bad("empty.txt", b"", "empty file"),
    Bad("junk.bin", bytes(range(256)) * 8, "binary data"),
    Bad("notes.txt", b"hello, this is not a dump\n", "not a goroutine dump"),
    Bad("corrupt.txt.gz", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff\xfe garbage " * 20, "corrupt compressed data"),
    Bad("huge.txt.gz", gzip.compress(_big_debug2()), "max_inflate_bytes", small_bound(1000)),
    Bad("garbage.tar", b"this is no tar at all\n" * 100, "corrupt archive"),
    Bad("garbage.tar.gz", gzip.compress(b"this is no tar at all\n" * 100), "corrupt archive"),
    Bad("bad.zip", b"PK\x03\x04" + b"\x00" * 100, "corrupt archive"),
    Bad("damaged.tar", _tar_then_damaged_header(), "corrupt archive after member 'a.txt'", kept=("damaged.tar/a.txt",)),
    Bad("cut.tar.gz", _truncated_tar_gz(), "corrupt archive at member 'b.txt'", kept=("cut.tar.gz/a.txt",)),
    Bad("bomb.tar.gz", build_tar([("a.txt", DEBUG2), ("z.txt", b"\0" * 2_000_000)]), "max_inflate_bytes", small_bound(100_000), kept=("bomb.tar.gz/a.txt",)),
]  # fmt: skip


@pytest.mark.parametrize("bad", BAD, ids=lambda b: b.name)
def test_walk_bad_input_is_one_skip_naming_the_file(tmp_path: Path, bad: Bad) -> None:
    # GIVEN one bad file beside a good dump
    (tmp_path / bad.name).write_bytes(bad.data)
    make_dump(tmp_path, "good.txt", DEBUG2)
    # WHEN walked
    sources, skipped = walk(tmp_path, bad.config)
    # THEN the good dump (and members read before a corruption) are Sources
    assert paths(sources) == sorted(("good.txt", *bad.kept))
    # and the bad file is exactly one Skipped naming it, with a reason
    assert len(skipped) == 1, skipped
    assert skipped[0].path == bad.name or skipped[0].path.startswith(bad.name + "/")
    assert bad.reason in skipped[0].reason


def test_walk_unsafe_tar_members(tmp_path: Path) -> None:
    # GIVEN a tar with traversal and absolute names, links, a device and a fifo beside a dump
    (tmp_path / "evil.tar.gz").write_bytes(
        build_tar(
            [
                ("ok/a.txt", DEBUG2),
                ("../../x.txt", DEBUG2),
                ("/etc/cron.d/x.txt", DEBUG2),
                ("ok/../../y.txt", DEBUG2),
                Member(name="ok/link.txt", kind="symlink", linkname="/etc/passwd"),
                Member(name="ok/hard.txt", kind="hardlink", linkname="ok/a.txt"),
                Member(name="ok/dev", kind="chardev"),
                Member(name="ok/fifo", kind="fifo"),
                ("ok/a.txt", DEBUG1),
            ]
        )
    )
    before = tree_listing(tmp_path.parent)
    # WHEN walked
    sources, skipped = walk(tmp_path, CFG)
    # THEN only the safe regular member is a Source; each other one is named with why
    assert paths(sources) == ["evil.tar.gz/ok/a.txt"]
    assert read_all(sources[0]) == dedent(DEBUG2).encode()  # the first of the two same-named ones
    reasons = {s.path: s.reason for s in skipped}
    assert sorted(reasons) == sorted(
        [
            "evil.tar.gz/../../x.txt",
            "evil.tar.gz/etc/cron.d/x.txt",
            "evil.tar.gz/ok/../../y.txt",
            "evil.tar.gz/ok/link.txt",
            "evil.tar.gz/ok/hard.txt",
            "evil.tar.gz/ok/dev",
            "evil.tar.gz/ok/fifo",
            "evil.tar.gz/ok/a.txt",
        ]
    )
    assert reasons["evil.tar.gz/../../x.txt"].startswith("unsafe member name '../../x.txt'")
    assert reasons["evil.tar.gz/etc/cron.d/x.txt"].startswith("unsafe member name '/etc/cron.d/x.txt'")
    assert reasons["evil.tar.gz/ok/link.txt"] == "a symbolic link (to '/etc/passwd') inside the archive: not read"
    assert reasons["evil.tar.gz/ok/hard.txt"] == "a hard link (to 'ok/a.txt') inside the archive: not read"
    assert reasons["evil.tar.gz/ok/dev"] == "a device inside the archive: not read"
    assert reasons["evil.tar.gz/ok/fifo"] == "a fifo inside the archive: not read"
    assert "same name" in reasons["evil.tar.gz/ok/a.txt"]
    # and nothing was written anywhere
    assert tree_listing(tmp_path.parent) == before


def test_walk_unsafe_zip_members(tmp_path: Path) -> None:
    # GIVEN a zip with a traversal name, an absolute name and a symlink
    (tmp_path / "evil.zip").write_bytes(
        build_zip(
            [
                ("ok.txt", DEBUG2),
                ("../x.txt", DEBUG2),
                ("/abs.txt", DEBUG2),
                ("C:/win.txt", DEBUG2),
                Member(name="link.txt", kind="symlink", linkname="/etc/passwd"),
            ]
        )
    )
    sources, skipped = walk(tmp_path, CFG)
    assert paths(sources) == ["evil.zip/ok.txt"]
    reasons = {s.path: s.reason for s in skipped}
    assert sorted(reasons) == ["evil.zip/../x.txt", "evil.zip/C:/win.txt", "evil.zip/abs.txt", "evil.zip/link.txt"]
    assert all(r.startswith("unsafe member name") for p, r in reasons.items() if p != "evil.zip/link.txt")
    assert reasons["evil.zip/link.txt"] == "a symbolic link inside the archive: not read"


def test_walk_zip_bomb_member(tmp_path: Path) -> None:
    # GIVEN a zip whose member inflates past the bound
    (tmp_path / "bomb.zip").write_bytes(build_zip([("ok.txt", DEBUG2), ("z.txt", b"\0" * 1_000_000)]))
    config = small_bound(100_000)
    # WHEN walked
    sources, skipped = walk(tmp_path, config)
    # THEN it is skipped, naming the member and the bound
    assert paths(sources) == ["bomb.zip/ok.txt"]
    assert [s.path for s in skipped] == ["bomb.zip/z.txt"]
    assert "1000000 bytes" in skipped[0].reason and "max_inflate_bytes (100000)" in skipped[0].reason


@pytest.mark.parametrize("kind", ["zip", "tar", "zip-gz-member"])
def test_open_source_bomb_fails_naming_member_and_bound(tmp_path: Path, kind: str) -> None:
    # GIVEN a member that inflates past the bound (walked with a large bound, opened with a small one)
    zeros = b"\0" * 1_000_000
    if kind == "zip":
        (tmp_path / "a.zip").write_bytes(build_zip([("z.txt", zeros)]))
    elif kind == "tar":
        (tmp_path / "a.tar.gz").write_bytes(build_tar([("z.txt", zeros)]))
    else:
        (tmp_path / "a.zip").write_bytes(build_zip([("z.txt.gz", gzip.compress(dedent(DEBUG2).encode() + zeros))]))
    walked = [Source(path=f"a.{'tar.gz' if kind == 'tar' else 'zip'}/{m}", fs_path=str(p), member=m) for p in tmp_path.iterdir() for m in ("z.txt.gz" if kind == "zip-gz-member" else "z.txt",)]
    # WHEN opened and read with a bound of 100000 bytes
    with pytest.raises(DumpError) as err:
        read_all(walked[0], small_bound(100_000))
    # THEN the error names the member and the bound
    assert err.value.path == walked[0].path
    assert "100000" in err.value.reason and "max_inflate_bytes" in err.value.reason


def _gunzip(data: bytes, bound: int = 1 << 30, reads: int = 1 << 20) -> bytes:
    """Return what open_decompressed reads of `data` (`reads` bytes a time), as a parser reads it."""
    import io

    out = b""
    with archive.open_decompressed(io.BytesIO(data), "d.txt.gz", bound, buffer_size=reads) as f:  # type: ignore[arg-type]
        while chunk := f.read(reads):
            out += chunk
    return out


def test_gzip_reads_like_gzip_module() -> None:
    # GIVEN gzip streams as collectors write them: one member, several members, zero padding after
    text = dedent(DEBUG2).encode() * 300
    one = gzip.compress(text, mtime=0)
    several = gzip.compress(text[:1000], mtime=0) + gzip.compress(text[1000:], mtime=0)
    padded = one + b"\0" * 1000
    # THEN each reads whole, in large reads and in small ones
    for data in (one, several, padded):
        assert _gunzip(data) == gzip.decompress(data) == text
        assert _gunzip(data, reads=777) == text


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda d: d[: len(d) // 2], "ended before the end-of-stream"),  # a collector cut the file short
        (lambda d: d[:-8] + bytes([d[-8] ^ 1]) + d[-7:], "incorrect data check"),  # a bad CRC
        (lambda d: d + b"garbage after the member", "corrupt compressed data"),
    ],
    ids=["cut", "crc", "trailing-garbage"],
)
def test_damaged_gzip_is_a_dump_error(damage, words: str) -> None:
    data = damage(gzip.compress(dedent(DEBUG2).encode() * 300, mtime=0))
    with pytest.raises(DumpError) as err:
        _gunzip(data)
    assert "corrupt compressed data" in err.value.reason and words in err.value.reason


def test_gzip_inflation_is_bounded() -> None:
    with pytest.raises(DumpError, match="max_inflate_bytes"):
        _gunzip(gzip.compress(b"\0" * 1_000_000), bound=100_000)


def test_walk_symlink_loops(tmp_path: Path) -> None:
    # GIVEN a link back to an ancestor, a link to itself, and a broken link
    make_dump(tmp_path, "a/b/dump.txt", DEBUG2)
    (tmp_path / "a" / "b" / "up").symlink_to(tmp_path / "a", target_is_directory=True)
    (tmp_path / "self").symlink_to(tmp_path / "self")
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    # WHEN walked (this returns: no endless descent)
    sources, skipped = walk(tmp_path, CFG)
    # THEN each link is one Skipped with its reason
    assert paths(sources) == ["a/b/dump.txt"]
    reasons = {s.path: s.reason for s in skipped}
    assert sorted(reasons) == ["a/b/up", "gone", "self"]
    assert reasons["a/b/up"].startswith("symbolic link loop")
    assert reasons["self"].startswith("symbolic link loop")
    assert reasons["gone"].startswith("broken symbolic link")


def test_walk_fifo_is_not_opened(tmp_path: Path) -> None:
    # GIVEN a named pipe (opening it would block the walk)
    os.mkfifo(tmp_path / "pipe")
    sources, skipped = walk(tmp_path, CFG)
    assert sources == [] and skipped == [Skipped(path="pipe", reason="not a regular file (a fifo): not read")]


def test_walk_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a file whose opening fails with EACCES (we may run as root, so the OS is told to refuse)
    make_dump(tmp_path, "ok.txt", DEBUG2)
    locked = make_dump(tmp_path, "locked.txt", DEBUG2)
    real_open = os.open

    def refusing_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(file) == str(locked):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
    # WHEN walked
    sources, skipped = walk(tmp_path, CFG)
    # THEN it is one Skipped naming the OS error
    assert paths(sources) == ["ok.txt"]
    assert skipped == [Skipped(path="locked.txt", reason="cannot read: Permission denied")]


def test_walk_unreadable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a folder whose listing fails with EACCES
    make_dump(tmp_path, "ok.txt", DEBUG2)
    make_dump(tmp_path, "locked/x.txt", DEBUG2)
    real_scandir = os.scandir

    def refusing_scandir(path):  # type: ignore[no-untyped-def]
        if Path(path) == tmp_path / "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", refusing_scandir)
    sources, skipped = walk(tmp_path, CFG)
    assert paths(sources) == ["ok.txt"]
    assert skipped == [Skipped(path="locked", reason="cannot read folder: Permission denied")]


def test_walk_missing_archive(tmp_path: Path) -> None:
    sources, skipped = walk(tmp_path / "nope", CFG)
    assert sources == [] and skipped == [Skipped(path="nope", reason="cannot read: No such file or directory")]


def test_open_source_damaged_member_names_it(tmp_path: Path) -> None:
    # GIVEN a zip member whose data was damaged after the walk
    data = bytearray(build_zip([("a.txt", DEBUG2 * 50)]))
    (tmp_path / "a.zip").write_bytes(bytes(data))
    sources, _ = walk(tmp_path, CFG)
    start = data.index(b"a.txt") + len("a.txt")
    data[start + 10 : start + 40] = b"\xff" * 30
    (tmp_path / "a.zip").write_bytes(bytes(data))
    # WHEN read
    with pytest.raises(DumpError) as err:
        read_all(sources[0])
    # THEN the error names the member
    assert err.value.path == "a.zip/a.txt"


# -------------------------------------------------------------------------- group


def summary(fmt: str = "debug2", profile: str = "goroutine", *, crash: bool = False, time: datetime | None = None,
            heap: int | None = None, total: int = 2) -> Summary:
    """Return a hand-made Summary."""
    return Summary(format=fmt, profile=profile, go_version=None, total=total, header_total=None, truncated=False,
                   crash=crash, time=time, heap_inuse_bytes=heap, stacks=())  # fmt: skip


def source(path: str, fmt: str = "debug2", *, mtime: float = 1796112000.0, crash: bool = False, profile: str = "goroutine") -> Source:
    """Return a hand-made Source in the series of its folder, timed from its name."""
    folder = path.rsplit("/", 1)[0] if "/" in path else "."
    return Source(path=path, fs_path="/nowhere/" + path, series=folder, mtime=mtime, name_time=name_time(path.rsplit("/", 1)[-1], CFG.discovery),
                  format=fmt, profile=profile, crash=crash)  # fmt: skip


@pytest.mark.parametrize(
    "name, stem",
    [
        ("goroutine-2026-12-01T08:21:16Z.debug2.txt", "goroutine-2026-12-01t08:21:16z"),
        ("goroutine-2026-12-01T08:21:16Z.txt", "goroutine-2026-12-01t08:21:16z"),
        ("20261201-082115.pb.gz", "20261201-082115"),
        ("20261201-082115.debug1.txt", "20261201-082115"),
        ("1796113275.stacks.txt", "1796113275"),
        ("1796113275.goroutines.txt", "1796113275"),
        ("snap-7.debug=2", "snap-7"),
        ("snap-7_debug1.pprof", "snap-7"),
        ("goroutines.txt", "goroutines"),
        ("dump.txt.gz", "dump"),
        ("dump.txt.1", "dump.txt.1"),
    ],
)
def test_stem_of(name: str, stem: str) -> None:
    assert stem_of(name) == stem


def test_group_merges_forms_of_one_moment() -> None:
    # GIVEN two moments, each written in two forms (same stem), and one form alone
    parsed = [
        (source("s/goroutine-2026-12-01T08:00:05Z.txt", "debug1"), summary("debug1")),
        (source("s/goroutine-2026-12-01T08:00:00Z.txt", "debug1"), summary("debug1")),
        (source("s/goroutine-2026-12-01T08:00:00Z.debug2.txt"), summary("debug2")),
        (source("s/goroutine-2026-12-01T08:00:05Z.pb.gz", "pprof"), summary("pprof", time=datetime(2026, 12, 1, 8, 0, 5, 300000, tzinfo=UTC))),
        (source("s/goroutine-2026-12-01T08:00:10Z.txt", "debug1"), summary("debug1")),
    ]
    # WHEN grouped
    g = group(parsed, CFG)
    # THEN there are three moments in time order, each with the richest form as primary
    moments = g.moments["s"]
    assert [(m.time.second, m.format, m.time_source) for m, _ in moments] == [(0, "debug2", "name"), (5, "pprof", "name"), (10, "debug1", "name")]
    assert [p.path for p in moments[0][0].sources] == ["s/goroutine-2026-12-01T08:00:00Z.debug2.txt", "s/goroutine-2026-12-01T08:00:00Z.txt"]
    assert moments[1][0].primary.path.endswith(".pb.gz") and moments[1][1].format == "pprof"
    assert g.skipped == () and g.leak_evidence == {} and g.memory == {}


def test_group_merges_equal_seconds_across_stems() -> None:
    # GIVEN two forms with different stems but the same second in their names
    parsed = [
        (source("h/1796113275.goroutines.txt", "debug1"), summary("debug1")),
        (source("h/1796113275.stacks.txt"), summary("debug2")),
        (source("h/1796113280.goroutines.txt", "debug1"), summary("debug1")),
        (source("h/snapshot-at-2026-12-01T08:21:20Z.dump", "debug2"), summary("debug2")),
    ]
    g = group(parsed, CFG)
    assert [[s.path for s in m.sources] for m, _ in g.moments["h"]] == [
        ["h/1796113275.stacks.txt", "h/1796113275.goroutines.txt"],
        ["h/snapshot-at-2026-12-01T08:21:20Z.dump", "h/1796113280.goroutines.txt"],
    ]


def test_group_same_stem_same_form_stays_apart() -> None:
    # GIVEN a dump and its rotated, gzipped predecessor (one form, no times in the names)
    parsed = [
        (source("s/dump.txt", mtime=1796115600.0), summary()),
        (source("s/dump.txt.gz", mtime=1796112000.0), summary()),
        (source("s/dump.pb.gz", "pprof", mtime=1796115900.0), summary("pprof")),
    ]
    # WHEN grouped
    g = group(parsed, CFG)
    # THEN the stem is ambiguous and joins nothing (nor do times minutes apart): three moments, by mtime
    assert [[s.path for s in m.sources] for m, _ in g.moments["s"]] == [["s/dump.txt.gz"], ["s/dump.txt"], ["s/dump.pb.gz"]]


def test_group_crash_is_a_moment_of_its_own() -> None:
    # GIVEN a SIGQUIT dump with the same second (and stem) as a regular dump
    parsed = [
        (source("b/w_2026-12-01T082253Z_sigquit.txt", "traceback", crash=True), summary("traceback", crash=True)),
        (source("b/w_2026-12-01T082253Z_goroutines.txt"), summary()),
        (source("b/w_2026-12-01T082249Z_goroutines.txt"), summary()),
        (source("b/w_2026-12-01T082253Z.txt", "traceback", crash=True), summary("traceback", crash=True)),
    ]
    g = group(parsed, CFG)
    moments = [m for m, _ in g.moments["b"]]
    # THEN it is never merged: a moment flagged crash, after the regular one of its second
    assert [(m.time.second, m.crash, len(m.sources)) for m in moments] == [(49, False, 1), (53, False, 1), (53, True, 1), (53, True, 1)]


def test_group_time_sources() -> None:
    # GIVEN files timed by name, by content (pprof time_nanos) and by mtime only
    content_time = datetime(2026, 12, 1, 8, 30, 0, tzinfo=UTC)
    parsed = [
        (source("s/a.pb.gz", "pprof", mtime=1796112000.0), summary("pprof", time=content_time)),
        (source("s/b.txt", mtime=1796115600.5), summary()),
        (source("s/c-2026-12-01T08:15:00Z.txt"), summary()),
        (source("s/d.txt", mtime=1796115600.7), summary()),  # same mtime second as b: NOT merged
    ]
    g = group(parsed, CFG)
    got = [(m.primary.path, m.time, m.time_source) for m, _ in g.moments["s"]]
    assert got == [
        ("s/c-2026-12-01T08:15:00Z.txt", datetime(2026, 12, 1, 8, 15, tzinfo=UTC), "name"),
        ("s/a.pb.gz", content_time, "content"),
        ("s/b.txt", datetime.fromtimestamp(1796115600.5, UTC), "mtime"),
        ("s/d.txt", datetime.fromtimestamp(1796115600.7, UTC), "mtime"),
    ]


def test_group_evidence_memory_and_other_profiles() -> None:
    # GIVEN goroutineleak profiles (one recognised by content only), heap profiles and a cpu profile
    parsed = [
        (source("h/1796113361.txt"), summary()),
        (source("h/goroutineleak.1796113361.debug1.txt", "debug1", profile="goroutineleak"), summary("debug1", "goroutineleak")),
        (source("h/goroutineleak.1796113361.debug2.txt", profile="goroutineleak"), summary("debug2", "goroutine")),
        (source("h/heap-1796113370.pb.gz", "pprof", profile="unknown"), summary("pprof", "heap", heap=4096)),
        (source("h/heap-1796113360.pb.gz", "pprof", profile="unknown"), summary("pprof", "heap", heap=2048)),
        (source("h/cpu.pb.gz", "pprof", profile="unknown"), summary("pprof", "cpu")),
    ]
    g = group(parsed, CFG)
    # THEN leak profiles are evidence, not snapshots; heap gives memory points; cpu is skipped
    assert [m.primary.path for m, _ in g.moments["h"]] == ["h/1796113361.txt"]
    assert [s.path for s, _ in g.leak_evidence["h"]] == ["h/goroutineleak.1796113361.debug1.txt", "h/goroutineleak.1796113361.debug2.txt"]
    assert g.memory["h"] == (
        MemoryPoint(time=datetime(2026, 12, 1, 8, 22, 40, tzinfo=UTC), inuse_bytes=2048, source="h/heap-1796113360.pb.gz"),
        MemoryPoint(time=datetime(2026, 12, 1, 8, 22, 50, tzinfo=UTC), inuse_bytes=4096, source="h/heap-1796113370.pb.gz"),
    )
    assert g.skipped == (Skipped(path="h/cpu.pb.gz", reason="a cpu profile, not a goroutine dump: not used"),)


def test_group_keeps_series_apart() -> None:
    parsed = [(source("a/1796113275.txt"), summary()), (source("b/1796113275.txt"), summary())]
    g = group(parsed, CFG)
    assert sorted(g.moments) == ["a", "b"] and all(len(v) == 1 for v in g.moments.values())


# ---------------------------------------------------------------- the real corpus


@pytest.fixture(scope="module")
def corpus_grouping(corpus_dir: Path):  # type: ignore[no-untyped-def]
    """Return (sources, walk skips, parse failures, grouping) for the whole corpus."""
    from goroscope.aggregate import aggregate

    sources, skipped = walk(corpus_dir, CFG)
    parsed, failed = [], []
    for src in sources:
        try:
            with archive.open_source(src, CFG.discovery.max_inflate_bytes) as f:
                parsed.append((src, aggregate(parse_stream(f, src.path))))
        except DumpError as e:
            failed.append((src.path, e.reason))
    return sources, skipped, failed, group(parsed, CFG)


def _truth(corpus_dir: Path) -> list[dict]:
    """Return the series entries of the corpus' truth.yaml."""
    import yaml

    return yaml.safe_load((corpus_dir / "truth.yaml").read_text())["series"]


def _series_id(entry: dict) -> str:
    """Return the series id discovery gives a truth entry (an archive's members sit under its prefix)."""
    archive = entry.get("archive")
    if archive:
        return f"{entry['path']}/{archive['member_prefix'].rstrip('/')}"
    return entry["path"]


def _second(text: str) -> datetime:
    """Return an ISO time of truth.yaml, cut to the second."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(microsecond=0)


@pytest.mark.corpus
def test_corpus_walk_reads_every_dump(corpus_grouping) -> None:  # type: ignore[no-untyped-def]
    sources, skipped, failed, grouping = corpus_grouping
    # only the two notes beside the dumps are skipped; every dump parses
    assert paths(skipped) == ["README.md", "truth.yaml"]
    assert failed == []
    assert grouping.skipped == ()
    assert Counter(s.format for s in sources) == Counter({"debug1": 91, "debug2": 90, "pprof": 25, "traceback": 1})


@pytest.mark.corpus
def test_corpus_series_snapshots_and_times(corpus_dir: Path, corpus_grouping) -> None:  # type: ignore[no-untyped-def]
    _, _, _, grouping = corpus_grouping
    truth = _truth(corpus_dir)
    # one series per truth entry, nothing else
    assert sorted(grouping.moments) == sorted(_series_id(t) for t in truth)
    for entry in truth:
        sid = _series_id(entry)
        moments = [m for m, _ in grouping.moments[sid]]
        regular = [m for m in moments if not m.crash]
        # the snapshot count and the times, to the second, in order
        assert len(regular) == entry["snapshot_count"], sid
        assert [m.time for m in regular] == [_second(s["time"]) for s in entry["snapshots"]], sid
        assert all(m.time_source == "name" for m in moments), sid
        # the files of each snapshot, the richest one primary
        for m, snap in zip(regular, entry["snapshots"]):
            assert sorted(Path(s.path).name for s in m.sources) == sorted(snap["files"]), (sid, snap["n"])
            assert m.primary is m.sources[0]
            assert m.format == min((s.format for s in m.sources), key=lambda f: ("debug2", "traceback", "pprof", "debug1").index(f))
        # one folder per series
        assert {s.series for m in moments for s in m.sources} == {sid}
        # crash dumps: as many as sigquit events, each a moment of its own at its time
        crashes = [m for m in moments if m.crash]
        events = [e for e in entry.get("events", []) if e["event"] == "sigquit"]
        assert [(Path(m.primary.path).name, m.time, len(m.sources)) for m in crashes] == [
            (e["file"], _second(e["time"]), 1) for e in events
        ], sid


@pytest.mark.corpus
def test_corpus_goroutineleak_files_are_evidence(corpus_dir: Path, corpus_grouping) -> None:  # type: ignore[no-untyped-def]
    _, _, _, grouping = corpus_grouping
    expected = {
        _series_id(t): sorted(e["file"] for e in t.get("events", []) if e["event"] == "goroutineleak") for t in _truth(corpus_dir)
    }
    expected = {k: v for k, v in expected.items() if v}
    assert expected == {"edge-gateway/host-a": ["goroutineleak.1796113361.debug1.txt", "goroutineleak.1796113361.debug2.txt"]}
    got = {sid: sorted(Path(s.path).name for s, _ in items) for sid, items in grouping.leak_evidence.items()}
    assert got == expected
    # neither is part of a snapshot
    in_moments = {Path(s.path).name for v in grouping.moments.values() for m, _ in v for s in m.sources}
    assert not in_moments & set(expected["edge-gateway/host-a"])


@pytest.mark.corpus
def test_corpus_billing_sigquit_is_a_crash_moment(corpus_grouping) -> None:  # type: ignore[no-untyped-def]
    _, _, _, grouping = corpus_grouping
    moments = grouping.moments["billing-worker"]
    last, summary_ = moments[-1]
    assert last.crash and summary_.crash
    assert [Path(s.path).name for s in last.sources] == ["billing-worker_2026-12-01T082253Z_sigquit.txt"]
    assert last.format == "traceback"
    # the regular dump of the same second stays its own snapshot, just before
    assert not moments[-2][0].crash and moments[-2][0].time == last.time


@pytest.mark.corpus
def test_corpus_archive_members_open_in_place(corpus_dir: Path) -> None:
    # the profile-cache archive is read member by member from the .tar.gz itself
    sources, skipped = walk(corpus_dir / "profile-cache.tar.gz", CFG)
    assert skipped == [] and len(sources) == 20
    assert {s.series for s in sources} == {"profile-cache"}
    assert all(s.fs_path == str(corpus_dir / "profile-cache.tar.gz") for s in sources)
    last = max(sources, key=lambda s: s.path)
    with tarfile.open(corpus_dir / "profile-cache.tar.gz") as tf:
        f = tf.extractfile(last.member)  # type: ignore[arg-type]
        assert f is not None
        assert read_all(last) == f.read()


def test_tar_members_read_from_many_threads_are_each_their_own(samples_dir: Path) -> None:
    """Dask workers parse from several threads of one process: no two may share a tar cursor."""
    from concurrent.futures import ThreadPoolExecutor

    from goroscope.pipeline import parse_one

    # GIVEN the members of a real compressed tar, each parsed alone
    sources, _ = walk(samples_dir / "profile-cache.tar.gz", CFG)
    want = {s.path: parse_one(s, CFG) for s in sources}
    archive.close_cursors()
    # WHEN four threads parse them at once, many times
    for _ in range(20):
        with ThreadPoolExecutor(4) as ex:
            got = dict(zip([s.path for s in sources], ex.map(lambda s: parse_one(s, CFG), sources)))
        archive.close_cursors()
        # THEN each got its own member
        assert got == want


def _browser_folder(moments: int, gap: float, pair: float, skip: tuple[int, ...] = ()) -> list:
    """Return parsed (Source, Summary) pairs of a browser-saved folder: `goroutine (k).txt` (debug=2) and,
    `pair` seconds later, `goroutine_debug1 (k).txt`, a moment every `gap` seconds; mtimes only."""
    t0 = 1796112000.0
    out = []
    for k in range(moments):
        n = "" if k == 0 else f" ({k})"
        out.append((source(f"b/goroutine{n}.txt", mtime=t0 + k * gap), summary(total=10 + k)))
        if k not in skip:
            out.append((source(f"b/goroutine_debug1{n}.txt", "debug1", mtime=t0 + k * gap + pair), summary("debug1", total=10 + k)))
    return out


def test_group_pairs_forms_saved_seconds_apart_without_a_shared_stem() -> None:
    # GIVEN twelve moments saved from a browser (`goroutine (10).txt` sorts before `(2)`), one without debug=1
    parsed = _browser_folder(12, 8.0, 1.5, skip=(7,))
    # WHEN grouped
    g = group(parsed, CFG)
    # THEN each moment is one snapshot, debug=2 primary with its debug=1 beside it, in time order
    moments = g.moments["b"]
    assert len(moments) == 12
    assert [m.primary.path for m, _ in moments] == [f"b/goroutine{'' if k == 0 else f' ({k})'}.txt" for k in range(12)]
    assert [len(m.sources) for m, _ in moments] == [1 if k == 7 else 2 for k in range(12)]
    assert all(s.path.endswith(m.primary.path[len("b/goroutine"):]) for m, _ in moments for s in m.sources)
    assert [sm.total for _, sm in moments] == [10 + k for k in range(12)]


@pytest.mark.parametrize("gap, pair", [(8.0, 4.0), (20.0, 6.0)])
def test_group_pairs_no_forms_whose_closest_partner_is_ambiguous_or_too_far(gap: float, pair: float) -> None:
    # GIVEN forms saved halfway between moments (each as close to two), or further than PAIR_SECONDS
    parsed = _browser_folder(4, gap, pair)
    # THEN nothing is paired but the first two, which share a stem (`goroutine`): one moment per file
    assert len(group(parsed, CFG).moments["b"]) == 7


def test_group_pairs_nothing_in_a_copied_folder_of_one_mtime() -> None:
    # GIVEN the browser's folder copied: every file the same mtime
    parsed = [(replace(src, mtime=1796112000.0), sm) for src, sm in _browser_folder(3, 8.0, 1.5)]
    # THEN no debug=1 has one closest debug=2: none is paired (but the first two, by their stem)
    assert len(group(parsed, CFG).moments["b"]) == 5


def test_group_places_a_wall_clock_content_time_and_says_so_once() -> None:
    # GIVEN two dumps timed by journald's short form (no year, no zone), the file written in January
    jan = datetime(2027, 1, 2, 3, 0, tzinfo=timezone.utc).timestamp()
    parsed = [
        (replace(source("j/svc.log#1", mtime=jan), part=1), summary(time=datetime(4, 12, 31, 23, 59, 50))),
        (replace(source("j/svc.log#2", mtime=jan), part=2), summary(time=datetime(4, 1, 2, 2, 0, 0))),
    ]
    # WHEN grouped in a configured zone
    cfg = replace(CFG, discovery=replace(CFG.discovery, timezone="Europe/Berlin"))
    g = group(parsed, cfg)
    # THEN December is last year's, January this year's, both read in Berlin time, and one note says so
    assert [m.time for m, _ in g.moments["j"]] == [
        datetime(2026, 12, 31, 22, 59, 50, tzinfo=timezone.utc), datetime(2027, 1, 2, 1, 0, tzinfo=timezone.utc)]
    assert [m.time_source for m, _ in g.moments["j"]] == ["content", "content"]
    (note,) = g.notes
    assert note.startswith("2 snapshots timed by a log's own clock") and "Europe/Berlin" in note


def test_group_places_untimed_dumps_of_a_file_by_their_order_between_its_timed_ones() -> None:
    # GIVEN five dumps of one log, the 2nd and 4th after a `date -u` line (content times), the rest untimed
    t = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
    end = t.replace(minute=30)
    whole = source("p/svc.log", mtime=end.timestamp())
    when = {2: t, 4: t.replace(minute=10)}
    parsed = [(replace(whole, path=f"p/svc.log#{k}", part=k), summary(time=when.get(k))) for k in range(1, 6)]
    # WHEN grouped
    g = group(parsed, CFG)
    # THEN the 3rd lies halfway between its neighbours, the 5th (the last) at the file's mtime,
    # the 1st just before the 2nd (only its order is known)
    got = [(m.primary.part, m.time, m.time_source) for m, _ in g.moments["p"]]
    assert got == [
        (1, t - timedelta(microseconds=1), "mtime"),
        (2, t, "content"),
        (3, t.replace(minute=5), "content"),
        (4, t.replace(minute=10), "content"),
        (5, end, "mtime"),
    ]


# -------------------------------------------------------------------- walk: what the cache knows of a folder


def _counting_cache(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[object, dict[str, list]]:  # type: ignore[no-untyped-def]
    """Return a summary cache at `path` counting the file listings and folder listings looked up, and those kept."""
    from goroscope.cache import SummaryCache

    calls: dict[str, list] = {"file": [], "folder": [], "kept": []}
    real_listing, real_folder, real_put = SummaryCache.get_listing, SummaryCache.get_folder, SummaryCache.put_listings
    monkeypatch.setattr(SummaryCache, "get_listing", lambda self, key: calls["file"].append(key) or real_listing(self, key))
    monkeypatch.setattr(SummaryCache, "get_folder", lambda self, key: calls["folder"].append(key) or real_folder(self, key))

    def put_listings(self, items, folders=()):  # type: ignore[no-untyped-def]
        calls["kept"].extend(sorted(found) for _, found in folders)
        return real_put(self, items, folders)

    monkeypatch.setattr(SummaryCache, "put_listings", put_listings)
    return SummaryCache.open(path), calls


def test_an_unchanged_folder_is_known_in_one_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN two pods of three dumps each, a note and an archive beside them, walked once with a cache
    root = tmp_path / "fleet"
    for pod in ("a", "b"):
        for k in range(3):
            make_dump(root, f"{pod}/goroutine-{k}.txt", DEBUG2)
    make_dump(root, "a/notes.txt", "nothing to see\n")
    (root / "b" / "more.tar.gz").write_bytes(build_tar([("x/d.txt", DEBUG2)]))
    cache, calls = _counting_cache(tmp_path / "c.sqlite3", monkeypatch)
    first = walk(root, CFG, cache)  # type: ignore[arg-type]
    assert calls["kept"] == [["goroutine-0.txt", "goroutine-1.txt", "goroutine-2.txt", "notes.txt"],
                             ["goroutine-0.txt", "goroutine-1.txt", "goroutine-2.txt", "more.tar.gz"]]
    # WHEN walked again, unchanged
    for c in calls.values():
        c.clear()
    again = walk(root, CFG, cache)  # type: ignore[arg-type]
    # THEN each folder is one lookup and no file is looked up on its own; what is found is the same, in the same order
    assert len(calls["folder"]) == 2 and calls["file"] == [] and calls["kept"] == []
    assert again == first == walk(root, CFG)
    # WHEN one pod has a dump more
    make_dump(root, "b/goroutine-3.txt", DEBUG2)
    for c in calls.values():
        c.clear()
    plus = walk(root, CFG, cache)  # type: ignore[arg-type]
    # THEN only that pod's files are looked up each on its own, and the pod is kept whole again as it is now
    assert len(calls["file"]) == 5 and calls["kept"] == [["goroutine-0.txt", "goroutine-1.txt", "goroutine-2.txt", "goroutine-3.txt", "more.tar.gz"]]
    assert plus == walk(root, CFG) and paths(plus[0]).count("b/goroutine-3.txt") == 1
    cache.close()  # type: ignore[attr-defined]


def test_a_folder_with_a_settling_file_is_not_kept_whole(tmp_path: Path, frozen_clock, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a pod with an old dump and one written two seconds ago, walked with settle_seconds=10 and a cache
    now = frozen_clock.time()
    make_dump(tmp_path / "fleet", "pod/old.txt", DEBUG2, mtime=now - 3600)
    make_dump(tmp_path / "fleet", "pod/new.txt", DEBUG2, mtime=now - 2)
    config = replace(CFG, discovery=Discovery(settle_seconds=10))
    cache, calls = _counting_cache(tmp_path / "c.sqlite3", monkeypatch)
    sources, skipped = walk(tmp_path / "fleet", config, cache)  # type: ignore[arg-type]
    # THEN the old one is read, the new one left for later, and the folder is not kept whole (it will change)
    assert paths(sources) == ["pod/old.txt"] and paths(skipped) == ["pod/new.txt"]
    assert calls["folder"] == [] and calls["kept"] == []
    # AND once it settled, the folder is read and kept whole
    frozen_clock.advance(60)
    assert paths(walk(tmp_path / "fleet", config, cache)[0]) == ["pod/new.txt", "pod/old.txt"]  # type: ignore[arg-type]
    assert calls["kept"] == [["new.txt", "old.txt"]]
    cache.close()  # type: ignore[attr-defined]


def test_a_damaged_folder_listing_is_walked_again(tmp_path: Path) -> None:
    import sqlite3

    from goroscope.cache import SummaryCache

    # GIVEN a pod walked once with a cache, then every stored listing damaged
    for k in range(3):
        make_dump(tmp_path / "fleet", f"pod/d{k}.txt", DEBUG2)
    cache = SummaryCache.open(tmp_path / "c.sqlite3")
    first = walk(tmp_path / "fleet", CFG, cache)
    cache.close()
    with sqlite3.connect(tmp_path / "c.sqlite3") as db:
        db.execute("UPDATE listings SET value = ?", (b"\x00junk",))
    # WHEN walked again
    cache = SummaryCache.open(tmp_path / "c.sqlite3")
    again = walk(tmp_path / "fleet", CFG, cache)
    # THEN the damage is named, each file looked at again, and what is found is the same
    assert again == first and any("listing of a folder is unreadable" in w for w in cache.warnings)
    cache.close()
