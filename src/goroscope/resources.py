"""Where goroscope's packaged assets (jinja2 templates and CSS) live.

Contract: `templates_dir()` returns one existing folder holding `report.html.j2`.
It looks, in order, at the config override (`render.templates_dir`), the copy the
wheel carries (`goroscope/templates`, force-included by hatchling), and the
top-level `templates/` of a source checkout (editable installs do not expose the
packaged copy; see STYLE.md "How templates/ at the top level still works"). When
none holds the templates it raises RenderError naming the places it looked.
"""

from __future__ import annotations

from pathlib import Path

from goroscope.errors import RenderError

__all__ = ["templates_dir", "MARKER"]

MARKER = "report.html.j2"  # the file that proves a folder holds our templates


def _candidates(override: str | Path | None) -> list[Path]:
    """Return the folders to try, in order."""
    if override is not None:
        # An explicit override is the only candidate: silently falling back to the
        # packaged copy would hide a typo in the config.
        return [Path(override).expanduser()]
    here = Path(__file__).resolve().parent
    return [here / "templates", here.parents[1] / "templates"]


def templates_dir(override: str | Path | None = None) -> Path:
    """Return the folder holding our jinja2 templates and CSS (`override` first)."""
    tried = _candidates(override)
    for folder in tried:
        if (folder / MARKER).is_file():
            return folder.resolve()
    where = ", ".join(str(p) for p in tried)
    if override is not None:
        raise RenderError(f"{override}: render.templates_dir does not hold {MARKER}", slug="configuration")
    raise RenderError(
        f"the report templates are missing (looked in {where}); reinstall goroscope",
        slug="installation",
    )
