"""`tocsin models export-ner` on tiny random BERT / XLM-R / DeBERTa-v2 models built here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from detectors.pii import PiiDetector  # noqa: E402
from detectors.pii.export_ner import NerExportError, export_ner  # noqa: E402
from detectors.pii.ner import NerTagger, load_ner_bundle  # noqa: E402
from detectors.toxicity import BundleError  # noqa: E402
from tocsin.cli import app  # noqa: E402

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
WORDS = [
    "hi",
    "i",
    "am",
    "maria",
    "jose",
    "gomez",
    "ruiz",
    "live",
    "at",
    "rue",
    "des",
    "lilas",
    "lyon",
    "call",
    "me",
    "on",
    "the",
    "in",
    "and",
]


def _tokenizer() -> Any:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *letters]
    vocab += (
        ["##" + c for c in letters]
        + [str(d) for d in range(10)]
        + ["##" + str(d) for d in range(10)]
    )
    vocab += [",", ".", "'", *WORDS]
    tok = Tokenizer(models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", vocab.index("[CLS]")), ("[SEP]", vocab.index("[SEP]"))],
    )
    return tok, len(vocab)


def make_checkpoint(root: Path, family: str, labels: list[str] = LABELS) -> Path:
    from transformers import PreTrainedTokenizerFast

    torch.manual_seed(0)
    tok, vocab_size = _tokenizer()
    common: dict[str, Any] = {
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 128,
        "id2label": dict(enumerate(labels)),
        "label2id": {lab: i for i, lab in enumerate(labels)},
        "pad_token_id": 0,
    }
    if family == "bert":
        config = transformers.BertConfig(**common)
        model = transformers.BertForTokenClassification(config)
    elif family == "xlm-roberta":
        config = transformers.XLMRobertaConfig(**{**common, "max_position_embeddings": 130})
        model = transformers.XLMRobertaForTokenClassification(config)
    else:
        config = transformers.DebertaV2Config(**common)
        model = transformers.DebertaV2ForTokenClassification(config)
    root.mkdir(parents=True)
    model.save_pretrained(str(root))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]",
    )  # fmt: skip
    fast.save_pretrained(str(root))
    return root


@pytest.mark.parametrize("family", ["bert", "xlm-roberta", "deberta-v2"])
def test_export_runs_verifies_and_tags(tmp_path: Path, family: str) -> None:
    ckpt = make_checkpoint(tmp_path / "ckpt", family)
    result = export_ner(ckpt, tmp_path / "bundle", max_length=64)
    assert result.parity_max_abs_diff <= 1e-3
    assert result.entity_map == {
        "B-PER": "PERSON",
        "I-PER": "PERSON",
        "B-LOC": "LOCATION",
        "I-LOC": "LOCATION",
    }
    bundle = load_ner_bundle(result.out)
    assert bundle.kind == "hf-token-classification"
    assert bundle.labels == tuple(LABELS)
    tagger = NerTagger(bundle)
    texts = ["Hi, I am Maria Jose Gomez Ruiz, I live at 14 rue des Lilas, Lyon", "", "ok"]
    found = tagger.tag_batch(texts)
    assert len(found) == 3 and found[1] == []
    for f in found[0]:  # random weights: any spans, but well-formed and on word boundaries
        assert f.type in ("PERSON", "LOCATION")
        assert 0 <= f.start < f.end <= len(texts[0])
        assert not texts[0][f.start - 1 : f.start].isalnum() if f.start else True
    # The detector accepts the exported bundle through its settings knob.
    det = PiiDetector(ner_model_dir=result.out)
    assert det.analyze_batch(texts)[1] == []


def test_export_refuses_checkpoints_without_person_or_location(tmp_path: Path) -> None:
    ckpt = make_checkpoint(tmp_path / "ckpt", "bert", labels=["O", "B-ORG", "I-ORG"])
    with pytest.raises(NerExportError, match="PERSON or LOCATION"):
        export_ner(ckpt, tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


def test_exported_bundle_is_refused_when_tampered(tmp_path: Path) -> None:
    result = export_ner(make_checkpoint(tmp_path / "ckpt", "bert"), tmp_path / "bundle")
    labels = result.out / "labels.json"
    labels.write_text(json.dumps(["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "O", "O", "O", "B-PER"]))
    with pytest.raises(BundleError, match=r"checksum mismatch for labels\.json"):
        load_ner_bundle(result.out)


def test_cli_export_ner_and_ner_info(tmp_path: Path) -> None:
    ckpt = make_checkpoint(tmp_path / "ckpt", "bert")
    runner = CliRunner()
    out = tmp_path / "bundle"
    res = runner.invoke(
        app, ["models", "export-ner", "--checkpoint", str(ckpt), "--out", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["parity_max_abs_diff"] <= 1e-3
    res = runner.invoke(app, ["models", "ner-info", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["kind"] == "hf-token-classification"
    # A second export into the same, now non-empty, directory is refused with exit 1.
    res = runner.invoke(app, ["models", "export-ner", "--checkpoint", str(ckpt), "--out", str(out)])
    assert res.exit_code == 1 and "not empty" in res.output
