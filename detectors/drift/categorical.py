"""Categorical drift: a window of recent categories against a reference window.

For language, prompt template, finish reason, error type or a prompt signature, each key
keeps the category counts of a **reference** window (the first ``reference_size`` values
after a start or a detection) and of the current tumbling **window** of ``window_size``
values. At each window end the two histograms are compared with

* the chi-square test of homogeneity (2 x m table over the m categories seen in either),
  which controls false alarms (``alpha`` per window), and
* the population stability index ``PSI = sum((w - r) * ln(w / r))`` over smoothed
  shares, an effect size that keeps a huge stream from firing on trivial differences.

A window is a detection when ``p < alpha`` **and** ``PSI >= min_psi``. Categories are
hashed into ``n_buckets`` buckets (CRC32 of the UTF-8 text, or the integer code), which
bounds memory per key; colliding categories are merged, which can only hide a change
between them.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> before = rng.choice(["en", "de", "fr"], 20_000, p=[0.8, 0.15, 0.05])
>>> after = rng.choice(["en", "de", "fr"], 5_000, p=[0.6, 0.15, 0.25])
>>> det = CategoricalDrift()
>>> hits = [i for i, c in enumerate(np.r_[before, after]) if det.update(c).drift_detected]
>>> hits
[20999]
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Hashable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from detectors.drift.cusum import RawDetection, _stable_argsort
from detectors.drift.registry import grow_slot_arrays

MISSING = "__missing__"


@dataclass(frozen=True, slots=True)
class CategoricalParams:
    """Parameters of :class:`CategoricalDrift` and :class:`KeyedCategorical`.

    Parameters
    ----------
    reference_size
        Values in the reference window.
    window_size
        Values in each compared window.
    alpha
        p-value below which a window can be a detection (per window).
    min_psi
        Smallest PSI that counts as a detection (0.1 is the usual "moderate shift").
    n_buckets
        Hash buckets per key (memory is ``2 * n_buckets`` counts per key).

    Example
    -------
    >>> CategoricalParams(window_size=500).window_size
    500
    """

    reference_size: int = 5_000
    window_size: int = 1_000
    alpha: float = 1e-6
    min_psi: float = 0.05
    n_buckets: int = 64

    def __post_init__(self) -> None:
        if self.reference_size < 1 or self.window_size < 1:
            raise ValueError("reference_size and window_size must be >= 1")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.min_psi < 0:
            raise ValueError(f"min_psi must be >= 0, got {self.min_psi}")
        if self.n_buckets < 2:
            raise ValueError(f"n_buckets must be >= 2, got {self.n_buckets}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for verdicts, configs and checkpoints)."""
        return asdict(self)


def bucket_of(category: Hashable, n_buckets: int) -> int:
    """Stable bucket of one category (same in every process, unlike ``hash``).

    >>> bucket_of("en", 64) == bucket_of("en", 64), bucket_of(70, 64)
    (True, 6)
    """
    if isinstance(category, (int, np.integer)) and not isinstance(category, bool):
        return int(category) % n_buckets
    text = MISSING if category is None else str(category)
    return zlib.crc32(text.encode("utf-8")) % n_buckets


def bucket_codes(values: np.ndarray, n_buckets: int) -> np.ndarray:
    """Buckets of an array of categories (ints, strings or objects; ``None`` = missing).

    >>> bucket_codes(np.array(["en", "de", "en"]), 64).tolist() == [bucket_of("en", 64),
    ...     bucket_of("de", 64), bucket_of("en", 64)]
    True
    """
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        return (values.astype(np.int64) % n_buckets).astype(np.int64)
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    if values.dtype.kind == "O":
        values = np.array([MISSING if v is None else str(v) for v in values])
    uniq, inv = np.unique(values, return_inverse=True)
    table = np.fromiter((bucket_of(str(u), n_buckets) for u in uniq), np.int64, uniq.size)
    return table[inv.ravel()]


def compare_histograms(ref: np.ndarray, win: np.ndarray) -> tuple[float, float, float, int]:
    """PSI, chi-square statistic, its p-value and degrees of freedom for two count rows.

    Works on 2-D arrays (one pair of histograms per row) and returns arrays then.

    >>> psi, chi2, p, df = compare_histograms(np.array([500, 500]), np.array([50, 50]))
    >>> round(psi, 6), round(p, 3), df
    (0.0, 1.0, 1)
    """
    psi, chi2, p, df = compare_histogram_rows(np.atleast_2d(ref), np.atleast_2d(win))
    return float(psi[0]), float(chi2[0]), float(p[0]), int(df[0])


def compare_histogram_rows(
    ref: np.ndarray, win: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise version of :func:`compare_histograms` (vectorised across keys)."""
    ref = ref.astype(np.float64)
    win = win.astype(np.float64)
    both = ref + win
    seen = both > 0
    m = seen.sum(axis=1)
    R = ref.sum(axis=1, keepdims=True)
    W = win.sum(axis=1, keepdims=True)
    # Smoothed shares (half a count per seen cell) keep PSI finite for new categories.
    pr = np.where(seen, (ref + 0.5) / (R + 0.5 * m[:, None]), 1.0)
    pw = np.where(seen, (win + 0.5) / (W + 0.5 * m[:, None]), 1.0)
    psi = np.sum(np.where(seen, (pw - pr) * np.log(pw / pr), 0.0), axis=1)
    tot = R + W
    with np.errstate(divide="ignore", invalid="ignore"):
        er = R * both / tot
        ew = W * both / tot
        chi = np.where(seen, (ref - er) ** 2 / er + (win - ew) ** 2 / ew, 0.0)
    chi2 = chi.sum(axis=1)
    df = np.maximum(m - 1, 1)
    from scipy.special import chdtrc  # lazily: scipy costs start-up time of every CLI call

    p = np.where(m > 1, chdtrc(df, chi2), 1.0)
    return psi, chi2, p, df


class CategoricalDrift:
    """Single-stream, river-style categorical drift detector.

    Parameters
    ----------
    params
        Detector parameters (defaults when omitted).

    Attributes
    ----------
    n
        Values seen.
    psi, p_value
        Of the last compared window (``nan`` before the first).
    detections
        Detections so far.

    Example
    -------
    >>> det = CategoricalDrift(CategoricalParams(reference_size=100, window_size=50))
    >>> for c in ["stop"] * 90 + ["length"] * 10 + ["stop"] * 50:
    ...     _ = det.update(c)
    >>> det.drift_detected, round(det.p_value, 2) > 0.01
    (False, True)
    """

    def __init__(self, params: CategoricalParams | None = None) -> None:
        self.params = params or CategoricalParams()
        k = self.params.n_buckets
        self.ref = np.zeros(k, dtype=np.int64)
        self.win = np.zeros(k, dtype=np.int64)
        self.n = 0
        self.detections = 0
        self.psi = math.nan
        self.p_value = math.nan
        self._drift = False

    @property
    def drift_detected(self) -> bool:
        """True when the last :meth:`update` closed a window that differs."""
        return self._drift

    def update(self, category: Hashable) -> CategoricalDrift:
        """Feed one category (``None`` counts as a missing-value category)."""
        p = self.params
        self._drift = False
        self.n += 1
        b = bucket_of(category, p.n_buckets)
        if self.ref.sum() < p.reference_size:
            self.ref[b] += 1
            return self
        self.win[b] += 1
        if self.win.sum() < p.window_size:
            return self
        self.psi, _, self.p_value, _ = compare_histograms(self.ref, self.win)
        self.win[:] = 0
        if self.p_value < p.alpha and self.psi >= p.min_psi:
            self._drift = True
            self.detections += 1
            self.ref[:] = 0
        return self


_STATE = ("ref", "win", "ref_n", "win_n", "n_seen")


class KeyedCategorical:
    """Categorical drift for many keys: count matrices indexed by slot.

    Each batch is processed in rounds; in a round every slot consumes its values up to its
    next boundary (reference full or window full), so per-value work is one scatter-add
    and the tests run vectorised across the slots that reached a boundary.

    Parameters
    ----------
    params
        Detector parameters.
    capacity
        Initial number of slots.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(5)
    >>> eng = KeyedCategorical(CategoricalParams(reference_size=2000, window_size=500))
    >>> slots = np.repeat([0, 1], 6000)
    >>> p_old, p_new = [0.9, 0.08, 0.02], [0.7, 0.08, 0.22]
    >>> cats = np.r_[rng.choice(3, 6000, p=p_old), rng.choice(3, 3000, p=p_old),
    ...              rng.choice(3, 3000, p=p_new)]
    >>> [(h.slot, h.index) for h in eng.update(slots, cats)]
    [(1, 3499)]
    """

    name = "categorical"

    def __init__(self, params: CategoricalParams | None = None, capacity: int = 64) -> None:
        self.params = params or CategoricalParams()
        self.capacity = 0
        k = self.params.n_buckets
        self.ref = np.zeros((0, k), dtype=np.int64)
        self.win = np.zeros((0, k), dtype=np.int64)
        self.ref_n = np.zeros(0, dtype=np.int64)
        self.win_n = np.zeros(0, dtype=np.int64)
        self.n_seen = np.zeros(0, dtype=np.int64)
        self.ensure_capacity(capacity)

    def ensure_capacity(self, n: int) -> None:
        """Make room for slots ``0 .. n-1``."""
        self.capacity = grow_slot_arrays(self, _STATE, self.capacity, n)

    def clear_slots(self, slots: np.ndarray) -> None:
        """Forget the state of ``slots``."""
        for a in _STATE:
            getattr(self, a)[slots] = 0

    def update(
        self, slots: np.ndarray, categories: np.ndarray, ts: np.ndarray | None = None
    ) -> list[RawDetection]:
        """Feed a batch of categories (ints or strings); return detections."""
        slots = np.asarray(slots, dtype=np.int64)
        categories = np.asarray(categories)
        if slots.shape != categories.shape or slots.ndim != 1:
            raise ValueError(
                f"slots {slots.shape} and categories {categories.shape} must be equal 1-D"
            )
        if slots.size == 0:
            return []
        if slots.min() < 0 or slots.max() >= self.capacity:
            raise ValueError("slot out of range: call ensure_capacity() first")
        ts_arr = np.full(slots.size, np.nan) if ts is None else np.asarray(ts, np.float64)
        p = self.params
        K = p.n_buckets
        buckets = bucket_codes(categories, K)
        order = _stable_argsort(slots, self.capacity)
        s = slots[order]
        b = buckets[order]
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        counts = np.diff(np.r_[starts, s.size])
        gslot = s[starts]
        ptr = np.zeros(starts.size, dtype=np.int64)
        ref_flat = self.ref.reshape(-1)
        win_flat = self.win.reshape(-1)
        out: list[RawDetection] = []
        while True:
            act = np.flatnonzero(ptr < counts)
            if act.size == 0:
                break
            sl = gslot[act]
            in_ref = self.ref_n[sl] < p.reference_size
            need = np.where(
                in_ref, p.reference_size - self.ref_n[sl], p.window_size - self.win_n[sl]
            )
            take = np.minimum(need, counts[act] - ptr[act])
            first = starts[act] + ptr[act]
            base = np.repeat(first - np.cumsum(take) + take, take)
            idx = base + np.arange(int(take.sum()))
            rep_slot = np.repeat(sl, take)
            rep_ref = np.repeat(in_ref, take)
            flat = rep_slot * K + b[idx]
            np.add.at(ref_flat, flat[rep_ref], 1)
            np.add.at(win_flat, flat[~rep_ref], 1)
            self.ref_n[sl[in_ref]] += take[in_ref]
            self.win_n[sl[~in_ref]] += take[~in_ref]
            ptr[act] += take
            done = ~in_ref & (self.win_n[sl] >= p.window_size)
            if done.any():
                d_sl = sl[done]
                last = (first + take - 1)[done]
                psi, chi2, pv, df = compare_histogram_rows(self.ref[d_sl], self.win[d_sl])
                hit = (pv < p.alpha) & (psi >= p.min_psi)
                for j in np.flatnonzero(hit):
                    g = act[done][j]
                    out.append(
                        RawDetection(
                            slot=int(d_sl[j]),
                            index=int(self.n_seen[d_sl[j]] + ptr[g] - 1),
                            ts=float(ts_arr[order[last[j]]]),
                            row=int(order[last[j]]),
                            statistic=float(psi[j]),
                            direction="change",
                            evidence={
                                "psi": float(psi[j]),
                                "chi2": float(chi2[j]),
                                "df": float(df[j]),
                                "p_value": float(pv[j]),
                            },
                        )
                    )
                self.win[d_sl] = 0
                self.win_n[d_sl] = 0
                reset = d_sl[hit]
                self.ref[reset] = 0
                self.ref_n[reset] = 0
        self.n_seen[gslot] += counts
        return out

    def state_arrays(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        """State of ``slots`` as named arrays (for checkpoints)."""
        return {a: getattr(self, a)[slots].copy() for a in _STATE}

    def load_state_arrays(self, slots: np.ndarray, arrays: dict[str, np.ndarray]) -> None:
        """Inverse of :meth:`state_arrays`."""
        self.ensure_capacity(int(slots.max()) + 1 if slots.size else 0)
        for a in _STATE:
            getattr(self, a)[slots] = arrays[a]
