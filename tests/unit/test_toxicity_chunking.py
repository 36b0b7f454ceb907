"""Chunked scoring: one rude sentence inside a long, helpful answer must not be averaged away."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.toxicity import ToxicityScorer
from detectors.toxicity.chunking import chunk_texts, max_per_owner

HELPFUL = (
    "Here is the summary of the quarterly report you asked for. Revenue grew by four "
    "percent, mostly from the new subscription tier. Costs stayed flat, and the team "
    "expects the same trend next quarter. The appendix lists the open questions and the "
    "owners of each action item. Let me know if you want a more detailed version."
)


@pytest.fixture(scope="module")
def scorer() -> ToxicityScorer:
    return ToxicityScorer()


def test_chunks_respect_the_limit_keep_order_and_cover_the_text() -> None:
    texts = [HELPFUL, "", "x" * 1000, "short"]
    chunks, owner = chunk_texts(texts, 120)
    assert all(len(c) <= 120 for c in chunks)
    assert owner.tolist() == sorted(owner.tolist())
    assert set(owner.tolist()) == {0, 1, 2, 3}
    for i, text in enumerate(texts):
        joined = "".join(c for c, o in zip(chunks, owner, strict=True) if o == i)
        assert joined.replace(" ", "") == text.replace(" ", "")


def test_chunk_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        chunk_texts(["a"], 0)


def test_max_per_owner() -> None:
    values = np.array([0.1, 0.9, 0.3, 0.2, 0.4], dtype=np.float32)
    assert max_per_owner(values, np.array([0, 0, 1, 2, 2]), 3).tolist() == pytest.approx(
        [0.9, 0.3, 0.4]
    )


def test_an_insult_inside_a_long_answer_is_found_only_when_chunked(scorer: ToxicityScorer) -> None:
    text = HELPFUL[:180] + " Shut up, you worthless idiot. " + HELPFUL[180:]
    whole = float(scorer.score_batch([text])["toxicity"][0])
    chunked = float(scorer.score_batch([text], chunk_chars=120)["toxicity"][0])
    print(f"\nembedded insult: whole text {whole:.2f}, chunked {chunked:.2f}")
    assert whole < 0.5 < chunked


def test_chunking_leaves_short_texts_and_benign_answers_alone(scorer: ToxicityScorer) -> None:
    texts = ["Thanks, that fixed it!", HELPFUL]
    plain = scorer.score_batch(texts)["toxicity"]
    chunked = scorer.score_batch(texts, chunk_chars=120)["toxicity"]
    assert chunked[0] == pytest.approx(plain[0])
    assert chunked[1] < 0.5
