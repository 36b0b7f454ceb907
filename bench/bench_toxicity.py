"""Benchmark: toxicity scoring through ONNX Runtime, against named baselines in the same run.

1. **Default bundle on CPU** (the 3-member ensemble shipped with tocsin): texts/s of
   ``ToxicityScorer.score_batch`` on a batch of chat-like texts (length-bucketed batches),
   with the default settings (1 ONNX thread, members in sequence) and with both cores
   (``member_threads=2``), against the **baseline**: the same bundle called one text at a
   time (``score(text)``, what a naive per-event caller would do). Per-member rates too.
2. **bert-base-sized model at 128 tokens** (random weights, Detoxify's architecture):
   onnxruntime-gpu with CUDA, fp16, batches of 256 vs **naive PyTorch one text at a time on
   the GPU**. Needs CUDA (``onnxruntime-gpu`` and a CUDA torch); without it this part is
   skipped and says so, and a small CPU comparison runs instead (a 4-layer, 256-wide BERT:
   ORT batched vs PyTorch one at a time), which says nothing about GPU rates.

Run:  .venv/bin/python bench/bench_toxicity.py [--quick]
Writes bench/results/toxicity.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import onnxruntime as ort  # noqa: E402

from bench.machine import cpu_model  # noqa: E402
from detectors.toxicity import ToxicityScorer  # noqa: E402

CPU_TARGET = 1_500
GPU_TARGET = 10_000

_SENTENCES = [
    "Can you summarise this article in three bullet points?",
    "The deployment failed again because the migration timed out.",
    "You are a useless idiot and your answers are garbage.",
    "Thanks, that fixed it.",
    "Please rewrite the paragraph in a more formal tone.",
    "Kill the process and restart the server before the next run.",
    "Shut up, nobody asked for your stupid opinion.",
    "What is the difference between a list and a tuple in Python?",
    "I hate Mondays, the traffic was awful.",
    "Go away, you pathetic loser.",
    "Translate the following sentence into German.",
    "The model keeps hallucinating citations that do not exist.",
    "Write a haiku about autumn leaves and rain.",
    "This is the dumbest thing I have read all week, are you brain-dead?",
    "Explain how length bucketing reduces padding in batched inference.",
    "Drop the table and recreate it from the backup.",
]


def workload(n: int, seed: int = 11) -> list[str]:
    """Chat-like texts of 1-4 sentences (about 8-60 words), seeded."""
    rng = np.random.default_rng(seed)
    k = rng.integers(1, 5, size=n)
    return [" ".join(rng.choice(_SENTENCES, size=int(j))) for j in k]


def machine() -> dict[str, Any]:
    cpu = cpu_model()
    import tokenizers

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "ort_providers": ort.get_available_providers(),
        "tokenizers": tokenizers.__version__,
        "numpy": np.__version__,
        "loadavg_1m": os.getloadavg()[0],
    }


def rate(fn: Any, n: int, repeat: int) -> float:
    """Best-of-``repeat`` items per second of ``fn()`` processing ``n`` items."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def bench_default_bundle(quick: bool) -> dict[str, Any]:
    n = 1_000 if quick else 8_000
    n_single = 100 if quick else 500
    repeat = 1 if quick else 3
    texts = workload(n)
    results: dict[str, Any] = {"texts": n}
    default = ToxicityScorer(batch_size=64)
    default.score_batch(texts[:64])  # warm-up
    results["batched_default_texts_per_s"] = rate(lambda: default.score_batch(texts), n, repeat)
    single = texts[:n_single]
    results["baseline_one_at_a_time_texts_per_s"] = rate(
        lambda: [default.score(t) for t in single], n_single, repeat
    )
    results["per_member_texts_per_s"] = {
        r.spec.name: rate(lambda r=r: r.predict(texts), n, 1) for r in default.runners
    }
    two = ToxicityScorer(batch_size=64, member_threads=2)
    two.score_batch(texts[:64])
    results["batched_2_cores_texts_per_s"] = rate(lambda: two.score_batch(texts), n, repeat)
    two.close()
    results["providers"] = default.providers
    results["original_models_texts_per_s"] = original_models(texts, repeat)
    # The worker scores whole answers (~600 characters) in sentence chunks (chunk_chars=300):
    # what that costs against scoring each answer as one text.
    from streams.generator import TrafficGenerator

    answers = [e["response"] for e in TrafficGenerator(seed=3).events(3 * n // 4) if e["response"]][
        : n // 4
    ]
    results["answers"] = {
        "texts": len(answers),
        "mean_chars": sum(map(len, answers)) / len(answers),
    }
    for label, chunk in (("whole", None), ("chunked_300", 300)):
        results["answers"][f"{label}_texts_per_s"] = rate(
            lambda chunk=chunk: default.score_batch(answers, chunk_chars=chunk),
            len(answers),
            repeat,
        )
    return results


def original_models(texts: list[str], repeat: int) -> dict[str, Any]:
    """The members' original implementations, when importable (the build venv has them)."""
    found: dict[str, Any] = {}
    try:
        from profanity_check import profanity_check as pc

        pc.predict_prob(texts[:64])
        found["alt-profanity-check (sklearn predict_prob, batched)"] = rate(
            lambda: pc.predict_prob(texts), len(texts), repeat
        )
    except ImportError:
        pass
    try:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        from tensorflow.keras.preprocessing.sequence import pad_sequences
        from toxic_classifier.model import ToxicCommentClassifier

        clf = ToxicCommentClassifier()

        def keras() -> None:
            seqs = pad_sequences(clf.tokenizer.texts_to_sequences(texts), maxlen=100)
            clf.model.predict(seqs, batch_size=256, verbose=0)

        keras()
        found["toxic-comment-classifier (Keras predict, batch 256)"] = rate(keras, len(texts), 1)
    except ImportError:
        pass
    return found


def _tiny_or_base_bert(hidden: int, layers: int, heads: int, inter: int) -> Any:
    import torch
    import transformers

    torch.manual_seed(0)
    cfg = transformers.BertConfig(  # type: ignore[call-arg]
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=inter,
        num_labels=6,
    )
    return transformers.BertForSequenceClassification(cfg).eval()


def _export(model: Any, path: Path, seq: int) -> None:
    import warnings

    import torch

    class Wrapped(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.inner(input_ids=ids, attention_mask=mask).logits)

    ids = torch.randint(1000, 30000, (2, seq))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Wrapped(model).eval(),
            (ids, torch.ones_like(ids)),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["probabilities"],
            dynamic_axes={"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}},
            opset_version=17,
            dynamo=False,
        )


def bench_bert(quick: bool) -> dict[str, Any]:
    seq = 128
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as e:
        return {
            "skipped": f"torch/transformers not installed ({e.name}); install the [export] extra"
        }
    cuda_ort = "CUDAExecutionProvider" in ort.get_available_providers()
    cuda_torch = bool(torch.cuda.is_available())
    out: dict[str, Any] = {"seq_len": seq, "cuda_ort": cuda_ort, "cuda_torch": cuda_torch}
    with tempfile.TemporaryDirectory() as tmp:
        if cuda_ort and cuda_torch:
            n = 2_048 if quick else 20_480
            model = _tiny_or_base_bert(768, 12, 12, 3072)
            path = Path(tmp) / "bert_base.onnx"
            _export(model, path, seq)
            import onnx
            from onnxruntime.transformers.float16 import convert_float_to_float16

            path16 = Path(tmp) / "bert_base.fp16.onnx"
            onnx.save(
                convert_float_to_float16(onnx.load(str(path)), keep_io_types=True), str(path16)
            )
            from detectors.toxicity.session import OnnxModel, create_session

            m = OnnxModel(create_session(path16, ["CUDAExecutionProvider", "CPUExecutionProvider"]))
            out["ort_providers"] = m.providers
            ids = np.random.default_rng(0).integers(1000, 30000, size=(n, seq), dtype=np.int64)
            mask = np.ones_like(ids)
            bs = 256

            def run_ort() -> None:
                for i in range(0, n, bs):
                    m.run({"input_ids": ids[i : i + bs], "attention_mask": mask[i : i + bs]})

            run_ort()
            out["ort_cuda_fp16_batched_texts_per_s"] = rate(run_ort, n, 2)
            tm = model.cuda()
            n1 = 256 if quick else 1_000
            tids = torch.from_numpy(ids[:n1]).cuda()

            def run_torch() -> None:
                with torch.no_grad():
                    for i in range(n1):
                        torch.sigmoid(tm(input_ids=tids[i : i + 1]).logits).cpu()

            with torch.no_grad():
                tm(input_ids=tids[:1])  # warm-up (CUDA context, kernels)
            torch.cuda.synchronize()
            out["baseline_torch_one_at_a_time_texts_per_s"] = rate(run_torch, n1, 1)
            out["model"] = "bert-base (12x768), random weights"
        else:
            out["skipped_gpu"] = (
                "GPU part skipped: no CUDA here (onnxruntime providers "
                f"{ort.get_available_providers()}, torch.cuda.is_available()={cuda_torch}); "
                f"the >= {GPU_TARGET:,} texts/s target was NOT measured"
            )
            n = 64 if quick else 256
            model = _tiny_or_base_bert(256, 4, 4, 1024)
            path = Path(tmp) / "bert_small.onnx"
            _export(model, path, seq)
            from detectors.toxicity.session import OnnxModel, create_session

            m = OnnxModel(create_session(path, ["CPUExecutionProvider"], intra_op_threads=2))
            ids = np.random.default_rng(0).integers(1000, 30000, size=(n, seq), dtype=np.int64)
            mask = np.ones_like(ids)

            def run_ort_cpu() -> None:
                for i in range(0, n, 32):
                    m.run({"input_ids": ids[i : i + 32], "attention_mask": mask[i : i + 32]})

            run_ort_cpu()
            out["cpu_ort_batched_texts_per_s"] = rate(run_ort_cpu, n, 2)
            torch.set_num_threads(2)
            tids = torch.from_numpy(ids)

            def run_torch_cpu() -> None:
                with torch.no_grad():
                    for i in range(n):
                        torch.sigmoid(model(input_ids=tids[i : i + 1]).logits)

            with torch.no_grad():
                model(input_ids=tids[:1])  # warm-up
            out["cpu_baseline_torch_one_at_a_time_texts_per_s"] = rate(run_torch_cpu, n, 1)
            out["model"] = (
                "small BERT (4x256) on CPU, random weights: a CPU sanity check, not the GPU benchmark"
            )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="small sizes, one repetition (smoke run)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "toxicity.json")
    args = ap.parse_args(argv)

    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, load {info['loadavg_1m']:.1f}")
    print(
        f"python {info['python']}, onnxruntime {info['onnxruntime']} {info['ort_providers']}, tokenizers {info['tokenizers']}"
    )

    cpu = bench_default_bundle(args.quick)
    base = cpu["baseline_one_at_a_time_texts_per_s"]
    print(
        f"\n(1) default bundle on CPU, {cpu['texts']:,} chat-like texts, providers {sorted({p[0] for p in cpu['providers'].values()})}"
    )
    print(f"{'configuration':58s} {'texts/s':>10s} {'vs baseline':>12s}")
    rows = [
        ("baseline: same bundle, one text per call", base),
        (
            "score_batch, batch 64, 1 ONNX thread (default settings)",
            cpu["batched_default_texts_per_s"],
        ),
        ("score_batch, batch 64, member_threads=2 (2 cores)", cpu["batched_2_cores_texts_per_s"]),
    ]
    for name, value in rows:
        print(f"{name:58s} {value:10,.0f} {value / base:11.1f}x")
    for name, value in cpu["per_member_texts_per_s"].items():
        print(f"  member {name:49s} {value:10,.0f}")
    originals = cpu["original_models_texts_per_s"]
    for name, value in originals.items():
        print(f"  original {name:49s} {value:10,.0f}")
    if not originals:
        print(
            "  original sklearn/Keras models: not importable in this venv (they live in the build "
            "venv: run this script with /work/buildenv-tox/bin/python to include them)"
        )
    ans = cpu["answers"]
    print(
        f"  worker's answers ({ans['texts']:,}, {ans['mean_chars']:.0f} chars): whole "
        f"{ans['whole_texts_per_s']:,.0f}/s, chunked by 300 chars {ans['chunked_300_texts_per_s']:,.0f}/s "
        f"({ans['whole_texts_per_s'] / ans['chunked_300_texts_per_s']:.2f}x the cost)"
    )
    best = max(cpu["batched_default_texts_per_s"], cpu["batched_2_cores_texts_per_s"])
    print(
        f"  CPU target >= {CPU_TARGET:,} texts/s: {'met' if best >= CPU_TARGET else 'NOT met'} (best {best:,.0f})"
    )

    bert = bench_bert(args.quick)
    print(f"\n(2) BERT at {bert.get('seq_len', 128)} tokens")
    if "skipped" in bert:
        print(f"  skipped: {bert['skipped']}")
    elif "skipped_gpu" in bert:
        print(f"  {bert['skipped_gpu']}")
        b0 = bert["cpu_baseline_torch_one_at_a_time_texts_per_s"]
        b1 = bert["cpu_ort_batched_texts_per_s"]
        print(f"  CPU check, {bert['model']}:")
        print(f"    {'baseline: PyTorch, one text per call':54s} {b0:10,.0f}")
        print(f"    {'ORT CPU, batches of 32, 2 threads':54s} {b1:10,.0f} {b1 / b0:11.1f}x")
    else:
        b0 = bert["baseline_torch_one_at_a_time_texts_per_s"]
        b1 = bert["ort_cuda_fp16_batched_texts_per_s"]
        print(f"    {'baseline: PyTorch on CUDA, one text per call':54s} {b0:10,.0f}")
        print(f"    {'ORT CUDA fp16, IO binding, batches of 256':54s} {b1:10,.0f} {b1 / b0:11.1f}x")
        print(f"  GPU target >= {GPU_TARGET:,} texts/s: {'met' if b1 >= GPU_TARGET else 'NOT met'}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": info,
                "quick": args.quick,
                "default_bundle_cpu": cpu,
                "bert": bert,
                # the ratios printed above, so README can quote them from this file
                "ratios": {
                    "batched_vs_one_at_a_time": cpu["batched_default_texts_per_s"] / base,
                    "batched_2_cores_vs_one_at_a_time": cpu["batched_2_cores_texts_per_s"] / base,
                    "answers_whole_vs_chunked": ans["whole_texts_per_s"]
                    / ans["chunked_300_texts_per_s"],
                },
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
