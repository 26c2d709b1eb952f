"""Tests of the PDF report: page one, page size, provenance, no fetching, size, lazy import."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest

pypdf = pytest.importorskip("pypdf")

from goroscope.config import Config, RenderConfig
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
