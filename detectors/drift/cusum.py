"""The default numeric drift detector: a scale-free, self-starting block CUSUM.

Why not river's detectors as the default: measured in ``shared/vectors/README.md`` §4,
default ADWIN raises 1.1 false alarms per 100k samples on lognormal latencies, and
PageHinkley's threshold is in raw units (unusable on milliseconds). Both also cost a
Python call per value.

How it works, per key:

* values are grouped in blocks of ``block_size`` samples; the detector only decides at
  block ends, which is what lets the keyed version run vectorised across keys;
* the first ``warmup`` samples after a (re)start build a **reference**: mean and standard
  deviation, kept afterwards as exponentially forgetting sums with an effective memory of
  ``reference_size`` samples (self-starting: the reference keeps learning from every
  block, so it gets more precise instead of being frozen on a noisy warm-up);
* each completed block adds ``sum((x - mean) / std) - n * allowance`` to an upward
  CUSUM and the mirrored amount to a downward one (Page's CUSUM on standardised values,
  clipped at 0 at block ends). Standardising makes the threshold unit-free: the same
  ``threshold`` works for milliseconds, token counts, scores and 0/1 rates;
* a CUSUM above ``threshold`` is a detection; the key then restarts (new warm-up).

``allowance`` (k, in standard deviations) is tuned for the smallest shift that matters
(0.14 sd: a 2% rate doubling) and ``threshold`` (h) was calibrated by simulation to give
at most 1 false alarm per 100,000 stationary samples on N(0,1), lognormal latencies and
Bernoulli(0.02) streams (``tests/golden/test_drift_calibration.py`` measures it;
``tocsin drift calibrate`` refits h on your own history).

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(7)
>>> stream = np.concatenate([rng.normal(0, 1, 20_000), rng.normal(1, 1, 2_000)])
>>> det = StandardizedCusum()
>>> hits = [i for i, x in enumerate(stream) if det.update(x).drift_detected]
>>> hits[0] - 20_000 < 200, len(hits)
(True, 1)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from detectors.drift.registry import grow_slot_arrays

# Calibrated by tests/golden/test_drift_calibration.py's simulation (see module doc).
DEFAULT_BLOCK_SIZE = 32
DEFAULT_ALLOWANCE = 0.07
DEFAULT_THRESHOLD = 60.0
DEFAULT_WARMUP = 5_000
DEFAULT_REFERENCE_SIZE = 20_000


@dataclass(frozen=True, slots=True)
class CusumParams:
    """Parameters of :class:`StandardizedCusum` and :class:`KeyedCusum`.

    Parameters
    ----------
    threshold
        h, in standard deviations of one sample; larger = fewer false alarms, slower.
    allowance
        k, in standard deviations per sample; about half the smallest shift to catch.
    block_size
        Samples per decision; detections land on block ends.
    warmup
        Samples that build the reference before any test (after start and after each
        detection).
    reference_size
        Effective memory (samples) of the self-updating reference.
    min_std
        Floor of the reference standard deviation, relative to ``max(1, |mean|)``, so
        a constant signal does not divide by zero.

    Example
    -------
    >>> CusumParams(threshold=40).with_threshold(50).threshold
    50.0
    """

    threshold: float = DEFAULT_THRESHOLD
    allowance: float = DEFAULT_ALLOWANCE
    block_size: int = DEFAULT_BLOCK_SIZE
    warmup: int = DEFAULT_WARMUP
    reference_size: int = DEFAULT_REFERENCE_SIZE
    min_std: float = 1e-9

    def __post_init__(self) -> None:
        if not self.threshold > 0:
            raise ValueError(f"threshold must be > 0, got {self.threshold}")
        if not self.allowance >= 0:
            raise ValueError(f"allowance must be >= 0, got {self.allowance}")
        if self.block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {self.block_size}")
        if self.warmup < self.block_size:
            raise ValueError(
                f"warmup ({self.warmup}) must be at least block_size ({self.block_size})"
            )
        if self.reference_size < self.block_size * 2:
            raise ValueError(f"reference_size ({self.reference_size}) must be >= 2 * block_size")
        object.__setattr__(self, "threshold", float(self.threshold))
        object.__setattr__(self, "allowance", float(self.allowance))

    def with_threshold(self, threshold: float) -> CusumParams:
        """Copy with another threshold."""
        return replace(self, threshold=float(threshold))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for verdicts, configs and checkpoints)."""
        return asdict(self)


class StandardizedCusum:
    """Single-stream, river-style version of the default detector (pure Python).

    Same arithmetic as :class:`KeyedCusum` for one key; use that one for many keys or
    many values (about 8x faster per value: bench/bench_drift.py).

    Parameters
    ----------
    params
        Detector parameters; the calibrated defaults when omitted.

    Attributes
    ----------
    n
        Finite samples seen.
    n_nonfinite
        NaN/inf values ignored.
    s_pos, s_neg
        Upward and downward CUSUM statistics (standard deviations).
    detections
        Detections so far.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> det = StandardizedCusum()
    >>> for x in rng.lognormal(np.log(800) - 0.125, 0.5, 50_000):
    ...     _ = det.update(x)
    >>> det.detections, det.n
    (0, 50000)
    >>> det.update(float("nan")).n_nonfinite
    1
    """

    def __init__(self, params: CusumParams | None = None) -> None:
        self.params = params or CusumParams()
        self.n = 0
        self.n_nonfinite = 0
        self.detections = 0
        self.offset = math.nan
        self.s_pos = 0.0
        self.s_neg = 0.0
        self.statistic = 0.0
        self._drift = False
        self._since_reset = 0
        self._blk_n = 0
        self._blk_s1 = 0.0
        self._blk_s2 = 0.0
        self._ref_w = 0.0
        self._ref_s1 = 0.0
        self._ref_s2 = 0.0
        self._ref_q = 0.0

    @property
    def drift_detected(self) -> bool:
        """True when the last :meth:`update` declared a change."""
        return self._drift

    def update(self, x: float) -> StandardizedCusum:
        """Feed one value; NaN and inf are counted and ignored."""
        self._drift = False
        x = float(x)
        if not math.isfinite(x):
            self.n_nonfinite += 1
            return self
        if self.offset != self.offset:
            self.offset = x
        xc = x - self.offset
        self.n += 1
        self._blk_n += 1
        self._blk_s1 += xc
        self._blk_s2 += xc * xc
        if self._blk_n < self.params.block_size:
            return self
        p = self.params
        n, s1, s2 = self._blk_n, self._blk_s1, self._blk_s2
        self._blk_n, self._blk_s1, self._blk_s2 = 0, 0.0, 0.0
        if self._since_reset >= p.warmup:
            mean = self._ref_s1 / self._ref_w
            var = self._ref_s2 / self._ref_w - mean * mean
            var_blocks = p.block_size * (self._ref_q / self._ref_w - mean * mean)
            var = max(var, var_blocks)
            floor = p.min_std * max(1.0, abs(mean + self.offset))
            std = math.sqrt(max(var, floor * floor))
            d = (s1 - n * mean) / std
            self.s_pos = max(0.0, self.s_pos + d - n * p.allowance)
            self.s_neg = max(0.0, self.s_neg - d - n * p.allowance)
            self.statistic = max(self.s_pos, self.s_neg)
            if self.statistic > p.threshold:
                self._drift = True
                self.detections += 1
                self._restart()
                return self
        self._since_reset += n
        if self._ref_w + n > p.reference_size:
            f = (p.reference_size - n) / self._ref_w
            self._ref_w *= f
            self._ref_s1 *= f
            self._ref_s2 *= f
            self._ref_q *= f
        self._ref_w += n
        self._ref_s1 += s1
        self._ref_s2 += s2
        self._ref_q += s1 * s1 / n
        return self

    def _restart(self) -> None:
        self.s_pos = self.s_neg = 0.0
        self._since_reset = 0
        self._ref_w = self._ref_s1 = self._ref_s2 = self._ref_q = 0.0


@dataclass(slots=True)
class RawDetection:
    """A detection from a keyed engine, before the registry turns the slot into a key."""

    slot: int
    index: int
    ts: float
    row: int
    statistic: float
    direction: str
    evidence: dict[str, float]


def _stable_argsort(a: np.ndarray, bound: int) -> np.ndarray:
    """Stable argsort of non-negative ints below ``bound``; radix sort when they fit 16 bits."""
    if bound <= 1 << 16:
        return np.argsort(a.astype(np.uint16), kind="stable")
    return np.argsort(a, kind="stable")


_FLOAT_STATE = (
    "offset",
    "blk_s1",
    "blk_s2",
    "ref_w",
    "ref_s1",
    "ref_s2",
    "ref_q",
    "s_pos",
    "s_neg",
)
_INT_STATE = ("blk_n", "since_reset", "n_seen")


class KeyedCusum:
    """The default detector for many keys at once: state arrays indexed by slot.

    A batch is sorted by slot, cut into per-slot block segments with ``np.add.reduceat``,
    and the CUSUM recursion runs once per block *round* (the j-th completed block of every
    slot in the batch), vectorised across slots. Results do not depend on how the stream
    is cut into batches.

    Parameters
    ----------
    params
        Detector parameters.
    capacity
        Initial number of slots (grows by doubling on demand).

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> eng = KeyedCusum()
    >>> slots = np.repeat(np.arange(4), 20_000)       # 4 keys, 20k samples each
    >>> x = rng.normal(0, 1, slots.size)
    >>> x[slots == 2] += np.r_[np.zeros(10_000), np.ones(10_000)]  # key 2 shifts
    >>> hits = eng.update(slots, x, np.zeros(slots.size))
    >>> [(h.slot, h.direction, 10_000 <= h.index < 10_200) for h in hits]
    [(2, 'up', True)]
    """

    name = "cusum"

    def __init__(self, params: CusumParams | None = None, capacity: int = 64) -> None:
        self.params = params or CusumParams()
        self.capacity = 0
        self.n_nonfinite = 0
        # Per-slot state (see the module doc); offset is NaN until a slot's first value.
        self.offset = np.zeros(0)
        self.blk_s1 = np.zeros(0)
        self.blk_s2 = np.zeros(0)
        self.ref_w = np.zeros(0)
        self.ref_s1 = np.zeros(0)
        self.ref_s2 = np.zeros(0)
        self.ref_q = np.zeros(0)
        self.s_pos = np.zeros(0)
        self.s_neg = np.zeros(0)
        self.blk_n = np.zeros(0, dtype=np.int64)
        self.since_reset = np.zeros(0, dtype=np.int64)
        self.n_seen = np.zeros(0, dtype=np.int64)
        self.ensure_capacity(capacity)

    # -- slot management -------------------------------------------------------------
    def ensure_capacity(self, n: int) -> None:
        """Make room for slots ``0 .. n-1``."""
        if n <= self.capacity:
            return
        before = self.capacity
        self.capacity = grow_slot_arrays(self, _FLOAT_STATE + _INT_STATE, before, n)
        self.offset[before:] = np.nan

    def clear_slots(self, slots: np.ndarray) -> None:
        """Forget the state of ``slots`` (evicted keys); they start afresh when reused."""
        for a in _FLOAT_STATE + _INT_STATE:
            getattr(self, a)[slots] = 0
        self.offset[slots] = np.nan

    # -- processing ------------------------------------------------------------------
    def update(
        self, slots: np.ndarray, x: np.ndarray, ts: np.ndarray | None = None
    ) -> list[RawDetection]:
        """Feed a batch; return detections in (round, slot) order.

        Parameters
        ----------
        slots
            int array, slot of each value (``0 <= slot < capacity``).
        x
            float array of values; NaN/inf are counted in ``n_nonfinite`` and skipped.
        ts
            event times (seconds), same length; only reported in detections.
        """
        slots = np.asarray(slots, dtype=np.int64)
        x = np.asarray(x, dtype=np.float64)
        if slots.shape != x.shape or slots.ndim != 1:
            raise ValueError(f"slots {slots.shape} and values {x.shape} must be equal 1-D")
        ts_arr = np.full(x.size, np.nan) if ts is None else np.asarray(ts, dtype=np.float64)
        if ts_arr.shape != x.shape:
            raise ValueError(f"ts {ts_arr.shape} must match values {x.shape}")
        if x.size == 0:
            return []
        if slots.min() < 0 or slots.max() >= self.capacity:
            raise ValueError("slot out of range: call ensure_capacity() first")
        rows = np.arange(x.size)
        finite = np.isfinite(x)
        if not finite.all():
            self.n_nonfinite += int(x.size - finite.sum())
            slots, x, ts_arr, rows = slots[finite], x[finite], ts_arr[finite], rows[finite]
            if x.size == 0:
                return []
        p = self.params
        B = p.block_size
        order = _stable_argsort(slots, self.capacity)
        s = slots[order]
        xs = x[order]
        n = s.size
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        counts = np.diff(np.r_[starts, n])
        gslot = s[starts]
        rank = np.arange(n) - np.repeat(starts, counts)
        # Center on a per-key constant (the first value) for numerically safe variances.
        fresh = np.isnan(self.offset[gslot])
        self.offset[gslot[fresh]] = xs[starts[fresh]]
        xc = xs - self.offset[s]
        pos = self.blk_n[s] + rank  # position in the block sequence, from current block
        rnd = pos // B  # 0 = completes the open block
        seg_start = np.flatnonzero(np.r_[True, (s[1:] != s[:-1]) | (rnd[1:] != rnd[:-1])])
        seg_end = np.r_[seg_start[1:], n] - 1
        seg_n = seg_end - seg_start + 1
        seg_s1 = np.add.reduceat(xc, seg_start)
        seg_s2 = np.add.reduceat(xc * xc, seg_start)
        seg_slot = s[seg_start]
        seg_rnd = rnd[seg_start]
        seg_full = (pos[seg_end] + 1) % B == 0
        seg_index = self.n_seen[seg_slot] + rank[seg_end]
        seg_ts = ts_arr[order][seg_end]
        seg_row = rows[order][seg_end]
        self.n_seen[gslot] += counts
        out: list[RawDetection] = []
        by_round = _stable_argsort(seg_rnd, int(seg_rnd.max()) + 1)
        round_starts = np.flatnonzero(np.r_[True, np.diff(seg_rnd[by_round]) != 0])
        for r0, r1 in zip(round_starts, np.r_[round_starts[1:], by_round.size], strict=True):
            idx = by_round[r0:r1]
            sl = seg_slot[idx]
            self.blk_n[sl] += seg_n[idx]
            self.blk_s1[sl] += seg_s1[idx]
            self.blk_s2[sl] += seg_s2[idx]
            full = seg_full[idx]
            if full.any():
                out.extend(self._close_blocks(sl[full], idx[full], seg_index, seg_ts, seg_row))
        return out

    def _close_blocks(
        self,
        sl: np.ndarray,
        seg: np.ndarray,
        seg_index: np.ndarray,
        seg_ts: np.ndarray,
        seg_row: np.ndarray,
    ) -> list[RawDetection]:
        p = self.params
        n = self.blk_n[sl].astype(np.float64)
        s1 = self.blk_s1[sl]
        s2 = self.blk_s2[sl]
        self.blk_n[sl] = 0
        self.blk_s1[sl] = 0.0
        self.blk_s2[sl] = 0.0
        testing = self.since_reset[sl] >= p.warmup
        alarm = np.zeros(sl.size, dtype=bool)
        out: list[RawDetection] = []
        if testing.any():
            t = sl[testing]
            w = self.ref_w[t]
            mean = self.ref_s1[t] / w
            var = self.ref_s2[t] / w - mean * mean
            var_blocks = p.block_size * (self.ref_q[t] / w - mean * mean)
            var = np.maximum(var, var_blocks)
            floor = p.min_std * np.maximum(1.0, np.abs(mean + self.offset[t]))
            std = np.sqrt(np.maximum(var, floor * floor))
            nt = n[testing]
            d = (s1[testing] - nt * mean) / std
            sp = np.maximum(0.0, self.s_pos[t] + d - nt * p.allowance)
            sn = np.maximum(0.0, self.s_neg[t] - d - nt * p.allowance)
            self.s_pos[t] = sp
            self.s_neg[t] = sn
            stat = np.maximum(sp, sn)
            hit = stat > p.threshold
            if hit.any():
                alarm[np.flatnonzero(testing)[hit]] = True
                for j in np.flatnonzero(hit):
                    k = seg[testing][j]
                    off = float(self.offset[t[j]])
                    out.append(
                        RawDetection(
                            slot=int(t[j]),
                            index=int(seg_index[k]),
                            ts=float(seg_ts[k]),
                            row=int(seg_row[k]),
                            statistic=float(stat[j]),
                            direction="up" if sp[j] >= sn[j] else "down",
                            evidence={
                                "reference_mean": float(mean[j] + off),
                                "reference_std": float(std[j]),
                                "block_mean": float(s1[testing][j] / nt[j] + off),
                                "reference_samples": float(self.since_reset[t[j]]),
                            },
                        )
                    )
                r = t[hit]
                self.s_pos[r] = 0.0
                self.s_neg[r] = 0.0
                self.since_reset[r] = 0
                self.ref_w[r] = 0.0
                self.ref_s1[r] = 0.0
                self.ref_s2[r] = 0.0
                self.ref_q[r] = 0.0
        keep = ~alarm
        if keep.any():
            k_sl = sl[keep]
            nk = n[keep]
            self.since_reset[k_sl] += nk.astype(np.int64)
            w = self.ref_w[k_sl]
            over = w + nk > p.reference_size
            f = np.where(over, (p.reference_size - nk) / np.where(w > 0, w, 1.0), 1.0)
            self.ref_w[k_sl] = w * f + nk
            self.ref_s1[k_sl] = self.ref_s1[k_sl] * f + s1[keep]
            self.ref_s2[k_sl] = self.ref_s2[k_sl] * f + s2[keep]
            self.ref_q[k_sl] = self.ref_q[k_sl] * f + s1[keep] ** 2 / nk
        return out

    # -- checkpoint --------------------------------------------------------------------
    def state_arrays(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        """State of ``slots`` as named arrays (for checkpoints)."""
        return {a: getattr(self, a)[slots].copy() for a in _FLOAT_STATE + _INT_STATE}

    def load_state_arrays(self, slots: np.ndarray, arrays: dict[str, np.ndarray]) -> None:
        """Inverse of :meth:`state_arrays`."""
        self.ensure_capacity(int(slots.max()) + 1 if slots.size else 0)
        for a in _FLOAT_STATE + _INT_STATE:
            getattr(self, a)[slots] = arrays[a]
