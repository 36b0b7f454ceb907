"""Canary judge: healthy traffic never fails, each kind of bad canary fails and is named,
sampled toxicity matches full scoring, checkpoints resume exactly, bad input is refused."""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest

import detectors.canary.judge as judge_module
from detectors.canary import (
    CanaryJudge,
    CanaryParams,
    CanaryVerdict,
    fisher_exact_greater,
    mann_whitney_from_histograms,
    proportion_z_test,
    spent_alpha,
)


@dataclass(frozen=True)
class Track:
    """How one track behaves: rates per event and the latency distribution."""

    error: float = 0.01
    pii: float = 0.002
    toxic: float = 0.02
    latency_log_median: float = 5.5  # ~245 ms
    latency_sigma: float = 0.6


HEALTHY = Track()


def minute_batch(
    rng: np.random.Generator,
    minute: int,
    stable: Track = HEALTHY,
    canary: Track = HEALTHY,
    n_stable: int = 300,
    n_canary: int = 30,
    service: str = "chat",
    extra_tracks: dict[str, int] | None = None,
) -> dict[str, np.ndarray]:
    """One minute of events for one service, every answer scored (weight 1)."""
    parts = [("stable", n_stable, stable), ("canary", n_canary, canary)]
    for name, n in (extra_tracks or {}).items():
        parts.append((name, n, HEALTHY))
    tracks = np.concatenate([np.full(n, name, dtype=object) for name, n, _ in parts])
    deployments = np.concatenate(
        [np.full(n, f"{service}-{name}", dtype=object) for name, n, _ in parts]
    )

    def per_event(attr: str) -> np.ndarray:
        return np.concatenate([np.full(n, getattr(t, attr)) for _, n, t in parts])

    n = len(tracks)
    toxic = rng.random(n) < per_event("toxic")
    score = np.where(toxic, rng.uniform(0.6, 1.0, n), rng.uniform(0.0, 0.4, n))
    return {
        "minutes": np.full(n, minute, dtype=np.int64),
        "services": np.full(n, service, dtype=object),
        "tracks": tracks,
        "deployments": deployments,
        "error": rng.random(n) < per_event("error"),
        "pii_leak": rng.random(n) < per_event("pii"),
        "toxicity": score,
        "weight": np.ones(n),
        "latency_ms": np.exp(
            per_event("latency_log_median") + per_event("latency_sigma") * rng.standard_normal(n)
        ),
    }


def run(judge: CanaryJudge, batches: list[dict[str, np.ndarray]] | Any) -> list[CanaryVerdict]:
    out: list[CanaryVerdict] = []
    for b in batches:
        judge.update_batch(**b)
        out += judge.close_through(int(b["minutes"].max()))
    return out


def change_traffic(seed: int, bad: Track, minutes: int = 90, change_at: int = 60):
    rng = np.random.default_rng(seed)
    for m in range(minutes):
        yield minute_batch(rng, m, canary=HEALTHY if m < change_at else bad)


# --------------------------------------------------------------------------- healthy


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_healthy_canary_for_a_day_never_fails(seed: int) -> None:
    rng = np.random.default_rng(seed)
    judge = CanaryJudge()
    changes = run(judge, (minute_batch(rng, m) for m in range(1440)))
    assert [v.verdict for v in changes] == ["pass"]  # passes once enough samples, stays
    assert judge.verdict("chat") == "pass"


@pytest.mark.parametrize("seed", [4, 5])
def test_healthy_day_without_practical_margins_still_never_fails(seed: int) -> None:
    """The statistics alone (margins 0, latency ratio 1) hold the day: the correction works."""
    params = CanaryParams(min_error_delta=0, min_pii_delta=0, min_toxic_delta=0, latency_ratio=1)
    rng = np.random.default_rng(seed)
    changes = run(CanaryJudge(params), (minute_batch(rng, m) for m in range(1440)))
    assert "fail" not in [v.verdict for v in changes]


def test_without_alpha_spending_the_healthy_day_would_fail(monkeypatch) -> None:
    """The day tests above can catch a missing correction: constant alpha per look fails."""
    monkeypatch.setattr(judge_module, "spent_alpha", lambda alpha, look, k: alpha)
    params = CanaryParams(min_error_delta=0, min_pii_delta=0, min_toxic_delta=0, latency_ratio=1)
    rng = np.random.default_rng(4)
    changes = run(CanaryJudge(params), (minute_batch(rng, m) for m in range(1440)))
    assert "fail" in [v.verdict for v in changes]


def test_spent_alpha_sums_to_alpha_over_looks_and_metrics() -> None:
    total = sum(spent_alpha(0.01, t, 4) for t in range(1, 1_000_001)) * 4
    assert total == pytest.approx(0.01 * (1 - 6 / math.pi**2 / 1_000_000), rel=1e-5)
    assert spent_alpha(0.01, 2, 4) == pytest.approx(spent_alpha(0.01, 1, 4) / 4)
    with pytest.raises(ValueError):
        spent_alpha(0.01, 0, 4)


def test_exact_proportion_p_values_match_scipy_hypergeometric() -> None:
    hypergeom = pytest.importorskip("scipy.stats").hypergeom
    rng = np.random.default_rng(21)
    for _ in range(300):
        n_c, n_s = int(rng.integers(1, 2000)), int(rng.integers(1, 20000))
        rate = float(rng.choice([0.0005, 0.01, 0.2]))
        x_c = int(rng.binomial(n_c, min(1.0, rate * rng.uniform(0.5, 4))))
        x_s = int(rng.binomial(n_s, rate))
        expected = min(1.0, float(hypergeom.sf(x_c - 1, n_c + n_s, x_c + x_s, n_c)))
        assert fisher_exact_greater(x_c, n_c, x_s, n_s) == pytest.approx(
            expected, rel=1e-7, abs=1e-300
        )


def test_one_rare_leak_in_a_small_canary_is_not_a_fail() -> None:
    """The pooled z-test calls 1/210 vs 0/2100 significant (p = 0.0008 < alpha_1 = 0.0015);
    the exact test does not (p = 0.09): a healthy service with rare PII leaks stays a pass."""
    rng = np.random.default_rng(22)
    judge = CanaryJudge()
    batches = []
    for m in range(7):  # minute 6 is the first look: 210 canary, 2,100 stable events
        b = minute_batch(rng, m, stable=Track(pii=0.0), canary=Track(pii=0.0))
        b["pii_leak"][-1] = m == 6  # exactly one canary leak
        batches.append(b)
    changes = run(judge, batches)
    assert [v.verdict for v in changes] == ["pass"]
    pii = changes[0].metrics["pii_leak_ratio"]
    assert pii["canary"] - pii["stable"] > CanaryParams().min_pii_delta  # beyond the margin
    assert pii["p_value"] == pytest.approx(210 / 2310)
    assert proportion_z_test(1, 210, 0, 2100)[1] < pii["alpha_used"]  # z-test would fail it


# --------------------------------------------------------------------------- bad canaries


@pytest.mark.parametrize(
    ("bad", "metric"),
    [
        (Track(error=0.05), "error_ratio"),
        (Track(latency_log_median=HEALTHY.latency_log_median + math.log(2)), "latency"),
        (Track(toxic=0.30), "toxicity_ratio"),
        (Track(pii=0.05), "pii_leak_ratio"),
    ],
    ids=["errors", "slow", "toxic", "pii"],
)
def test_bad_canary_fails_within_minutes_naming_the_metric(bad: Track, metric: str) -> None:
    stable = Track(error=0.0005) if metric == "error_ratio" else HEALTHY
    rng = np.random.default_rng(7)
    judge = CanaryJudge()
    changes = run(
        judge,
        (minute_batch(rng, m, stable=stable, canary=stable if m < 60 else bad) for m in range(90)),
    )
    assert [v.verdict for v in changes] == ["pass", "fail"]
    fail = changes[-1]
    assert 60 <= fail.minute <= 72, fail.minute
    assert fail.failed_metrics == (metric,)
    assert fail.previous == "pass"
    assert (fail.window_start_minute, fail.window_end_minute) == (fail.minute - 29, fail.minute)
    assert (fail.service, fail.deployment, fail.baseline_deployment) == (
        "chat",
        "chat-canary",
        "chat-stable",
    )
    evidence = fail.metrics[metric]
    assert evidence["failed"] == 1.0
    assert evidence["p_value"] <= evidence["alpha_used"] < 0.01 / 4
    assert evidence["canary"] > evidence["stable"]
    assert evidence["n_canary"] >= 200 and evidence["n_stable"] >= 200
    assert set(fail.metrics) == {"error_ratio", "pii_leak_ratio", "toxicity_ratio", "latency"}
    d = fail.to_dict()
    assert d["verdict"] == "fail" and d["failed_metrics"] == [metric]


def test_canary_better_than_stable_does_not_fail() -> None:
    """One-sided: fewer errors, no PII, less toxic and faster is a pass, not a fail."""
    worse_stable = Track(error=0.08, pii=0.05, toxic=0.3, latency_log_median=6.5)
    better = Track(error=0.0, pii=0.0, toxic=0.0, latency_log_median=5.0)
    params = CanaryParams(min_error_delta=0, min_pii_delta=0, min_toxic_delta=0, latency_ratio=1)
    rng = np.random.default_rng(8)
    changes = run(
        CanaryJudge(params),
        (minute_batch(rng, m, stable=worse_stable, canary=better) for m in range(120)),
    )
    assert [v.verdict for v in changes] == ["pass"]
    # the tests themselves are one-sided: a two-sided test would give p ~ 0 here
    assert proportion_z_test(0, 900, 720, 9000)[1] > 0.99
    fast, slow = np.zeros(128, dtype=np.int64), np.zeros(128, dtype=np.int64)
    fast[40], slow[60] = 900, 9000
    assert mann_whitney_from_histograms(fast, slow)[1] > 0.99


def test_canary_compared_with_baseline_when_there_is_no_stable() -> None:
    rng = np.random.default_rng(9)
    batches = []
    for m in range(40):
        b = minute_batch(rng, m, canary=Track(error=0.2) if m >= 20 else HEALTHY)
        b["tracks"] = np.where(b["tracks"] == "stable", "baseline", b["tracks"]).astype(object)
        b["deployments"] = np.where(b["tracks"] == "baseline", "chat-v1", "chat-v2").astype(object)
        batches.append(b)
    changes = run(CanaryJudge(), batches)
    assert [v.verdict for v in changes] == ["pass", "fail"]
    assert changes[-1].baseline_deployment == "chat-v1" and changes[-1].deployment == "chat-v2"


def test_inconclusive_below_min_samples_and_for_services_without_canary() -> None:
    rng = np.random.default_rng(10)
    judge = CanaryJudge(CanaryParams(min_samples=200))
    # 5 canary events a minute: 150 in a 30-minute window, never enough
    changes = run(
        judge, (minute_batch(rng, m, canary=Track(error=0.5), n_canary=5) for m in range(60))
    )
    assert changes == [] and judge.verdict("chat") == "inconclusive"
    assert judge.services == ["chat"]
    only_stable = minute_batch(rng, 100, n_canary=0, service="search")
    judge.update_batch(**only_stable).close_through(200)
    assert judge.services == ["chat"]  # no canary, no comparison


# --------------------------------------------------------------------------- sampling


def test_sampled_toxicity_with_weights_matches_full_scoring() -> None:
    rng = np.random.default_rng(11)
    full = list(change_traffic(11, Track(toxic=0.30), minutes=100))
    sampled = []
    for b in full:
        b = dict(b)
        # stable scored 1 in 3 (weight 3), canary 1 in 2 (weight 2): unbiased via the weights
        is_canary = b["tracks"] == "canary"
        keep = rng.random(len(is_canary)) < np.where(is_canary, 0.5, 1 / 3)
        b["toxicity"] = np.where(keep, b["toxicity"], np.nan)
        b["weight"] = np.where(is_canary, 2.0, 3.0)
        sampled.append(b)
    a, s = CanaryJudge(), CanaryJudge()
    ca, cs = run(a, full), run(s, sampled)
    assert [(v.verdict, v.failed_metrics) for v in ca] == [
        (v.verdict, v.failed_metrics) for v in cs
    ]
    assert ca[-1].failed_metrics == ("toxicity_ratio",)
    assert abs(ca[-1].minute - cs[-1].minute) <= 3
    ta, ts = ca[-1].metrics["toxicity_ratio"], cs[-1].metrics["toxicity_ratio"]
    assert ts["n_stable"] < ta["n_stable"]  # Kish effective size reflects the sampling
    assert ts["stable"] == pytest.approx(ta["stable"], abs=0.01)


def test_weights_ignored_where_not_scored() -> None:
    b = minute_batch(np.random.default_rng(12), 0)
    b["toxicity"][:10] = np.nan
    b["weight"][:10] = np.nan  # not scored: weight irrelevant
    CanaryJudge().update_batch(**b)


# --------------------------------------------------------------------------- checkpoint


def test_checkpoint_round_trip_mid_stream_gives_identical_verdicts() -> None:
    batches = list(change_traffic(13, Track(error=0.05, latency_log_median=6.3), minutes=120))
    ref = CanaryJudge()
    ref_changes = run(ref, batches)
    judge = CanaryJudge()
    first = run(judge, batches[:63])
    restored = CanaryJudge.from_bytes(judge.to_bytes())
    assert restored.closed_minute == judge.closed_minute == 62
    rest = run(restored, batches[63:])
    assert [repr(v.to_dict()) for v in first + rest] == [repr(v.to_dict()) for v in ref_changes]
    assert restored.verdict("chat") == ref.verdict("chat") == "fail"
    assert restored.to_bytes() == ref.to_bytes()


def test_checkpoint_refuses_corrupt_or_foreign_data() -> None:
    judge = CanaryJudge()
    run(judge, change_traffic(14, HEALTHY, minutes=10))
    blob = judge.to_bytes()
    with pytest.raises(ValueError, match="bad magic"):
        CanaryJudge.from_bytes(b"TCDR" + blob[4:])
    with pytest.raises(ValueError, match="format v9"):
        CanaryJudge.from_bytes(blob[:4] + bytes([9]) + blob[5:])
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 0xFF
    with pytest.raises(ValueError, match="corrupt"):
        CanaryJudge.from_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="corrupt"):
        CanaryJudge.from_bytes(blob[:-20])
    with pytest.raises(ValueError):
        CanaryJudge.from_bytes(b"")
    for head in (b"[]", b'{"judge": "drift"}', b'{"judge": "canary"}'):
        payload = zlib.compress(struct.pack(">I", len(head)) + head)
        forged = blob[:5] + struct.pack(">I", zlib.crc32(payload)) + payload
        with pytest.raises(ValueError, match=r"corrupt|not a canary"):
            CanaryJudge.from_bytes(forged)


# --------------------------------------------------------------------------- minutes


def test_close_is_cheap_when_repeated_and_jumps_go_inconclusive_once() -> None:
    judge = CanaryJudge()
    changes = run(judge, change_traffic(15, HEALTHY, minutes=40))
    assert [v.verdict for v in changes] == ["pass"]
    assert judge.close_through(39) == [] and judge.close_through(10) == []
    jump = judge.close_through(39 + 10_000_000)
    assert [v.verdict for v in jump] == ["inconclusive"]
    # minutes 0..39 leave the window one by one: at 63 only 6 x 30 = 180 canary events remain
    assert jump[0].minute == 63
    assert math.isnan(jump[0].metrics["error_ratio"]["alpha_used"])  # an untested look
    assert judge._used <= 3 * 31 and all(not d for t in judge._rows for d in t)  # rows evicted
    assert judge.close_through(39 + 20_000_000) == []


def test_late_events_count_in_later_windows_and_old_ones_are_dropped() -> None:
    rng = np.random.default_rng(16)
    judge = CanaryJudge()
    run(judge, (minute_batch(rng, m) for m in range(50)))
    late = minute_batch(rng, 45)  # closed, but inside the next window
    old = minute_batch(rng, 10)  # older than any later window
    judge.update_batch(**late).update_batch(**old)
    assert judge.late_events == 2 * 330 and judge.dropped_events == 330
    assert 45 in judge._rows[0][1]
    assert 10 not in judge._rows[0][1]


def test_other_tracks_are_ignored_and_services_are_separate() -> None:
    rng = np.random.default_rng(17)
    judge = CanaryJudge()
    batches = []
    for m in range(60):
        a = minute_batch(
            rng,
            m,
            service="chat",
            extra_tracks={"shadow": 50},
            canary=Track(error=0.3) if m >= 30 else HEALTHY,
        )
        b = minute_batch(rng, m, service="search")
        batches.append({k: np.concatenate([a[k], b[k]]) for k in a})
    changes = run(judge, batches)
    assert judge.ignored_events == 60 * 50
    assert judge.services == ["chat", "search"]
    assert judge.verdict("chat") == "fail" and judge.verdict("search") == "pass"
    assert [v.minute for v in changes] == sorted(v.minute for v in changes)


# --------------------------------------------------------------------------- bad input


def test_bad_input_is_refused_clearly() -> None:
    judge = CanaryJudge()
    b = minute_batch(np.random.default_rng(18), 0)
    empty = {k: v[:0] for k, v in b.items()}
    assert judge.update_batch(**empty) is judge and judge.close_through(5) == []
    with pytest.raises(ValueError, match="one length"):
        judge.update_batch(**{**b, "error": b["error"][:-1]})
    with pytest.raises(ValueError, match="integer epoch minutes"):
        judge.update_batch(**{**b, "minutes": b["minutes"].astype(float)})
    bad_w = b["weight"].copy()
    bad_w[3] = 0.0
    with pytest.raises(ValueError, match="weight"):
        judge.update_batch(**{**b, "weight": bad_w})
    mixed = b["services"].copy()
    mixed[0] = 3
    with pytest.raises(ValueError, match="str"):
        judge.update_batch(**{**b, "services": mixed})
    with pytest.raises(ValueError, match="window_minutes"):
        CanaryParams(window_minutes=0)
    with pytest.raises(ValueError, match="alpha"):
        CanaryParams(alpha=1.5)


def test_nan_and_infinite_latencies_are_left_out() -> None:
    rng = np.random.default_rng(19)
    judge = CanaryJudge()
    batches = []
    for m in range(40):
        b = minute_batch(rng, m)
        b["latency_ms"][::3] = np.nan
        b["latency_ms"][1::7] = np.inf
        b["latency_ms"][2::11] = -5.0
        batches.append(b)
    changes = run(judge, batches)
    assert [v.verdict for v in changes] == ["pass"]
    lat = changes[0].metrics["latency"]
    assert lat["n_canary"] < changes[0].metrics["error_ratio"]["n_canary"]
    assert 150 < lat["stable_p50"] < 400


def test_params_and_verdict_serialise() -> None:
    p = replace(CanaryParams(), window_minutes=10)
    assert p.to_dict()["window_minutes"] == 10
    assert CanaryJudge(p).params.window_minutes == 10


@pytest.mark.parametrize("far", [100_000, 2**61], ids=["sorted-keys", "pair-keys"])
def test_batches_spanning_far_apart_minutes_group_like_separate_batches(far: int) -> None:
    rng = np.random.default_rng(20)
    near, distant = minute_batch(rng, 5), minute_batch(rng, far)
    together, apart = CanaryJudge(), CanaryJudge()
    together.update_batch(**{k: np.concatenate([near[k], distant[k]]) for k in near})
    apart.update_batch(**near).update_batch(**distant)
    assert together.to_bytes() == apart.to_bytes()
