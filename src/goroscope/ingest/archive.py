"""The one place files, gzip streams and tar/zip archives and their members are opened.

Contract:

- `open_source(source, bound)` returns a buffered binary reader of a Source's
  decompressed content (a file, a byte range of a plain file, or a tar/zip member,
  gunzipped when it is gzip), in any process, from the Source alone.
  `open_stored(source, bound)` returns its bytes as stored (not gunzipped): what the
  cache hashes (`content_sha256`). `ContentDigest` takes that hash while a parser
  reads the source, so a member is inflated once for both.
- Every decompressed byte counts against `bound` (`discovery.max_inflate_bytes`);
  passing it raises `InflateBoundError`, one message wherever it is met
  (`bound_reason`). Every other read error is a DumpError naming the file (and
  member) and saying what was wrong.
- Tar members are read through a per-process cursor (`_TarCursor`, under one lock
  for threaded workers): reading the members of a compressed tar in archive order
  inflates it once, not once per member. `close_cursors()` closes them.
- Files are opened by `open_raw(fs_path, store)`: the file on disk, or with a Store
  the object at the URL `fs_path` (ingest.store: read in place, block by block,
  seekable for zip), so that archives, members and .gz objects in a bucket are read
  as those on disk are.
- The readers the tree walk uses: `open_tar(fs_path, bound)` (a TarHandle, streamed
  and bounded when compressed, with `end_problem()` for what stops it early),
  `open_zip`, `zip_member`, `archive_kind`, `safe_member_name`, `tar_kind`,
  `zip_mtime`, and `member_head` / `zip_head` / `read_head` for the first bytes
  sniffing looks at.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
import re
import stat
import tarfile
import threading
import zipfile
import zlib
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import datetime
from typing import BinaryIO

from goroscope import words
from goroscope.errors import DumpError
from goroscope.model import Source, Store

__all__ = [
    "open_source",
    "open_stored",
    "open_decompressed",
    "content_sha256",
    "ContentDigest",
    "InflateBoundError",
    "bound_reason",
    "GuardedReader",
    "TarHandle",
    "open_tar",
    "open_zip",
    "zip_member",
    "archive_kind",
    "peek_kind",
    "is_archive_head",
    "safe_member_name",
    "tar_kind",
    "zip_mtime",
    "read_head",
    "member_head",
    "zip_head",
    "read_error_reason",
    "open_regular",
    "file_kind",
    "MAX_INFLATE_RATIO",
    "close_cursors",
    "open_raw",
    "DEFAULT_MAX_INFLATE",
    "SNIFF_BYTES",
    "GZIP_MAGIC",
    "CHUNK",
]

SNIFF_BYTES = 64 * 1024  # how much of a file sniffing looks at
DEFAULT_MAX_INFLATE = 4 * 1024**3  # discovery.max_inflate_bytes when no config says
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
BZ2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
CHUNK = 1 << 20  # what a parser's read asks for
# A compressed stream that inflates past RATIO_GRACE bytes at more than MAX_INFLATE_RATIO
# times the compressed bytes read is refused: real dumps compress 5-50 times (10^6 identical
# goroutines without pointer arguments: 46), deflate at most ~1032 times (runs of one byte).
# max_inflate_bytes bounds the bytes; this bounds the work spent on a stream of nothing.
MAX_INFLATE_RATIO = 200
RATIO_GRACE = 16 * 1024 * 1024
_TAR_BUFFER = 1 << 16  # read-ahead over a decompressed tar stream
_READ_ERRORS = (OSError, EOFError, zlib.error, ValueError, zipfile.BadZipFile, tarfile.TarError)


# ------------------------------------------------------------------------ errors


def bound_reason(subject: str, bound: int, size: int | None = None) -> str:
    """Return the one message for `subject` (a file, a member, the archive) passing the bound."""
    amount = f"{size} bytes" if size is not None else "more bytes"
    return f"{subject} decompresses to {amount}, more than max_inflate_bytes ({bound})"


class InflateBoundError(DumpError):
    """Decompressed data passed max_inflate_bytes (an inflation bomb, or a bound set too low)."""

    def __init__(self, path: str, subject: str, bound: int, size: int | None = None) -> None:
        super().__init__(path, bound_reason(subject, bound, size))
        self.subject = subject  # what passed the bound: "file", "member 'a/b.txt'", "the archive"


def read_error_reason(e: BaseException) -> str:
    """Return a short text for a read error."""
    if isinstance(e, DumpError):
        return e.reason
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    text = str(e)
    return text if text else type(e).__name__


class InflateRatioError(InflateBoundError):
    """A compressed stream inflating at more than MAX_INFLATE_RATIO times its size: mostly nothing, refused early."""

    def __init__(self, path: str, subject: str, out: int, read: int) -> None:
        DumpError.__init__(
            self,
            path,
            f"{subject} decompresses to more than {MAX_INFLATE_RATIO} times its compressed size "
            f"({out} bytes from {read}): refused as an inflation bomb (no dump compresses so well)",
        )
        self.subject = subject


def file_kind(mode: int) -> str:
    """Return what kind of non-regular file `mode` is, for a person."""
    if stat.S_ISFIFO(mode):
        return "a fifo"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a special file"


def open_regular(fs_path: str) -> BinaryIO:
    """Open the regular file at `fs_path` for reading; OSError (strerror naming its kind) for anything else.

    Opened without blocking, then checked: a fifo would block the open until a
    writer came, a device never ends, a socket cannot be opened at all."""
    mode = os.stat(fs_path).st_mode
    if not stat.S_ISREG(mode):
        raise OSError(errno.EINVAL, f"not a regular file ({file_kind(mode)}): not read", fs_path)
    fd = os.open(fs_path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"not a regular file ({file_kind(mode)}): not read", fs_path)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _subject(member: str | None) -> str:
    """Return how the bound message names a file or member."""
    return "file" if member is None else f"member {member!r}"


# ----------------------------------------------------------------------- readers


class _Reader(io.RawIOBase):
    """A raw reader over `inner` (closed with it); a subclass says what one read does (`_read`)."""

    def __init__(self, inner: BinaryIO) -> None:
        super().__init__()
        self._inner = inner

    def readable(self) -> bool:
        """Return True: this is a reader."""
        return True

    def _read(self, n: int) -> bytes:
        """Return up to `n` bytes."""
        return self._inner.read(n)

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def,override]
        """Read into `b` what `_read` returns."""
        data = self._read(len(b))
        n = len(data)
        b[:n] = data
        return n

    def close(self) -> None:
        """Close the reader underneath."""
        if not self.closed:
            super().close()
            self._inner.close()


class GuardedReader(_Reader):
    """A raw reader over `inner` that turns read errors into DumpError naming `path`,
    fails once more than `bound` bytes came out (None: no bound), and closes what it owns.

    `what` says what is read, for the messages: "file", "member" (of a tar/zip
    archive) or "compressed data" (a gzip stream); `member` names the member.
    """

    def __init__(
        self,
        inner: BinaryIO,
        path: str,
        bound: int | None,
        *,
        what: str = "file",
        member: str | None = None,
        owned: tuple = (),
        compressed: _Counted | None = None,
    ) -> None:
        super().__init__(inner)
        self._path = path
        self._bound = bound
        self._left = bound
        self._what = what
        self._member = member
        self._owned = owned
        self._compressed = compressed  # the compressed bytes read so far, for the ratio bound
        self._out = 0  # bytes delivered

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def,override]
        """Read into `b` (straight from the reader underneath, no copy); raise DumpError on a broken or too large stream."""
        view = memoryview(b)
        if self._left is not None:
            view = view[: self._left + 1]
        try:
            n = self._inner.readinto(view)  # type: ignore[attr-defined]
        except DumpError:
            raise
        except _READ_ERRORS as e:
            prefix = {"member": "corrupt archive member", "compressed data": "corrupt compressed data"}.get(self._what, "cannot read")
            raise DumpError(self._path, f"{prefix}: {read_error_reason(e)}") from None
        n = n or 0
        if self._left is not None:
            if n > self._left:
                raise InflateBoundError(self._path, _subject(self._member), self._bound)  # type: ignore[arg-type]
            self._left -= n
        if self._compressed is not None:
            self._out += n
            _check_ratio(self._path, _subject(self._member), self._out, self._compressed.count)
        return n

    def close(self) -> None:
        """Close the inner reader and everything this reader owns."""
        if self.closed:
            return
        super().close()
        for f in (self._inner, *self._owned):
            try:
                f.close()
            except Exception:  # noqa: BLE001 - closing must not hide the real error
                pass


def _check_ratio(path: str, subject: str, out: int, read: int) -> None:
    """Raise InflateRatioError when `out` decompressed bytes from `read` compressed ones pass MAX_INFLATE_RATIO."""
    if out > RATIO_GRACE and out > MAX_INFLATE_RATIO * max(read, 1):
        raise InflateRatioError(path, subject, out, read)


class _Counted:
    """A file object that counts the bytes read through it (what a decompressor consumed)."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self.count = 0  # bytes read so far

    def read(self, n: int = -1) -> bytes:
        """Read up to `n` bytes, counting them."""
        data = self._inner.read(n)
        self.count += len(data)
        return data

    def close(self) -> None:
        """Close the file underneath."""
        self._inner.close()


def _guarded(stream: BinaryIO, path: str, owned: tuple = (), buffer_size: int = CHUNK) -> BinaryIO:
    """Return `stream` behind a GuardedReader (error translation, closing what it owns)."""
    return io.BufferedReader(GuardedReader(stream, path, None, owned=owned), buffer_size)  # type: ignore[return-value]


def open_decompressed(
    raw: BinaryIO, path: str, max_inflate: int = DEFAULT_MAX_INFLATE, buffer_size: int = CHUNK, member: str | None = None
) -> BinaryIO:
    """Return a buffered reader of `raw`, gunzipped (bounded by `max_inflate`) when it is gzip.

    `buffer_size` is how much each read asks of the file: parsers want large reads,
    sniffing wants only SNIFF_BYTES; `member` names the archive member for messages."""
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw, buffer_size)  # type: ignore[arg-type]
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        counted = _Counted(buffered)  # type: ignore[arg-type]
        gz = _Gunzip(counted)  # type: ignore[arg-type]
        guard = GuardedReader(gz, path, max_inflate, what="compressed data", member=member, compressed=counted)  # type: ignore[arg-type]
        return io.BufferedReader(guard, buffer_size)  # type: ignore[return-value]
    return buffered


class _Gunzip(_Reader):
    """A raw reader of the gzip members in `inner`, one after another, inflated by zlib.

    What gzip.GzipFile reads, at a fraction of its cost on small files (it parses the
    framing and checks the CRC in Python, a few hundred microseconds a file: a fleet's
    ten thousand dumps are read in seconds less): zlib checks each member's CRC and
    length itself (wbits 31). Zero bytes after a member are padding, as for gzip;
    anything else must be a member. A stream that ends inside a member raises
    EOFError, as GzipFile does.
    """

    _IN = 256 * 1024  # compressed bytes read at a time

    def __init__(self, inner: BinaryIO) -> None:
        super().__init__(inner)
        self._z = zlib.decompressobj(31)
        self._tail = b""  # compressed bytes read but not yet inflated
        self._done = False  # the last member ended and nothing follows

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def,override]
        """Inflate up to len(`b`) bytes into `b`; 0 at the end of the last member."""
        want = len(b)
        while not self._done:
            z = self._z
            if z.eof:
                rest = z.unused_data.lstrip(b"\0") or self._more_after_member()
                if not rest:
                    self._done = True
                    break
                self._z = z = zlib.decompressobj(31)
                self._tail = rest
            data = self._tail or self._inner.read(self._IN)
            if not data:
                raise EOFError("Compressed file ended before the end-of-stream marker was reached")
            out = z.decompress(data, want)
            self._tail = z.unconsumed_tail
            if out:
                n = len(out)
                b[:n] = out
                return n
        return 0

    def _more_after_member(self) -> bytes:
        """Return the bytes after a member's end past its zero padding (b"" at the end of the stream)."""
        while True:
            data = self._inner.read(self._IN)
            if not data:
                return b""
            data = data.lstrip(b"\0")
            if data:
                return data


class _Span(_Reader):
    """A raw reader of bytes [start, end) of an open file."""

    def __init__(self, raw: BinaryIO, start: int, end: int) -> None:
        super().__init__(raw)
        raw.seek(start)
        self._left = end - start

    def _read(self, n: int) -> bytes:
        """Return up to `n` bytes, stopping at the end of the span."""
        if self._left <= 0:
            return b""
        data = self._inner.read(min(n, self._left))
        self._left -= len(data)
        return data


# ------------------------------------------------------------------ content hash


class ContentDigest:
    """The SHA-256 of a source's stored bytes, taken as a parser reads them (open_source(digest=...)).

    `finish()` reads what the parser left and returns the hex digest, or None when the
    bytes could not all be read."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._reader: _Digesting | None = None  # set by open_source
        self._broken = False  # a read failed: the digest is of no whole content
        self.hexdigest: str | None = None  # set by finish(): the digest of the whole content

    def finish(self) -> str | None:
        """Feed the rest of the stored bytes (while the reader is open) and return the hex digest (None: unreadable)."""
        reader, self._reader = self._reader, None
        if reader is None or self._broken:
            return self.hexdigest
        try:
            while reader.read(CHUNK):
                pass
        except Exception:  # noqa: BLE001 - an unreadable rest only means no hash
            self._broken = True
        if not self._broken:
            self.hexdigest = self._sha.hexdigest()
        return self.hexdigest


class _Digesting(_Reader):
    """A raw reader that feeds every byte it passes on to a ContentDigest."""

    def __init__(self, inner: BinaryIO, digest: ContentDigest) -> None:
        super().__init__(inner)
        self._digest = digest
        digest._reader = self

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def,override]
        """Read into `b` and hash what came (no copy: a parser's large reads pass straight through)."""
        try:
            n = self._inner.readinto(b)  # type: ignore[attr-defined]
        except BaseException:
            self._digest._broken = True
            raise
        if n:
            self._digest._sha.update(memoryview(b)[:n])
        return n


def content_sha256(source: Source, bound: int = DEFAULT_MAX_INFLATE) -> str:
    """Return the hex SHA-256 of the bytes of `source` as stored (not decompressed); raise DumpError."""
    h = hashlib.sha256()
    with open_stored(source, bound) as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------- open_source


def open_source(
    source: Source,
    bound: int,
    *,
    span: tuple[int, int] | None = None,
    buffer_size: int = CHUNK,
    digest: ContentDigest | None = None,
) -> BinaryIO:
    """Return a buffered binary reader of `source`'s decompressed content (bounded by `bound`).

    `span` (from aggregate.split_points) reads only that byte range of a plain file;
    `buffer_size` is how much a read asks of a plain file (small for sniffing);
    `digest` is fed the stored bytes as they are read."""
    if span is not None:
        raw = _open_file(source)
        return _guarded(io.BufferedReader(_Span(raw, *span), CHUNK), source.path)  # type: ignore[arg-type]
    stored = _open_stored_raw(source, bound, buffer_size)
    if digest is not None:
        stored = io.BufferedReader(_Digesting(stored, digest), buffer_size)  # type: ignore[assignment]
    try:
        stream = open_decompressed(stored, source.path, bound, buffer_size, source.member)
    except BaseException as e:
        stored.close()
        if isinstance(e, (OSError, EOFError, zlib.error)):
            raise DumpError(source.path, f"cannot read: {read_error_reason(e)}") from None
        raise
    return _guarded(stream, source.path, owned=(stored,), buffer_size=buffer_size)


def open_stored(source: Source, bound: int = DEFAULT_MAX_INFLATE) -> BinaryIO:
    """Return a reader of the bytes of `source` as stored (a file, or a tar/zip member; bounded)."""
    stored = _open_stored_raw(source, bound)
    return _guarded(stored, source.path, owned=())


def open_raw(fs_path: str, store: Store | None = None, *, size: int | None = None, block: int | None = None) -> BinaryIO:
    """Open the file at `fs_path` for reading, or with `store` the object at the URL `fs_path`; raise OSError.

    For an object, `size` (from the listing) spares a request and `block` is how much
    each request reads ahead (small for sniffing; ingest.store.BLOCK by default)."""
    if store is None:
        return open_regular(fs_path)  # a fifo, socket or device refused, never opened blocking
    from goroscope.ingest.store import BLOCK, open_object

    return open_object(fs_path, store, size, block or BLOCK)


def _open_file(source: Source, block: int | None = None) -> BinaryIO:
    """Open the file (or object) behind `source`; raise DumpError naming it."""
    try:
        return open_raw(source.fs_path, source.store, size=None if source.member is not None else source.size, block=block)
    except OSError as e:
        raise DumpError(source.path, f"cannot read: {read_error_reason(e)}") from None


def _open_stored_raw(source: Source, bound: int, buffer_size: int = CHUNK) -> BinaryIO:
    """Return the stored bytes of `source`, errors already named (closing it closes everything under it)."""
    if source.member is None:
        return _open_file(source, buffer_size if buffer_size < CHUNK else None)
    try:
        kind = archive_kind(source.fs_path, source.store)
    except OSError as e:
        raise DumpError(source.path, f"cannot read the archive {source.fs_path!r}: {read_error_reason(e)}") from None
    if kind == "zip":
        return _open_zip_member(source, bound)
    return _open_tar_member(source, bound)


def _open_zip_member(source: Source, bound: int) -> BinaryIO:
    """Return a reader of the zip member `source.member` (its stored bytes, bounded)."""
    assert source.member is not None
    try:
        zf = open_zip(source.fs_path, source.store)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise DumpError(source.path, f"corrupt archive: {read_error_reason(e)}") from None
    try:
        try:
            info = zf.getinfo(source.member)
        except KeyError:
            raise DumpError(source.path, f"no member {source.member!r} in the archive any more") from None
        if info.file_size > bound:
            raise InflateBoundError(source.path, _subject(source.member), bound, info.file_size)
        try:
            inner = zip_member(zf, info, source.path, bound)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, RuntimeError) as e:
            raise DumpError(source.path, f"cannot read member {source.member!r}: {read_error_reason(e)}") from None
    except BaseException:
        zf.close()
        raise
    return _guarded(inner, source.path, owned=(zf,))


def zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, bound: int) -> BinaryIO:
    """Return a reader of one zip member that fails once more than `bound` bytes came out.

    A member that cannot be opened (a damaged local header, an unknown compression
    method, a password) raises DumpError naming it: the other members stay readable."""
    try:
        inner = zf.open(info)
    except (*_READ_ERRORS, NotImplementedError, RuntimeError) as e:
        raise DumpError(path, f"corrupt archive member: {read_error_reason(e)}") from None
    return io.BufferedReader(GuardedReader(inner, path, bound, what="member", member=info.filename), CHUNK)  # type: ignore[return-value]


def open_zip(fs_path: str, store: Store | None = None) -> zipfile.ZipFile:
    """Open the zip archive at `fs_path` (zipfile's errors pass through; closing it closes the file)."""
    raw = open_raw(fs_path, store)
    try:
        zf = zipfile.ZipFile(raw)
    except BaseException:
        raw.close()
        raise
    zf._filePassed = 0  # type: ignore[attr-defined]  # ours to close, as a path's would be
    return zf


# ------------------------------------------------------------------ archive kinds


def archive_kind(fs_path: str, store: Store | None = None) -> str | None:
    """Return 'zip' or 'tar' when the file (or object) at `fs_path` is an archive, else None (content first, then name)."""
    return peek_kind(fs_path, store)[0]


def peek_kind(fs_path: str, store: Store | None = None, n: int = 512) -> tuple[str | None, bytes]:
    """Return what archive_kind says of the file (or object) at `fs_path`, and up to its first `n` bytes
    of content (at least 512): inflated when it is gzipped, b"" when it is an archive or compressed
    otherwise. Discovery sniffs a small dump from these bytes, in the same one open (sniff_settled)."""
    with open_raw(fs_path, store, block=SNIFF_BYTES) as raw:
        magic = raw.read(8)
        if magic.startswith(ZIP_MAGICS):
            return "zip", b""
        raw.seek(0)
        if magic.startswith(GZIP_MAGIC):
            first, head = _gunzip_head(raw, 512, n)
            if _is_tar_head(first):
                return "tar", b""
        elif magic.startswith(BZ2_MAGIC) or magic.startswith(XZ_MAGIC):
            return ("tar" if fs_path.lower().endswith(words.TAR_SUFFIXES) else None), b""
        else:
            head = raw.read(max(n, 512))
    if _is_tar_head(head):
        return "tar", b""
    lower = fs_path.lower()
    if lower.endswith(words.ZIP_SUFFIXES):
        return "zip", b""
    if lower.endswith(words.TAR_SUFFIXES):
        return "tar", b""
    return None, head


def _gunzip_head(raw: BinaryIO, n: int, more: int = 0) -> tuple[bytes, bytes]:
    """Return the first `n` inflated bytes of the gzip stream `raw` (fewer when it is shorter, b"" when it is
    damaged there), and up to `more` (b"" when that far is damaged): what discovery looks at in every
    gzipped file, so zlib in one call, not gzip.GzipFile."""
    z = zlib.decompressobj(31)
    out = b""

    def inflate(upto: int) -> bytes:
        nonlocal out
        while len(out) < upto:
            data = z.unconsumed_tail or raw.read(16 * 1024)
            if not data:
                break
            out += z.decompress(data, upto - len(out))
            if z.eof:
                break
        return out[:upto]

    try:
        first = inflate(n)
    except zlib.error:
        return b"", b""
    if more <= n or len(first) < n or z.eof:
        return first, first
    try:
        return first, inflate(more)
    except zlib.error:
        return first, b""


def _is_tar_head(head: bytes) -> bool:
    """Return True when `head` starts with a POSIX (ustar/GNU) tar header."""
    return len(head) >= 262 and head[257:262] == b"ustar"


def is_archive_head(head: bytes) -> bool:
    """Return True when decompressed `head` is itself a tar or zip archive."""
    return head.startswith(ZIP_MAGICS) or _is_tar_head(head)


def safe_member_name(name: str) -> str | None:
    """Return `name` normalised ('./a//b' -> 'a/b'), or None when it could escape the root."""
    n = name.replace("\\", "/")
    if n.startswith("/") or re.match(r"^[A-Za-z]:", n):
        return None
    parts = [p for p in n.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return "/".join(parts)


def tar_kind(m: tarfile.TarInfo) -> str:
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


def zip_mtime(info: zipfile.ZipInfo, zone: str) -> float:
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


# --------------------------------------------------------------------- tar files


class _Recorder(_Reader):
    """A raw reader of a decompressed tar stream: counts bytes against `bound` and keeps
    the last chunks, so the header block where tarfile stopped can be looked at again."""

    TAIL = 1 << 18  # more than tarfile's record buffer plus ours (_TAR_BUFFER)

    def __init__(self, inner: BinaryIO, bound: int, consumed: Callable[[], int] | None = None) -> None:
        super().__init__(inner)
        self._bound = bound
        self._consumed = consumed  # the compressed bytes read so far, for the ratio bound
        self.total = 0  # bytes delivered so far
        self._chunks: deque[bytes] = deque()  # the last chunks delivered, at least TAIL bytes
        self._kept = 0  # bytes in _chunks

    def _read(self, n: int) -> bytes:
        """Return up to `n` bytes, failing once the stream passes the bound."""
        data = self._inner.read(n)
        n = len(data)
        self.total += n
        if self.total > self._bound:
            raise InflateBoundError("", "the archive", self._bound)
        if self._consumed is not None:
            _check_ratio("", "the archive", self.total, self._consumed())
        if n:
            self._chunks.append(data)
            self._kept += n
            while self._kept - len(self._chunks[0]) >= self.TAIL:
                self._kept -= len(self._chunks.popleft())
        return data

    def block_at(self, offset: int) -> bytes | None:
        """Return the block from `offset` on, as far as it is still kept, or None if gone."""
        start = self.total - self._kept
        if offset < start:
            return None
        return b"".join(self._chunks)[offset - start : offset - start + tarfile.BLOCKSIZE]


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


class TarHandle:
    """An open tar archive and the file objects under it, closed together."""

    def __init__(self, tf: tarfile.TarFile, rec: _Recorder | None, base: BinaryIO) -> None:
        self.tf = tf  # the archive
        self.rec = rec  # the decompressed stream of a compressed archive, None for a plain tar
        self._base = base  # what tarfile was given (it does not close what it was given)

    @property
    def streamed(self) -> bool:
        """Return True for a compressed archive (read forward only; members cannot be skipped cheaply)."""
        return self.rec is not None

    def end_problem(self) -> str | None:
        """Return what is wrong where tarfile stopped reading headers, or None at a clean end."""
        offset = self.tf.offset
        if self.rec is None:
            f = self.tf.fileobj
            assert f is not None
            f.seek(0, os.SEEK_END)
            size = f.tell()
            if offset > size:
                return "the archive ends inside a member"
            f.seek(offset)
            block = f.read(tarfile.BLOCKSIZE)
        else:
            # tarfile has pulled the block it could not read through the recorder
            block = self.rec.block_at(offset)
            if block is None:
                return None
        if not block:
            return None  # ends at a member boundary without the end-of-archive blocks
        if len(block) < tarfile.BLOCKSIZE:
            return "the archive ends inside a member header"
        if block.count(0) == len(block):
            return None
        return "a damaged member header"

    def close(self) -> None:
        """Close the archive and its file."""
        try:
            self.tf.close()
        finally:
            self._base.close()


def open_tar(fs_path: str, bound: int, store: Store | None = None) -> TarHandle:
    """Open the tar at `fs_path`: seekable when plain, else streamed through a bounded decompressor."""
    raw = open_raw(fs_path, store)
    try:
        magic = raw.read(8)
        raw.seek(0)
        if magic.startswith(GZIP_MAGIC):
            inner: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        elif magic.startswith(BZ2_MAGIC):
            import bz2

            inner = bz2.BZ2File(raw)  # type: ignore[assignment]
        elif magic.startswith(XZ_MAGIC):
            import lzma

            inner = lzma.LZMAFile(raw)  # type: ignore[assignment]
        else:
            return TarHandle(tarfile.open(fileobj=raw, mode="r:"), None, raw)
        rec = _Recorder(_Owning(inner, raw), bound, raw.tell)  # type: ignore[arg-type]
        base = io.BufferedReader(rec, _TAR_BUFFER)
        return TarHandle(tarfile.open(fileobj=base, mode="r|"), rec, base)  # type: ignore[arg-type]
    except BaseException:
        raw.close()
        raise


class _TarCursor:
    """An open, streamed tar archive that later members can be read from without
    inflating the archive again from its start.

    Workers parse (and hash) the members of an archive in the order walk() listed
    them, so each process inflates a compressed archive about once instead of once per
    member. A cursor serves one reader at a time; a member behind it reopens the archive."""

    def __init__(self, fs_path: str, bound: int, store: Store | None = None) -> None:
        self.handle = open_tar(fs_path, bound, store)
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


_CURSORS: OrderedDict[tuple, _TarCursor] = OrderedDict()  # per process
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


def _cursor_for(source: Source, bound: int, name: str) -> tuple[_TarCursor, tarfile.TarInfo | None, bool]:
    """Return (a cursor at member `name` of the archive of `source`, now busy; the member or None; whether the cursor is cached)."""
    with _CURSORS_LOCK:
        cursor, m, cached = _take_cursor(source, bound, name)
        cursor.busy = True
        return cursor, m, cached


def _take_cursor(source: Source, bound: int, name: str) -> tuple[_TarCursor, tarfile.TarInfo | None, bool]:
    """Return what _cursor_for returns; the caller holds _CURSORS_LOCK."""
    fs_path = source.fs_path
    if source.store is None:
        st = os.stat(fs_path)
        key: tuple = (fs_path, st.st_size, st.st_mtime_ns, bound)
    else:
        # an object's version from the listing says which archive this is, with no request
        key = (fs_path, source.store, source.version, bound)
    cursor = _CURSORS.get(key)
    if cursor is not None and not cursor.busy and cursor.rec is not None:
        m = cursor.seek_member(name)
        if m is not None:
            _CURSORS.move_to_end(key)
            return cursor, m, True
        if cursor.done or name in cursor.passed:
            del _CURSORS[key]
            cursor.close()
    cursor = _TarCursor(fs_path, bound, source.store)
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
    """Return a reader of the tar member `source.member` (its stored bytes), streaming the archive up to it."""
    assert source.member is not None
    try:
        cursor, m, cached = _cursor_for(source, bound, source.member)
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
            raise InflateBoundError(source.path, _subject(source.member), bound, m.size)
        fobj = cursor.tf.extractfile(m)
        assert fobj is not None
        inner = GuardedReader(fobj, source.path, bound, what="member", member=source.member, owned=(release,))  # type: ignore[arg-type]
        return io.BufferedReader(inner, CHUNK)  # type: ignore[return-value]
    except DumpError:
        release.close()
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        release.close()
        raise DumpError(source.path, f"cannot read member {source.member!r}: {read_error_reason(e)}") from None


# --------------------------------------------------------------------- sniffing


def read_head(opener: Callable[[], BinaryIO], close: bool = True) -> tuple[bytes | None, str | None]:
    """Return (the first SNIFF_BYTES of what `opener()` opens, None) or (None, the reason it failed)."""
    try:
        stream = opener()
    except DumpError as e:
        return None, e.reason
    except _READ_ERRORS as e:
        return None, f"cannot read: {read_error_reason(e)}"
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
    except _READ_ERRORS as e:
        return None, f"cannot read: {read_error_reason(e)}"
    finally:
        if close:
            stream.close()


def member_head(handle: TarHandle, m: tarfile.TarInfo, path: str, bound: int) -> tuple[bytes | None, str | None]:
    """Return what read_head returns for the tar member `m` met while walking `handle`.

    A failure of the archive stream itself (not of the member's own content) is
    raised, so that the walk blames the archive; a streamed archive's member is read
    to its end here, so that a stream breaking inside it is blamed on it."""
    fobj = handle.tf.extractfile(m)
    assert fobj is not None
    trip = _Tripwire(fobj)  # type: ignore[arg-type]
    head, error = read_head(
        lambda: _guarded(open_decompressed(io.BufferedReader(trip, CHUNK), path, bound, member=m.name), path),  # type: ignore[arg-type]
        close=False,
    )
    if trip.broken is not None:
        raise trip.broken
    if handle.streamed:
        while fobj.read(CHUNK):
            pass
    return head, error


def zip_head(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, bound: int) -> tuple[bytes | None, str | None]:
    """Return what read_head returns for the zip member `info`, decompressed and bounded."""

    def opener() -> BinaryIO:
        """Open this member, decompressed and bounded."""
        member = zip_member(zf, info, path, bound)
        try:
            return _guarded(open_decompressed(member, path, bound, member=info.filename), path, owned=(member,))
        except BaseException:
            member.close()
            raise

    return read_head(opener)


class _Tripwire(_Reader):
    """A raw reader over a tar member that remembers the error the archive stream raised."""

    def __init__(self, inner: BinaryIO) -> None:
        super().__init__(inner)
        self.broken: BaseException | None = None

    def _read(self, n: int) -> bytes:
        """Return up to `n` bytes, remembering a failure of the archive underneath."""
        try:
            return self._inner.read(n)
        except BaseException as e:
            self.broken = e
            raise

    def close(self) -> None:
        """Leave the member open: the walk reads it to its end after sniffing."""
        io.RawIOBase.close(self)
