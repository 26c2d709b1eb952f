"""Builders for test inputs: dump files on disk, tar and zip archives in memory.

`make_dump(tmp_path, name, text)` writes a dedented dump (gzipped when the name ends
in .gz); `build_tar(members)` / `build_zip(members)` return archive bytes built in
memory from `Member`s (or plain `(name, data)` pairs), including the unsafe shapes
(traversal names, links, devices) the bad-input tests need. `run(capsys, *args)` runs
the CLI in-process and returns its exit code, stdout and stderr.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import tarfile
import textwrap
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from goroscope import cli

__all__ = ["Member", "make_dump", "build_tar", "build_zip", "dedent", "DEFAULT_MTIME", "REPO", "CORPUS", "CORPUS_SRC", "PEER", "need", "LEAK_DEBUG2"]

REPO = Path(__file__).resolve().parents[1]
# The dev corpus lies beside the clone (shared/corpus); $GOROSCOPE_CORPUS overrides.
CORPUS = Path(os.environ.get("GOROSCOPE_CORPUS") or REPO.parent / "shared" / "corpus")
CORPUS_SRC = CORPUS.parent / "corpus-src"
PEER = CORPUS.parent / "peer"  # other parsers' fixtures and goldens


def need(path: Path, what: str) -> Path:
    """Return `path`, or skip with the reason when it is missing (fail instead when CI is set)."""
    import pytest

    if path.exists():
        return path
    message = f"{what} not found at {path}"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI is set, so this is an error, not a skip")
    pytest.skip(message)

DEFAULT_MTIME = 1796112000  # 2026-12-01T08:00:00Z


def dedent(text: str) -> str:
    """Return `text` dedented, without its leading newline (what dumps look like)."""
    return textwrap.dedent(text).lstrip("\n")


def make_dump(tmp_path: Path, name: str, text: str | bytes, mtime: float | None = None) -> Path:
    """Write `text` (dedented) to tmp_path/name, gzipped when `name` ends in .gz; return the path."""
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = dedent(text).encode() if isinstance(text, str) else text
    if name.endswith(".gz") and not name.endswith((".tar.gz", ".tgz")):
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    if mtime is not None:
        import os

        os.utime(path, (mtime, mtime))
    return path


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """One archive member to build: a file, or a link/device/fifo/folder entry."""

    name: str  # the member name as stored (unsafe names allowed: this is for tests)
    data: bytes | str = b""  # file content (str is dedented and encoded)
    kind: str = "file"  # file | dir | symlink | hardlink | chardev | fifo
    linkname: str = ""  # target of a link
    mtime: float = DEFAULT_MTIME  # member mtime


def _members(members: Iterable[Member | tuple[str, bytes | str]]) -> list[Member]:
    out = []
    for m in members:
        out.append(m if isinstance(m, Member) else Member(name=m[0], data=m[1]))
    return out


def _content(m: Member) -> bytes:
    return dedent(m.data).encode() if isinstance(m.data, str) else m.data


_TAR_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "chardev": tarfile.CHRTYPE,
    "fifo": tarfile.FIFOTYPE,
}


def build_tar(members: Iterable[Member | tuple[str, bytes | str]], compression: str = "gz") -> bytes:
    """Return the bytes of a tar archive of `members`; compression '' | 'gz' | 'bz2' | 'xz'."""
    buf = io.BytesIO()
    mode = f"w:{compression}" if compression else "w"
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.PAX_FORMAT) as tf:  # type: ignore[call-overload]
        for m in _members(members):
            info = tarfile.TarInfo(m.name)
            info.type = _TAR_TYPES[m.kind]
            info.mtime = int(m.mtime)
            info.linkname = m.linkname
            info.mode = 0o755 if m.kind == "dir" else 0o644
            if m.kind == "file":
                data = _content(m)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return buf.getvalue()


def build_zip(members: Iterable[Member | tuple[str, bytes | str]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """Return the bytes of a zip archive of `members` (symlinks stored the way Info-ZIP does)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for m in _members(members):
            date_time = time.gmtime(m.mtime)[:6]
            info = zipfile.ZipInfo(m.name + ("/" if m.kind == "dir" and not m.name.endswith("/") else ""), date_time)
            info.compress_type = compression
            if m.kind == "symlink":
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, m.linkname)
            elif m.kind == "dir":
                info.external_attr = (stat.S_IFDIR | 0o755) << 16
                zf.writestr(info, b"")
            else:
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                zf.writestr(info, _content(m))
    return buf.getvalue()


# what runtime/pprof writes for /debug/pprof/goroutineleak?debug=2: a full dump taken
# by the writer goroutine, whose own stack names writeGoroutineLeak (dedent before use)
LEAK_DEBUG2 = """
    goroutine 4412 [running]:
    runtime/pprof.writeGoroutineStacks({0xab8798, 0xc115875e000})
    \t/usr/local/go/src/runtime/pprof/pprof.go:816 +0x69
    runtime/pprof.writeGoroutineLeak({0xab8798, 0xc115875e000}, 0x2)
    \t/usr/local/go/src/runtime/pprof/pprof.go:803 +0xa8

    goroutine 7 [chan receive (nil chan) (leaked)]:
    main.leak()
    \t/src/app/main.go:20 +0x25
"""


# ------------------------------------------------------- real captured series


def suspect_sites(report) -> dict[tuple[str, str, int], object]:
    """Return every suspect of a Report by (function, file, line) of its leak site and of its variants' sites."""
    out = {}
    for x in report.suspects:
        out[(x.leak_site.function, x.leak_site.file, x.leak_site.line)] = x
        for v in x.variants:
            out.setdefault((v.leak_site.function, v.leak_site.file, v.leak_site.line), x)
    return out


def whole_series(folder: Path, config=None) -> tuple:
    """Return every Series of the archive `folder` with all of its timelines, as correlation makes them
    (a report keeps of each series the timelines it shows, and a digest of the rest)."""
    from goroscope import incremental, pipeline
    from goroscope.config import Config
    from goroscope.ingest import discover

    config = config or Config()
    sources, _ = discover.walk(folder, config)
    files = [incremental.ParsedFile.parsed(src, s, None) for src in sources
             if not isinstance(s := pipeline.parse_one(src, config), pipeline.Skipped)]
    return incremental.correlate_all(folder, files, config, incremental.Window(), None, lambda src: pipeline.parse_one(src, config)).series


def truth_site(entry: dict) -> tuple[str, str, int]:
    """Return the (function, file, line) of a truth.yaml entry."""
    return (entry["function"], entry["file"], entry["line"])


def one_form(series: Path, root: Path, suffix: str) -> Path:
    """Return a folder under `root` holding only the files of `series` whose names end in `suffix` (made once)."""
    d = root / suffix.strip(".").replace(".", "-")
    if not d.is_dir():
        d.mkdir(parents=True)
        for f in series.glob("*" + suffix):
            shutil.copy2(f, d / f.name)
    return d


def read_pty(master: int) -> bytes:
    """Return all a pty's `master` side gives until its slave side is closed (EIO on Linux)."""
    import os

    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)

def run(capsys, *args: str) -> tuple[int, str, str]:
    """Run `goroscope ARGS` in-process; return (exit code, stdout, stderr)."""
    try:
        cli.main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err
