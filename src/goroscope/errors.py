"""goroscope's one error hierarchy.

Domain code raises these and never prints or exits; `cli.main` turns each into
`error: <file>: <what was wrong>` and the exit code in `exitcodes.py`.
"""

from __future__ import annotations

from goroscope import exitcodes

__all__ = ["GoroscopeError", "ConfigError", "DumpError", "NoDataError", "RenderError", "UsageError", "internal_reason"]


class GoroscopeError(Exception):
    """Base of every error goroscope raises on purpose."""

    exit_code = exitcodes.FAILED
    slug: str | None = None  # a README section that explains the fix

    def __init__(self, message: str, *, slug: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if slug is not None:
            self.slug = slug


class UsageError(GoroscopeError):
    """A command line that cannot be carried out."""

    exit_code = exitcodes.USAGE


class ConfigError(GoroscopeError):
    """A config file with an unknown key or a bad value; names the key and the file."""

    exit_code = exitcodes.USAGE

    def __init__(self, path: str | None, key: str | None, reason: str) -> None:
        where = f"{path}: " if path else ""
        what = f"{key}: " if key else ""
        super().__init__(f"{where}{what}{reason}", slug="configuration")
        self.path = path
        self.key = key
        self.reason = reason


class DumpError(GoroscopeError):
    """An input that is not a dump, or a dump that could not be read whole."""

    exit_code = exitcodes.NO_DATA

    def __init__(self, path: str, reason: str, line: int | None = None) -> None:
        at = f" (line {line})" if line is not None else ""
        super().__init__(f"{path}{at}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


class NoDataError(GoroscopeError):
    """No dump could be read at all."""

    exit_code = exitcodes.NO_DATA


class RenderError(GoroscopeError):
    """An output could not be written."""

    exit_code = exitcodes.NO_DATA


def internal_reason(e: BaseException) -> str:
    """Return the skip reason of one file whose reading raised `e`, an error goroscope did not expect.

    Whatever its type, such an error costs that file only (DESIGN.md "Exit codes"):
    the file is a skipped input with this reason and the run goes on."""
    text = str(e)
    what = f"{type(e).__name__}: {text}" if text else type(e).__name__
    return f"internal error reading it: {what}; please report it"
