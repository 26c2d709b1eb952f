"""Archives in an object store, read in place (ingest.store): s3:// against a real S3 API
server (moto's server mode) that the tests start on loopback, and fsspec's memory://.

What must hold: the samples uploaded under a prefix report the same findings as the
local folder (local processes and a Dask worker in another directory); a cached
rerun lists the bucket and reads no object; each failure of the store is one line
naming the URL, with its exit code.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from goroscope import exitcodes
from goroscope.config import Config, config_from_dict
from goroscope.errors import NoDataError, UsageError
from goroscope.pipeline import RunOptions, analyze, command_line
from goroscope.render.json import render_json

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
KEY, SECRET = "AKIAGOROSCOPETEST", "goroscope-test-secret-value"  # moto accepts any until auth is on


def _need(module: str):
    """Import `module`, or skip: it comes with the test extra (CI installs it: fail there)."""
    if os.environ.get("CI"):
        return __import__(module)
    return pytest.importorskip(module, reason=f"{module} (the test extra) is not installed")


@pytest.fixture(scope="module")
def s3_server():
    """Start moto's S3 API server on 127.0.0.1 (a free port); yield its endpoint URL; stop it."""
    _need("s3fs")
    server_mod = pytest.importorskip("moto.server") if not os.environ.get("CI") else __import__("moto.server").server
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as mp:
        # the standard chain: what a nightly job's environment gives
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", KEY)
        mp.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_ENDPOINT_URL", endpoint)
        mp.setenv("AWS_CONFIG_FILE", os.devnull)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        try:
            yield endpoint
        finally:
            server.stop()


@pytest.fixture
def s3(s3_server):
    """Return an s3fs filesystem on the server, fresh (no instance or listing kept from another test)."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem()
    yield fs
    s3fs.S3FileSystem.clear_instance_cache()


def _upload(fs, folder: Path, bucket: str, prefix: str) -> str:
    """Upload every file under `folder` to s3://bucket/prefix/…; return the URL of the prefix."""
    if not fs.exists(bucket):
        fs.mkdir(bucket)
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            fs.pipe(f"{bucket}/{prefix}/{path.relative_to(folder).as_posix()}", path.read_bytes())
    fs.invalidate_cache()
    return f"s3://{bucket}/{prefix}/"


def _findings(report) -> str:
    """Return the report's JSON without what names the archive or the run (the evidence commands
    name the file under ARCHIVE; `go tool pprof` is offered for local files only)."""
    doc = json.loads(render_json(report, Config()))
    for key in ("archive", "generated_at", "tool"):
        doc.pop(key, None)
    text = json.dumps(doc, sort_keys=True).replace(report.archive.rstrip("/"), "ARCHIVE")
    return re.sub(r'"pprof_command": ("(?:[^"\\]|\\.)*"|null)', '"pprof_command": "-"', text)


# ------------------------------------------------------------------------- s3://


def _options(endpoint: str) -> Config:
    """Return a config whose storage: section names the endpoint and the credentials.

    (Worker processes take them from their tasks: the environment they started with
    may predate this test's, a forkserver started by an earlier test.)"""
    return config_from_dict({"storage": {"endpoint_url": endpoint, "key": KEY, "secret": SECRET}})


def test_s3_prefix_reports_what_the_local_folder_does(s3, s3_server) -> None:
    # GIVEN the samples (plain, .gz, a .tar.gz) uploaded under a prefix
    url = _upload(s3, SAMPLES, "fleet", "nightly/2026-12-01")
    # WHEN the prefix and the local folder are analysed by local processes
    remote = analyze(url, _options(s3_server), RunOptions(use_cache=False, jobs=2, now=NOW))
    local = analyze(SAMPLES, Config(), RunOptions(use_cache=False, jobs=2, now=NOW))
    # THEN the findings, series, snapshots and skipped files are the same
    assert remote.findings
    assert _findings(remote) == _findings(local)
    assert remote.archive == url


def test_zip_and_single_objects_are_read_in_place(s3, tmp_path) -> None:
    # GIVEN one series zipped, and one .gz dump, in a bucket
    buf = io.BytesIO()
    series = SAMPLES / "tracing-collector"
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted(series.iterdir()):
            zf.write(p, f"tracing-collector/{p.name}")
    s3.mkdir("zips")
    s3.pipe("zips/night/pods.zip", buf.getvalue())
    one = sorted(series.iterdir())[0]
    s3.pipe(f"zips/one/{one.name}", one.read_bytes())
    # WHEN the zip object, and the one dump object, are the ARCHIVE
    zipped = analyze("s3://zips/night/pods.zip", Config(), RunOptions(use_cache=False, jobs=1, now=NOW))
    local = analyze(series, Config(), RunOptions(use_cache=False, jobs=1, now=NOW))
    single = analyze(f"s3://zips/one/{one.name}", Config(), RunOptions(use_cache=False, jobs=1, now=NOW))
    # THEN the zip's members are the series' snapshots, and the one object is one snapshot
    assert [s.id for s in zipped.series] == ["tracing-collector"]
    assert [x.goroutines for x in zipped.series[0].snapshots] == [x.goroutines for x in local.series[0].snapshots]
    assert [x.source for x in single.series[0].snapshots] == [one.name]


def test_object_times_come_from_names_else_from_last_modified(s3) -> None:
    # GIVEN a dump whose key carries no time
    one = sorted((SAMPLES / "tracing-collector").iterdir())[0]
    s3.mkdir("times")
    s3.pipe("times/pod-a/dump.txt.gz", one.read_bytes())
    s3.pipe("times/pod-a/notes.txt", b"not a dump\n")
    s3.invalidate_cache()
    modified = s3.info("times/pod-a/dump.txt.gz")["LastModified"].timestamp()
    # WHEN it is analysed
    rep = analyze("s3://times/", Config(), RunOptions(use_cache=False, jobs=1, now=NOW))
    # THEN its time is the object's last-modified time (or its content's), and the other object is named as skipped
    snap = rep.series[0].snapshots[0]
    assert snap.time_source in ("mtime", "content")
    if snap.time_source == "mtime":
        assert abs(snap.time.timestamp() - modified) < 1
    assert [(s.path, s.reason.split(":")[0]) for s in rep.skipped] == [("pod-a/notes.txt", rep.skipped[0].reason.split(":")[0])]


def test_settle_rule_holds_back_objects_just_written(s3) -> None:
    # GIVEN objects written a moment ago
    url = _upload(s3, SAMPLES / "notifier", "settle", "n")
    # WHEN the run asks for an hour of quiet
    with pytest.raises(NoDataError, match=r"left for the next run"):
        analyze(url, Config(), RunOptions(use_cache=False, jobs=1, settle_seconds=3600, now=NOW))


# ----------------------------------------------------------------- the cache


def _user(endpoint: str, name: str, actions: list[str]) -> dict[str, str]:
    """Create an IAM user allowed `actions` on the server; return its storage options (key, secret)."""
    import boto3

    iam = boto3.client("iam", endpoint_url=endpoint)
    iam.create_user(UserName=name)
    if actions:
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
        iam.put_user_policy(UserName=name, PolicyName="goroscope-test", PolicyDocument=json.dumps(policy))
    made = iam.create_access_key(UserName=name)["AccessKey"]
    return {"key": made["AccessKeyId"], "secret": made["SecretAccessKey"]}


class _Auth:
    """Turn the server's IAM checks on (every request must be allowed to its user) and off again."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def _set(self, count: str) -> None:
        import urllib.request

        req = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth", data=count.encode(), method="POST", headers={"Content-Type": "text/plain"}
        )
        urllib.request.urlopen(req, timeout=10).read()

    def __enter__(self) -> _Auth:
        self._set("0")
        return self

    def __exit__(self, *exc: object) -> None:
        self._set("inf")


# moto names the list call's IAM action after the API (ListObjectsV2); AWS calls it s3:ListBucket
LIST_ONLY = ["s3:ListBucket", "s3:ListObjectsV2", "s3:ListObjects", "s3:GetBucketLocation"]


def test_cached_rerun_lists_the_bucket_and_reads_no_object(s3, s3_server, tmp_path) -> None:
    # GIVEN a first run over the samples in a bucket, with a cache
    url = _upload(s3, SAMPLES, "cached", "nightly")
    cache = tmp_path / "cache.sqlite"
    first = analyze(url, Config(), RunOptions(cache_path=cache, jobs=1, now=NOW))
    # WHEN the rerun may only list the bucket: any read of an object is refused
    lister, nobody = _user(s3_server, "lister", LIST_ONLY), _user(s3_server, "nobody-1", [])
    with _Auth(s3_server):
        again = analyze(url, config_from_dict({"storage": lister}), RunOptions(cache_path=cache, jobs=1, now=NOW))
        # (and a user who may not even list is refused: the check is on)
        with pytest.raises(NoDataError, match="access denied"):
            analyze(url, config_from_dict({"storage": nobody}), RunOptions(cache_path=cache, jobs=1, now=NOW))
    # THEN the rerun reports the same, and nothing was skipped for a read it could not make
    assert _findings(again) == _findings(first)
    assert first.findings and not [s for s in again.skipped if "Forbidden" in s.reason or "denied" in s.reason.lower()]


def test_a_new_object_is_read_and_the_known_ones_are_not(s3, s3_server, tmp_path) -> None:
    # GIVEN a cached run over one series
    _upload(s3, SAMPLES / "notifier", "grows", "n/notifier")
    url = "s3://grows/n/"
    cache = tmp_path / "cache.sqlite"
    analyze(url, Config(), RunOptions(cache_path=cache, jobs=1, now=NOW))
    # WHEN another night adds a series, and the rerun may read only that series' objects
    _upload(s3, SAMPLES / "tracing-collector", "grows", "n/tracing-collector")
    reader = _user(s3_server, "new-only", LIST_ONLY)
    policy_user = _user(s3_server, "reader", LIST_ONLY + ["s3:GetObject"])
    with _Auth(s3_server):
        only_listing = analyze(url, config_from_dict({"storage": reader}), RunOptions(cache_path=cache, jobs=1, now=NOW))
    # THEN the known series comes from the cache and the new objects' reads are what was refused
    refused = sorted({s.path.split("/")[0] for s in only_listing.skipped})
    assert refused == ["tracing-collector"]
    assert [s.id for s in only_listing.series] == ["notifier"]
    with _Auth(s3_server):
        full = analyze(url, config_from_dict({"storage": policy_user}), RunOptions(cache_path=cache, jobs=1, now=NOW))
    assert [s.id for s in full.series] == ["notifier", "tracing-collector"] and not full.skipped


# ------------------------------------------------------------------------ errors


def test_access_denied_is_one_line_naming_the_url(s3, s3_server) -> None:
    _upload(s3, SAMPLES / "notifier", "private", "n")
    nobody = _user(s3_server, "nobody", [])
    with _Auth(s3_server), pytest.raises(NoDataError, match=r"^s3://private/n/: access denied \(") as e:
        analyze("s3://private/n/", config_from_dict({"storage": nobody}), RunOptions(use_cache=False, jobs=1, now=NOW))
    assert e.value.exit_code == exitcodes.NO_DATA
    assert "\n" not in e.value.message and nobody["secret"] not in e.value.message


def test_missing_bucket_is_a_usage_error_naming_the_url(s3) -> None:
    with pytest.raises(UsageError, match=r"^s3://no-such-bucket/x/: no such bucket") as e:
        analyze("s3://no-such-bucket/x/", Config(), RunOptions(use_cache=False, jobs=1, now=NOW))
    assert e.value.exit_code == exitcodes.USAGE
    assert "\n" not in e.value.message


def test_prefix_with_no_dumps_is_nothing_usable(s3) -> None:
    s3.mkdir("emptyish")
    s3.pipe("emptyish/other/readme.txt", b"hello\n")
    with pytest.raises(NoDataError, match=r"^s3://emptyish/nothing-here/: no goroutine dump could be read \(no files found\)"):
        analyze("s3://emptyish/nothing-here/", Config(), RunOptions(use_cache=False, jobs=1, now=NOW))


def test_unreachable_endpoint_is_one_line_naming_the_url(s3_server) -> None:
    # GIVEN an endpoint where nothing listens
    config = config_from_dict({"storage": {"endpoint_url": "http://127.0.0.1:9", "config_kwargs": {"retries": {"max_attempts": 1}}}})
    # WHEN / THEN
    with pytest.raises(NoDataError, match=r"^s3://fleet/nightly/: cannot reach the store") as e:
        analyze("s3://fleet/nightly/", config, RunOptions(use_cache=False, jobs=1, now=NOW))
    assert e.value.exit_code == exitcodes.NO_DATA
    assert "\n" not in e.value.message


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN fsspec's s3 backend is not importable (as where the extra was not installed)
    import sys

    _need("fsspec")
    import fsspec  # noqa: F401 - loads fsspec.registry

    for name in [m for m in sys.modules if m == "s3fs" or m.startswith("s3fs.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "s3fs", None)  # import s3fs: ImportError
    for protocol in ("s3", "s3a"):
        monkeypatch.delitem(sys.modules["fsspec.registry"]._registry, protocol, raising=False)
    # WHEN / THEN
    with pytest.raises(UsageError, match=r"^s3://b/p/: reading s3:// needs the optional package s3fs: pip install 'goroscope\[s3\]'"):
        analyze("s3://b/p/", Config(), RunOptions(use_cache=False, jobs=1, now=NOW))


# ----------------------------------------------------------------- credentials


def test_command_line_hides_storage_option_values() -> None:
    line = command_line(["goroscope", "report", "s3://u:pw@b/p/", "--storage-option", f"secret={SECRET}", f"--storage-option=key={KEY}"])
    assert SECRET not in line and KEY not in line and "pw" not in line
    assert "secret=***" in line and "key=***" in line and "s3://b/p/" in line


def test_store_repr_shows_option_keys_only() -> None:
    from goroscope.ingest.store import parse_options
    from goroscope.model import Store

    store = Store(protocol="s3", options=json.dumps(parse_options([f"secret={SECRET}", "client_kwargs.region_name=eu-west-1"])))
    assert SECRET not in repr(store) and "secret" in repr(store)
    assert json.loads(store.options) == {"secret": SECRET, "client_kwargs": {"region_name": "eu-west-1"}}


def test_storage_section_is_in_no_digest() -> None:
    a = config_from_dict({"storage": {"key": "a"}})
    b = config_from_dict({"storage": {"key": "b"}})
    assert a.full_digest() == b.full_digest() == Config().full_digest()
    with pytest.raises(Exception, match="storage"):
        config_from_dict({"storage": ["not", "a", "mapping"]})


# ------------------------------------------------------------------- memory://


def test_memory_store_reads_like_a_folder() -> None:
    _need("fsspec")
    import fsspec

    fs = fsspec.filesystem("memory")
    for p in sorted((SAMPLES / "notifier").iterdir()):
        fs.pipe(f"/goroscope-test/notifier/{p.name}", p.read_bytes())
    try:
        remote = analyze("memory://goroscope-test/", Config(), RunOptions(use_cache=False, jobs=1, now=NOW))
    finally:
        fs.rm("/goroscope-test", recursive=True)
    local = analyze(SAMPLES / "notifier", Config(), RunOptions(use_cache=False, jobs=1, now=NOW))
    assert [s.id for s in remote.series] == ["notifier"]
    assert [x.goroutines for x in remote.series[0].snapshots] == [x.goroutines for x in local.series[0].snapshots]


# --------------------------------------------------------------- the command line


def _goroscope(args: list[str], cwd: Path, env: dict[str, str] | None = None):
    """Run `goroscope ARGS` in `cwd` as cron would; return the CompletedProcess."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "goroscope", *args], cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("given", ["environment", "options"])
def test_cli_reads_a_bucket_and_writes_no_credential(s3, s3_server, tmp_path, given) -> None:
    # GIVEN the samples in a bucket, and a job whose credentials and endpoint come from the
    # environment (the standard chain), or as storage options only
    url = _upload(s3, SAMPLES, "cli", "nightly")
    env, options = {}, []
    if given == "options":
        env = {"AWS_ENDPOINT_URL": "", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
        options = ["--storage-option", f"endpoint_url={s3_server}", "--storage-option", f"key={KEY}", "--storage-option", f"secret={SECRET}"]
    # WHEN goroscope reports on the URL, with two worker processes
    run = _goroscope(["report", url, "--no-cache", "--jobs", "2", "--output", str(tmp_path), "--format", "json,md", *options], tmp_path, env)
    # THEN it succeeds, the report names the URL, and no credential is in any output
    assert run.returncode == 0, run.stderr
    written = [Path(line) for line in run.stdout.splitlines() if line.endswith((".json", ".md"))]
    assert [p.name.startswith("nightly-") for p in written] == [True, True]
    doc = json.loads(written[0].read_text())
    assert doc["archive"] == url and doc["findings"]
    for text in [run.stdout, run.stderr] + [p.read_text() for p in written]:
        assert SECRET not in text and KEY not in text


@pytest.mark.parametrize(
    "url, code, message",
    [
        ("s3://no-such-bucket/p/", exitcodes.USAGE, "error: s3://no-such-bucket/p/: no such bucket"),
        ("s3://cli-empty/none/", exitcodes.NO_DATA, "error: s3://cli-empty/none/: no goroutine dump could be read"),
    ],
    ids=["missing-bucket", "no-dumps"],
)
def test_cli_store_errors_are_one_line_with_their_exit_code(s3, tmp_path, url, code, message) -> None:
    if not s3.exists("cli-empty"):
        s3.mkdir("cli-empty")
    run = _goroscope(["report", url, "--no-cache", "--output", str(tmp_path)], tmp_path)
    assert run.returncode == code
    assert run.stderr.startswith(message), run.stderr
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr


# ------------------------------------------------------------------------ dask


def test_dask_worker_elsewhere_reads_the_objects_from_its_tasks(s3, s3_server, tmp_path) -> None:
    """A one-worker Dask cluster whose worker runs in an empty directory, with no AWS
    variables: it can only reach the store with what its tasks carry."""
    import subprocess
    import sys

    distributed = _need("distributed")
    from distributed.diagnostics.plugin import SchedulerPlugin

    class Keys(SchedulerPlugin):
        """Record every task key the scheduler sees."""

        def __init__(self) -> None:
            self.keys: set[str] = set()

        def transition(self, key, start, finish, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            self.keys.add(str(key))

    # GIVEN the samples in a bucket, and a worker that shares nothing with this process
    url = _upload(s3, SAMPLES, "dask", "nightly")
    elsewhere = tmp_path / "worker"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    log = tmp_path / "worker.log"
    keys = Keys()
    with distributed.LocalCluster(
        n_workers=0, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=None, scheduler_port=0
    ) as cluster, open(log, "wb") as log_file:
        cluster.scheduler.add_plugin(keys)
        worker = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address, "--nworkers", "1",
             "--nthreads", "2", "--no-dashboard", "--local-directory", str(elsewhere)],
            cwd=elsewhere, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )
        try:
            # WHEN the bucket is analysed on the cluster, the store's options in the config
            remote = analyze(url, _options(s3_server), RunOptions(use_cache=False, executor="dask", scheduler=cluster.scheduler_address, now=NOW))
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    local = analyze(SAMPLES, Config(), RunOptions(use_cache=False, jobs=1, now=NOW))
    # THEN it reports what the local folder does, and no task name or worker log holds a credential
    assert remote.findings and _findings(remote) == _findings(local)
    assert keys.keys and not [k for k in keys.keys if SECRET in k or KEY in k]
    assert SECRET not in log.read_text(errors="replace")


def test_evidence_commands_of_a_bucket_report_run_as_printed(s3, s3_server, tmp_path) -> None:
    # GIVEN a report of the samples in a bucket (plain, .gz, and members of a .tar.gz object)
    import shlex

    url = _upload(s3, SAMPLES, "evidence", "nightly")
    doc = json.loads(render_json(analyze(url, Config(), RunOptions(use_cache=False, jobs=1, now=NOW)), Config()))
    commands = {f["inspect"]["command"] for f in doc["findings"] if f.get("inspect")}
    assert any(".tar.gz/" in c for c in commands) and any(c.endswith(".pb.gz --stack " + c.split()[-1]) or ".txt" in c for c in commands)
    # WHEN each `goroscope inspect URL --stack …` a finding offers is run as printed (in a fresh process)
    for command in sorted(commands):
        args = shlex.split(command)
        assert args[:2] == ["goroscope", "inspect"] and args[2].startswith(url)
        run = _goroscope(args[1:], tmp_path)
        # THEN it prints the stack, from the object (or archive member) the report names
        assert run.returncode == 0, (command, run.stderr)
        assert "goroutine" in run.stdout or "@" in run.stdout, run.stdout[:300]
    # and no pprof command is offered for a file go tool pprof cannot open
    assert not [f for f in doc["findings"] if (f.get("inspect") or {}).get("pprof_command")]


def test_diff_reads_two_objects(s3, tmp_path) -> None:
    dumps = sorted((SAMPLES / "tracing-collector").iterdir())
    s3.mkdir("diff")
    s3.pipe("diff/a.txt.gz", dumps[0].read_bytes())
    s3.pipe("diff/b.txt.gz", dumps[-1].read_bytes())
    run = _goroscope(["diff", "s3://diff/a.txt.gz", "s3://diff/b.txt.gz", "--json"], tmp_path)
    local = _goroscope(["diff", str(dumps[0]), str(dumps[-1]), "--json"], tmp_path)
    assert run.returncode == 0, run.stderr
    got, want = json.loads(run.stdout), json.loads(local.stdout)
    assert got["old"] == "s3://diff/a.txt.gz" and got["signatures"]
    assert {k: v for k, v in got.items() if k not in ("old", "new")} == {k: v for k, v in want.items() if k not in ("old", "new")}


def test_prefetched_head_serves_reads_and_the_object_the_rest() -> None:
    # GIVEN objects larger and smaller than the sniffed head, their heads prefetched
    _need("fsspec")
    import fsspec

    from goroscope.ingest import store as st

    fs = fsspec.filesystem("memory")
    big = bytes(range(256)) * 1000  # 256 000 bytes: more than SNIFF_BYTES
    small = b"goroutine 1 [running]:\n"
    fs.pipe("/goroscope-prefetch/big", big)
    fs.pipe("/goroscope-prefetch/small", small)
    store = st.store_for("memory://goroscope-prefetch/")
    try:
        objects = st.list_objects("memory://goroscope-prefetch/", store)
        st.prefetch(objects, store)
        by_name = {o.path: o for o in objects}
        # WHEN they are read forward, by seeking (as zip does), and from the end
        with st.open_object(by_name["big"].url, store, by_name["big"].size) as f:
            assert f.read(10) == big[:10]
            f.seek(200_000)
            assert f.read(100) == big[200_000:200_100]
            f.seek(-10, 2)
            assert f.read() == big[-10:]
            f.seek(0)
            assert f.read() == big
        with st.open_object(by_name["small"].url, store, by_name["small"].size) as f:
            assert f.read() == small and f.read() == b""
        # THEN once forgotten, the object is read from the store as before
        st.forget(by_name["big"].url, store)
        with st.open_object(by_name["big"].url, store, by_name["big"].size) as f:
            assert f.read() == big
    finally:
        for o in objects:
            st.forget(o.url, store)
        fs.rm("/goroscope-prefetch", recursive=True)


def test_crash_file_holds_no_storage_option_value(s3, s3_server, tmp_path, monkeypatch, capsys) -> None:
    # GIVEN a bucket, and a goroscope with a bug outside any one file (after the analysis)
    from goroscope import cli, pipeline

    url = _upload(s3, SAMPLES / "notifier", "crash", "n")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    real = pipeline.analyze

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        real(*args, **kwargs)
        raise ZeroDivisionError("a bug after the analysis")

    monkeypatch.setattr(pipeline, "analyze", broken)
    # WHEN a report with credentials given as storage options fails
    with pytest.raises(SystemExit) as e:
        cli.main(["report", url, "--no-cache", "--jobs", "1", "--output", str(tmp_path / "out"),
                  "--storage-option", f"key={KEY}", "--storage-option", f"secret={SECRET}"])
    # THEN exit 5, and the crash file names the command without the values
    err = capsys.readouterr().err
    assert e.value.code == exitcodes.INTERNAL, err
    crash = Path(err.split("traceback is in ")[1].split()[0].rstrip(";"))
    text = crash.read_text()
    assert "secret=***" in text and SECRET not in text and KEY not in text and SECRET not in err
