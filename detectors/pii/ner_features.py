"""Word tokens and their features for the embedded NER tagger (shared by training and runtime).

A text is cut into word tokens (``\\w+`` runs joined by inner apostrophes or hyphens, so
``O'Brien``, ``Jean-Pierre`` and ``Maria's`` are one token each; every other non-space
character is a token of its own, and so is a run of line breaks, which tells a signature
or an address block from running text). Each token becomes four small integers:

``word``
    id of the lower-cased token in the bundle's vocabulary of *context* words (built from
    the non-entity words of the training corpus, so names are mostly unknown = 1 and the
    model has to rely on the other features and on context), 0 = padding.
``suffix``
    the last three lower-cased characters, hashed (crc32) into ``SUFFIX_BUCKETS``.
``shape``
    capitalisation and script class (see :data:`SHAPES`).
``lexicon``
    bit set: first name (1), surname (2), place (4), street word (8), from the bundle's
    lexicons.

The four are packed into one ``int64`` per distinct token string and cached, so a text
costs one regex ``findall`` plus one dict lookup per token; unpacking a whole batch is
four vectorised numpy bit operations.

Examples
--------
>>> tokens("Hi, I'm Jean-Pierre O'Brien.")
['Hi', ',', "I'm", 'Jean-Pierre', "O'Brien", '.']
>>> token_spans("Hi Ana")
[(0, 2), (3, 6)]
>>> f = Featurizer({"hi": 2}, first_names={"ana"})
>>> word, suffix, shape, lex = f.unpack(f.codes(["Hi", "Ana"]))
>>> word.tolist(), shape.tolist(), lex.tolist()
([2, 1], [2, 2], [0, 1])
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "LEX_FIRST",
    "LEX_LAST",
    "LEX_PLACE",
    "LEX_STREET",
    "SHAPES",
    "SUFFIX_BUCKETS",
    "TOKEN_RE",
    "Featurizer",
    "shape_of",
    "token_spans",
    "tokens",
]

TOKEN_RE = re.compile(r"\w+(?:['’\-]\w+)*|[^\w\s]|\n+")

SUFFIX_BUCKETS = 1024
_WORD_BITS = 14
_SUFFIX_SHIFT = _WORD_BITS
_SHAPE_SHIFT = _SUFFIX_SHIFT + 10
_LEX_SHIFT = _SHAPE_SHIFT + 5
MAX_VOCAB = 1 << _WORD_BITS

LEX_FIRST, LEX_LAST, LEX_PLACE, LEX_STREET = 1, 2, 4, 8

#: Shape classes (0 is padding).
SHAPES: tuple[str, ...] = (
    "pad",
    "lower",
    "title",
    "upper",
    "single-upper",
    "digits",
    "alnum",
    "punct",
    "inner-caps",
    "uncased-script",
    "title-hyphen",
    "lower-nonascii",
    "title-nonascii",
    "other",
)
_SHAPE_ID = {name: i for i, name in enumerate(SHAPES)}


def tokens(text: str) -> list[str]:
    """Word tokens of ``text`` (see the module docstring).

    >>> tokens("14 Rue des Lilas, 69003 Lyon")
    ['14', 'Rue', 'des', 'Lilas', ',', '69003', 'Lyon']
    """
    return TOKEN_RE.findall(text)


def token_spans(text: str) -> list[tuple[int, int]]:
    """Code-point ``(start, end)`` of each token of :func:`tokens`.

    >>> token_spans("a, b\\n\\nc")
    [(0, 1), (1, 2), (3, 4), (4, 6), (6, 7)]
    """
    return [m.span() for m in TOKEN_RE.finditer(text)]


def shape_of(token: str) -> int:
    """Shape class id of one token (an index into :data:`SHAPES`).

    >>> [SHAPES[shape_of(t)] for t in ["maria", "Maria", "IBM", "J", "2024", "iPhone", "Łukasz", "王"]]
    ['lower', 'title', 'upper', 'single-upper', 'digits', 'inner-caps', 'title-nonascii', 'uncased-script']
    """
    if token.isdigit():
        return _SHAPE_ID["digits"]
    if not token[0].isalnum() and (len(token) == 1 or token[0] == "\n"):
        return _SHAPE_ID["punct"]
    ascii_ = token.isascii()
    if token.islower():
        return _SHAPE_ID["lower" if ascii_ else "lower-nonascii"]
    if token.isupper():
        return _SHAPE_ID["single-upper" if len(token) == 1 else "upper"]
    if token.istitle():
        if "-" in token:
            return _SHAPE_ID["title-hyphen"]
        return _SHAPE_ID["title" if ascii_ else "title-nonascii"]
    if any(c.isdigit() for c in token):
        return _SHAPE_ID["alnum"]
    if token.isalpha() and not any(c.isupper() or c.islower() for c in token):
        return _SHAPE_ID["uncased-script"]
    if any(c.isupper() for c in token[1:]):
        return _SHAPE_ID["inner-caps"]
    return _SHAPE_ID["other"]


def _norm(word: str) -> str:
    return word.lower().replace("’", "'")


class Featurizer:
    """Token strings → packed feature codes → four id arrays.

    Parameters
    ----------
    vocab
        Lower-cased context word → id (ids from 2; 0 padding, 1 unknown).
    first_names, last_names, places, street_words
        Lower-cased lexicons for the ``lexicon`` bits.
    cache_size
        Distinct token strings kept; the cache is emptied when it is full.

    Examples
    --------
    >>> f = Featurizer({}, places={"lyon"})
    >>> f.unpack(f.codes(["Lyon"]))[3].tolist()
    [4]
    """

    def __init__(
        self,
        vocab: Mapping[str, int],
        *,
        first_names: Iterable[str] = (),
        last_names: Iterable[str] = (),
        places: Iterable[str] = (),
        street_words: Iterable[str] = (),
        cache_size: int = 200_000,
    ) -> None:
        if vocab and max(vocab.values()) >= MAX_VOCAB:
            raise ValueError(f"vocabulary ids must be below {MAX_VOCAB}")
        self.vocab = dict(vocab)
        self._first = frozenset(first_names)
        self._last = frozenset(last_names)
        self._places = frozenset(places)
        self._street = frozenset(street_words)
        self._cache: dict[str, int] = {}
        self._cache_size = cache_size

    def lexicon_bits(self, word: str) -> int:
        """The lexicon bit set of one lower-cased word (a possessive ``'s`` is ignored)."""
        if word.endswith("'s"):
            word = word[:-2]
        bits = 0
        if word in self._first:
            bits |= LEX_FIRST
        if word in self._last:
            bits |= LEX_LAST
        if word in self._places:
            bits |= LEX_PLACE
        if word in self._street:
            bits |= LEX_STREET
        return bits

    def _compute(self, token: str) -> int:
        low = _norm(token)
        word = self.vocab.get(low, 1)
        suffix = zlib.crc32(low[-3:].encode("utf-8", "surrogatepass")) % SUFFIX_BUCKETS
        code = (
            word
            | (suffix << _SUFFIX_SHIFT)
            | (shape_of(token) << _SHAPE_SHIFT)
            | (self.lexicon_bits(low) << _LEX_SHIFT)
        )
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[token] = code
        return code

    def codes(self, toks: Sequence[str]) -> list[int]:
        """Packed feature code per token (cached per distinct token string)."""
        get = self._cache.get
        compute = self._compute
        return [get(t) or compute(t) for t in toks]

    @staticmethod
    def unpack(codes: np.ndarray | Sequence[int]) -> tuple[np.ndarray, ...]:
        """``(word, suffix, shape, lexicon)`` int64 arrays from packed codes (0 stays 0)."""
        c = np.asarray(codes, dtype=np.int64)
        return (
            c & (MAX_VOCAB - 1),
            (c >> _SUFFIX_SHIFT) & (SUFFIX_BUCKETS - 1),
            (c >> _SHAPE_SHIFT) & 31,
            (c >> _LEX_SHIFT) & 15,
        )
