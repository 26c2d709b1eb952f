"""Shared fixtures: the samples and corpus folders, and a frozen clock.

The corpus lives beside the repository (../shared/corpus). Where it is absent the
tests that need it are skipped with a reason; with the environment variable CI set
they fail instead, so a CI run can never pass by skipping them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from helpers import CORPUS, REPO, need

SAMPLES = REPO / "samples"
FROZEN_AT = datetime(2026, 12, 1, 9, 0, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """Return ../shared/corpus (the real dumps and truth.yaml)."""
    return need(CORPUS, "the dump corpus (../shared/corpus)")


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """Return the repository's samples/ folder (the README's example archive)."""
    return need(SAMPLES, "the samples/ folder")


@dataclass
class FrozenClock:
    """A clock that stands still until told to move."""

    now: datetime = FROZEN_AT  # the current time, UTC

    def time(self) -> float:
        """Return the current time as seconds since the epoch."""
        return self.now.timestamp()

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds`."""
        self.now = self.now + timedelta(seconds=seconds)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    """Return a FrozenClock at 2026-12-01T09:00:00Z that discovery reads (settle_seconds).

    Pass `frozen_clock.now` as RunOptions(now=...) to freeze a report's generated_at."""
    from goroscope.ingest import discover

    clock = FrozenClock()
    monkeypatch.setattr(discover, "_now", clock.time)
    return clock


@pytest.fixture(autouse=True)
def _close_tar_cursors():  # type: ignore[no-untyped-def]
    """Close the tar archives discovery keeps open between member reads, after each test."""
    yield
    from goroscope.ingest import archive

    archive.close_cursors()
