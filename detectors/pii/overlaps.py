"""Resolve overlapping candidates from different recognizers into disjoint findings.

The longest span wins; between spans of equal length the higher score wins, then the
earlier start. This keeps a private key whole even when its base64 body happens to
contain something token-shaped, and prefers a card number over a phone-shaped part of it.

Examples
--------
>>> from detectors.pii.findings import Finding
>>> resolve_overlaps([Finding("PHONE_NUMBER", 5, 17, 0.6), Finding("CREDIT_CARD", 0, 19, 1.0),
...                   Finding("EMAIL_ADDRESS", 20, 31, 0.9)])
[Finding(type='CREDIT_CARD', start=0, end=19, score=1.0), Finding(type='EMAIL_ADDRESS', start=20, end=31, score=0.9)]
"""

from __future__ import annotations

from bisect import bisect_left, insort
from itertools import pairwise

from detectors.pii.findings import Finding

__all__ = ["resolve_overlaps"]


def _priority(f: Finding) -> tuple[int, float, int]:
    return (f.start - f.end, -f.score, f.start)


def resolve_overlaps(candidates: list[Finding]) -> list[Finding]:
    """Return disjoint findings sorted by start (see the module docstring).

    Runs in O(n log n); the common case (no overlap at all) is one sort and one pass.

    >>> resolve_overlaps([])
    []
    """
    if len(candidates) < 2:
        return list(candidates)
    ordered = sorted(candidates, key=lambda f: (f.start, f.end))
    if all(a.end <= b.start for a, b in pairwise(ordered)):
        return ordered
    starts: list[int] = []
    kept: dict[int, Finding] = {}
    for f in sorted(candidates, key=_priority):
        i = bisect_left(starts, f.start)
        # Neighbours in start order: the kept span before and the one at/after f.start.
        if i > 0 and kept[starts[i - 1]].end > f.start:
            continue
        if i < len(starts) and starts[i] < f.end:
            continue
        insort(starts, f.start)
        kept[f.start] = f
    return [kept[s] for s in starts]
