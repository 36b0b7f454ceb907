"""Bounded per-minute ring buffers of (total, bad) counts for many keys.

Minute ``m`` lives in slot ``m % capacity``; the owner decides which range of minutes
the ring currently represents and clears slots as that range slides (see
:class:`detectors.slo.evaluator.BurnRateEvaluator`). Memory is ``capacity x keys`` per
counter, i.e. bounded by the longest alert window, never by history.

The layout is slot-major (``[slot, key]``) so that reading one minute for every key is a
contiguous row: evaluating thousands of keys at a minute boundary touches a few rows.

Example
-------
>>> import numpy as np
>>> ring = MinuteRing(capacity=4)
>>> ring.add(np.array([10, 10, 11]), np.array([0, 1, 0]),
...          np.array([5, 7, 2]), np.array([1, 0, 2]))
>>> tot, bad = ring.rows(10, 2, n_keys=2)
>>> tot.tolist(), bad.tolist()
([[5, 7], [2, 0]], [[1, 0], [2, 0]])
"""

from __future__ import annotations

import numpy as np

__all__ = ["MinuteRing"]

_COUNT_DTYPE = np.uint32


class MinuteRing:
    """Per-minute (total, bad) counters for ``n_keys`` keys over ``capacity`` minutes.

    Parameters
    ----------
    capacity
        Number of minute slots.
    key_capacity
        Initial number of key columns; grows by doubling.

    Examples
    --------
    >>> ring = MinuteRing(capacity=3)
    >>> ring.add(np.array([7]), np.array([2]), np.array([4]), np.array([1]))
    >>> ring.key_capacity >= 3, int(ring.totals[7 % 3, 2])
    (True, 4)
    """

    def __init__(self, capacity: int, key_capacity: int = 8) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        kc = max(1, int(key_capacity))
        self.totals = np.zeros((self.capacity, kc), dtype=_COUNT_DTYPE)
        self.bads = np.zeros((self.capacity, kc), dtype=_COUNT_DTYPE)

    @property
    def key_capacity(self) -> int:
        return int(self.totals.shape[1])

    def ensure_keys(self, n_keys: int) -> None:
        """Grow the key dimension (doubling) so that ``n_keys`` columns exist."""
        if n_keys <= self.key_capacity:
            return
        # Grow by half (not doubling): every key column costs a full ring of minutes.
        new = max(n_keys, self.key_capacity + self.key_capacity // 2)
        for name in ("totals", "bads"):
            old = getattr(self, name)
            grown = np.zeros((self.capacity, new), dtype=_COUNT_DTYPE)
            grown[:, : old.shape[1]] = old
            setattr(self, name, grown)

    def add(
        self,
        minutes: np.ndarray,
        key_ids: np.ndarray,
        totals: np.ndarray | None,
        bads: np.ndarray,
    ) -> None:
        """Add counts; the caller guarantees every minute is inside the ring's range.

        Parameters
        ----------
        minutes, key_ids
            int64 arrays of the same length.
        totals
            Events per row (``None``: one event per row).
        bads
            Bad events per row (int), or a bool array (one bad event where true).
        """
        n = len(minutes)
        if n == 0:
            return
        self.ensure_keys(int(key_ids.max()) + 1)
        k = self.key_capacity
        lo = int(minutes.min())
        span = int(minutes.max()) - lo + 1
        flat = (minutes - lo) * k + key_ids
        size = span * k
        if size <= max(4 * n, 1 << 16):
            # Dense: one bincount over the batch's (minute, key) grid.
            tot = (
                np.bincount(flat, minlength=size)
                if totals is None
                else np.bincount(flat, weights=totals, minlength=size)
            )
            bad = np.bincount(flat, weights=bads, minlength=size)
            cells = np.flatnonzero(tot)
            tot_c = tot[cells]
            bad_c = bad[cells]
        else:
            # Sparse (a batch spread over many minutes and keys): group by sorting.
            cells, inverse = np.unique(flat, return_inverse=True)
            tot_c = (
                np.bincount(inverse, minlength=len(cells))
                if totals is None
                else np.bincount(inverse, weights=totals, minlength=len(cells))
            )
            bad_c = np.bincount(inverse, weights=bads, minlength=len(cells))
        minute = cells // k + lo
        key = cells % k
        slot = minute % self.capacity
        # (slot, key) pairs are unique here, so plain fancy-index += is exact.
        self.totals[slot, key] += tot_c.astype(_COUNT_DTYPE)
        self.bads[slot, key] += bad_c.astype(_COUNT_DTYPE)

    def rows(self, first_minute: int, count: int, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
        """Copies of ``count`` consecutive minutes from ``first_minute``, as int64 ``[count, n_keys]``."""
        slots = np.arange(first_minute, first_minute + count, dtype=np.int64) % self.capacity
        return (
            self.totals[slots, :n_keys].astype(np.int64),
            self.bads[slots, :n_keys].astype(np.int64),
        )

    def clear(self, first_minute: int, count: int) -> None:
        """Zero the slots of ``count`` consecutive minutes from ``first_minute``."""
        if count >= self.capacity:
            self.totals[:] = 0
            self.bads[:] = 0
            return
        slots = np.arange(first_minute, first_minute + count, dtype=np.int64) % self.capacity
        self.totals[slots] = 0
        self.bads[slots] = 0
