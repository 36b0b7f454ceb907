"""What the PII detector returns: findings, a redacted text, and their batch form.

All offsets are Python ``str`` indices (Unicode code points, not UTF-16 units or bytes),
``end`` exclusive, so ``text[f.start:f.end]`` is the detected value.

Examples
--------
>>> f = Finding("EMAIL_ADDRESS", 8, 19, 0.9)
>>> "mail to a@b.example now"[f.start:f.end]
'a@b.example'
>>> f._asdict()
{'type': 'EMAIL_ADDRESS', 'start': 8, 'end': 19, 'score': 0.9}
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

__all__ = ["BatchRedaction", "Finding", "RedactionResult", "count_types"]


class Finding(NamedTuple):
    """One detected entity: its type, code-point span ``[start, end)`` and confidence."""

    type: str
    start: int
    end: int
    score: float


def count_types(findings: list[Finding]) -> dict[str, int]:
    """Number of findings per entity type.

    >>> count_types([Finding("IP_ADDRESS", 0, 7, 0.9), Finding("IP_ADDRESS", 9, 16, 0.9)])
    {'IP_ADDRESS': 2}
    """
    return dict(Counter(f.type for f in findings)) if findings else {}


class RedactionResult(NamedTuple):
    """A redacted text with the findings (offsets into the *original* text).

    ``truncated`` is True when the input was longer than the detector's ``max_chars``:
    only the scanned prefix is returned, so no unscanned text leaks through.
    """

    text: str
    findings: list[Finding]
    truncated: bool = False

    @property
    def counts(self) -> dict[str, int]:
        """Findings per entity type.

        >>> RedactionResult("<IP_ADDRESS>", [Finding("IP_ADDRESS", 0, 7, 0.9)]).counts
        {'IP_ADDRESS': 1}
        """
        return count_types(self.findings)


class BatchRedaction(NamedTuple):
    """The result of :meth:`PiiDetector.redact_batch`: parallel plain lists, one item per text.

    ``counts[i]`` maps entity type to the number of findings in text ``i`` (only types
    found), and ``types[i]`` is the sorted list of those types, ready for a
    ``pii_types Array(String)`` column.
    """

    texts: list[str]
    findings: list[list[Finding]]
    counts: list[dict[str, int]]
    truncated: list[bool]

    @property
    def types(self) -> list[list[str]]:
        """Sorted distinct entity types per text.

        >>> BatchRedaction(["x"], [[]], [{"JWT": 1, "EMAIL_ADDRESS": 2}], [False]).types
        [['EMAIL_ADDRESS', 'JWT']]
        """
        return [sorted(c) for c in self.counts]
