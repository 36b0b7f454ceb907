"""Prompt signals: length, signature codes, embedding projections, fed to the monitor."""

from __future__ import annotations

import numpy as np

from detectors.drift import (
    KeyedDriftMonitor,
    describe_signature,
    embedding_projections,
    prompt_signals,
    signature_codes,
)


def test_signature_separates_scripts_digits_and_code():
    texts = [
        "What is the weather in Paris?",
        "Какая погода в Москве?",
        "ما هو الطقس اليوم؟",
        "आज मौसम कैसा है?",
        "오늘 날씨 어때?",
        "Order 12345678 costs 99.90 EUR, ref 20240101",
        "<div class='x'>{{ value }}</div>; $x = [1];",
        "",
        None,
    ]
    desc = [describe_signature(c) for c in signature_codes(texts)]
    assert [d.split("/")[0] for d in desc] == [
        "latin", "cyrillic", "arabic", "devanagari", "hangul", "latin", "latin", "none", "none"
    ]  # fmt: skip
    assert desc[5].split("/")[2] == "digits2" and desc[0].split("/")[2] == "digits0"
    assert desc[6].endswith("/code") and desc[0].endswith("/text")


def test_prompt_signature_drift_is_detected_by_the_categorical_detector():
    rng = np.random.default_rng(0)
    english = [f"please summarise document {i}" for i in range(50)]
    code = [f"def f{i}(x):\n    return {{x: [{i}, 2]}}" for i in range(50)]
    before = [english[i] for i in rng.integers(0, 50, 12_000)]
    after = [english[i] if rng.random() < 0.7 else code[i] for i in rng.integers(0, 50, 3_000)]
    sig = prompt_signals(before + after)
    mon = KeyedDriftMonitor()
    keys = np.zeros(len(sig["prompt.signature"]), dtype=np.int64)
    v = mon.update_batch(keys, "prompt.signature", sig["prompt.signature"], kind="categorical")
    assert v and 12_000 <= v[0].index < 13_000 and v[0].detector == "categorical"
    assert mon.update_batch(keys[:3], "prompt.length", sig["prompt.length"][:3]) == []


def test_embedding_projection_signal_detects_a_topic_shift():
    rng = np.random.default_rng(1)
    dim = 64
    topic_a, topic_b = rng.normal(size=dim), rng.normal(size=dim)
    emb = np.r_[
        topic_a + rng.normal(0, 3, (20_000, dim)),
        topic_b + rng.normal(0, 3, (3_000, dim)),
    ]
    proj = embedding_projections(emb)
    mon = KeyedDriftMonitor()
    keys = np.zeros(len(emb), dtype=np.int64)
    hits = []
    for j in range(proj.shape[1]):
        hits += mon.update_batch(keys, f"embedding.p{j}", proj[:, j])
    assert hits and min(h.index for h in hits) >= 20_000


def test_bad_embeddings_give_nan_rows():
    e = np.array([[0.0, 0.0, 0.0], [1.0, np.nan, 2.0], [1.0, 2.0, 3.0]])
    p = embedding_projections(e, n_components=2)
    assert np.isnan(p[0]).all() and np.isnan(p[1]).all() and np.isfinite(p[2]).all()
