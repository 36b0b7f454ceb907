"""Golden: ROC AUC of ``toxicity`` on vectors/toxicity.jsonl with the default bundle (>= 0.96)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from detectors.toxicity import ToxicityScorer

TARGET_AUC = 0.96


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney ROC AUC (ties count one half)."""
    pos = scores[labels == 1]
    neg = scores[labels == 0]
    if pos.size == 0 or neg.size == 0:
        raise ValueError("need both classes")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (pos.size * neg.size))


def test_roc_auc_helper() -> None:
    assert roc_auc(np.array([0.9, 0.1]), np.array([1, 0])) == 1.0
    assert roc_auc(np.array([0.5, 0.5]), np.array([1, 0])) == 0.5
    with pytest.raises(ValueError):
        roc_auc(np.array([0.5]), np.array([1]))


def test_default_bundle_auc_on_vectors(vectors_dir: Path, report: Callable[[str], None]) -> None:
    rows = [
        json.loads(line)
        for line in (vectors_dir / "toxicity.jsonl").read_text().splitlines()
        if line
    ]
    texts = [r["text"] for r in rows]
    labels = np.array([int(r["toxic"]) for r in rows])
    assert labels.sum() > 0 and (labels == 0).sum() > 0
    scorer = ToxicityScorer()
    scores = scorer.score_batch(texts)
    auc = roc_auc(scores["toxicity"], labels)
    members = {
        name: roc_auc(out["toxicity"], labels) for name, out in scorer.member_scores(texts).items()
    }
    accuracy = float(((scores["toxicity"] >= 0.5) == labels).mean())
    report(
        f"toxicity ROC AUC (default bundle, n={len(rows)}): {auc:.4f}; accuracy@0.5 {accuracy:.3f}; "
        + ", ".join(f"{k} {v:.4f}" for k, v in members.items())
    )
    assert auc >= TARGET_AUC
