"""Provider selection (CUDA first, CPU fallback, warnings), batching helpers, micro-batcher."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import numpy as np
import onnxruntime as ort
import pytest

from detectors.toxicity import MicroBatcher, length_buckets, pad_batch, resolve_providers
from detectors.toxicity.bundle import default_bundle_dir, load_bundle
from detectors.toxicity.scorer import MemberRunner
from detectors.toxicity.session import CPU, CUDA, OnnxModel, create_session

GPU_BUILD = [CUDA, "CPUExecutionProvider"]
CPU_BUILD = ["AzureExecutionProvider", "CPUExecutionProvider"]


def test_default_prefers_cuda_when_the_build_has_it() -> None:
    assert resolve_providers(None, available=GPU_BUILD) == [CUDA, CPU]
    assert resolve_providers(None, available=CPU_BUILD) == [CPU]


def test_requested_cuda_on_a_cpu_build_warns_and_falls_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="detectors.toxicity.session"):
        assert resolve_providers([CUDA, CPU], available=CPU_BUILD) == [CPU]
    assert "onnxruntime-gpu" in caplog.text


def test_explicit_cpu_is_kept_even_with_cuda() -> None:
    assert resolve_providers([CPU], available=GPU_BUILD) == [CPU]


def test_silent_ort_fallback_is_detected_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    """ORT drops a provider it cannot create without raising: we compare and warn."""
    path = default_bundle_dir() / "profanity_svm.onnx"
    with caplog.at_level(logging.WARNING, logger="detectors.toxicity.session"):
        sess = create_session(path, [CUDA, CPU])
    if CUDA in ort.get_available_providers() and sess.get_providers()[0] == CUDA:
        pytest.skip("a working CUDA provider is present")
    assert sess.get_providers() == [CPU]
    assert "did not enable ['CUDAExecutionProvider']" in caplog.text
    model = OnnxModel(sess)
    assert not model.on_cuda and model.providers == [CPU]


def test_fp16_model_is_not_used_when_cuda_is_not_really_enabled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The build claims CUDA, ORT cannot enable it: the runner must end on the fp32 model."""
    import detectors.toxicity.session as session_mod

    monkeypatch.setattr(session_mod.ort, "get_available_providers", lambda: GPU_BUILD)
    b = load_bundle(default_bundle_dir())
    spec = b.members[1]
    from dataclasses import replace

    fp16_spec = replace(spec, model_fp16="does-not-exist.fp16.onnx")
    opened: list[str] = []
    real = session_mod.create_session

    def spy(path, providers, **kw):  # type: ignore[no-untyped-def]
        opened.append(path.name)
        if path.name.startswith("does-not-exist"):
            path = b.path / spec.model  # stand-in for the fp16 file
        return real(path, providers, **kw)

    import detectors.toxicity.scorer as scorer_mod

    monkeypatch.setattr(scorer_mod, "create_session", spy)
    runner = MemberRunner.from_files(b.path, fp16_spec, providers=None)
    if runner.model.on_cuda:
        pytest.skip("a working CUDA provider is present")
    assert opened == ["does-not-exist.fp16.onnx", spec.model]
    assert runner.providers == [CPU]


def test_thread_counts_are_explicit() -> None:
    sess = create_session(default_bundle_dir() / "profanity_svm.onnx", [CPU], intra_op_threads=2)
    opts = sess.get_session_options()
    assert opts.intra_op_num_threads == 2 and opts.inter_op_num_threads == 1


def test_length_buckets_group_similar_lengths() -> None:
    lengths = np.array([50, 3, 48, 2, 100, 1])
    buckets = length_buckets(lengths, batch_size=2)
    assert [sorted(lengths[b].tolist()) for b in buckets] == [[1, 2], [3, 48], [50, 100]]
    assert sorted(np.concatenate(buckets).tolist()) == list(range(6))
    with pytest.raises(ValueError):
        length_buckets(lengths, batch_size=0)


def test_pad_batch_sides_and_fixed_length() -> None:
    seqs = [np.array([1, 2, 3]), np.array([4])]
    ids, mask = pad_batch(seqs, pad_id=9, side="right")
    assert ids.tolist() == [[1, 2, 3], [4, 9, 9]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    ids, _ = pad_batch(seqs, pad_id=0, side="left", length=5)
    assert ids.tolist() == [[0, 0, 1, 2, 3], [0, 0, 0, 0, 4]]
    ids, mask = pad_batch([np.array([], dtype=np.int64)], pad_id=0, side="right")
    assert ids.shape == (1, 1) and mask.sum() == 0


def _fake_scores(calls: list[int]):  # type: ignore[no-untyped-def]
    def score(texts: Sequence[str]) -> dict[str, np.ndarray]:
        calls.append(len(texts))
        return {"toxicity": np.array([len(t) for t in texts], dtype=np.float32)}

    return score


def test_microbatcher_groups_single_texts_and_keeps_order() -> None:
    calls: list[int] = []
    with MicroBatcher(_fake_scores(calls), batch_size=8, max_wait_ms=200) as mb:
        futures = [mb.submit("x" * i) for i in range(20)]
        results = [f.result(timeout=10)["toxicity"] for f in futures]
    assert results == [float(i) for i in range(20)]
    assert sum(calls) == 20 and max(calls) <= 8 and len(calls) < 20


def test_microbatcher_flushes_after_max_wait() -> None:
    calls: list[int] = []
    with MicroBatcher(_fake_scores(calls), batch_size=1000, max_wait_ms=20) as mb:
        t0 = time.monotonic()
        assert mb.submit("abc").result(timeout=5) == {"toxicity": 3.0}
        assert time.monotonic() - t0 < 2.0
    assert calls == [1]


def test_microbatcher_async_and_errors_reach_callers() -> None:
    calls: list[int] = []
    mb = MicroBatcher(_fake_scores(calls), batch_size=4, max_wait_ms=5)

    async def main() -> list[dict[str, float]]:
        return list(await asyncio.gather(*(mb.score(t) for t in ["a", "bb", "ccc"])))

    assert [r["toxicity"] for r in asyncio.run(main())] == [1.0, 2.0, 3.0]
    mb.close()
    with pytest.raises(RuntimeError, match="closed"):
        mb.submit("late")

    def boom(texts: Sequence[str]) -> dict[str, np.ndarray]:
        raise ValueError("model exploded")

    with MicroBatcher(boom, batch_size=2, max_wait_ms=1) as mb2:
        with pytest.raises(ValueError, match="model exploded"):
            mb2.submit("x").result(timeout=5)
        assert mb2.batches == 0
