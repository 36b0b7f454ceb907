"""Numeric and categorical drift detectors: behaviour, equivalence, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.drift import (
    CategoricalDrift,
    CategoricalParams,
    CusumParams,
    KeyedCategorical,
    KeyedCusum,
    KeyedRiver,
    StandardizedCusum,
    make_river_detector,
)
from detectors.drift.categorical import bucket_codes, compare_histograms


def _stream(seed: int, n: int = 30_000, shift_at: int | None = None, shift: float = 1.0):
    x = np.random.default_rng(seed).normal(0, 1, n)
    if shift_at is not None:
        x[shift_at:] += shift
    return x


def test_scalar_and_keyed_cusum_detect_the_same_changes():
    x = _stream(1, 40_000, shift_at=20_000, shift=0.5)
    det = StandardizedCusum()
    scalar = [i for i, v in enumerate(x) if det.update(v).drift_detected]
    eng = KeyedCusum()
    keyed = [h.index for h in eng.update(np.zeros(x.size, dtype=np.int64), x)]
    assert scalar == keyed
    assert len(keyed) >= 1 and 20_000 <= keyed[0] < 21_000


def test_keyed_cusum_results_do_not_depend_on_batch_boundaries():
    rng = np.random.default_rng(2)
    n_keys, n = 5, 20_000
    slots = np.tile(np.arange(n_keys), n)
    x = rng.normal(0, 1, slots.size)
    x[(slots == 3) & (np.arange(slots.size) > slots.size // 2)] -= 1.0
    whole = [(h.slot, h.index, h.statistic) for h in KeyedCusum().update(slots, x)]
    eng = KeyedCusum()
    cut = []
    for a, b in [(0, 777), (777, 50_001), (50_001, 50_002), (50_002, slots.size)]:
        cut += [(h.slot, h.index, h.statistic) for h in eng.update(slots[a:b], x[a:b])]
    assert [(s, i) for s, i, _ in whole] == [(s, i) for s, i, _ in cut]
    assert whole[0][0] == 3
    np.testing.assert_allclose([t for *_, t in whole], [t for *_, t in cut], rtol=1e-9)


def test_cusum_is_scale_free():
    """Same detections for x and 1000*x + 5 (the threshold is in standard deviations)."""
    x = _stream(3, 40_000, shift_at=25_000, shift=0.3)
    a = [h.index for h in KeyedCusum().update(np.zeros(x.size, np.int64), x)]
    b = [h.index for h in KeyedCusum().update(np.zeros(x.size, np.int64), 1000 * x + 5)]
    assert a == b and a


def test_cusum_detects_downward_shift_with_direction_and_evidence():
    x = _stream(4, 30_000, shift_at=15_000, shift=-1.0) * 10 + 100
    hits = KeyedCusum().update(np.zeros(x.size, np.int64), x, np.arange(x.size, dtype=float))
    assert hits and hits[0].direction == "down"
    ev = hits[0].evidence
    assert abs(ev["reference_mean"] - 100) < 1 and abs(ev["reference_std"] - 10) < 1
    assert ev["block_mean"] < 100
    assert hits[0].ts == float(hits[0].index)  # ts is the event time of that sample


def test_nonfinite_values_are_skipped_and_counted_without_poisoning_state():
    x = _stream(5, 20_000)
    dirty = x.copy()
    dirty_list = list(dirty)
    for i in (10, 5000, 12_345):
        dirty_list.insert(i, float("nan"))
    dirty_list.insert(7, float("inf"))
    dirty_list.insert(9, float("-inf"))
    dirty = np.array(dirty_list)
    clean_eng, dirty_eng = KeyedCusum(), KeyedCusum()
    clean_eng.update(np.zeros(x.size, np.int64), x)
    dirty_eng.update(np.zeros(dirty.size, np.int64), dirty)
    assert dirty_eng.n_nonfinite == 5
    for a in ("s_pos", "s_neg", "ref_s1", "ref_w", "n_seen"):
        np.testing.assert_array_equal(getattr(clean_eng, a), getattr(dirty_eng, a))
    det = StandardizedCusum()
    for v in dirty:
        det.update(v)
    assert det.n_nonfinite == 5 and det.n == x.size and np.isfinite(det.s_pos)


def test_empty_batches_are_no_ops():
    eng = KeyedCusum()
    assert eng.update(np.zeros(0, np.int64), np.zeros(0)) == []
    assert KeyedCategorical().update(np.zeros(0, np.int64), np.array([], dtype=str)) == []
    assert KeyedRiver("adwin").update(np.zeros(0, np.int64), np.zeros(0)) == []
    assert int(eng.n_seen.sum()) == 0


def test_constant_signal_does_not_divide_by_zero_and_a_step_is_detected():
    x = np.r_[np.full(10_000, 3.0), np.full(200, 4.0)]
    hits = KeyedCusum().update(np.zeros(x.size, np.int64), x)
    assert [h.index for h in hits][:1] == [10_015]


def test_bad_parameters_and_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match="threshold must be > 0"):
        CusumParams(threshold=0)
    with pytest.raises(ValueError, match="warmup"):
        CusumParams(warmup=4, block_size=32)
    with pytest.raises(ValueError, match="must be equal 1-D"):
        KeyedCusum().update(np.zeros(3, np.int64), np.zeros(4))
    with pytest.raises(ValueError, match="ensure_capacity"):
        KeyedCusum(capacity=2).update(np.array([500]), np.array([1.0]))


def test_unknown_river_detector_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown river detector 'adwn': choose one of adwin"):
        make_river_detector("adwn")
    with pytest.raises(ValueError, match="unknown river detector"):
        KeyedRiver("ddm")


def test_river_detectors_by_name_fire_on_a_large_shift():
    x = np.r_[np.zeros(600), np.full(600, 5.0)] + np.random.default_rng(6).normal(0, 1, 1200)
    for name in ("adwin", "page_hinkley", "kswin"):
        hits = KeyedRiver(name).update(np.zeros(x.size, np.int64), x)
        assert any(600 <= h.index < 700 for h in hits), name


# ----------------------------------------------------------------------- categorical


def test_categorical_scalar_and_keyed_agree_and_detect_a_mix_change():
    rng = np.random.default_rng(7)
    langs = np.array(["en", "de", "fr", "es", "ja"])
    p0 = [0.7, 0.1, 0.1, 0.05, 0.05]
    p1 = [0.55, 0.1, 0.1, 0.05, 0.2]
    cats = np.r_[rng.choice(langs, 12_000, p=p0), rng.choice(langs, 4_000, p=p1)]
    det = CategoricalDrift()
    scalar = [i for i, c in enumerate(cats) if det.update(c).drift_detected]
    keyed = KeyedCategorical().update(np.zeros(cats.size, np.int64), cats)
    assert scalar == [h.index for h in keyed]
    assert keyed and 12_000 <= keyed[0].index < 13_000
    assert keyed[0].evidence["p_value"] < 1e-6 and keyed[0].evidence["psi"] >= 0.05


def test_categorical_stationary_skewed_stream_is_quiet():
    rng = np.random.default_rng(8)
    p = 1 / np.arange(1, 41) ** 1.3
    p /= p.sum()
    slots = np.repeat(np.arange(10), 100_000)
    cats = rng.choice(40, slots.size, p=p)
    assert KeyedCategorical().update(slots, cats, None) == []


def test_categorical_results_do_not_depend_on_batch_boundaries():
    rng = np.random.default_rng(9)
    slots = rng.integers(0, 3, 30_000)
    cats = np.where(np.arange(30_000) < 18_000, rng.choice(4, 30_000), rng.choice(2, 30_000))
    p = CategoricalParams(reference_size=2000, window_size=500)
    whole = [(h.slot, h.index) for h in KeyedCategorical(p).update(slots, cats)]
    eng = KeyedCategorical(p)
    cut = []
    for a, b in [(0, 1), (1, 9999), (9999, 20_000), (20_000, 30_000)]:
        cut += [(h.slot, h.index) for h in eng.update(slots[a:b], cats[a:b])]
    assert sorted(whole) == sorted(cut) and whole


def test_histogram_comparison_and_buckets():
    psi, _chi2, p, df = compare_histograms(np.array([900, 100, 0]), np.array([60, 40, 0]))
    assert df == 1 and p < 1e-6 and psi > 0.2
    codes = bucket_codes(np.array(["stop", "length", None, "stop"], dtype=object), 64)
    assert codes[0] == codes[3] and codes.min() >= 0 and codes.max() < 64
