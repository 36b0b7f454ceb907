"""Key -> slot registry with event-time idle eviction and a max-keys cap.

Keyed engines keep their state in arrays indexed by slot; this registry maps the
monitored keys (``service|deployment|model_version`` strings, or int codes) to slots,
reuses the slots of keys idle for ``idle_evict_s`` seconds of **event time** (so a
replay evicts exactly like live traffic), and refuses new keys beyond ``max_keys``,
counting what it refused.

Example
-------
>>> import numpy as np
>>> reg = KeyRegistry(max_keys=2, idle_evict_s=60)
>>> reg.assign(np.array(["a", "b", "a", "c"]), np.array([0.0, 1, 2, 3])).tolist()
[0, 1, 0, -1]
>>> reg.rejected_samples, reg.n_keys
(1, 2)
>>> reg.evict_idle().tolist(), reg.watermark
([], 3.0)
>>> _ = reg.assign(np.array(["b"]), np.array([100.0]))
>>> reg.evict_idle().tolist(), reg.key_of(0)
([0], None)
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from typing import Any

import numpy as np

log = logging.getLogger("tocsin.drift")


def normalise_keys(keys: np.ndarray) -> np.ndarray:
    """Keys as a 1-D int or str array; 2-D string columns are joined with ``|``.

    >>> normalise_keys(np.array([["chat", "prod", "v3"]])).tolist()
    ['chat|prod|v3']
    """
    keys = np.asarray(keys)
    if keys.ndim == 2:
        keys = np.array(["|".join(map(str, row)) for row in keys.tolist()])
    if keys.ndim != 1:
        raise ValueError(f"keys must be 1-D (or 2-D columns to join), got shape {keys.shape}")
    if keys.dtype.kind in "iu":
        return keys.astype(np.int64)
    if keys.dtype.kind in "US":
        return keys.astype(str)
    if keys.dtype.kind == "O":
        return np.array([str(k) for k in keys.tolist()], dtype=str)
    raise ValueError(
        f"keys must be integer codes or strings, got dtype {keys.dtype}: "
        "encode (service, deployment, model_version) as 'svc|dep|version' or an int code"
    )


class KeyRegistry:
    """Maps keys to dense slots; evicts idle keys; caps the number of keys.

    Parameters
    ----------
    max_keys
        Most keys held at once; samples of further new keys are dropped and counted.
    idle_evict_s
        A key whose last event time is older than ``watermark - idle_evict_s`` is evicted
        (``watermark`` = the largest event time seen). ``0`` or ``inf`` disables eviction.

    Attributes
    ----------
    rejected_samples, rejected_keys
        Samples and (per batch) new keys refused because of ``max_keys``.
    evicted
        Keys evicted for idleness so far.
    """

    def __init__(self, max_keys: int = 10_000, idle_evict_s: float = 3600.0) -> None:
        if max_keys < 1:
            raise ValueError(f"max_keys must be >= 1, got {max_keys}")
        self.max_keys = max_keys
        self.idle_evict_s = float(idle_evict_s)
        self.slot_of: dict[Hashable, int] = {}
        self.keys: list[Hashable | None] = []
        self.free: list[int] = []
        self.last_ts = np.zeros(0)
        self.watermark = float("-inf")
        self.rejected_samples = 0
        self.rejected_keys = 0
        self.evicted = 0
        self._next_warn = 1
        self._refused_now: set[Hashable] = set()
        self._cache: tuple[str, np.ndarray, np.ndarray] | None = None

    @property
    def n_keys(self) -> int:
        """Keys held now."""
        return len(self.slot_of)

    @property
    def capacity(self) -> int:
        """Slots allocated (held or free)."""
        return len(self.keys)

    def key_of(self, slot: int) -> Hashable | None:
        """The key held in ``slot`` (None when free)."""
        return self.keys[slot]

    def _new_slot(self, key: Hashable) -> int:
        if self.free:
            slot = self.free.pop()
            self.keys[slot] = key
        else:
            slot = len(self.keys)
            self.keys.append(key)
            if slot >= self.last_ts.size:
                grown = np.full(max(16, 2 * self.last_ts.size), np.nan)
                grown[: self.last_ts.size] = self.last_ts
                self.last_ts = grown
        self.last_ts[slot] = np.nan
        self.slot_of[key] = slot
        return slot

    def assign(self, keys: np.ndarray, ts: np.ndarray | None = None) -> np.ndarray:
        """Slot of every key (``-1`` for refused new keys); records last event times."""
        keys = normalise_keys(keys)
        if keys.size == 0:
            return np.zeros(0, dtype=np.int64)
        slots = self._lookup(keys)
        refused = 0
        unseen = np.flatnonzero(slots < 0)
        if unseen.size:
            get = self.slot_of.get
            self._cache = None
            for i in unseen.tolist():
                k = keys[i].item()
                slot = get(k)
                if slot is None:
                    if len(self.slot_of) >= self.max_keys:
                        refused += k not in self._refused_now
                        self._refused_now.add(k)
                        continue
                    slot = self._new_slot(k)
                slots[i] = slot
            self._refused_now.clear()
        if refused:
            n = int((slots < 0).sum())
            self.rejected_keys += refused
            self.rejected_samples += n
            if self.rejected_keys >= self._next_warn:
                log.warning(
                    "drift: max_keys=%d reached; %d new keys and %d samples refused so far "
                    "(raise drift.max_keys or lower drift.idle_evict_s)",
                    self.max_keys,
                    self.rejected_keys,
                    self.rejected_samples,
                )
                self._next_warn = self.rejected_keys * 10
        if ts is not None:
            ts = np.asarray(ts, dtype=np.float64)
            ok = slots >= 0
            np.fmax.at(self.last_ts, slots[ok], ts[ok])
            finite = ts[np.isfinite(ts)]
            if finite.size:
                self.watermark = max(self.watermark, float(finite.max()))
        return slots

    def _lookup(self, keys: np.ndarray) -> np.ndarray:
        """Slots of known keys, -1 for others: a binary search in a sorted key table."""
        kind = keys.dtype.kind
        if self._cache is None or self._cache[0] != kind:
            pytype = int if kind in "iu" else str
            known = [(k, v) for k, v in self.slot_of.items() if type(k) is pytype]
            # dtype from the known keys themselves: a batch's '<U5' would truncate longer ones
            table = np.array([k for k, _ in known]) if known else np.zeros(0, keys.dtype)
            ks = np.array([v for _, v in known], dtype=np.int64)
            order = np.argsort(table)
            self._cache = (kind, table[order], ks[order])
        _, table, ks = self._cache
        if table.size == 0:
            return np.full(keys.size, -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(table, keys), table.size - 1)
        return np.where(table[pos] == keys, ks[pos], -1)

    def evict_idle(self) -> np.ndarray:
        """Evict keys idle for ``idle_evict_s`` of event time; return their slots."""
        if not (0 < self.idle_evict_s < float("inf")) or not np.isfinite(self.watermark):
            return np.zeros(0, dtype=np.int64)
        n = len(self.keys)
        with np.errstate(invalid="ignore"):
            idle = self.last_ts[:n] < self.watermark - self.idle_evict_s
        slots = np.flatnonzero(idle)
        for s in slots.tolist():
            key = self.keys[s]
            if key is None:
                continue
            del self.slot_of[key]
            self._cache = None
            self.keys[s] = None
            self.free.append(s)
            self.evicted += 1
        self.last_ts[slots] = np.nan
        return slots

    def used_slots(self) -> np.ndarray:
        """Slots holding a key, ascending."""
        return np.array(sorted(self.slot_of.values()), dtype=np.int64)

    def counters(self) -> dict[str, Any]:
        """Numbers for status output and metrics."""
        return {
            "keys": self.n_keys,
            "evicted": self.evicted,
            "rejected_keys": self.rejected_keys,
            "rejected_samples": self.rejected_samples,
        }


def grow_slot_arrays(owner: object, names: tuple[str, ...], capacity: int, n: int) -> int:
    """Grow ``owner``'s per-slot arrays (first axis = slot) to hold slots ``0 .. n-1``.

    Keeps the existing rows, zero-fills the new ones, at least doubles the capacity; returns
    the new capacity (``capacity`` unchanged when it is already large enough).

    >>> import numpy as np
    >>> class S: a = np.ones(2); b = np.ones((2, 3), dtype=np.int64)
    >>> s = S(); grow_slot_arrays(s, ("a", "b"), 2, 5), s.a.tolist(), s.b.shape
    (16, [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], (16, 3))
    """
    if n <= capacity:
        return capacity
    new = max(n, 2 * capacity, 16)
    for name in names:
        old = getattr(owner, name)
        arr = np.zeros((new, *old.shape[1:]), dtype=old.dtype)
        arr[: old.shape[0]] = old
        setattr(owner, name, arr)
    return new
