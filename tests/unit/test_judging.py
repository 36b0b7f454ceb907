"""The live monitors (streams.judging), the SLOs in force and toxicity sampling, in memory.

End to end on the real broker and chdb: tests/integration/test_live_monitoring.py.
"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from detectors.slo import parse_spec_document
from detectors.slo.in_force import slos_in_force, split_key
from detectors.toxicity.sampling import ToxicitySampler
from streams.alerts import AlertRecord, decode_alert, encode_alert
from streams.judging import JudgingConfig, JudgingStage
from streams.monitor import ToxicityStage

T0 = 29_000_000 * 60_000  # an epoch minute boundary
SPEC = parse_spec_document(
    {
        "version": 1,
        "slos": [
            {
                "name": "chat-availability",
                "objective": 0.99,
                "period": "30d",
                "min_events": 50,
                "selector": {"service": "chat"},
                "alerts": [{"long": "1h", "short": "5m", "budget": 0.02, "severity": "page"}],
            }
        ],
    }
)


def minute_batch(
    minute: int,
    n: int = 100,
    *,
    service: str = "chat",
    track: str = "stable",
    deployment: str | None = None,
    bad: float = 0.0,
    partition: int = 0,
    toxicity: float | None = None,
    weight: float | None = None,
) -> SimpleNamespace:
    n_bad = round(n * bad)
    dep = deployment or f"{service}-{track}"
    cols: dict[str, list[Any]] = {
        "event_id": [f"{service}-{track}-{minute}-{i}" for i in range(n)],
        "ts": [T0 + minute * 60_000 + i for i in range(n)],
        "service": [service] * n,
        "deployment": [dep] * n,
        "track": [track] * n,
        "model": ["m"] * n,
        "model_version": ["1"] * n,
        "status": ["error"] * n_bad + ["ok"] * (n - n_bad),
        "latency_ms": [100.0 + (i % 7) for i in range(n)],
        "ttft_ms": [None] * n,
        "tokens_out": [20] * n,
        "toxicity": [toxicity] * n,
        "sample_weight": [weight] * n,
        "response_pii_count": [0] * n,
    }
    return SimpleNamespace(columns=cols, kafka_partitions=[partition] * n)


def merge(*batches: SimpleNamespace) -> SimpleNamespace:
    cols: dict[str, list[Any]] = {k: [] for k in batches[0].columns}
    parts: list[int] = []
    for b in batches:
        for k, v in b.columns.items():
            cols[k].extend(v)
        parts.extend(b.kafka_partitions)
    return SimpleNamespace(columns=cols, kafka_partitions=parts)


def stage(**kw: Any) -> JudgingStage:
    kw.setdefault("lateness_minutes", 0)
    kw.setdefault("drift_enabled", False)
    kw.setdefault("canary_enabled", False)
    return JudgingStage(JudgingConfig.from_spec(SPEC, **kw))


def run(st: JudgingStage, batches: list[SimpleNamespace]) -> list[AlertRecord]:
    out: list[AlertRecord] = []
    for b in batches:
        st.process(b)
        out.extend(a for a, _ in st.take())
    return out


def incident(track: str = "canary") -> list[SimpleNamespace]:
    """Healthy stable and canary for 5 minutes, then the canary fails for 10, then heals."""
    out = []
    for m in range(40):
        bad = 0.5 if (track == "canary" and 5 <= m < 15) else 0.0
        out.append(merge(minute_batch(m, track="stable"), minute_batch(m, track="canary", bad=bad)))
    return out


# ----------------------------------------------------------------------------- SLO alerts


def test_a_failing_canary_pages_for_its_deployment_only_with_the_alert_contract() -> None:
    alerts = run(stage(), incident())
    firing = [a for a in alerts if a.state == "firing"]
    assert firing and {a.deployment for a in firing} == {"chat-canary"}
    page = firing[0]
    assert (page.kind, page.rule, page.severity, page.window) == (
        "slo",
        "chat-availability",
        "page",
        "1h/5m",
    )
    # 50% errors from minute 5: at the end of minute 7 the 1h window holds 150 bad of 800
    # (burn 18.75) and the 5m window 150 of 500 (burn 30), both over 14.4; at minute 6 the
    # 1h window's 100 of 700 is a burn of 14.29, just under: the event-minute is exact.
    assert page.ts == T0 + 8 * 60_000
    assert page.track == "canary" and page.labels["service"] == "chat"
    assert page.value is not None and page.threshold == pytest.approx(14.4)
    burn = json.loads(page.annotations["burn_rates"])
    assert set(burn) == {"1h", "5m"} and burn["5m"] >= 14.4
    assert "deployment = 'chat-canary'" in page.annotations["sql"]
    assert "`status` IN ('error', 'timeout')" in page.annotations["sql"]
    resolved = [a for a in alerts if a.state == "resolved"]
    assert len(resolved) == 1 and resolved[0].incident_id == page.incident_id
    assert resolved[0].alert_id != page.alert_id


def test_alert_ids_are_the_same_on_a_replay_and_the_record_round_trips() -> None:
    first = run(stage(), incident())
    again = run(stage(), incident())
    assert [a.alert_id for a in first] == [a.alert_id for a in again]
    back = decode_alert(encode_alert(first[0]))
    assert back["alert_id"] == first[0].alert_id and back["ts"] == first[0].ts
    assert back["labels"] == first[0].labels and back["kind"] == "slo"


def test_restored_state_continues_exactly_mid_incident() -> None:
    batches = incident()
    reference = [a.alert_id for a in run(stage(), batches)]
    st = stage()
    got = [a.alert_id for a in run(st, batches[:8])]  # killed while the page fires
    blob = st.snapshot(0)
    restored = stage()
    restored.restore(0, blob)
    got += [a.alert_id for a in run(restored, batches[8:])]
    assert got == reference  # no missed resolve, no second page


def test_partitions_have_their_own_watermark_and_state() -> None:
    st = stage()
    run(
        st,
        [
            merge(
                minute_batch(0, partition=0),
                minute_batch(0, service="chat", partition=1, track="canary"),
            )
        ],
    )
    assert st.partitions == [0, 1]
    st.drop([1])
    assert st.partitions == [0]
    # a late partition does not hold back the other one's minutes
    alerts = run(
        st, [minute_batch(m, bad=1.0 if m == 2 else 0.0, partition=0) for m in range(1, 5)]
    )
    assert any(a.state == "firing" for a in alerts)


def test_unselected_services_get_the_zero_config_defaults() -> None:
    batches = [minute_batch(m, service="search", bad=0.5 if m >= 3 else 0.0) for m in range(10)]
    alerts = run(stage(), batches)
    assert alerts and {a.rule for a in alerts} <= {"default-availability", "default-toxicity"}
    assert all(a.deployment == "search-stable" for a in alerts)
    # chat is selected by the configured SLO: it never falls to the defaults
    chat = run(stage(), [minute_batch(m, bad=0.5 if m >= 3 else 0.0) for m in range(10)])
    assert chat and {a.rule for a in chat} == {"chat-availability"}


def test_idle_partitions_close_their_minutes_with_the_wall_clock() -> None:
    st = stage(idle_advance_s=0.0)
    alerts = run(st, [minute_batch(m, bad=1.0 if m >= 3 else 0.0) for m in range(5)])
    assert any(a.state == "firing" for a in alerts)
    st.tick(wall_ms=T0 + 500 * 60_000)  # long silence: every window empties
    resolved = [a for a, _ in st.take() if a.state == "resolved"]
    assert resolved and 0 in st.dirty


def test_sampled_toxicity_counts_with_its_weights() -> None:
    """Each scored answer stands for `weight` answers in the toxicity SLO."""
    spec = parse_spec_document(
        {
            "version": 1,
            "slos": [
                {
                    "name": "tox",
                    "objective": 0.99,
                    "period": "30d",
                    "sli": {"kind": "quality", "field": "toxicity", "threshold": 0.5},
                    "alerts": [{"long": "1h", "short": "5m", "budget": 0.02, "severity": "page"}],
                }
            ],
        }
    )
    full = JudgingStage(
        JudgingConfig.from_spec(spec, lateness_minutes=0, drift_enabled=False, canary_enabled=False)
    )
    sampled = JudgingStage(
        JudgingConfig.from_spec(spec, lateness_minutes=0, drift_enabled=False, canary_enabled=False)
    )
    for m in range(8):
        tox = 0.9 if m >= 4 else 0.1
        full.process(minute_batch(m, 100, toxicity=tox, weight=1.0))
        sampled.process(minute_batch(m, 25, toxicity=tox, weight=4.0))
    a = [(r.rule, r.state, r.ts) for r, _ in full.take()]
    b = [(r.rule, r.state, r.ts) for r, _ in sampled.take()]
    assert a and a == b


def test_late_events_are_counted() -> None:
    st = stage()
    run(st, [minute_batch(0), minute_batch(5)])
    run(st, [minute_batch(1, 10)])  # minute 1 closed when minute 5 arrived (lateness 0)
    assert st.late_events == 10


def test_drift_and_canary_alerts_follow_the_contract() -> None:
    # a short warm-up: the canary sends 60 events a minute
    drift = {"warmup": 300, "reference_size": 600}
    st = JudgingStage(JudgingConfig.from_spec(SPEC, lateness_minutes=0, drift_config=drift))
    rng = np.random.default_rng(3)
    alerts: list[AlertRecord] = []
    for m in range(90):
        bad = 0.3 if m >= 45 else 0.0
        b = merge(
            minute_batch(m, 200, track="stable"), minute_batch(m, 60, track="canary", bad=bad)
        )
        slow = 3.0 if m >= 45 else 1.0
        b.columns["latency_ms"] = [
            float(x) * (slow if t == "canary" else 1.0)
            for x, t in zip(rng.lognormal(5, 0.3, 260), b.columns["track"], strict=True)
        ]
        st.process(b)
        alerts.extend(a for a, _ in st.take())
    canary = [a for a in alerts if a.kind == "canary"]
    fails = [a for a in canary if a.labels["verdict"] == "fail"]
    assert fails and fails[0].severity == "page" and fails[0].state == "firing"
    assert fails[0].rule == "canary-verdict" and fails[0].deployment == "chat-canary"
    assert "error_ratio" in fails[0].annotations["failed_metrics"]
    assert fails[0].ts >= T0 + 45 * 60_000
    drift = [a for a in alerts if a.kind == "drift"]
    assert drift and all(a.deployment == "chat-canary" for a in drift)
    assert {a.rule for a in drift} & {"latency_ms"}


# ----------------------------------------------------------------------------- in force


def test_slos_in_force_scope_per_deployment_and_escape_keys() -> None:
    live = slos_in_force(SPEC)
    assert live.slos[0].group_by == ("service", "deployment", "track")
    assert [s.name for s in live.defaults] == ["default-availability", "default-toxicity"]
    assert split_key("a%2Fb/c%25d/canary") == ["a/b", "c%d", "canary"]
    st = stage()
    alerts = run(
        st, [minute_batch(m, deployment="chat/v2", bad=1.0 if m > 1 else 0.0) for m in range(4)]
    )
    assert alerts[0].deployment == "chat/v2"


# ----------------------------------------------------------------------------- sampling


def test_sampling_is_replayable_unbiased_and_spares_canaries() -> None:
    s = ToxicitySampler("ratio", ratio=0.2, canary_min_ratio=0.5)
    ids = [f"e{i}" for i in range(20_000)]
    tracks = ["canary" if i % 10 == 0 else "stable" for i in range(20_000)]
    mask, w = s.choose(ids, tracks)
    assert (mask == s.choose(ids, tracks)[0]).all()
    toxic = np.random.default_rng(8).random(20_000) < 0.15
    estimate = float((w[mask] * toxic[mask]).sum() / w[mask].sum())
    assert estimate == pytest.approx(toxic.mean(), abs=0.01)
    canary = np.array(tracks) == "canary"
    assert set(w[mask & canary].tolist()) == {2.0} and set(w[mask & ~canary].tolist()) == {5.0}


def test_auto_sampling_samples_when_behind_and_recovers() -> None:
    s = ToxicitySampler("auto", max_share=0.5, behind_records=1000)
    s.observe(scored=1000, score_s=1.0, rows=1000, other_s=0.05, lag=50_000)  # 1 ms vs 50 us
    assert s.k == 20  # scoring 1/20 of the answers takes half of the worker's time
    for _ in range(6):  # drained, 500 events/s arriving: room to score every answer again
        s.observe(scored=50, score_s=0.05, rows=1000, other_s=0.05, lag=0, interval_s=2.0)
    assert s.k == 1


def test_auto_sampling_starts_with_a_probe_not_a_whole_batch() -> None:
    # A worker that starts behind a backlog gets a first batch of 10,000 answers: scoring
    # them all (~6 s on a CPU) only to learn that it cannot keep up was half of a benchmark
    # run. Before any cost is measured, a large batch with at least another batch waiting
    # behind it scores about COLD_START_ANSWERS.
    s = ToxicitySampler("auto")
    ids = [f"e{i}" for i in range(10_000)]
    mask, w = s.choose(ids, ["stable"] * 10_000, lag=90_000)
    assert s.probing and s.k == 40
    assert 150 < int(mask.sum()) < 350 and set(w[mask].tolist()) == {40.0}
    # a start with what one batch holds (a demo, a quiet service): every answer is scored
    for n, lag in ((100, 0), (200, 10_000), (3_000, 500), (10_000, 9_999)):
        quiet = ToxicitySampler("auto")
        mask, _ = quiet.choose(ids[:n], ["stable"] * n, lag=lag)
        assert bool(mask.all()) and quiet.k == 1 and not quiet.probing
    s.observe(scored=250, score_s=0.25, rows=10_000, other_s=0.5, lag=0, interval_s=1.0)
    s.choose(ids, ["stable"] * 10_000, lag=90_000)
    assert s.k == 20 and not s.probing  # measured from now on: no probe once a cost is known
    always = ToxicitySampler("always")
    assert bool(always.choose(ids, ["stable"] * 10_000, lag=90_000)[0].all())


def test_auto_sampling_counts_seconds_of_work_in_the_lag_not_only_records() -> None:
    # 1,500 records behind is far below behind_records, but at 1 ms an answer it is 1.5 s
    # of work: alerts would be that late. The sampler must react to the time.
    s = ToxicitySampler("auto", max_share=0.25, behind_records=20_000, behind_s=1.0)
    s.observe(scored=1000, score_s=1.0, rows=1000, other_s=0.1, lag=1_500, interval_s=0.5)
    assert s.drain_s == pytest.approx(1_500 * 0.0011)
    assert s.k == 30  # f = 0.25/0.75 * 0.1 ms / 1 ms = 1/30
    # half a second of work left: between a quarter of behind_s and behind_s, k stays
    s.observe(scored=34, score_s=0.034, rows=1000, other_s=0.1, lag=4_000, interval_s=0.5)
    assert 0.25 < s.drain_s < 1.0 and s.k == 30
    # drained: score more again, one halving per batch (the input rate, 3,500/s averaged,
    # leaves room for k = 10: 3,500 * (0.1 ms + 1 ms / 10) = 0.7 s of work a second)
    s.observe(scored=34, score_s=0.034, rows=1000, other_s=0.1, lag=100, interval_s=0.5)
    assert s.input_rate == pytest.approx(3_500)
    assert s.k == 15
    s.observe(scored=67, score_s=0.067, rows=1000, other_s=0.1, lag=800, interval_s=0.5)
    assert s.input_rate == pytest.approx(3_450)
    assert s.k == 10  # not 7: the input rate leaves no room for it
    # a lag above behind_records is behind whatever the time
    cheap = ToxicitySampler("auto", max_share=0.25, behind_records=1000, behind_s=60.0)
    cheap.observe(scored=1000, score_s=1.0, rows=1000, other_s=0.1, lag=5_000)
    assert cheap.k == 30


def test_auto_sampling_settles_where_the_input_rate_leaves_room() -> None:
    # 2,000 events/s arrive; the rest of the worker costs 100 us an event and scoring 1 ms
    # an answer: scoring everything (2.2 s of work a second) cannot keep up, scoring one in
    # four keeps the worker 70% busy. The sampler must settle there, not flap between
    # scoring all and falling behind (that lag is alert latency).
    s = ToxicitySampler("auto", max_share=0.25, behind_s=0.5)
    lag, ks, lags = 1000, [], []
    for _ in range(80):
        k, n = s.k, min(lag, 5000)  # a batch takes what has arrived
        busy = n * (100e-6 + 1e-3 / k)
        cycle = max(busy, 0.05)  # a poll returns after 50 ms at the latest
        lag = lag - n + int(2000 * cycle)  # arrivals during the cycle
        s.observe(
            scored=n // k,
            score_s=(n // k) * 1e-3,
            rows=n,
            other_s=n * 100e-6,
            lag=lag,
            answer_share=1.0,
            interval_s=cycle,
        )
        ks.append(s.k)
        lags.append(lag)
    assert set(ks[-30:]) == {4}, ks
    assert max(lags[-30:]) < 1000, lags  # under half a second of events waiting


def test_auto_sampling_budget_counts_the_canary_floor() -> None:
    # Half of the answers are canaries, scored at least one in ten: behind, k must make the
    # total scoring (canaries included) fit max_share, not only the stable part.
    def behind(other_s: float, canary_share: float) -> int:
        s = ToxicitySampler("auto", max_share=0.25, canary_min_ratio=0.1, behind_s=0.5)
        s.observe(
            scored=1000,
            score_s=1.0,
            rows=1000,
            other_s=other_s,
            lag=50_000,
            answer_share=1.0,
            canary_share=canary_share,
        )
        return s.k

    # 30% canaries, 240 us a event for the rest: scoring may take 80 us an event. k = 13
    # (what the stable-only formula gives) scores 0.7/13 + 0.3/10 = 8.4% of the events:
    # 84 us, over budget; k = 14 scores 8.0%.
    assert behind(0.24, 0.3) == 14
    # Half canaries and a cheap worker: the canary floor alone (5% of events, 50 us) is over
    # the 50 us budget: everything else is sampled as little as allowed.
    assert behind(0.15, 0.5) == 1000


def test_canaries_get_a_floor_not_a_free_pass_by_default() -> None:
    s = ToxicitySampler("ratio", ratio=0.01)  # k = 100; canary floor 0.1 -> canary k = 10
    ids = [f"c{i}" for i in range(20_000)]
    mask, w = s.choose(ids, ["canary"] * 20_000)
    assert set(w[mask].tolist()) == {10.0}
    assert 1_700 < int(mask.sum()) < 2_300
    every = ToxicitySampler("ratio", ratio=0.01, canary_min_ratio=1.0)
    assert bool(every.choose(ids[:50], ["canary"] * 50)[0].all())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": "sometimes"},
        {"ratio": 0.0},
        {"canary_min_ratio": 2.0},
        {"max_share": 1.0},
        {"behind_s": 0.0},
    ],
)
def test_sampler_rejects_bad_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ToxicitySampler(**kwargs)


def test_the_sampler_is_fed_busy_time_not_the_wait_for_records() -> None:
    # A quiet worker waits for records between batches; that wait is not a cost per event.
    # Fed as one, it made the sampler think the worker was saturated after any burst, and
    # it never went back to scoring every answer.
    seen: list[dict[str, Any]] = []

    class Recorder(ToxicitySampler):
        def observe(self, **kw: Any) -> None:
            seen.append(kw)
            super().observe(**kw)

    class Scorer:
        def score_batch(self, texts: list[str], chunk_chars: Any = None) -> dict[str, Any]:
            return {"toxicity": np.zeros(len(texts))}

    stage = ToxicityStage(Scorer(), sampler=Recorder("auto"), busy=lambda: 0.01, lag=lambda: 0)

    def batch() -> Any:
        return SimpleNamespace(
            columns={"response": ["fine"] * 10, "event_id": [f"e{i}" for i in range(10)]}
        )

    stage.process(batch())
    time.sleep(0.2)  # idle: waiting for the next records
    stage.process(batch())
    assert seen[1]["other_s"] < 0.011  # the previous batch's 10 ms, not the 200 ms wait
    assert seen[1]["interval_s"] >= 0.2  # the input rate is per wall second
    assert seen[1]["rows"] == 10
