"""YAML configuration -> a frozen, typed Config with defaults.

Contract: every key of the file must be a field below (an unknown key is an error
naming the key and the file); every value is checked against its field's type. The
config is never read from inside the archive under analysis (cli.py decides where it
comes from). `Config.digest()` is the fingerprint of the settings that change what a
parse produces: the cache keys on it.

    discovery:  timestamp_pattern, timezone, series_pattern, max_inflate_bytes, settle_seconds
    signature:  vendor_is_app, wrappers
    rank:       thresholds of the growth and stuck tests
    ignore:     goleak-like rules: top_function, any_function, created_by, state
    acknowledged: [{fingerprint, until, note}]
    render:     page_size, redact_labels, url_template, path_map, service_address, templates_dir
    storage:    fsspec storage options for an object-store ARCHIVE (s3://…): any keys the
                store's filesystem takes (endpoint_url, anon, profile, client_kwargs, …);
                kept out of every digest, since they may hold credentials
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import types
import typing
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from goroscope.errors import ConfigError

__all__ = [
    "Config",
    "Discovery",
    "SignatureConfig",
    "RankConfig",
    "IgnoreRules",
    "Acknowledged",
    "RenderConfig",
    "load_config",
    "config_from_dict",
    "with_storage_options",
]

GiB = 1024**3


@dataclass(frozen=True, slots=True, kw_only=True)
class Discovery:
    """How files are found, timed and grouped into series."""

    # a regex with named groups (year, month, day, hour, minute, second, fraction, zone)
    # or one group `epoch`, searched in the file name; None = the built-in patterns
    timestamp_pattern: str | None = None
    timezone: str = "UTC"  # zone of timestamps in names that carry none (an IANA name)
    # a regex on the path relative to the archive root; its group `series` (or group 1)
    # names the series; None = each folder holding dumps is a series
    series_pattern: str | None = None
    max_inflate_bytes: int = 4 * GiB  # bound on any decompressed file or member
    max_files: int = 1_000_000  # bound on files walked (a tar bomb of tiny members)
    # bound on the distinct stacks of one debug=2 dump or traceback (memory: a few KB each,
    # where identical stacks cost almost nothing); a dump with more is skipped with the reason
    max_stacks: int = 100_000
    settle_seconds: float = 0.0  # leave files changed more recently for the next run


@dataclass(frozen=True, slots=True, kw_only=True)
class SignatureConfig:
    """How stacks become signatures and where a leak site is."""

    vendor_is_app: bool = True  # vendored modules are application code
    wrappers: tuple[str, ...] = ()  # frames skipped when choosing the leak site ('pkg...' = prefix)


@dataclass(frozen=True, slots=True, kw_only=True)
class RankConfig:
    """Thresholds of the growth and stuck tests."""

    min_snapshots: int = 3  # fewer snapshots in a segment: no growth verdict
    min_net_growth: int = 3  # growing: last - first (per segment) at least this
    min_tau: float = 0.5  # growing: Kendall's tau of counts vs time at least this
    max_p_value: float = 0.05  # growing: Mann-Kendall p-value at most this
    min_nondecreasing_share: float = 0.6  # growing: share of steps that did not fall
    min_last_to_max: float = 0.8  # growing: last value / maximum at least this
    noise_factor: float = 2.0  # growing: net growth at least this times the step noise (MAD)
    stuck_min_minutes: float = 5.0  # stuck: wait at least this long (below 3, header minutes cannot show a worker was woken)
    stuck_min_channel_goroutines: int = 3  # stuck: channel waits need this many same ids
    stuck_min_sync_goroutines: int = 1  # stuck: sync waits need this many same ids
    min_score: float = 0.3  # suspects scoring below are not reported
    max_q_value: float = 0.05  # growing: the pooled trend test's Benjamini-Hochberg q-value at most this (false discovery rate)
    stable_min_count: int = 20  # report large stable signatures at least this big


@dataclass(frozen=True, slots=True, kw_only=True)
class IgnoreRules:
    """goleak-like ignore rules: a matching signature is never a suspect.

    Each entry is a function name, or a `pkg...` prefix."""

    top_function: tuple[str, ...] = ()  # the top (normalised) frame's function
    any_function: tuple[str, ...] = ()  # any frame's function
    created_by: tuple[str, ...] = ()  # the created-by function
    state: tuple[str, ...] = ()  # the state (exact)
    use_defaults: bool = True  # also apply DEFAULT_IGNORE (runtime and stdlib only)


@dataclass(frozen=True, slots=True, kw_only=True)
class Acknowledged:
    """A suspect the team knows of: reported, but never fails the run."""

    fingerprint: str  # the suspect's fingerprint
    until: date | None = None  # acknowledged until this day (inclusive), None = always
    note: str = ""  # why


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderConfig:
    """How reports look."""

    page_size: str = "A4"  # A4 | Letter
    redact_labels: tuple[str, ...] = ()  # label keys masked in every output
    url_template: str | None = None  # e.g. https://host/acme/app/blob/{rev}/{path}#L{line}
    rev: str = "main"  # fills {rev}
    path_map: tuple[tuple[str, str], ...] = ()  # (prefix as printed, prefix in the repository)
    service_address: str | None = None  # host:port of the service's net/http/pprof
    templates_dir: str | None = None  # override the packaged templates
    max_stable: int = 20  # large stable signatures listed at most


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The whole configuration."""

    discovery: Discovery = field(default_factory=Discovery)
    signature: SignatureConfig = field(default_factory=SignatureConfig)
    rank: RankConfig = field(default_factory=RankConfig)
    ignore: IgnoreRules = field(default_factory=IgnoreRules)
    acknowledged: tuple[Acknowledged, ...] = ()
    render: RenderConfig = field(default_factory=RenderConfig)
    storage: str = "{}"  # the `storage:` mapping (with --storage-option on top) as sorted JSON; in no digest
    path: str | None = None  # the file it came from, None for defaults

    def digest(self) -> str:
        """Return a short hash of the settings that change what a parse produces."""
        relevant = {"signature": dataclasses.asdict(self.signature)}
        blob = json.dumps(relevant, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def full_digest(self) -> str:
        """Return a short hash of the whole effective config (for report provenance)."""
        d = dataclasses.asdict(self)
        d.pop("path", None)
        d.pop("storage", None)  # how to reach the store (maybe credentials), not what is found
        blob = json.dumps(d, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def signature_options(self):
        """Return the signature.Options these settings describe."""
        from goroscope.signature import Options

        return Options(vendor_is_app=self.signature.vendor_is_app, wrappers=self.signature.wrappers)


def _convert(value: Any, tp: Any, where: str, path: str | None) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a, where, path)
            except ConfigError as e:
                errors.append(e.reason)
        raise ConfigError(path, where, errors[0] if errors else "bad value")
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            if args and args[-1] is Ellipsis and args[0] is str and isinstance(value, str):
                value = [value]
            else:
                raise ConfigError(path, where, f"expected a list, got {type(value).__name__}")
        if args and args[-1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{where}[{i}]", path) for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(path, where, f"expected {len(args)} items, got {len(value)}")
        return tuple(_convert(v, a, f"{where}[{i}]", path) for i, (v, a) in enumerate(zip(value, args)))
    if dataclasses.is_dataclass(tp):
        if tp is RenderConfig and isinstance(value, dict) and isinstance(value.get("path_map"), dict):
            value = dict(value, path_map=[[k, v] for k, v in value["path_map"].items()])
        return _build(tp, value, where, path)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(path, where, f"expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(path, where, f"expected a whole number, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(path, where, f"expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(path, where, f"expected text, got {value!r}")
    if tp is date:
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise ConfigError(path, where, f"expected a date YYYY-MM-DD, got {value!r}")
    raise ConfigError(path, where, f"unsupported type {tp}")  # pragma: no cover


def _build(cls: type, data: Any, where: str, path: str | None) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(path, where or None, f"expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.name != "path"}
    kwargs = {}
    for k, v in data.items():
        dotted = f"{where}.{k}" if where else str(k)
        if k not in names:
            known = ", ".join(sorted(names))
            raise ConfigError(path, dotted, f"unknown key (known here: {known})")
        kwargs[k] = _convert(v, hints[k], dotted, path)
    obj = cls(**kwargs)
    _check(obj, where, path)
    return obj


def _check(obj: Any, where: str, path: str | None) -> None:
    def fail(key: str, reason: str) -> None:
        raise ConfigError(path, f"{where}.{key}" if where else key, reason)

    if isinstance(obj, Discovery):
        for key in ("timestamp_pattern", "series_pattern"):
            pat = getattr(obj, key)
            if pat is not None:
                try:
                    re.compile(pat)
                except re.error as e:
                    fail(key, f"not a valid regular expression: {e}")
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(obj.timezone)
        except Exception:
            fail("timezone", f"unknown time zone {obj.timezone!r}")
        if obj.max_inflate_bytes <= 0:
            fail("max_inflate_bytes", "must be positive")
        if obj.max_stacks <= 0:
            fail("max_stacks", "must be positive")
        if obj.settle_seconds < 0:
            fail("settle_seconds", "must not be negative")
    elif isinstance(obj, RenderConfig):
        if obj.page_size not in ("A4", "Letter"):
            fail("page_size", f"expected A4 or Letter, got {obj.page_size!r}")
    elif isinstance(obj, RankConfig):
        for f in dataclasses.fields(obj):
            if getattr(obj, f.name) < 0:
                fail(f.name, "must not be negative")


def _storage_json(value: Any, path: str | None) -> str:
    """Return the `storage:` mapping as sorted JSON; raise ConfigError unless it is a mapping with text keys."""
    if value is None:
        return "{}"
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ConfigError(path, "storage", "expected a mapping of fsspec storage options (endpoint_url: …, anon: true, …)")
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError) as e:
        raise ConfigError(path, "storage", f"cannot be passed on as storage options: {e}") from None


def with_storage_options(config: Config, options: dict[str, Any]) -> Config:
    """Return `config` with `options` (from --storage-option) over its `storage:` section."""
    if not options:
        return config
    merged = json.loads(config.storage)
    for key, value in options.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return dataclasses.replace(config, storage=json.dumps(merged, sort_keys=True, default=str))


def config_from_dict(data: Any, path: str | None = None) -> Config:
    """Return the Config described by `data` (a parsed YAML document)."""
    if data is None:
        data = {}
    if isinstance(data, dict) and "storage" in data:
        data = dict(data, storage=_storage_json(data["storage"], path))
    cfg = _build(Config, data, "", path)
    return dataclasses.replace(cfg, path=path)


def load_config(path: str | Path | None) -> Config:
    """Read the YAML config at `path` (None = defaults)."""
    if path is None:
        return Config()
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(str(p), None, f"cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ConfigError(str(p), None, "not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ConfigError(str(p), None, f"{where}not valid YAML") from None
    return config_from_dict(data, str(p))
