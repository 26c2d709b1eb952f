"""Fix hints: recognised leak patterns and what usually fixes them, as a list of same-shaped rules.

Contract: each rule is `rule(suspect) -> Hint | None`, has a docstring saying
what it recognises, and looks only at wait states and standard-library function
names, never at application names, so it holds for any Go program. `RULES` is a
plain list in priority order (the first rule that answers wins), like the
signature rules; `hint_for(suspect)` applies it. Every output (HTML, PDF,
Markdown, JSON) shows the hint this module gives, in its words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from goroscope import signature as sig
from goroscope.model import Kind, Suspect

__all__ = ["Hint", "Facts", "RULES", "hint_for"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Hint:
    """A recognised leak pattern and what usually fixes it."""

    pattern: str  # short id: nil-chan, http-body, mutex, waitgroup, abandoned-send, never-closed, ticker
    title: str  # the pattern's name
    text: str  # what to do


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules look at in a suspect (cheap: a few small sets)."""

    states: frozenset[str]  # every wait state of its goroutines
    funcs: frozenset[str]  # every function of its representative stack
    created: str  # the created-by function, '' where not carried
    app_top: bool  # the stack's top frame is application code
    kind: Kind  # growing | stuck | leaked

    @classmethod
    def of(cls, s: Suspect) -> Facts:
        """Return the facts of `s`."""
        state = s.state or ""
        return cls(
            states=frozenset({st for st, _ in s.states} | ({state} if state else set())),
            funcs=frozenset(f.function for f in s.stack),
            created=s.created_by.function if s.created_by else "",
            app_top=bool(s.stack) and sig.is_application(s.stack[0]),
            kind=Kind(s.kind),
        )


Rule = Callable[[Suspect], "Hint | None"]

_HTTP_LOOPS = frozenset({"net/http.(*persistConn).readLoop", "net/http.(*persistConn).writeLoop"})
_MUTEX_STATES = frozenset({"sync.Mutex.Lock", "sync.RWMutex.Lock", "sync.RWMutex.RLock"})
_MUTEX_FUNCS = frozenset({"sync.(*Mutex).Lock", "sync.(*Mutex).lockSlow", "sync.(*RWMutex).Lock", "sync.(*RWMutex).RLock"})
_WG_FUNCS = frozenset({"sync.(*WaitGroup).Wait"})


# The catalogue: what each recognised pattern is called and what usually fixes it.

NIL_CHANNEL = Hint(
    pattern="nil-chan",
    title="Operation on a nil channel",
    text="A send or receive on a nil channel blocks forever. The channel was never made "
    "(a field or variable left at its zero value, or set to nil to disable a select case and "
    "never restored): initialise it with make() before the goroutine starts, or give the wait "
    "a <-ctx.Done() case.",
)

HTTP_BODY = Hint(
    pattern="http-body",
    title="HTTP response body not closed",
    text="Each leaked client connection keeps one readLoop and one writeLoop goroutine. A caller "
    "of net/http does not close resp.Body on every path (non-2xx responses and early returns "
    "too): add defer resp.Body.Close() right after the error check, and drain the body "
    "(io.Copy(io.Discard, resp.Body)) so the connection can be reused. The caller is not on "
    "this stack: look for http.Client calls whose responses are dropped.",
)

MUTEX = Hint(
    pattern="mutex",
    title="Lock held across a blocking call",
    text="Goroutines queue for a mutex its holder does not release. Find the holder (a goroutine "
    "blocked elsewhere — a channel operation, I/O, or a second Lock of the same mutex — while "
    "holding it) and release the lock before blocking, or narrow the critical section.",
)

WAITGROUP = Hint(
    pattern="waitgroup",
    title="WaitGroup never done",
    text="Wait never returns because some Add has no matching Done: a worker returned early "
    "(an error path, a select on ctx) without calling Done, or Add counted more goroutines "
    "than were started. Put defer wg.Done() first in every counted goroutine and call Add "
    "before the go statement.",
)

ABANDONED_SEND = Hint(
    pattern="abandoned-send",
    title="Result channel abandoned after a timeout",
    text="The goroutine sends a result nobody receives: the function that started it gave up "
    "(a timeout or a cancelled context) and returned. Make the result channel buffered "
    "(make(chan T, 1)) so the send always completes, or select on <-ctx.Done() around the send.",
)

NEVER_CLOSED = Hint(
    pattern="never-closed",
    title="Channel never closed",
    text="The goroutine waits on (or ranges over) a channel nobody sends on or closes any more. "
    "The producer must close the channel when it is done (defer close(ch)), or the receiver "
    "needs a <-ctx.Done() case.",
)

TICKER = Hint(
    pattern="ticker",
    title="Ticker loop never stopped",
    text="A goroutine loops on select (typically over a time.Ticker's channel) with no way out, "
    "one per request or connection. Add a case <-ctx.Done(): return (or a done channel the "
    "owner closes) and defer ticker.Stop().",
)


def nil_channel(s: Suspect) -> Hint | None:
    """Recognise a send or receive on a nil channel (the runtime prints '(nil chan)')."""
    f = Facts.of(s)
    return NIL_CHANNEL if any("(nil chan)" in st for st in f.states) else None


def http_body(s: Suspect) -> Hint | None:
    """Recognise net/http client connections kept by unclosed response bodies (persistConn loops)."""
    f = Facts.of(s)
    return HTTP_BODY if f.funcs & _HTTP_LOOPS else None


def mutex(s: Suspect) -> Hint | None:
    """Recognise goroutines queued on a sync.Mutex or RWMutex."""
    f = Facts.of(s)
    return MUTEX if f.states & _MUTEX_STATES or ("semacquire" in f.states and f.funcs & _MUTEX_FUNCS) else None


def waitgroup(s: Suspect) -> Hint | None:
    """Recognise a sync.WaitGroup.Wait that never returns."""
    f = Facts.of(s)
    return WAITGROUP if "sync.WaitGroup.Wait" in f.states or ("semacquire" in f.states and f.funcs & _WG_FUNCS) else None


def abandoned_send(s: Suspect) -> Hint | None:
    """Recognise application code blocked sending a result nobody receives."""
    f = Facts.of(s)
    return ABANDONED_SEND if f.app_top and any(st.startswith("chan send") for st in f.states) else None


def never_closed(s: Suspect) -> Hint | None:
    """Recognise application code waiting on a channel nobody sends on or closes."""
    f = Facts.of(s)
    return NEVER_CLOSED if f.app_top and any(st.startswith("chan receive") for st in f.states) else None


def ticker(s: Suspect) -> Hint | None:
    """Recognise a loop over a time.Ticker (or a growing select loop) with no way out."""
    f = Facts.of(s)
    on_ticker = any(fn.startswith(("time.(*Ticker)", "time.NewTicker", "time.Tick")) for fn in f.funcs | {f.created})
    select_loop = f.app_top and f.kind is Kind.GROWING and any(st.startswith("select") for st in f.states)
    return TICKER if on_ticker or select_loop else None


# In priority order: the most specific evidence first (a nil channel is certain; a
# select loop is a guess).
RULES: list[Rule] = [nil_channel, http_body, mutex, waitgroup, abandoned_send, never_closed, ticker]


def hint_for(s: Suspect, rules: list[Rule] = RULES) -> Hint | None:
    """Return the first hint `rules` give for `s`, or None."""
    for rule in rules:
        hint = rule(s)
        if hint is not None:
            return hint
    return None
