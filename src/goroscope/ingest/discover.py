"""Discovery: find the dump files of an archive, and group parsed files into snapshots.

Contract:

- `walk(archive, config) -> (sources, skipped)` lists every regular file under
  `archive` (a folder, one .tar/.tar.gz/.tgz/.zip, or one dump file, gzipped or not).
  Tar and zip archives found in the tree are read member by member, streamed, never
  extracted. Each file is classified by its first `SNIFF_BYTES` (decompressed) with
  `ingest.sniff`; what is not a goroutine dump, goroutineleak or heap profile (or a
  protobuf profile of still unknown kind) is returned as Skipped with a reason a
  person understands. VCS folders (.git, .hg, .svn) are passed over silently;
  symbolic links are followed once (a loop, a broken link or a second way to the same
  file is Skipped); unreadable files and folders, unsafe or non-regular archive
  members and corrupt archives are Skipped, naming the OS error or the member. Files
  changed less than `settle_seconds` ago are Skipped with a reason starting
  "settling:". At most `max_files` files are walked. A debug=1 file of several
  back-to-back profiles becomes one Source per profile (`part` N, path `FILE#N`).
- `open_source(source, config)` opens one Source again, in any process, from the
  Source alone: a buffered binary reader of its decompressed content, bounded by
  `max_inflate_bytes`. Read errors surface as DumpError naming the file (and member).
- `group(parsed, config) -> Grouping` turns (Source, Summary) pairs into per-series
  snapshots in time order (DESIGN.md "Snapshots"): files whose names share a stem once
  format suffixes are removed (files of different forms), or whose name or content
  times are equal to the second (never two profiles of one file), are one Moment
  whose primary is the richest format; a crash dump is a Moment of its own; a
  goroutineleak profile is evidence for its series; a heap profile is a MemoryPoint;
  any other profile is Skipped.

Display paths are relative to the archive root and '/'-separated; inside an archive
file the archive's name is a folder ('x.tar.gz/pods/a/f.txt'), except when ARCHIVE
itself is the archive file: then the root is its contents.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import io
import os
import re
import stat
import tarfile
import threading
import time
import zipfile
import zlib
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from goroscope.config import Config
from goroscope.errors import DumpError
from goroscope.ingest import GZIP_MAGIC, SNIFF_BYTES, GuardedReader, Sniff, open_decompressed, read_error_reason, sniff
from goroscope.ingest.aggregated import count_profiles
from goroscope.model import (
    FORMAT_RICHNESS,
    PROFILE_GOROUTINE,
    PROFILE_GOROUTINELEAK,
    PROFILE_HEAP,
    MemoryPoint,
    Moment,
    Skipped,
    Source,
    Summary,
)
from goroscope.timestamps import name_time

__all__ = ["walk", "open_source", "split_points", "group", "Grouping", "stem_of", "close_cursors", "VCS_DIRS"]

VCS_DIRS = frozenset({".git", ".hg", ".svn", ".bzr"})  # passed over without a word

# Name endings of archive files (checked after the content: a gzip holding a tar is
# a tar whatever its name).
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz")
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_BZ2_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zXZ\x00"

# Name parts that say how a file is written, not which moment it is of; removed from
# the end of a name to find its stem (separated by '.', '_' or '-').
_FORMAT_WORDS = frozenset(
    {
        "txt", "text", "log", "out", "dump", "gz", "gzip", "pb", "pprof", "prof", "proto", "bin",
        "debug", "debug0", "debug1", "debug2", "debug=0", "debug=1", "debug=2",
        "debug_0", "debug_1", "debug_2", "goroutine", "goroutines", "stacks", "stack",
    }
)  # fmt: skip

_CHUNK = 1 << 20
_TAR_BUFFER = 1 << 16  # read-ahead over a decompressed tar stream


# ------------------------------------------------------------------------ records


@dataclass(frozen=True, slots=True, kw_only=True)
class Grouping:
    """What group() makes of the parsed files: snapshots, evidence, memory, skips."""

    moments: dict[str, tuple[tuple[Moment, Summary], ...]]  # series id -> snapshots in time order
    leak_evidence: dict[str, tuple[tuple[Source, Summary], ...]]  # series id -> goroutineleak profiles
    memory: dict[str, tuple[MemoryPoint, ...]]  # series id -> heap in use over time
    skipped: tuple[Skipped, ...] = ()  # parsed files that are none of the above, with reasons


# --------------------------------------------------------------------------- walk


def _now() -> float:
    """Return the current time in seconds since the epoch (tests freeze it)."""
    return time.time()


class _Walk:
    """The state of one walk: what was found, what was skipped, what was seen."""

    def __init__(self, root: Path, config: Config) -> None:
        self.root = root
        self.config = config
        self.disc = config.discovery
        self.sources: list[Source] = []
        self.skipped: list[Skipped] = []
        self.count = 0  # files (and members) walked
        self.full = False  # max_files reached
        self.seen_files: dict[tuple[int, int], str] = {}  # (dev, ino) -> display path
        self.seen_dirs: dict[tuple[int, int], str] = {}
        self.deferred: list[tuple[Path, str]] = []  # symbolic links, followed after the tree
        self.profiles: dict[int, int | None] = {}  # index in sources of a debug=1 file -> its profiles (None: not yet counted)
        self.now = _now()
        self._series_re = re.compile(self.disc.series_pattern) if self.disc.series_pattern else None

    # -- bookkeeping

    def skip(self, path: str, reason: str) -> None:
        """Record `path` as not used, for `reason`."""
        self.skipped.append(Skipped(path=path, reason=reason))

    def take_slot(self, path: str) -> bool:
        """Count one more file; return False (and say so once) past max_files."""
        if self.full:
            return False
        if self.count >= self.disc.max_files:
            self.full = True
            self.skip(
                path,
                f"not read: the walk stopped at max_files ({self.disc.max_files}) files; "
                "this and every later file were left out",
            )
            return False
        self.count += 1
        return True

    def series_of(self, path: str) -> str:
        """Return the series id of the file at display path `path`."""
        if self._series_re is not None:
            m = self._series_re.search(path)
            if m is not None:
                if "series" in self._series_re.groupindex and m.group("series") is not None:
                    return m.group("series")
                if self._series_re.groups >= 1 and m.group(1) is not None:
                    return m.group(1)
                if self._series_re.groups == 0:
                    return m.group(0)
        parent = PurePosixPath(path).parent.as_posix()
        return "." if parent in ("", ".") else parent

    def settling(self, path: str, mtime: float) -> bool:
        """Skip `path` as settling when it changed less than settle_seconds ago."""
        settle = self.disc.settle_seconds
        if settle <= 0:
            return False
        age = self.now - mtime
        if age >= settle:
            return False
        when = f"{age:.0f}s ago" if age >= 0 else "in the future"
        self.skip(path, f"settling: modified {when}, less than settle_seconds ({settle:g}s); read on a later run")
        return True

    def add(self, draft: Source, head: bytes | None, error: str | None) -> None:
        """Classify `draft` from its first bytes and add it as a Source or a Skipped."""
        if error is not None:
            self.skip(draft.path, error)
            return
        assert head is not None
        if _is_archive_head(head):
            # (a tar's first member may well be a dump that sniffing would see)
            self.skip(draft.path, "an archive inside an archive: not read (unpack the outer one first)")
            return
        found = sniff(head)
        if found is None:
            self.skip(draft.path, _not_a_dump(head))
            return
        profile = _refine_profile(found, head)
        if found.format == "other_text" or profile not in (PROFILE_GOROUTINE, PROFILE_GOROUTINELEAK, PROFILE_HEAP, "unknown"):
            self.skip(draft.path, f"a {profile} profile, not a goroutine dump: not used")
            return
        src = replace(draft, format=found.format, profile=profile, crash=found.crash, line_prefix=found.prefix)
        self.sources.append(src)
        if found.format == "debug1":
            # a collector may append profile after profile to one file: each is a snapshot
            # (a file longer than its head is counted once the walk is done)
            n = count_profiles(io.BytesIO(head), found.prefix) if len(head) < SNIFF_BYTES else None
            self.profiles[len(self.sources) - 1] = n

    def draft(self, path: str, fs_path: str, member: str | None, size: int, mtime: float) -> Source:
        """Return the Source for `path` before sniffing."""
        return Source(
            path=path,
            fs_path=fs_path,
            member=member,
            size=size,
            mtime=mtime,
            series=self.series_of(path),
            name_time=name_time(PurePosixPath(path).name, self.disc),
        )


def walk(archive: Path, config: Config) -> tuple[list[Source], list[Skipped]]:
    """Return every dump file under `archive` as a Source, and every other file as Skipped."""
    archive = Path(archive)
    w = _Walk(archive, config)
    try:
        st = os.stat(archive)
    except OSError as e:
        w.skip(archive.name or str(archive), f"cannot read: {_os_reason(e)}")
        return w.sources, w.skipped
    if stat.S_ISDIR(st.st_mode):
        w.seen_dirs[(st.st_dev, st.st_ino)] = "."
        _walk_dir(w, archive, "")
        # symbolic links last, so that what they lead to is known by its own path first
        while w.deferred and not w.full:
            full, path = w.deferred.pop(0)
            _follow_link(w, full, path)
    else:
        _walk_file(w, archive, archive.name, st, root_archive=True)
    return _profile_parts(w), w.skipped


def _profile_parts(w: _Walk) -> list[Source]:
    """Return the walk's sources with every file of back-to-back debug=1 profiles
    replaced by one Source per profile (`path#N`, part N)."""
    if not any(n is None or n > 1 for n in w.profiles.values()):
        return w.sources
    out: list[Source] = []
    for i, src in enumerate(w.sources):
        n = w.profiles.get(i, 1)
        if n is None:
            try:
                with open_source(src, w.config) as stream:
                    n = count_profiles(stream, src.line_prefix)
            except (DumpError, OSError, EOFError, zlib.error):
                n = 1  # the parser will say what is wrong with it
        if n <= 1:
            out.append(src)
        else:
            out.extend(replace(src, path=f"{src.path}#{k}", part=k) for k in range(1, n + 1))
    return out


def _walk_dir(w: _Walk, folder: Path, prefix: str) -> None:
    """Walk `folder` (display prefix `prefix`, '' for the root) depth first, in name order;
    symbolic links are put aside for later."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as e:
        w.skip(prefix.rstrip("/") or ".", f"cannot read folder: {_os_reason(e)}")
        return
    for entry in entries:
        if w.full:
            return
        path = prefix + entry.name
        full = folder / entry.name
        try:
            if entry.is_symlink():
                w.deferred.append((full, path))
                continue
            st = entry.stat(follow_symlinks=False)
        except OSError as e:
            w.skip(path, f"cannot read: {_os_reason(e)}")
            continue
        _walk_entry(w, full, path, st, entry.name)


def _follow_link(w: _Walk, full: Path, path: str) -> None:
    """Walk what the symbolic link `full` (display path `path`) leads to, unless known or broken."""
    try:
        st = os.stat(full)
    except OSError as e:
        if e.errno == errno.ELOOP:
            w.skip(path, "symbolic link loop: not followed")
        elif e.errno == errno.ENOENT:
            try:
                target = os.readlink(full)
            except OSError:
                target = "?"
            w.skip(path, f"broken symbolic link (to {target}): not followed")
        else:
            w.skip(path, f"cannot follow symbolic link: {_os_reason(e)}")
        return
    _walk_entry(w, full, path, st, full.name)


def _walk_entry(w: _Walk, full: Path, path: str, st: os.stat_result, name: str) -> None:
    """Walk one folder entry: a folder (once), a regular file (once), or skip it."""
    key = (st.st_dev, st.st_ino)
    if stat.S_ISDIR(st.st_mode):
        if name in VCS_DIRS:
            return
        seen = w.seen_dirs.get(key)
        if seen is not None:
            if seen == "." or path.startswith(seen + "/"):
                w.skip(path, f"symbolic link loop: leads back to the folder {seen!r}; not followed")
            else:
                w.skip(path, f"the same folder as {seen!r} (through a link): read once")
            return
        w.seen_dirs[key] = path
        _walk_dir(w, full, path + "/")
    elif stat.S_ISREG(st.st_mode):
        seen = w.seen_files.get(key)
        if seen is not None:
            w.skip(path, f"the same file as {seen!r} (a link): read once")
            return
        w.seen_files[key] = path
        _walk_file(w, full, path, st, root_archive=False)
    else:
        w.skip(path, f"not a regular file ({_kind_of(st.st_mode)}): not read")


def _walk_file(w: _Walk, fs_path: Path, path: str, st: os.stat_result, *, root_archive: bool) -> None:
    """Add the regular file `fs_path` (display path `path`), or the members of an archive."""
    if not w.take_slot(path):
        return
    if w.settling(path, st.st_mtime):
        return
    try:
        kind = _archive_kind(str(fs_path))
    except OSError as e:
        w.skip(path, f"cannot read: {_os_reason(e)}")
        return
    except DumpError as e:
        w.skip(path, e.reason)
        return
    if kind is not None:
        w.count -= 1  # the archive itself is not one of the files; its members are
        prefix = "" if root_archive else path + "/"
        if kind == "zip":
            _walk_zip(w, fs_path, path, prefix)
        else:
            _walk_tar(w, fs_path, path, prefix)
        return
    draft = w.draft(path, str(fs_path), None, st.st_size, st.st_mtime)
    head, error = _read_head(lambda: open_source(draft, w.config, buffer_size=SNIFF_BYTES))
    w.add(draft, head, error)


# ------------------------------------------------------------------ archive kinds


def _archive_kind(fs_path: str) -> str | None:
    """Return 'zip' or 'tar' when the file at `fs_path` is an archive, else None."""
    with open(fs_path, "rb") as raw:
        magic = raw.read(8)
        if magic.startswith(_ZIP_MAGICS):
            return "zip"
        raw.seek(0)
        if magic.startswith(GZIP_MAGIC):
            try:
                with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                    head = gz.read(512)
            except (OSError, EOFError, zlib.error):
                head = b""
        elif magic.startswith(_BZ2_MAGIC) or magic.startswith(_XZ_MAGIC):
            return "tar" if fs_path.lower().endswith(_TAR_SUFFIXES) else None
        else:
            head = raw.read(512)
    if _is_tar_head(head):
        return "tar"
    lower = fs_path.lower()
    if lower.endswith(".zip"):
        return "zip"
    if lower.endswith(_TAR_SUFFIXES):
        return "tar"
    return None


def _is_tar_head(head: bytes) -> bool:
    """Return True when `head` starts with a POSIX (ustar/GNU) tar header."""
    return len(head) >= 262 and head[257:262] == b"ustar"


def _is_archive_head(head: bytes) -> bool:
    """Return True when decompressed `head` is itself a tar or zip archive."""
    return head.startswith(_ZIP_MAGICS) or _is_tar_head(head)


# -------------------------------------------------------------------- archive walks


def _safe_member_name(name: str) -> str | None:
    """Return `name` normalised ('./a//b' -> 'a/b'), or None when it could escape the root."""
    n = name.replace("\\", "/")
    if n.startswith("/") or re.match(r"^[A-Za-z]:", n):
        return None
    parts = [p for p in n.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return "/".join(parts)


def _in_vcs_dir(name: str) -> bool:
    """Return True when the member `name` lies inside a VCS folder."""
    return any(p in VCS_DIRS for p in name.split("/")[:-1])


class _Recorder(io.RawIOBase):
    """A raw reader of a decompressed tar stream: counts bytes against `bound` and keeps
    the last chunks, so the header block where tarfile stopped can be looked at again."""

    TAIL = 1 << 18  # more than tarfile's record buffer plus ours (_TAR_BUFFER)

    def __init__(self, inner: BinaryIO, bound: int) -> None:
        super().__init__()
        self._inner = inner
        self._bound = bound
        self.total = 0  # bytes delivered so far
        self._chunks: deque[bytes] = deque()  # the last chunks delivered, at least TAIL bytes
        self._kept = 0  # bytes in _chunks

    def readable(self) -> bool:
        """Return True: this is a reader."""
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def,override]
        """Read into `b`, failing once the stream passes the bound."""
        data = self._inner.read(len(b))
        n = len(data)
        self.total += n
        if self.total > self._bound:
            raise DumpError("", f"the archive decompresses to more than {self._bound} bytes (the max_inflate_bytes bound)")
        if n:
            self._chunks.append(data)
            self._kept += n
            while self._kept - len(self._chunks[0]) >= self.TAIL:
                self._kept -= len(self._chunks.popleft())
        b[:n] = data
        return n

    def block_at(self, offset: int) -> bytes | None:
        """Return the block from `offset` on, as far as it is still kept, or None if gone."""
        start = self.total - self._kept
        if offset < start:
            return None
        return b"".join(self._chunks)[offset - start : offset - start + tarfile.BLOCKSIZE]

    def close(self) -> None:
        """Close the decompressor underneath."""
        if not self.closed:
            super().close()
            self._inner.close()


class _TarHandle:
    """An open tar archive and the file objects under it, closed together."""

    def __init__(self, tf: tarfile.TarFile, rec: _Recorder | None, base: BinaryIO) -> None:
        self.tf = tf  # the archive
        self.rec = rec  # the decompressed stream of a compressed archive, None for a plain tar
        self._base = base  # what tarfile was given (it does not close what it was given)

    def close(self) -> None:
        """Close the archive and its file."""
        try:
            self.tf.close()
        finally:
            self._base.close()


def _open_tar(fs_path: str, bound: int) -> _TarHandle:
    """Open the tar at `fs_path`: seekable when plain, else streamed through a bounded decompressor."""
    raw = open(fs_path, "rb")
    try:
        magic = raw.read(8)
        raw.seek(0)
        if magic.startswith(GZIP_MAGIC):
            inner: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        elif magic.startswith(_BZ2_MAGIC):
            import bz2

            inner = bz2.BZ2File(raw)  # type: ignore[assignment]
        elif magic.startswith(_XZ_MAGIC):
            import lzma

            inner = lzma.LZMAFile(raw)  # type: ignore[assignment]
        else:
            return _TarHandle(tarfile.open(fileobj=raw, mode="r:"), None, raw)
        rec = _Recorder(_Owning(inner, raw), bound)  # type: ignore[arg-type]
        base = io.BufferedReader(rec, _TAR_BUFFER)
        return _TarHandle(tarfile.open(fileobj=base, mode="r|"), rec, base)  # type: ignore[arg-type]
    except BaseException:
        raw.close()
        raise


class _Owning:
    """A file object that closes `also` when it is closed (a decompressor and its file)."""

    def __init__(self, inner: BinaryIO, also: BinaryIO) -> None:
        self._inner = inner
        self._also = also

    def read(self, n: int = -1) -> bytes:
        """Read up to `n` bytes."""
        return self._inner.read(n)

    def close(self) -> None:
        """Close both."""
        try:
            self._inner.close()
        finally:
            self._also.close()


class _Tripwire(io.RawIOBase):
    """A raw reader over a tar member that remembers the error the archive stream raised."""

    def __init__(self, inner: BinaryIO) -> None:
        super().__init__()
        self._inner = inner
        self.broken: BaseException | None = None

    def readable(self) -> bool:
        """Return True: this is a reader."""
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def,override]
        """Read into `b`, remembering a failure of the archive underneath."""
        try:
            data = self._inner.read(len(b))
        except BaseException as e:
            self.broken = e
            raise
        b[: len(data)] = data
        return len(data)


def _end_problem(tf: tarfile.TarFile, rec: _Recorder | None) -> str | None:
    """Return what is wrong where tarfile stopped reading headers, or None at a clean end."""
    offset = tf.offset
    if rec is None:
        f = tf.fileobj
        assert f is not None
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if offset > size:
            return "the archive ends inside a member"
        f.seek(offset)
        block = f.read(tarfile.BLOCKSIZE)
    else:
        # tarfile has pulled the block it could not read through the recorder
        block = rec.block_at(offset)
        if block is None:
            return None
    if not block:
        return None  # ends at a member boundary without the end-of-archive blocks
    if len(block) < tarfile.BLOCKSIZE:
        return "the archive ends inside a member header"
    if block.count(0) == len(block):
        return None
    return "a damaged member header"


def _walk_tar(w: _Walk, fs_path: Path, apath: str, prefix: str) -> None:
    """Add the members of the tar archive `fs_path` (display path `apath`), streamed."""
    bound = w.disc.max_inflate_bytes
    names: set[str] = set()
    current: str | None = None
    last: str | None = None

    def kept() -> int:
        """Return how many members of this archive are Sources."""
        return sum(1 for s in w.sources if s.fs_path == str(fs_path))

    def broken(what: str) -> None:
        """Record the archive as corrupt where it broke, dropping the incomplete member."""
        if current is not None:
            # the member being read when the archive broke is incomplete: do not list it
            w.sources = [s for s in w.sources if not (s.fs_path == str(fs_path) and s.member == current)]
        at = f"at member {current!r}" if current else (f"after member {last!r}" if last else "at its start")
        w.skip(apath, f"corrupt archive {at}: {what}; the {kept()} member(s) read before were kept")

    try:
        handle = _open_tar(str(fs_path), bound)
        tf, rec = handle.tf, handle.rec
    except OSError as e:
        w.skip(apath, f"cannot read: {_os_reason(e)}")
        return
    except (tarfile.TarError, EOFError, zlib.error) as e:
        w.skip(apath, f"corrupt archive: {read_error_reason(e)}")
        return
    try:
        with contextlib.closing(handle):
            while True:
                current = None
                m = tf.next()
                if m is None:
                    problem = _end_problem(tf, rec)
                    if problem is not None:
                        broken(problem)
                    return
                current = m.name
                if not _walk_tar_member(w, tf, m, str(fs_path), rec is not None, prefix, names, bound):
                    return
                last = m.name
    except DumpError as e:
        if e.reason.startswith("the archive decompresses"):
            w.skip(apath, f"{e.reason}; members from {current!r} on were not read" if current else e.reason)
        else:
            broken(e.reason)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        broken(read_error_reason(e))


def _walk_tar_member(
    w: _Walk,
    tf: tarfile.TarFile,
    m: tarfile.TarInfo,
    fs_path: str,
    streamed: bool,
    prefix: str,
    names: set[str],
    bound: int,
) -> bool:
    """Add one tar member; return False when the archive must not be read further."""
    if m.isdir():
        return True
    safe = _safe_member_name(m.name)
    path = prefix + (safe if safe is not None else m.name.lstrip("/"))
    if safe is None:
        w.skip(path, f"unsafe member name {m.name!r} (absolute or leading out of the archive): not read")
        return True
    if _in_vcs_dir(safe):
        return True
    if not m.isreg():
        w.skip(path, f"{_tar_kind(m)} inside the archive: not read")
        return True
    if not w.take_slot(path):
        return False
    if safe in names:
        w.skip(path, "a second member of the same name in the archive: only the first is read")
        return True
    names.add(safe)
    if m.size > bound:
        if streamed:
            # going past it would inflate more than the bound, too
            w.skip(path, f"member is {m.size} bytes, more than max_inflate_bytes ({bound}); the archive was not read past it")
            return False
        w.skip(path, f"member is {m.size} bytes, more than max_inflate_bytes ({bound})")
        return True
    draft = w.draft(path, fs_path, m.name, m.size, float(m.mtime))
    fobj = tf.extractfile(m)
    assert fobj is not None
    trip = _Tripwire(fobj)
    head, error = _read_head(
        lambda: _guarded(open_decompressed(io.BufferedReader(trip, _CHUNK), path, bound), path),  # type: ignore[arg-type]
        close=False,
    )
    if trip.broken is not None:
        raise trip.broken
    if streamed:
        # read the rest now, so that a broken stream is blamed on this member
        while fobj.read(_CHUNK):
            pass
    w.add(draft, head, error)
    return True


def _tar_kind(m: tarfile.TarInfo) -> str:
    """Return what a non-regular tar member is, for a person."""
    if m.issym():
        return f"a symbolic link (to {m.linkname!r})"
    if m.islnk():
        return f"a hard link (to {m.linkname!r})"
    if m.ischr() or m.isblk():
        return "a device"
    if m.isfifo():
        return "a fifo"
    return "a special member"


def _walk_zip(w: _Walk, fs_path: Path, apath: str, prefix: str) -> None:
    """Add the members of the zip archive `fs_path` (display path `apath`)."""
    bound = w.disc.max_inflate_bytes
    try:
        zf = zipfile.ZipFile(fs_path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        w.skip(apath, f"corrupt archive: {read_error_reason(e)}")
        return
    with zf:
        infos = zf.infolist()
        last_of: dict[str, int] = {}
        for i, info in enumerate(infos):
            last_of[info.filename] = i
        for i, info in enumerate(infos):
            if w.full:
                return
            if info.is_dir():
                continue
            safe = _safe_member_name(info.filename)
            path = prefix + (safe if safe is not None else info.filename.lstrip("/"))
            if safe is None:
                w.skip(path, f"unsafe member name {info.filename!r} (absolute or leading out of the archive): not read")
                continue
            if _in_vcs_dir(safe):
                continue
            mode = (info.external_attr >> 16) & 0xFFFF
            if mode and not stat.S_ISREG(mode):
                w.skip(path, f"{'a symbolic link' if stat.S_ISLNK(mode) else _kind_of(mode)} inside the archive: not read")
                continue
            if not w.take_slot(path):
                return
            if last_of[info.filename] != i:
                w.skip(path, "an earlier member of the same name in the archive: only the last is read")
                continue
            if info.flag_bits & 0x1:
                w.skip(path, "an encrypted member: not read")
                continue
            if info.file_size > bound:
                w.skip(path, f"member decompresses to {info.file_size} bytes, more than max_inflate_bytes ({bound})")
                continue
            draft = w.draft(path, str(fs_path), info.filename, info.compress_size, _zip_mtime(info, w.disc.timezone))

            def opener(info: zipfile.ZipInfo = info, path: str = path) -> BinaryIO:
                """Open this member, decompressed and bounded."""
                member = _zip_member(zf, info, path, bound)
                try:
                    return _guarded(open_decompressed(member, path, bound), path, owned=(member,))
                except BaseException:
                    member.close()
                    raise

            head, error = _read_head(opener)
            w.add(draft, head, error)


def _zip_mtime(info: zipfile.ZipInfo, zone: str) -> float:
    """Return a zip member's mtime: the UTC extended timestamp if any, else its DOS time in `zone`."""
    extra = info.extra
    i = 0
    while i + 4 <= len(extra):
        tag, size = int.from_bytes(extra[i : i + 2], "little"), int.from_bytes(extra[i + 2 : i + 4], "little")
        body = extra[i + 4 : i + 4 + size]
        if tag == 0x5455 and len(body) >= 5 and body[0] & 1:
            return float(int.from_bytes(body[1:5], "little", signed=True))
        i += 4 + size
    from zoneinfo import ZoneInfo

    try:
        return datetime(*info.date_time, tzinfo=ZoneInfo(zone)).timestamp()
    except ValueError:
        return 0.0


def _zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, bound: int) -> BinaryIO:
    """Return a reader of one zip member that fails once more than `bound` bytes came out."""
    return io.BufferedReader(GuardedReader(zf.open(info), path, bound, what="member"), _CHUNK)


# --------------------------------------------------------------------- open_source


def split_points(source: Source, parts: int, min_part_bytes: int) -> list[tuple[int, int]] | None:
    """Return `parts` byte ranges of `source` that each start at a goroutine header, or None.

    Only a plain text dump on disk (not gzipped, not an archive member) of at least
    `parts * min_part_bytes` bytes is split, so that one huge debug=2 dump can be
    parsed on several cores; each range but the last ends with the blank line that
    closes a goroutine. None where splitting does not apply or finds no boundary.
    """
    if parts < 2 or source.member is not None or source.line_prefix is not None or source.format not in ("debug2", "traceback"):
        return None
    size = source.size
    if size < parts * min_part_bytes:
        return None
    starts = [0]
    try:
        with open(source.fs_path, "rb") as f:
            if f.read(2) == GZIP_MAGIC:
                return None
            for i in range(1, parts):
                at = max(size * i // parts, starts[-1] + 1)
                f.seek(at)
                window = f.read(4 << 20)
                k = window.find(b"\n\ngoroutine ")
                if k < 0:
                    break
                starts.append(at + k + 2)
    except OSError:
        return None
    if len(starts) < 2:
        return None
    return [(a, b) for a, b in zip(starts, starts[1:] + [size])]


class _Span(io.RawIOBase):
    """A raw reader of bytes [start, end) of an open file."""

    def __init__(self, raw: BinaryIO, start: int, end: int) -> None:
        super().__init__()
        raw.seek(start)
        self._raw = raw
        self._left = end - start

    def readable(self) -> bool:
        """Return True: this is a reader."""
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def,override]
        """Read into `b`, stopping at the end of the span."""
        if self._left <= 0:
            return 0
        data = self._raw.read(min(len(b), self._left))
        n = len(data)
        self._left -= n
        b[:n] = data
        return n

    def close(self) -> None:
        """Close the file."""
        if not self.closed:
            super().close()
            self._raw.close()


def open_source(source: Source, config: Config, span: tuple[int, int] | None = None, buffer_size: int = _CHUNK) -> BinaryIO:
    """Return a buffered binary reader of `source`'s decompressed content (bounded).

    `span` (from split_points) reads only that byte range of a plain file;
    `buffer_size` is how much a read asks of a plain file (small for sniffing)."""
    bound = config.discovery.max_inflate_bytes
    if span is not None:
        try:
            raw = open(source.fs_path, "rb")
        except OSError as e:
            raise DumpError(source.path, f"cannot read: {_os_reason(e)}") from None
        return _guarded(io.BufferedReader(_Span(raw, *span), _CHUNK), source.path)  # type: ignore[arg-type]
    if source.member is None:
        try:
            raw = open(source.fs_path, "rb")
        except OSError as e:
            raise DumpError(source.path, f"cannot read: {_os_reason(e)}") from None
        try:
            return _guarded(open_decompressed(raw, source.path, bound, buffer_size), source.path, owned=(raw,), buffer_size=buffer_size)
        except BaseException as e:
            raw.close()
            if isinstance(e, (OSError, EOFError, zlib.error)):
                raise DumpError(source.path, f"cannot read: {read_error_reason(e)}") from None
            raise
    try:
        kind = _archive_kind(source.fs_path)
    except OSError as e:
        raise DumpError(source.path, f"cannot read the archive {source.fs_path!r}: {_os_reason(e)}") from None
    if kind == "zip":
        return _open_zip_member(source, bound)
    return _open_tar_member(source, bound)


def _open_zip_member(source: Source, bound: int) -> BinaryIO:
    """Return a reader of the zip member `source.member`."""
    assert source.member is not None
    try:
        zf = zipfile.ZipFile(source.fs_path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise DumpError(source.path, f"corrupt archive: {read_error_reason(e)}") from None
    inner: BinaryIO | None = None

    def fail(reason: str) -> DumpError:
        """Close what is open and return the DumpError for `reason`."""
        for f in (inner, zf):
            if f is not None:
                f.close()
        return DumpError(source.path, reason)

    try:
        info = zf.getinfo(source.member)
    except KeyError:
        raise fail(f"no member {source.member!r} in the archive any more") from None
    if info.file_size > bound:
        raise fail(f"member decompresses to {info.file_size} bytes, more than max_inflate_bytes ({bound})")
    try:
        inner = _zip_member(zf, info, source.path, bound)
        return _guarded(open_decompressed(inner, source.path, bound), source.path, owned=(inner, zf))
    except DumpError as e:
        raise fail(e.reason) from None
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, RuntimeError) as e:
        raise fail(f"cannot read member {source.member!r}: {read_error_reason(e)}") from None


class _TarCursor:
    """An open, streamed tar archive that later members can be read from without
    inflating the archive again from its start.

    Workers parse the members of an archive in the order walk() listed them, so each
    process inflates a compressed archive about once instead of once per member. A
    cursor serves one reader at a time; a member behind it reopens the archive."""

    def __init__(self, fs_path: str, bound: int) -> None:
        self.handle = _open_tar(fs_path, bound)
        self.tf, self.rec = self.handle.tf, self.handle.rec
        self.passed: set[str] = set()  # member names the stream has gone past
        self.busy = False  # a reader of one of its members is open
        self.done = False  # the stream reached its end or broke

    def seek_member(self, name: str) -> tarfile.TarInfo | None:
        """Advance to the regular member `name`; return it, or None when it is not ahead."""
        if name in self.passed or self.done:
            return None
        while True:
            try:
                m = self.tf.next()
            except BaseException:
                self.done = True
                raise
            if m is None:
                self.done = True
                return None
            self.passed.add(m.name)
            if m.name == name and m.isreg():
                return m

    def close(self) -> None:
        """Close the archive."""
        self.done = True
        self.handle.close()


_CURSORS: OrderedDict[tuple[str, int, int, int], _TarCursor] = OrderedDict()  # per process
_MAX_CURSORS = 4
# Dask workers (and any threaded executor) parse members from several threads of one
# process: taking a cursor and marking it busy must be one step.
_CURSORS_LOCK = threading.Lock()


def close_cursors() -> None:
    """Close the tar archives this process keeps open for reading members in order."""
    with _CURSORS_LOCK:
        while _CURSORS:
            _, cursor = _CURSORS.popitem()
            if not cursor.busy:
                cursor.close()


def _cursor_for(fs_path: str, bound: int, name: str) -> tuple[_TarCursor, tarfile.TarInfo | None, bool]:
    """Return (a cursor at member `name`, now busy; the member or None; whether the cursor is cached)."""
    with _CURSORS_LOCK:
        cursor, m, cached = _take_cursor(fs_path, bound, name)
        cursor.busy = True
        return cursor, m, cached


def _take_cursor(fs_path: str, bound: int, name: str) -> tuple[_TarCursor, tarfile.TarInfo | None, bool]:
    """Return what _cursor_for returns; the caller holds _CURSORS_LOCK."""
    st = os.stat(fs_path)
    key = (fs_path, st.st_size, st.st_mtime_ns, bound)
    cursor = _CURSORS.get(key)
    if cursor is not None and not cursor.busy and cursor.rec is not None:
        m = cursor.seek_member(name)
        if m is not None:
            _CURSORS.move_to_end(key)
            return cursor, m, True
        if cursor.done or name in cursor.passed:
            del _CURSORS[key]
            cursor.close()
    cursor = _TarCursor(fs_path, bound)
    try:
        m = cursor.seek_member(name)
    except BaseException:
        cursor.close()
        raise
    if cursor.rec is None or cursor.done or key in _CURSORS:
        return cursor, m, False  # plain tars seek cheaply: no need to keep them open
    _CURSORS[key] = cursor
    while len(_CURSORS) > _MAX_CURSORS:
        _, old = _CURSORS.popitem(last=False)
        if not old.busy:
            old.close()
    return cursor, m, True


class _Release:
    """Closing hook for a member reader: frees its cursor, or closes a one-off archive."""

    def __init__(self, cursor: _TarCursor, cached: bool) -> None:
        self._cursor = cursor
        self._cached = cached

    def close(self) -> None:
        """Release the cursor (cached) or close the archive (one-off)."""
        with _CURSORS_LOCK:
            self._cursor.busy = False
            if not self._cached or self._cursor not in _CURSORS.values():
                self._cursor.close()


def _open_tar_member(source: Source, bound: int) -> BinaryIO:
    """Return a reader of the tar member `source.member`, streaming the archive up to it."""
    assert source.member is not None
    try:
        cursor, m, cached = _cursor_for(source.fs_path, bound, source.member)
    except OSError as e:
        raise DumpError(source.path, f"cannot read the archive: {read_error_reason(e)}") from None
    except DumpError as e:
        raise DumpError(source.path, e.reason) from None
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise DumpError(source.path, f"corrupt archive before member {source.member!r}: {read_error_reason(e)}") from None
    release = _Release(cursor, cached)
    try:
        if m is None:
            raise DumpError(source.path, f"no member {source.member!r} in the archive any more")
        if m.size > bound:
            raise DumpError(source.path, f"member is {m.size} bytes, more than max_inflate_bytes ({bound})")
        fobj = cursor.tf.extractfile(m)
        assert fobj is not None
        inner = io.BufferedReader(GuardedReader(fobj, source.path, bound, what="member"), _CHUNK)
        return _guarded(open_decompressed(inner, source.path, bound), source.path, owned=(inner, release))
    except DumpError as e:
        release.close()
        if e.path:
            raise
        raise DumpError(source.path, e.reason) from None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        release.close()
        raise DumpError(source.path, f"cannot read member {source.member!r}: {read_error_reason(e)}") from None


def _guarded(stream: BinaryIO, path: str, owned: tuple = (), buffer_size: int = _CHUNK) -> BinaryIO:
    """Return `stream` behind a GuardedReader (error translation, closing what it owns)."""
    return io.BufferedReader(GuardedReader(stream, path, None, owned=owned), buffer_size)  # type: ignore[return-value]


def _read_head(opener, close: bool = True) -> tuple[bytes | None, str | None]:  # type: ignore[no-untyped-def]
    """Return (the first SNIFF_BYTES of what `opener()` opens, None) or (None, the reason it failed)."""
    try:
        stream = opener()
    except DumpError as e:
        return None, e.reason
    except OSError as e:
        return None, f"cannot read: {_os_reason(e)}"
    try:
        chunks = []
        got = 0
        while got < SNIFF_BYTES:
            chunk = stream.read(SNIFF_BYTES - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks), None
    except DumpError as e:
        return None, e.reason
    except (OSError, EOFError, zlib.error) as e:
        return None, f"cannot read: {read_error_reason(e)}"
    finally:
        if close:
            stream.close()


# -------------------------------------------------------------------------- group


def stem_of(name: str) -> str:
    """Return the stem of file name `name`: lower case, format words removed from the end
    (never the first word: `goroutines.txt` -> `goroutines`)."""
    base = PurePosixPath(name).name.lower()
    parts = re.split(r"([._-])", base)  # word, separator, word, ...
    while len(parts) >= 3 and parts[-1] in _FORMAT_WORDS:
        parts = parts[:-2]
    return "".join(parts)


def _aware(dt: datetime) -> datetime:
    """Return `dt` as an aware UTC datetime (naive = UTC)."""
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def time_of(src: Source, summary: Summary) -> tuple[datetime, str]:
    """Return (time, time_source) of one file: its name, else its content, else its mtime."""
    if summary.time is not None and (src.part is not None or src.name_time is None):
        return _aware(summary.time), "content"  # one of several profiles in a file: its own time first
    # one of several untimed profiles in a file: the file's time, in file order
    order = timedelta(microseconds=src.part - 1) if src.part is not None else timedelta(0)
    if src.name_time is not None:
        return _aware(src.name_time) + order, "name"
    return datetime.fromtimestamp(src.mtime, timezone.utc) + order, "mtime"


_TIME_SOURCE_RANK = {"name": 0, "content": 1, "mtime": 2}


def group(parsed: Sequence[tuple[Source, Summary]], config: Config) -> Grouping:
    """Group parsed files into per-series snapshots, leak evidence and memory points."""
    skipped: list[Skipped] = []
    snaps: dict[str, list[tuple[Source, Summary]]] = {}
    evidence: dict[str, list[tuple[Source, Summary]]] = {}
    memory: dict[str, list[MemoryPoint]] = {}
    for src, summary in sorted(parsed, key=lambda p: p[0].path):
        profile = summary.profile
        if profile == PROFILE_GOROUTINELEAK or src.profile == PROFILE_GOROUTINELEAK:
            evidence.setdefault(src.series, []).append((src, summary))
        elif profile == PROFILE_HEAP:
            if summary.heap_inuse_bytes is None:
                skipped.append(Skipped(path=src.path, reason="a heap profile without in-use bytes: not used"))
                continue
            t, _ = time_of(src, summary)
            memory.setdefault(src.series, []).append(MemoryPoint(time=t, inuse_bytes=summary.heap_inuse_bytes, source=src.path))
        elif profile == PROFILE_GOROUTINE and summary.format in FORMAT_RICHNESS:
            snaps.setdefault(src.series, []).append((src, summary))
        else:
            skipped.append(Skipped(path=src.path, reason=f"a {profile} profile, not a goroutine dump: not used"))
    moments = {series: tuple(_moments(series, items)) for series, items in snaps.items()}
    return Grouping(
        moments=moments,
        leak_evidence={
            s: tuple(sorted(items, key=lambda p: (time_of(*p)[0], p[0].path))) for s, items in evidence.items()
        },
        memory={s: tuple(sorted(points, key=lambda p: (p.time, p.source))) for s, points in memory.items()},
        skipped=tuple(skipped),
    )


def _moments(series: str, items: list[tuple[Source, Summary]]) -> list[tuple[Moment, Summary]]:
    """Return the Moments of one series (unordered pairs in, time order out)."""
    out: list[tuple[Moment, Summary]] = []
    merge = [p for p in items if not (p[0].crash or p[1].crash)]
    for src, summary in items:
        if src.crash or summary.crash:
            t, ts = time_of(src, summary)
            out.append(
                (
                    Moment(series=series, time=t, time_source=ts, primary=src, sources=(src,), format=summary.format, crash=True),
                    summary,
                )
            )
    # union-find over the mergeable files: same stem, or the same second (name/content times)
    parent = list(range(len(merge)))

    def find(i: int) -> int:
        """Return the representative of file i."""
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        """Put files i and j in one moment."""
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    by_stem: dict[str, list[int]] = {}
    by_second: dict[int, int] = {}
    for i, (src, summary) in enumerate(merge):
        by_stem.setdefault(stem_of(src.path), []).append(i)
        t, ts = time_of(src, summary)
        if ts != "mtime" and src.part is None:  # profiles of one file are moments of their own
            sec = int(t.timestamp() // 1)
            if sec in by_second:
                union(i, by_second[sec])
            else:
                by_second[sec] = i
    for members in by_stem.values():
        # a shared stem joins the forms of one moment; when one form occurs twice
        # (`dump.txt` beside a rotated `dump.txt.gz`) the stem says nothing
        if len({merge[i][1].format for i in members}) == len(members):
            for i in members[1:]:
                union(members[0], i)
    clusters: dict[int, list[tuple[Source, Summary]]] = {}
    for i, pair in enumerate(merge):
        clusters.setdefault(find(i), []).append(pair)
    for members in clusters.values():
        members.sort(key=lambda p: (FORMAT_RICHNESS[p[1].format], p[1].truncated, -p[1].total, p[0].path))
        primary, summary = members[0]
        timed = sorted(
            (time_of(s, sm) for s, sm in members),
            key=lambda x: _TIME_SOURCE_RANK[x[1]],
        )
        t, ts = time_of(primary, summary)
        if _TIME_SOURCE_RANK[timed[0][1]] < _TIME_SOURCE_RANK[ts]:
            t, ts = timed[0]
        moment = Moment(
            series=series,
            time=t,
            time_source=ts,
            primary=primary,
            sources=tuple(s for s, _ in members),
            format=summary.format,
        )
        out.append((moment, summary))
    out.sort(key=lambda p: (p[0].time, p[0].crash, p[0].primary.path))
    return out


# ----------------------------------------------------------------------- reasons


def _refine_profile(found: Sniff, head: bytes) -> str:
    """Return the profile kind, telling a goroutineleak debug=2 dump from a goroutine one.

    `runtime/pprof` writes the goroutineleak profile at debug=2 as a full stack dump
    taken by its writer goroutine, whose own (first, running) stack names
    `runtime/pprof.writeGoroutineLeak`."""
    if found.format == "debug2" and found.profile == PROFILE_GOROUTINE:
        first = re.search(rb"^goroutine \d+ [^\n]*\n((?:[^\n]+\n)*)", head, re.M)
        if first and b"runtime/pprof.writeGoroutineLeak(" in first.group(1):
            return PROFILE_GOROUTINELEAK
    return found.profile


def _not_a_dump(head: bytes) -> str:
    """Return why `head` is not read as a dump, for a person."""
    if not head:
        return "empty file"
    if _is_archive_head(head):
        return "an archive inside an archive: not read (unpack the outer one first)"
    sample = head[:512]
    if b"\x00" in sample or sum(1 for c in sample if c < 9 or 13 < c < 32) > len(sample) // 10:
        return "not a goroutine dump: binary data of no known profile form"
    return "not a goroutine dump: no `goroutine N [state]:` header and no `goroutine profile: total N` line"


def _os_reason(e: OSError) -> str:
    """Return the OS error of `e` as a person reads it ('Permission denied')."""
    return e.strerror or str(e) or type(e).__name__


def _kind_of(mode: int) -> str:
    """Return what kind of non-regular file `mode` is."""
    if stat.S_ISFIFO(mode):
        return "a fifo"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "a special file"

