"""Text → token ids for one bundle member, with the member's truncation rules.

Tokenization runs in the Rust ``tokenizers`` library (batched, no Python per-token
work). Texts are made safe first: lone surrogates (which ``tokenizers`` refuses) become
U+FFFD and a text is cut to a character budget before tokenizing, so a 1 MB text costs
no more than a long paragraph; the token budget (``max_length``) then truncates it.

Example
-------
>>> from detectors.toxicity.bundle import default_bundle_dir, load_bundle
>>> b = load_bundle(default_bundle_dir())
>>> enc = MemberEncoder.from_bundle(b, b.members[0])
>>> ids = enc.encode(["You are an idiot", ""])
>>> [len(x) for x in ids]
[4, 0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tokenizers import Tokenizer

from detectors.toxicity.bundle import Bundle, BundleError, MemberSpec

__all__ = ["CHARS_PER_TOKEN_BUDGET", "MemberEncoder", "sanitize_text"]

#: Characters kept per token of budget before tokenizing (a generous upper bound:
#: real tokens average 4-6 characters, so truncation by tokens still decides).
CHARS_PER_TOKEN_BUDGET = 24

#: A tokenizer that loads with fewer entries than this is broken (e.g. a fallback
#: tokenizer built when the real files could not be read).
MIN_VOCAB_SIZE = 1000


def sanitize_text(text: object) -> str:
    """Return a string ``tokenizers`` accepts: lone surrogates → U+FFFD, non-str → ``str()``.

    >>> sanitize_text("ok \\ud800 end")
    'ok \\ufffd end'
    >>> sanitize_text("\\ud83d\\ude00") == "\\U0001f600"
    True
    >>> sanitize_text(b"\\xff\\xfeabc")
    '\\ufffd\\ufffdabc'
    >>> sanitize_text(None)
    ''
    """
    if text is None:
        return ""
    if isinstance(text, bytes | bytearray):
        return bytes(text).decode("utf-8", "replace")
    if not isinstance(text, str):
        text = str(text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Through UTF-16: a valid surrogate pair becomes its character, a lone one U+FFFD.
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


class MemberEncoder:
    """Encodes texts into id arrays for one member.

    Parameters
    ----------
    tokenizer
        A loaded ``tokenizers.Tokenizer``.
    spec
        The member's manifest entry.

    Examples
    --------
    >>> from detectors.toxicity.bundle import default_bundle_dir, load_bundle
    >>> b = load_bundle(default_bundle_dir())
    >>> enc = MemberEncoder.from_bundle(b, b.members[1])
    >>> enc.encode(["x" * 1_000_000])[0].shape[0] <= b.members[1].max_length
    True
    """

    def __init__(self, tokenizer: Tokenizer, spec: MemberSpec) -> None:
        vocab = tokenizer.get_vocab_size(with_added_tokens=True)
        if vocab < MIN_VOCAB_SIZE:
            raise BundleError(
                f"member {spec.name}: tokenizer has only {vocab} entries (expected > "
                f"{MIN_VOCAB_SIZE}); the tokenizer files are wrong or incomplete: re-export the bundle"
            )
        self.spec = spec
        self.tokenizer = tokenizer
        self.tokenizer.no_padding()
        if spec.special_tokens:
            # Specials ([CLS] … [SEP]) must survive truncation: let the tokenizer truncate.
            self.tokenizer.enable_truncation(
                spec.max_length, direction="left" if spec.truncation_side == "left" else "right"
            )
        else:
            self.tokenizer.no_truncation()
        self._drop = np.asarray(spec.drop_ids, dtype=np.int64)
        self._char_budget = spec.max_length * CHARS_PER_TOKEN_BUDGET

    @classmethod
    def from_bundle(cls, bundle: Bundle, spec: MemberSpec) -> MemberEncoder:
        """Load the member's tokenizer file from the bundle."""
        path = bundle.file(spec.tokenizer)
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as e:  # tokenizers raises a bare Exception on malformed JSON
            raise BundleError(f"member {spec.name}: cannot load tokenizer {path}: {e}") from e
        return cls(tok, spec)

    def _prepare(self, texts: Sequence[str]) -> list[str]:
        budget = self._char_budget
        left = self.spec.truncation_side == "left"
        out = []
        for t in texts:
            s = sanitize_text(t)
            if len(s) > budget:
                s = s[-budget:] if left else s[:budget]
            out.append(s)
        return out

    def encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Token ids (int64) per text, unknown/dropped ids removed and truncated to ``max_length``."""
        prepared = self._prepare(texts)
        # encode_batch_fast (tokenizers >= 0.20) skips character offsets, which we never use:
        # about 30% less tokenizer time on chat-length texts.
        encode_batch = getattr(self.tokenizer, "encode_batch_fast", self.tokenizer.encode_batch)
        encodings = encode_batch(prepared, add_special_tokens=self.spec.special_tokens)
        n = self.spec.max_length
        left = self.spec.truncation_side == "left"
        drop = self._drop
        single = int(drop[0]) if drop.size == 1 else None
        result: list[np.ndarray] = []
        for e in encodings:
            ids = np.asarray(e.ids, dtype=np.int64)
            if single is not None:
                ids = ids[ids != single]
            elif drop.size:
                ids = ids[~np.isin(ids, drop)]
            if ids.shape[0] > n:
                ids = ids[-n:] if left else ids[:n]
            result.append(ids)
        return result
