"""The PDF printed in a process of its own, beside the run.

Contract: `Printer.start(root)` starts `python -m goroscope.render.printer ROOT`
(None when no process can be started), which at once imports weasyprint and prints a
page of one line: weasyprint parses its C bindings at import and loads its fonts on
the first page, over a second together, and the child does that while the run
discovers, parses and ranks. `printer.submit(page)` hands it the run's print page
(render/html.py, medium "print"); `printer.result()` returns the PDF bytes, raising
RenderError as pdf.pdf_of_page does when weasyprint fails on the page. The parent
renders the other formats meanwhile, so that on two cores the PDF adds little to the
run's wall time. When the child cannot do its work for any other reason (it could not
start, was killed, crashed), `result()` returns None and the caller prints in its own
process (pdf.pdf_of_view), as a run without a printer does. `close()` ends a child
still running (a run that failed, or never needed the PDF). The child reads nothing
but its page on stdin, fetches what pdf.pdf_of_page allows, and writes only the PDF
on stdout; a child whose parent died reads an empty page and exits.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from goroscope.errors import RenderError

__all__ = ["Printer"]

_FAILED = 65  # the child's exit code when weasyprint failed on the page (its message on stderr); not Python's 1
_WARM_PAGE = "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body><p>goroscope</p></body></html>"


class Printer:
    """A child process that prints one page as PDF (see the module docstring)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        """Hold the started child `proc`."""
        self.proc = proc
        self._talk: threading.Thread | None = None  # hands the page over and reads the PDF back
        self._out = b""  # the child's stdout: the PDF
        self._err = b""  # the child's stderr: why it failed

    @classmethod
    def start(cls, root: Path) -> Printer | None:
        """Start a printer fetching only under the templates folder `root`; None when no process can be started."""
        import goroscope

        env = dict(os.environ)
        # the child imports this very goroscope, wherever it was imported from
        here = str(Path(goroscope.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH", "")) if p)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "goroscope.render.printer", str(root)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
        except (OSError, ValueError):
            return None
        return cls(proc)

    def submit(self, page: str) -> None:
        """Hand the child the print `page` (once); the PDF is read back in a thread while the caller works on."""
        data = page.encode("utf-8")

        def talk() -> None:
            """Write the page, read the PDF and the child's errors to the end."""
            try:
                self._out, self._err = self.proc.communicate(data)
            except (OSError, ValueError):
                self._out, self._err = b"", b""

        self._talk = threading.Thread(target=talk, name="goroscope-printer", daemon=True)
        self._talk.start()

    def result(self) -> bytes | None:
        """Return the PDF of the page submitted; None when the child could not print it (print it here).

        Raises RenderError with the child's message when weasyprint failed on the page."""
        if self._talk is None:
            return None
        self._talk.join()
        code = self.proc.wait()
        if code == 0 and self._out.startswith(b"%PDF"):
            return self._out
        message = self._err.decode("utf-8", "replace").strip()
        if code == _FAILED and message:
            raise RenderError(message.splitlines()[-1])
        return None

    def close(self) -> None:
        """End the child if it still runs, and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        if self._talk is not None:
            self._talk.join()  # the child is gone: its pipes end
        else:
            for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if pipe is not None:
                    pipe.close()
        self.proc.wait()

    def __enter__(self) -> Printer:
        """Return self."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the printer."""
        self.close()


def main(argv: list[str]) -> int:
    """Print the page read on stdin as PDF on stdout (templates under argv[0]); see the module docstring."""
    from goroscope.render.pdf import pdf_of_page

    root = Path(argv[0])
    try:
        pdf_of_page(_WARM_PAGE, root)  # imports weasyprint, loads its fonts: while the run still works
    except RenderError:
        pass  # the real page will say what is wrong
    page = sys.stdin.buffer.read().decode("utf-8")
    if not page:
        return 0  # the run ended without a PDF to print
    try:
        data = pdf_of_page(page, root)
    except RenderError as e:
        sys.stderr.write(e.message.replace("\n", " ") + "\n")
        return _FAILED
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
