"""The PDF report: weasyprint's rendering of the HTML report with its @media print rules.

Contract: `pdf_of_view(view, config)` returns the PDF bytes of the run's ReportView
(its HTML page in its print form, printed: `pdf_of_page`); the registry writes them.
`render_pdf(report, config, source_root)` builds the view first, for callers that
have only a Report. The command line prints in a process of its own (render/printer.py).
weasyprint is imported inside `pdf_of_view` only: it is slow
to import, and a nightly run that asks for JSON alone must not pay for it.

Nothing is fetched: the page is self-contained, and the url_fetcher handed to
weasyprint refuses every URL except data: URIs and files under templates_dir()
(`allowed_url` decides; a refused fetch is logged by weasyprint and skipped).
Dump content that looks like a URL (`<img src=file:///etc/passwd>`) is escaped
text in the HTML, so it never becomes a fetch in the first place.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from goroscope.config import Config
from goroscope.errors import RenderError
from goroscope.model import Report
from goroscope.render.view import ReportView
from goroscope.resources import templates_dir

__all__ = ["allowed_url", "pdf_of_page", "pdf_of_view", "render_pdf"]


def allowed_url(url: str, root: Path) -> bool:
    """Return True when weasyprint may fetch `url`: a data: URI or a file under `root`."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "data":
        return True
    if scheme != "file" or parts.netloc not in ("", "localhost"):
        return False
    try:
        path = Path(url2pathname(unquote(parts.path))).resolve(strict=True)
        base = root.resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return False
    return path.is_relative_to(base) and path.is_file()


def _fetcher_class():
    """Return a weasyprint URLFetcher subclass that asks `allowed_url` first."""
    from weasyprint.urls import URLFetcher

    class SafeFetcher(URLFetcher):
        """Fetches data: URIs and template files only."""

        def __init__(self, root: Path) -> None:
            """Remember the one folder files may come from."""
            super().__init__(allowed_protocols=("data", "file"), allow_redirects=False, timeout=1)
            self.root = root

        def fetch(self, url, headers=None):
            """Return the resource at `url`, or raise ValueError when it is not allowed."""
            if not allowed_url(url, self.root):
                raise ValueError(f"goroscope fetches nothing outside its templates: {url[:80]}")
            return super().fetch(url, headers)

    return SafeFetcher


def pdf_of_view(view: ReportView, config: Config) -> bytes:
    """Return the PDF report of `view`: its HTML page, printed."""
    from goroscope.render.html import html_of_view

    return pdf_of_page(html_of_view(view, config, "print"), templates_dir(config.render.templates_dir))


def pdf_of_page(page: str, root: Path) -> bytes:
    """Return the print HTML `page` printed as PDF, fetching nothing but data: URIs and files under `root`."""
    import weasyprint

    fetcher = _fetcher_class()(root)
    # weasyprint and fontTools log every subset and refused fetch at INFO/WARNING;
    # keep them out of a cron job's mail.
    for name in ("weasyprint", "fontTools"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        doc = weasyprint.HTML(string=page, base_url=root.as_uri() + "/", url_fetcher=fetcher)
        return doc.write_pdf()
    except Exception as e:  # weasyprint raises many kinds; the run must name the output
        raise RenderError(f"PDF rendering failed: {type(e).__name__}: {e}") from e


def render_pdf(report: Report, config: Config, source_root: Path | None = None) -> bytes:
    """Return the PDF report of `report` (snippets from `source_root`)."""
    from goroscope.render.context import build_view

    return pdf_of_view(build_view(report, config, source_root), config)
