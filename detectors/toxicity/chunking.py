"""Split long texts into sentence-aligned chunks, so one rude sentence is not averaged away.

Comment-level models (Detoxify, the default ensemble) score a text as a whole: a single
insult inside a 600-character helpful answer scores like the helpful answer (measured:
0.10-0.18 for the default bundle, against 0.7-0.8 for the insult alone). Scoring chunks of
a few sentences and keeping the maximum per label finds it, at the cost of one model input
per chunk.

Example
-------
>>> chunks, owner = chunk_texts(["Short one.", "First sentence here. Second one! Third?"], 25)
>>> chunks
['Short one.', 'First sentence here.', 'Second one! Third?']
>>> owner.tolist()
[0, 1, 1]
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

__all__ = ["chunk_texts", "max_per_owner"]

# A sentence ends at . ! ? or a line break, followed by white space.
_SENTENCE_END = re.compile(r"(?<=[.!?\n])\s+")


def _chunks_of(text: str, max_chars: int) -> list[str]:
    if len(text) <= max_chars:
        return [text]
    out: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(text):
        if not sentence:
            continue
        while len(sentence) > max_chars:  # a run-on "sentence": hard split
            if current:
                out.append(current)
                current = ""
            out.append(sentence[:max_chars])
            sentence = sentence[max_chars:]
        if current and len(current) + 1 + len(sentence) > max_chars:
            out.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        out.append(current)
    return out or [text[:max_chars]]


def chunk_texts(texts: Sequence[str], max_chars: int) -> tuple[list[str], np.ndarray]:
    """Chunks of at most ``max_chars`` characters, and the index of the text each came from.

    Sentences are kept whole where they fit; every text yields at least one chunk (an
    empty text yields ``""``), in order, so ``owner`` is sorted.

    >>> chunk_texts(["", "abc"], 2)[0]
    ['', 'ab', 'c']
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    chunks: list[str] = []
    owner: list[int] = []
    for i, text in enumerate(texts):
        parts = _chunks_of(text, max_chars)
        chunks.extend(parts)
        owner.extend([i] * len(parts))
    return chunks, np.asarray(owner, dtype=np.int64)


def max_per_owner(values: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """The maximum of ``values`` per owner ``0..n-1`` (``owner`` sorted, every owner present).

    >>> max_per_owner(np.array([0.1, 0.7, 0.2], dtype=np.float32), np.array([0, 1, 1]), 2)
    array([0.1, 0.7], dtype=float32)
    """
    if n == 0:
        return values[:0]
    starts = np.searchsorted(owner, np.arange(n))
    return np.maximum.reduceat(values, starts)
