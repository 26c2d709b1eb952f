"""Archives that live in an object store: s3://, gs://, az:// (any fsspec URL), read in place.

Contract:

- `is_url(text)` tells an object-store URL ('scheme://…') from a local path.
- `store_for(url, options)` returns the Store (model.py) of `url` with the storage
  options `options` (credentials and endpoint beyond the provider's usual chain):
  what every Source of that store carries, to whatever process opens it.
- `list_objects(url, store)` returns every object under `url` (or the one object it
  names) as Objects, in key order, with what the listing gives: size, last-modified
  time and version (ETag, else last-modified), so that discovery and the cache need
  no request per object.
- `open_object(url, store, size=None, block_size=BLOCK)` returns a seekable binary
  reader of one object, read ahead `block_size` bytes at a time as it goes (never
  downloaded whole; sniffing asks for small blocks); `size` from the listing spares
  a request. Every error it raises is an OSError (ingest.archive names the file and
  goes on).
- `prefetch(objects, store)` fetches the first SNIFF_BYTES of many objects at once
  (fsspec's concurrent `cat_ranges`), and `open_object` serves a prefetched object's
  first bytes from memory, reading on from the store only past them; `forget(url)`
  drops them. Discovery sniffs every object: one request each, in parallel, instead
  of two in a row (what the type is, then what it holds).
- `is_object(url, store)` tells whether `url` names one object (an archive whose
  member a report names as 'ARCHIVE/member').
- `redact_args(args)` returns a command line fit to be written down: each
  --storage-option's value replaced by '***', a URL's user:password@ dropped
  (the report's `tool.command`, the crash file).
- `store_error(url, e)` turns what a listing raised into the one-line GoroscopeError
  a person can act on: a missing bucket or path and a missing package are usage
  errors (exit 2, like a local path that does not exist), access denied and an
  unreachable endpoint leave nothing to read (exit 4).

fsspec and the protocol's package (s3fs for s3://: `pip install 'goroscope[s3]'`)
are imported only here, and only when a URL is given. Credentials come from the
provider's chain (for S3: the AWS_* variables, ~/.aws files, an instance role;
AWS_ENDPOINT_URL for an S3-compatible store) unless the options name them; no
message, report or task name shows an option's value.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, BinaryIO

from goroscope.errors import GoroscopeError, NoDataError, UsageError
from goroscope.ingest.archive import SNIFF_BYTES
from goroscope.model import Store

__all__ = [
    "Object",
    "is_url",
    "store_for",
    "parse_options",
    "list_objects",
    "open_object",
    "store_error",
    "is_object",
    "redact_args",
    "prefetch",
    "forget",
    "display_url",
    "BLOCK",
    "EXTRAS",
]

BLOCK = 4 << 20  # bytes an object is read ahead by (fsspec's cache of an open object)
# the package each protocol needs, and how to install it
EXTRAS = {
    "s3": ("s3fs", "pip install 'goroscope[s3]'"),
    "s3a": ("s3fs", "pip install 'goroscope[s3]'"),
    "gs": ("gcsfs", "pip install gcsfs"),
    "gcs": ("gcsfs", "pip install gcsfs"),
    "az": ("adlfs", "pip install adlfs"),
    "abfs": ("adlfs", "pip install adlfs"),
    "abfss": ("adlfs", "pip install adlfs"),
}
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")


@dataclass(frozen=True, slots=True)
class Object:
    """One object of a listing."""

    url: str  # protocol://bucket/key, what open_object opens
    path: str  # the key relative to the listed prefix ('' when the URL names this object)
    size: int  # bytes stored
    mtime: float  # last modified, seconds since the epoch
    version: str | None  # ETag, else the last-modified time as text; None when the listing has neither


def is_url(text: str) -> bool:
    """Return True when `text` is an object-store URL ('s3://b/p/'); file:// and plain paths are local."""
    m = _URL.match(str(text))
    return m is not None and m.group(1).lower() != "file"


def display_url(url: str) -> str:
    """Return `url` without any user:password@ part (never shown)."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]+://)[^/@]*@", r"\1", url)


def redact_args(args: list[str] | tuple[str, ...]) -> list[str]:
    """Return `args` (a command line without the program) with every --storage-option value and URL credential hidden."""
    out: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            arg = _hide_value(arg)
            hide_next = False
        elif arg == "--storage-option":
            hide_next = True
        elif arg.startswith("--storage-option="):
            arg = "--storage-option=" + _hide_value(arg[len("--storage-option=") :])
        elif is_url(arg):
            arg = display_url(arg)
        out.append(arg)
    return out


def _hide_value(pair: str) -> str:
    """Return KEY=*** for a --storage-option KEY=VALUE."""
    key, sep, _ = pair.partition("=")
    return f"{key}=***" if sep else pair


def parse_options(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Return the storage options of --storage-option KEY=VALUE pairs, each value read as YAML (true, 3, text).

    A dotted key sets a nested option (`client_kwargs.region_name=eu-west-1`)."""
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--storage-option: expected KEY=VALUE, got {key or pair!r}")
        try:
            parsed = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            parsed = value
        if not isinstance(parsed, (str, int, float, bool)) or parsed is None:
            parsed = value
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise UsageError(f"--storage-option: {key} sets inside {p}, which is not a mapping")
        node[leaf] = parsed
    return out


def store_for(url: str, options: dict[str, Any] | None = None) -> Store:
    """Return the Store of `url` with `options`; raise UsageError when its package is missing or its scheme unknown."""
    m = _URL.match(url)
    if m is None:
        raise UsageError(f"{display_url(url)}: not an object-store URL")
    store = Store(protocol=m.group(1).lower(), options=json.dumps(options or {}, sort_keys=True))
    _filesystem(store, url)  # fail here, once, rather than on every object
    return store


def _filesystem(store: Store, url: str = ""):
    """Return the fsspec filesystem of `store` (fsspec keeps one per options and process)."""
    where = display_url(url) or f"{store.protocol}://"
    try:
        import fsspec
    except ImportError:
        raise UsageError(f"{where}: reading an object store needs the optional package fsspec: {_install_hint(store.protocol)}") from None
    try:
        return fsspec.filesystem(store.protocol, **json.loads(store.options))
    except ImportError:
        package = EXTRAS.get(store.protocol, (f"the fsspec backend of {store.protocol}://", ""))[0]
        raise UsageError(f"{where}: reading {store.protocol}:// needs the optional package {package}: {_install_hint(store.protocol)}") from None
    except ValueError as e:
        if "protocol" in str(e).lower():
            raise UsageError(f"{where}: unknown URL scheme {store.protocol}:// (fsspec knows no such store)") from None
        raise UsageError(f"{where}: bad storage options ({_message(e)})") from None
    except TypeError as e:
        raise UsageError(f"{where}: bad storage options ({_message(e)})") from None


def _install_hint(protocol: str) -> str:
    """Return how to install what `protocol` needs."""
    return EXTRAS.get(protocol, ("", f"install the fsspec backend for {protocol}://"))[1]


def _message(e: BaseException) -> str:
    """Return a one-line text of `e`."""
    text = " ".join(str(e).split())
    return text or type(e).__name__


def list_objects(url: str, store: Store) -> list[Object]:
    """Return every object under `url`, or the object `url` names, in key order; raise store_error's errors."""
    fs = _filesystem(store, url)
    root = fs._strip_protocol(url).rstrip("/")
    try:
        found = fs.find(root, detail=True)
        if not found:
            info = fs.info(root)
            found = {root: info} if info.get("type") == "file" else {}
    except FileNotFoundError as e:
        if _bucket_only(root):
            raise store_error(url, e) from None
        try:
            fs.ls(root.split("/")[0])  # the bucket is there: an empty prefix, not a missing bucket
        except Exception as e2:  # noqa: BLE001 - classified below
            raise store_error(url, e2) from None
        return []
    except Exception as e:  # noqa: BLE001 - every listing failure is a message
        raise store_error(url, e) from None
    objects = []
    for key in sorted(found):
        info = found[key]
        if info.get("type", "file") != "file":
            continue
        rel = "" if key.rstrip("/") == root else key[len(root) + 1 :] if key.startswith(root + "/") else key
        mtime = _mtime(info)
        objects.append(
            Object(url=fs.unstrip_protocol(key), path=rel, size=int(info.get("size") or 0), mtime=mtime, version=_version(info, mtime))
        )
    return objects


def is_object(url: str, store: Store) -> bool:
    """Return True when `url` names one object of the store (False when it is missing or unreadable)."""
    fs = _filesystem(store, url)
    try:
        return fs.info(fs._strip_protocol(url)).get("type") == "file"
    except Exception:  # noqa: BLE001 - any failure: not an object we can read
        return False


def _bucket_only(root: str) -> bool:
    """Return True when `root` (the URL without its scheme) names a bucket alone."""
    return "/" not in root.strip("/")


def _mtime(info: dict) -> float:
    """Return an object's last-modified time from its listing entry (S3, GCS, Azure, memory), 0 when absent."""
    for key in ("LastModified", "last_modified", "mtime", "updated", "created", "modified"):
        v = info.get(key)
        if v is None:
            continue
        if isinstance(v, datetime):
            return (v if v.tzinfo else v.replace(tzinfo=timezone.utc)).timestamp()
        if isinstance(v, (int, float)):
            return float(v)
        try:
            t = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
        except ValueError:
            continue
        return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()
    return 0.0


def _version(info: dict, mtime: float) -> str | None:
    """Return an object's version as its listing gives it: the ETag, else its last-modified time."""
    for key in ("ETag", "etag", "md5Hash", "content_md5", "generation"):
        v = info.get(key)
        if v:
            return str(v).strip('"')
    return f"mtime:{mtime!r}" if mtime else None


def store_error(url: str, e: BaseException) -> GoroscopeError:
    """Return the one-line error for what listing `url` raised (exit 2 for a wrong URL, 4 for nothing readable)."""
    where = display_url(url)
    if isinstance(e, GoroscopeError):
        return e
    text = _message(e)
    if isinstance(e, FileNotFoundError):
        what = "no such bucket" if "bucket" in text.lower() else "no such bucket or path"
        return UsageError(f"{where}: {what} ({text})")
    if isinstance(e, PermissionError) or "AccessDenied" in text or "Forbidden" in text or "InvalidAccessKeyId" in text:
        return NoDataError(f"{where}: access denied ({text}); check the credentials the store is given (for S3: AWS_PROFILE, AWS_ACCESS_KEY_ID, ...)")
    return NoDataError(f"{where}: cannot reach the store ({type(e).__name__}: {text})")


class _ObjectReader(io.RawIOBase):
    """A raw, seekable reader of one open fsspec file whose every error is an OSError."""

    def __init__(self, f: Any, url: str) -> None:
        super().__init__()
        self._f = f
        self._url = url

    def readable(self) -> bool:
        """Return True."""
        return True

    def seekable(self) -> bool:
        """Return True: objects are read by range."""
        return True

    def _call(self, fn, *args):  # type: ignore[no-untyped-def]
        """Return fn(*args), turning whatever the store's client raises into an OSError."""
        try:
            return fn(*args)
        except OSError:
            raise
        except Exception as e:  # noqa: BLE001 - a client's own error types (botocore, aiohttp)
            raise OSError(f"{type(e).__name__}: {_message(e)}") from None

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def,override]
        """Read into `b`."""
        data = self._call(self._f.read, len(b))
        n = len(data)
        b[:n] = data
        return n

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move to `offset`."""
        return self._call(self._f.seek, offset, whence)

    def tell(self) -> int:
        """Return the position."""
        return self._f.tell()

    def close(self) -> None:
        """Close the object."""
        if not self.closed:
            super().close()
            try:
                self._f.close()
            except Exception:  # noqa: BLE001 - closing must not hide the real error
                pass


# (store, url) -> (the object's first bytes, True when they are all of it): what prefetch()
# fetched for discovery in this process, dropped by forget() once the object is walked
_HEADS: dict[tuple[Store, str], tuple[bytes, bool]] = {}


def prefetch(objects: list[Object], store: Store, n: int = SNIFF_BYTES) -> None:
    """Fetch the first `n` bytes of each of `objects` at once, for open_object to serve; a failure only means no head."""
    if not objects:
        return
    fs = _filesystem(store)
    urls = [o.url for o in objects]
    try:
        heads = fs.cat_ranges(urls, [0] * len(urls), [min(n, o.size) for o in objects], on_error="return")
    except Exception:  # noqa: BLE001 - the objects are then read one by one, as without it
        return
    for o, head in zip(objects, heads):
        if isinstance(head, bytes) and (len(head) == min(n, o.size)):
            _HEADS[(store, o.url)] = (head, len(head) >= o.size)


def forget(url: str, store: Store) -> None:
    """Drop the prefetched first bytes of `url`."""
    _HEADS.pop((store, url), None)


class _HeadFirst(io.RawIOBase):
    """A raw, seekable reader of one object whose first bytes are in memory: the object is
    opened (open_object) only when a read goes past them."""

    def __init__(self, head: bytes, complete: bool, url: str, store: Store, size: int | None, block_size: int) -> None:
        super().__init__()
        self._head = head
        self._complete = complete  # the head is the whole object
        self._url, self._store, self._size, self._block = url, store, size, block_size
        self._pos = 0
        self._rest: BinaryIO | None = None  # the object, once a read passed the head

    def readable(self) -> bool:
        """Return True."""
        return True

    def seekable(self) -> bool:
        """Return True."""
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def,override]
        """Read into `b`, from memory while within the head."""
        if self._pos < len(self._head):
            data = self._head[self._pos : self._pos + len(b)]
        elif self._complete:
            data = b""
        else:
            if self._rest is None:
                self._rest = open_object(self._url, self._store, self._size, self._block, prefetched=False)
            self._rest.seek(self._pos)
            data = self._rest.read(len(b))
        n = len(data)
        b[:n] = data
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move to `offset`."""
        if whence == 1:
            offset += self._pos
        elif whence == 2:
            size = len(self._head) if self._complete else self._size
            if size is None:
                if self._rest is None:
                    self._rest = open_object(self._url, self._store, None, self._block, prefetched=False)
                size = self._rest.seek(0, 2)
            offset += size
        self._pos = max(0, offset)
        return self._pos

    def tell(self) -> int:
        """Return the position."""
        return self._pos

    def close(self) -> None:
        """Close the object, if it was opened."""
        if not self.closed:
            super().close()
            if self._rest is not None:
                self._rest.close()


def open_object(url: str, store: Store, size: int | None = None, block_size: int = BLOCK, *, prefetched: bool = True) -> BinaryIO:
    """Return a seekable reader of the object `url` (of `size` bytes, when the listing said), read ahead
    `block_size` bytes at a time (its first bytes from memory when prefetch() fetched them); raise OSError."""
    head = _HEADS.get((store, url)) if prefetched else None
    if head is not None:
        return io.BufferedReader(_HeadFirst(head[0], head[1], url, store, size, block_size), 1 << 16)  # type: ignore[return-value]
    fs = _filesystem(store, url)
    extra = {"size": size} if size is not None else {}
    try:
        f = fs.open(url, "rb", block_size=block_size, cache_type="readahead", **extra)
    except OSError:
        raise
    except Exception as e:  # noqa: BLE001 - a client's own error types
        raise OSError(f"{type(e).__name__}: {_message(e)}") from None
    return io.BufferedReader(_ObjectReader(f, url), 1 << 16)  # type: ignore[return-value]
