"""Ignore rules: the signatures no verdict looks at.

Contract: `is_ignored(timeline, config) -> bool`. The config's rules
(`config.ignore`, goleak-like: a top function, any function, a created-by function,
a state; `pkg...` is a prefix) and, when `use_defaults` is on, `DEFAULT_IGNORE`,
which names only goroutines of the runtime and the standard library that every
healthy program has. rank.py drops what matches before it groups anything.
"""

from __future__ import annotations

from goroscope.config import Config, IgnoreRules
from goroscope.model import Timeline
from goroscope.signature import any_matches, matches

__all__ = ["DEFAULT_IGNORE", "is_ignored"]

# Goroutines of the runtime and the standard library that exist in every healthy
# program and are idle by design. Applied when config.ignore.use_defaults is true.
DEFAULT_IGNORE = IgnoreRules(
    top_function=(
        "runtime.gcBgMarkWorker",  # GC mark workers
        "runtime.bgsweep",  # background sweeper
        "runtime.bgscavenge",  # background scavenger
        "runtime.forcegchelper",  # forced-GC helper
        "runtime.runfinq",  # finalizer goroutine
        "runtime.runCleanups",  # runtime.AddCleanup goroutine (Go 1.24+)
        "runtime.unique_runtime_registerUniqueMapCleanup.func1",  # unique package cleanup
        "runtime.timerproc",  # timer goroutine (Go < 1.14)
        "runtime.ensureSigM.func1",  # signal mask goroutine
        "os/signal.signal_recv",  # os/signal delivery loop
        "os/signal.loop",
        "runtime/pprof.writeGoroutineStacks",  # the dump's own writer
        "runtime/pprof.profileWriter",  # a CPU profile being written
        "runtime/trace.Start.func1",  # an execution trace being written
    ),
    any_function=(
        "runtime/pprof.writeGoroutineStacks",  # the goroutine serving the dump itself
        "runtime/pprof.writeGoroutine",
    ),
    created_by=(
        "runtime.gcBgMarkStartWorkers",
        "runtime.gcenable",
        "runtime.createfing",
        "runtime.init.5",
        "runtime.init.6",
        "runtime.init.7",
        "os/signal.Notify.func1",
    ),
    use_defaults=False,
)


def _ignored_by(t: Timeline, rules: IgnoreRules) -> bool:
    """Return True when one of `rules` matches timeline `t`."""
    frames = t.signature.frames
    if frames and matches(frames[0].function, rules.top_function):
        return True
    if rules.any_function and any_matches([f.function for f in frames], rules.any_function):
        return True
    if t.created_by is not None and matches(t.created_by.function, rules.created_by):
        return True
    if rules.state and t.states and t.states[0][0] in rules.state:
        return True
    return False


def is_ignored(t: Timeline, config: Config) -> bool:
    """Return True when the config's ignore rules (and the defaults, if on) match `t`."""
    if _ignored_by(t, config.ignore):
        return True
    return config.ignore.use_defaults and _ignored_by(t, DEFAULT_IGNORE)
