"""Generate a deterministic fleet archive of gzipped debug=2 goroutine dumps built from real captures.

Contract
--------
``generate(out, *, services=10, pods=20, snapshots=48, interval_minutes=30, seed=1,
leaks=None, compresslevel=1, truth_path=None, jobs=1) -> dict`` writes

    out/<service>/<pod>/goroutine-<%Y%m%dT%H%M%SZ>.txt.gz

one file per pod and snapshot (snapshot i taken at ``START + i * interval`` plus the pod's
place in the collector's round: 0-49 s, and 0-3 s of jitter; the file's mtime and its gzip
header time set to that moment), and ``out/fleet-truth.yaml``; it
returns the same truth as a dict. ``leaks=None`` plants ``default_leaks(services, pods)``
(two growing leaks, like the issues describe); ``leaks=[]`` plants none. A leak is a
``LeakSpec(name, service, pods, rate)``; ``parse_leaks("produce@0:10x4,awaitAck@1:5x2,flush@2:4x0.5")``
reads the command line's form (NAME is any unique part of a leak function in ``leak_names()``,
SERVICE an index or a name, PODS how many of its pods leak, RATE leaked goroutines per
snapshot per leaking pod, or for a stuck leak workers stuck per snapshot).
``load_truth(out)`` reads ``fleet-truth.yaml`` back. ``truth_path=`` (``--truth``) writes the truth
elsewhere: inside the archive a report lists it as one skipped input (not a dump).

Every file is text exactly as ``runtime/pprof`` writes ``?debug=2`` (``runtime.Stack(buf,
true)``; no Go version line: the runtime prints none there): blocks separated by one
blank line, ``goroutine N [state, M minutes]:`` headers with minutes only from 1 on, the
requesting goroutine first in ``[running]``, ``created by F in goroutine P`` lines.

Truth (``fleet-truth.yaml``)::

    format: goroscope.fleetgen/1
    seed: 1
    start: '2026-12-01T00:00:00Z'        # snapshot 0
    interval_minutes: 30
    snapshots: 48
    services: 10
    pods_per_service: 20
    files: 9600
    fleet:                                # every service: module, the real programs it runs, its pods
    - {service: svc-00, module: example.com/svc-00, programs: [newshapes, lookalikes], pods: [svc-00-...]}
    leaks:                                # every planted leak (empty with --no-leaks)
    - name: produce                       # the catalogue name (leak_names())
      kind: growing                       # growing | stuck
      function: example.com/svc-00/internal/newshapes.produce     # leak site: first application frame
      file: example.com/svc-00/internal/newshapes/newshapes.go
      line: 48
      created_by: {function: ..., file: ..., line: 64}
      state: chan send
      source: tests/data/newshapes        # the real capture the stack comes from
      service: svc-00
      pods: [svc-00-...]                  # exactly the pods that leak
      rate: 4.0
      counts: {svc-00-...: [n0, n1, ...]} # goroutines at the leak site per snapshot (leaked + short-lived)
      leaked: {svc-00-...: [n0, n1, ...]} # the planted (staying) ones alone

How a fleet is made (the point is realism: no shape here exists only in this generator)
-----------------------------------------------------------------------------------------
* Stacks are blocks of real debug=2 captures in ``tests/data`` (lookalikes, newshapes,
  loadramp; their ``truth.yaml`` names the leak sites, which never enter a background).
  Each service runs one primary program and up to two more; every application function
  moves into the service's own module (``main.fetchQuote`` in ``example.com/lookalikes/main.go``
  becomes ``example.com/svc-03/internal/lookalikes.fetchQuote`` in
  ``example.com/svc-03/internal/lookalikes/lookalikes.go``; the primary keeps ``main.main``,
  another program's ``main.main`` becomes its ``Start``), so services share no application frame.
* Each real signature is classed by what the capture shows of it: a singleton or a pool
  whose goroutine ids stay, or short-lived goroutines whose ids turn over; parked (header
  minutes grow with the time it has waited, as an accept loop's or ``main`` waiting for a
  signal) or woken regularly (small minutes, as a ticker loop or a pool worker with work).
* Per pod and snapshot: short-lived counts are Poisson around a per-pod base times a
  daily load curve times a mean-reverting random walk (so some pods drift up by chance over
  a few snapshots), drawn from the capture's own count distribution (bursts stay bursts),
  with fresh, increasing goroutine ids, and header minutes only where the capture showed
  them (short-lived goroutines never do there). Elastic pools (HTTP connections, pools the capture
  saw resize) follow their own random walk; their members keep their ids, a few retire and
  are replaced every interval. Fixed pools and singletons keep their ids and minutes.
  Services aim at 200-400 goroutines a dump (pools replicated, pointer arguments of copies
  shifted), pods differ a little in their bases and uptimes.
* A growing leak adds Poisson(rate) goroutines per snapshot on its pods, each keeping its
  id, its minutes growing from its creation; every pod of the service also shows the
  site's short-lived goroutines (the same code without the leak). A stuck leak is a real
  pool (the lookalikes collector: 8 shard workers) whose workers get stuck one by one at
  the real flush stack (``sync.WaitGroup.Wait``), ids kept, minutes growing, while their
  siblings keep working; at least two always keep working.

Determinism: one ``random.Random`` per service and per pod, seeded from the seed and its
names; the start time is fixed. The same arguments give byte-identical files, whatever ``jobs``.
Speed (2 shared cores): 9,600 files (10 x 20 x 48) in 27 s, 40,000 in 106 s, at compresslevel 1.
"""

from __future__ import annotations

import argparse
import gzip
import math
import os
import random
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import yaml

START = datetime(2026, 12, 1, 0, 0, 0, tzinfo=timezone.utc)  # snapshot 0 of every fleet
DATA = Path(__file__).resolve().parent / "data"
PROGRAMS = ("lookalikes", "newshapes", "loadramp")  # the real captures the fleet is built from
FORMAT = "goroscope.fleetgen/1"
TRUTH_NAME = "fleet-truth.yaml"

_HEADER = re.compile(r"goroutine (\d+) \[([^\]]*)\]:")
_CREATED = re.compile(r"created by (.*) in goroutine (\d+)")
_STAMP = re.compile(r"(\d{8}T\d{6}Z)")
_POINTER = re.compile(r"0x([0-9a-f]{9,12})\b")
_POD_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of Kubernetes' generated name suffixes


# ----------------------------------------------------------------------------------------
# Reading the real captures


@dataclass(frozen=True)
class _Block:
    """One goroutine of a real capture, split into the parts a generated one varies."""

    gid: int
    state: str  # the wait reason, without minutes
    tail: str  # what follows the minutes in the header (", locked to thread"), usually ""
    minutes: int
    frames: tuple[str, ...]  # the stack's lines, function and file lines alternating
    creator: tuple[str, str] | None  # ("created by" function, its file line) or None (goroutine 1)
    parent: int  # the "in goroutine P" id, 0 without a creator
    key: tuple  # signature: functions and file:lines, creator included
    site: tuple[str, str, int]  # first frame of package main, else the bottom frame


def _func_name(line: str) -> str:
    """Return a function line's name without its arguments."""
    return line[: line.rfind("(")] if line.endswith(")") else line


def _file_line(line: str) -> tuple[str, int]:
    """Return (file, line) of a tab-indented file line."""
    loc = line.strip().split(" +0x")[0]
    file, _, num = loc.rpartition(":")
    return file, int(num)


def _parse_block(chunk: str) -> _Block | None:
    lines = chunk.strip("\n").split("\n")
    m = _HEADER.fullmatch(lines[0])
    if not m:
        return None
    items = m.group(2).split(", ")
    minutes = 0
    tail = []
    for item in items[1:]:
        if item.endswith(" minutes"):
            minutes = int(item.split()[0])
        else:
            tail.append(item)
    frames: list[str] = []
    creator = None
    parent = 0
    rest = lines[1:]
    for i, line in enumerate(rest):
        c = _CREATED.fullmatch(line)
        if c:
            creator = (c.group(1), rest[i + 1] if i + 1 < len(rest) else "")
            parent = int(c.group(2))
            break
        frames.append(line)
    funcs = [(_func_name(frames[i]), _file_line(frames[i + 1])) for i in range(0, len(frames) - 1, 2)]
    key = tuple(funcs) + (((("created by", creator[0]), _file_line(creator[1])),) if creator else ())
    site = next(((f, fl[0], fl[1]) for f, fl in funcs if f.startswith("main.")), None)
    if site is None:
        f, fl = funcs[-1] if funcs else ("", ("", 0))
        site = (f, fl[0], fl[1])
    return _Block(int(m.group(1)), items[0], "".join(", " + t for t in tail), minutes, tuple(frames), creator,
                  parent, key, site)


def _stamp_time(name: str) -> datetime:
    return datetime.strptime(_STAMP.search(name).group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode()


@dataclass
class _Group:
    """One real signature of a program, with its instances and what the capture shows of it."""

    program: str
    key: tuple
    site: tuple[str, str, int]
    instances: list[_Block] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # per source snapshot
    ids: list[set[int]] = field(default_factory=list)  # per source snapshot
    kind: str = "transient"  # singleton | fixed | elastic | transient | running
    parked: bool = False
    size: int = 0  # singleton/pool size in the capture (its most)
    leak: dict | None = None  # the truth entry, for a leak site
    latest_minutes: dict[int, int] = field(default_factory=dict)  # goroutine id -> header minutes when last seen


@dataclass
class _Program:
    name: str
    groups: list[_Group]
    persistent_ids: list[int]  # real ids of staying goroutines, in creation (id) order
    leaks: dict[str, dict]  # catalogue name -> truth entry
    keys: frozenset = frozenset()  # every real signature of the capture


def _truth_leaks(name: str) -> list[dict]:
    truth = yaml.safe_load((DATA / name / "truth.yaml").read_text())
    if "series" in truth:
        return [dict(e) for e in truth["series"][0]["expected_leaks"]]
    out = []
    for e in truth.get("leaks", []):
        e = dict(e)
        e.setdefault("kind", "growing")
        out.append(e)
    return out


@lru_cache(maxsize=None)
def _program(name: str) -> _Program:
    """Read one capture's debug=2 series into classed signature groups."""
    files = sorted(p for p in (DATA / name / "series").iterdir() if ".debug2." in p.name)
    if not files:
        raise FileNotFoundError(f"{DATA / name / 'series'}: no debug=2 captures")
    leaks = {}
    leak_sites = {}
    for e in _truth_leaks(name):
        site = (e["function"], e["file"], int(e["line"]))
        leak_sites[site] = e
        leaks[e["function"].removeprefix("main.")] = e
    groups: dict[tuple, _Group] = {}
    times = [_stamp_time(p.name) for p in files]
    for idx, path in enumerate(files):
        seen: dict[tuple, set[int]] = {}
        for chunk in _read_text(path).split("\n\n"):
            b = _parse_block(chunk)
            if b is None:
                continue
            key = ("running",) if b.state == "running" else b.key
            g = groups.get(key)
            if g is None:
                g = groups[key] = _Group(name, key, b.site, leak=leak_sites.get(b.site))
                g.counts = [0] * len(files)
                g.ids = [set() for _ in files]
                if key == ("running",):
                    g.kind = "running"
            if len(g.instances) < 64:
                g.instances.append(b)
            g.counts[idx] += 1
            g.ids[idx].add(b.gid)
            g.latest_minutes[b.gid] = b.minutes
            seen.setdefault(key, set()).add(b.gid)
    span_min = (times[-1] - times[0]).total_seconds() / 60
    persistent: set[int] = set()
    for g in groups.values():
        if g.kind == "running":
            continue
        _classify(g, times, span_min)
        if g.kind in ("singleton", "fixed", "elastic"):
            persistent |= set().union(*g.ids)
    keys = frozenset(b.key for g in groups.values() for b in g.instances)
    return _Program(name, list(groups.values()), sorted(persistent), leaks, keys)


def _classify(g: _Group, times: list[datetime], span_min: float) -> None:
    """Class a group by whether its ids stay to the end and whether its minutes grow."""
    last = len(g.ids) - 1
    first_seen: dict[int, int] = {}
    for i, ids in enumerate(g.ids):
        for gid in ids:
            first_seen.setdefault(gid, i)
    mid = last // 2
    at_mid = g.ids[mid] or next((ids for ids in g.ids if ids), set())
    stay = len(at_mid & g.ids[last]) / len(at_mid) if at_mid else 0.0
    g.size = max(g.counts)
    if stay < 0.5:
        g.kind = "transient"
        return
    tail = g.counts[mid:]
    if g.size <= 2 and len(set().union(*g.ids)) <= 2:
        g.kind = "singleton"  # one goroutine (a driver seen at two lines is one per line)
    elif min(tail) == max(tail) and not any(f.startswith("net/http.") for f, _ in g.key[:-1] if isinstance(f, str)):
        g.kind = "fixed"
    else:
        g.kind = "elastic"
    # Parked or woken: a goroutine that waited since it was first seen shows that many minutes.
    votes = []
    last_minutes = g.latest_minutes
    for gid in g.ids[last]:
        lived = (times[last] - times[first_seen[gid]]).total_seconds() / 60
        if lived >= 1 and gid in last_minutes:
            votes.append(last_minutes[gid] >= max(1, int(lived) // 2))
    if votes:
        g.parked = sum(votes) * 2 >= len(votes)
    else:  # too short a capture to tell: a pool that resizes with load is in use, one that does not waits
        g.parked = g.kind != "elastic" and g.instances[0].state in ("IO wait", "select (no cases)", "syscall")


def _bursty(counts: list[int]) -> bool:
    """Whether a short-lived signature comes in bursts (absent in most captures, many at once in some)."""
    mean = sum(counts) / len(counts)
    return counts.count(0) * 10 >= len(counts) * 3 and max(counts) > 2 * mean


def leak_names() -> dict[str, str]:
    """Return the leak catalogue: name -> kind (growing|stuck), every name a real leak site of a capture."""
    out = {}
    for prog in PROGRAMS:
        p = _program(prog)
        for name, e in p.leaks.items():
            if e["kind"] == "stuck" and _stuck_sibling(p, e) is None:
                continue  # a stuck leak is planted in its real pool
            if not any(g.leak is e for g in p.groups):
                continue
            out[name] = e["kind"]
    return out


def _leak_program(name: str) -> tuple[_Program, dict]:
    for prog in PROGRAMS:
        p = _program(prog)
        if name in p.leaks:
            return p, p.leaks[name]
    raise KeyError(name)


def _stuck_sibling(p: _Program, entry: dict) -> _Group | None:
    """The healthy pool a stuck leak's workers come from: same creator, goroutine ids that stay."""
    leak = next((g for g in p.groups if g.leak is entry), None)
    if leak is None or not leak.key or leak.key[-1][0][0] != "created by":
        return None
    for g in p.groups:
        if g.leak is None and g.kind in ("fixed", "elastic") and g.key and g.key[-1] == leak.key[-1]:
            return g
    return None


def origin(block: str, service: dict) -> str | None:
    """Return the program whose real capture holds this generated goroutine's stack, else None.

    `service` is the service's entry of the truth's ``fleet``: the module rewrite is undone and
    the stack (functions, files, lines, creator) looked up among the capture's signatures.
    """
    b = _parse_block(block)
    if b is None:
        return None
    module, programs = service["module"], service["programs"]
    for prog in programs:
        pkg, src = f"{module}/internal/{prog}.", f"example.com/{prog}/main.go"
        files = {f"{module}/internal/{prog}/{prog}.go": src}
        if prog == programs[0]:
            files[f"{module}/main.go"] = src

        def back(name: str) -> str:
            if name.startswith(pkg + "Start") and name[len(pkg) + 5:len(pkg) + 6] in ("", "."):
                return "main.main" + name[len(pkg) + 5:]
            return "main." + name[len(pkg):] if name.startswith(pkg) else name

        key = tuple(((back(f) if isinstance(f, str) else (f[0], back(f[1]))), (files.get(fl[0], fl[0]), fl[1]))
                    for f, fl in b.key)
        if key in _program(prog).keys:
            return prog
    return None


# ----------------------------------------------------------------------------------------
# Leak specs


@dataclass(frozen=True)
class LeakSpec:
    """A leak to plant: catalogue name, service index, how many of its pods, rate per snapshot."""

    name: str
    service: int
    pods: int
    rate: float


def default_leaks(services: int, pods: int) -> list[LeakSpec]:
    """Two growing leaks: a blocked channel send on about half the pods (at most 10) of service 0,
    an ack wait on about a quarter (at most 5) of service 1 (service 0 again in a one-service fleet)."""
    return [LeakSpec("produce", 0, min(10, max(1, math.ceil(pods / 2))), 4.0),
            LeakSpec("awaitAck", min(1, services - 1), min(5, max(1, math.ceil(pods / 4))), 2.0)]


def parse_leaks(spec: str, services: int | None = None) -> list[LeakSpec]:
    """Read ``NAME@SERVICE:PODS[xRATE]`` items separated by commas."""
    names = leak_names()
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        m = re.fullmatch(r"(.+)@([\w.-]+):(\d+)(?:x([\d.]+))?", item)
        if not m:
            raise ValueError(f"leak {item!r}: expected NAME@SERVICE:PODS[xRATE], e.g. produce@0:10x4")
        want = m.group(1)
        hits = [n for n in names if n == want] or [n for n in names if want.lower() in n.lower()]
        if len(hits) != 1:
            raise ValueError(f"leak {item!r}: {want!r} matches {hits or 'none'} of {sorted(names)}")
        svc = m.group(2)
        index = int(svc) if svc.isdigit() else int(svc.rsplit("-", 1)[-1]) if re.fullmatch(r"svc-\d+", svc) else -1
        if index < 0 or (services is not None and index >= services):
            raise ValueError(f"leak {item!r}: no service {svc!r}")
        rate = float(m.group(4)) if m.group(4) else (0.5 if names[hits[0]] == "stuck" else 3.0)
        out.append(LeakSpec(hits[0], index, int(m.group(3)), rate))
    return out


# ----------------------------------------------------------------------------------------
# A service: its programs, rewritten into its module, and the per-signature plan


def service_name(i: int, services: int) -> str:
    return f"svc-{i:0{max(2, len(str(services - 1)))}d}"


@dataclass
class _Tmpl:
    """A signature as one service prints it."""

    group: _Group
    variants: list[tuple[str, str | None, int, str, str, int]]  # (pre, post, real parent, state, tail, real id)
    kind: str
    parked: bool
    base: float  # mean count (short-lived) or size (pools)
    dist: list[int]  # the capture's counts, for short-lived draws
    program: str
    leak: LeakSpec | None = None
    sibling_of: "_Tmpl | None" = None
    minutes: list[int] = field(default_factory=list)  # not parked: header minutes the capture showed
    minutes_p: float = 0.0  # not parked: how often the capture showed minutes at all


def _rewrite(lines: Sequence[str], module: str, prog: str, primary: bool) -> list[str]:
    """Move a program's application code into the service's module (see the module docstring)."""
    pkg = f"{module}/internal/{prog}"
    src = f"example.com/{prog}/main.go"
    out = []
    in_main = False
    for line in lines:
        if line.startswith("\t"):
            if src in line:
                line = line.replace(src, f"{module}/main.go" if in_main and primary else f"{pkg}/{prog}.go")
            out.append(line)
            continue
        prefix = "created by " if line.startswith("created by ") else ""
        name = line[len(prefix):]
        in_main = name.startswith("main.main(") or name.startswith("main.main.") or name in ("main.main", "main.main(...)")
        if name.startswith("main."):
            if in_main and not primary:
                name = f"{pkg}.Start" + name[len("main.main"):]
            elif not in_main:
                name = f"{pkg}.{name[5:]}"
        out.append(prefix + name)
    return out


def _variants(g: _Group, module: str, primary: bool, rng: random.Random, want: int) -> list:
    seen = {}
    for b in g.instances:
        lines = list(b.frames)
        if b.creator:
            lines += ["created by " + b.creator[0], b.creator[1]]
        lines = _rewrite(lines, module, g.program, primary)
        if b.creator:
            pre = "\n".join(lines[:-1]) + " in goroutine "
            post = "\n" + lines[-1]
        else:
            pre, post = "\n".join(lines), None
        seen.setdefault(pre, (pre, post, b.parent, b.state, b.tail, b.gid))
    out = list(seen.values())
    base = list(out)
    while len(out) < want:
        pre, post, parent, state, tail, gid = rng.choice(base)
        shift = rng.randrange(1, 4096) * 0x40
        pre = _POINTER.sub(lambda m: f"0x{int(m.group(1), 16) + shift:x}", pre)
        out.append((pre, post, parent, state, tail, gid))
    return out


def _leak_site(t: _Tmpl) -> dict:
    """The truth's site fields of a leak template, as the service prints them."""
    pre, post = t.variants[0][0], t.variants[0][1]
    lines = pre.split("\n")
    funcs = [(_func_name(lines[i]), _file_line(lines[i + 1])) for i in range(0, len(lines) - 1, 2)]
    app = [(f, fl) for f, fl in funcs if "/internal/" in f or f.startswith("main.")]
    f, (file, line) = (app or funcs)[0]
    out = {"function": f, "file": file, "line": line}
    if post is not None:
        cfile, cline = _file_line(post)
        out["created_by"] = {"function": lines[-1].removeprefix("created by ").removesuffix(" in goroutine "),
                             "file": cfile, "line": cline}
    return out


@dataclass
class _Service:
    name: str
    module: str
    programs: list[str]
    tmpls: list[_Tmpl]
    running: _Tmpl
    churn: float  # goroutines created per second
    pods: list[str]


def _service(seed: int, index: int, services: int, pods: int, leaks: Sequence[LeakSpec]) -> _Service:
    name = service_name(index, services)
    rng = random.Random(f"fleetgen:{seed}:{name}")
    module = f"example.com/{name}"
    primary = PROGRAMS[index % len(PROGRAMS)]
    programs = [primary] + rng.sample([p for p in PROGRAMS if p != primary], rng.choice((1, 1, 2)))
    mine = [spec for spec in leaks if spec.service == index]
    for spec in mine:
        prog = _leak_program(spec.name)[0].name
        if prog not in programs:
            programs.append(prog)
    pool_scale = rng.choice((1, 1, 2, 2, 3))
    tmpls: list[_Tmpl] = []
    running = None
    by_key = set()
    for prog in programs:
        p = _program(prog)
        is_primary = prog == primary
        for g in p.groups:
            if g.kind == "running":
                if is_primary:
                    running = _Tmpl(g, _variants(g, module, True, rng, 4), "running", False, 1, [1], prog)
                continue
            if not is_primary and g.instances[0].gid == 1:
                continue  # one main goroutine per process
            if not is_primary and g.kind == "singleton" and g.key in by_key:
                continue  # process-wide singletons (the signal loop) exist once
            by_key.add(g.key)
            kind, base = g.kind, float(g.size)
            if g.leak is not None:
                if g.leak["kind"] == "stuck":
                    continue  # planted into its sibling pool, below
                kind = "transient"  # the site's goroutines that do finish, on every pod
                base = 1.0
            elif kind == "transient":
                base = sum(g.counts) / len(g.counts)
            elif kind == "fixed":
                base = g.size * pool_scale
            elif kind == "elastic":
                base = max(1.0, g.size * pool_scale * rng.uniform(0.7, 1.1))
            dist = list(g.counts) if g.leak is None and _bursty(g.counts) else [1]
            want = 1 if kind == "singleton" else min(48, max(4, int(base) + 4))
            t = _Tmpl(g, _variants(g, module, is_primary, rng, want), kind, g.parked, base, dist, prog)
            if not g.parked and g.leak is None:
                t.minutes = [b.minutes for b in g.instances if b.minutes >= 1]
                t.minutes_p = len(t.minutes) / len(g.instances)
            tmpls.append(t)
    # Stuck leaks' pools: the sibling pool is fixed at the capture's size; the leak's own stack is kept.
    for prog in programs:
        p = _program(prog)
        for lname, entry in p.leaks.items():
            if entry["kind"] != "stuck":
                continue
            sib = _stuck_sibling(p, entry)
            leak_g = next((g for g in p.groups if g.leak is entry), None)
            if sib is None or leak_g is None:
                continue
            sib_t = next(t for t in tmpls if t.group is sib)
            sib_t.kind, sib_t.base, sib_t.parked = "fixed", float(sib.size), False
            spec = next((s for s in mine if s.name == lname), None)
            lt = _Tmpl(leak_g, _variants(leak_g, module, prog == primary, rng, 8), "stuck", True, 0, [0], prog, spec,
                       sibling_of=sib_t)
            tmpls.append(lt)
    for spec in mine:
        for t in tmpls:
            if t.group.leak is not None and t.group.leak["function"].removeprefix("main.") == spec.name:
                t.leak = spec
    # Scale the short-lived and elastic signatures so a dump holds 200-400 goroutines.
    target = rng.uniform(240, 320)
    fixed = sum(t.base for t in tmpls if t.kind in ("singleton", "fixed"))
    flexible = sum(t.base for t in tmpls if t.kind in ("transient", "elastic") and t.group.leak is None)
    if flexible > 0:
        factor = max(0.3, (target - fixed) / flexible)
        for t in tmpls:
            if t.kind in ("transient", "elastic") and t.group.leak is None:
                t.base *= factor
                if t.kind == "elastic":
                    t.base = max(1.0, round(t.base))
    churn = rng.uniform(20, 200)
    pod_names = []
    rs = "".join(rng.choice(_POD_CHARS) for _ in range(rng.choice((9, 10))))
    while len(pod_names) < pods:
        pn = f"{name}-{rs}-{''.join(rng.choice(_POD_CHARS) for _ in range(5))}"
        if pn not in pod_names:
            pod_names.append(pn)
    return _Service(name, module, programs, tmpls, running, churn, pod_names)


# ----------------------------------------------------------------------------------------
# A pod over time


@dataclass(eq=False)
class _Live:
    gid: int
    tmpl: _Tmpl
    variant: tuple
    parent: int
    since: float  # seconds, when it began waiting
    order: object  # where the runtime lists it


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _header(gid: int, state: str, minutes: int, tail: str) -> str:
    if minutes >= 1:
        return f"goroutine {gid} [{state}, {minutes} minutes{tail}]:\n"
    return f"goroutine {gid} [{state}{tail}]:\n"


def _pod(seed: int, svc: _Service, pod: str, snapshots: int, interval: int, out: Path,
         compresslevel: int, leaking: dict[str, LeakSpec]) -> dict[str, tuple[list[int], list[int]]]:
    """Write one pod's dumps; return per planted leak (site counts, leaked counts)."""
    rng = random.Random(f"fleetgen:{seed}:{pod}")
    t0 = START.timestamp()
    uptime = rng.uniform(1, 72) * 3600
    scrape = rng.randrange(0, 50)  # seconds after the round's start that this pod is read
    born = t0 - uptime
    pod_factor = math.exp(rng.gauss(0, 0.12))
    # Heap addresses differ from process to process; code addresses (short words) are the binary's.
    heap_shift = rng.randrange(1, 1 << 16) << 20
    local: dict[int, tuple] = {}

    def here(v: tuple) -> tuple:
        r = local.get(id(v))
        if r is None:
            r = local[id(v)] = (_POINTER.sub(lambda m: f"0x{int(m.group(1), 16) + heap_shift:x}", v[0]),) + v[1:]
        return r

    # Startup goroutines: each program's staying goroutines in their real creation order, renumbered.
    real_rank: dict[tuple[str, int], int] = {}
    for prog in svc.programs:
        for gid in _program(prog).persistent_ids:
            real_rank[(prog, gid)] = len(real_rank)
    live: list[_Live] = []
    for t in svc.tmpls:
        if t.kind not in ("singleton", "fixed", "elastic"):
            continue
        size = 1 if t.kind == "singleton" else int(t.base) if t.kind == "fixed" else max(
            1, round(t.base * pod_factor * math.exp(rng.gauss(0, 0.1))))
        for j in range(size):
            v = here(t.variants[j] if j < len(t.variants) else rng.choice(t.variants))
            live.append(_Live(0, t, v, 0, born + rng.uniform(0, 5), (real_rank.get((t.program, v[5]), 1 << 30), j)))
    live.sort(key=lambda g: g.order)
    idmap: dict[tuple[str, int], int] = {}
    next_startup = 1
    for g in live:
        if g.tmpl.program == svc.programs[0] and g.variant[5] == 1 and 1 not in idmap.values():
            g.gid = 1
        else:
            next_startup += 1
            g.gid = next_startup
        idmap.setdefault((g.tmpl.program, g.variant[5]), g.gid)
        g.order = float(g.gid)
    stuck_pools: dict[int, list[_Live]] = {}
    for g in live:
        g.parent = idmap.get((g.tmpl.program, g.variant[2])) or rng.randrange(1, g.gid) if g.gid > 1 else 0
        if any(t.sibling_of is g.tmpl for t in svc.tmpls):
            stuck_pools.setdefault(id(g.tmpl), []).append(g)
    counter = next_startup + int(uptime * svc.churn)
    walk: dict[int, float] = {}
    results: dict[str, tuple[list[int], list[int]]] = {name: ([], []) for name in leaking}
    leak_rate = {name: rng.uniform(0.6, 1.4) for name in leaking}
    leak_start = {name: t0 - rng.uniform(0.2, 1.0) * interval for name in leaking}
    leaked: dict[str, list[_Live]] = {name: [] for name in leaking}
    folder = out / svc.name / pod
    folder.mkdir(parents=True, exist_ok=True)
    prev_time = t0 - interval
    for i in range(snapshots):
        now = t0 + i * interval + scrape + rng.randrange(0, 4)  # the collector reaches each pod in its turn
        day = (now % 86400) / 86400
        load = 1 + 0.25 * math.sin(2 * math.pi * (day - 0.375))  # busiest mid-afternoon UTC
        span = now - max(prev_time, born)
        prev = counter
        counter += max(1000, int(span * svc.churn * load))
        recent = max(200, int(svc.churn * 30))  # ids the short-lived ones of the last half minute took
        fresh_lo, fresh_hi = prev + 1, counter  # goroutines created during the interval that stay
        taken: set[int] = set()

        def fresh_id() -> int:  # ids are unique in a process: never the same one twice
            while True:
                gid = rng.randrange(fresh_lo, max(fresh_lo + 1, fresh_hi))
                if gid not in taken:
                    taken.add(gid)
                    return gid

        # Elastic pools: a random walk of their size; a few members retire and are replaced.
        by_tmpl: dict[int, list[_Live]] = {}
        for g in live:
            by_tmpl.setdefault(id(g.tmpl), []).append(g)
        gone: set[int] = set()
        for t in svc.tmpls:
            if t.kind != "elastic":
                continue
            x = walk.get(id(t), 0.0) * 0.8 + rng.gauss(0, 0.12)
            walk[id(t)] = x
            target = max(1, round(t.base * pod_factor * math.sqrt(load) * math.exp(x)))
            members = [g for g in by_tmpl.get(id(t), ()) if rng.random() >= 0.08]
            while len(members) > target:
                members.pop(rng.randrange(len(members)))
            kept = {id(g) for g in members}
            gone.update(id(g) for g in by_tmpl.get(id(t), ()) if id(g) not in kept)
            while len(members) < target:
                v = here(rng.choice(t.variants))
                gid = fresh_id()
                g = _Live(gid, t, v, idmap.get((t.program, v[2])) or max(1, gid - rng.randrange(1, 20000)),
                          rng.uniform(prev_time, now), rng.uniform(0, len(live)))
                members.append(g)
                live.append(g)
        if gone:
            live = [g for g in live if id(g) not in gone]
        # Planted leaks.
        for name, spec in leaking.items():
            t = next(t for t in svc.tmpls if t.leak is spec)
            if t.kind == "stuck":
                pool = stuck_pools.get(id(t.sibling_of), [])
                healthy = [g for g in pool if g.tmpl is t.sibling_of]
                # One more stuck worker every 1/rate snapshots (the first before snapshot 0); two keep working.
                due = max(1, round(spec.rate * leak_rate[name] * (now - leak_start[name]) / interval))
                n = max(0, min(due - (len(pool) - len(healthy)), len(healthy) - 2))
                for g in rng.sample(healthy, n):
                    g.tmpl = t
                    v = here(rng.choice(t.variants))
                    g.variant = (v[0], v[1], g.variant[2], v[3], v[4], g.variant[5])
                    g.since = rng.uniform(prev_time, now)
                leaked[name] = [g for g in pool if g.tmpl is t]
            elif now >= leak_start[name]:
                frac = min(1.0, (now - leak_start[name]) / interval)
                for _ in range(_poisson(rng, spec.rate * leak_rate[name] * frac)):
                    v = here(rng.choice(t.variants))
                    g = _Live(fresh_id(), t, v, 0, rng.uniform(max(prev_time, leak_start[name]), now),
                              rng.uniform(0, len(live)))
                    g.parent = max(1, g.gid - rng.randrange(1, 5000))
                    leaked[name].append(g)
        # Short-lived goroutines.
        short: list[tuple[_Tmpl, int]] = []
        for t in svc.tmpls:
            if t.kind != "transient":
                continue
            x = walk.get(id(t), 0.0) * 0.7 + rng.gauss(0, 0.2)
            walk[id(t)] = x
            c = rng.choice(t.dist)
            lam = t.base * (c / (sum(t.dist) / len(t.dist)) if sum(t.dist) else 0) * load * pod_factor * math.exp(x)
            if len(t.dist) > 1:
                lam = min(lam, 1.2 * max(t.dist))  # a burst as big as the capture's, not bigger
            n = _poisson(rng, lam)
            if n:
                short.append((t, n))
        total_short = sum(n for _, n in short)
        # The short-lived ones are the newest: created in the last seconds, after every one that stays.
        lo, counter = counter, counter + max(recent, 10 * total_short)
        ids = rng.sample(range(lo, counter), total_short)
        ids.sort()
        blocks: list[tuple[float, str]] = []
        k = 0
        n_live = len(live) + 1
        site_short: dict[int, int] = {}
        for t, n in short:
            for _ in range(n):
                gid = ids[k]
                k += 1
                v = here(rng.choice(t.variants))
                parent = idmap.get((t.program, v[2])) or max(1, gid - rng.randrange(1, 20000))
                minutes = rng.choice(t.minutes) if t.minutes and rng.random() < t.minutes_p else 0
                blocks.append((rng.uniform(n_live * 0.2, n_live), f"{_header(gid, v[3], minutes, v[4])}{v[0]}{parent}{v[1]}"
                               if v[1] is not None else f"{_header(gid, v[3], minutes, v[4])}{v[0]}"))
            site_short[id(t)] = site_short.get(id(t), 0) + n
        for g in live + [g for name in leaking for g in leaked[name] if g.tmpl.kind != "stuck"]:
            t = g.tmpl
            if t.parked or t.kind == "stuck" or t.leak is not None:
                minutes = int((now - g.since) // 60)
            else:
                minutes = rng.choice(t.minutes) if t.minutes and rng.random() < t.minutes_p else 0
            v = g.variant
            text = _header(g.gid, v[3], minutes, v[4]) + v[0]
            if v[1] is not None:
                text += f"{g.parent}{v[1]}"
            blocks.append((g.order, text))
        blocks.sort(key=lambda b: b[0])
        rv = here(rng.choice(svc.running.variants))
        parent = idmap.get((svc.running.program, rv[2]), 1)
        head = _header(counter, "running", 0, "") + rv[0] + (f"{parent}{rv[1]}" if rv[1] is not None else "")
        text = "\n\n".join([head] + [b for _, b in blocks]) + "\n"
        stamp = datetime.fromtimestamp(now, timezone.utc)
        path = folder / f"goroutine-{stamp:%Y%m%dT%H%M%SZ}.txt.gz"
        path.write_bytes(gzip.compress(text.encode(), compresslevel=compresslevel, mtime=int(now)))
        os.utime(path, (now, now))
        for name in leaking:
            t = next(t for t in svc.tmpls if t.leak is leaking[name])
            n_leaked = len(leaked[name])
            results[name][0].append(n_leaked + site_short.get(id(t), 0))
            results[name][1].append(n_leaked)
        prev_time = now
    return results


# ----------------------------------------------------------------------------------------
# The fleet


def _write_service(seed: int, s: int, services: int, pods: int, plan: Sequence[LeakSpec], snapshots: int,
                   interval: int, out: Path, compresslevel: int) -> tuple[dict, list[dict]]:
    """Write one service's pods; return its fleet entry and its planted leaks' truth."""
    svc = _service(seed, s, services, pods, plan)
    entry = {"service": svc.name, "module": svc.module, "programs": list(svc.programs), "pods": list(svc.pods)}
    mine = [spec for spec in plan if spec.service == s]
    prng = random.Random(f"fleetgen:{seed}:{svc.name}:leaking")
    chosen = {spec.name: sorted(prng.sample(svc.pods, spec.pods)) for spec in mine}
    leaks = {}
    for spec in mine:
        t = next(t for t in svc.tmpls if t.leak is spec)
        leaks[spec.name] = {"name": spec.name, "kind": "stuck" if t.kind == "stuck" else "growing", **_leak_site(t),
                            "state": t.variants[0][3], "source": f"tests/data/{t.program}", "service": svc.name,
                            "pods": chosen[spec.name], "rate": spec.rate, "counts": {}, "leaked": {}}
    for pod in svc.pods:
        leaking = {spec.name: spec for spec in mine if pod in chosen[spec.name]}
        for name, (counts, planted) in _pod(seed, svc, pod, snapshots, interval, out, compresslevel, leaking).items():
            leaks[name]["counts"][pod] = counts
            leaks[name]["leaked"][pod] = planted
    return entry, list(leaks.values())


def generate(out: str | Path, *, services: int = 10, pods: int = 20, snapshots: int = 48,
             interval_minutes: float = 30, seed: int = 1, leaks: Sequence[LeakSpec] | None = None,
             compresslevel: int = 1, truth_path: str | Path | None = None, jobs: int = 1) -> dict:
    """Write a fleet archive under `out` and its truth (`out`/fleet-truth.yaml unless `truth_path`
    says where); return the truth (see the module docstring). `jobs` > 1 writes services in that many
    processes; the files are the same."""
    if services < 1 or pods < 1 or snapshots < 1 or interval_minutes <= 0:
        raise ValueError("services, pods, snapshots and interval_minutes must be positive")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plan = default_leaks(services, pods) if leaks is None else list(leaks)
    for spec in plan:
        if spec.service >= services or spec.pods > pods or spec.pods < 1:
            raise ValueError(f"leak {spec}: the fleet has {services} services of {pods} pods")
        _leak_program(spec.name)
    interval = int(interval_minutes * 60)
    work = [(seed, s, services, pods, plan, snapshots, interval, out, compresslevel) for s in range(services)]
    if jobs > 1 and services > 1:
        import multiprocessing
        with multiprocessing.get_context("spawn").Pool(min(jobs, services)) as pool:
            done = pool.starmap(_write_service, work)
    else:
        done = [_write_service(*w) for w in work]
    fleet = [entry for entry, _ in done]
    truth_leaks = [leak for _, leaks in done for leak in leaks]
    truth = {"format": FORMAT, "seed": seed, "start": START.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "interval_minutes": interval_minutes, "snapshots": snapshots, "services": services,
             "pods_per_service": pods, "files": services * pods * snapshots, "fleet": fleet, "leaks": truth_leaks}
    Path(truth_path or out / TRUTH_NAME).write_text(yaml.safe_dump(truth, sort_keys=False, width=120))
    return truth


def load_truth(where: str | Path) -> dict:
    """Read a generated fleet's truth: a fleet folder (its fleet-truth.yaml) or the truth file itself."""
    where = Path(where)
    return yaml.safe_load((where / TRUTH_NAME if where.is_dir() else where).read_text())


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="fleetgen.py", description=__doc__.split("\n", 1)[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--services", type=int, default=10)
    ap.add_argument("--pods", type=int, default=20, help="pods per service")
    ap.add_argument("--snapshots", type=int, default=48)
    ap.add_argument("--interval-minutes", type=float, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-leaks", action="store_true", help="plant no leak")
    ap.add_argument("--leaks", help="NAME@SERVICE:PODS[xRATE],... (names: " + ", ".join(sorted(leak_names())) + ")")
    ap.add_argument("--truth", type=Path, help=f"where the truth goes (default OUT/{TRUTH_NAME}, which a report "
                    "of OUT lists as one skipped input)")
    ap.add_argument("--jobs", type=int, default=1, help="processes writing services (same files for any number)")
    ap.add_argument("--compresslevel", type=int, default=1, choices=range(1, 10), metavar="1-9")
    args = ap.parse_args(argv)
    try:
        plan = [] if args.no_leaks else parse_leaks(args.leaks, args.services) if args.leaks else None
        truth = generate(args.out, services=args.services, pods=args.pods, snapshots=args.snapshots,
                         interval_minutes=args.interval_minutes, seed=args.seed, leaks=plan,
                         compresslevel=args.compresslevel, truth_path=args.truth, jobs=args.jobs)
    except ValueError as e:
        print(f"fleetgen: {e}", file=sys.stderr)
        return 2
    print(f"{truth['files']} files, {len(truth['leaks'])} planted leaks; truth in {args.truth or args.out / TRUTH_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
