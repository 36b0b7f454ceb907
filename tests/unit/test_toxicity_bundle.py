"""Bundle loading: manifest parsing and sha256 verification of every file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from detectors.toxicity import BundleError, default_bundle_dir, load_bundle


@pytest.fixture()
def bundle_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(default_bundle_dir(), dst)
    return dst


def test_default_bundle_verifies_and_describes_its_members() -> None:
    b = load_bundle(default_bundle_dir())
    assert b.labels == (
        "toxicity",
        "severe_toxicity",
        "obscene",
        "threat",
        "insult",
        "identity_attack",
    )
    assert [m.name for m in b.members] == ["jigsaw-bilstm", "profanity-svm", "hatesonar-lr"]
    assert all(m.license == "MIT" and m.provenance.get("pypi") for m in b.members)
    assert b.combine["toxicity"]["method"] == "mean"
    assert (b.path / "LICENSE").is_file() and "LICENSE" in b.manifest["files"]
    size = sum(p.stat().st_size for p in b.path.iterdir())
    assert size < 8_000_000, f"default bundle grew to {size} bytes"


def test_tampered_file_is_refused_with_its_name(bundle_copy: Path) -> None:
    target = bundle_copy / "hatesonar_lr.onnx"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"checksum mismatch for hatesonar_lr\.onnx"):
        load_bundle(bundle_copy)
    # Inspection without verification still works (tocsin models info).
    assert load_bundle(bundle_copy, verify=False).name == "tocsin-toxicity-small-ensemble"


def test_tampered_tokenizer_and_labels_are_refused(bundle_copy: Path) -> None:
    (bundle_copy / "labels.json").write_text('["toxicity"]\n')
    with pytest.raises(BundleError, match=r"labels\.json"):
        load_bundle(bundle_copy)


def test_missing_file_is_named(bundle_copy: Path) -> None:
    (bundle_copy / "profanity_svm.tokenizer.json").unlink()
    with pytest.raises(BundleError, match=r"profanity_svm\.tokenizer\.json is missing"):
        load_bundle(bundle_copy)


def test_file_without_checksum_is_refused(bundle_copy: Path) -> None:
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    del manifest["files"]["jigsaw_bilstm.onnx"]
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="no checksum"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: m.update(format="other/9"), "expected 'tocsin-toxicity-bundle/1'"),
        (lambda m: m["members"][0].update(colour="red"), "unknown keys"),
        (lambda m: m["members"][0].update(padding_side="middle"), "padding_side"),
        (lambda m: m.update(members=[]), "no members"),
    ],
)
def test_malformed_manifest_is_a_clear_error(bundle_copy: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    mutate(manifest)
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=message):
        load_bundle(bundle_copy)


def test_missing_directory_and_invalid_json(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nope")
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(tmp_path)
