"""The SQLite store of snapshot summaries and of correlated series, so that a nightly rerun
reparses only new files and re-correlates only the series they belong to.

Contract:
- `SummaryCache.open(path)` opens (creating folders and the database as needed) the
  cache at `path`, or at the default location under the user cache dir when `path`
  is None. It never raises for a cache problem: the cache is an optimisation, so a
  cache that cannot be used is reported in `cache.warnings` and the run goes on
  without it (`cache.enabled` is then False; every read misses and writes do nothing).
- `get_head(source, config_digest)` returns a `Hit`: the file's Summary without its
  stacks (`head`, all that grouping reads), the entry id and its content hash, without
  decoding the stacks; `load(hit, source)` then decodes the whole Summary, only when a
  series needs it. `get(source, config_digest)` does both at once.
- `put(source, config_digest, summary)` stores a Summary (its head apart);
  `put_many(items, config_digest)` stores a batch of them in one transaction.
- `get_series(key)` / `put_series(key, scope, series)` memoise correlation: `key` is a
  digest, made by the caller, of everything correlation reads (pipeline.series_key);
  `scope` names the series (archive, series id, config, tool) so that a new state of a
  series supersedes its old ones: only the `SERIES_KEEP` most recently used of a scope
  are kept.
- `get_listing(key)` / `put_listings([(key, listing), ...])` keep what discovery found
  in one file on disk or object of a store (its Sources, without their Store, and its
  Skipped), under a key discovery makes from the file's path, size and mtime (an
  object's URL, version and size): a nightly rerun stats the folder (lists the bucket)
  and opens no file it has seen. `get_folder(key)` / `put_listings(..., folders)` keep
  the same of every file of a folder on disk at once, under a key of the folder and its
  files' names, sizes and mtimes: a rerun over an unchanged folder reads one row.
- `get_judged(key, cls)` / `put_judged([(key, series key, blob), ...])` keep rank's
  judgement of a memoised series (pipeline.judged_key) and the series as a run keeps
  it, so that a cached rerun judges no series again, nor decodes the whole series
  (`keep_series(key, series id)` then marks it used); `series_key_of(series id)`
  names the memoised series of this run.
- `get_recall(key)` / `put_recalls([(key, series key or None, blob), ...])` keep what a
  run made of one series as discovery listed it (pipeline.recall_key: its files by
  path, size and mtime, the config, the code, the window): the key of its memoised
  Series (whose judgement judged_key finds) and what grouping left of its files, so
  that a rerun over an unchanged series reads neither its heads nor groups them.
- `close()` ends the connection; a SummaryCache is also a context manager.

The key of an entry is the file (the real path of `Source.fs_path`, plus the archive
member; for an object in a store its URL and the version its listing gives, the ETag),
its size and mtime, the tool version, the config digest and a schema
fingerprint (our schema version plus the field names of the model records, so that a
change to model.py never decodes an old blob into a wrong record). When a row for the
same file exists but its size or mtime changed, the SHA-256 of the content decides:
equal content is a hit (a `touch` or a copy that kept the bytes), and the row's size and
mtime are brought up to date. The hash is computed at `put` (or given by the caller,
who takes it while parsing with ingest.archive.ContentDigest) and at `get` only on that
size/mtime miss; it reads through ingest.archive like everything else, so an archive
member is bounded by max_inflate_bytes and members hashed in archive order inflate a
compressed tar once.

Layout: `entries` holds one small row per file and key, with the encoded head of its
Summary (so that lookups, grouping and pruning never read the blobs), `blobs` the
encoded summaries by entry id, `series` the memoised Series by key, `meta` the time of
the last prune. Once a day, opening deletes the entries and series of other goroscope
versions and those no run has used (stored or read) for `max_age_days` (30 by
default), so that a nightly job's cache does not grow without bound.

Values are encoded by codec.py (pickled through per-record builders, zlib-compressed,
decoded by an unpickler that builds only model records).

Concurrency and damage: the database is in WAL mode with a busy timeout, and every
write is one short `BEGIN IMMEDIATE` transaction, so two runs at once on one cache both
finish and both are stored; a run killed at any point (SIGKILL included) leaves a
database that SQLite recovers on the next open. A file that is not a database or fails
`PRAGMA quick_check` (run at open on files up to 2 GiB; on larger ones damage is found
when an entry is read) is renamed aside to `<name>.corrupt-<UTC time>` (with its WAL)
under an advisory lock, a warning says so, and a fresh cache is built in its place. An
entry or a series whose value cannot be decoded is deleted, with a warning, and counts
as a miss; a database error met mid-run (SQLITE_CORRUPT) sets the file aside the same
way, while a full disk, a lock held past the timeout or a read-only file only turns the
cache off for the run, with a warning.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import goroscope
from goroscope import model
from goroscope.codec import (
    Listing,
    decode_fields,
    decode_folder,
    decode_listing,
    decode_recall,
    decode_series,
    decode_summary,
    encode_entry,
    encode_folder,
    encode_listing,
    encode_series,
    head_of,
)
from goroscope.errors import DumpError
from goroscope.ingest.archive import DEFAULT_MAX_INFLATE, content_sha256
from goroscope.model import Series, Skipped, Source, Summary

__all__ = [
    "SummaryCache",
    "Hit",
    "default_cache_path",
    "content_sha256",
    "stat_matches",
    "SCHEMA_VERSION",
    "SERIES_KEEP",
]

SCHEMA_VERSION = 6  # bump when the table layout or the blob encoding changes (5: codec.py's builders; 6: debug=1/protobuf stacks carry inferred states)
_BUSY_TIMEOUT_MS = 60_000  # how long a writer waits for another run's transaction
_QUICK_CHECK_MAX_BYTES = 2 * 1024**3  # larger files skip the O(size) check at open; errors still surface on use
_PRUNE_EVERY_S = 24 * 3600  # prune at most once a day
DEFAULT_MAX_AGE_DAYS = 30  # entries no run has used for this long are deleted
SERIES_KEEP = 3  # memoised states kept per series scope (a nightly run supersedes the last)

_SCHEMA = (
    # one small row per file, so that lookups, grouping and pruning never read the blobs
    """CREATE TABLE IF NOT EXISTS entries (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL,        -- real path of the file, then NUL and the member name for archive members
        tool TEXT NOT NULL,        -- goroscope version and schema fingerprint (TOOL_KEY)
        config TEXT NOT NULL,      -- Config.digest()
        size INTEGER NOT NULL,     -- Source.size when stored
        mtime REAL NOT NULL,       -- Source.mtime when stored
        sha256 TEXT,               -- content hash (NULL when it could not be computed)
        stored REAL NOT NULL,      -- time.time() of the put
        used REAL NOT NULL,        -- time.time() of the last run that stored or read it
        head BLOB NOT NULL,        -- encode_summary() of the Summary without its stacks
        UNIQUE (path, tool, config)
    )""",
    "CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, value BLOB NOT NULL)  -- encode_summary(), by entries.id",
    # correlate()'s Series, memoised by a digest of everything it reads
    """CREATE TABLE IF NOT EXISTS series (
        key TEXT PRIMARY KEY,      -- the caller's digest of the series' inputs
        scope TEXT NOT NULL,       -- which series of which archive under which config: newer keys supersede
        tool TEXT NOT NULL,        -- TOOL_KEY
        stored REAL NOT NULL,      -- time.time() of the put
        used REAL NOT NULL,        -- time.time() of the last run that stored or read it
        value BLOB NOT NULL        -- encode_series()
    )""",
    "CREATE INDEX IF NOT EXISTS series_scope ON series (scope, used)",
    # what discovery found in one object of a store, by discover.walk_store's key
    """CREATE TABLE IF NOT EXISTS listings (
        key TEXT PRIMARY KEY,      -- digest of the object's URL, version, size, display path and discovery settings
        tool TEXT NOT NULL,        -- TOOL_KEY
        used REAL NOT NULL,        -- time.time() of the last run that stored or read it
        value BLOB NOT NULL        -- encode_listing()
    )""",
    # rank.judge_series' Judged of a memoised series, by a digest of its series key, the judging code and the
    # acknowledgements in force: a cached rerun judges no series again
    """CREATE TABLE IF NOT EXISTS judged (
        key TEXT PRIMARY KEY,      -- the caller's digest (pipeline.judged_key)
        series TEXT NOT NULL,      -- the key of the memoised series it judges: gone with it
        tool TEXT NOT NULL,        -- TOOL_KEY
        used REAL NOT NULL,        -- time.time() of the last run that stored or read it
        value BLOB NOT NULL        -- codec.encode_fields(): the Judged, and the series as the run keeps it
    )""",
    # what a run made of one series as discovery listed it, by pipeline.recall_key: a rerun over an unchanged
    # series takes it whole
    """CREATE TABLE IF NOT EXISTS recalls (
        key TEXT PRIMARY KEY,      -- the caller's digest (pipeline.recall_key)
        series TEXT,               -- the key of its memoised series (NULL: none in the window): gone with it
        tool TEXT NOT NULL,        -- TOOL_KEY
        used REAL NOT NULL,        -- time.time() of the last run that stored or read it
        value BLOB NOT NULL        -- codec.encode_recall()
    )""",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)  -- pruned_at",
)
_TABLES = {"entries", "blobs", "series", "meta", "listings", "judged", "recalls"}
_KEYED = ("series", "listings", "judged", "recalls")  # the tables whose rows a run reads by key (marked used at close)


def _model_fingerprint() -> str:
    """Return a hash of the field names of every model record, so model changes invalidate."""
    parts = []
    for name in sorted(model.__all__):
        cls = getattr(model, name)
        if dataclasses.is_dataclass(cls):
            parts.append(name + "(" + ",".join(f.name for f in dataclasses.fields(cls)) + ")")
    return hashlib.sha256(";".join(parts).encode()).hexdigest()[:12]


TOOL_KEY = f"{goroscope.__version__}/s{SCHEMA_VERSION}/{_model_fingerprint()}"


def default_cache_path() -> Path:
    """Return $XDG_CACHE_HOME/goroscope/summaries.sqlite3 (or under ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "goroscope" / "summaries.sqlite3"


class Hit:
    """A cache entry found for a file, before its stacks are decoded.

    A plain slotted class, not a dataclass: it never leaves this process, and every
    run defines it at start.
    """

    __slots__ = ("entry", "head", "sha256", "generation")

    def __init__(self, *, entry: int, head: Summary, sha256: str | None, generation: int) -> None:
        """Hold one entry's id, head and content hash, and which database it is in."""
        self.entry = entry  # entries.id, for load()
        self.head = head  # the Summary with stacks=()
        self.sha256 = sha256  # the content hash it was stored with (None: not computed)
        self.generation = generation  # SummaryCache.generation when found: ids of a replaced database mean nothing


# ------------------------------------------------------------------------- content


def _file_key(source: Source) -> str:
    """Return the cache's name for `source`: its real path (an object: its URL and version), plus NUL and the member."""
    if source.store is not None:
        # what the listing says of the object, so that a rerun needs no request to know it
        real = f"{source.fs_path}\0{source.version}"
    else:
        real = _real_path(source.fs_path)
    key = real if source.member is None else f"{real}\0{source.member}"
    return key if source.part is None else f"{key}\0#{source.part}"  # one of a file's back-to-back profiles


_REAL_FOLDERS: dict[str, str] = {}  # absolute folder -> its real path, this run (SummaryCache.__init__ empties it)


def _real_path(fs_path: str) -> str:
    """Return os.path.realpath(fs_path), resolving its folder once a run: a fleet's 10,000 files lie
    in a few hundred folders, and realpath costs an lstat a component (0.05 ms a file)."""
    folder, name = os.path.split(os.path.join(os.getcwd(), fs_path))  # (not normalised: '..' after a link is the link's)
    if name in ("", ".", "..") or os.path.islink(fs_path):
        return os.path.realpath(fs_path)
    real = _REAL_FOLDERS.get(folder)
    if real is None:
        real = _REAL_FOLDERS[folder] = os.path.realpath(folder)
    return os.path.join(real, name)


def stat_matches(source: Source) -> bool:
    """Return True when the file behind `source` still has the size and mtime it had."""
    if source.member is not None or source.store is not None:
        # a member's size and mtime come from the archive's own index; an object is
        # replaced whole, and a new one has another version (the cache's key) in the next listing
        return True
    try:
        st = os.stat(source.fs_path)
    except OSError:
        return False
    return st.st_size == source.size and st.st_mtime == source.mtime


# --------------------------------------------------------------------------- cache


class _Corrupt(sqlite3.DatabaseError):
    """The database opened but failed its integrity check."""


def _is_corruption(e: sqlite3.Error) -> bool:
    """Return True when `e` says the file is damaged (not locked, full, read-only or missing)."""
    if isinstance(e, _Corrupt):
        return True
    name = getattr(e, "sqlite_errorname", None) or ""
    return name.startswith("SQLITE_CORRUPT") or name == "SQLITE_NOTADB"


class SummaryCache:
    """A handle on the SQLite summary cache; see the module docstring for the contract."""

    def __init__(self, path: Path) -> None:
        """Prepare a handle on `path` (use `SummaryCache.open`, which also connects)."""
        self.path = path
        self.warnings: list[str] = []  # for the person running goroscope; never printed here
        self.enabled = False  # False when the cache could not be opened or broke mid-run
        self.hits = 0  # get() answered from the cache
        self.misses = 0  # get() found nothing usable
        self.hashed = 0  # content hashes computed by get() (size/mtime changed)
        self.series_hits = 0  # get_series() answered from the cache
        self.series_misses = 0  # get_series() found nothing usable
        self.max_age_days = DEFAULT_MAX_AGE_DAYS  # prune entries unused for longer
        self.max_inflate_bytes = DEFAULT_MAX_INFLATE  # bound on the archive members hashed
        self.pruned = 0  # entries deleted by the prune at open
        self._db: sqlite3.Connection | None = None
        self._used: set[int] = set()  # entry ids read this run: their `used` time is set at close
        self._used_keys: dict[str, set[str]] = {t: set() for t in _KEYED}  # keys read this run, by table: the same
        self._series_keys: dict[str, str] = {}  # series id -> the key its Series was memoised or found under, this run
        _REAL_FOLDERS.clear()  # (a folder's real path may change between runs)
        self.generation = 0  # how many times this handle replaced a damaged database mid-run

    # ---------------------------------------------------------------- opening

    @classmethod
    def open(
        cls, path: Path | str | None = None, *, max_age_days: float = DEFAULT_MAX_AGE_DAYS, max_inflate_bytes: int = DEFAULT_MAX_INFLATE
    ) -> SummaryCache:
        """Return a cache on `path` (None: the default location), ready to use or disabled with a warning.

        Once a day, opening deletes the entries of other goroscope versions and those no
        run has used for `max_age_days`. Archive members are hashed through
        ingest.archive, bounded by `max_inflate_bytes` (discovery.max_inflate_bytes).
        """
        cache = cls(Path(path) if path is not None else default_cache_path())
        cache.max_age_days = max_age_days
        cache.max_inflate_bytes = max_inflate_bytes
        cache._connect()
        if cache._db is not None:
            cache._prune()
        return cache

    def __enter__(self) -> SummaryCache:
        """Return self."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the cache."""
        self.close()

    def _connect(self) -> None:
        """Connect, check, set a damaged file aside and create the schema, under the open lock."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            self._disable(f"cannot create the cache folder {self.path.parent}: {e.strerror or e}")
            return
        self._open_checked(None)

    def _open_checked(self, why: str | None) -> None:
        """Connect under the open lock; a file that fails its check is set aside (for `why`, or its error) and rebuilt."""
        try:
            with self._open_lock():
                try:
                    self._db = self._connect_checked()
                except sqlite3.DatabaseError as e:
                    if not _is_corruption(e):
                        raise
                    self._set_aside(why or f"{e}")
                    self._db = self._connect_checked()
        except (sqlite3.Error, OSError) as e:
            self._disable(f"cannot use the summary cache {self.path}: {e}")
            return
        self.enabled = True

    @contextmanager
    def _open_lock(self) -> Iterator[None]:
        """Hold an exclusive advisory lock beside the database while it is checked or replaced."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if we die
            yield
        finally:
            os.close(fd)

    def _connect_checked(self) -> sqlite3.Connection:
        """Return a connection to a database that passed quick_check and has our schema."""
        db = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()
            if not mode or str(mode[0]).lower() != "wal":
                raise sqlite3.OperationalError(f"cannot switch to WAL mode (got {mode})")
            db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable across crashes of the process
            try:
                size = os.path.getsize(self.path)
            except OSError:
                size = 0
            # a check that reads every page; a bigger file gets only the cheap one (its header
            # and schema are read below) and damage elsewhere is caught when an entry is read
            problems = [row[0] for row in db.execute("PRAGMA quick_check")] if size <= _QUICK_CHECK_MAX_BYTES else ["ok"]
            if problems != ["ok"]:
                lines = [ln.strip() for row in problems for ln in str(row).splitlines() if ln.strip() and "***" not in ln]
                more = f" (and {len(lines) - 2} more)" if len(lines) > 2 else ""
                raise _Corrupt("integrity check failed: " + "; ".join(lines[:2]) + more)
            self._ensure_schema(db)
        except BaseException:
            db.close()
            raise
        return db

    def _ensure_schema(self, db: sqlite3.Connection) -> None:
        """Create our table, or rebuild it when the file holds an older schema version."""
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if _TABLES <= tables:
                return
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
                for table in tables:
                    db.execute(f'DROP TABLE IF EXISTS "{table}"')
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _set_aside(self, why: str) -> None:
        """Rename a damaged cache file (and its WAL) to *.corrupt-<time>; say so in the warnings."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        if self.path.exists():
            os.replace(self.path, aside)
        # a stale WAL beside a new database would be replayed into it: move it with the file
        for suffix in ("-wal", "-shm"):
            extra = self.path.with_name(self.path.name + suffix)
            if extra.exists():
                if suffix == "-wal":
                    os.replace(extra, aside.with_name(aside.name + suffix))
                else:
                    extra.unlink()
        self.warnings.append(f"summary cache {self.path} was damaged ({why}); moved it to {aside.name} and started a new one")

    def _disable(self, why: str) -> None:
        """Stop using the cache for this run and say why."""
        self.warnings.append(f"{why}; running without the cache")
        self.enabled = False
        self._drop_connection()

    def _drop_connection(self) -> None:
        """Close the database connection, if any, whatever state it is in."""
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None

    def _damaged(self, e: sqlite3.DatabaseError) -> None:
        """Handle a database error met mid-run: set a corrupt file aside and start afresh, or disable."""
        self._drop_connection()
        self.enabled = False
        if not _is_corruption(e):
            self._disable(f"summary cache {self.path}: {e}")
            return
        # whatever database comes next, the entry ids found so far are not its ids
        self.generation += 1
        self._used.clear()
        for keys in self._used_keys.values():
            keys.clear()
        # another run may have replaced it already: only a file that fails now is set aside
        self._open_checked(f"{e}")

    # ---------------------------------------------------------------- access

    def get(self, source: Source, config_digest: str) -> Summary | None:
        """Return the cached Summary of `source` under `config_digest`, or None."""
        hit = self.get_head(source, config_digest)
        return None if hit is None else self.load(hit, source)

    def get_head(self, source: Source, config_digest: str) -> Hit | None:
        """Return the entry of `source` under `config_digest` with the head of its Summary, or None.

        The stacks are not decoded: `load(hit, source)` does that when they are needed.
        """
        if self._db is None:
            self.misses += 1
            return None
        try:
            row = self._db.execute(
                "SELECT id, size, mtime, sha256, head FROM entries WHERE path = ? AND tool = ? AND config = ?",
                (_file_key(source), TOOL_KEY, config_digest),
            ).fetchone()
        except sqlite3.DatabaseError as e:
            self._damaged(e)
            self.misses += 1
            return None
        return self._hit(source, row, self.generation)

    def get_heads(self, sources: Sequence[Source], config_digest: str) -> list[Hit | None]:
        """Return get_head() of each of `sources`, looked up together: a query per 500 files, not one a file."""
        if self._db is None:
            return [self.get_head(s, config_digest) for s in sources]
        keys = [_file_key(s) for s in sources]
        rows: dict[str, tuple] = {}
        try:
            for i in range(0, len(keys), 500):
                part = keys[i : i + 500]
                sql = "SELECT path, id, size, mtime, sha256, head FROM entries WHERE tool = ? AND config = ? AND path IN (%s)"
                for path, *row in self._db.execute(sql % ",".join("?" * len(part)), (TOOL_KEY, config_digest, *part)):
                    rows[path] = tuple(row)
        except sqlite3.DatabaseError as e:
            self._damaged(e)
            self.misses += len(sources)
            return [None] * len(sources)
        generation = self.generation
        return [self._hit(s, rows.get(k), generation) for s, k in zip(sources, keys)]

    def _hit(self, source: Source, row: tuple | None, generation: int) -> Hit | None:
        """Return the Hit of `source`'s entry `row` (id, size, mtime, sha256, head) read from the database of
        `generation`, or None (a miss; so is a row of a database set aside since)."""
        if self._db is None or row is None or generation != self.generation:
            self.misses += 1
            return None
        entry, size, mtime, sha, head_blob = row
        try:
            if size != source.size or mtime != source.mtime:
                if not sha or not self._same_content(source, sha):
                    self.misses += 1
                    return None
                self._write([("UPDATE entries SET size = ?, mtime = ? WHERE id = ?", (source.size, source.mtime, entry))])
                if self._db is None:
                    self.misses += 1
                    return None
        except sqlite3.DatabaseError as e:
            self._damaged(e)
            self.misses += 1
            return None
        try:
            head = decode_summary(head_blob)
            if head.stacks:
                raise ValueError("its head holds stacks")
        except ValueError as e:
            self._drop_entry(entry, source, e)
            return None
        self._used.add(entry)
        self.hits += 1
        return Hit(entry=entry, head=head, sha256=sha, generation=self.generation)

    def load(self, hit: Hit, source: Source) -> Summary | None:
        """Return the whole Summary of the entry `hit` (of `source`), or None when it is gone or unreadable.

        An unreadable entry is deleted with a warning; the caller parses the file instead.
        """
        if self._db is None or hit.generation != self.generation:
            return None  # the database it was found in was set aside since
        try:
            blob_row = self._db.execute("SELECT value FROM blobs WHERE id = ?", (hit.entry,)).fetchone()
        except sqlite3.DatabaseError as e:
            self._damaged(e)
            return None
        try:
            if blob_row is None:
                raise ValueError("its data is missing")
            summary = decode_summary(blob_row[0])
            if head_of(summary) != hit.head:
                raise ValueError("its data does not match its head")
        except ValueError as e:
            self._drop_entry(hit.entry, source, e)
            return None
        return summary

    def _drop_entry(self, entry: int, source: Source, why: ValueError) -> None:
        """Delete an unreadable entry, say so, and count the miss."""
        self.warnings.append(f"summary cache {self.path}: entry for {source.path} unreadable ({why}); removed it")
        self._write([("DELETE FROM blobs WHERE id = ?", (entry,)), ("DELETE FROM entries WHERE id = ?", (entry,))])
        self._used.discard(entry)
        self.misses += 1

    def _same_content(self, source: Source, sha: str) -> bool:
        """Return True when the content of `source` hashes to `sha`."""
        self.hashed += 1
        try:
            return content_sha256(source, self.max_inflate_bytes) == sha
        except (DumpError, OSError):
            return False

    def put(self, source: Source, config_digest: str, summary: Summary, content_hash: str | None = None) -> str | None:
        """Store `summary` for `source` (`content_hash`: its content_sha256, when the caller has it).

        Return the content hash stored with it (None when none could be taken, or nothing was stored).
        """
        if self._db is None:
            return None
        if content_hash is None:
            try:
                if not stat_matches(source):
                    return None  # the file changed since it was listed (still being written): store nothing
                content_hash = content_sha256(source, self.max_inflate_bytes)
            except (DumpError, OSError):
                content_hash = None
            if not stat_matches(source):
                return None
        self._write(self._put_statements(source, config_digest, *encode_entry(summary), content_hash))
        return content_hash if self._db is not None else None

    def put_many(self, items: list[tuple[Source, Summary, str]], config_digest: str) -> None:
        """Store each (source, summary, content hash) of `items` (hashes the caller took), in one transaction."""
        self.put_encoded([(src, sha, *encode_entry(summary)) for src, summary, sha in items], config_digest)

    def put_encoded(self, items: list[tuple[Source, str, bytes, bytes]], config_digest: str) -> None:
        """Store each (source, content hash, encoded summary, encoded head) of `items`, in one transaction.

        Workers encode what they parsed (codec.encode_summary), so the parent writes bytes without decoding them."""
        if self._db is None or not items:
            return
        self._write([st for src, sha, blob, head in items for st in self._put_statements(src, config_digest, blob, head, sha)])

    def raw(self, hit: Hit) -> bytes | None:
        """Return the encoded Summary of the entry `hit`, not decoded (a worker decodes it), or None when it is gone."""
        if self._db is None or hit.generation != self.generation:
            return None
        try:
            row = self._db.execute("SELECT value FROM blobs WHERE id = ?", (hit.entry,)).fetchone()
        except sqlite3.DatabaseError as e:
            self._damaged(e)
            return None
        return None if row is None else bytes(row[0])

    @staticmethod
    def _put_statements(source: Source, config_digest: str, blob: bytes, head: bytes, content_hash: str | None) -> list[tuple[str, tuple]]:
        """Return the statements that store the encoded summary `blob` (and `head`) of `source` (its entry, then its blob)."""
        now = time.time()
        key = (_file_key(source), TOOL_KEY, config_digest)
        return [
            (
                "INSERT INTO entries (path, tool, config, size, mtime, sha256, stored, used, head)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (path, tool, config) DO UPDATE SET"
                " size = excluded.size, mtime = excluded.mtime, sha256 = excluded.sha256,"
                " stored = excluded.stored, used = excluded.used, head = excluded.head",
                (*key, source.size, source.mtime, content_hash, now, now, head),
            ),
            (
                "INSERT OR REPLACE INTO blobs (id, value)"
                " SELECT id, ? FROM entries WHERE path = ? AND tool = ? AND config = ?",
                (blob, *key),
            ),
        ]

    def get_series(self, key: str) -> Series | None:
        """Return the Series memoised under `key`, or None (an unreadable one is deleted with a warning)."""
        if self._db is None:
            self.series_misses += 1
            return None
        try:
            row = self._db.execute("SELECT value FROM series WHERE key = ? AND tool = ?", (key, TOOL_KEY)).fetchone()
        except sqlite3.DatabaseError as e:
            self._damaged(e)
            self.series_misses += 1
            return None
        if row is None:
            self.series_misses += 1
            return None
        try:
            series = decode_series(row[0])
        except ValueError as e:
            self.warnings.append(f"summary cache {self.path}: a memoised series is unreadable ({e}); removed it")
            self._write([("DELETE FROM series WHERE key = ?", (key,))])
            self.series_misses += 1
            return None
        self._used_keys["series"].add(key)
        self._series_keys[series.id] = key
        self.series_hits += 1
        return series

    def put_series(self, key: str, scope: str, series: Series) -> None:
        """Memoise `series` under `key`; keep only the SERIES_KEEP most recently used of `scope`."""
        self._series_keys[series.id] = key
        self.put_series_encoded(key, scope, encode_series(series))

    def series_key_of(self, series_id: str) -> str | None:
        """Return the key the Series of `series_id` was found or memoised under in this run, None if neither."""
        return self._series_keys.get(series_id)

    def get_judged(self, key: str, cls: type) -> tuple[object, Series | None] | None:
        """Return the `cls` record (rank.Judged) stored under `key` and the Series kept beside it, or None (an
        unreadable one is deleted, with a warning)."""
        return self._get_value("judged", key, lambda blob: decode_fields(blob, cls), "a stored judgement of a series")  # type: ignore[return-value]

    def keep_series(self, key: str, series_id: str) -> bool:
        """Count the Series memoised under `key` (of `series_id`) as found, without decoding it, as get_series
        does; return False when it is not there."""
        if self._db is None:
            return False
        try:
            row = self._db.execute("SELECT 1 FROM series WHERE key = ? AND tool = ?", (key, TOOL_KEY)).fetchone()
        except sqlite3.DatabaseError as e:
            self._damaged(e)
            return False
        if row is None:
            return False
        self._used_keys["series"].add(key)
        self._series_keys[series_id] = key
        self.series_hits += 1
        return True

    def put_judged(self, items: list[tuple[str, str, bytes]]) -> None:
        """Store each (key, key of the memoised series it judges, codec.encode_fields() of it) of `items`, in one
        transaction; what judges a series no longer memoised goes."""
        if self._db is None or not items:
            return
        now = time.time()
        self._write(
            [("INSERT OR REPLACE INTO judged (key, series, tool, used, value) VALUES (?, ?, ?, ?, ?)", (k, sk, TOOL_KEY, now, v)) for k, sk, v in items]
            + [("DELETE FROM judged WHERE series NOT IN (SELECT key FROM series)", ())]
        )

    def get_recall(self, key: str) -> tuple[str | None, tuple[Skipped, ...], int] | None:
        """Return what a run made of the series recalled under `key` (codec.decode_recall), or None (an unreadable
        one is deleted, with a warning)."""
        return self._get_value("recalls", key, decode_recall, "a stored outcome of a series")  # type: ignore[return-value]

    def put_recalls(self, items: Sequence[tuple[str, str | None, bytes]]) -> None:
        """Store each (key, key of the memoised series it names or None, codec.encode_recall() of it) of `items`,
        in one transaction, after the series and judgements they name."""
        if self._db is None or not items:
            return
        now = time.time()
        sql = "INSERT OR REPLACE INTO recalls (key, series, tool, used, value) VALUES (?, ?, ?, ?, ?)"
        self._write([(sql, (k, sk, TOOL_KEY, now, v)) for k, sk, v in items])

    def put_series_encoded(self, key: str, scope: str, blob: bytes) -> None:
        """Memoise the encoded Series `blob` (codec.encode_series, done by a worker) as put_series does."""
        if self._db is None:
            return
        now = time.time()
        self._write(
            [
                (
                    "INSERT OR REPLACE INTO series (key, scope, tool, stored, used, value) VALUES (?, ?, ?, ?, ?, ?)",
                    (key, scope, TOOL_KEY, now, now, blob),
                ),
                (
                    "DELETE FROM series WHERE scope = ? AND key NOT IN"
                    " (SELECT key FROM series WHERE scope = ? ORDER BY used DESC, stored DESC LIMIT ?)",
                    (scope, scope, SERIES_KEEP),
                ),
            ]
        )

    def get_listing(self, key: str) -> Listing | None:
        """Return the Listing stored under `key`, or None (an unreadable one is deleted with a warning)."""
        return self._get_value("listings", key, decode_listing, "a stored listing")  # type: ignore[return-value]

    def _get_value(self, table: str, key: str, decode, what: str) -> object | None:  # type: ignore[no-untyped-def]
        """Return the value stored under `key` in `table` (one of _KEYED), decoded by `decode`, or None; an
        unreadable one (`what`) is deleted with a warning. A value read is marked used at close."""
        if self._db is None:
            return None
        try:
            row = self._db.execute(f"SELECT value FROM {table} WHERE key = ? AND tool = ?", (key, TOOL_KEY)).fetchone()
        except sqlite3.DatabaseError as e:
            self._damaged(e)
            return None
        if row is None:
            return None
        try:
            value = decode(row[0])
        except ValueError as e:
            self.warnings.append(f"summary cache {self.path}: {what} is unreadable ({e}); removed it")
            self._write([(f"DELETE FROM {table} WHERE key = ?", (key,))])
            return None
        self._used_keys[table].add(key)
        return value

    def get_folder(self, key: str) -> dict[str, Listing] | None:
        """Return what discovery found in each file of the folder listed under `key` ({name: Listing}), or None (an
        unreadable one is deleted with a warning)."""
        return self._get_value("listings", key, decode_folder, "a stored listing of a folder")  # type: ignore[return-value]

    def put_listings(self, items: Sequence[tuple[str, Listing]], folders: Sequence[tuple[str, dict[str, Listing]]] = ()) -> None:
        """Store each (key, listing) of `items` and each (key, {file name: listing}) of `folders`, in one transaction."""
        if self._db is None or not (items or folders):
            return
        now = time.time()
        sql = "INSERT OR REPLACE INTO listings (key, tool, used, value) VALUES (?, ?, ?, ?)"
        rows = [(key, encode_listing(listing)) for key, listing in items] + [(key, encode_folder(found)) for key, found in folders]
        self._write([(sql, (key, TOOL_KEY, now, value)) for key, value in rows])

    def series_count(self) -> int:
        """Return the number of memoised series stored (all versions and configs)."""
        if self._db is None:
            return 0
        return self._db.execute("SELECT count(*) FROM series").fetchone()[0]

    def _write(self, statements: list[tuple[str, tuple]]) -> None:
        """Run `statements` in one immediate transaction; a failure is a warning, not an error."""
        if self._db is None:
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    self._db.execute(sql, params)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as e:
            self._damaged(e)

    def __len__(self) -> int:
        """Return the number of entries stored (all versions and configs)."""
        if self._db is None:
            return 0
        return self._db.execute("SELECT count(*) FROM entries").fetchone()[0]

    def _prune(self) -> None:
        """Delete, at most once a day, entries and series of other versions and those unused for max_age_days."""
        assert self._db is not None
        now = time.time()
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'pruned_at'").fetchone()
        except sqlite3.DatabaseError as e:
            self._damaged(e)
            return
        if row is not None:
            try:
                if now - float(row[0]) < _PRUNE_EVERY_S:
                    return
            except ValueError:
                pass
        try:
            before = len(self)
        except sqlite3.DatabaseError as e:
            self._damaged(e)
            return
        cutoff = now - self.max_age_days * 86400
        stale = "SELECT id FROM entries WHERE tool <> ? OR used < ?"
        self._write(
            [
                (f"DELETE FROM blobs WHERE id IN ({stale})", (TOOL_KEY, cutoff)),
                ("DELETE FROM entries WHERE tool <> ? OR used < ?", (TOOL_KEY, cutoff)),
                ("DELETE FROM series WHERE tool <> ? OR used < ?", (TOOL_KEY, cutoff)),
                ("DELETE FROM listings WHERE tool <> ? OR used < ?", (TOOL_KEY, cutoff)),
                ("DELETE FROM judged WHERE tool <> ? OR used < ? OR series NOT IN (SELECT key FROM series)", (TOOL_KEY, cutoff)),
                ("DELETE FROM recalls WHERE tool <> ? OR used < ? OR series NOT IN (SELECT key FROM series)", (TOOL_KEY, cutoff)),
                ("INSERT OR REPLACE INTO meta (key, value) VALUES ('pruned_at', ?)", (repr(now),)),
            ]
        )
        if self._db is not None:
            self.pruned = max(0, before - len(self))

    def close(self) -> None:
        """Record which entries and series this run used, and close (SQLite checkpoints the WAL on the last close)."""
        if self._db is not None and (self._used or any(self._used_keys.values())):
            now = time.time()
            marks = [("entries", "id", sorted(self._used))] + [(t, "key", sorted(keys)) for t, keys in self._used_keys.items()]
            self._used.clear()
            for keys in self._used_keys.values():
                keys.clear()
            self._write(
                [
                    (f"UPDATE {table} SET used = ? WHERE {column} IN ({','.join('?' * len(chunk))})", (now, *chunk))
                    for table, column, done in marks
                    for chunk in (done[i : i + 500] for i in range(0, len(done), 500))
                ]
            )
        self._drop_connection()
        self.enabled = False
