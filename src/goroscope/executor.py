"""Where parsing runs: in this process, in a pool of local processes, or on a Dask cluster.

Contract: an Executor has `map_unordered(fn, items) -> Iterator[result]`, which calls
`fn(item)` once per item and yields the results as they finish, in no set order (so
`fn` returns something that names its item, as the pipeline's `(source, summary)`),
and `close()`. An exception raised by `fn` is raised again by the iterator, and the
items not yet started are cancelled. Executors are context managers.

`fn` must be a module-level function and items and results picklable: with the process
and Dask executors they cross process (and machine) boundaries. What crosses is kept
small on purpose: a Summary or a Skipped comes back, never the parsed goroutines.

- `SerialExecutor()` runs everything here, in order (`--jobs 1`, one file, tests).
- `ProcessExecutor(jobs)` runs a `concurrent.futures.ProcessPoolExecutor` of `jobs`
  workers (default: the cores this process may use), started with `forkserver` so
  that workers never inherit a parent's threads or locks, with at most two tasks per
  worker in flight so that a huge archive is not all queued at once. Workers die
  with the run: each watches the process that started the pool and exits the moment
  it is gone (even SIGKILLed: nothing could clean up after it), and a run that stops
  before its map is done (SIGTERM, SIGINT, an error) kills its workers rather than
  waiting for their tasks. With no worker left, the forkserver and the resource
  tracker exit too.
- `DaskExecutor(scheduler_address)` submits to a `distributed.Client`; the workers
  must have goroscope installed (the same version: checked on connect) and see
  files on disk at the same paths (a shared file system); objects of a store
  (s3://…) they read themselves, from the URL and storage options each task's Source
  carries (ingest.store), with no file system shared. `distributed` is an optional extra,
  imported only here: `pip install goroscope[dask]`.

`make_executor(kind, jobs, scheduler)` picks one from the command line's options.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

import goroscope
from goroscope.errors import GoroscopeError, UsageError

__all__ = [
    "Executor",
    "SerialExecutor",
    "ProcessExecutor",
    "DaskExecutor",
    "make_executor",
    "watch_parent",
    "default_jobs",
    "KINDS",
]

T = TypeVar("T")
R = TypeVar("R")

KINDS = ("local", "process", "serial", "dask")  # what make_executor accepts ('local' = 'process')
DASK_HINT = "pip install 'goroscope[dask]'"
_CONNECT_TIMEOUT = 30  # seconds to reach a scheduler and see a worker


class Executor(Protocol):
    """Runs one function over many items, somewhere, yielding results as they finish."""

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Yield `fn(item)` for every item of `items`, in completion order."""
        ...

    def close(self) -> None:
        """Release the workers."""
        ...


def default_jobs() -> int:
    """Return the number of cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class _ContextManager:
    """`with executor:` closes it."""

    def __enter__(self):
        """Return self."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the executor."""
        self.close()  # type: ignore[attr-defined]


class SerialExecutor(_ContextManager):
    """Run every item in this process, in order."""

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Yield `fn(item)` for each item, in the items' order."""
        for item in items:
            yield fn(item)

    def close(self) -> None:
        """Nothing to release."""


class ProcessExecutor(_ContextManager):
    """Run items in a pool of local worker processes."""

    def __init__(self, jobs: int | None = None) -> None:
        """Prepare a pool of `jobs` workers (None: all cores); processes start on first use."""
        if jobs is not None and jobs < 1:
            raise UsageError(f"--jobs must be at least 1, not {jobs}")
        self.jobs = jobs if jobs is not None else default_jobs()
        self._pool: ProcessPoolExecutor | None = None
        self._stopped_early = False  # a map was left before its end: close() kills rather than waits

    def _get_pool(self) -> ProcessPoolExecutor:
        """Return the pool, starting it the first time."""
        if self._pool is None:
            method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=multiprocessing.get_context(method),
                initializer=watch_parent,
                initargs=(os.getpid(),),
            )
        return self._pool

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Yield `fn(item)` for each item as workers finish them (serially for one item or one job).

        A Sequence is taken as it is and read one item at a time as workers free up (its
        items may be built on access), as is an iterator (its items may be made as the
        work goes: the pipeline's map while the walk goes on); other iterables are read
        whole first."""
        if not isinstance(items, (Sequence, Iterator)):
            items = list(items)
        if self.jobs == 1 or (isinstance(items, Sequence) and len(items) <= 1):
            yield from SerialExecutor().map_unordered(fn, items)
            return
        pool = self._get_pool()
        todo = iter(items)
        pending: set[Future] = set()
        window = 2 * self.jobs  # enough to keep every worker busy, not the whole archive queued

        def refill() -> None:
            for item in todo:
                with _signals_held():
                    pending.add(pool.submit(fn, item))
                if len(pending) >= window:
                    break

        finished = False
        self._stopped_early = True
        try:
            refill()
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    pending.discard(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        raise GoroscopeError(
                            "a parser process died (killed, or out of memory); try fewer --jobs"
                        ) from None
                    yield result
                refill()
            finished = True
            self._stopped_early = False
        finally:
            for fut in pending:
                fut.cancel()
            if not finished:
                # stopped part way (a signal, an error, the caller gave up): what runs is not wanted
                self._kill()

    def close(self) -> None:
        """Stop the workers, cancelling what has not started (killing what runs, when a map was left before its end)."""
        if self._stopped_early:
            # e.g. Ctrl-C or SIGTERM while the caller handled a result: the generator is not closed yet
            self._kill()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _kill(self) -> None:
        """Kill the workers now, without waiting for their tasks (a run that is stopping)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # the pool's own processes: concurrent.futures offers no public way to stop running tasks
        procs = list((getattr(pool, "_processes", None) or {}).values())
        for p in procs:
            try:
                p.kill()
            except (OSError, ValueError):
                pass
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            try:
                p.join(5)
            except (OSError, ValueError, AssertionError):
                pass


class _signals_held:
    """Hold SIGINT and SIGTERM back (in the main thread) while a submit may start a worker.

    An interrupt raised half way through starting one can leave a worker the pool
    does not list, so that nothing kills it and the interpreter waits for it at exit;
    held back, the signal is raised just after."""

    def __enter__(self) -> None:
        self._old = None
        if hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread():
            self._old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._old)


_WATCH_POLL = 1.0  # seconds between looks at the parent where no pidfd is available


def watch_parent(pid: int) -> None:
    """Start a thread in this worker that ends the process as soon as the process `pid` (the run) is gone.

    A worker's parent is the forkserver, not the run, and the run SIGKILLed (or
    killed by a timeout) closes nothing: without this its workers would wait for
    tasks forever, each holding its memory. Linux gives a pidfd that becomes readable
    when `pid` exits; elsewhere the thread polls."""

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False  # exists, but not ours to signal
        return False

    def watch() -> None:
        pidfd = None
        try:
            pidfd = os.pidfd_open(pid)  # type: ignore[attr-defined]
        except (AttributeError, OSError):
            pass
        if pidfd is not None:
            import select

            select.select([pidfd], [], [])
        else:
            import time

            while not gone():
                time.sleep(_WATCH_POLL)
        os._exit(1)

    if gone():
        os._exit(1)
    threading.Thread(target=watch, name="goroscope-watch-parent", daemon=True).start()


def _worker_version() -> str:
    """Return the goroscope version installed where this runs (a Dask worker)."""
    import goroscope as g

    return g.__version__


class DaskExecutor(_ContextManager):
    """Run items on a Dask cluster through `distributed.Client`."""

    def __init__(self, scheduler_address: str, *, timeout: float = _CONNECT_TIMEOUT) -> None:
        """Connect to the scheduler at `scheduler_address` and check its workers can run goroscope."""
        try:
            import distributed
        except ImportError:
            raise UsageError(
                f"the Dask executor needs the optional 'distributed' package: {DASK_HINT}"
            ) from None
        self._distributed = distributed
        self.address = scheduler_address
        try:
            # before Client(): a Client that fails on a malformed address lingers 60 s closing itself
            scheme, _ = distributed.comm.parse_address(scheduler_address)
            if scheme != "inproc":  # an in-process cluster's address has no port
                distributed.comm.get_address_host_port(scheduler_address)
        except (ValueError, TypeError) as e:
            raise UsageError(f"--scheduler {scheduler_address!r}: not a scheduler address such as tcp://HOST:8786 ({e})") from None
        try:
            self._client = distributed.Client(scheduler_address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as e:
            raise UsageError(f"cannot reach the Dask scheduler at {scheduler_address}: {e}") from None
        try:
            self._check_workers(timeout)
        except BaseException:
            self._client.close()
            raise

    def _check_workers(self, timeout: float) -> None:
        """Raise UsageError unless a worker is up and every worker runs our goroscope version."""
        try:
            self._client.wait_for_workers(1, timeout=timeout)
        except (TimeoutError, OSError) as e:
            raise UsageError(f"the Dask scheduler at {self.address} has no workers ({e})") from None
        try:
            versions = self._client.run(_worker_version)
        except Exception as e:  # whatever a worker without goroscope raises on unpickling
            raise UsageError(
                f"the Dask workers of {self.address} cannot run goroscope ({type(e).__name__}: {e}): install it there too"
            ) from None
        wrong = {w: v for w, v in versions.items() if v != goroscope.__version__}
        if wrong:
            worker, version = sorted(wrong.items())[0]
            raise UsageError(
                f"Dask worker {worker} runs goroscope {version}, this is {goroscope.__version__}: install the same version"
            )

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Yield `fn(item)` for each item as the cluster finishes them."""
        items = list(items)
        if not items:
            return
        futures: list[Any] = self._client.map(fn, items, pure=False)
        done: set[Any] = set()
        try:
            for fut in self._distributed.as_completed(futures, loop=self._client.loop):
                done.add(fut.key)
                yield fut.result()
        finally:
            left = [f for f in futures if f.key not in done]
            if left:
                self._client.cancel(left)

    def close(self) -> None:
        """Disconnect from the scheduler (the cluster keeps running)."""
        if self._client is not None:
            self._client.close()
            self._client = None


def make_executor(kind: str, jobs: int | None = None, scheduler: str | None = None) -> Executor:
    """Return the executor `kind` (local | process | serial | dask) for `jobs` workers or `scheduler`."""
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
    if kind == "serial":
        return SerialExecutor()
    if kind in ("local", "process"):
        if jobs == 1:
            return SerialExecutor()
        return ProcessExecutor(jobs)
    if kind == "dask":
        if not scheduler:
            raise UsageError("the Dask executor needs a scheduler address: --scheduler tcp://HOST:8786")
        return DaskExecutor(scheduler)
    raise UsageError(f"unknown executor {kind!r}: use one of {', '.join(KINDS)}")
