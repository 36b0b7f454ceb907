"""The PII detector: recognizers + allow-list + overlap resolution + redaction.

Construct it once per worker from configuration and call it per text or per batch; it
keeps no state between texts, so one instance is safe to share between threads.

Examples
--------
>>> det = PiiDetector(mode="replace")
>>> r = det.redact("Mail ana@example.org or call +1 415 555 0100.")
>>> r.text
'Mail <EMAIL_ADDRESS> or call <PHONE_NUMBER>.'
>>> [(f.type, f.start, f.end) for f in r.findings]
[('EMAIL_ADDRESS', 5, 20), ('PHONE_NUMBER', 29, 44)]
>>> det.redact_batch(["no pii here", "ip 10.1.2.3"]).counts
[{}, {'IP_ADDRESS': 1}]
>>> PiiDetector(ner=True).redact("Hi, I'm Maria José Gómez Ruiz, I live at 14 Rue des Lilas, Lyon").text
"Hi, I'm <PERSON>, I live at <LOCATION>"
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from detectors.pii.findings import BatchRedaction, Finding, RedactionResult, count_types
from detectors.pii.ner import NER_ENTITY_TYPES, NerTagger
from detectors.pii.overlaps import resolve_overlaps
from detectors.pii.recognizers import (
    ENTITY_TYPES,
    Recognizer,
    builtin_recognizers,
    custom_recognizer,
)
from detectors.pii.redact import REDACTION_MODES, RedactionMode, redact_text
from detectors.pii.shape import text_shape

__all__ = ["DEFAULT_HMAC_KEY", "PiiConfig", "PiiDetector"]

log = logging.getLogger(__name__)

DEFAULT_HMAC_KEY = "tocsin-default-key-change-me"


class PiiConfig(Protocol):
    """What :meth:`PiiDetector.from_config` reads (``tocsin.settings.PiiSettings`` fits).

    ``hmac_key`` may be a ``str``, ``bytes`` or anything with ``get_secret_value()``.
    """

    @property
    def enabled(self) -> bool: ...
    @property
    def entities(self) -> Sequence[str] | None: ...
    @property
    def allow_list(self) -> Sequence[str]: ...
    @property
    def custom_patterns(self) -> Mapping[str, str]: ...
    @property
    def mode(self) -> str: ...
    @property
    def hmac_key(self) -> Any: ...
    @property
    def max_chars(self) -> int: ...


# Optional settings read by from_config when present (tocsin.settings.PiiSettings has them).
_NER_CONFIG = {
    "ner": "ner",
    "ner_model_dir": "ner_model_dir",
    "ner_providers": "ner_providers",
    "ner_batch_size": "ner_batch_size",
    "ner_threads": "ner_threads",
    "ner_max_chars": "ner_max_chars",
}


def _outside(ner: list[Finding], patterns: list[Finding], text: str) -> list[Finding]:
    """NER spans with the parts covered by pattern findings cut out.

    Validated patterns (checksums, formats) are more precise than a tagger: a card number
    or an e-mail inside a tagged span stays a card or an e-mail, and what the tagger found
    around it is kept on each side.

    >>> ner = [Finding("LOCATION", 0, 29, 0.8)]
    >>> _outside(ner, [Finding("PHONE_NUMBER", 15, 29, 0.6)], "12 Elm Street, 06 12 34 56 78")
    [Finding(type='LOCATION', start=0, end=13, score=0.8)]
    """
    out: list[Finding] = []
    for f in ner:
        pieces = [(f.start, f.end)]
        for p in patterns:
            if p.start < f.end and f.start < p.end:
                nxt: list[tuple[int, int]] = []
                for s, e in pieces:
                    if p.start < e and s < p.end:
                        nxt.extend(x for x in ((s, p.start), (p.end, e)) if x[1] > x[0])
                    else:
                        nxt.append((s, e))
                pieces = nxt
        for s, e in pieces:
            while s < e and not text[s].isalnum():
                s += 1
            while e > s and not text[e - 1].isalnum():
                e -= 1
            if e - s > 1:
                out.append(f._replace(start=s, end=e))
    return out


class PiiDetector:
    """Detect and redact PII and secrets in texts.

    Parameters
    ----------
    entities : iterable of str or comma-separated str, optional
        Built-in entity types to detect (case-insensitive); ``None`` (default) means all
        of :data:`ENTITY_TYPES`. Custom patterns always run.
    allow_list : iterable of str
        Values never reported (compared case-insensitively with the matched text), e.g. a
        public support address.
    custom_patterns : mapping of str to str
        Extra ``ENTITY_NAME -> regular expression`` recognizers (Python ``re`` syntax;
        score 0.6; no validator). Names are upper-case identifiers.
    mode : {"replace", "hash", "drop"}
        How :meth:`redact` rewrites spans (see :mod:`detectors.pii.redact`).
    hmac_key : str or bytes
        Key for ``hash`` mode. Keep it secret and stable: tokens are only comparable
        under one key.
    max_chars : int
        Only the first ``max_chars`` code points of a text are scanned. :meth:`redact`
        returns only that prefix (``truncated=True``) so unscanned text never leaks.
    enabled : bool
        When False nothing is detected and :meth:`redact` returns texts unchanged.
    ner : bool
        Find ``PERSON`` and ``LOCATION`` with the ONNX NER bundle (default False: opt-in,
        see README). Only when those types are selected; ``False`` keeps the detector
        pattern-only.
    ner_model_dir : path, optional
        NER bundle directory; ``None`` = the bundle shipped with tocsin.
    ner_providers : list of str, optional
        ONNX Runtime providers; ``None`` = CUDA when available, else CPU.
    ner_batch_size, ner_threads : int
        Rows per ONNX run (after length bucketing) and ONNX threads.
    ner_max_chars : int
        NER reads the first ``ner_max_chars`` code points of a text (patterns read up to
        ``max_chars``): a megabyte paste costs the tagger ~3 s on one core, a prompt a few
        hundred microseconds.

    Attributes
    ----------
    entities : tuple of str
        The entity types this detector reports (built-in and custom).

    Examples
    --------
    >>> det = PiiDetector(entities=["US_SSN"], custom_patterns={"TICKET": r"TCK-\\d{4}"})
    >>> [f.type for f in det.analyze("SSN 536-90-4399, TCK-1234, a@b.example")]
    ['US_SSN', 'TICKET']
    >>> PiiDetector(mode="hash", hmac_key="k").redact("ip 10.0.0.1").text
    'ip <IP_ADDRESS:...>'
    """

    def __init__(
        self,
        entities: Iterable[str] | None = None,
        allow_list: Iterable[str] = (),
        custom_patterns: Mapping[str, str] | None = None,
        mode: RedactionMode | str = "replace",
        hmac_key: str | bytes = DEFAULT_HMAC_KEY,
        max_chars: int = 1_000_000,
        enabled: bool = True,
        ner: bool = False,
        ner_model_dir: str | Path | None = None,
        ner_providers: Sequence[str] | None = None,
        ner_batch_size: int = 256,
        ner_threads: int = 1,
        ner_max_chars: int = 100_000,
    ) -> None:
        if mode not in REDACTION_MODES:
            raise ValueError(
                f"unknown PII redaction mode {mode!r}: use one of {', '.join(REDACTION_MODES)}"
            )
        if max_chars < 1:
            raise ValueError(f"max_chars must be at least 1, got {max_chars}")
        if isinstance(entities, str):  # "EMAIL_ADDRESS,IP_ADDRESS" from a command line or env
            entities = entities.split(",")
        selected = (
            set(ENTITY_TYPES)
            if entities is None
            else {e.strip().upper() for e in entities if e.strip()}
        )
        unknown = selected - set(ENTITY_TYPES)
        if unknown:
            raise ValueError(
                f"unknown PII entity type(s) {sorted(unknown)}: supported are "
                f"{', '.join(ENTITY_TYPES)} (add others through custom_patterns)"
            )
        recognizers: list[Recognizer] = builtin_recognizers(frozenset(selected))
        for name, pattern in (custom_patterns or {}).items():
            if not (name.isidentifier() and name.isupper()):
                raise ValueError(
                    f"custom PII pattern name {name!r} must be an upper-case identifier "
                    "such as EMPLOYEE_ID"
                )
            recognizers.append(custom_recognizer(name, pattern))
        self._finders = tuple(r.find for r in recognizers)
        custom = tuple((custom_patterns or {}).keys())
        builtin = tuple(e for e in ENTITY_TYPES if e in selected)
        self.entities: tuple[str, ...] = tuple(dict.fromkeys(builtin + custom))
        self._allow = frozenset(v.casefold() for v in allow_list)
        self.mode: RedactionMode = mode  # type: ignore[assignment]
        self._key = hmac_key.encode() if isinstance(hmac_key, str) else bytes(hmac_key)
        self.max_chars = max_chars
        self.enabled = enabled
        self.ner_max_chars = max(1, int(ner_max_chars))
        self._ner_types = frozenset(selected & set(NER_ENTITY_TYPES))
        self._ner: NerTagger | None = None
        if ner and enabled and self._ner_types:
            self._ner = NerTagger.default(
                ner_model_dir,
                providers=None if ner_providers is None else tuple(ner_providers),
                batch_size=ner_batch_size,
                intra_op_threads=ner_threads,
            )
        elif not ner:
            self.entities = tuple(e for e in self.entities if e not in NER_ENTITY_TYPES)
        if mode == "hash" and self._key == DEFAULT_HMAC_KEY.encode():
            log.warning(
                "PII hash mode uses the built-in default key: set TOCSIN_PII__HMAC_KEY to a "
                "secret so tokens cannot be reversed by hashing guesses"
            )

    @classmethod
    def from_config(cls, config: PiiConfig, **overrides: Any) -> PiiDetector:
        """Build a detector from a settings object such as ``tocsin.settings.PiiSettings``.

        >>> from types import SimpleNamespace
        >>> cfg = SimpleNamespace(enabled=True, entities=None, allow_list=[],
        ...                       custom_patterns={}, mode="drop", hmac_key="k", max_chars=100)
        >>> PiiDetector.from_config(cfg).redact("ip 10.0.0.1!").text
        'ip !'
        """
        key = config.hmac_key
        if hasattr(key, "get_secret_value"):
            key = key.get_secret_value()
        kwargs: dict[str, Any] = {
            "entities": config.entities,
            "allow_list": config.allow_list,
            "custom_patterns": config.custom_patterns,
            "mode": config.mode,
            "hmac_key": key,
            "max_chars": config.max_chars,
            "enabled": config.enabled,
        }
        for attr, kw in _NER_CONFIG.items():
            if hasattr(config, attr):
                kwargs[kw] = getattr(config, attr)
        kwargs.update(overrides)
        return cls(**kwargs)

    def analyze(self, text: str) -> list[Finding]:
        """Findings in ``text``, disjoint and sorted by start.

        Offsets are code-point indices into ``text``; only the first ``max_chars`` are
        scanned.

        >>> PiiDetector().analyze("key AKIAIOSFODNN7EXAMPLE")
        [Finding(type='AWS_ACCESS_KEY', start=4, end=24, score=0.95)]
        """
        if not isinstance(text, str):
            raise TypeError(
                f"PiiDetector.analyze expects str, got {type(text).__name__}: decode bytes "
                "first (e.g. data.decode('utf-8', errors='replace'))"
            )
        if not self.enabled or not text:
            return []
        if len(text) > self.max_chars:
            text = text[: self.max_chars]
        return self._analyze_one(text, self._ner_findings([text])[0])

    def _ner_findings(self, texts: Sequence[str]) -> list[list[Finding]]:
        """PERSON/LOCATION findings per (already truncated) text; empty without NER."""
        if self._ner is None:
            return [[] for _ in texts]
        cap = self.ner_max_chars
        found = self._ner.tag_batch([t[:cap] if len(t) > cap else t for t in texts])
        if len(self._ner_types) < len(NER_ENTITY_TYPES):
            found = [[f for f in fs if f.type in self._ner_types] for fs in found]
        return found

    def _analyze_one(self, text: str, extra: list[Finding]) -> list[Finding]:
        shape = text_shape(text)
        found: list[Finding] = []
        for find in self._finders:
            find(text, shape, found)
        if extra:
            found = found + _outside(extra, found, text) if found else list(extra)
        if not found:
            return found
        if self._allow:
            found = [f for f in found if text[f.start : f.end].casefold() not in self._allow]
        return resolve_overlaps(found)

    def redact(self, text: str) -> RedactionResult:
        """Redact ``text`` with the configured mode.

        >>> PiiDetector().redact("SSN 536-90-4399").text
        'SSN <US_SSN>'
        """
        findings = self.analyze(text)
        if not self.enabled:
            return RedactionResult(text, findings, False)
        return self._redacted(text, findings)

    def _redacted(self, text: str, findings: list[Finding]) -> RedactionResult:
        truncated = len(text) > self.max_chars
        if truncated:
            text = text[: self.max_chars]
        return RedactionResult(
            redact_text(text, findings, self.mode, self._key), findings, truncated
        )

    def mask_bytes(self, data: bytes) -> tuple[bytes, int]:
        """``data`` with each PII span overwritten by ``*`` bytes of the same length.

        For records that could not be decoded (dead letters): the byte layout stays as it
        was (Avro length prefixes stay valid) and bytes that are not UTF-8 are kept, so the
        stored copy still shows what was wrong with the record, without the personal data.
        Returns the masked bytes and how many spans were masked.

        Only the pattern recognizers run here: the NER tagger reads prose, and on binary
        framing and field names it masks diagnostic bytes ("bad_magic") as names.

        >>> PiiDetector().mask_bytes(b"\\x00\\x0email a@b.example \\xff")
        (b'\\x00\\x0email *********** \\xff', 1)
        """
        text = data.decode("utf-8", "surrogateescape")
        if not self.enabled or not text:
            return data, 0
        findings = self._analyze_one(text[: self.max_chars], [])
        if not findings:
            return data, 0
        out = bytearray()
        pos = 0
        for f in findings:
            out += text[pos : f.start].encode("utf-8", "surrogateescape")
            out += b"*" * len(text[f.start : f.end].encode("utf-8", "surrogateescape"))
            pos = f.end
        out += text[pos:].encode("utf-8", "surrogateescape")
        return bytes(out), len(findings)

    def analyze_batch(self, texts: Sequence[str]) -> list[list[Finding]]:
        """:meth:`analyze` for each text, as a plain list.

        >>> PiiDetector().analyze_batch(["", "10.0.0.1"])
        [[], [Finding(type='IP_ADDRESS', start=0, end=8, score=0.85)]]
        """
        if self._ner is None or not self.enabled:
            if not self.enabled:
                return [self.analyze(t) for t in texts]
            # analyze() inlined: the worker calls this for every prompt and answer
            one, cap, out = self._analyze_one, self.max_chars, []
            for t in texts:
                if not isinstance(t, str):
                    self.analyze(t)  # raises the TypeError that says what to do
                out.append(one(t if len(t) <= cap else t[:cap], []) if t else [])
            return out
        for t in texts:
            if not isinstance(t, str):
                self.analyze(t)  # raises the TypeError that says what to do
        cut = [t[: self.max_chars] if len(t) > self.max_chars else t for t in texts]
        # One batched NER run for the whole batch (length-bucketed ONNX), then the patterns.
        extra = self._ner_findings(cut)
        return [self._analyze_one(t, e) if t else [] for t, e in zip(cut, extra, strict=True)]

    def redact_batch(self, texts: Sequence[str]) -> BatchRedaction:
        """:meth:`redact` for each text, as parallel plain lists plus per-type counts.

        >>> b = PiiDetector().redact_batch(["a@b.example", "none"])
        >>> b.texts, b.counts, b.types
        (['<EMAIL_ADDRESS>', 'none'], [{'EMAIL_ADDRESS': 1}, {}], [['EMAIL_ADDRESS'], []])
        """
        if not self.enabled:
            return BatchRedaction(
                list(texts), [[] for _ in texts], [{} for _ in texts], [False] * len(texts)
            )
        findings = self.analyze_batch(texts)
        # _redacted() inlined, without a RedactionResult per text
        cap, mode, key = self.max_chars, self.mode, self._key
        out_texts: list[str] = []
        out_counts: list[dict[str, int]] = []
        out_truncated: list[bool] = []
        for t, found in zip(texts, findings, strict=True):
            truncated = len(t) > cap
            out_texts.append(redact_text(t[:cap] if truncated else t, found, mode, key))
            out_counts.append(count_types(found) if found else {})
            out_truncated.append(truncated)
        return BatchRedaction(out_texts, findings, out_counts, out_truncated)

    def __repr__(self) -> str:
        return (
            f"PiiDetector(entities={list(self.entities)}, mode={self.mode!r}, "
            f"max_chars={self.max_chars}, enabled={self.enabled}, ner={self._ner is not None})"
        )
