"""Benchmark: the canary judge's cost per event at the worker's target rate (15,000 events/s).

Feeds one-second batches of 15,000 events (``--services`` services; tracks 85% stable,
10% canary, 5% shadow; 1% of events one minute late; toxicity scored on 20% with weight 5)
through ``CanaryJudge.update_batch`` and ``close_through`` (called every batch, as the worker
will), in event time = wall time, and reports CPU microseconds per event. Baseline in the
same run, on the same batches: the straightforward per-event Python loop that accumulates the
same per-(service, track, minute) counters into a dict (no histogram, no verdicts), i.e. what
the judge would cost without vectorisation.

Run:  .venv/bin/python bench/bench_canary.py [--quick] [--services N]
Writes bench/results/canary.json.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model  # noqa: E402
from detectors.canary import CanaryJudge  # noqa: E402

RATE = 15_000


def make_batches(seconds: int, n_services: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    names = np.array([f"svc-{i}" for i in range(n_services)], dtype=object)
    track_pool = np.array(["stable"] * 85 + ["canary"] * 10 + ["shadow"] * 5, dtype=object)
    batches = []
    for sec in range(seconds):
        minute = 29_000_000 + sec // 60
        tox = rng.random(RATE)
        tox[rng.random(RATE) < 0.8] = np.nan
        tracks = track_pool[rng.integers(0, 100, RATE)]
        batches.append(
            {
                "minutes": np.full(RATE, minute, dtype=np.int64) - (rng.random(RATE) < 0.01),
                "services": names[rng.integers(0, n_services, RATE)],
                "tracks": tracks,
                "deployments": np.where(tracks == "canary", "dep-2", "dep-1").astype(object),
                "error": rng.random(RATE) < 0.01,
                "pii_leak": rng.random(RATE) < 0.002,
                "toxicity": tox,
                "weight": np.full(RATE, 5.0),
                "latency_ms": rng.lognormal(5.5, 0.6, RATE),
            }
        )
    return batches


def run_judge(batches: list[dict[str, np.ndarray]]) -> tuple[float, int]:
    judge = CanaryJudge()
    changes = 0
    t0 = time.process_time()
    for b in batches:
        judge.update_batch(**b)
        changes += len(judge.close_through(int(b["minutes"].max()) - 1))
    return time.process_time() - t0, changes


def run_python_loop(batches: list[dict[str, np.ndarray]]) -> float:
    t0 = time.process_time()
    acc: dict[tuple[str, str, int], list[float]] = {}
    for b in batches:
        cols = [b[k].tolist() for k in ("services", "tracks", "minutes", "error", "pii_leak")]
        tox = b["toxicity"].tolist()
        w = b["weight"].tolist()
        for s, t, m, e, p, x, wt in zip(*cols, tox, w, strict=True):
            if t not in ("canary", "stable", "baseline"):
                continue
            a = acc.get((s, t, m))
            if a is None:
                a = acc[(s, t, m)] = [0.0] * 6
            a[0] += 1
            a[1] += e
            a[2] += p
            if not math.isnan(x):
                a[3] += wt
                a[4] += wt * (x > 0.5)
                a[5] += wt * wt
    return time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="small smoke run (20 s of traffic)")
    ap.add_argument("--services", type=int, default=20)
    args = ap.parse_args()
    seconds = 20 if args.quick else 180
    batches = make_batches(seconds, args.services)
    n = seconds * RATE
    judge_s, changes = run_judge(batches)
    loop_s = run_python_loop(batches[: max(1, seconds // 6)])
    loop_n = max(1, seconds // 6) * RATE
    result: dict[str, Any] = {
        "events": n,
        "batch": RATE,
        "services": args.services,
        "judge_us_per_event_cpu": round(judge_s / n * 1e6, 3),
        "baseline_python_loop_us_per_event_cpu": round(loop_s / loop_n * 1e6, 3),
        "judge_cpu_share_at_15k_per_s": round(judge_s / n * RATE, 4),
        "verdict_changes": changes,
        "machine": {"cpu": cpu_model(), "python": platform.python_version()},
        "numpy": np.__version__,
    }
    print(json.dumps(result, indent=2))
    if not args.quick:
        out = ROOT / "bench" / "results" / "canary.json"
        out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
