"""Open the HTML report in real headless Chromium: no console errors, the table sorts.

Drives the system /usr/bin/chromium over the DevTools protocol on a pipe
(--remote-debugging-pipe: NUL-separated JSON on fds 3 and 4), so no browser is
downloaded and no port is opened. Skipped, with the reason, when Chromium is
missing, unless the environment variable CI is set.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from goroscope.config import Config, RenderConfig
from goroscope.render.html import render_html

from report_factory import hostile_report, make_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"


def _need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")


class CDP:
    """A minimal Chrome DevTools Protocol client over --remote-debugging-pipe."""

    def __init__(self, profile: Path) -> None:
        """Start headless Chromium with a throw-away profile."""
        to_r, to_w = os.pipe()  # we write commands, chromium reads fd 3
        from_r, from_w = os.pipe()  # chromium writes fd 4, we read
        args = [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--mute-audio", f"--user-data-dir={profile}",
            "--remote-debugging-pipe", "--window-size=1280,1800", "about:blank",
        ]

        def child() -> None:
            # copy first: the pipe ends may themselves be fds 3 or 4
            a, b = os.dup(to_r), os.dup(from_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        # preexec_fn runs before close_fds, so fds 3 and 4 survive via pass_fds
        self.proc = subprocess.Popen(
            args, pass_fds=(3, 4), preexec_fn=child, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(to_r)
        os.close(from_w)
        self.w, self.r = to_w, from_r
        self.buf = b""
        self.next_id = 0
        self.events: list[dict] = []

    def _read(self, deadline: float) -> dict:
        """Return the next message."""
        import select

        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium did not answer")
            ready, _, _ = select.select([self.r], [], [], left)
            if ready:
                chunk = os.read(self.r, 1 << 20)
                if not chunk:
                    raise EOFError("chromium closed the pipe")
                self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, session: str | None = None, timeout: float = 20, **params) -> dict:
        """Send one command and return its result (events seen meanwhile are kept)."""
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            got = self._read(deadline)
            if got.get("id") == self.next_id:
                if "error" in got:
                    raise RuntimeError(f"{method}: {got['error']}")
                return got.get("result", {})
            self.events.append(got)

    def wait_event(self, method: str, timeout: float = 20) -> dict:
        """Return the first event named `method` (already seen or next)."""
        for e in self.events:
            if e.get("method") == method:
                return e
        deadline = time.monotonic() + timeout
        while True:
            got = self._read(deadline)
            self.events.append(got)
            if got.get("method") == method:
                return got

    def close(self) -> None:
        """Stop the browser we started."""
        try:
            self.call("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.w)
        os.close(self.r)


def open_page(cdp: CDP, url: str) -> str:
    """Open `url` in a new tab with console capture; return its session id once loaded."""
    target = cdp.call("Target.createTarget", url="about:blank")["targetId"]
    session = cdp.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Page", "Runtime", "Log"):
        cdp.call(f"{domain}.enable", session)
    cdp.call("Page.navigate", session, url=url)
    cdp.wait_event("Page.loadEventFired")
    return session


def evaluate(cdp: CDP, session: str, expr: str):
    """Return the value of JS `expr` in the page."""
    res = cdp.call("Runtime.evaluate", session, expression=expr, returnByValue=True)
    if "exceptionDetails" in res:
        raise AssertionError(res["exceptionDetails"])
    return res["result"].get("value")


def console_errors(cdp: CDP) -> list:
    """Return the console errors, exceptions and log errors seen so far."""
    out = []
    for e in cdp.events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.exceptionThrown":
            out.append(p)
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append(p)
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            out.append(p["entry"])
    return out


@pytest.fixture()
def browser(tmp_path):
    _need_chromium()
    cdp = CDP(tmp_path / "profile")
    yield cdp
    cdp.close()


ROW_SITES = "Array.from(document.querySelectorAll('#suspects-table tbody tr')).map(r => r.cells[0].textContent.trim())"


def click(cdp: CDP, session: str, selector: str) -> None:
    """Click the centre of the element `selector` with real mouse events."""
    box = evaluate(
        cdp, session,
        f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView(); "
        "const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()",
    )
    for kind in ("mousePressed", "mouseReleased"):
        cdp.call("Input.dispatchMouseEvent", session, type=kind, x=box[0], y=box[1], button="left", clickCount=1)


def test_report_in_chromium(browser, tmp_path):
    # GIVEN the report on disk
    page = tmp_path / "report.html"
    cfg = Config(render=RenderConfig(url_template="https://git.example/x/blob/{rev}/{path}#L{line}"))
    page.write_text(render_html(make_report(), cfg), encoding="utf-8")
    # WHEN Chromium opens it
    session = open_page(browser, page.as_uri())
    # THEN the verdict and the table are there, and nothing went wrong
    assert "4 leak suspects" in evaluate(browser, session, "document.querySelector('.verdict-line').textContent")
    assert evaluate(browser, session, ROW_SITES) == ["1", "2", "3", "4"]
    assert evaluate(browser, session, "document.getElementById('series-filter').hidden") is False
    # AND the every-suspect table is folded until asked for
    assert evaluate(browser, session, "document.querySelector('details.suspects-all').open") is False
    click(browser, session, "details.suspects-all > summary")
    assert evaluate(browser, session, "document.querySelector('details.suspects-all').open") is True
    # WHEN the score header is clicked (ascending), then again (descending)
    click(browser, session, "#suspects-table thead th:nth-child(7)")
    assert evaluate(browser, session, ROW_SITES) == ["4", "3", "2", "1"]
    click(browser, session, "#suspects-table thead th:nth-child(7)")
    assert evaluate(browser, session, ROW_SITES) == ["1", "2", "3", "4"]
    # AND sorting by growth puts the stuck suspect (0/h) first when ascending
    click(browser, session, "#suspects-table thead th:nth-child(6)")
    assert evaluate(browser, session, ROW_SITES)[0] == "4"
    # WHEN the series filter picks one series, only its rows and sections stay visible
    evaluate(browser, session, "(() => { const s = document.querySelector('#series-filter select');"
             " s.value = 'tracing-collector'; s.dispatchEvent(new Event('change')); })()")
    visible = evaluate(browser, session, "Array.from(document.querySelectorAll('#suspects-table tbody tr'))"
                       ".filter(r => !r.hidden).map(r => r.dataset.series)")
    assert visible == ["tracing-collector"]
    # AND a screenshot is kept for people
    shot = browser.call("Page.captureScreenshot", session, format="png", captureBeyondViewport=True)
    (tmp_path / "report.png").write_bytes(base64.b64decode(shot["data"]))
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert console_errors(browser) == []


def test_hostile_report_runs_no_script_and_fetches_nothing(browser, tmp_path):
    page = tmp_path / "hostile.html"
    page.write_text(render_html(hostile_report(), Config()), encoding="utf-8")
    requests: list[str] = []
    session = open_page(browser, page.as_uri())
    browser.call("Network.enable", session)
    evaluate(browser, session, "location.reload()")
    browser.events = [e for e in browser.events if e.get("method") != "Page.loadEventFired"]
    browser.wait_event("Page.loadEventFired")
    for e in browser.events:
        if e.get("method") == "Network.requestWillBeSent":
            requests.append(e["params"]["request"]["url"])
    # only the page itself was loaded; injected <script> and <img> never ran
    assert [u for u in requests if not u.startswith("data:")] == [page.as_uri()]
    assert evaluate(browser, session, "document.scripts.length") == 1
    assert evaluate(browser, session, "document.images.length") == 0
    assert console_errors(browser) == []


def test_all_signatures_table_filters_in_chromium(browser, tmp_path, samples_dir):
    # GIVEN the report of the samples, whose first series has several signatures in its last snapshot
    from goroscope.pipeline import RunOptions, analyze

    page = tmp_path / "report.html"
    page.write_text(render_html(analyze(samples_dir, Config(), RunOptions(use_cache=False)), Config()), encoding="utf-8")
    session = open_page(browser, page.as_uri())
    rows = "Array.from(document.querySelectorAll('#series-1 table.signatures tbody tr'))"
    total = evaluate(browser, session, f"{rows}.length")
    assert total >= 2
    # THEN the table is collapsed, and its filter is offered once the script runs
    assert evaluate(browser, session, "document.querySelector('#series-1 details.all-signatures').open") is False
    assert evaluate(browser, session, "document.querySelector('#series-1 .sig-filter').hidden") is False
    # WHEN a word of one row is typed, only the rows holding it stay
    word = evaluate(browser, session, f"{rows}[1].cells[2].textContent.trim().split(/[\\s/.()*]+/).filter(w => w.length > 3).pop()")
    evaluate(browser, session, "(() => { document.querySelector('#series-1 details.all-signatures').open = true;"
             " const i = document.querySelector('#series-1 .sig-filter input');"
             f" i.value = {json.dumps(word)}; i.dispatchEvent(new Event('input')); }})()")
    shown = evaluate(browser, session, f"{rows}.filter(r => !r.hidden).map(r => r.textContent)")
    assert shown and all(word.lower() in t.lower() for t in shown)
    hidden = evaluate(browser, session, f"{rows}.filter(r => r.hidden).map(r => r.textContent)")
    assert hidden and all(word.lower() not in t.lower() for t in hidden)
    # AND clearing it shows every row again
    evaluate(browser, session, "(() => { const i = document.querySelector('#series-1 .sig-filter input');"
             " i.value = ''; i.dispatchEvent(new Event('input')); })()")
    assert evaluate(browser, session, f"{rows}.filter(r => !r.hidden).length") == total
    assert console_errors(browser) == []
