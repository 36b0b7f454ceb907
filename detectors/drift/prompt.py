"""Cheap prompt signals for drift: length, a text signature, embedding projections.

* ``prompt.length`` (characters) goes to the numeric detector;
* ``prompt.signature`` is a small categorical code per prompt, from its first
  ``SAMPLE_CHARS`` characters: dominant script (latin, cyrillic, greek, arabic, hebrew,
  devanagari, CJK, hangul, other, none), log2 length bucket, digit-share bucket and a
  code/markup flag. It goes to the categorical detector, so a shift in the mix of
  languages, lengths, numeric payloads or pasted code shows as a distribution change;
* an embedding taken from an event's ``features`` entry is reduced to a few fixed random
  projections (seeded by the embedding dimension, so every process agrees), each a
  numeric signal.

All three are batch functions over lists/arrays, numpy inside.

Example
-------
>>> sig = prompt_signals(["Hello, how are you?", "Wie spät ist es?", "東京の天気は?"])
>>> sig["prompt.length"].tolist()
[19.0, 16.0, 7.0]
>>> [describe_signature(c) for c in sig["prompt.signature"]]
['latin/len15/digits0/text', 'latin/len15/digits0/text', 'cjk/len7/digits0/text']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SAMPLE_CHARS = 512
SCRIPTS = (
    "none",
    "latin",
    "greek",
    "cyrillic",
    "hebrew",
    "arabic",
    "devanagari",
    "cjk",
    "hangul",
    "other",
)
# (first code point of a range, class). Classes: 0 other-non-letter, 1 digit, 2 markup,
# 10 + script index for letters.
_RANGES: list[tuple[int, int]] = [
    (0x00, 0),
    (0x30, 1),
    (0x3A, 0),
    (0x41, 11),
    (0x5B, 0),
    (0x61, 11),
    (0x7B, 2),
    (0x7F, 0),
    (0xC0, 11),
    (0x250, 19),
    (0x370, 12),
    (0x400, 13),
    (0x530, 19),
    (0x590, 14),
    (0x600, 15),
    (0x700, 19),
    (0x900, 16),
    (0x980, 19),
    (0x1100, 18),
    (0x1200, 19),
    (0x1E00, 11),
    (0x1F00, 12),
    (0x2000, 0),
    (0x2E80, 17),
    (0xA000, 19),
    (0xAC00, 18),
    (0xD7B0, 19),
    (0xF900, 17),
    (0xFB00, 19),
    (0x10000, 19),
    (0x1F000, 0),
    (0x20000, 17),
]
_BOUNDS = np.array([r[0] for r in _RANGES], dtype=np.int64)
_CLASS = np.array([r[1] for r in _RANGES], dtype=np.int64)
_MARKUP_ASCII = set(map(ord, "<>[]=;#`$\\|"))
_N_CLASSES = 10 + len(SCRIPTS)
_LEN_BUCKETS = 16


def prompt_lengths(texts: Sequence[str | None]) -> np.ndarray:
    """Length in characters (``nan`` for a missing prompt).

    >>> prompt_lengths(["abc", None]).tolist()
    [3.0, nan]
    """
    return np.array([np.nan if t is None else float(len(t)) for t in texts], dtype=np.float64)


def signature_codes(texts: Sequence[str | None]) -> np.ndarray:
    """Signature code of each prompt (an int; see :func:`describe_signature`).

    >>> describe_signature(signature_codes(["def f(x): return {x: [1, 2]}"])[0])
    'latin/len15/digits1/code'
    """
    n = len(texts)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    samples = ["" if t is None else t[:SAMPLE_CHARS] for t in texts]
    lens = np.array([0 if t is None else len(t) for t in texts], dtype=np.int64)
    cps = np.frombuffer("".join(samples).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    sample_len = np.array([len(s) for s in samples], dtype=np.int64)
    owner = np.repeat(np.arange(n), sample_len)
    cls = _CLASS[np.searchsorted(_BOUNDS, cps, side="right") - 1]
    markup_ascii = np.isin(cps, list(_MARKUP_ASCII))
    cls = np.where(markup_ascii, 2, cls)
    hist = np.zeros((n, _N_CLASSES), dtype=np.int64)
    np.add.at(hist, (owner, cls), 1)
    letters = hist[:, 10:].copy()
    letters[:, 0] = 0
    script = np.where(letters.sum(axis=1) > 0, letters.argmax(axis=1), 0)
    denom = np.maximum(sample_len, 1)
    digit_share = hist[:, 1] / denom
    digits = np.select([hist[:, 1] == 0, digit_share < 0.1], [0, 1], 2)
    markup = (hist[:, 2] / denom >= 0.05).astype(np.int64)
    len_bucket = np.minimum(np.floor(np.log2(lens + 1)).astype(np.int64), _LEN_BUCKETS - 1)
    return ((script * _LEN_BUCKETS + len_bucket) * 3 + digits) * 2 + markup


def describe_signature(code: int) -> str:
    """Readable form of a signature code: ``script/lenN/digitsD/text|code``.

    ``lenN`` is the lower bound of the length bucket (powers of two), ``digits`` 0 = none,
    1 = under 10 %, 2 = 10 % or more.

    >>> describe_signature(0)
    'none/len0/digits0/text'
    """
    code = int(code)
    markup = code % 2
    code //= 2
    digits = code % 3
    code //= 3
    length = code % _LEN_BUCKETS
    script = code // _LEN_BUCKETS
    low = 0 if length == 0 else 2**length - 1
    return f"{SCRIPTS[script]}/len{low}/digits{digits}/{'code' if markup else 'text'}"


def embedding_projections(
    embeddings: np.ndarray, n_components: int = 4, seed: int = 0
) -> np.ndarray:
    """Fixed random projections of L2-normalised embeddings, shape ``(n, n_components)``.

    The projection matrix depends only on ``(dim, n_components, seed)``, so every worker
    and every replay computes the same signals. Rows with a non-finite or zero embedding
    give ``nan`` (skipped by the detectors).

    >>> e = np.random.default_rng(0).normal(size=(3, 384))
    >>> p = embedding_projections(e)
    >>> p.shape, bool(np.allclose(p, embedding_projections(e)))
    ((3, 4), True)
    """
    e = np.asarray(embeddings, dtype=np.float64)
    if e.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (n, dim), got shape {e.shape}")
    dim = e.shape[1]
    proj = np.random.default_rng([seed, dim, n_components]).normal(size=(dim, n_components))
    proj /= np.sqrt(dim)
    norms = np.linalg.norm(e, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (e / norms) @ proj
    out[~np.isfinite(out).all(axis=1) | (norms[:, 0] == 0)] = np.nan
    return out * np.sqrt(dim)


def prompt_signals(texts: Sequence[str | None]) -> dict[str, np.ndarray]:
    """``{"prompt.length": float array, "prompt.signature": int codes}`` for a batch."""
    return {"prompt.length": prompt_lengths(texts), "prompt.signature": signature_codes(texts)}
