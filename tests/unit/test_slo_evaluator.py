"""Streaming burn-rate evaluator: equivalence with the reference, late/dropped events,
lateness, checkpoints, many keys, and the event-level SloEvaluator."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from detectors.slo import (
    BurnRateEvaluator,
    SloEvaluator,
    StateError,
    Transition,
    evaluate_series,
    parse_slo,
    parse_spec_document,
)

FAST = [
    {"long": "30m", "short": "5m", "budget": 0.05, "severity": "page"},
    {"long": "2h", "short": "10m", "budget": 0.1, "severity": "ticket"},
]


def fast_spec(**over: Any) -> Any:
    base: dict[str, Any] = {"name": "s", "objective": 0.99, "period": "1d", "alerts": FAST}
    base.update(over)
    return parse_slo(base)


def key_tuples(ts: list[Transition]) -> list[tuple[int, str, str, str]]:
    return [(t.minute, t.key, t.window, t.state) for t in ts]


def reference(spec: Any, series_by_key: dict[str, np.ndarray]) -> list[tuple[int, str, str, str]]:
    pos = {a.window: i for i, a in enumerate(spec.alerts)}
    rows = []
    for key, series in series_by_key.items():
        rows += [(t.minute, key, t.window, t.state) for t in evaluate_series(spec, series, key)]
    order = {k: i for i, k in enumerate(series_by_key)}
    return sorted(rows, key=lambda r: (r[0], order[r[1]], pos[r[2]]))


def random_series(rng: np.random.Generator, n: int) -> np.ndarray:
    totals = rng.poisson(rng.uniform(0, 40), n)
    totals[rng.random(n) < 0.1] = 0
    p = np.where(rng.random(n) < 0.15, rng.uniform(0.2, 1.0, n), 0.002)
    return np.stack([totals, rng.binomial(totals, p)], axis=1).astype(np.int64)


@pytest.mark.parametrize("seed", range(6))
def test_streaming_equals_reference_for_many_keys_and_chunkings(seed: int) -> None:
    rng = np.random.default_rng(seed)
    spec = fast_spec(min_events=int(rng.integers(0, 50)))
    n = int(rng.integers(200, 700))
    series = {f"k{i}": random_series(rng, n) for i in range(int(rng.integers(1, 6)))}
    ev = BurnRateEvaluator(
        spec, lateness_minutes=int(rng.integers(0, 4)), ahead_minutes=int(rng.integers(2, 50))
    )
    for k in series:  # fix key order = insertion order of the reference
        ev.key_ids([k], 1)
    got: list[Transition] = []
    pos = 0
    while pos < n:
        end = min(n, pos + int(rng.integers(1, 90)))
        minutes = np.repeat(np.arange(pos, end), len(series))
        keys = np.tile(np.array(list(series)), end - pos)
        stacked = np.stack([series[k][pos:end] for k in series], axis=1).reshape(-1, 2)
        perm = rng.permutation(len(minutes))
        got += ev.observe_counts(minutes[perm], keys[perm], stacked[perm, 0], stacked[perm, 1])
        pos = end
    got += ev.advance(n - 1)
    assert key_tuples(got) == reference(spec, series)
    assert got, "the random traffic is meant to fire something"


def test_events_and_int_key_ids_match_string_keys() -> None:
    spec = fast_spec()
    rng = np.random.default_rng(11)
    n_events = 20_000
    minutes = np.sort(rng.integers(0, 300, n_events))
    names = np.array(["a", "b", "c"])[rng.integers(0, 3, n_events)]
    bad = rng.random(n_events) < np.where(minutes // 60 == 2, 0.5, 0.001)
    by_name = BurnRateEvaluator(spec, lateness_minutes=0)
    by_id = BurnRateEvaluator(spec, lateness_minutes=0)
    ids = by_id.key_ids(names, n_events)
    a = by_name.observe_batch(minutes, names, bad) + by_name.advance(299)
    b = by_id.observe_batch(minutes, ids, bad) + by_id.advance(299)
    assert [t.to_dict() for t in a] == [t.to_dict() for t in b]
    assert {t.key for t in a} == {"a", "b", "c"}
    with pytest.raises(ValueError, match="ids returned by key_ids"):
        by_id.observe_batch(minutes[:1], np.array([7]), bad[:1])


def test_late_events_count_forward_without_retroactive_transitions() -> None:
    spec = fast_spec(alerts=[FAST[0]])
    ev = BurnRateEvaluator(spec, lateness_minutes=0)
    assert ev.observe_counts(np.arange(12), None, [100] * 12, [0] * 12) == []
    assert ev.cursor == 11  # minutes 0..10 evaluated, 11 is open
    # 100 bad events for minute 8, which was evaluated clean already.
    late = ev.observe_batch(np.full(100, 8), None, np.ones(100, dtype=bool))
    assert late == [] and ev.late_events == 100
    got = ev.observe_counts([12], None, [100], [0])
    assert key_tuples(got) == [(11, "", "30m/5m", "firing")]
    # Once minute 8 leaves the 5m window the alert resolves (window 9..13 at minute 13).
    got = ev.observe_counts([13, 14], None, [100, 100], [0, 0])
    assert key_tuples(got) == [(13, "", "30m/5m", "resolved")]


def test_events_older_than_the_longest_window_are_dropped() -> None:
    spec = fast_spec()  # longest window 2h = 120 minutes
    ev = BurnRateEvaluator(spec, lateness_minutes=0)
    ev.observe_counts(np.arange(300), None, [10] * 300, [0] * 300)
    before = ev.to_bytes()
    assert ev.observe_batch(np.full(50, 100), None, np.ones(50, dtype=bool)) == []
    assert ev.dropped_events == 50 and ev.late_events == 0
    assert ev.advance(400) == []
    # The dropped events changed nothing but the counter.
    restored = BurnRateEvaluator.from_bytes(before, spec)
    assert restored.advance(400) == []


def test_lateness_keeps_minutes_open() -> None:
    spec = fast_spec(alerts=[FAST[0]])
    ev = BurnRateEvaluator(spec, lateness_minutes=2)
    ev.observe_counts([0], None, [10], [10])
    assert ev.observe_counts([2], None, [10], [0]) == []  # minute 0 still open
    got = ev.observe_counts([3], None, [10], [0])  # now minute 0 closes
    assert key_tuples(got) == [(0, "", "30m/5m", "firing")]
    # A straggler for minute 1 (still open) is not late.
    ev.observe_counts([1], None, [10], [0])
    assert ev.late_events == 0


def test_idle_gap_longer_than_every_window() -> None:
    spec = fast_spec()
    head = np.array([[100, 0]] * 200 + [[100, 100]] * 5, dtype=np.int64)
    tail = np.array([[100, 0]] * 50 + [[100, 60]] * 3 + [[100, 0]] * 40, dtype=np.int64)
    gap = 100_000
    full = np.concatenate([head, np.zeros((gap, 2), dtype=np.int64), tail])
    ev = BurnRateEvaluator(spec, lateness_minutes=0)
    got = ev.observe_counts(np.arange(len(head)), None, head[:, 0], head[:, 1])
    start = len(head) + gap
    m = np.arange(start, start + len(tail))
    got += ev.observe_counts(m, None, tail[:, 0], tail[:, 1]) + ev.advance(len(full) - 1)
    assert key_tuples(got) == reference(spec, {"": full})
    assert any(t.minute > start for t in got)


def test_memory_is_bounded_by_the_longest_window() -> None:
    spec = fast_spec()
    ev = BurnRateEvaluator(spec, ahead_minutes=10)
    for day in range(3):
        ev.observe_counts(np.arange(day * 1440, (day + 1) * 1440), "k", [5] * 1440, [0] * 1440)
    assert ev._ring.capacity == 120 + 10


def test_invalid_counts() -> None:
    ev = BurnRateEvaluator(fast_spec())
    with pytest.raises(ValueError, match="0 <= bad <= total"):
        ev.observe_counts([0], None, [1], [2])
    with pytest.raises(ValueError, match="same length"):
        ev.observe_counts([0, 1], None, [1], [0])
    with pytest.raises(ValueError, match="rows but bad has"):
        ev.observe_batch([0, 1], None, [True])
    with pytest.raises(ValueError, match="keys has 1 rows but minutes has 2"):
        ev.observe_batch([0, 1], ["a"], [True, False])


# --------------------------------------------------------------------------- checkpoints


def test_checkpoint_restores_mid_incident_for_many_keys() -> None:
    rng = np.random.default_rng(5)
    spec = fast_spec()
    n = 500
    series = {f"k{i}": random_series(rng, n) for i in range(4)}

    def feed(ev: BurnRateEvaluator, lo: int, hi: int) -> list[Transition]:
        out: list[Transition] = []
        for m in range(lo, hi, 37):
            e = min(hi, m + 37)
            minutes = np.repeat(np.arange(m, e), len(series))
            keys = np.tile(np.array(list(series)), e - m)
            c = np.stack([series[k][m:e] for k in series], axis=1).reshape(-1, 2)
            out += ev.observe_counts(minutes, keys, c[:, 0], c[:, 1])
        return out

    whole = BurnRateEvaluator(spec)
    expected = feed(whole, 0, n) + whole.advance(n - 1)
    first = BurnRateEvaluator(spec)
    got = feed(first, 0, 260)
    blob = first.to_bytes()
    second = BurnRateEvaluator.from_bytes(blob, spec)
    assert second.firing == first.firing and second.keys == first.keys
    got += feed(second, 260, n) + second.advance(n - 1)
    assert [t.to_dict() for t in got] == [t.to_dict() for t in expected]


def test_checkpoint_errors() -> None:
    spec = fast_spec()
    ev = BurnRateEvaluator(spec)
    ev.observe_counts([0, 1], "k", [1, 1], [0, 0])
    blob = ev.to_bytes()
    with pytest.raises(StateError, match="different spec"):
        BurnRateEvaluator.from_bytes(blob, fast_spec(objective=0.999))
    with pytest.raises(StateError, match="not an SLO evaluator checkpoint"):
        BurnRateEvaluator.from_bytes(b"garbage!!", spec)
    with pytest.raises(StateError, match="format 9 is not supported"):
        BurnRateEvaluator.from_bytes(blob[:4] + bytes([9]) + blob[5:], spec)
    with pytest.raises(StateError, match="corrupt checkpoint"):
        BurnRateEvaluator.from_bytes(blob[:-40], spec)
    with pytest.raises(StateError, match="corrupt checkpoint"):
        BurnRateEvaluator.from_bytes(blob[:9] + b"[" + blob[10:], spec)
    with pytest.raises(StateError, match="needs a larger ring"):
        BurnRateEvaluator.from_bytes(blob, spec, lateness_minutes=1000)
    relaxed = BurnRateEvaluator.from_bytes(blob, spec, lateness_minutes=3)
    assert relaxed.lateness == 3 and relaxed.cursor == ev.cursor


# --------------------------------------------------------------------------- event level


SPEC_DOC: dict[str, Any] = {
    "version": 1,
    "slos": [
        {
            "name": "avail",
            "objective": 0.99,
            "period": "1d",
            "alerts": FAST,
            "selector": {"service": "chat-*"},
            "group_by": ["track"],
        },
        {
            "name": "ttft",
            "objective": 0.9,
            "period": "1d",
            "alerts": FAST,
            "sli": {"kind": "latency", "field": "ttft_ms", "threshold": 1000},
        },
    ],
}


def events(minute: int, n: int, **cols: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"ts": np.full(n, minute * 60_000 + 1_234, dtype=np.int64)}
    out.update({k: v if isinstance(v, list) else [v] * n for k, v in cols.items()})
    return out


def concat(*batches: dict[str, Any]) -> dict[str, Any]:
    return {
        k: np.concatenate([np.asarray(b[k], dtype=object) for b in batches]) for k in batches[0]
    }


def test_slo_set_selects_classifies_and_groups() -> None:
    ev = SloEvaluator(parse_spec_document(SPEC_DOC), lateness_minutes=0)
    common = {"ttft_ms": 100.0}
    got: list[Transition] = []
    for m in range(10):
        canary_status = "error" if m >= 5 else "ok"
        batch = concat(
            events(m, 50, service="chat-api", track="stable", status="ok", **common),
            events(m, 50, service="chat-api", track="canary", status=canary_status, **common),
            events(m, 50, service="search", track="canary", status="error", **common),
        )
        got += ev.observe_events(batch)
    got += ev.advance(9)
    assert key_tuples(got) == [
        (5, "canary", "30m/5m", "firing"),
        (5, "canary", "2h/10m", "firing"),
    ]
    assert all(t.slo == "avail" for t in got)
    assert sorted(ev.evaluators["avail"].keys) == ["canary", "stable"]


def test_slo_set_event_time_moves_for_an_slo_without_traffic() -> None:
    ev = SloEvaluator(parse_spec_document(SPEC_DOC), lateness_minutes=0)
    got: list[Transition] = []
    # chat-api fails for 3 minutes, then only `search` traffic arrives.
    for m in range(3):
        got += ev.observe_events(
            events(m, 20, service="chat-api", track="stable", status="error", ttft_ms=10.0)
        )
    for m in range(3, 60):
        got += ev.observe_events(
            events(m, 20, service="search", track="stable", status="ok", ttft_ms=10.0)
        )
    avail = [(t.minute, t.window, t.state) for t in got if t.slo == "avail"]
    assert (0, "30m/5m", "firing") in avail
    assert (7, "30m/5m", "resolved") in avail  # 5m window empties at minute 7


def test_slo_set_checkpoint_roundtrip_and_new_slo() -> None:
    spec_file = parse_spec_document(SPEC_DOC)
    ev = SloEvaluator(spec_file)
    ev.observe_events(
        events(0, 10, service="chat-api", track="stable", status="error", ttft_ms=5000.0)
    )
    ev.observe_events(events(3, 10, service="chat-api", track="stable", status="ok", ttft_ms=5.0))
    blob = ev.to_bytes()
    back = SloEvaluator.from_bytes(blob, spec_file)
    assert back.evaluators["avail"].firing == ev.evaluators["avail"].firing
    assert back.evaluators["ttft"].firing == ev.evaluators["ttft"].firing != set()
    # An SLO added to the spec after the checkpoint starts empty; one removed is ignored.
    grown = dict(SPEC_DOC, slos=[*SPEC_DOC["slos"][1:], dict(SPEC_DOC["slos"][0], name="new")])
    back2 = SloEvaluator.from_bytes(blob, parse_spec_document(grown))
    assert back2.evaluators["new"].cursor is None
    assert back2.evaluators["ttft"].firing == ev.evaluators["ttft"].firing
    with pytest.raises(StateError):
        SloEvaluator.from_bytes(b"TSLO" + blob[4:], spec_file)


def test_slo_set_needs_time() -> None:
    ev = SloEvaluator(parse_spec_document(SPEC_DOC))
    with pytest.raises(ValueError, match="'ts'"):
        ev.observe_events({"service": ["chat-api"]})


def naive(spec: Any, series: np.ndarray) -> list[tuple[int, str, str, str]]:
    """The README semantics written as plain loops (independent of both evaluators)."""
    out = []
    state = [False] * len(spec.alerts)
    for m in range(len(series)):
        for pos, alert in enumerate(spec.alerts):
            burns = []
            totals = []
            for w in (alert.long_minutes, alert.short_minutes):
                rows = series[max(0, m - w + 1) : m + 1]
                total, bad = int(rows[:, 0].sum()), int(rows[:, 1].sum())
                ratio = bad / total if total else 0.0
                burns.append(ratio / (1 - spec.objective))
                totals.append(total)
            factor = alert.budget * spec.period.seconds / alert.long.seconds
            now = burns[0] >= factor and burns[1] >= factor and totals[0] >= spec.min_events
            if now != state[pos]:
                state[pos] = now
                out.append((m, "", alert.window, "firing" if now else "resolved"))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_reference_matches_plain_loops(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    spec = fast_spec(min_events=int(rng.integers(0, 200)), objective=float(rng.choice([0.9, 0.99])))
    series = random_series(rng, 300)
    expected = naive(spec, series)
    assert expected, "the random traffic is meant to fire something"
    assert key_tuples(evaluate_series(spec, series)) == expected


def test_slo_set_rejects_ragged_columns() -> None:
    ev = SloEvaluator(parse_spec_document(SPEC_DOC))
    with pytest.raises(ValueError, match="column 'service' has 1 values, expected 2"):
        ev.observe_events({"ts": [0, 1], "service": ["chat-api"], "status": ["ok", "ok"]})
