"""The compact, safe encoding of model records the summary cache stores.

Contract: `encode_summary(summary) -> bytes` / `decode_summary(blob) -> Summary` and
the same for a Series, for a Listing (what discovery found in one object of a store:
its Sources and Skipped) and for what a run made of one series (encode_recall);
`decode_*` raises ValueError for anything it cannot read (another encoding, damage,
a record of another kind).

Values are pickled and zlib-compressed (a Summary's per-goroutine data already is int
columns per signature). Model records are written as a call to a builder made here per
record type, which sets the slots directly: the default for frozen slotted dataclasses
looks up the fields of every object again, and was most of the decoding time. Decoding
goes through an unpickler that accepts only those builders, goroscope's model records and
datetimes, so a tampered cache cannot run code.
"""

from __future__ import annotations

import dataclasses
import io
import operator
import pickle
import zlib

from goroscope import model
from goroscope.model import Series, Skipped, Source, Summary

__all__ = [
    "encode_summary",
    "decode_summary",
    "encode_entry",
    "encode_series",
    "decode_series",
    "encode_listing",
    "encode_fields",
    "decode_fields",
    "decode_listing",
    "encode_folder",
    "decode_folder",
    "encode_recall",
    "decode_recall",
    "Listing",
    "head_of",
    "record_builder",
    "ENCODING",
]

Listing = tuple[tuple[Source, ...], tuple[Skipped, ...]]  # what discovery found in one object

ENCODING = 3  # first byte of every value (3: pickled with the slot builders below)


def _make_builders() -> dict[type, tuple[object, object]]:
    """Return record class -> (builder, getter) for every model record, the builders module globals.

    A builder takes the field values in order and sets the slots through their
    descriptors (a frozen record refuses setattr; its own __init__ would rerun
    defaults and __post_init__); the getter returns those values as a tuple. A
    Signature stores its frames and key, and its hash is recomputed on load because
    string hashes differ between processes. All builders are compiled in one go: it
    happens at every start.
    """
    env: dict = {"_new": object.__new__}
    lines: list[str] = []
    names_of: dict[type, tuple[str, ...]] = {}
    for name in model.__all__:
        cls = getattr(model, name)
        if not dataclasses.is_dataclass(cls):
            continue
        names = ("frames", "_key") if cls is model.Signature else tuple(f.name for f in dataclasses.fields(cls))
        names_of[cls] = names
        args = ", ".join(f"v{i}" for i in range(len(names)))
        env[f"_cls_{name}"] = cls
        lines += [f"def _build_{name}({args}):", f"    o = _new(_cls_{name})"]
        for i, field_name in enumerate(names):
            env[f"_set_{name}_{i}"] = getattr(cls, field_name).__set__
            lines.append(f"    _set_{name}_{i}(o, v{i})")
        if cls is model.Signature:
            env["_set_Signature_hash"] = cls._hash.__set__  # type: ignore[attr-defined]
            lines.append("    _set_Signature_hash(o, hash(v1))")
        lines.append("    return o")
    exec("\n".join(lines), env)  # noqa: S102 - our own source text, built from field names
    builders: dict[type, tuple[object, object]] = {}
    for cls, names in names_of.items():
        fn = env[f"_build_{cls.__name__}"]
        fn.__module__ = __name__
        fn.__qualname__ = fn.__name__
        fn.__doc__ = f"Return a {cls.__name__} with these field values (cache decoding)."
        globals()[fn.__name__] = fn  # pickle names the builder by module and name
        getter = operator.attrgetter(*names) if len(names) > 1 else (lambda o, n=names[0]: (getattr(o, n),))
        builders[cls] = (fn, getter)
    return builders


_BUILDERS = _make_builders()  # record class -> (builder, getter)
_BUILDER_NAMES = frozenset(fn.__name__ for fn, _ in _BUILDERS.values())  # type: ignore[attr-defined]


def record_builder(cls: type):  # type: ignore[no-untyped-def]
    """Return the builder of the model record `cls`: its field values in order -> the record, its slots filled
    through their descriptors (what decoding does; a third of a frozen record's __init__, for hot paths)."""
    return _BUILDERS[cls][0]


class _ModelPickler(pickle.Pickler):
    """A pickler that writes model records as calls to their builders."""

    def reducer_override(self, obj: object):  # pickle hook
        """Return (builder, field values) for a model record; leave anything else to pickle."""
        b = _BUILDERS.get(type(obj))
        if b is None:
            return NotImplemented
        return b[0], b[1](obj)  # type: ignore[operator]


class _ModelUnpickler(pickle.Unpickler):
    """An unpickler that builds only goroscope model records and datetimes."""

    _ALLOWED = {("datetime", "datetime"), ("datetime", "timezone"), ("datetime", "timedelta")}

    def find_class(self, module: str, name: str):  # noqa: D102 - pickle hook
        """Return the builder or class `module.name` if it is one we write; refuse anything else."""
        if module == __name__ and name in _BUILDER_NAMES:
            return globals()[name]
        if module == "goroscope.model":
            found = getattr(model, name, None)
            # a record or enum of model.py (Suspect.pool's Pool is one not exported)
            if isinstance(found, type) and found.__module__ == "goroscope.model":
                return found
        if (module, name) in self._ALLOWED:
            import datetime as _dt

            return getattr(_dt, name)
        raise pickle.UnpicklingError(f"refusing {module}.{name} in a cache entry")


def _encode(value: object) -> bytes:
    """Return the compressed pickle of `value`, model records through their builders."""
    buf = io.BytesIO()
    _ModelPickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return bytes([ENCODING]) + zlib.compress(buf.getbuffer(), 1)


def _decode(blob: bytes, kind: type) -> object:
    """Return the `kind` record encoded in `blob`; raise ValueError if it cannot be read."""
    if not blob or blob[0] != ENCODING:
        raise ValueError("unknown cache entry encoding")
    try:
        value = _ModelUnpickler(io.BytesIO(zlib.decompress(blob[1:]))).load()
    except (zlib.error, pickle.UnpicklingError, EOFError, TypeError, IndexError, AttributeError, ValueError, KeyError) as e:
        raise ValueError(f"unreadable cache entry: {e}") from None
    if not isinstance(value, kind):
        raise ValueError(f"cache entry is not a {kind.__name__}")
    return value


def encode_summary(summary: Summary) -> bytes:
    """Return the compact, compressed bytes of `summary`.

    The per-goroutine data already is int columns (StackCount.ids / .waits), which
    pickle packs at a few bytes an id and loads without building a record per goroutine.
    """
    return _encode(summary)


def encode_entry(summary: Summary) -> tuple[bytes, bytes]:
    """Return the bytes of `summary` and of its head (head_of): what a cache entry stores."""
    return encode_summary(summary), encode_summary(head_of(summary))


def decode_summary(blob: bytes) -> Summary:
    """Return the Summary encoded in `blob`; raise ValueError if it cannot be read."""
    return _decode(blob, Summary)  # type: ignore[return-value]


def encode_series(series: Series) -> bytes:
    """Return the compact, compressed bytes of `series`."""
    return _encode(series)


def decode_series(blob: bytes) -> Series:
    """Return the Series encoded in `blob`; raise ValueError if it cannot be read."""
    return _decode(blob, Series)  # type: ignore[return-value]


def encode_listing(listing: Listing) -> bytes:
    """Return the compact, compressed bytes of `listing` (its Sources must carry no Store: no credentials on disk)."""
    if any(s.store is not None for s in listing[0]):
        raise ValueError("a listing is stored without its Store")
    return _encode(listing)


def decode_listing(blob: bytes) -> Listing:
    """Return the Listing encoded in `blob`; raise ValueError if it cannot be read."""
    value = _decode(blob, tuple)
    if (
        len(value) != 2  # type: ignore[arg-type]
        or not all(isinstance(s, Source) for s in value[0])  # type: ignore[index]
        or not all(isinstance(s, Skipped) for s in value[1])  # type: ignore[index]
    ):
        raise ValueError("cache entry is not a listing")
    return value  # type: ignore[return-value]


def encode_folder(found: dict[str, Listing]) -> bytes:
    """Return the bytes of what discovery found in each file of one folder ({file name: Listing}), in one value:
    a folder's Sources differ in a few fields, and compress together to a tenth of their size apart."""
    if any(s.store is not None for listing in found.values() for s in listing[0]):
        raise ValueError("a listing is stored without its Store")
    return _encode(tuple((name, *found[name]) for name in sorted(found)))


def decode_folder(blob: bytes) -> dict[str, Listing]:
    """Return what encode_folder encoded in `blob`; raise ValueError if it cannot be read."""
    value = _decode(blob, tuple)
    out: dict[str, Listing] = {}
    for item in value:  # type: ignore[attr-defined]
        if (
            not isinstance(item, tuple)
            or len(item) != 3
            or not isinstance(item[0], str)
            or not isinstance(item[1], tuple)
            or not isinstance(item[2], tuple)
            or not all(isinstance(s, Source) for s in item[1])
            or not all(isinstance(s, Skipped) for s in item[2])
        ):
            raise ValueError("cache entry is not a folder's listing")
        out[item[0]] = (item[1], item[2])
    return out


def encode_recall(series_key: str | None, unused: tuple[Skipped, ...], wall: int) -> bytes:
    """Return the bytes of what a run made of one series (cache.get_recall): the key of its memoised Series (None:
    no snapshot in the window), the files grouping found no use for, and how many snapshots a log's clock timed."""
    return _encode((series_key, tuple(unused), int(wall)))


def decode_recall(blob: bytes) -> tuple[str | None, tuple[Skipped, ...], int]:
    """Return what encode_recall encoded in `blob`; raise ValueError if it cannot be read."""
    value = _decode(blob, tuple)
    if (
        len(value) != 3  # type: ignore[arg-type]
        or not (value[0] is None or isinstance(value[0], str))  # type: ignore[index]
        or not isinstance(value[1], tuple)  # type: ignore[index]
        or not all(isinstance(s, Skipped) for s in value[1])  # type: ignore[index]
        or type(value[2]) is not int  # type: ignore[index]
    ):
        raise ValueError("cache entry is not a recalled series")
    return value  # type: ignore[return-value]


def encode_fields(record: object, kept: Series | None = None) -> bytes:
    """Return the bytes of a dataclass `record` of another module (rank.Judged): its class name, field names and
    values, which must be model records, datetimes and plain values; with `kept`, a Series to keep beside it
    (what a run keeps of the series the Judged judges)."""
    import dataclasses

    names = tuple(f.name for f in dataclasses.fields(record))  # type: ignore[arg-type]
    return _encode((type(record).__name__, names, tuple(getattr(record, n) for n in names), kept))


def decode_fields(blob: bytes, cls: type) -> tuple[object, Series | None]:
    """Return the `cls` record encoded in `blob` by encode_fields, and the Series kept beside it (None: none);
    raise ValueError if it cannot be read, or was written for a `cls` of other fields."""
    import dataclasses

    value = _decode(blob, tuple)
    names = tuple(f.name for f in dataclasses.fields(cls))
    if len(value) != 4 or value[0] != cls.__name__ or value[1] != names or len(value[2]) != len(names):  # type: ignore[arg-type,index]
        raise ValueError(f"cache entry is not a {cls.__name__} of these fields")
    kept = value[3]  # type: ignore[index]
    if kept is not None and not isinstance(kept, Series):
        raise ValueError("cache entry keeps no Series")
    try:
        return cls(**dict(zip(names, value[2]))), kept  # type: ignore[index]
    except TypeError as e:
        raise ValueError(f"cache entry is not a {cls.__name__}: {e}") from None


def head_of(summary: Summary) -> Summary:
    """Return `summary` without its stacks: what grouping reads, cheap to store and load."""
    return dataclasses.replace(summary, stacks=()) if summary.stacks else summary
