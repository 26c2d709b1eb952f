"""Tests of the executors: serial, local processes, Dask, and make_executor's choices."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from goroscope.aggregate import aggregate
from goroscope.errors import GoroscopeError, UsageError
from goroscope.executor import DaskExecutor, ProcessExecutor, SerialExecutor, make_executor
from goroscope.model import Frame, Goroutine, Snapshot, Summary

# ------------------------------------------------------- module-level task functions (picklable)


def square(x: int) -> tuple[int, int]:
    """Return the item and its square."""
    return x, x * x


def where(x: int) -> tuple[int, int]:
    """Return the item and the pid of the process that ran it."""
    time.sleep(0.05)
    return x, os.getpid()


def fail_on_three(x: int) -> int:
    """Return `x`, but raise for 3."""
    if x == 3:
        raise ValueError("three is not allowed")
    return x


def die(x: int) -> int:
    """Kill the worker running this."""
    os.kill(os.getpid(), signal.SIGKILL)
    return x


def slow(x: int) -> int:
    """Return `x` after a while."""
    time.sleep(0.2)
    return x


def summarise(n: int) -> tuple[int, Summary]:
    """Return `n` and the Summary of a snapshot of `n` goroutines (what crosses the boundary)."""
    frames = (Frame(function="example.com/app.wait", file="/src/app/wait.go", line=7),)
    goroutines = tuple(Goroutine(id=i + 1, state="chan receive", frames=frames) for i in range(n))
    return n, aggregate(Snapshot(format="debug2", goroutines=goroutines))


# ------------------------------------------------------------------------- local


@pytest.mark.parametrize("executor", [SerialExecutor(), ProcessExecutor(2), ProcessExecutor(1)], ids=["serial", "process2", "process1"])
def test_every_item_once(executor) -> None:
    with executor:
        got = list(executor.map_unordered(square, range(20)))
    assert sorted(got) == [(x, x * x) for x in range(20)]


def test_serial_keeps_order() -> None:
    assert list(SerialExecutor().map_unordered(square, [3, 1, 2])) == [(3, 9), (1, 1), (2, 4)]


def test_process_executor_runs_in_other_processes() -> None:
    with ProcessExecutor(2) as ex:
        pids = {pid for _, pid in ex.map_unordered(where, range(8))}
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2


def test_summaries_cross_the_boundary_intact() -> None:
    with ProcessExecutor(2) as ex:
        remote = dict(ex.map_unordered(summarise, [1, 10, 100]))
    assert remote == {n: summarise(n)[1] for n in (1, 10, 100)}


@pytest.mark.parametrize("executor", [SerialExecutor(), ProcessExecutor(2)], ids=["serial", "process"])
def test_exception_in_task_is_raised(executor) -> None:
    with executor, pytest.raises(ValueError, match="three"):
        list(executor.map_unordered(fail_on_three, range(6)))


def test_dead_worker_is_a_goroscope_error() -> None:
    with ProcessExecutor(2) as ex, pytest.raises(GoroscopeError, match="parser process died"):
        list(ex.map_unordered(die, range(4)))


def test_stopping_early_cancels_the_rest() -> None:
    # GIVEN many slow items on two workers
    ex = ProcessExecutor(2)
    it = ex.map_unordered(slow, range(200))
    # WHEN the consumer takes one result and stops
    first = next(it)
    it.close()
    t0 = time.monotonic()
    ex.close()
    # THEN the queued items are not run (200 x 0.2 s would take 20 s on two workers)
    assert first in range(200)
    assert time.monotonic() - t0 < 5


def test_pool_is_reused_across_calls() -> None:
    with ProcessExecutor(2) as ex:
        a = {pid for _, pid in ex.map_unordered(where, range(6))}
        b = {pid for _, pid in ex.map_unordered(where, range(6))}
    assert a & b


# ---------------------------------------------------------------- make_executor


@pytest.mark.parametrize(
    "kind, jobs, expected",
    [
        ("local", None, ProcessExecutor),
        ("local", 2, ProcessExecutor),
        ("local", 1, SerialExecutor),
        ("process", 3, ProcessExecutor),
        ("serial", None, SerialExecutor),
        ("serial", 4, SerialExecutor),
    ],
)
def test_make_executor_picks(kind: str, jobs: int | None, expected: type) -> None:
    ex = make_executor(kind, jobs, None)
    try:
        assert type(ex) is expected
        if isinstance(ex, ProcessExecutor):
            assert ex.jobs == (jobs or len(os.sched_getaffinity(0)))
    finally:
        ex.close()


@pytest.mark.parametrize(
    "kind, jobs, scheduler, message",
    [
        ("local", 0, None, "--jobs must be at least 1"),
        ("process", -2, None, "--jobs must be at least 1"),
        ("dask", None, None, "--scheduler"),
        ("threads", None, None, "unknown executor 'threads'"),
    ],
)
def test_make_executor_refuses(kind: str, jobs: int | None, scheduler: str | None, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        make_executor(kind, jobs, scheduler)


def test_dask_without_the_extra_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(UsageError, match=r"pip install 'goroscope\[dask\]'"):
        make_executor("dask", None, "tcp://127.0.0.1:8786")


# -------------------------------------------------------------------------- dask


@pytest.fixture(scope="module")
def distributed():
    """Return the distributed module, or skip: it is the optional extra goroscope[dask] (CI installs it: fail there)."""
    if os.environ.get("CI"):
        import distributed as d

        return d
    return pytest.importorskip(
        "distributed", reason="the optional extra goroscope[dask] (package 'distributed') is not installed"
    )


@pytest.fixture(scope="module")
def cluster(distributed):
    """Return a one-worker in-process Dask cluster."""
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None, scheduler_port=0
    ) as c:
        yield c


def test_dask_runs_every_item(cluster) -> None:
    with make_executor("dask", None, cluster.scheduler_address) as ex:
        assert isinstance(ex, DaskExecutor)
        got = list(ex.map_unordered(square, range(25)))
        assert sorted(got) == [(x, x * x) for x in range(25)]
        remote = dict(ex.map_unordered(summarise, [5, 50]))
        assert remote == {n: summarise(n)[1] for n in (5, 50)}
        assert list(ex.map_unordered(square, [])) == []


def test_dask_raises_task_errors(cluster) -> None:
    with DaskExecutor(cluster.scheduler_address) as ex, pytest.raises(ValueError, match="three"):
        list(ex.map_unordered(fail_on_three, range(6)))


def test_dask_unreachable_scheduler_is_a_usage_error(distributed) -> None:
    with pytest.raises(UsageError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:1"):
        DaskExecutor("tcp://127.0.0.1:1", timeout=2)


def test_report_on_a_dask_cluster_equals_the_local_one(cluster, tmp_path) -> None:
    # GIVEN the sample archive
    from datetime import datetime, timezone
    from pathlib import Path

    from goroscope.config import Config
    from goroscope.pipeline import RunOptions, analyze
    from goroscope.render.json import render_json

    samples = Path(__file__).resolve().parents[1] / "samples"
    now = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    # WHEN it is analysed by local processes and by the Dask cluster (workers read the files by path)
    local = analyze(samples, Config(), RunOptions(use_cache=False, jobs=2, now=now))
    remote = analyze(samples, Config(), RunOptions(use_cache=False, executor="dask", scheduler=cluster.scheduler_address, now=now))
    # THEN the reports are the same
    assert render_json(remote, Config()) == render_json(local, Config())
    assert remote.suspects
