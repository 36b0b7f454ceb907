"""Model bundles: a directory with ONNX model(s), tokenizer(s), ``labels.json`` and ``manifest.json``.

The manifest names the bundle, its licence and provenance, describes each *member*
(one ONNX model and how its inputs are built from text) and how member outputs combine
into the reported labels. It records the sha256 of every other file; :func:`load_bundle`
recomputes them and refuses a bundle whose files changed (DESIGN.md convention 12).

Example
-------
>>> b = load_bundle(default_bundle_dir())
>>> b.labels[0]
'toxicity'
>>> [m.name for m in b.members]
['jigsaw-bilstm', 'profanity-svm', 'hatesonar-lr']
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "DETOXIFY_LABELS",
    "FORMAT",
    "Bundle",
    "BundleError",
    "MemberSpec",
    "default_bundle_dir",
    "file_sha256",
    "load_bundle",
    "write_manifest",
]

FORMAT = "tocsin-toxicity-bundle/1"
MANIFEST = "manifest.json"
LABELS_FILE = "labels.json"

#: Detoxify's label names, in Detoxify's order. Every bundle reports ``toxicity``.
DETOXIFY_LABELS: tuple[str, ...] = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "threat",
    "insult",
    "identity_attack",
)


class BundleError(ValueError):
    """A bundle that is missing, malformed or tampered with; the message says what to do."""


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"
    >>> _ = p.write_bytes(b"abc")
    >>> file_sha256(p)[:16]
    'ba7816bf8f01cfea'
    """
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class MemberSpec:
    """One ONNX model of a bundle and how to build its inputs.

    Parameters
    ----------
    name
        Member name, unique in the bundle.
    model
        ONNX file (relative to the bundle).
    tokenizer
        ``tokenizers`` JSON file (relative to the bundle).
    output_labels
        Names of the columns of the model's first output, shape ``[batch, len(output_labels)]``.
    max_length
        Token budget per text; longer texts are truncated on ``truncation_side``.
    model_fp16
        Optional fp16 variant, used on CUDA only.
    input_ids, attention_mask, token_type_ids
        ONNX input names (``None`` when the model has no such input).
    padding_side, truncation_side
        ``"right"`` for transformer models; Keras models pad and truncate on the ``"left"``.
    pad_id
        Id used for padding.
    fixed_length
        Pad every batch to ``max_length`` (models trained on fixed-length input).
    drop_ids
        Ids removed before truncation (e.g. unknown words, which Keras tokenizers drop).
    special_tokens
        The tokenizer adds special tokens itself: truncation then goes through the tokenizer.
    license, provenance
        Where the weights come from and under which licence.
    """

    name: str
    model: str
    tokenizer: str
    output_labels: tuple[str, ...]
    max_length: int
    model_fp16: str | None = None
    input_ids: str = "input_ids"
    attention_mask: str | None = None
    token_type_ids: str | None = None
    padding_side: Literal["left", "right"] = "right"
    truncation_side: Literal["left", "right"] = "right"
    pad_id: int = 0
    fixed_length: bool = False
    drop_ids: tuple[int, ...] = ()
    special_tokens: bool = False
    license: str = "unknown"
    provenance: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MemberSpec:
        """Build from a manifest entry; unknown keys are an error so typos do not pass silently.

        >>> MemberSpec.from_dict({"name": "m", "model": "m.onnx", "tokenizer": "t.json",
        ...                       "output_labels": ["toxicity"], "max_length": 8}).padding_side
        'right'
        """
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise BundleError(f"member entry has unknown keys {sorted(unknown)}")
        kw = dict(d)
        kw["output_labels"] = tuple(kw["output_labels"])
        kw["drop_ids"] = tuple(int(i) for i in kw.get("drop_ids", ()))
        if kw.get("padding_side", "right") not in ("left", "right"):
            raise BundleError(f"member {kw['name']}: padding_side must be 'left' or 'right'")
        if kw.get("truncation_side", "right") not in ("left", "right"):
            raise BundleError(f"member {kw['name']}: truncation_side must be 'left' or 'right'")
        if int(kw["max_length"]) < 1:
            raise BundleError(f"member {kw['name']}: max_length must be >= 1")
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, as written in the manifest."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["output_labels"] = list(self.output_labels)
        d["drop_ids"] = list(self.drop_ids)
        d["provenance"] = dict(self.provenance)
        return d


@dataclass(frozen=True)
class Bundle:
    """A verified bundle on disk.

    Attributes
    ----------
    path
        The bundle directory.
    manifest
        The parsed ``manifest.json``.
    labels
        Reported labels, ``toxicity`` first.
    members
        The member models.
    combine
        Per label, how member outputs combine (see :mod:`detectors.toxicity.ensemble`).
    """

    path: Path
    manifest: Mapping[str, Any]
    labels: tuple[str, ...]
    members: tuple[MemberSpec, ...]
    combine: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", self.path.name))

    @property
    def version(self) -> str:
        return str(self.manifest.get("version", "0"))

    def file(self, rel: str) -> Path:
        """Absolute path of a bundle file."""
        return self.path / rel


def default_bundle_dir() -> Path:
    """The bundle shipped with tocsin (``detectors/toxicity/bundles/default``)."""
    return Path(__file__).resolve().parent / "bundles" / "default"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise BundleError(
            f"{path} is missing: a bundle needs manifest.json and labels.json "
            "(build one with `tocsin models export-detoxify` or infra/models/)"
        ) from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{path} is not valid JSON ({e}); rebuild the bundle") from e


def load_bundle(path: str | Path, *, verify: bool = True) -> Bundle:
    """Read a bundle's manifest and (by default) verify the sha256 of every file.

    Parameters
    ----------
    path
        Bundle directory.
    verify
        Recompute checksums (a few ms for a few MB); ``False`` only for inspection tools.

    Raises
    ------
    BundleError
        Missing directory or file, unknown format, or a checksum mismatch naming the file.

    Examples
    --------
    >>> load_bundle(default_bundle_dir()).version
    '1.0.0'
    """
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise BundleError(f"model bundle directory {root} does not exist")
    manifest = _read_json(root / MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(
            f"{root / MANIFEST}: format is {manifest.get('format') if isinstance(manifest, dict) else None!r},"
            f" expected {FORMAT!r}"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{root / MANIFEST}: no 'files' checksums; rebuild the bundle")
    members = tuple(MemberSpec.from_dict(m) for m in manifest.get("members", []))
    if not members:
        raise BundleError(f"{root / MANIFEST}: no members")
    needed = {LABELS_FILE}
    for m in members:
        needed.update({m.model, m.tokenizer})
        if m.model_fp16:
            needed.add(m.model_fp16)
    needed.update(manifest.get("extra_files", []))
    unlisted = sorted(needed - set(files))
    if unlisted:
        raise BundleError(
            f"{root / MANIFEST}: files {unlisted} have no checksum; rebuild the bundle"
        )
    if verify:
        for rel, digest in files.items():
            p = root / rel
            if not p.is_file():
                raise BundleError(f"bundle {root}: file {rel} is missing")
            actual = file_sha256(p)
            if actual != digest:
                raise BundleError(
                    f"bundle {root}: checksum mismatch for {rel} (manifest {digest[:12]}…, "
                    f"file {actual[:12]}…): the file was modified or corrupted; "
                    "restore it or rebuild the bundle"
                )
    labels = _read_json(root / LABELS_FILE)
    if not isinstance(labels, list) or "toxicity" not in labels:
        raise BundleError(f"{root / LABELS_FILE}: must be a JSON list containing 'toxicity'")
    labels = ["toxicity", *[str(x) for x in labels if x != "toxicity"]]
    combine = manifest.get("combine") or {}
    member_labels = {lab for m in members for lab in m.output_labels}
    for lab in labels:
        if lab not in combine and lab not in member_labels:
            raise BundleError(f"{root / MANIFEST}: label {lab!r} has no member output and no rule")
    return Bundle(
        path=root,
        manifest=manifest,
        labels=tuple(labels),
        members=members,
        combine=combine,
    )


def write_manifest(
    root: Path,
    *,
    name: str,
    version: str,
    license: str,
    provenance: Mapping[str, Any],
    labels: Iterable[str],
    members: Iterable[MemberSpec],
    combine: Mapping[str, Any] | None = None,
    extra_files: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``labels.json`` and ``manifest.json`` with the sha256 of every other file in ``root``.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for f in ("m.onnx", "t.json"):
    ...     _ = (root / f).write_bytes(b"x")
    >>> spec = MemberSpec(name="m", model="m.onnx", tokenizer="t.json",
    ...                   output_labels=("toxicity",), max_length=8)
    >>> _ = write_manifest(root, name="demo", version="0.1", license="MIT", provenance={},
    ...                    labels=["toxicity"], members=[spec])
    >>> load_bundle(root).labels
    ('toxicity',)
    """
    root = Path(root)
    (root / LABELS_FILE).write_text(json.dumps(list(labels)) + "\n", encoding="utf-8")
    files = {
        p.relative_to(root).as_posix(): file_sha256(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "name": name,
        "version": version,
        "license": license,
        "provenance": dict(provenance),
        "members": [m.to_dict() for m in members],
        "combine": dict(combine or {}),
        "extra_files": list(extra_files),
        **dict(extra or {}),
        "files": files,
    }
    out = root / MANIFEST
    out.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return out
