"""KeyedDriftMonitor: keys, signals, eviction, max-keys cap, checkpoints, bad input."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest

from detectors.drift import CusumParams, KeyedDriftMonitor, KeyRegistry
from detectors.drift.checkpoint import decode, encode

LOGN_MU = np.log(800) - 0.125


def _traffic(seed: int, n_keys: int = 20, n: int = 200_000):
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, n_keys, n)
    ts = np.sort(rng.uniform(0, 3600, n))
    lat = rng.lognormal(LOGN_MU, 0.5, n)
    late = ts > 1800
    lat[(keys == 7) & late] += 426.0  # key 7 slows down after 30 minutes
    lang = rng.choice(["en", "de", "fr"], n, p=[0.8, 0.15, 0.05])
    shifted = (keys == 3) & late
    lang[shifted] = rng.choice(["en", "de", "fr"], int(shifted.sum()), p=[0.5, 0.15, 0.35])
    return keys, ts, lat, lang


def _run(mon: KeyedDriftMonitor, keys, ts, lat, lang, cuts):
    out = []
    for a, b in itertools.pairwise(cuts):
        out += mon.update_batch(keys[a:b], "latency_ms", lat[a:b], ts[a:b])
        out += mon.update_batch(keys[a:b], "language", lang[a:b], ts[a:b])
    return [(v.signal, v.key, v.index, round(v.statistic, 9)) for v in out]


def test_monitor_finds_the_drifting_keys_per_signal():
    keys, ts, lat, lang = _traffic(1)
    mon = KeyedDriftMonitor()
    verdicts = mon.update_batch(keys, "latency_ms", lat, ts) + mon.update_batch(
        keys, "language", lang, ts
    )
    found = {(v.signal, v.key) for v in verdicts}
    expected = {("latency_ms", 7), ("language", 3)}
    assert expected <= found
    # 200k stationary-ish samples at ~0.2 false alarms per 100k: at most one extra.
    assert len(found - expected) <= 1
    v = next(v for v in verdicts if v.signal == "latency_ms" and v.key == 7)
    assert v.detector == "cusum" and v.params["threshold"] == 60.0 and v.threshold == 60.0
    assert v.ts > 1800 and keys[v.row] == 7 and ts[v.row] == v.ts
    d = v.to_dict()
    assert d["key"] == 7 and isinstance(d["key"], int) and d["evidence"]["block_mean"] > 0
    c = mon.counters()
    assert c["latency_ms"]["keys"] == 20
    assert c["latency_ms"]["detections"] == sum(v.signal == "latency_ms" for v in verdicts)


def test_restored_monitor_continues_identically():
    keys, ts, lat, lang = _traffic(2)
    cuts = [0, 50_000, 90_000, 140_000, 200_000]
    straight = _run(KeyedDriftMonitor(), keys, ts, lat, lang, cuts)
    mon = KeyedDriftMonitor()
    first = _run(mon, keys, ts, lat, lang, cuts[:3])
    blob = mon.to_bytes()
    assert len(blob) < 64_000  # compact: 20 keys x 2 signals
    restored = KeyedDriftMonitor.from_bytes(blob)
    rest = _run(restored, keys, ts, lat, lang, cuts[2:])
    assert first + rest == straight and straight
    assert restored.counters() == _counters_after(keys, ts, lat, lang, cuts)


def _counters_after(keys, ts, lat, lang, cuts):
    mon = KeyedDriftMonitor()
    _run(mon, keys, ts, lat, lang, cuts)
    return mon.counters()


def test_string_and_column_keys():
    rng = np.random.default_rng(3)
    cols = np.array([["chat", "prod", "v3"], ["chat", "canary", "v4"]])[rng.integers(0, 2, 1000)]
    mon = KeyedDriftMonitor()
    mon.update_batch(cols, "tokens", rng.poisson(300, 1000))
    assert sorted(mon.signals["tokens"].registry.slot_of) == ["chat|canary|v4", "chat|prod|v3"]


def test_idle_keys_are_evicted_on_event_time_and_state_is_cleared():
    mon = KeyedDriftMonitor(idle_evict_s=60)
    mon.update_batch(np.array(["a"] * 100 + ["b"] * 100), "x", np.ones(200), np.zeros(200))
    slot_a = mon.signals["x"].registry.slot_of["a"]
    mon.update_batch(np.array(["b"]), "x", np.array([1.0]), np.array([61.0]))
    reg = mon.signals["x"].registry
    assert "a" not in reg.slot_of and reg.evicted == 1
    eng = mon.signals["x"].engine
    assert eng.n_seen[slot_a] == 0  # type: ignore[union-attr]
    # a returning key starts afresh (index 0) in a reused slot
    mon.update_batch(np.array(["c"]), "x", np.array([1.0]), np.array([62.0]))
    assert reg.slot_of["c"] == slot_a and eng.n_seen[slot_a] == 1  # type: ignore[union-attr]


def test_max_keys_cap_refuses_new_keys_counts_and_logs(caplog):
    mon = KeyedDriftMonitor(max_keys=3)
    keys = np.arange(10).repeat(5)
    with caplog.at_level(logging.WARNING, logger="tocsin.drift"):
        mon.update_batch(keys, "x", np.ones(keys.size))
    c = mon.counters()["x"]
    assert c["keys"] == 3 and c["rejected_keys"] == 7 and c["rejected_samples"] == 35
    assert "max_keys=3 reached" in caplog.text


def test_bad_input_to_the_monitor():
    mon = KeyedDriftMonitor()
    assert mon.update_batch(np.array([], dtype=np.int64), "x", np.array([])) == []
    with pytest.raises(ValueError, match="unknown drift detector 'ewma'"):
        KeyedDriftMonitor("ewma")
    with pytest.raises(ValueError, match="2 keys for 3 values"):
        mon.update_batch(np.array([1, 2]), "x", np.array([1.0, 2.0, 3.0]))
    mon.update_batch(np.array([1]), "x", np.array([1.0]))
    with pytest.raises(ValueError, match="use a different signal name"):
        mon.update_batch(np.array([1]), "x", np.array(["en"]))
    with pytest.raises(ValueError, match="integer codes or strings"):
        mon.update_batch(np.array([1.5]), "y", np.array([1.0]))
    mon.update_batch(np.array([1, 1, 1]), "x", np.array([np.nan, np.inf, 2.0]))
    assert mon.counters()["x"]["nonfinite"] == 2


def test_river_detector_monitor_runs_and_refuses_checkpoint():
    mon = KeyedDriftMonitor("page_hinkley", river_params={"threshold": 25})
    x = np.r_[np.zeros(1000), np.full(1000, 3.0)]
    v = mon.update_batch(np.zeros(2000, np.int64), "x", x)
    assert v and v[0].detector == "page_hinkley" and v[0].threshold == 25
    with pytest.raises(NotImplementedError, match="default detector only"):
        mon.to_bytes()


def test_checkpoint_format_is_versioned():
    blob = encode({"a": 1}, {"x": np.arange(3)})
    with pytest.raises(ValueError, match="bad magic"):
        decode(b"XXXX" + blob[4:])
    with pytest.raises(ValueError, match="format v9 is not supported"):
        decode(blob[:4] + bytes([9]) + blob[5:])


def test_per_signal_threshold_override():
    mon = KeyedDriftMonitor(signal_params={"latency_ms": CusumParams(threshold=90)})
    mon.update_batch(np.array([1]), "latency_ms", np.array([1.0]))
    mon.update_batch(np.array([1]), "tokens", np.array([1.0]))
    assert mon.signals["latency_ms"].params["threshold"] == 90.0
    assert mon.signals["tokens"].params["threshold"] == 60.0


def test_registry_without_timestamps_never_evicts():
    reg = KeyRegistry(max_keys=5, idle_evict_s=1)
    reg.assign(np.array([1, 2]))
    assert reg.evict_idle().size == 0 and reg.n_keys == 2


def test_registry_string_keys_of_different_lengths_across_batches():
    reg = KeyRegistry()
    a = reg.assign(np.array(["chat|prod|v10", "x"]))
    b = reg.assign(np.array(["chat", "x", "chat|prod|v10"]))
    c = reg.assign(np.array(["chat|prod|v1"]))
    assert a.tolist() == [0, 1] and b.tolist() == [2, 1, 0] and c.tolist() == [3]
    assert reg.assign(np.array([7, 8])).tolist() == [4, 5]  # int codes live alongside
