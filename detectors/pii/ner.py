"""PERSON and LOCATION findings from an ONNX token-classification bundle.

Two kinds of bundle share one format (``manifest.json`` with ``format:
tocsin-ner-bundle/1``, the sha256 of every file verified at load, ``labels.json`` with
BIO labels):

``word-cnn``
    tocsin's embedded default (``detectors/pii/bundles/ner-default``): word tokens with
    the features of :mod:`detectors.pii.ner_features`, inputs ``word``, ``suffix``,
    ``shape``, ``lexicon``. Trained by ``infra/models/build_ner_bundle.py``.
``hf-token-classification``
    a Hugging Face BERT/DeBERTa/XLM-R checkpoint exported by ``tocsin models export-ner``:
    a ``tokenizers`` file, inputs ``input_ids``/``attention_mask`` (and
    ``token_type_ids`` when the model has them), sub-word labels mapped to
    PERSON/LOCATION from the checkpoint's ``id2label``.

Decoding: B starts a span and I of the same type continues it; spans separated by one
space are joined (a name whose particle was tagged apart), as are address parts separated
by a comma; spans are trimmed to letters and digits; a span needs a word of two letters; in
a text that is not all lower-case, a span of lower-case words that no lexicon knows is
dropped; a LOCATION needs a word of three or more letters (numbers are not places) and is
dropped when it is only a country, region or nationality (the bundle's ``regions`` list) or
when its words are lower-case and none is a known place or street word; a LOCATION that
starts just after a street word ("Rue", "Street") and a house number is widened over them; a
LOCATION made only of words from the first-name and surname lexicons, with no place or
street word, is reported as a PERSON.

Sessions come from :mod:`detectors.toxicity.session` (CUDA first with IO binding, CPU
fallback, explicit thread counts), batches are length-bucketed and padded with
:mod:`detectors.toxicity.batching`, exactly as for toxicity.

Examples
--------
>>> tagger = NerTagger.default()
>>> [(f.type, f.start, f.end) for f in tagger.tag_batch(["Hi, I'm Maria José Gómez Ruiz."])[0]]
[('PERSON', 8, 29)]
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from detectors.pii.findings import Finding
from detectors.pii.ner_features import (
    LEX_FIRST,
    LEX_LAST,
    LEX_PLACE,
    LEX_STREET,
    TOKEN_RE,
    Featurizer,
)
from detectors.toxicity.batching import length_buckets
from detectors.toxicity.bundle import BundleError, file_sha256
from detectors.toxicity.session import OnnxModel, create_session, resolve_providers

__all__ = [
    "NER_ENTITY_TYPES",
    "NER_FORMAT",
    "NerBundle",
    "NerTagger",
    "default_ner_bundle_dir",
    "entity_of_label",
    "load_ner_bundle",
    "write_ner_manifest",
]

NER_FORMAT = "tocsin-ner-bundle/1"
NER_ENTITY_TYPES: tuple[str, ...] = ("PERSON", "LOCATION")
_MANIFEST = "manifest.json"
_LABELS = "labels.json"
_KINDS = ("word-cnn", "hf-token-classification")

# Label names of common NER checkpoints (CoNLL, OntoNotes, WikiNER, few-NERD, ...) → ours.
_WORD3 = re.compile(r"[^\W\d_]{3,}")
_LETTERS = re.compile(r"[^\W\d_]+")
_PERSON_NAMES = {"PER", "PERSON", "PERS", "PEOPLE", "NAME", "B-PER"}
_LOCATION_NAMES = {"LOC", "LOCATION", "ADDRESS", "STREET", "CITY", "FAC", "GPE_CITY"}


def entity_of_label(label: str) -> tuple[str | None, bool]:
    """Map a BIO label to ``(entity type or None, begins a span)``.

    >>> entity_of_label("B-PER"), entity_of_label("I-LOC"), entity_of_label("B-ORG")
    (('PERSON', True), ('LOCATION', False), (None, False))
    >>> entity_of_label("S-PERSON"), entity_of_label("O")
    (('PERSON', True), (None, False))
    """
    if label in ("O", ""):
        return None, False
    prefix, _, name = label.partition("-")
    if not name:  # no BIO prefix: IO scheme
        prefix, name = "I", label
    name = name.upper()
    begins = prefix.upper() in ("B", "S", "U")
    if name in _PERSON_NAMES:
        return "PERSON", begins
    if name in _LOCATION_NAMES:
        return "LOCATION", begins
    return None, False


def default_ner_bundle_dir() -> Path:
    """The NER bundle shipped with tocsin (``detectors/pii/bundles/ner-default``)."""
    return Path(__file__).resolve().parent / "bundles" / "ner-default"


@dataclass(frozen=True)
class NerBundle:
    """A verified NER bundle on disk.

    Attributes
    ----------
    path
        The bundle directory.
    manifest
        Parsed ``manifest.json``.
    kind
        ``word-cnn`` or ``hf-token-classification``.
    labels
        Model output labels (BIO), in output order.
    """

    path: Path
    manifest: Mapping[str, Any]
    kind: str
    labels: tuple[str, ...]

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", self.path.name))

    @property
    def version(self) -> str:
        return str(self.manifest.get("version", "0"))

    def file(self, rel: str) -> Path:
        return self.path / rel


def write_ner_manifest(
    root: Path,
    *,
    name: str,
    version: str,
    kind: str,
    license: str,
    labels: Sequence[str],
    inputs: Sequence[str],
    max_tokens: int,
    provenance: Mapping[str, Any],
    model: str = "model.onnx",
    model_fp16: str | None = None,
    tokenizer: str | None = None,
    features: str | None = "features.json",
) -> Path:
    """Write ``labels.json`` and ``manifest.json`` with the sha256 of every other file.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "model.onnx").write_bytes(b"x")
    >>> _ = write_ner_manifest(root, name="t", version="0", kind="hf-token-classification",
    ...     license="MIT", labels=["O", "B-PER"], inputs=["input_ids"], max_tokens=8,
    ...     provenance={}, tokenizer=None, features=None)
    >>> load_ner_bundle(root).labels
    ('O', 'B-PER')
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}")
    root = Path(root)
    (root / _LABELS).write_text(json.dumps(list(labels)) + "\n", encoding="utf-8")
    files = {
        p.relative_to(root).as_posix(): file_sha256(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != _MANIFEST
    }
    manifest = {
        "format": NER_FORMAT,
        "name": name,
        "version": version,
        "kind": kind,
        "license": license,
        "model": model,
        "model_fp16": model_fp16,
        "tokenizer": tokenizer,
        "features": features,
        "inputs": list(inputs),
        "max_tokens": int(max_tokens),
        "provenance": dict(provenance),
        "files": files,
    }
    out = root / _MANIFEST
    out.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise BundleError(
            f"{path} is missing: an NER bundle needs manifest.json and labels.json "
            "(build one with `tocsin models export-ner` or infra/models/build_ner_bundle.py)"
        ) from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{path} is not valid JSON ({e}); rebuild the bundle") from e


def load_ner_bundle(path: str | Path, *, verify: bool = True) -> NerBundle:
    """Read an NER bundle and (by default) verify the sha256 of every file.

    Raises
    ------
    BundleError
        Missing directory or file, wrong format, or a checksum mismatch naming the file.

    Examples
    --------
    >>> load_ner_bundle(default_ner_bundle_dir()).kind
    'word-cnn'
    """
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise BundleError(f"NER bundle directory {root} does not exist")
    manifest = _read_json(root / _MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != NER_FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else None
        raise BundleError(f"{root / _MANIFEST}: format is {got!r}, expected {NER_FORMAT!r}")
    kind = manifest.get("kind")
    if kind not in _KINDS:
        raise BundleError(f"{root / _MANIFEST}: kind {kind!r} is not one of {_KINDS}")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{root / _MANIFEST}: no 'files' checksums; rebuild the bundle")
    needed = {_LABELS, manifest.get("model")}
    needed.update(x for x in (manifest.get("tokenizer"), manifest.get("features")) if x)
    if manifest.get("model_fp16"):
        needed.add(manifest["model_fp16"])
    unlisted = sorted(str(x) for x in needed - set(files))
    if unlisted:
        raise BundleError(f"{root / _MANIFEST}: files {unlisted} have no checksum; rebuild")
    if verify:
        for rel, digest in files.items():
            p = root / rel
            if not p.is_file():
                raise BundleError(f"NER bundle {root}: file {rel} is missing")
            actual = file_sha256(p)
            if actual != digest:
                raise BundleError(
                    f"NER bundle {root}: checksum mismatch for {rel} (manifest {digest[:12]}…, "
                    f"file {actual[:12]}…): the file was modified or corrupted; restore it or "
                    "rebuild the bundle"
                )
    labels = _read_json(root / _LABELS)
    if not isinstance(labels, list) or not labels:
        raise BundleError(f"{root / _LABELS}: must be a non-empty JSON list of BIO labels")
    return NerBundle(root, manifest, str(kind), tuple(str(x) for x in labels))


def _join_adjacent(text: str, found: list[Finding]) -> list[Finding]:
    """Join spans separated by one space: one name whose particle was tagged apart
    ("Pedro | dos | Santos") is one finding, of the type of its longest piece.

    >>> t = "Pedro dos Santos"
    >>> _join_adjacent(t, [Finding("PERSON", 0, 5, 0.8), Finding("LOCATION", 6, 9, 0.8),
    ...                    Finding("PERSON", 10, 16, 0.8)])
    [Finding(type='PERSON', start=0, end=16, score=0.8)]
    """
    out: list[Finding] = []
    longest: list[Finding] = []
    for f in found:
        if out and f.start - out[-1].end == 1 and text[out[-1].end] == " ":
            if f.end - f.start > longest[-1].end - longest[-1].start:
                longest[-1] = f
            out[-1] = out[-1]._replace(end=f.end, type=longest[-1].type)
        else:
            out.append(f)
            longest.append(f)
    return out


_BEFORE = re.compile(r"(\d+[a-zA-Z]?,?\s+)?([^\W\d_]+\.?\s+)$")
_NUMBER_BEFORE = re.compile(r"\d+[a-zA-Z]?(?:[-/]\d+[a-zA-Z]?)?,?\s+$")


def _address_start(text: str, start: int, end: int, feat: Featurizer) -> int:
    """Move a LOCATION's start left over a street word and a house number the tagger left
    out ("14 Rue | des Lilas" → "14 Rue des Lilas"), or over the house number alone when
    the span has a street word ("14 | Rue des Lilas, Lyon" → "14 Rue des Lilas, Lyon").

    >>> t = NerTagger.default()._featurizer
    >>> text = "visit 14 Rue des Lilas, Lyon"
    >>> text[_address_start(text, 9, len(text), t):]
    '14 Rue des Lilas, Lyon'
    >>> text = "I have 3 Berlin friends"
    >>> text[_address_start(text, 9, 15, t):15]
    'Berlin'
    """
    m = _BEFORE.search(text, max(0, start - 24), start)
    if m is not None and feat.lexicon_bits(m.group(2).strip().rstrip(".").lower()) & LEX_STREET:
        return m.start(1) if m.group(1) else m.start(2)
    n = _NUMBER_BEFORE.search(text, max(0, start - 16), start)
    if n is not None and any(
        feat.lexicon_bits(w.lower()) & LEX_STREET for w in _LETTERS.findall(text, start, end)
    ):
        return n.start()
    return start


class NerTagger:
    """Batched PERSON/LOCATION tagging with one ONNX session.

    Parameters
    ----------
    bundle
        A bundle directory or a loaded :class:`NerBundle`.
    providers
        ``None`` = CUDA when available, else CPU (see :func:`resolve_providers`).
    intra_op_threads
        Threads of the ONNX session.
    batch_size
        Rows per ONNX run after length bucketing.
    prefer_fp16
        Use the bundle's fp16 model on CUDA when it has one.

    Examples
    --------
    >>> t = NerTagger.default()
    >>> t.tag_batch(["The release ships in May.", ""])
    [[], []]
    """

    def __init__(
        self,
        bundle: str | Path | NerBundle,
        *,
        providers: Sequence[str] | None = None,
        intra_op_threads: int = 1,
        batch_size: int = 256,
        prefer_fp16: bool = True,
    ) -> None:
        self.bundle = bundle if isinstance(bundle, NerBundle) else load_ner_bundle(bundle)
        b = self.bundle
        chosen = resolve_providers(providers)
        model_file = b.manifest["model"]
        if chosen[0] != "CPUExecutionProvider" and prefer_fp16 and b.manifest.get("model_fp16"):
            model_file = b.manifest["model_fp16"]
        self.model = OnnxModel(
            create_session(b.file(model_file), chosen, intra_op_threads=intra_op_threads)
        )
        self.batch_size = max(1, int(batch_size))
        self.max_tokens = int(b.manifest.get("max_tokens", 256))
        self._ent: list[
            tuple[int, bool]
        ] = []  # per label: (0 none / 1 PERSON / 2 LOCATION, begins)
        for lab in b.labels:
            ent, begins = entity_of_label(lab)
            self._ent.append((NER_ENTITY_TYPES.index(ent) + 1 if ent else 0, begins))
        self._kind_of = np.array([k for k, _ in self._ent], dtype=np.int64)
        self._begins = np.array([bg for _, bg in self._ent], dtype=bool)
        self._featurizer: Featurizer | None = None
        self._tokenizer: Any = None
        self._regions: frozenset[str] = frozenset()
        if b.kind == "word-cnn":
            feats = _read_json(b.file(b.manifest["features"]))
            self._featurizer = Featurizer(
                feats["vocab"],
                first_names=feats["first_names"],
                last_names=feats["last_names"],
                places=feats["places"],
                street_words=feats["street_words"],
            )
            self._regions = frozenset(str(r).lower() for r in feats.get("regions", ()))
        else:
            from tokenizers import Tokenizer

            self._tokenizer = Tokenizer.from_file(str(b.file(b.manifest["tokenizer"])))
            self._tokenizer.no_padding()
            self._tokenizer.enable_truncation(self.max_tokens)
        self._lock = threading.Lock()  # the feature cache is not thread-safe

    _default_lock = threading.Lock()
    _default_cache: ClassVar[dict[tuple[Any, ...], NerTagger]] = {}

    @classmethod
    def default(
        cls, path: str | Path | None = None, **kwargs: Any
    ) -> NerTagger:  # one shared session per bundle and options, as the worker needs
        """A shared tagger for ``path`` (default: the shipped bundle) and these options."""
        root = Path(path) if path is not None else default_ner_bundle_dir()
        key = (str(root.resolve()), tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
        with cls._default_lock:
            tagger = cls._default_cache.get(key)
            if tagger is None:
                tagger = cls._default_cache[key] = cls(root, **kwargs)
            return tagger

    @property
    def providers(self) -> list[str]:
        return self.model.providers

    # --- word-cnn ---------------------------------------------------------------------
    def _word_rows(self, texts: Sequence[str]) -> tuple[list[list[int]], list[tuple[int, int]]]:
        """Packed feature codes per row; a row is a text or a ``max_tokens`` slice of one."""
        feat = self._featurizer
        assert feat is not None
        findall = TOKEN_RE.findall
        n = self.max_tokens
        rows: list[list[int]] = []
        where: list[tuple[int, int]] = []  # (text index, first token index)
        with self._lock:
            codes = feat.codes
            for i, t in enumerate(texts):
                c = codes(findall(t))
                if not c:
                    continue
                if len(c) <= n:
                    rows.append(c)
                    where.append((i, 0))
                else:
                    for s in range(0, len(c), n):
                        rows.append(c[s : s + n])
                        where.append((i, s))
        return rows, where

    def _run_rows(self, rows: list[list[int]]) -> list[np.ndarray]:
        """Label id per token for each row (length-bucketed ONNX runs)."""
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        flat = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=int(lengths.sum()))
        flat = np.append(flat, 0)  # index len(flat) - 1 is the padding code
        starts = np.zeros(len(rows), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        pad_at = flat.shape[0] - 1
        out: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * len(rows)
        names = self.model.input_names
        for idx in length_buckets(lengths, self.batch_size):
            lens = lengths[idx]
            width = int(lens.max())
            cols = np.arange(width)
            where = starts[idx][:, None] + cols
            grid = flat[np.where(cols < lens[:, None], where, pad_at)]
            arrays = Featurizer.unpack(grid)
            pred = self.model.run(dict(zip(names, arrays, strict=True))).argmax(-1)
            for r, i in enumerate(idx.tolist()):
                out[i] = pred[r, : lens[r]]
        return out

    def _decode(
        self, text: str, labels: np.ndarray, offsets: Sequence[tuple[int, int]]
    ) -> list[Finding]:
        """Spans from token labels: B starts a span, I of the same type continues it."""
        found: list[Finding] = []
        kinds = self._kind_of[labels]
        begins = self._begins[labels]
        start = end = last = -1
        cur = 0
        for j in np.flatnonzero(kinds).tolist():
            k = int(kinds[j])
            s, e = offsets[j]
            if cur and k == cur and not begins[j] and j == last + 1:
                end = e
            else:
                if cur:
                    found.append(self._finding(text, cur, start, end))
                cur, start, end = k, s, e
            last = j
        if cur:
            found.append(self._finding(text, cur, start, end))
        return _join_adjacent(text, found) if len(found) > 1 else found

    @staticmethod
    def _finding(text: str, kind: int, start: int, end: int) -> Finding:
        # A possessive is not part of the name: "Maria's" → "Maria".
        if text.endswith(("'s", "’s"), start, end) and end - start > 2:
            end -= 2
        while end > start and text[end - 1] in ",;:":
            end -= 1
        return Finding(NER_ENTITY_TYPES[kind - 1], start, end, 0.8)

    def _tidy(self, text: str, found: list[Finding]) -> list[Finding]:
        """Rules over the tagger's spans (see the module docstring, "Decoding")."""
        feat = self._featurizer
        mixed_case = not text.islower()
        out: list[Finding] = []
        for f in found:
            s, e = f.start, f.end
            while s < e and not text[s].isalnum():
                s += 1
            while e > s and not text[e - 1].isalnum():
                e -= 1
            if e <= s:
                continue
            words = _LETTERS.findall(text, s, e)
            if not any(len(w) > 1 for w in words):
                continue  # "C", "29": no word of two letters
            if (
                feat is not None
                and mixed_case
                and all(w.islower() for w in words)
                and not any(feat.lexicon_bits(w) for w in words)
            ):
                continue  # "a baker", "cellulare": lower-case words no lexicon knows
            if f.type == "LOCATION":
                if _WORD3.search(text, s, e) is None:
                    continue  # "29", "75001", "39°C": numbers are not places
                if feat is not None:
                    if all(w.islower() for w in words) and not any(
                        feat.lexicon_bits(w) & (LEX_PLACE | LEX_STREET) for w in words
                    ):
                        continue  # "ssn", "abroad": a lower-case place must be a known one
                    s = _address_start(text, s, e, feat)
                if " ".join(w.lower() for w in words) in self._regions:
                    continue  # a country, region or nationality alone is not personal data
                if feat is not None and not any(c.isdigit() for c in text[s:e]):
                    bits = [feat.lexicon_bits(w.lower()) for w in words]
                    if (
                        bits
                        and all(b & (LEX_FIRST | LEX_LAST) for b in bits)
                        and not any(b & (LEX_PLACE | LEX_STREET) for b in bits)
                    ):
                        f = f._replace(type="PERSON")  # a known name, and no place word
            out.append(f._replace(start=s, end=e))
        joined: list[Finding] = []
        for f in out:
            prev = joined[-1] if joined else None
            if (
                prev is not None
                and f.type == prev.type == "LOCATION"
                and text[prev.end : f.start] in (", ", ",", " ")
            ):
                joined[-1] = prev._replace(end=f.end)  # "Via Roma 15" + "00184 Roma": one address
            else:
                joined.append(f)
        return joined

    def _tag_words(self, texts: Sequence[str]) -> list[list[Finding]]:
        result: list[list[Finding]] = [[] for _ in texts]
        rows, where = self._word_rows(texts)
        if not rows:
            return result
        preds = self._run_rows(rows)
        spans_cache: dict[int, list[tuple[int, int]]] = {}
        for (i, first), labels in zip(where, preds, strict=True):
            if not self._kind_of[labels].any():
                continue
            spans = spans_cache.get(i)
            need = first + int(np.flatnonzero(self._kind_of[labels])[-1]) + 1
            if spans is None or len(spans) < need:
                # Offsets only up to the last tagged token: most of a text is never located.
                it = TOKEN_RE.finditer(texts[i])
                spans = spans_cache[i] = [m.span() for m in islice(it, need)]
            result[i].extend(self._decode(texts[i], labels, spans[first : first + len(labels)]))
        return [self._tidy(t, fs) if fs else fs for t, fs in zip(texts, result, strict=True)]

    # --- hf-token-classification -------------------------------------------------------
    def _tag_subwords(self, texts: Sequence[str]) -> list[list[Finding]]:
        from detectors.toxicity.batching import pad_batch

        result: list[list[Finding]] = [[] for _ in texts]
        encs = self._tokenizer.encode_batch(list(texts))
        ids = [np.asarray(e.ids, dtype=np.int64) for e in encs]
        lengths = np.fromiter((x.shape[0] for x in ids), dtype=np.int64, count=len(ids))
        names = self.model.input_names
        for idx in length_buckets(lengths, self.batch_size):
            input_ids, mask = pad_batch([ids[i] for i in idx], pad_id=0, side="right")
            feeds = {"input_ids": input_ids}
            if "attention_mask" in names:
                feeds["attention_mask"] = mask
            if "token_type_ids" in names:
                feeds["token_type_ids"] = np.zeros_like(input_ids)
            pred = self.model.run(feeds).argmax(-1)
            for r, i in enumerate(idx):
                enc = encs[i]
                n = int(lengths[i])
                labels = pred[r, :n]
                # Special tokens have an empty offset; they never start or continue a span.
                keep = [j for j in range(n) if enc.offsets[j][1] > enc.offsets[j][0]]
                labs = labels[keep]
                offs = [enc.offsets[j] for j in keep]
                words = [enc.word_ids[j] for j in keep]
                # Sub-words continue their word's span: only a word's first piece may begin.
                fixed = labs.copy()
                for q in range(1, len(keep)):
                    if words[q] is not None and words[q] == words[q - 1]:
                        k_prev = self._kind_of[fixed[q - 1]]
                        if k_prev:
                            fixed[q] = self._continue_label(int(k_prev))
                        else:
                            fixed[q] = fixed[q - 1]
                result[i] = self._merge_words(texts[i], self._decode(texts[i], fixed, offs))
        return result

    def _continue_label(self, kind: int) -> int:
        for lab, (k, begins) in enumerate(self._ent):
            if k == kind and not begins:
                return lab
        return next(lab for lab, (k, _) in enumerate(self._ent) if k == kind)

    @staticmethod
    def _merge_words(text: str, found: list[Finding]) -> list[Finding]:
        """Widen spans to whole words and join same-type spans separated only by spaces."""
        out: list[Finding] = []
        for f in found:
            s, e = f.start, f.end
            while s > 0 and text[s - 1].isalnum():
                s -= 1
            while e < len(text) and text[e].isalnum():
                e += 1
            if out and out[-1].type == f.type and not text[out[-1].end : s].strip():
                out[-1] = out[-1]._replace(end=e)
            else:
                out.append(f._replace(start=s, end=e))
        return out

    def tag_batch(self, texts: Sequence[str]) -> list[list[Finding]]:
        """PERSON/LOCATION findings per text (code-point offsets, sorted, disjoint)."""
        if not texts:
            return []
        if self._featurizer is not None:
            return self._tag_words(texts)
        return self._tag_subwords(texts)

    def tag(self, text: str) -> list[Finding]:
        """:meth:`tag_batch` for one text."""
        return self.tag_batch([text])[0]

    def __repr__(self) -> str:
        return f"NerTagger({self.bundle.name!r}, kind={self.bundle.kind!r}, providers={self.providers})"


def tag_texts(tagger: NerTagger, texts: Iterable[str]) -> list[list[Finding]]:
    """Convenience: :meth:`NerTagger.tag_batch` over any iterable."""
    return tagger.tag_batch(list(texts))
