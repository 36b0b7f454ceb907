"""Golden tests: every case of shared/vectors/burn_rate.json, through both evaluators.

``evaluate_series`` (whole-series reference) and the streaming ``BurnRateEvaluator`` (the
production path, fed in irregular chunks, and once split and restored from a checkpoint)
must each produce exactly the expected transitions, in order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detectors.slo import BurnRateEvaluator, Transition, evaluate_series, parse_slo

VECTORS = Path(os.environ["TOCSIN_VECTORS_DIR"]) / "burn_rate.json"  # set by conftest.py


def _cases() -> list[dict[str, Any]]:
    if not VECTORS.is_file():
        return []
    return list(json.loads(VECTORS.read_text())["cases"])


CASES = _cases()
FIELDS = ("minute", "slo", "window", "severity", "state")


def series_of(case: dict[str, Any]) -> np.ndarray:
    if "series" in case:
        return np.asarray(case["series"], dtype=np.int64).reshape(-1, 2)
    rows = [np.tile([seg["total"], seg["bad"]], (seg["minutes"], 1)) for seg in case["segments"]]
    return np.concatenate(rows).astype(np.int64)


def project(transitions: list[Transition]) -> list[dict[str, Any]]:
    return [{f: getattr(t, f) for f in FIELDS} for t in transitions]


def expected(case: dict[str, Any]) -> list[dict[str, Any]]:
    return [{f: e[f] for f in FIELDS} for e in case["expect"]]


def stream(
    ev: BurnRateEvaluator, series: np.ndarray, start: int, stop: int, rng: np.random.Generator
) -> list[Transition]:
    """Feed minutes [start, stop) in random chunks of per-minute counts."""
    out: list[Transition] = []
    pos = start
    while pos < stop:
        size = int(rng.integers(1, 400))
        end = min(stop, pos + size)
        minutes = np.arange(pos, end, dtype=np.int64)
        out.extend(ev.observe_counts(minutes, None, series[pos:end, 0], series[pos:end, 1]))
        pos = end
    return out


def test_vectors_present(vectors_dir: Path, report: Callable[[str], None]) -> None:
    assert (vectors_dir / "burn_rate.json").is_file()
    assert len(CASES) >= 16
    expected = sum(len(c["expect"]) for c in CASES)
    report(
        f"burn-rate vectors: {len(CASES)} cases, {expected} expected transitions, each replayed "
        "through the series evaluation, the streaming evaluator, and per-event streaming "
        "checkpointed and restored mid-case"
    )


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_series_reference(case: dict[str, Any]) -> None:
    spec = parse_slo(case["spec"], "case")
    got = evaluate_series(spec, series_of(case))
    assert project(got) == expected(case)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_streaming_evaluator(case: dict[str, Any]) -> None:
    spec = parse_slo(case["spec"], "case")
    series = series_of(case)
    rng = np.random.default_rng(7)
    ev = BurnRateEvaluator(spec, lateness_minutes=int(rng.integers(0, 3)))
    got = stream(ev, series, 0, len(series), rng)
    got += ev.advance(len(series) - 1)
    assert project(got) == expected(case)
    ref = evaluate_series(spec, series)
    burns = [b for t in got for b in (t.burn_long, t.burn_short)]
    assert burns == pytest.approx([b for t in ref for b in (t.burn_long, t.burn_short)])


def events_of(series: np.ndarray, lo: int) -> tuple[np.ndarray, np.ndarray]:
    """One row per event for minutes lo.. of ``series``: (minutes, bad)."""
    totals = series[:, 0]
    minutes = np.repeat(np.arange(lo, lo + len(series)), totals)
    bad = np.zeros(len(minutes), dtype=bool)
    starts = np.concatenate(([0], np.cumsum(totals)[:-1]))
    for s, b in zip(starts, series[:, 1], strict=True):
        bad[s : s + b] = True
    return minutes, bad


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_streaming_events_split_and_restored(case: dict[str, Any]) -> None:
    """Single events through observe_batch around the incident, with a checkpoint taken
    in the middle of it and restored into a fresh evaluator: same transitions as expected."""
    spec = parse_slo(case["spec"], "case")
    series = series_of(case)
    n = len(series)
    first_bad = int(np.flatnonzero(series[:, 1])[0]) if series[:, 1].any() else n // 2
    cut = max(0, first_bad - 20)
    split = min(n, first_bad + 7)
    events_end = min(n, first_bad + 40)
    ev = BurnRateEvaluator(spec, lateness_minutes=1)
    got = ev.observe_counts(np.arange(cut), None, series[:cut, 0], series[:cut, 1])
    got += ev.observe_batch(*_with_keys(events_of(series[cut:split], cut)))
    ev = BurnRateEvaluator.from_bytes(ev.to_bytes(), spec)
    got += ev.observe_batch(*_with_keys(events_of(series[split:events_end], split)))
    rng = np.random.default_rng(3)
    got += stream(ev, series, events_end, n, rng)
    got += ev.advance(n - 1)
    assert project(got) == expected(case)


def _with_keys(mb: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, None, np.ndarray]:
    # Shuffled inside the batch: event order within a batch must not matter.
    minutes, bad = mb
    order = np.random.default_rng(1).permutation(len(minutes))
    return minutes[order], None, bad[order]
