"""The default bundle end to end: order, batching invariance and every bad-input case."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from detectors.toxicity import DETOXIFY_LABELS, ToxicityScorer
from detectors.toxicity.tokenization import sanitize_text


@pytest.fixture(scope="module")
def scorer() -> ToxicityScorer:
    return ToxicityScorer(batch_size=16)


def _assert_defined(scores: dict[str, np.ndarray], n: int) -> None:
    assert set(scores) == set(DETOXIFY_LABELS)
    for label, v in scores.items():
        assert v.shape == (n,) and v.dtype == np.float32, label
        assert np.all(np.isfinite(v)) and np.all((v >= 0) & (v <= 1)), label


TEXTS = [
    "Thanks, the fix works on my machine too.",
    "You are a pathetic, useless idiot.",
    "Kill the process and restart the server.",
    "Shut up, moron, nobody asked you.",
    "Could you explain how length bucketing works?",
    "This movie was terrible but the soundtrack was fine.",
]


def test_scores_rank_obvious_cases(scorer: ToxicityScorer) -> None:
    s = scorer.score_batch(TEXTS)
    _assert_defined(s, len(TEXTS))
    tox = s["toxicity"]
    assert tox[1] > 0.5 and tox[3] > 0.5
    assert tox[0] < 0.5 and tox[4] < 0.5
    assert s["insult"][1] > s["insult"][0]


def test_order_and_batch_size_do_not_change_scores(scorer: ToxicityScorer) -> None:
    base = scorer.score_batch(TEXTS)["toxicity"]
    perm = np.random.default_rng(1).permutation(len(TEXTS))
    shuffled = scorer.score_batch([TEXTS[i] for i in perm])["toxicity"]
    np.testing.assert_allclose(shuffled, base[perm], atol=1e-6)
    one_by_one = np.array([scorer.score(t)["toxicity"] for t in TEXTS])
    np.testing.assert_allclose(one_by_one, base, atol=1e-6)
    parallel = ToxicityScorer(batch_size=2, member_threads=2)
    np.testing.assert_allclose(parallel.score_batch(TEXTS)["toxicity"], base, atol=1e-6)
    parallel.close()


def test_microbatcher_over_the_real_scorer_matches_score_batch(scorer: ToxicityScorer) -> None:
    from detectors.toxicity import MicroBatcher

    with MicroBatcher(scorer.score_batch, batch_size=4, max_wait_ms=50) as mb:
        futures = [mb.submit(t) for t in TEXTS]
        got = [f.result(timeout=30) for f in futures]
    expected = scorer.score_batch(TEXTS)
    for i, row in enumerate(got):
        assert set(row) == set(DETOXIFY_LABELS)
        assert row["toxicity"] == pytest.approx(float(expected["toxicity"][i]), abs=1e-6)
    assert mb.batches < len(TEXTS)


def test_empty_batch(scorer: ToxicityScorer) -> None:
    s = scorer.score_batch([])
    assert set(s) == set(DETOXIFY_LABELS) and all(v.shape == (0,) for v in s.values())


def test_bad_input_empty_text(scorer: ToxicityScorer) -> None:
    s = scorer.score_batch(["", "   ", "\n"])
    _assert_defined(s, 3)
    assert np.all(s["toxicity"] < 0.5)
    assert s["toxicity"][0] == pytest.approx(s["toxicity"][1], abs=1e-6)


def test_bad_input_one_megabyte_text_is_truncated_by_tokens(scorer: ToxicityScorer) -> None:
    unit = "the build failed again and you are an idiot "
    huge = unit * (1_000_000 // len(unit) + 1)
    assert len(huge) >= 1_000_000
    t0 = time.perf_counter()
    s = scorer.score_batch([huge, unit * 300])
    assert time.perf_counter() - t0 < 5.0
    _assert_defined(s, 2)
    # Past every member's token budget the rest of the text changes nothing.
    assert s["toxicity"][0] == pytest.approx(s["toxicity"][1], abs=1e-6)
    ids = scorer.runners[0].encoder.encode([huge])[0]
    assert ids.shape[0] == scorer.runners[0].spec.max_length


def test_bad_input_invalid_surrogates(scorer: ToxicityScorer) -> None:
    bad = "you are an idiot \ud800\udfff\udc00 end"
    s = scorer.score_batch([bad])
    _assert_defined(s, 1)
    clean = scorer.score_batch([sanitize_text(bad)])
    assert s["toxicity"][0] == pytest.approx(clean["toxicity"][0], abs=1e-6)
    assert sanitize_text(bad) == "you are an idiot \U000103ff\ufffd end"


def test_bad_input_binary_garbage(scorer: ToxicityScorer) -> None:
    raw = np.random.default_rng(7).integers(0, 256, size=4096, dtype=np.uint8).tobytes()
    as_escaped = raw.decode("utf-8", "surrogateescape")
    s = scorer.score_batch([as_escaped, raw, "\x00\x01\x02\x7f" * 50])  # type: ignore[list-item]
    _assert_defined(s, 3)
    assert np.all(s["toxicity"] < 0.5)


@pytest.mark.parametrize(
    "text",
    [
        "Сегодня хорошая погода, пойдём гулять.",
        "今日はとても良い天気ですね。",
        "هذا المنتج رائع جدا وأنصح به",
        "Das Wetter ist heute schön, lass uns spazieren gehen.",
        "🙂🚀🔥 " * 20,
    ],
)
def test_bad_input_non_english_text(scorer: ToxicityScorer, text: str) -> None:
    s = scorer.score_batch([text])
    _assert_defined(s, 1)
    assert s["toxicity"][0] < 0.5


def test_non_str_values_are_made_safe() -> None:
    assert sanitize_text(None) == "" and sanitize_text(12) == "12"
    assert sanitize_text(b"caf\xc3\xa9") == "café"
    assert sanitize_text(os.fsdecode(b"\xff")) == "\ufffd"
