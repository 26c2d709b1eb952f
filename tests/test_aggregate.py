"""aggregate(): a Snapshot becomes signature counts and the goroutine ids of each."""

from __future__ import annotations

from goroscope.aggregate import aggregate
from goroscope.model import CreatedBy, Frame, Goroutine, Record, Snapshot

LEAK = (Frame(function="main.leak", file="/app/main.go", line=10),)
PROTO_LEAK = (Frame(function="runtime.gopark", file="/usr/local/go/src/runtime/proc.go", line=435),) + LEAK + (
    Frame(function="runtime.goexit", file="/usr/local/go/src/runtime/asm_amd64.s", line=1700),
)
CB = CreatedBy(function="main.main", file="/app/main.go", line=20, goroutine=1)


def _g(i: int, state: str = "chan send", wait: int = 0, flags=()) -> Goroutine:
    return Goroutine(id=i, state=state, wait_minutes=wait, frames=LEAK, created_by=CB, flags=flags)


def test_text_form_counts_states_ids_and_leaked():
    snap = Snapshot(format="debug2", goroutines=(_g(5), _g(6, wait=3), _g(7, "chan send", 1, ("leaked",))))
    s = aggregate(snap)
    (st,) = s.stacks
    assert st.count == 3 and st.states == (("chan send", 3),)
    assert st.created_by == CB.frame()
    assert st.leaked == 1 and st.max_wait_minutes == 3
    assert st.ids == (5, 6, 7) and st.waits == (0, 3, 1) and s.max_id == 7
    assert s.total == 3


def test_aggregated_and_text_forms_agree():
    text = aggregate(Snapshot(format="debug2", goroutines=(_g(1), _g(2))))
    proto = aggregate(Snapshot(format="pprof", records=(Record(count=2, frames=PROTO_LEAK),)))
    assert text.stacks[0].signature == proto.stacks[0].signature
    assert text.stacks[0].count == proto.stacks[0].count
    assert proto.stacks[0].max_wait_minutes is None and proto.stacks[0].ids == ()


def test_goroutineleak_profile_marks_every_record_leaked():
    s = aggregate(Snapshot(format="debug1", profile="goroutineleak", total=4, records=(Record(count=4, frames=LEAK),)))
    assert s.stacks[0].leaked == 4 and s.header_total == 4


def test_parsed_columns_and_records_aggregate_alike():
    # GIVEN a dump whose goroutines of one stack were started by one `go` statement in several
    # parent goroutines, plus a few started elsewhere, in other states and waits
    from goroscope.ingest.traceback import parse

    blocks = []
    for gid in range(10, 40):
        where = "/app/w.go:3" if gid % 5 else "/app/v.go:8"
        parent = f" in goroutine {gid % 3 + 1}" if gid % 7 else ""
        state = "chan receive, 4 minutes" if gid % 4 else "select, 9 minutes"
        label = ' {"job": "a"}' if gid % 6 == 0 else ""
        blocks.append(f"goroutine {gid} [{state}]{label}:\nmain.worker(0x{gid:x})\n\t/app/w.go:10 +0x1f\n"
                      f"created by main.start{parent}\n\t{where} +0x2")
    text = ("\n\n".join(blocks) + "\n\n" + "goroutine 1 [running]:\nmain.main()\n\t/app/m.go:4 +0x1\n").encode()
    import io

    snap = parse(io.BytesIO(text), "dump.txt")
    # WHEN it is aggregated from the parser's columns, and from the same goroutines as plain records
    from dataclasses import replace

    from_columns = aggregate(snap)
    from_records = aggregate(replace(snap, goroutines=tuple(snap.goroutines)))
    # THEN both give one signature of every worker, its most common created-by position (whatever the
    # parent), each state, label set and id in dump order
    assert from_columns == from_records
    worker = from_columns.stacks[0]
    assert worker.count == 30 and worker.created_by == Frame(function="main.start", file="/app/w.go", line=3)
    assert dict(worker.states) == {"chan receive": 23, "select": 7} and worker.labels == (((("job", "a"),), 5),)
    assert worker.ids == tuple(range(10, 40)) and worker.max_wait_minutes == 9 and from_columns.max_id == 39
