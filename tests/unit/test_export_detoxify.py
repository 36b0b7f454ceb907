"""Detoxify export on a tiny random BERT built here: no downloads, real torch → ONNX → bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from detectors.toxicity import BundleError, ToxicityScorer, load_bundle  # noqa: E402
from detectors.toxicity.export_detoxify import ExportError, export_detoxify  # noqa: E402

JIGSAW = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
WORDS = [
    "you",
    "are",
    "a",
    "an",
    "the",
    "idiot",
    "thanks",
    "for",
    "quick",
    "answer",
    "kill",
    "process",
    "restart",
    "server",
    "is",
    "and",
    "it",
]


def _vocab(n_generated: int) -> list[str]:
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    generated = [f"w{i:04d}" for i in range(n_generated)]
    return specials + letters + ["##" + c for c in letters] + WORDS + generated


def _tokenizer(vocab: list[str]) -> Any:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", vocab.index("[CLS]")), ("[SEP]", vocab.index("[SEP]"))],
    )
    return tok


def make_fake_detoxify(
    tmp: Path, *, n_generated: int = 1100, with_config: bool = True, hidden: int = 32
) -> tuple[Path, Path]:
    """A Detoxify-shaped checkpoint of a randomly initialised tiny BERT, and its tokenizer dir."""
    torch.manual_seed(0)
    vocab = _vocab(n_generated)
    tok_dir = tmp / "tok"
    tok_dir.mkdir(parents=True)
    (tok_dir / "vocab.txt").write_text("\n".join(vocab) + "\n")
    _tokenizer(vocab).save(str(tok_dir / "tokenizer.json"))
    cfg = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=max(1, hidden // 64) if not with_config else 2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=len(JIGSAW),
    )
    if with_config:
        (tok_dir / "config.json").write_text(json.dumps(cfg.to_dict()))
    model = transformers.BertForSequenceClassification(cfg).eval()
    ckpt = {
        "config": {
            "arch": {
                "type": "BertForSequenceClassification",
                "args": {
                    "model_type": "bert-base-uncased",
                    "model_name": "BertForSequenceClassification",
                    "tokenizer_name": "BertTokenizer",
                    "num_classes": len(JIGSAW),
                },
            },
            "dataset": {"args": {"classes": JIGSAW}},
        },
        "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
    }
    path = tmp / "toxic_tiny.ckpt"
    torch.save(ckpt, path)
    return path, tok_dir


def _torch_reference(ckpt: Path, tok_dir: Path, texts: list[str]) -> np.ndarray:
    loaded = torch.load(ckpt, weights_only=True)
    cfg = transformers.BertConfig(**json.loads((tok_dir / "config.json").read_text()))
    model = transformers.BertForSequenceClassification(cfg).eval()
    model.load_state_dict({k[len("model.") :]: v for k, v in loaded["state_dict"].items()})
    tok = _tokenizer((tok_dir / "vocab.txt").read_text().split("\n")[:-1])
    rows = []
    with torch.no_grad():
        for t in texts:
            ids = torch.tensor([tok.encode(t).ids])
            rows.append(torch.sigmoid(model(input_ids=ids).logits)[0].numpy())
    return np.stack(rows)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_fake_detoxify(tmp_path_factory.mktemp("detox"))


def test_export_writes_a_verified_bundle_matching_pytorch(
    tiny: tuple[Path, Path], tmp_path: Path
) -> None:
    ckpt, tok_dir = tiny
    result = export_detoxify(ckpt, tmp_path / "bundle", tokenizer_dir=tok_dir)
    assert result.parity_max_abs_diff < 1e-3
    bundle = load_bundle(result.out)
    assert bundle.labels == (
        "toxicity",
        "severe_toxicity",
        "obscene",
        "threat",
        "insult",
        "identity_attack",
    )
    member = bundle.members[0]
    assert member.attention_mask == "attention_mask" and member.special_tokens
    import onnx

    m = onnx.load(str(result.out / "model.onnx"))
    assert m.opset_import[0].version == 17
    dims = [d.dim_param for d in m.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "sequence"]
    texts = ["you are an idiot", "thanks for the quick answer", "", "kill the process " * 40]
    scores = ToxicityScorer(result.out, batch_size=3).score_batch(texts)
    ref = _torch_reference(ckpt, tok_dir, texts[:3])
    assert np.max(np.abs(scores["toxicity"][:3] - ref[:, 0])) < 1e-3
    assert np.max(np.abs(scores["identity_attack"][:3] - ref[:, 5])) < 1e-3
    assert np.all((scores["toxicity"] >= 0) & (scores["toxicity"] <= 1))


def test_export_fp16_variant_and_inferred_config(tmp_path: Path) -> None:
    ckpt, tok_dir = make_fake_detoxify(tmp_path / "src", with_config=False, hidden=64)
    result = export_detoxify(ckpt, tmp_path / "b16", tokenizer_dir=tok_dir, fp16=True)
    bundle = load_bundle(result.out)
    assert bundle.members[0].model_fp16 == "model.fp16.onnx"
    assert (result.out / "model.fp16.onnx").stat().st_size < (
        result.out / "model.onnx"
    ).stat().st_size
    # On the CPU the fp32 model is used even when an fp16 variant exists.
    scorer = ToxicityScorer(result.out)
    assert scorer.providers["detoxify-bert"] == ["CPUExecutionProvider"]
    assert scorer.score_batch(["hello"])["toxicity"].shape == (1,)


def test_export_refuses_a_tiny_vocabulary(tmp_path: Path) -> None:
    ckpt, tok_dir = make_fake_detoxify(tmp_path / "src", n_generated=10)
    with pytest.raises(ExportError, match=r"only \d+ tokens"):
        export_detoxify(ckpt, tmp_path / "out", tokenizer_dir=tok_dir)
    assert not (tmp_path / "out").exists()


def test_export_refuses_to_write_when_parity_fails(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    ckpt, tok_dir = tiny
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export_detoxify(ckpt, tmp_path / "out", tokenizer_dir=tok_dir, tolerance=-1.0)
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".export-*")), "staging directory left behind"


def test_export_rejects_non_detoxify_checkpoint_and_missing_tokenizer(
    tiny: tuple[Path, Path], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.ckpt"
    torch.save({"state_dict": {}}, bad)
    with pytest.raises(ExportError, match="not a Detoxify checkpoint"):
        export_detoxify(bad, tmp_path / "out")
    ckpt, _ = tiny
    with pytest.raises(ExportError, match="--tokenizer"):
        export_detoxify(ckpt, tmp_path / "out2", tokenizer_dir=None)


def test_tampered_export_is_refused(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    ckpt, tok_dir = tiny
    out = export_detoxify(ckpt, tmp_path / "bundle", tokenizer_dir=tok_dir).out
    with (out / "model.onnx").open("r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(BundleError, match=r"model\.onnx"):
        load_bundle(out)


def test_cli_export_verify_info(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tocsin.cli import app

    ckpt, tok_dir = tiny
    out = tmp_path / "cli-bundle"
    runner = CliRunner()
    args = ["models", "export-detoxify", "--checkpoint", str(ckpt), "--out", str(out)]
    result = runner.invoke(app, [*args, "--tokenizer", str(tok_dir), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["parity_max_abs_diff"] < 1e-3 and summary["labels"][0] == "toxicity"
    result = runner.invoke(app, ["models", "verify", str(out), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["ok"] is True
    result = runner.invoke(app, ["models", "info", str(out), "--json"])
    assert json.loads(result.stdout)["members"][0]["name"] == "detoxify-bert"
    # A second export into the now non-empty directory is refused.
    result = runner.invoke(app, [*args, "--tokenizer", str(tok_dir)])
    assert result.exit_code == 1 and "not empty" in result.stderr
