"""Masking of redacted label values (`render.redact_labels`), shared by every output.

Contract: a label whose key is redacted shows as REDACTED, in label tables and
wherever its value appears in free text (explanations).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = ["REDACTED", "Redactor"]

REDACTED = "•••"  # what a redacted label value shows as


class Redactor:
    """Masks redacted label values wherever they appear in free text."""

    def __init__(self, keys: Sequence[str], label_sets: Iterable[tuple[tuple[str, str], ...]]) -> None:
        """Collect the values to mask from `label_sets`."""
        values = {v for ls in label_sets for k, v in ls if k in keys and v}
        self.keys = tuple(keys)
        self._re = None
        if values:
            alts = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
            self._re = re.compile(rf"(?<![\w-])(?:{alts})(?![\w-]|\.\w)")

    def text(self, s: str) -> str:
        """Return `s` with every redacted value masked."""
        return self._re.sub(REDACTED, s) if self._re is not None else s
