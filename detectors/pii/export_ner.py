"""Export a Hugging Face token-classification checkpoint to a tocsin NER bundle.

BERT, DeBERTa(-v2/v3), RoBERTa/XLM-R and other ``AutoModelForTokenClassification``
checkpoints in a local directory (``config.json``, weights, a fast tokenizer) become a
``hf-token-classification`` bundle: ``model.onnx`` (opset 17, dynamic batch and sequence
axes, logits output), optionally ``model.fp16.onnx`` for CUDA, ``tokenizer.json``,
``labels.json`` (the checkpoint's ``id2label``) and a manifest with the sha256 of every
file. Labels are mapped to PERSON/LOCATION by :func:`detectors.pii.ner.entity_of_label`
(PER/PERSON, LOC/LOCATION/ADDRESS...); a checkpoint with neither is refused. The ONNX
model is checked against PyTorch on a probe batch (max abs logit difference); the bundle is
written only when it is within the tolerance.

Needs the ``[export]`` extra (torch, transformers, onnx); nothing is downloaded.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detectors.pii.ner import entity_of_label, write_ner_manifest

__all__ = ["NerExportError", "NerExportResult", "export_ner"]

log = logging.getLogger(__name__)
OPSET = 17
_PROBE = (
    "Hi, I'm Maria José Gómez Ruiz and I live at 14 Rue des Lilas, Lyon.",
    "Please forward this to Tobias Lindqvist in accounting.",
    "ok",
    "The weather in Berlin is fine; call 06 12 34 56 78.",
)


class NerExportError(RuntimeError):
    """The checkpoint cannot be exported or the export does not match PyTorch."""


@dataclass(frozen=True)
class NerExportResult:
    out: Path
    labels: tuple[str, ...]
    entity_map: dict[str, str]
    parity_max_abs_diff: float
    fp16_max_abs_diff: float | None


def _ort_logits(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    return np.asarray(sess.run(["logits"], {k: v for k, v in feeds.items() if k in names})[0])


def export_ner(
    checkpoint: str | Path,
    out: str | Path,
    *,
    fp16: bool = False,
    max_length: int = 128,
    tolerance: float = 1e-3,
) -> NerExportResult:
    """Export ``checkpoint`` (a local directory) to the bundle directory ``out``.

    Raises
    ------
    NerExportError
        No fast tokenizer, no PERSON/LOCATION label, parity failure, or ``out`` not empty.
    """
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    src, dst = Path(checkpoint), Path(out)
    if dst.exists() and any(dst.iterdir()):
        raise NerExportError(f"{dst} exists and is not empty: choose a new bundle directory")
    try:
        tok = AutoTokenizer.from_pretrained(str(src), local_files_only=True)
        model = AutoModelForTokenClassification.from_pretrained(str(src), local_files_only=True)
    except (OSError, ValueError) as e:
        raise NerExportError(
            f"cannot load a token-classification checkpoint from {src}: {e}"
        ) from e
    if not getattr(tok, "is_fast", False):
        raise NerExportError(f"{src}: a fast tokenizer (tokenizer.json) is needed for offsets")
    model.eval()
    id2label = {int(k): str(v) for k, v in model.config.id2label.items()}
    labels = tuple(id2label[i] for i in range(len(id2label)))
    entity_map = {lab: ent for lab in labels if (ent := entity_of_label(lab)[0])}
    if not entity_map:
        raise NerExportError(
            f"{src}: none of the labels {list(labels)} maps to PERSON or LOCATION "
            "(expected PER/PERSON or LOC/LOCATION/ADDRESS, with or without B-/I- prefixes)"
        )
    enc = tok(
        list(_PROBE), padding=True, truncation=True, max_length=max_length, return_tensors="np"
    )
    input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in enc]
    feeds = {n: np.asarray(enc[n], dtype=np.int64) for n in input_names}

    class Logits(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> Any:
            return self.inner(**dict(zip(input_names, args, strict=True))).logits

    wrapped = Logits(model).eval()
    with torch.no_grad():
        expected = wrapped(*(torch.from_numpy(feeds[n]) for n in input_names)).numpy()
    staging = Path(tempfile.mkdtemp(prefix="tocsin-ner-export-"))
    try:
        onnx_path = staging / "model.onnx"
        with torch.no_grad():
            torch.onnx.export(
                wrapped,
                tuple(torch.from_numpy(feeds[n]) for n in input_names),
                str(onnx_path),
                input_names=input_names,
                output_names=["logits"],
                dynamic_axes={n: {0: "batch", 1: "sequence"} for n in [*input_names, "logits"]},
                opset_version=OPSET,
                dynamo=False,
            )
        diff = float(np.max(np.abs(_ort_logits(onnx_path, feeds) - expected)))
        if not diff <= tolerance:
            raise NerExportError(
                f"ONNX logits differ from PyTorch by {diff:.2e} (> {tolerance}); bundle not written"
            )
        fp16_diff = None
        if fp16:
            import onnx
            from onnxruntime.transformers.float16 import convert_float_to_float16

            onnx.save(
                convert_float_to_float16(onnx.load(str(onnx_path)), keep_io_types=True),
                str(staging / "model.fp16.onnx"),
            )
            try:
                fp16_diff = float(
                    np.max(np.abs(_ort_logits(staging / "model.fp16.onnx", feeds) - expected))
                )
            except Exception as e:  # some fp16 kernels exist on CUDA only
                log.warning("fp16 model written but not verifiable on this CPU (%s)", e)
        tok.backend_tokenizer.save(str(staging / "tokenizer.json"))
        write_ner_manifest(
            staging,
            name=f"hf-ner-{src.name}",
            version="1",
            kind="hf-token-classification",
            license=str(
                getattr(model.config, "license", None) or "see the checkpoint's model card"
            ),
            labels=labels,
            inputs=input_names,
            max_tokens=max_length,
            model_fp16="model.fp16.onnx" if fp16 else None,
            tokenizer="tokenizer.json",
            features=None,
            provenance={
                "built_by": "tocsin models export-ner",
                "checkpoint": str(src.resolve()),
                "model_type": model.config.model_type,
                "entity_map": entity_map,
                "opset": OPSET,
                "parity_max_abs_diff": diff,
                "fp16_parity_max_abs_diff": fp16_diff,
                "build_env": {
                    k: md.version(k) for k in ("torch", "transformers", "onnx", "onnxruntime")
                },
            },
        )
        dst.mkdir(parents=True, exist_ok=True)
        for p in staging.iterdir():
            shutil.move(str(p), dst / p.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("exported %s to %s: %s", src, dst, json.dumps(entity_map))
    return NerExportResult(dst, labels, entity_map, diff, fp16_diff)
