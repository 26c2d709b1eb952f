"""Canonical stack signatures, code classes and the leak site.

Contract (DESIGN.md "One signature, whatever the format"): a signature is the
normalised frames only, top first. The parsers already leave out pc offsets,
argument lists and goroutine ids, and expand inlined frames; the rules here fold
generic type arguments and drop the runtime's own frames at the top and bottom, so
that debug=2, debug=1, SIGQUIT output and the protobuf profile of one process give
the same signatures.

Each rule has the shape `frames = rule(frames, options)`; `DEFAULT_RULES` is the
one list of them, in the order `normalise()` applies them; `Options.rules` names
them (a config may shorten the list), looked up in `RULES`.

`leak_site(frames)` is the frame a leak is reported at; `fingerprint(signature,
site)` the line-free hash of a cause that links one leak across formats, series,
runs and releases.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from goroscope.model import Frame, Signature

__all__ = [
    "fingerprint",
    "CodeClass",
    "Options",
    "DEFAULT_RULES",
    "RULES",
    "DEFAULT_OPTIONS",
    "fold_generics",
    "drop_goexit",
    "drop_leading_runtime",
    "drop_hidden_runtime",
    "drop_go_wrappers",
    "normalise",
    "signature_of",
    "key",
    "package_of",
    "code_class",
    "leak_site",
    "is_application",
    "matches",
    "any_matches",
    "inferred_state",
]


class CodeClass(Enum):
    """Who wrote a frame's code."""

    RUNTIME = "runtime"  # package runtime and its internals
    STDLIB = "stdlib"  # the rest of the standard library (GOROOT)
    VENDOR = "vendor"  # a vendored module (application code unless configured)
    APP = "app"  # the application and its modules



# The standard library's top-level import path elements (Go 1.19-1.27). A package
# whose first path element has no dot is standard library only if it is one of these:
# a GOPATH-era application package such as `myapp/server` has no dot either.
STDLIB_TOP = frozenset(
    """archive arena bufio builtin bytes cmp compress container context crypto database
    debug embed encoding errors expvar flag fmt go hash html image index internal io iter
    log maps math mime net os path plugin reflect regexp runtime slices sort strconv
    strings structs sync syscall testing text time unicode unique unsafe vendor weak
    cmd""".split()
)

_GENERIC = re.compile(r"\[[^\[\]]*(?:\[[^\[\]]*\][^\[\]]*)*\]")
# A GOROOT source path: /usr/local/go/src/net/http/x.go, /usr/lib/go-1.19/src/..,
# C:/Program Files/Go/src/.., /root/sdk/go1.27.3/src/.. (`go` or `go-1.x`/`go1.x` then src/).
_GOROOT = re.compile(r"(?:^|[/\\])(?:go|go-?\d[\w.\-]*|goroot|GOROOT)[/\\]src[/\\]([^/\\]+)[/\\]", re.IGNORECASE)
_SRC_TOP = re.compile(r"(?:^|[/\\])src[/\\]([^/\\]+)[/\\]")


# ------------------------------------------------------------------------- rules


def fold_generics(frames: Sequence[Frame], options: Options) -> tuple[Frame, ...]:
    """Fold generic type arguments (`F[go.shape.int]`, `F[...]`) to `[...]`."""
    out = []
    for f in frames:
        if "[" in f.function:
            folded = _fold(f.function)
            if folded != f.function:
                f = Frame(function=folded, file=f.file, line=f.line)
        out.append(f)
    return tuple(out)


@lru_cache(maxsize=65536)
def _fold(function: str) -> str:
    prev = None
    while prev != function:
        prev = function
        function = _GENERIC.sub("[...]", function)
    return function


def drop_goexit(frames: Sequence[Frame], options: Options) -> tuple[Frame, ...]:
    """Drop `runtime.goexit` at the bottom (the protobuf profile lists it; text forms don't)."""
    frames = tuple(frames)
    while frames and frames[-1].function in ("runtime.goexit", "runtime.goexit1", "runtime.goexit0"):
        frames = frames[:-1]
    return frames


def drop_leading_runtime(frames: Sequence[Frame], options: Options) -> tuple[Frame, ...]:
    """Drop the runtime's frames at the top (`runtime.gopark`, `runtime.chanrecv`, ...).

    debug=1 hides them (runtime/pprof printStackRecord skips leading `runtime.`
    functions) and debug=2 hides most of them (runtime/traceback.go showframe), while
    the protobuf profile and GOTRACEBACK=system show them all. A stack made of
    runtime frames only (the GC workers) keeps its bottom frame so it still has one.
    """
    frames = tuple(frames)
    i = 0
    while i < len(frames) - 1 and _is_runtime_function(frames[i].function):
        i += 1
    return frames[i:]


# Runtime functions the traceback prints even though they are not exported
# (runtime/traceback.go showfuncinfo).
_SHOWN_RUNTIME = frozenset({"runtime.gopanic", "runtime.runFinalizers", "runtime.runCleanups", "runtime.runfinq"})


def drop_hidden_runtime(frames: Sequence[Frame], options: Options) -> tuple[Frame, ...]:
    """Drop unexported `runtime.` frames anywhere in the stack (`runtime.main` under `main.main`).

    debug=2 hides every unexported runtime function wherever it sits
    (runtime/traceback.go showfuncinfo: `!hasPrefix(name, "runtime.") ||
    isExportedRuntime(name)`), while debug=1 hides only the leading ones and the
    protobuf none; dropping them everywhere makes the forms agree. An all-runtime
    stack keeps its last frame.
    """
    frames = tuple(frames)
    kept = tuple(f for f in frames if not _hidden_runtime(f.function))
    if not kept and frames:
        return frames[-1:]
    return kept


def _hidden_runtime(function: str) -> bool:
    if not function.startswith("runtime.") or function in _SHOWN_RUNTIME:
        return False
    rest = function[8:9]
    return not ("A" <= rest <= "Z")


_GO_WRAPPER = re.compile(r"\.(?:gowrap|deferwrap)\d+$")


def drop_go_wrappers(frames: Sequence[Frame], options: Options) -> tuple[Frame, ...]:
    """Drop the compiler's `go`/`defer` statement wrappers (`F.gowrap1`, `F.deferwrap2`).

    debug=2 elides wrapper frames (runtime/traceback.go showfuncinfo: FuncIDWrapper
    and elideWrapperCalling) while GOTRACEBACK=all crash dumps, debug=1 and the
    protobuf keep them. A stack of nothing else keeps it (a goroutine not yet started).
    """
    frames = tuple(frames)
    kept = tuple(f for f in frames if not _GO_WRAPPER.search(f.function))
    return kept if kept else frames


Rule = Callable[[Sequence[Frame], "Options"], tuple[Frame, ...]]

# The one list of signature rules, in the order normalise() applies them; Options.rules
# names a shorter list (config), looked up by name in RULES.
DEFAULT_RULES: tuple[Rule, ...] = (fold_generics, drop_goexit, drop_leading_runtime, drop_hidden_runtime, drop_go_wrappers)
RULES: dict[str, Rule] = {rule.__name__: rule for rule in DEFAULT_RULES}


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """How signatures and leak sites are computed (from the config)."""

    vendor_is_app: bool = True  # vendored modules count as application code
    wrappers: tuple[str, ...] = ()  # functions skipped when choosing the leak site ('pkg...' = prefix)
    rules: tuple[str, ...] = tuple(rule.__name__ for rule in DEFAULT_RULES)  # names of the rules applied, in order


DEFAULT_OPTIONS = Options()


def normalise(frames: Sequence[Frame], options: Options = DEFAULT_OPTIONS) -> tuple[Frame, ...]:
    """Return `frames` with every rule named in `options.rules` applied, in order."""
    out = tuple(frames)
    for name in options.rules:
        out = RULES[name](out, options)
    return out


_SIG_CACHE: dict[tuple[tuple[Frame, ...], Options], Signature] = {}


def signature_of(frames: Sequence[Frame], options: Options = DEFAULT_OPTIONS) -> Signature:
    """Return the Signature of a stack printed as `frames` (top first)."""
    k = (tuple(frames), options)
    sig = _SIG_CACHE.get(k)
    if sig is None:
        if len(_SIG_CACHE) > 200_000:
            _SIG_CACHE.clear()
        sig = Signature(frames=normalise(k[0], options))
        _SIG_CACHE[k] = sig
    return sig


def key(signature: Signature) -> str:
    """Return the canonical one-string key of `signature` (one frame a line)."""
    return signature.key()


# ------------------------------------------------------------------ code classes


@lru_cache(maxsize=65536)
def package_of(function: str) -> str:
    """Return the import path of `function` ('net/http.(*conn).serve' -> 'net/http')."""
    slash = function.rfind("/")
    dot = function.find(".", slash + 1)
    pkg = function if dot < 0 else function[:dot]
    # URL-escaped import paths (`gopkg.in/yaml%2ev3`) print with %xx; compare unescaped.
    if "%" in pkg:
        from urllib.parse import unquote

        pkg = unquote(pkg)
    return pkg


def _is_runtime_function(function: str) -> bool:
    pkg = package_of(function)
    return pkg == "runtime" or pkg.startswith(("runtime/internal/", "internal/runtime/"))


def _class_of_package(pkg: str) -> CodeClass | None:
    if pkg == "runtime" or pkg.startswith(("runtime/internal/", "internal/runtime/")):
        return CodeClass.RUNTIME
    top = pkg.split("/", 1)[0]
    if top == "main":
        return CodeClass.APP
    if "." in top:
        return CodeClass.APP
    if top in STDLIB_TOP:
        return CodeClass.STDLIB
    return None


@lru_cache(maxsize=65536)
def _code_class(function: str, file: str) -> CodeClass:
    pkg = package_of(function)
    cls = _class_of_package(pkg)
    if cls is CodeClass.RUNTIME:
        return cls
    if pkg == "main" or pkg.startswith("main."):
        return CodeClass.APP
    path = file.replace("\\", "/")
    if "/vendor/" in path and not _GOROOT.search(path):
        return CodeClass.VENDOR
    m = _GOROOT.search(path)
    if m and m.group(1) in STDLIB_TOP:
        return CodeClass.STDLIB
    m = _SRC_TOP.search(path)
    if m:
        # GOPATH-style: /go/src/github.com/acme/x.go is application code.
        if "." in m.group(1):
            return CodeClass.APP
        if m.group(1) in STDLIB_TOP and cls is CodeClass.STDLIB:
            return CodeClass.STDLIB
    elif not path.startswith("/") and ":" not in path[:3]:
        # -trimpath: 'net/http/server.go' or 'github.com/acme/x/main.go'
        top = path.split("/", 1)[0]
        if top in STDLIB_TOP and cls is not CodeClass.APP:
            return CodeClass.STDLIB
        if "." in top:
            return CodeClass.APP
    return cls or CodeClass.APP


def code_class(frame: Frame) -> CodeClass:
    """Return the CodeClass of `frame`: from its file path first, then its import path."""
    return _code_class(frame.function, frame.file)


def is_application(frame: Frame, options: Options = DEFAULT_OPTIONS) -> bool:
    """Return True when `frame` is application code under `options`."""
    cls = code_class(frame)
    return cls is CodeClass.APP or (cls is CodeClass.VENDOR and options.vendor_is_app)


def matches(function: str | None, patterns: Sequence[str]) -> bool:
    """Return True when `function` equals a pattern or starts with a `pkg...` prefix pattern (goleak's spelling)."""
    if not function or not patterns:
        return False
    exact, prefixes = _compiled_patterns(tuple(patterns))
    return function in exact or (bool(prefixes) and function.startswith(prefixes))


def any_matches(functions: Sequence[str], patterns: Sequence[str]) -> bool:
    """Return True when any of `functions` matches(`patterns`)."""
    if not patterns:
        return False
    exact, prefixes = _compiled_patterns(tuple(patterns))
    if not exact.isdisjoint(functions):
        return True
    return bool(prefixes) and any(f.startswith(prefixes) for f in functions)


@lru_cache(maxsize=256)
def _compiled_patterns(patterns: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    """Return (the exact names, the prefixes) of `patterns`."""
    return (
        frozenset(p for p in patterns if not p.endswith("...")),
        tuple(p[:-3] for p in patterns if p.endswith("...")),
    )


def leak_site(frames: Sequence[Frame], options: Options = DEFAULT_OPTIONS) -> Frame | None:
    """Return the leak site of a stack (top first).

    The first application frame from the top that is not a configured wrapper; for a
    stack of runtime and standard-library frames only, its entry frame (the bottom
    one: the function the `go` statement started). None for an empty stack.
    """
    if not frames:
        return None
    for f in frames:
        if is_application(f, options) and not matches(f.function, options.wrappers):
            return f
    return frames[-1]


def fingerprint(signature: Signature, site: Frame, options: Options) -> str:
    """Return a short, line-free hash of a cause: the leak site and the application functions.

    Lines shift with every deploy and created-by frames are missing from debug=1 and
    protobuf dumps, so neither enters: the same leak gets the same fingerprint in
    every format, run and release that keeps its function names.
    """
    app = [f.function for f in signature.frames if is_application(f, options)]
    blob = "\n".join([site.function, *app]).encode()
    return hashlib.sha1(blob).hexdigest()[:12]


# ------------------------------------------------------------------ wait reasons

# The functions that park a goroutine, and the wait reason the runtime prints for
# them in debug=2 (runtime/runtime2.go waitReasonStrings; the gopark calls in
# chan.go, select.go, sema.go, netpoll.go, time.go). debug=1 and the protobuf carry
# no state, but their stacks keep these frames: the protobuf all of them, debug=1
# the first shown one (runtime/pprof printStackRecord hides leading runtime
# frames, so a sync or time wait is still named there; a channel wait is not).
# Checked in this order, the most specific first: a Mutex waits in
# runtime.semacquire1 too, and says "sync.Mutex.Lock", not "semacquire".
_WAIT_FRAMES: tuple[tuple[str, str], ...] = (
    ("sync.(*WaitGroup).Wait", "sync.WaitGroup.Wait"),
    ("sync.(*Cond).Wait", "sync.Cond.Wait"),
    ("runtime.notifyListWait", "sync.Cond.Wait"),
    ("sync.(*RWMutex).RLock", "sync.RWMutex.RLock"),
    ("sync.(*RWMutex).Lock", "sync.RWMutex.Lock"),
    ("sync.(*Mutex).Lock", "sync.Mutex.Lock"),
    ("sync.(*Mutex).lockSlow", "sync.Mutex.Lock"),
    ("internal/sync.(*Mutex).lockSlow", "sync.Mutex.Lock"),
    ("runtime.chansend", "chan send"),
    ("runtime.chansend1", "chan send"),
    ("runtime.chanrecv", "chan receive"),
    ("runtime.chanrecv1", "chan receive"),
    ("runtime.chanrecv2", "chan receive"),
    ("runtime.selectgo", "select"),
    ("runtime.block", "select (no cases)"),
    ("runtime.netpollblock", "IO wait"),
    ("internal/poll.runtime_pollWait", "IO wait"),
    ("time.Sleep", "sleep"),
    ("runtime.timeSleep", "sleep"),
    ("runtime.semacquire1", "semacquire"),
    ("sync.runtime_Semacquire", "semacquire"),
)
_WAIT_ORDER = {fn: i for i, (fn, _) in enumerate(_WAIT_FRAMES)}
_WAIT_REASON = dict(_WAIT_FRAMES)


def inferred_state(frames: Sequence[Frame], options: Options = DEFAULT_OPTIONS) -> str | None:
    """Return the wait reason the runtime would print for a stack (top first) of debug=1 or the protobuf, None when no frame tells.

    Only the frames above the first application frame are read (a wait is at the
    top of its stack); of those, the most specific known parking function names
    the reason (`_WAIT_FRAMES`). The result is an inference from frames, not what
    the runtime printed: callers mark it so.
    """
    best: int | None = None
    for f in frames:
        if is_application(f, options):
            break
        i = _WAIT_ORDER.get(f.function)
        if i is not None and (best is None or i < best):
            best = i
    return None if best is None else _WAIT_FRAMES[best][1]
