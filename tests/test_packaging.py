"""The wheel carries the templates, and templates_dir() finds them (STYLE.md: test_packaging)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from goroscope.resources import templates_dir

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = ("report.html.j2", "base.html.j2", "_macros.html.j2", "report.css", "report.js", "summary.md.j2")


def test_templates_dir_holds_every_template():
    folder = templates_dir()
    for name in TEMPLATES:
        assert (folder / name).is_file(), name


@pytest.mark.slow
def test_wheel_contains_the_templates(tmp_path):
    pytest.importorskip("build")
    pytest.importorskip("hatchling")
    # --no-isolation: build with the hatchling already installed (no network)
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("goroscope-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in TEMPLATES:
        assert f"goroscope/templates/{name}" in names, name
    assert "goroscope/resources.py" in names and "goroscope/render/html.py" in names


@pytest.mark.slow
def test_installed_wheel_resolves_its_packaged_templates(tmp_path):
    """Unpack the wheel and import from it: templates_dir() must use the packaged copy."""
    pytest.importorskip("build")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist"), str(REPO)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("goroscope-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = "import goroscope.resources as r; print(r.templates_dir())"
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {code}"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert Path(out.stdout.strip()) == (site / "goroscope" / "templates").resolve()
