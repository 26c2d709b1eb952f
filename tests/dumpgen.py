"""Generate small goroutine dumps in the runtime's own debug=2 form, for archives of many series.

`Leak` names a goroutine shape (function, file, line, state, creator); `debug2(...)`
writes one dump of a process holding some goroutines of each shape, laid out as
runtime/traceback.go prints them (`goroutine N [state, M minutes]:`, a function
line with its argument words, a tab-indented `file:line +0xoff` line, then
`created by F in goroutine P`). `write_series(...)` writes one such dump per moment
into a folder, named with the moment's time, as a collector would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

T0 = datetime(2026, 12, 1, 8, 0, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Leak:
    """One goroutine shape: where it blocks, in what state, and who started it."""

    function: str  # the blocking application function
    file: str  # its file
    line: int  # where it blocks
    state: str  # the wait reason as printed
    creator: str  # the function holding the go statement
    creator_line: int  # the go statement's line
    runtime_top: tuple[tuple[str, str, int], ...] = ()  # runtime/sync frames above it, top first


SEND = Leak("github.com/acme/ledger/internal/screener.(*Screener).check", "/app/internal/screener/screener.go", 30,
            "chan send", "github.com/acme/ledger/internal/screener.(*Screener).Screen", 22)
NIL_RECV = Leak("github.com/acme/ledger/internal/feed.(*Tailer).follow", "/app/internal/feed/tailer.go", 57,
                "chan receive (nil chan)", "github.com/acme/ledger/internal/feed.Start", 19)
WAITGROUP = Leak("github.com/acme/ledger/internal/batch.(*Flusher).flush", "/app/internal/batch/flusher.go", 41,
                 "sync.WaitGroup.Wait", "github.com/acme/ledger/internal/batch.(*Flusher).Run", 28,
                 (("sync.runtime_SemacquireWaitGroup", "/usr/local/go/src/runtime/sema.go", 114),
                  ("sync.(*WaitGroup).Wait", "/usr/local/go/src/sync/waitgroup.go", 118)))
IDLE = Leak("github.com/acme/ledger/internal/server.(*Pool).worker", "/app/internal/server/pool.go", 63,
            "select", "github.com/acme/ledger/internal/server.NewPool", 40)


def _goroutine(gid: int, leak: Leak, minutes: int, parent: int) -> str:
    """Return one goroutine block as runtime/traceback.go prints it."""
    wait = f", {minutes} minutes" if minutes >= 1 else ""
    lines = [f"goroutine {gid} [{leak.state}{wait}]:"]
    for fn, file, line in leak.runtime_top:
        lines += [f"{fn}(0xc000{gid:06x}?)", f"\t{file}:{line} +0x2e"]
    lines += [f"{leak.function}(0xc000{gid:06x}, {{0x9a1f20, 0x5}})", f"\t{leak.file}:{leak.line} +0x85"]
    cfile = leak.file
    lines += [f"created by {leak.creator} in goroutine {parent}", f"\t{cfile}:{leak.creator_line} +0xa5"]
    return "\n".join(lines)


def debug2(groups: list[tuple[Leak, list[tuple[int, int]]]]) -> str:
    """Return a debug=2 dump: main, then for each (shape, [(goroutine id, wait minutes)]) its goroutines."""
    blocks = ["goroutine 1 [select, 30 minutes]:\nmain.main()\n\t/app/cmd/ledger/main.go:48 +0x1e5"]
    for leak, members in groups:
        blocks += [_goroutine(gid, leak, minutes, 1) for gid, minutes in members]
    return "\n\n".join(blocks) + "\n"


def write_series(folder: Path, moments: int, shapes: dict[Leak, list[int]], *, step=timedelta(minutes=2),
                 stuck: tuple[Leak, ...] = ()) -> list[Path]:
    """Write one debug=2 dump per moment into `folder`; return the paths.

    `shapes[leak][i]` is how many goroutines of that shape the process holds at
    moment i. New goroutines get new ids (ids are never reused); goroutines of a
    shape in `stuck` keep their ids and their wait minutes grow with the clock,
    as a really blocked goroutine's do.
    """
    folder.mkdir(parents=True, exist_ok=True)
    next_id = 20
    ids: dict[Leak, list[int]] = {leak: [] for leak in shapes}
    born: dict[int, datetime] = {}
    out = []
    for i in range(moments):
        now = T0 + i * step
        groups = []
        for leak, counts in shapes.items():
            have = ids[leak]
            want = counts[i]
            if leak not in stuck and len(have) > want:
                del have[: len(have) - want]  # the oldest finish first
            while len(have) < want:
                have.append(next_id)
                born[next_id] = now
                next_id += 1
            del have[want:]
            groups.append((leak, [(g, int((now - born[g]).total_seconds() // 60)) for g in have]))
        path = folder / f"goroutine-{now:%Y-%m-%dT%H:%M:%S}Z.txt"
        path.write_text(debug2(groups), encoding="utf-8")
        out.append(path)
    return out
