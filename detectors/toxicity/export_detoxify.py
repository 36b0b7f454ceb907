"""Turn a Detoxify checkpoint into a bundle (``tocsin models export-detoxify``), offline.

A Detoxify ``.ckpt`` is a torch dict with ``"config"`` (its training config: the
architecture under ``arch.args`` — ``model_type`` such as ``bert-base-uncased``,
``roberta-base`` or ``xlm-roberta-base``, ``model_name`` such as
``BertForSequenceClassification``, ``num_classes`` — and the class names under
``dataset.args.classes``) and ``"state_dict"`` (keys prefixed ``model.``). Detoxify's own
loader downloads the base model's config and tokenizer at run time; this module builds the
Hugging Face model from a local config instead (``config.json`` in ``--tokenizer DIR``,
else a built-in base config whose sizes are read off the weights), loads the weights,
exports ONNX (opset 17, dynamic batch and sequence axes, sigmoid outputs) and refuses to
write the bundle unless ONNX Runtime matches PyTorch to ``1e-3``.

Needs the ``[export]`` extra (torch, transformers, onnx); imported lazily.

Example
-------
>>> DETOXIFY_CLASS_NAMES["identity_hate"], DETOXIFY_CLASS_NAMES["toxic"]
('identity_attack', 'toxicity')
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detectors.toxicity.bundle import DETOXIFY_LABELS, MemberSpec, write_manifest
from detectors.toxicity.tokenization import MIN_VOCAB_SIZE

__all__ = ["DETOXIFY_CLASS_NAMES", "ExportError", "ExportResult", "export_detoxify"]

log = logging.getLogger(__name__)

#: Detoxify renames the Jigsaw class names (``detoxify.load_checkpoint``).
DETOXIFY_CLASS_NAMES = {
    "toxic": "toxicity",
    "severe_toxic": "severe_toxicity",
    "identity_hate": "identity_attack",
}

OPSET = 17
PARITY_TOLERANCE = 1e-3

# Base configs of the three Detoxify backbones (public values of the Hugging Face configs),
# used when no config.json is given; sizes are then overridden from the weights.
_BASE_CONFIGS: dict[str, dict[str, Any]] = {
    "bert": {
        "model_type": "bert",
        "vocab_size": 30522,
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "pad_token_id": 0,
        "layer_norm_eps": 1e-12,
    },
    "roberta": {
        "model_type": "roberta",
        "vocab_size": 50265,
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "max_position_embeddings": 514,
        "type_vocab_size": 1,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "layer_norm_eps": 1e-5,
    },
    "xlm-roberta": {
        "model_type": "xlm-roberta",
        "vocab_size": 250002,
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "max_position_embeddings": 514,
        "type_vocab_size": 1,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "layer_norm_eps": 1e-5,
    },
}

_PROBES = [
    "",
    "Thanks for the quick answer!",
    "You are a complete idiot and everyone knows it.",
    "Kill the process and restart the server.",
    "Je pense que c'est une très mauvaise idée.",
    "word " * 700,
]


class ExportError(RuntimeError):
    """The export could not produce a faithful bundle; the message says what to fix."""


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_detoxify` wrote."""

    out: Path
    labels: tuple[str, ...]
    parity_max_abs_diff: float
    fp16_max_abs_diff: float | None


def _backbone(model_type: str) -> str:
    t = model_type.lower()
    if "xlm" in t:
        return "xlm-roberta"
    if "roberta" in t:
        return "roberta"
    if "bert" in t:
        return "bert"
    raise ExportError(
        f"unknown Detoxify model_type {model_type!r}: expected bert-*, roberta-* or xlm-roberta-*"
    )


def _strip_prefix(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    return {(k[len("model.") :] if k.startswith("model.") else k): v for k, v in state_dict.items()}


def _infer_sizes(sd: Mapping[str, Any], prefix: str) -> dict[str, int]:
    emb = sd[f"{prefix}.embeddings.word_embeddings.weight"]
    layers = {
        int(m.group(1))
        for k in sd
        if (m := re.match(rf"{re.escape(prefix)}\.encoder\.layer\.(\d+)\.", k))
    }
    sizes = {
        "vocab_size": int(emb.shape[0]),
        "hidden_size": int(emb.shape[1]),
        "num_hidden_layers": len(layers),
        "intermediate_size": int(
            sd[f"{prefix}.encoder.layer.0.intermediate.dense.weight"].shape[0]
        ),
        "max_position_embeddings": int(
            sd[f"{prefix}.embeddings.position_embeddings.weight"].shape[0]
        ),
    }
    tt = sd.get(f"{prefix}.embeddings.token_type_embeddings.weight")
    if tt is not None:
        sizes["type_vocab_size"] = int(tt.shape[0])
    sizes["num_attention_heads"] = max(1, sizes["hidden_size"] // 64)
    return sizes


def _load_tokenizer(tokenizer_dir: Path | None, backbone: str) -> Any:
    from tokenizers import Tokenizer

    if tokenizer_dir is None:
        raise ExportError(
            f"no tokenizer: pass --tokenizer DIR with the {backbone} tokenizer files (tokenizer.json, "
            "or vocab.txt / vocab.json+merges.txt / sentencepiece.bpe.model from a local copy of the "
            "base model); nothing is downloaded"
        )
    tj = tokenizer_dir / "tokenizer.json"
    if tj.is_file():
        tok = Tokenizer.from_file(str(tj))
    else:
        from transformers import AutoTokenizer

        try:
            hf = AutoTokenizer.from_pretrained(
                str(tokenizer_dir), local_files_only=True, use_fast=True
            )
        except (OSError, ValueError) as e:
            raise ExportError(f"cannot load a tokenizer from {tokenizer_dir}: {e}") from e
        if not getattr(hf, "is_fast", False):
            raise ExportError(
                f"{tokenizer_dir}: only a slow tokenizer could be built; add tokenizer.json"
            )
        tok = hf.backend_tokenizer
    size = tok.get_vocab_size(with_added_tokens=True)
    if size <= MIN_VOCAB_SIZE:
        # Offline loading can silently fall back to a near-empty vocabulary.
        raise ExportError(
            f"tokenizer from {tokenizer_dir} has only {size} tokens (expected > {MIN_VOCAB_SIZE}): "
            "the tokenizer files are incomplete; copy the full tokenizer of the base model"
        )
    return tok


def _build_model(ckpt: Mapping[str, Any], tokenizer_dir: Path | None) -> tuple[Any, list[str], str]:
    import transformers

    try:
        args = ckpt["config"]["arch"]["args"]
        classes = list(ckpt["config"]["dataset"]["args"]["classes"])
        state = ckpt["state_dict"]
    except (KeyError, TypeError) as e:
        raise ExportError(
            f"not a Detoxify checkpoint (missing {e}): expected config.arch.args, "
            "config.dataset.args.classes and state_dict"
        ) from e
    backbone = _backbone(str(args.get("model_type", "")))
    model_name = str(args.get("model_name") or "")
    model_class = getattr(transformers, model_name, None)
    if model_class is None or not model_name.endswith("ForSequenceClassification"):
        raise ExportError(f"unsupported model_name {model_name!r} in the checkpoint config")
    sd = _strip_prefix(state)
    prefix = "roberta" if backbone in ("roberta", "xlm-roberta") else "bert"
    cfg_file = tokenizer_dir / "config.json" if tokenizer_dir else None
    if cfg_file is not None and cfg_file.is_file():
        cfg_dict = json.loads(cfg_file.read_text())
    else:
        try:
            cfg_dict = {**_BASE_CONFIGS[backbone], **_infer_sizes(sd, prefix)}
        except KeyError as e:
            raise ExportError(f"state_dict lacks {e}; is this a {backbone} checkpoint?") from e
    num_classes = int(args.get("num_classes", len(classes)))
    cfg_dict.update(num_labels=num_classes, problem_type="multi_label_classification")
    config_class = model_class.config_class
    config = config_class(**{k: v for k, v in cfg_dict.items() if k != "model_type"})
    model = model_class(config)
    own = model.state_dict()
    # Older transformers saved the position_ids buffer; newer ones rebuild it.
    sd = {k: v for k, v in sd.items() if k in own or not k.endswith("position_ids")}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ExportError(
            f"checkpoint weights do not fit {model_name}: missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}; check model_type/model_name in the checkpoint config"
        )
    model.eval()
    labels = [DETOXIFY_CLASS_NAMES.get(c, c) for c in classes][:num_classes]
    if len(labels) < num_classes:
        labels += [f"class_{i}" for i in range(len(labels), num_classes)]
    return model, labels, backbone


class _SigmoidHead:
    """Wraps a sequence classifier so the ONNX output is sigmoid probabilities."""

    @staticmethod
    def wrap(model: Any) -> Any:
        import torch

        class Wrapped(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(
                self, input_ids: torch.Tensor, attention_mask: torch.Tensor
            ) -> torch.Tensor:
                logits = self.inner(input_ids=input_ids, attention_mask=attention_mask).logits
                return torch.sigmoid(logits)

        return Wrapped(model).eval()


def _probe_batch(tok: Any, max_length: int, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    from detectors.toxicity.batching import pad_batch

    tok.no_padding()
    tok.enable_truncation(max_length)
    seqs = [np.asarray(e.ids, dtype=np.int64) for e in tok.encode_batch(_PROBES)]
    return pad_batch(seqs, pad_id=pad_id, side="right")


def export_detoxify(
    checkpoint: str | Path,
    out: str | Path,
    *,
    tokenizer_dir: str | Path | None = None,
    fp16: bool = False,
    max_length: int = 512,
    name: str | None = None,
    tolerance: float = PARITY_TOLERANCE,
) -> ExportResult:
    """Export a Detoxify checkpoint to a verified bundle directory ``out``.

    Parameters
    ----------
    checkpoint
        Detoxify ``.ckpt`` file (loaded with ``weights_only=True``: no pickled code runs).
    out
        Bundle directory to create (must not exist or be empty).
    tokenizer_dir
        Local directory with the base model's tokenizer (and optionally ``config.json``).
    fp16
        Also write ``model.fp16.onnx`` (used on CUDA only).
    max_length
        Token budget per text (capped by the model's position embeddings).
    name
        Bundle name (default ``detoxify-<backbone>``).
    tolerance
        Max abs difference allowed between PyTorch and ONNX Runtime probabilities.

    Raises
    ------
    ExportError
        Unreadable checkpoint, mismatching weights, tokenizer too small, or parity failure;
        nothing is written then.
    """
    import torch

    ckpt_path = Path(checkpoint)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} exists and is not empty; choose a new --out directory")
    try:
        ckpt = torch.load(str(ckpt_path), map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise ExportError(f"checkpoint {ckpt_path} not found") from e
    except Exception as e:  # torch raises UnpicklingError/RuntimeError variants
        raise ExportError(f"cannot read checkpoint {ckpt_path}: {e}") from e
    tok_dir = Path(tokenizer_dir) if tokenizer_dir else None
    model, class_labels, backbone = _build_model(ckpt, tok_dir)
    tok = _load_tokenizer(tok_dir, backbone)
    emb_rows = model.get_input_embeddings().weight.shape[0]
    if tok.get_vocab_size(with_added_tokens=True) > emb_rows:
        raise ExportError(
            f"tokenizer has {tok.get_vocab_size(with_added_tokens=True)} tokens but the model only "
            f"{emb_rows} embeddings: wrong tokenizer for this checkpoint"
        )
    offset = 2 if backbone != "bert" else 0  # RoBERTa positions start after the padding index
    max_length = min(max_length, model.config.max_position_embeddings - offset)
    pad_id = int(model.config.pad_token_id if model.config.pad_token_id is not None else 0)
    wrapped = _SigmoidHead.wrap(model)
    ids, mask = _probe_batch(tok, max_length, pad_id)

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=out.parent))
    try:
        onnx_path = staging / "model.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer's notes on transformers' shape checks are expected; parity is checked below.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapped,
                (torch.from_numpy(ids[:2]), torch.from_numpy(mask[:2])),
                str(onnx_path),
                input_names=["input_ids", "attention_mask"],
                output_names=["probabilities"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "sequence"},
                    "attention_mask": {0: "batch", 1: "sequence"},
                    "probabilities": {0: "batch"},
                },
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
            expected = wrapped(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        diff = _ort_diff(onnx_path, ids, mask, expected)
        if not diff < tolerance:
            raise ExportError(
                f"ONNX output differs from PyTorch by {diff:.2e} (> {tolerance}); bundle not written"
            )
        fp16_diff = None
        if fp16:
            fp16_diff = _write_fp16(onnx_path, staging / "model.fp16.onnx", ids, mask, expected)
        tok.save(str(staging / "tokenizer.json"))
        labels = [lab for lab in DETOXIFY_LABELS if lab in class_labels]
        if "toxicity" not in labels:
            raise ExportError(f"the checkpoint's classes {class_labels} have no 'toxic'/'toxicity'")
        spec = MemberSpec(
            name=name or f"detoxify-{backbone}",
            model="model.onnx",
            model_fp16="model.fp16.onnx" if fp16 else None,
            tokenizer="tokenizer.json",
            output_labels=tuple(class_labels),
            max_length=max_length,
            attention_mask="attention_mask",
            padding_side="right",
            truncation_side="right",
            pad_id=pad_id,
            special_tokens=True,
            license="Apache-2.0 (Detoxify code and released weights); check your checkpoint",
            provenance={
                "checkpoint": ckpt_path.name,
                "model_type": str(ckpt["config"]["arch"]["args"].get("model_type")),
            },
        )
        write_manifest(
            staging,
            name=name or f"detoxify-{backbone}",
            version="1",
            license=spec.license,
            provenance={
                "exported_by": "tocsin models export-detoxify",
                "checkpoint": ckpt_path.name,
                "opset": OPSET,
                "parity_max_abs_diff": diff,
                "fp16_parity_max_abs_diff": fp16_diff,
                "torch": torch.__version__,
            },
            labels=labels,
            members=[spec],
        )
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportResult(
        out=out, labels=tuple(labels), parity_max_abs_diff=diff, fp16_max_abs_diff=fp16_diff
    )


def _ort_diff(path: Path, ids: np.ndarray, mask: np.ndarray, expected: np.ndarray) -> float:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(["probabilities"], {"input_ids": ids, "attention_mask": mask})[0]
    return float(np.max(np.abs(np.asarray(got, dtype=np.float64) - expected)))


def _write_fp16(
    src: Path, dst: Path, ids: np.ndarray, mask: np.ndarray, expected: np.ndarray
) -> float | None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model16 = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(model16, str(dst))
    try:
        diff = _ort_diff(dst, ids, mask, expected)
    except Exception as e:  # some fp16 kernels exist on CUDA only; checked there at load
        log.warning("fp16 variant written but not verifiable on this machine's CPU (%s)", e)
        return None
    if diff > 0.05:
        raise ExportError(
            f"fp16 variant differs from PyTorch by {diff:.2e} (> 0.05); bundle not written"
        )
    return diff
