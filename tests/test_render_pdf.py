"""Tests of the PDF report: page one, page size, provenance, no fetching, size, lazy import."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest

pypdf = pytest.importorskip("pypdf")

from goroscope.config import Config, RenderConfig
from goroscope.errors import RenderError
from goroscope.render import pdf
from goroscope.resources import templates_dir

from report_factory import hostile_report, make_report


def squash(text: str) -> str:
    """Return `text` without whitespace (wrapped paths come back with line breaks)."""
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def fleet_pdf() -> bytes:
    return pdf.render_pdf(make_report(), Config(render=RenderConfig(redact_labels=("tenant",))))


def test_top_suspect_location_and_verdict_on_page_one(fleet_pdf):
    reader = pypdf.PdfReader(io.BytesIO(fleet_pdf))
    page1 = reader.pages[0].extract_text()
    assert "/usr/local/go/src/net/http/transport.go:2616" in squash(page1)
    assert "3findings(4leaksuspects)in3of3series" in squash(page1)
    # the whole suspects table is on page one: every suspect's leak site
    assert "lookup.go:46" in squash(page1) and "sampling/tail.go:88" in squash(page1)
    assert "page 1 of" in page1


def test_running_header_and_provenance_footer(fleet_pdf):
    reader = pypdf.PdfReader(io.BytesIO(fleet_pdf))
    last = reader.pages[-1].extract_text()
    assert "goroscope · /var/dumps/fleet-2026-12-01" in last  # running header on every page
    assert "2026-12-01 09:00 UTC" in last
    assert "config3f9a1c0d2e4b" in squash(last)
    assert "goroscope0.1.0" in squash(last)


def test_page_size_a4_and_letter(fleet_pdf):
    a4 = pypdf.PdfReader(io.BytesIO(fleet_pdf)).pages[0].mediabox
    assert (round(float(a4.width)), round(float(a4.height))) == (595, 842)
    letter_pdf = pdf.render_pdf(make_report(suspects=()), Config(render=RenderConfig(page_size="Letter")))
    letter = pypdf.PdfReader(io.BytesIO(letter_pdf)).pages[0].mediabox
    assert (round(float(letter.width)), round(float(letter.height))) == (612, 792)


def test_redaction_and_size(fleet_pdf):
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(fleet_pdf)).pages)
    assert "t003" not in text and "•••" in text
    assert len(fleet_pdf) < 400_000


def test_charts_are_vectors(fleet_pdf):
    reader = pypdf.PdfReader(io.BytesIO(fleet_pdf))
    for page in reader.pages:
        xobjects = page.get("/Resources", {}).get("/XObject", {}) or {}
        for ref in xobjects.values():
            assert ref.get_object().get("/Subtype") != "/Image"


def test_hostile_content_is_text_and_nothing_is_fetched(monkeypatch):
    # GIVEN a spy on the fetch policy
    asked: list[str] = []
    real = pdf.allowed_url

    def spy(url, root):
        asked.append(url)
        return real(url, root)

    monkeypatch.setattr(pdf, "allowed_url", spy)
    # WHEN the hostile report is printed
    data = pdf.render_pdf(hostile_report(), Config(render=RenderConfig(url_template="{path}")))
    # THEN nothing outside data: URIs and the templates was even asked for
    root = templates_dir().as_uri()
    assert all(u.startswith(("data:", root)) for u in asked), asked
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)
    assert "<script>alert(1)</script>" in text
    assert "file:///etc/passwd" in text


@pytest.mark.parametrize(
    "url,ok",
    [
        ("data:image/png;base64,iVBORw0KGgo=", True),
        ("file:///etc/passwd", False),
        ("http://169.254.169.254/latest/meta-data", False),
        ("https://example.com/x.css", False),
        ("ftp://example.com/x", False),
        ("javascript:alert(1)", False),
        ("TEMPLATES/report.css", True),
        ("TEMPLATES/../../../../etc/passwd", False),
        ("TEMPLATES/missing.css", False),
    ],
)
def test_allowed_url(url, ok):
    url = url.replace("TEMPLATES", templates_dir().as_uri())
    assert pdf.allowed_url(url, templates_dir()) is ok


def test_fetcher_refuses_before_fetching(tmp_path):
    fetcher = pdf._fetcher_class()(templates_dir())
    with pytest.raises(ValueError, match="fetches nothing"):
        fetcher.fetch("file:///etc/passwd")
    assert fetcher.fetch((templates_dir() / "report.css").as_uri()) is not None


def test_weasyprint_is_imported_only_when_rendering_a_pdf():
    code = (
        "import sys, goroscope.render.pdf, goroscope.render.html, goroscope.render.markdown;"
        "print('weasyprint' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------ page layout

MM = 72 / 25.4  # PDF points per millimetre
MARGINS = (16 * MM, 12 * MM, 18 * MM, 12 * MM)  # report.css @page margin: top right bottom left


@pytest.fixture(scope="module")
def long_ids_pdf(tmp_path_factory) -> tuple[bytes, object]:
    """Return (PDF, Report) of the samples as a fleet whose series ids and paths are long."""
    import shutil
    from pathlib import Path

    from goroscope.pipeline import RunOptions, analyze

    samples = Path(__file__).resolve().parents[1] / "samples"
    root = tmp_path_factory.mktemp("fleet") / "fleet"
    pods = root / "prod-eu-west-1" / "cluster-payments-and-ledger"
    shutil.copytree(samples / "tracing-collector", pods / "tracing-collector-7f9c8d6b5-x2kqz-replicaset-canary")
    shutil.copytree(samples / "notifier", pods / "notifier-worker-deployment-5d4f8b7c9-qq7lm")
    shutil.copy(samples / "profile-cache.tar.gz", pods / "profile-cache-statefulset-0.tar.gz")
    report = analyze(root, Config(), RunOptions(use_cache=False))
    assert len(report.series) >= 3 and len(report.suspects) >= 3
    return pdf.render_pdf(report, Config()), report


def test_no_text_crosses_the_page_content_box(long_ids_pdf):
    """Ids, paths and names wrap inside their cells: no glyph lies past the page's margins.

    Body text must lie inside the content box; the running header and footer lie
    in the top and bottom margins and inside the left and right ones.
    """
    pdfplumber = pytest.importorskip("pdfplumber")
    data, _ = long_ids_pdf
    top, right, bottom, left = MARGINS
    with pdfplumber.open(io.BytesIO(data)) as doc:
        assert len(doc.pages) >= 2
        for n, page in enumerate(doc.pages, start=1):
            for ch in page.chars:
                if not ch["text"].strip():
                    continue
                where = f"page {n}: {ch['text']!r} at x {ch['x0']:.1f}-{ch['x1']:.1f}, y {ch['top']:.1f}"
                assert left - 1 <= ch["x0"] and ch["x1"] <= page.width - right + 1, where
                in_body = top <= ch["top"] and ch["bottom"] <= page.height - bottom
                in_margin = ch["bottom"] <= top or ch["top"] >= page.height - bottom
                assert in_body or in_margin, where


def test_the_print_page_breaks_where_wbr_would_and_prints_the_same_text(long_ids_pdf):
    """The print page carries the zero-width space WeasyPrint prints for a <wbr>, not the element: the same
    text, wrapped at the same places, and never the <wbr> tags (each a box of its own to lay out)."""
    from goroscope.render.context import build_view
    from goroscope.render.html import html_of_view

    _, report = long_ids_pdf
    config = Config()
    view = build_view(report, config)
    screen, page = html_of_view(view, config, "screen"), html_of_view(view, config, "print")
    assert "<wbr>" in screen and "<wbr>" not in page and "\u200b" in page and "\u200b" not in screen
    assert 'id="series-filter"' in screen and 'id="series-filter"' not in page  # a control: the print page has none to hide
    root = templates_dir(None)
    ours = pypdf.PdfReader(io.BytesIO(pdf.pdf_of_page(page, root))).pages
    tags = pypdf.PdfReader(io.BytesIO(pdf.pdf_of_page(page.replace("\u200b", "<wbr>"), root))).pages
    assert [p.extract_text() for p in ours] == [p.extract_text() for p in tags]


def test_rates_never_wrap_mid_number():
    """'+12,573/h' stays whole in its narrow column of the findings table (not '+12,573/' over 'h')."""
    from dataclasses import replace

    from goroscope import words

    from report_factory import with_findings

    base = make_report()
    fast = tuple(replace(s, growth_per_hour=12573.4 + i) if s.kind == "growing" else s for i, s in enumerate(base.suspects))
    report = with_findings(replace(base, suspects=fast, findings=()))
    rates = {words.growth(fd.growth_per_hour) for fd in report.findings if fd.kind == "growing"}  # what page one shows
    assert rates
    data = pdf.render_pdf(report, Config())
    lines = pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text().splitlines()
    for rate in rates:
        assert any(rate in line for line in lines), f"{rate} is not whole on one line of page one"


def test_a_suspects_heading_facts_and_chart_share_a_page(long_ids_pdf):
    """A suspect's heading never sits at the bottom of one page with its facts on the next."""
    data, report = long_ids_pdf
    pages = [squash(p.extract_text()) for p in pypdf.PdfReader(io.BytesIO(data)).pages]
    for s in report.suspects:
        # the block opens with its explanation and ends its facts with the fingerprint
        opening = squash(s.explanation)[:40]
        on = [i for i, text in enumerate(pages) if opening in text]
        assert on, f"suspect {s.series}#{s.rank}: its explanation is not in the PDF"
        assert any(s.fingerprint in pages[i] for i in on), f"suspect {s.series}#{s.rank}: facts on another page than its heading"


def test_page_one_is_the_findings_table_and_the_document_is_compact(long_ids_pdf):
    data, report = long_ids_pdf
    reader = pypdf.PdfReader(io.BytesIO(data))
    first = squash(reader.pages[0].extract_text())
    for s in report.suspects:
        assert squash(s.leak_site.location)[-30:] in first  # every finding's leak site on page one
    # one compact block per suspect, not a page and a half each
    assert len(reader.pages) <= 4 + len(report.suspects), len(reader.pages)


def test_the_whole_corpus_findings_table_is_on_page_one(corpus_dir):
    # GIVEN the report of the whole dev corpus (a dozen findings over eight series)
    from goroscope.pipeline import RunOptions, analyze

    report = analyze(corpus_dir, Config(), RunOptions(use_cache=False, jobs=1))
    assert len(report.findings) >= 10
    page1 = squash(pypdf.PdfReader(io.BytesIO(pdf.render_pdf(report, Config()))).pages[0].extract_text())
    # THEN page one, the one an incident ticket shows, holds every finding's leak site
    for f in report.findings:
        site = f.leak_site
        assert squash(f"{site.file.rsplit('/', 1)[-1]}:{site.line}") in page1, f"{site.function} not on page one"


# ------------------------------------------------- the printer: the PDF in a process of its own


def _fake_printer(code: str):  # type: ignore[no-untyped-def]
    """Return a Printer whose child is `python -c code` (reads its page like the real one)."""
    from goroscope.render.printer import Printer

    return Printer(subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE))


def test_the_printer_prints_what_pdf_of_view_prints():
    from goroscope.render.context import build_view
    from goroscope.render.html import html_of_view
    from goroscope.render.printer import Printer

    # GIVEN a printer started before the page exists, and the print page of a report
    config = Config(render=RenderConfig(redact_labels=("tenant",)))
    with Printer.start(templates_dir()) as printer:
        view = build_view(make_report(), config, None)
        # WHEN it is handed the page
        printer.submit(html_of_view(view, config, "print"))
        printed = printer.result()
    # THEN it gives the PDF this process prints, page for page
    assert printed is not None and printed.startswith(b"%PDF")
    here = pdf.pdf_of_view(view, config)
    texts = [[p.extract_text() for p in pypdf.PdfReader(io.BytesIO(b)).pages] for b in (printed, here)]
    assert texts[0] == texts[1] and "transport.go:2616" in squash(texts[0][0])


def test_a_printer_that_fails_on_the_page_fails_the_run_with_its_message():
    # GIVEN a child that says weasyprint failed, as printer.main does
    code = "import sys; sys.stdin.read(); sys.stderr.write('PDF rendering failed: ValueError: bad page\\n'); sys.exit(65)"
    with _fake_printer(code) as printer:
        printer.submit("<p>x</p>")
        # THEN its message is the run's RenderError
        with pytest.raises(RenderError, match="^PDF rendering failed: ValueError: bad page$"):
            printer.result()


@pytest.mark.parametrize("code", ["import os; os.kill(os.getpid(), 9)", "raise SystemExit(1)"], ids=["killed", "crashed"])
def test_a_printer_that_cannot_print_leaves_the_pdf_to_this_process(tmp_path, code):
    from goroscope.render import write_outputs

    # GIVEN a printer whose child is killed, or crashes without a word
    with _fake_printer(code) as printer:
        # WHEN the outputs are written with it
        written = write_outputs(make_report(suspects=()), Config(), tmp_path, "r", ["json", "pdf"], printer=printer)
    # THEN the PDF is printed here instead, and every file is written
    assert [p.name for p in written] == ["r.json", "r.pdf"]
    text = pypdf.PdfReader(io.BytesIO((tmp_path / "r.pdf").read_bytes())).pages[0].extract_text()
    assert "goroscope · /var/dumps/fleet-2026-12-01" in text


def test_closing_an_unused_printer_ends_its_child():
    from goroscope.render.printer import Printer

    printer = Printer.start(templates_dir())
    assert printer is not None
    printer.close()
    assert printer.proc.returncode is not None


def test_the_child_prints_stdin_to_stdout_and_says_why_it_failed(monkeypatch, capsysbinary):
    from goroscope.render import printer as printer_mod

    # GIVEN the child's main with a page on stdin
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"<p>one page</p>")))
    # WHEN it prints it
    assert printer_mod.main([str(templates_dir())]) == 0
    # THEN stdout holds the PDF alone
    assert capsysbinary.readouterr().out.startswith(b"%PDF")
    # AND a page weasyprint fails on is exit code 65 and one line on stderr
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"<p>two</p>")))

    def failing(page, root):  # type: ignore[no-untyped-def]
        if "two" in page:
            raise RenderError("PDF rendering failed: OSError: no\nmore")
        return b"%PDF-warm"

    monkeypatch.setattr(pdf, "pdf_of_page", failing)
    assert printer_mod.main([str(templates_dir())]) == 65
    captured = capsysbinary.readouterr()
    assert captured.out == b"" and captured.err == b"PDF rendering failed: OSError: no more\n"


def test_the_command_line_prints_the_pdf_in_the_printer(tmp_path):
    from pathlib import Path

    # GIVEN a report run by the command line, PDF included
    samples = Path(__file__).resolve().parents[1] / "samples" / "notifier"
    code = (
        "import sys\nfrom goroscope import cli\n"
        f"try:\n    cli.main(['report', {str(samples)!r}, '--format', 'json,pdf', '--no-cache', '--output', {str(tmp_path)!r}, '--name', 'r', '-q'])\n"
        "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "print('weasyprint' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # THEN the PDF is written, and weasyprint was never loaded by the run's own process
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
