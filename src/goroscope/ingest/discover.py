"""Discovery: find the dump files of an archive and classify each by its first bytes.

Contract:

- `walk(archive, config) -> (sources, skipped)` lists every regular file under
  `archive` (a folder, one .tar/.tar.gz/.tgz/.zip, or one dump file, gzipped or not).
  `walk_store(url, store, config)` does the same for the objects under an
  object-store URL (ingest.store), from one listing: an object's key is its path
  (its folders the series), its last-modified time its mtime; archives and .gz
  objects in the store are read as files on disk are, through the same code. Given
  `known` (the summary cache), what one object gave is kept under its URL, version
  and size, so that a rerun lists the store and reads none of the objects it has seen.
  `walk(archive, config, known)` does the same for the files on disk, under their
  path, size and mtime: a rerun stats every file and opens only the new or changed
  ones (a file whose size or mtime changed is read again; an archive file's listing
  holds its members).
  Tar and zip archives found in the tree are read member by member, streamed, never
  extracted (through ingest.archive, which opens everything). Each file is
  classified by its first `SNIFF_BYTES` (decompressed) with `ingest.sniff` (by its
  first PEEK_BYTES when they settle it: ingest.sniff_settled); what is
  not a goroutine dump, goroutineleak or heap profile (or a protobuf profile of still
  unknown kind) is returned as Skipped with a reason a person understands. VCS folders
  (.git, .hg, .svn) are passed over silently; symbolic links are followed once (a
  loop, a broken link or a second way to the same file is Skipped); unreadable files
  and folders, unsafe or non-regular archive members and corrupt archives are
  Skipped, naming the OS error or the member. Files changed less than
  `settle_seconds` ago are Skipped with a reason starting "settling:". At most
  `max_files` files are walked. (A file of several back-to-back dumps is one Source
  here; the pipeline reads it as one part per dump once its parse has counted them:
  ingest.parts.)

Grouping the parsed files into snapshots is ingest.group; opening a Source again
(in any process) is ingest.archive.open_source.

Display paths are relative to the archive root and '/'-separated; inside an archive
file the archive's name is a folder ('x.tar.gz/pods/a/f.txt'), except when ARCHIVE
itself is the archive file: then the root is its contents.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tarfile
import time
import zipfile
import zlib
from contextlib import closing
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Iterator, Protocol, Sequence

from goroscope import words
from goroscope.config import Config
from goroscope.errors import DumpError, internal_reason
from goroscope.ingest import Sniff, sniff, sniff_settled
from goroscope.ingest import archive as arc
from goroscope.ingest.archive import InflateBoundError, read_error_reason
from goroscope.model import PROFILE_GOROUTINE, PROFILE_GOROUTINELEAK, PROFILE_HEAP, Skipped, Source, Store
from goroscope.timestamps import name_time

if TYPE_CHECKING:
    from goroscope.codec import Listing

__all__ = ["walk", "FolderWalk", "walk_store", "walk_object", "VCS_DIRS"]

VCS_DIRS = frozenset({".git", ".hg", ".svn", ".bzr"})  # passed over without a word
PEEK_BYTES = 8 * 1024  # a local file's first bytes, read in the open that tells an archive: most dumps are told by them


# --------------------------------------------------------------------------- walk


def _now() -> float:
    """Return the current time in seconds since the epoch (tests freeze it)."""
    return time.time()


class _Walk:
    """The state of one walk: what was found, what was skipped, what was seen."""

    def __init__(self, root: Path | str, config: Config, store: Store | None = None, known: Known | None = None) -> None:
        self.root = root
        self.known = known  # what earlier runs found in each file (the summary cache), None: look at every file
        self.learned: list[tuple[str, Listing]] = []  # what this walk found in the files `known` lacked, stored at its end
        self.learned_folders: list[tuple[str, dict[str, Listing]]] = []  # the same of whole folders (_Folder)
        self.shape = _shape(config)
        self.cwd = os.getcwd() if known is not None and store is None else ""
        self.config = config
        self.store = store  # the object store every file of this walk is in, None: the local disk
        self.version: str | None = None  # the version (ETag) of the object being walked, in a store
        self.disc = config.discovery
        self.sources: list[Source] = []
        self.skipped: list[Skipped] = []
        self.count = 0  # files (and members) walked
        self.full = False  # max_files reached
        self.seen_files: dict[tuple[int, int], str] = {}  # (dev, ino) -> display path
        self.seen_dirs: dict[tuple[int, int], str] = {}
        self.deferred: list[tuple[Path, str]] = []  # symbolic links, followed after the tree
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

    def settling_at(self, mtime: float) -> bool:
        """Return True when a file changed at `mtime` is still settling."""
        return self.disc.settle_seconds > 0 and self.now - mtime < self.disc.settle_seconds

    def settling(self, path: str, mtime: float) -> bool:
        """Skip `path` as settling when it changed less than settle_seconds ago."""
        if not self.settling_at(mtime):
            return False
        settle = self.disc.settle_seconds
        age = self.now - mtime
        when = f"{age:.0f}s ago" if age >= 0 else "in the future"
        self.skip(path, f"settling: modified {when}, less than settle_seconds ({settle:g}s); read on a later run")
        return True

    def add(self, draft: Source, head: bytes | None, error: str | None, *, peek: bool = False) -> bool:
        """Classify `draft` from its first bytes and add it as a Source or a Skipped (whatever sniffing raises).

        With `peek`, `head` is only the file's first PEEK_BYTES: return False, adding
        nothing, when they do not settle what it is (_settled)."""
        if error is not None:
            self.skip(draft.path, error)
            return True
        assert head is not None
        try:
            found = _settled(head) if peek else None
            if peek and found is None:
                return False
            self._classify(draft, head, found)
        except Exception as e:  # noqa: BLE001 - a sniffing bug costs this file, never the run
            self.skip(draft.path, internal_reason(e))
        return True

    def _classify(self, draft: Source, head: bytes, found: Sniff | None = None) -> None:
        """Add `draft` as a Source or a Skipped by what its first bytes `head` are (`found`: sniff(head), when known)."""
        if arc.is_archive_head(head):
            # (a tar's first member may well be a dump that sniffing would see)
            self.skip(draft.path, words.ARCHIVE_IN_ARCHIVE)
            return
        found = found or sniff(head)
        if found is None:
            self.skip(draft.path, words.not_a_dump(head))
            return
        profile = _refine_profile(found, head)
        if found.format == "other_text" or profile not in (PROFILE_GOROUTINE, PROFILE_GOROUTINELEAK, PROFILE_HEAP, "unknown"):
            self.skip(draft.path, words.unused_profile(profile))
            return
        src = replace(draft, format=found.format, profile=profile, crash=found.crash, line_prefix=found.prefix)
        self.sources.append(src)

    def draft(self, path: str, fs_path: str, member: str | None, size: int, mtime: float) -> Source:
        """Return the Source for `path` before sniffing."""
        return Source(
            store=self.store,
            version=self.version,
            path=path,
            fs_path=fs_path,
            member=member,
            size=size,
            mtime=mtime,
            series=self.series_of(path),
            name_time=name_time(PurePosixPath(path).name, self.disc),
        )


def walk(archive: Path, config: Config, known: Known | None = None) -> tuple[list[Source], list[Skipped]]:
    """Return every dump file under `archive` as a Source, and every other file as Skipped.

    A file `known` holds (by its path as given and as absolute, its size and mtime, its
    display path and the discovery settings) is not opened again."""
    archive = Path(archive)
    w = _Walk(archive, config, known=known)
    try:
        for _ in _walk_root(w, archive):
            pass
    finally:
        _remember(w)
    return w.sources, w.skipped


class FolderWalk:
    """The walk of a local folder (or file) as walk() makes it, handed over as it goes.

    `series()` yields the sources of each folder's series as soon as the walk is
    through the folder (a series is a folder's files: the pipeline maps each while the
    walk goes on); once it is through, `rest` holds the sources not yielded (the root
    folder's own files, archive members, those of a folder with a symbolic link in it,
    which is followed last, or all of them under a series_pattern) and `skipped` every
    skip. The sources yielded and `rest` are walk()'s, each series whole."""

    def __init__(self, archive: Path, config: Config, known: Known | None = None) -> None:
        """Prepare the walk of `archive` (a path on disk); `known` as for walk()."""
        self.archive = Path(archive)
        self._w = _Walk(self.archive, config, known=known)
        self.rest: list[Source] = []
        self.skipped: list[Skipped] = self._w.skipped

    def series(self) -> Iterator[list[Source]]:
        """Walk, yielding the sources of a folder's series once the walk is through the folder (see the class)."""
        w = self._w
        try:
            for folder in _walk_root(w, self.archive):
                if w._series_re is not None or folder == ".":
                    continue  # (a pattern may join any files into a series: all of them at the end)
                if any(PurePosixPath(path).parent.as_posix() == folder for _, path in w.deferred):
                    continue  # a symbolic link in it: followed at the end
                done = [s for s in w.sources if s.series == folder]
                if done:
                    w.sources = [s for s in w.sources if s.series != folder]
                    yield done
        finally:
            _remember(w)
        self.rest = w.sources


def _walk_root(w: _Walk, archive: Path) -> Iterator[str]:
    """Walk `archive` (a folder, or one file) into `w`, yielding the display path of each folder walked
    through (_walk_dir: FolderWalk)."""
    try:
        st = os.stat(archive)
    except OSError as e:
        w.skip(archive.name or str(archive), f"cannot read: {read_error_reason(e)}")
        return
    if stat.S_ISDIR(st.st_mode):
        w.seen_dirs[(st.st_dev, st.st_ino)] = "."
        yield from _walk_dir(w, archive, "")
        # symbolic links last, so that what they lead to is known by its own path first
        while w.deferred and not w.full:
            full, path = w.deferred.pop(0)
            yield from _guarded_steps(w, path, _follow_link(w, full, path))
    elif stat.S_ISREG(st.st_mode):
        _guarded(w, archive.name or str(archive), _walk_local, w, str(archive), archive.name, st.st_size, st.st_mtime, root_archive=True)
    else:
        # a fifo would block the open, a device never end: refused before any read
        w.skip(archive.name or str(archive), f"not a regular file ({arc.file_kind(st.st_mode)}): not read")


class Known(Protocol):
    """What walk_store keeps of each object it read (the summary cache)."""

    def get_listing(self, key: str) -> Listing | None:
        """Return what was found in the object of `key`, or None."""
        ...

    def put_listings(self, items: list[tuple[str, Listing]], folders: Sequence[tuple[str, dict[str, Listing]]] = ()) -> None:
        """Keep what was found in each object of `items` (key, listing), and in each folder of `folders` (key,
        {file name: listing}), at once."""
        ...

    def get_folder(self, key: str) -> dict[str, Listing] | None:
        """Return what was found in each file of a folder (by name), or None."""
        ...


def walk_store(url: str, store: Store, config: Config, known: Known | None = None) -> tuple[list[Source], list[Skipped]]:
    """Return every dump object under the object-store `url` as a Source, and every other one as Skipped.

    An object `known` holds (by URL, version, size, display path and the discovery
    settings) is not read again. Raises what ingest.store.list_objects raises when the
    listing itself fails (a missing bucket, access denied, an unreachable endpoint)."""
    from goroscope.ingest import store as st

    w = _Walk(url, config, store, known)
    todo: list[tuple[st.Object, str, str | None, Listing | None]] = []
    for obj in st.list_objects(url, store):
        root = obj.path == ""
        path = obj.path or PurePosixPath(obj.url.rstrip("/")).name
        if not root and (_in_vcs_dir(path) or PurePosixPath(path).name in VCS_DIRS):
            continue
        key = _listing_key(w, obj.url, obj.version, obj.size, path, root) if known is not None and obj.version else None
        todo.append((obj, path, key, known.get_listing(key) if key is not None else None))  # type: ignore[union-attr]
    try:
        _walk_objects(w, todo)
    finally:
        _remember(w)
        for obj, *_ in todo:
            st.forget(obj.url, store)  # what a walk stopped early did not use
    return w.sources, w.skipped


def _walk_objects(w: _Walk, todo: list) -> None:
    """Walk the listed objects `todo` ((object, display path, listing key, what `known` holds of it)), in order."""
    from goroscope.ingest import store as st

    store = w.store
    assert store is not None
    for i, (obj, path, key, listing) in enumerate(todo):
        if w.full:
            break
        if i % _PREFETCH == 0:
            # the first bytes of the next objects to sniff, fetched at once
            st.prefetch([o for o, p, _, known_ in todo[i : i + _PREFETCH] if known_ is None and not w.settling_at(o.mtime)], store)
        if listing is not None and _reuse(w, path, listing):
            continue
        n_sources, n_skipped = len(w.sources), len(w.skipped)
        try:
            _guarded(w, path, _walk_file, w, obj.url, path, obj.size, obj.mtime, root_archive=obj.path == "", version=obj.version)
        finally:
            st.forget(obj.url, store)
        _learn(w, key, n_sources, n_skipped)


_PREFETCH = 64  # objects whose first bytes are fetched at once (64 x SNIFF_BYTES in memory at most)


def walk_object(url: str, store: Store, config: Config) -> tuple[list[Source], list[Skipped]]:
    """Return what walk_store returns for the one dump `url` names: an object, or a member of an
    archive object named as reports name it ('s3://b/p/x.tar.gz/pods/a/dump.txt'), for inspect and diff."""
    from goroscope.ingest.store import is_object

    found = walk_store(url, store, config)
    if found[0] or found[1]:
        return found
    scheme, _, rest = url.partition("://")
    parts = rest.rstrip("/").split("/")
    for cut in range(len(parts) - 1, 1, -1):
        parent = f"{scheme}://{'/'.join(parts[:cut])}"
        if is_object(parent, store):
            member = "/".join(parts[cut:])
            sources, skipped = walk_store(parent, store, config)
            return [s for s in sources if s.path == member], [s for s in skipped if s.path == member]
    return found


def _shape(config: Config) -> str:
    """Return the discovery settings that shape what an object gives (its series, times, bounds), as text."""
    d = config.discovery
    return repr((d.timestamp_pattern, d.timezone, d.series_pattern, d.max_inflate_bytes))


def _listing_key(w: _Walk, url: str, version: str | None, size: int, path: str, root: bool) -> str:
    """Return the key under which what the object or file `url` (at `version`: an ETag, or a file's mtime; of
    `size` bytes; display path `path`; `root`: ARCHIVE itself, whose members are not under its name) gave is kept."""
    import hashlib

    key = ("goroscope.listing/2", url, version, size, path, root, w.shape)
    return hashlib.sha256(repr(key).encode("utf-8", "surrogatepass")).hexdigest()


def _reuse(w: _Walk, path: str, listing: Listing) -> bool:
    """Add what an earlier run found in the file or object at `path` (`listing`); return False, adding
    nothing, when it would pass max_files (the file is then walked, and the walk stops where it must)."""
    found = len(listing[0]) + len(listing[1])
    if w.full or w.count + max(1, found) > w.disc.max_files:
        return False
    w.count += max(1, found)
    if w.store is None:
        w.sources.extend(listing[0])
    else:
        w.sources.extend(replace(s, store=w.store) for s in listing[0])
    w.skipped.extend(listing[1])
    return True


def _learn(w: _Walk, key: str | None, n_sources: int, n_skipped: int) -> Listing | None:
    """Keep under `key` what the walk of one file or object added past `n_sources` sources and `n_skipped`
    skipped (for `_remember`), unless it holds a skip that a later run may not meet; return what it kept."""
    if key is None or w.full:
        return None
    found = (tuple(w.sources[n_sources:]), tuple(w.skipped[n_skipped:]))
    if not (found[0] or found[1]) or any(_passing(s.reason) for s in found[1]):
        return None
    if w.store is not None:
        found = (tuple(replace(s, store=None) for s in found[0]), found[1])  # no credentials on disk
    w.learned.append((key, found))
    return found


def _remember(w: _Walk) -> None:
    """Store in `w.known`, in one go, what the walk found in the files, folders and objects it did not know."""
    if w.known is not None and (w.learned or w.learned_folders):
        w.known.put_listings(w.learned, w.learned_folders)
    w.learned = []
    w.learned_folders = []


class _Folder:
    """What is known and found of the files of one folder on disk, by name (_walk_dir).

    A fleet's rerun finds each folder as it was: its files' names, sizes and mtimes digest
    to `key`, under which the cache keeps what the walk found in every one of them, read
    in one lookup instead of one a file. Once the folder is walked, what was found in each
    file (taken from there, from each file's own listing, or sniffed) is kept under `key`
    when every file gave something a later run can take (_learn)."""

    __slots__ = ("key", "names", "known", "found")

    def __init__(self, key: str, names: set[str], known: dict[str, Listing] | None) -> None:
        self.key = key  # _folder_key
        self.names = names  # its regular files
        self.known = known  # what the cache holds under `key`, None: nothing
        self.found: dict[str, Listing] = {}  # what this walk found in each file


def _folder(w: _Walk, folder: Path, prefix: str, entries: Sequence[os.DirEntry]) -> _Folder | None:
    """Return what the cache holds of the regular files of `folder` (display prefix `prefix`) among `entries`,
    as they are now; None when it cannot be kept (no cache, a file still settling or that cannot be stat'ed)."""
    import hashlib

    if w.known is None or w.store is not None:
        return None
    files = []
    try:
        for entry in entries:
            if entry.is_symlink():
                continue
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode):
                if w.settling_at(st.st_mtime):
                    return None
                files.append((entry.name, st.st_size, repr(st.st_mtime)))
    except OSError:
        return None
    if not files:
        return None
    where = str(folder)
    key = repr(("goroscope.folder/1", where, os.path.join(w.cwd, where), prefix, tuple(files), w.shape))
    key = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return _Folder(key, {name for name, _, _ in files}, w.known.get_folder(key))


def _learn_folder(w: _Walk, folder: _Folder | None) -> None:
    """Keep what the walk found in every file of `folder`, when it is not known yet and nothing is missing."""
    if folder is not None and folder.known is None and not w.full and folder.found.keys() == folder.names:
        w.learned_folders.append((folder.key, folder.found))


def _walk_local(
    w: _Walk, fs_path: str, path: str, size: int, mtime: float, *, root_archive: bool, folder: _Folder | None = None
) -> None:
    """Add the regular file `fs_path` on disk (display path `path`) as `_walk_file` does; what `w.known` holds of
    it at this size and mtime is taken instead of opening it, and what a walk of it finds is kept there. `folder`:
    what is known and found of the other files of its folder (_Folder), for a file walked in a folder."""
    if w.known is None or w.settling_at(mtime):
        _walk_file(w, fs_path, path, size, mtime, root_archive=root_archive)
        return
    name = os.path.basename(fs_path)
    known = folder.known.get(name) if folder is not None and folder.known is not None else None
    if known is not None and _reuse(w, path, known):
        if folder is not None:
            folder.found[name] = known
        return
    # the path as given (what its Sources name) and as absolute (the same relative path elsewhere is another file)
    key = _listing_key(w, f"{fs_path}\0{os.path.join(w.cwd, fs_path)}", repr(mtime), size, path, root_archive)
    listing = w.known.get_listing(key)
    if listing is not None and _reuse(w, path, listing):
        found: Listing | None = listing
    else:
        n_sources, n_skipped = len(w.sources), len(w.skipped)
        _walk_file(w, fs_path, path, size, mtime, root_archive=root_archive)
        found = _learn(w, key, n_sources, n_skipped)
    if folder is not None and found is not None:
        folder.found[name] = found


def _passing(reason: str) -> bool:
    """Return True for a skip that a later run may not meet (settling, a failed read, max_files, a bug): never kept."""
    return reason.startswith(("settling", "cannot read", "not read: the walk stopped", "internal error"))


def _guarded(w: _Walk, path: str, step, *args, **kwargs) -> None:
    """Run `step(*args, **kwargs)` (the walk of one entry); any error it did not expect skips `path`, not the run."""
    try:
        step(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - one bad file never costs the run
        w.skip(path, internal_reason(e))


def _guarded_steps(w: _Walk, path: str, steps: Iterator[str]) -> Iterator[str]:
    """Run the walk `steps` (of one entry) as _guarded runs a step, yielding what it yields."""
    try:
        yield from steps
    except Exception as e:  # noqa: BLE001 - one bad file never costs the run
        w.skip(path, internal_reason(e))


def _walk_dir(w: _Walk, folder: Path, prefix: str) -> Iterator[str]:
    """Walk `folder` (display prefix `prefix`, '' for the root) depth first, in name order, yielding the
    display path of each folder walked through ('.' for the root; this one last); symbolic links are
    put aside for later."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as e:
        w.skip(prefix.rstrip("/") or ".", f"cannot read folder: {read_error_reason(e)}")
        return
    files = _folder(w, folder, prefix, entries)
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
            w.skip(path, f"cannot read: {read_error_reason(e)}")
            continue
        yield from _guarded_steps(w, path, _walk_entry(w, full, path, st, entry.name, files))
    _learn_folder(w, files)
    yield prefix.rstrip("/") or "."


def _follow_link(w: _Walk, full: Path, path: str) -> Iterator[str]:
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
            w.skip(path, f"cannot follow symbolic link: {read_error_reason(e)}")
        return
    yield from _walk_entry(w, full, path, st, full.name)


def _walk_entry(w: _Walk, full: Path, path: str, st: os.stat_result, name: str, folder: _Folder | None = None) -> Iterator[str]:
    """Walk one folder entry: a folder (once), a regular file (once; `folder`: its folder's, _walk_local), or skip it."""
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
        yield from _walk_dir(w, full, path + "/")
    elif stat.S_ISREG(st.st_mode):
        seen = w.seen_files.get(key)
        if seen is not None:
            w.skip(path, f"the same file as {seen!r} (a link): read once")
            return
        w.seen_files[key] = path
        _walk_local(w, str(full), path, st.st_size, st.st_mtime, root_archive=False, folder=folder)
    else:
        w.skip(path, f"not a regular file ({arc.file_kind(st.st_mode)}): not read")


def _walk_file(
    w: _Walk, fs_path: str, path: str, size: int, mtime: float, *, root_archive: bool, version: str | None = None
) -> None:
    """Add the regular file (or object, at `version`) `fs_path` (display path `path`), or the members of an archive."""
    w.version = version
    if not w.take_slot(path):
        return
    if w.settling(path, mtime):
        return
    try:
        kind, peek = arc.peek_kind(fs_path, w.store, PEEK_BYTES if w.store is None else 512)
    except OSError as e:
        w.skip(path, f"cannot read: {read_error_reason(e)}")
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
    draft = w.draft(path, fs_path, None, size, mtime)
    bound = w.disc.max_inflate_bytes
    if len(peek) == PEEK_BYTES and bound >= PEEK_BYTES and w.add(draft, peek, None, peek=True):
        return  # told as SNIFF_BYTES would tell it (most small dumps: no more is inflated)
    head, error = arc.read_head(lambda: arc.open_source(draft, bound, buffer_size=arc.SNIFF_BYTES))
    w.add(draft, head, error)


# -------------------------------------------------------------------- archive walks


def _in_vcs_dir(name: str) -> bool:
    """Return True when the member `name` lies inside a VCS folder."""
    return any(p in VCS_DIRS for p in name.split("/")[:-1])


def _walk_tar(w: _Walk, fs_path: str, apath: str, prefix: str) -> None:
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
        handle = arc.open_tar(fs_path, bound, w.store)
        tf = handle.tf
    except OSError as e:
        w.skip(apath, f"cannot read: {read_error_reason(e)}")
        return
    except (tarfile.TarError, EOFError, zlib.error) as e:
        w.skip(apath, f"corrupt archive: {read_error_reason(e)}")
        return
    except Exception as e:  # noqa: BLE001 - whatever tarfile raises on a hostile header
        w.skip(apath, internal_reason(e))
        return
    try:
        with closing(handle):
            while True:
                current = None
                m = tf.next()
                if m is None:
                    problem = handle.end_problem()
                    if problem is not None:
                        broken(problem)
                    return
                current = m.name
                if not _walk_tar_member(w, handle, m, str(fs_path), prefix, names, bound):
                    return
                last = m.name
    except InflateBoundError as e:
        w.skip(apath, f"{e.reason}; members from {current!r} on were not read" if current else e.reason)
    except DumpError as e:
        broken(e.reason)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        broken(read_error_reason(e))
    except Exception as e:  # noqa: BLE001 - a reader bug costs this archive's rest, never the run
        broken(internal_reason(e))


def _walk_tar_member(
    w: _Walk,
    handle: arc.TarHandle,
    m: tarfile.TarInfo,
    fs_path: str,
    prefix: str,
    names: set[str],
    bound: int,
) -> bool:
    """Add one tar member; return False when the archive must not be read further."""
    if m.isdir():
        return True
    safe = arc.safe_member_name(m.name)
    path = prefix + (safe if safe is not None else m.name.lstrip("/"))
    if safe is None:
        w.skip(path, f"unsafe member name {m.name!r} (absolute or leading out of the archive): not read")
        return True
    if _in_vcs_dir(safe):
        return True
    if not m.isreg():
        w.skip(path, f"{arc.tar_kind(m)} inside the archive: not read")
        return True
    if not w.take_slot(path):
        return False
    if safe in names:
        w.skip(path, "a second member of the same name in the archive: only the first is read")
        return True
    names.add(safe)
    if m.size > bound:
        reason = arc.bound_reason(f"member {m.name!r}", bound, m.size)
        if handle.streamed:
            # going past it would inflate more than the bound, too
            w.skip(path, f"{reason}; the archive was not read past it")
            return False
        w.skip(path, reason)
        return True
    draft = w.draft(path, fs_path, m.name, m.size, float(m.mtime))
    head, error = arc.member_head(handle, m, path, bound)
    w.add(draft, head, error)
    return True


def _walk_zip(w: _Walk, fs_path: str, apath: str, prefix: str) -> None:
    """Add the members of the zip archive `fs_path` (display path `apath`), each on its own:
    a damaged member is skipped with its reason and the others are read."""
    try:
        zf = arc.open_zip(fs_path, w.store)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        w.skip(apath, f"corrupt archive: {read_error_reason(e)}")
        return
    except Exception as e:  # noqa: BLE001 - whatever zipfile raises on a hostile directory
        w.skip(apath, internal_reason(e))
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
            safe = arc.safe_member_name(info.filename)
            path = prefix + (safe if safe is not None else info.filename.lstrip("/"))
            if safe is None:
                w.skip(path, f"unsafe member name {info.filename!r} (absolute or leading out of the archive): not read")
                continue
            if _in_vcs_dir(safe):
                continue
            _guarded(w, path, _walk_zip_member, w, zf, info, str(fs_path), path, last_of[info.filename] == i)


def _walk_zip_member(w: _Walk, zf: zipfile.ZipFile, info: zipfile.ZipInfo, fs_path: str, path: str, last: bool) -> None:
    """Add one zip member (display path `path`; `last`: no later member has its name)."""
    special = _zip_special(info)
    if special is not None:
        w.skip(path, f"{special} inside the archive: not read")
        return
    if not w.take_slot(path):
        return
    if not last:
        w.skip(path, "an earlier member of the same name in the archive: only the last is read")
        return
    if info.flag_bits & 0x1:
        w.skip(path, "an encrypted member: not read")
        return
    bound = w.disc.max_inflate_bytes
    if info.file_size > bound:
        w.skip(path, arc.bound_reason(f"member {info.filename!r}", bound, info.file_size))
        return
    draft = w.draft(path, fs_path, info.filename, info.compress_size, arc.zip_mtime(info, w.disc.timezone))
    head, error = arc.zip_head(zf, info, path, bound)
    w.add(draft, head, error)


def _zip_special(info: zipfile.ZipInfo) -> str | None:
    """Return what a zip member is when it is not a regular file (a link, a fifo), else None.

    The file type lives in the high 16 bits of external_attr as a Unix st_mode. A mode
    without file-type bits (Python's ZipFile.writestr(name, data) writes 0o600 so) is
    a regular file, as is every member of an archive made elsewhere than on Unix."""
    if info.create_system != 3:  # 3: Unix; elsewhere those bits are no st_mode
        return None
    mode = (info.external_attr >> 16) & 0xFFFF
    kind = stat.S_IFMT(mode)
    if kind == 0 or kind == stat.S_IFREG:
        return None
    return arc.file_kind(mode)


# ----------------------------------------------------------------------- reasons


def _settled(head: bytes) -> Sniff | None:
    """Return what sniffing a file's first bytes `head` says when they settle what _classify makes of it,
    however it goes on; None: sniff more of it."""
    found = sniff_settled(head)
    if found is not None and found.format == "debug2" and found.profile == PROFILE_GOROUTINE:
        # _refine_profile reads the first stack: whole when a blank line ends it within `head`
        first = _FIRST_STACK.search(head)
        if first is None or first.end() >= len(head) or head[first.end()] != 0x0A:
            return None
    return found


_FIRST_STACK = re.compile(rb"^goroutine \d+ [^\n]*\n((?:[^\n]+\n)*)", re.M)  # a dump's first goroutine, header and frames


def _refine_profile(found: Sniff, head: bytes) -> str:
    """Return the profile kind, telling a goroutineleak debug=2 dump from a goroutine one.

    `runtime/pprof` writes the goroutineleak profile at debug=2 as a full stack dump
    taken by its writer goroutine, whose own (first, running) stack names
    `runtime/pprof.writeGoroutineLeak`."""
    if found.format == "debug2" and found.profile == PROFILE_GOROUTINE:
        first = _FIRST_STACK.search(head)
        if first and b"runtime/pprof.writeGoroutineLeak(" in first.group(1):
            return PROFILE_GOROUTINELEAK
    return found.profile
