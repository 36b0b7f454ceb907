"""Benchmark: SLO burn-rate evaluation, vectorised (numpy) vs a per-event Python baseline.

Measures, in the same run and on the same data:

1. **ingestion**: event observations per second into ``BurnRateEvaluator.observe_batch``
   (batches of 10,000 events, the worker's default poll size; the minute evaluations the
   batches trigger are included) against ``DictDequeBaseline``: a straightforward per-event
   Python implementation (dict key -> {minute: [total, bad]}, running window sums, per-key
   alert states). Like for like, twice: string keys on both sides (the headline: what the
   worker has after decode), and integer key ids interned before the timer on both sides
   (what a caller gets who already holds integer keys).
2. **evaluation**: time to evaluate one minute boundary for 10,000 keys (default alerts,
   3-day longest window), vectorised vs the same baseline.

Both implementations must produce identical transitions on the benchmark data (checked).
Times are CPU time of this process (``time.process_time``): both sides are single-threaded,
and CPU time holds up better than wall time on a shared machine.

Run:  .venv/bin/python bench/bench_slo.py [--quick]
Writes bench/results/slo.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model  # noqa: E402
from detectors.slo import (  # noqa: E402
    BurnRateEvaluator,
    SloEvaluator,
    SloSpec,
    Transition,
    load_spec_file,
    parse_slo,
)

SPEC = parse_slo({"name": "bench", "objective": 0.999, "period": "30d"})  # default 4 alerts


class DictDequeBaseline:
    """The obvious per-event Python implementation, with the same semantics.

    Per key a dict ``minute -> [total, bad]`` holding the longest window; running sums per
    (key, window) updated at each minute boundary; per-key alert states.
    """

    def __init__(self, spec: SloSpec, lateness_minutes: int = 1) -> None:
        self.spec = spec
        self.lateness = lateness_minutes
        self.windows = sorted(
            {a.long_minutes for a in spec.alerts} | {a.short_minutes for a in spec.alerts}
        )
        self.horizon = max(self.windows)
        self.alerts = [
            (
                self.windows.index(a.long_minutes),
                self.windows.index(a.short_minutes),
                spec.factor(a),
                a,
            )
            for a in spec.alerts
        ]
        self.buckets: dict[str, dict[int, list[int]]] = {}
        self.sums: dict[str, list[list[int]]] = {}
        self.firing: dict[str, list[bool]] = {}
        self.cursor: int | None = None
        self.watermark: int | None = None
        self.late = 0
        self.dropped = 0

    def add_key(self, key: str) -> dict[int, list[int]]:
        kb = self.buckets[key] = {}
        self.sums[key] = [[0, 0] for _ in self.windows]
        self.firing[key] = [False] * len(self.alerts)
        return kb

    def observe(self, minute: int, key: str, bad: bool) -> list[Transition]:
        if self.cursor is None:
            self.cursor = minute
        if minute < self.cursor - self.horizon:
            self.dropped += 1
            return []
        kb = self.buckets.get(key)
        if kb is None:
            kb = self.add_key(key)
        cell = kb.get(minute)
        if cell is None:
            cell = kb[minute] = [0, 0]
        cell[0] += 1
        cell[1] += bad
        if minute < self.cursor:
            self.late += 1
            for i, w in enumerate(self.windows):
                if minute >= self.cursor - w:
                    self.sums[key][i][0] += 1
                    self.sums[key][i][1] += bad
        if self.watermark is None or minute > self.watermark:
            self.watermark = minute
            return self.advance(minute - 1 - self.lateness)
        return []

    def advance(self, through: int) -> list[Transition]:
        out: list[Transition] = []
        assert self.cursor is not None
        while self.cursor <= through:
            out.extend(self.close(self.cursor))
            self.cursor += 1
        return out

    def close(self, m: int) -> list[Transition]:
        out = []
        budget = self.spec.error_budget
        min_events = self.spec.min_events
        for key, kb in self.buckets.items():
            sums = self.sums[key]
            new = kb.get(m)
            for i, w in enumerate(self.windows):
                s = sums[i]
                if new is not None:
                    s[0] += new[0]
                    s[1] += new[1]
                old = kb.get(m - w)
                if old is not None:
                    s[0] -= old[0]
                    s[1] -= old[1]
            kb.pop(m - self.horizon, None)
            states = self.firing[key]
            for pos, (li, si, factor, alert) in enumerate(self.alerts):
                tl, bl = sums[li]
                ts, bs = sums[si]
                burn_l = (bl / tl if tl else 0.0) / budget
                burn_s = (bs / ts if ts else 0.0) / budget
                now = burn_l >= factor and burn_s >= factor and tl >= min_events
                if now != states[pos]:
                    states[pos] = now
                    out.append(
                        Transition(
                            m,
                            self.spec.name,
                            alert.window,
                            alert.severity,
                            "firing" if now else "resolved",
                            burn_l,
                            burn_s,
                            key,
                        )
                    )
        return out


def machine() -> dict[str, Any]:
    cpu = cpu_model()
    import os

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def make_events(
    n: int, n_keys: int, minutes: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n events in time order over `minutes` minutes; key 0..9 get an incident mid-way."""
    rng = np.random.default_rng(seed)
    m = np.sort(rng.integers(0, minutes, n)).astype(np.int64)
    keys = rng.integers(0, n_keys, n).astype(np.int64)
    p = np.full(n, 0.0005)
    incident = (keys < 10) & (m >= minutes // 2) & (m < minutes // 2 + 5)
    p[incident] = 0.5
    bad = rng.random(n) < p
    return m, keys, bad


def bench_ingest(n: int, n_keys: int, minutes: int, batch: int, seed: int) -> dict[str, Any]:
    m, k, bad = make_events(n, n_keys, minutes, seed)
    names = np.array([f"svc-{i:05d}" for i in range(n_keys)])
    str_keys = names[k]

    def vec(keys_of: str) -> tuple[float, list[Transition]]:
        ev = BurnRateEvaluator(SPEC, lateness_minutes=1)
        ev.key_ids(names, n_keys)  # fix key ids = index for the int-key run
        out: list[Transition] = []
        t0 = time.process_time()
        for i in range(0, n, batch):
            sl = slice(i, i + batch)
            keys = k[sl] if keys_of == "int" else str_keys[sl]
            out += ev.observe_batch(m[sl], keys, bad[sl])
        out += ev.advance(minutes)
        return time.process_time() - t0, out

    def baseline(keys_of: str) -> tuple[float, list[Transition]]:
        base = DictDequeBaseline(SPEC, lateness_minutes=1)
        key_list: list[Any] = names.tolist() if keys_of == "str" else list(range(n_keys))
        for key in key_list:  # same key order as the evaluator's ids
            base.add_key(key)
        ml, bl = m.tolist(), bad.tolist()
        kl = str_keys.tolist() if keys_of == "str" else k.tolist()
        t0 = time.process_time()
        out: list[Transition] = []
        for mi, ki, bi in zip(ml, kl, bl, strict=True):
            out += base.observe(mi, ki, bi)
        out += base.advance(minutes)
        elapsed = time.process_time() - t0
        if keys_of == "int":
            out = [dataclasses.replace(t, key=str(names[int(t.key)])) for t in out]
        return elapsed, out

    # Like for like: each side gets the same keys, strings (what the worker has after
    # decode) or integer ids interned before the timer starts (what a caller who already
    # holds integer keys passes in).
    t_int, tr_int = vec("int")
    t_str, tr_str = vec("str")
    t_base_str, tr_base_str = baseline("str")
    t_base_int, tr_base_int = baseline("int")
    same = _canon(tr_int) == _canon(tr_str) == _canon(tr_base_str) == _canon(tr_base_int)
    return {
        "events": n,
        "keys": n_keys,
        "minutes": minutes,
        "batch": batch,
        "vectorised_str_keys_events_per_s": n / t_str,
        "baseline_str_keys_events_per_s": n / t_base_str,
        "ratio_str": t_base_str / t_str,
        "vectorised_int_keys_events_per_s": n / t_int,
        "baseline_int_keys_events_per_s": n / t_base_int,
        "ratio_int": t_base_int / t_int,
        "ratio_int_vs_str_baseline": t_base_str / t_int,
        "transitions": len(tr_int),
        "identical_transitions": same,
    }


def bench_evaluate(n_keys: int, warm_minutes: int, boundaries: int, seed: int) -> dict[str, Any]:
    """Per-minute-boundary evaluation cost with n_keys keys that all have traffic."""
    rng = np.random.default_rng(seed)
    names = np.array([f"svc-{i:05d}" for i in range(n_keys)])
    total_minutes = warm_minutes + boundaries
    totals = rng.poisson(50, (total_minutes, n_keys)).astype(np.int64)
    bads = rng.binomial(totals, 0.0005)
    hot = slice(warm_minutes, warm_minutes + 3)
    bads[hot, :20] = totals[hot, :20]  # 20 keys have an outage during the timed minutes
    # lateness 0 and feeding minute m before advance(m): only advance() evaluates.
    ev = BurnRateEvaluator(SPEC, lateness_minutes=0)
    ids = ev.key_ids(names, n_keys)
    base = DictDequeBaseline(SPEC, lateness_minutes=0)
    for key in names.tolist():
        base.add_key(key)
    base.cursor = 0
    key_list = names.tolist()

    def feed(minute: int) -> None:
        ev.observe_counts(np.full(n_keys, minute), ids, totals[minute], bads[minute])
        tm, bm = totals[minute].tolist(), bads[minute].tolist()
        for key, t, b in zip(key_list, tm, bm, strict=True):
            base.buckets[key][minute] = [t, b]

    for minute in range(warm_minutes):
        feed(minute)
        ev.advance(minute)
        base.advance(minute)
    vec_times, base_times = [], []
    tr_vec: list[Transition] = []
    tr_base: list[Transition] = []
    for minute in range(warm_minutes, total_minutes):
        feed(minute)
        t0 = time.process_time()
        tr_vec += ev.advance(minute)
        t1 = time.process_time()
        tr_base += base.advance(minute)
        t2 = time.process_time()
        vec_times.append(t1 - t0)
        base_times.append(t2 - t1)
    vec_ms = float(np.median(vec_times) * 1000)
    base_ms = float(np.median(base_times) * 1000)
    ring_mb = (ev._ring.totals.nbytes + ev._ring.bads.nbytes) / 2**20
    return {
        "keys": n_keys,
        "boundaries_timed": boundaries,
        "vectorised_ms_per_boundary_median": vec_ms,
        "vectorised_ms_per_boundary_max": float(np.max(vec_times) * 1000),
        "baseline_ms_per_boundary_median": base_ms,
        "ratio": base_ms / vec_ms,
        "transitions": len(tr_vec),
        "identical_transitions": _canon(tr_vec) == _canon(tr_base),
        "ring_mib": ring_mb,
    }


def _canon(ts: list[Transition]) -> list[tuple[Any, ...]]:
    return sorted((t.minute, t.slo, t.key, t.window, t.state) for t in ts)


def make_columns(n: int, minutes: int, seed: int) -> dict[str, np.ndarray]:
    """A decoded batch as columns, like the worker has after Avro decode + detectors."""
    rng = np.random.default_rng(seed)
    ts = 1_700_000_000_000 + np.sort(rng.integers(0, minutes * 60_000, n))
    incident = (ts - ts[0]) // 60_000 == minutes // 2

    def pick(values: list[Any], p: Any = None) -> np.ndarray:
        return np.array(values, dtype=object)[rng.choice(len(values), n, p=p)]

    status = pick(["ok", "error", "timeout", "filtered"], [0.9985, 0.0007, 0.0003, 0.0005])
    status[incident & (rng.random(n) < 0.3)] = "error"
    return {
        "ts": ts.astype(np.int64),
        "service": pick(["chat-api", "chat-bot", "search", "embed"]),
        "deployment": pick(["chat-api-7f9c", "chat-api-81aa"]),
        "track": pick(["stable", "canary", "shadow"], [0.8, 0.15, 0.05]),
        "model": pick(["gpt-4o", "gpt-4o-mini", "llama-3.1-70b"]),
        "status": status,
        "ttft_ms": rng.lognormal(6.3, 0.6, n),
        "toxicity": rng.beta(0.5, 20, n),
        "response_pii_count": (rng.random(n) < 0.00005).astype(np.int64),
    }


class PerEventSetBaseline:
    """Per-event Python over row dicts: fnmatch selectors, SLI tests, string keys."""

    def __init__(self, slos: tuple[SloSpec, ...]) -> None:
        self.slos = slos
        self.evaluators = [DictDequeBaseline(s, lateness_minutes=1) for s in slos]

    def observe(self, event: dict[str, Any]) -> list[Transition]:
        out: list[Transition] = []
        minute = event["ts"] // 60_000
        for spec, ev in zip(self.slos, self.evaluators, strict=True):
            if not spec.selector.matches(event):
                continue
            sli = spec.sli
            value = event.get(sli.field)
            if sli.kind == "error_ratio":
                bad = value in sli.bad_values
            elif value is None:
                continue
            else:
                bad = bool(value) if sli.threshold is None else value > sli.threshold
            key = "/".join(str(event.get(g) or "") for g in spec.group_by)
            out += ev.observe(minute, key, bad)
        return out

    def close_all(self) -> list[Transition]:
        """Event time reached the newest event for every SLO (as SloEvaluator does)."""
        out: list[Transition] = []
        newest = max((ev.watermark or 0) for ev in self.evaluators)
        for ev in self.evaluators:
            if ev.cursor is not None:
                out += ev.advance(newest - 1 - ev.lateness)
        return out


def bench_events(n: int, minutes: int, batch: int, seed: int) -> dict[str, Any]:
    """Whole batches through SloEvaluator (the example spec) vs the per-event baseline."""
    spec_file = load_spec_file(ROOT / "infra" / "config" / "slos.yaml")
    cols = make_columns(n, minutes, seed)
    ev = SloEvaluator(spec_file, lateness_minutes=1)
    tr_vec: list[Transition] = []
    t0 = time.process_time()
    for i in range(0, n, batch):
        tr_vec += ev.observe_events({k: v[i : i + batch] for k, v in cols.items()})
    t_vec = time.process_time() - t0
    names = list(cols)
    rows = [
        dict(zip(names, r, strict=True))
        for r in zip(*(cols[k].tolist() for k in names), strict=True)
    ]
    base = PerEventSetBaseline(spec_file.slos)
    tr_base: list[Transition] = []
    t0 = time.process_time()
    for row in rows:
        tr_base += base.observe(row)
    t_base = time.process_time() - t0
    tr_base += base.close_all()
    return {
        "events": n,
        "slos": len(spec_file.slos),
        "batch": batch,
        "vectorised_events_per_s": n / t_vec,
        "baseline_events_per_s": n / t_base,
        "ratio": t_base / t_vec,
        "transitions": len(tr_vec),
        "identical_transitions": _canon(tr_vec) == _canon(tr_base),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "slo.json")
    args = ap.parse_args()
    if args.quick:
        ingest = bench_ingest(n=200_000, n_keys=100, minutes=20, batch=10_000, seed=1)
        evaluate = bench_evaluate(n_keys=1_000, warm_minutes=20, boundaries=10, seed=2)
        events = bench_events(n=100_000, minutes=20, batch=10_000, seed=3)
    else:
        ingest = bench_ingest(n=2_000_000, n_keys=1_000, minutes=30, batch=10_000, seed=1)
        evaluate = bench_evaluate(n_keys=10_000, warm_minutes=70, boundaries=30, seed=2)
        events = bench_events(n=1_000_000, minutes=30, batch=10_000, seed=3)
    result = {
        "machine": machine(),
        "quick": args.quick,
        "ingest": ingest,
        "evaluate": evaluate,
        "events": events,
    }
    from rich.console import Console
    from rich.table import Table

    table = Table(title="SLO burn-rate evaluation (default 4 alerts, 3d longest window)")
    for col in ("measure", "vectorised (numpy)", "baseline (per-event dict)", "ratio"):
        table.add_column(col)
    table.add_row(
        f"ingest events/s, string keys both sides ({ingest['keys']} keys, batch {ingest['batch']})",
        f"{ingest['vectorised_str_keys_events_per_s']:,.0f}",
        f"{ingest['baseline_str_keys_events_per_s']:,.0f}",
        f"{ingest['ratio_str']:.1f}x",
    )
    table.add_row(
        "ingest events/s, integer keys interned before timing, both sides",
        f"{ingest['vectorised_int_keys_events_per_s']:,.0f}",
        f"{ingest['baseline_int_keys_events_per_s']:,.0f}",
        f"{ingest['ratio_int']:.1f}x",
    )
    table.add_row(
        f"evaluate one minute boundary, {evaluate['keys']:,} keys (median ms)",
        f"{evaluate['vectorised_ms_per_boundary_median']:.2f}",
        f"{evaluate['baseline_ms_per_boundary_median']:.2f}",
        f"{evaluate['ratio']:.1f}x",
    )
    table.add_row(
        f"decoded batches through {events['slos']} SLOs of infra/config/slos.yaml (events/s)",
        f"{events['vectorised_events_per_s']:,.0f}",
        f"{events['baseline_events_per_s']:,.0f}",
        f"{events['ratio']:.1f}x",
    )
    console = Console(width=140)
    console.print(table)
    console.print(result["machine"])
    console.print(
        f"identical transitions: ingest {ingest['identical_transitions']} "
        f"({ingest['transitions']}), evaluate {evaluate['identical_transitions']} "
        f"({evaluate['transitions']}), events {events['identical_transitions']} "
        f"({events['transitions']}); ring memory for {evaluate['keys']} keys: "
        f"{evaluate['ring_mib']:.0f} MiB"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    ok = all(r["identical_transitions"] for r in (ingest, evaluate, events))
    if not ok:
        print("error: vectorised and baseline transitions differ", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
