"""Multi-window, multi-burn-rate SLO evaluation, vectorised across keys and minutes.

Semantics (exact, as in ``shared/vectors/README.md`` section 1):

* time is 1-minute buckets; at the end of minute ``m`` a window of ``W`` minutes covers
  buckets ``m-W+1 .. m`` (shorter at the start of a series: earlier minutes count as empty);
* ``error_ratio = bad / total`` over the window, ``0`` when the window is empty;
  ``burn = error_ratio / (1 - objective)``;
* an alert fires at ``m`` iff ``burn_long >= factor`` and ``burn_short >= factor`` and the
  long window holds at least ``min_events`` events, with ``factor = budget * period / long``;
* only state changes are emitted, ordered by minute, then key (keys in the order they were
  first seen; new keys of one batch in sorted order), then the alert's position in the spec.

Event time drives everything: the minute of an event is ``ts // 60_000`` (epoch minutes),
so a replay produces the same transitions as live traffic.

Streaming rules of :class:`BurnRateEvaluator`:

* **closing** — minute ``m`` is evaluated once an event of minute ``m + 1 + lateness`` has
  been seen (``lateness_minutes``, default 1), or when :meth:`~BurnRateEvaluator.advance`
  is called (end of a backtest, or a wall-clock tick while traffic is idle: without events
  event time does not move);
* **late events** — an event for an already evaluated minute is still counted into its
  bucket when that bucket is inside the longest alert window; it affects later evaluations
  only (no retroactive transitions) and is counted in ``late_events``;
* **dropped events** — events older than the longest window are dropped and counted in
  ``dropped_events``.
* a batch is handled as if its events arrived in minute order: a replay batch spanning
  hours gives the same transitions as the same events delivered minute by minute.
* an event far in the future moves event time for good (everything older then counts as
  dropped): reject timestamps beyond the clock skew you accept before they get here.

Memory is ``(longest window + ahead_minutes) x keys x 8`` bytes per SLO (two uint32
counters per key-minute), whatever the history length: 10,000 keys under the default
3-day window take about 350 MiB.

Example
-------
>>> import numpy as np
>>> from detectors.slo.spec import parse_slo
>>> spec = parse_slo({"name": "api", "objective": 0.999, "period": "30d",
...                   "alerts": [{"long": "1h", "short": "5m", "budget": 0.02, "severity": "page"}]})
>>> ev = BurnRateEvaluator(spec, lateness_minutes=0)
>>> minutes = np.repeat(np.arange(0, 3), 100)           # 100 events per minute, minutes 0..2
>>> bad = np.zeros(300, dtype=bool); bad[100:150] = True  # minute 1: 50% errors
>>> [(t.minute, t.window, t.state) for t in ev.observe_batch(minutes, None, bad)]
[(1, '1h/5m', 'firing')]
>>> [(t.minute, t.state) for t in ev.advance(8)]
[(6, 'resolved')]
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from detectors.slo.columns import EventColumns
from detectors.slo.spec import SloSpec, SpecFile
from detectors.slo.windows import MinuteRing

__all__ = [
    "STATE_FORMAT_VERSION",
    "BurnRateEvaluator",
    "SloEvaluator",
    "StateError",
    "Transition",
    "evaluate_series",
]

STATE_FORMAT_VERSION = 1
_MAGIC = b"TSLO"
_SET_MAGIC = b"TSLS"
_STATE_DTYPES = frozenset({"<u4", "<i8", "|b1"})
_BLOCK_CELLS = 1 << 18  # minutes x keys evaluated per numpy block (bounds temporary memory)

KeysLike = np.ndarray | Sequence[str] | str | None

#: Column of per-event sampling weights (toxicity scored on a sample under load).
WEIGHT_FIELD = "sample_weight"
#: SLI fields whose values exist only for sampled events, each standing for its weight.
WEIGHTED_FIELDS = frozenset({"toxicity"})


class StateError(ValueError):
    """A checkpoint that cannot be restored (corrupt, other format version, other spec)."""


@dataclass(frozen=True, slots=True)
class Transition:
    """An alert changing state at the end of ``minute``.

    Examples
    --------
    >>> t = Transition(4320, "api", "1h/5m", "page", "firing", 999.0, 1000.0)
    >>> t.to_dict()["state"], t.key
    ('firing', '')
    """

    minute: int
    slo: str
    window: str
    severity: str
    state: Literal["firing", "resolved"]
    burn_long: float
    burn_short: float
    key: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- reference


def evaluate_series(
    spec: SloSpec, series: np.ndarray | Sequence[Sequence[int]], key: str = ""
) -> list[Transition]:
    """Transitions for one per-minute series of ``(total, bad)``, minute 0 first.

    A direct whole-series computation with cumulative sums (used by the backtest CLI and
    as the reference the streaming evaluator is tested against).

    Parameters
    ----------
    spec
        The SLO.
    series
        ``[n_minutes, 2]`` integers: events and bad events per minute.
    key
        Copied into each transition.

    Examples
    --------
    >>> from detectors.slo.spec import parse_slo
    >>> spec = parse_slo({"name": "api", "objective": 0.999, "period": "30d"})
    >>> series = [[1000, 0]] * 100 + [[1000, 1000]] * 3 + [[1000, 0]] * 60
    >>> [(t.minute, t.window, t.state) for t in evaluate_series(spec, series)][:3]
    [(100, '1h/5m', 'firing'), (100, '6h/30m', 'firing'), (100, '1d/2h', 'firing')]
    """
    arr = np.asarray(series, dtype=np.int64).reshape(-1, 2)
    n = len(arr)
    if n == 0:
        return []
    cum = np.zeros((n + 1, 2), dtype=np.int64)
    np.cumsum(arr, axis=0, out=cum[1:])
    idx = np.arange(n)

    def window(w: int) -> tuple[np.ndarray, np.ndarray]:
        start = np.maximum(idx - w + 1, 0)
        diff = cum[idx + 1] - cum[start]
        return diff[:, 0], diff[:, 1]

    found: list[tuple[int, int, Transition]] = []
    budget = spec.error_budget
    for pos, alert in enumerate(spec.alerts):
        factor = spec.factor(alert)
        tl, bl = window(alert.long_minutes)
        ts, bs = window(alert.short_minutes)
        burn_l = _burn(bl, tl, budget)
        burn_s = _burn(bs, ts, budget)
        firing = (burn_l >= factor) & (burn_s >= factor) & (tl >= spec.min_events)
        prev = np.concatenate(([False], firing[:-1]))
        for m in np.flatnonzero(firing != prev):
            found.append(
                (
                    int(m),
                    pos,
                    Transition(
                        minute=int(m),
                        slo=spec.name,
                        window=alert.window,
                        severity=alert.severity,
                        state="firing" if firing[m] else "resolved",
                        burn_long=float(burn_l[m]),
                        burn_short=float(burn_s[m]),
                        key=key,
                    ),
                )
            )
    found.sort(key=lambda item: (item[0], item[1]))
    return [t for _, _, t in found]


def _burn(bad: np.ndarray, total: np.ndarray, budget: float) -> np.ndarray:
    ratio = np.zeros(bad.shape, dtype=np.float64)
    np.divide(bad, total, out=ratio, where=total > 0)
    return ratio / budget


# --------------------------------------------------------------------------- streaming


class BurnRateEvaluator:
    """Streaming burn-rate alerts of one SLO for many keys, in bounded memory.

    Parameters
    ----------
    spec
        The SLO.
    lateness_minutes
        How many minutes behind the newest event a minute stays open before it is
        evaluated (events later than that are *late*, see the module docstring).
    ahead_minutes
        Minutes the ring holds beyond the evaluation cursor (at least ``lateness + 2``);
        larger values make replays of long batches take fewer, larger numpy blocks.

    Attributes
    ----------
    cursor
        The next minute to be evaluated (``None`` before the first event).
    watermark
        The newest minute seen.
    late_events, dropped_events
        Counters of events that arrived for evaluated minutes (counted) and for minutes
        older than the longest window (dropped).

    Examples
    --------
    >>> from detectors.slo.spec import parse_slo
    >>> spec = parse_slo({"name": "api", "objective": 0.99, "period": "30d", "group_by": ["track"]})
    >>> ev = BurnRateEvaluator(spec, lateness_minutes=0)
    >>> minutes = np.array([0, 0, 0, 0, 1])
    >>> keys = np.array(["stable", "stable", "canary", "canary", "stable"])
    >>> bad = np.array([False, False, True, False, False])
    >>> [(t.minute, t.key, t.window) for t in ev.observe_batch(minutes, keys, bad)]
    [(0, 'canary', '1h/5m'), (0, 'canary', '6h/30m'), (0, 'canary', '1d/2h'), (0, 'canary', '3d/6h')]
    >>> sorted(ev.firing)
    [('canary', '1d/2h'), ('canary', '1h/5m'), ('canary', '3d/6h'), ('canary', '6h/30m')]
    """

    def __init__(
        self, spec: SloSpec, *, lateness_minutes: int = 1, ahead_minutes: int | None = None
    ) -> None:
        if lateness_minutes < 0:
            raise ValueError(f"lateness_minutes must be >= 0, got {lateness_minutes}")
        self.spec = spec
        self.lateness = int(lateness_minutes)
        self.ahead = max(self.lateness + 2, int(ahead_minutes) if ahead_minutes else 240)
        self.horizon = spec.longest_window_minutes
        self._windows = sorted(
            {a.long_minutes for a in spec.alerts} | {a.short_minutes for a in spec.alerts}
        )
        row = {w: i for i, w in enumerate(self._windows)}
        self._long_row = [row[a.long_minutes] for a in spec.alerts]
        self._short_row = [row[a.short_minutes] for a in spec.alerts]
        self._factors = [spec.factor(a) for a in spec.alerts]
        self._ring = MinuteRing(self.horizon + self.ahead)
        kc = self._ring.key_capacity
        self._sum_total = np.zeros((len(self._windows), kc), dtype=np.int64)
        self._sum_bad = np.zeros((len(self._windows), kc), dtype=np.int64)
        self._firing = np.zeros((kc, len(spec.alerts)), dtype=bool)
        self._key_index: dict[str, int] = {}
        self._key_names: list[str] = []
        self.cursor: int | None = None
        self.watermark: int | None = None
        self.last_data_minute: int | None = None
        self.late_events = 0
        self.dropped_events = 0

    # ------------------------------------------------------------------ keys

    @property
    def keys(self) -> list[str]:
        """Key names, in id order."""
        return list(self._key_names)

    def key_ids(self, keys: KeysLike, n: int) -> np.ndarray:
        """Map keys to dense int64 ids, registering new ones.

        ``None`` means the single key ``""``; a string applies to all ``n`` rows; an
        integer array is taken as ids already returned by this method. New names get ids
        in sorted order. Fastest with few distinct keys per batch: dictionary-encode the
        column (e.g. ``pyarrow.compute.dictionary_encode``) and pass
        ``ev.key_ids(dictionary)[indices]``.

        >>> from detectors.slo.spec import parse_slo
        >>> ev = BurnRateEvaluator(parse_slo({"name": "a", "objective": 0.9, "period": "1d"}))
        >>> ev.key_ids(["x", "y", "x"], 3).tolist(), ev.keys
        ([0, 1, 0], ['x', 'y'])
        """
        if keys is None or isinstance(keys, str):
            kid = self._intern("" if keys is None else keys)
            return np.full(n, kid, dtype=np.int64)
        if isinstance(keys, np.ndarray) and keys.dtype.kind in "iu":
            ids = keys.astype(np.int64, copy=False).reshape(-1)
            if len(ids) and (ids.min() < 0 or ids.max() >= len(self._key_names)):
                raise ValueError(
                    "integer keys must be ids returned by key_ids(); pass key names instead"
                )
            return ids
        names = keys.tolist() if isinstance(keys, np.ndarray) else list(keys)
        lookup = self._key_index.__getitem__
        try:
            return np.fromiter(map(lookup, names), dtype=np.int64, count=len(names))
        except (KeyError, TypeError):
            pass
        new = sorted({str(k) for k in names} - self._key_index.keys())
        self._grow(len(self._key_names) + len(new))
        for name in new:
            self._intern(name)
        return np.fromiter(
            (self._key_index[k if isinstance(k, str) else str(k)] for k in names),
            dtype=np.int64,
            count=len(names),
        )

    def _checked_ids(self, keys: KeysLike, n: int) -> np.ndarray:
        ids = self.key_ids(keys, n)
        if len(ids) != n:
            raise ValueError(f"keys has {len(ids)} rows but minutes has {n}")
        return ids

    def _intern(self, name: str) -> int:
        kid = self._key_index.get(name)
        if kid is None:
            kid = len(self._key_names)
            self._key_index[name] = kid
            self._key_names.append(name)
            self._grow(kid + 1)
        return kid

    def _grow(self, n_keys: int) -> None:
        self._ring.ensure_keys(n_keys)
        kc = self._ring.key_capacity
        if self._sum_total.shape[1] < kc:
            for name in ("_sum_total", "_sum_bad"):
                old = getattr(self, name)
                new = np.zeros((old.shape[0], kc), dtype=np.int64)
                new[:, : old.shape[1]] = old
                setattr(self, name, new)
            firing = np.zeros((kc, self._firing.shape[1]), dtype=bool)
            firing[: self._firing.shape[0]] = self._firing
            self._firing = firing

    # ------------------------------------------------------------------ ingestion

    def observe_batch(
        self, minutes: np.ndarray | Sequence[int], keys: KeysLike, bad: np.ndarray | Sequence[bool]
    ) -> list[Transition]:
        """Count one event per row and evaluate every minute this closes.

        Parameters
        ----------
        minutes
            int64 epoch minute (``ts_ms // 60_000``) of each event.
        keys
            Key of each event (see :meth:`key_ids`).
        bad
            Whether each event is bad.

        Returns
        -------
        list of Transition
            In order of minute, key, then alert position.
        """
        m = np.asarray(minutes, dtype=np.int64).reshape(-1)
        b = np.asarray(bad, dtype=bool).reshape(-1)
        if len(b) != len(m):
            raise ValueError(f"minutes has {len(m)} rows but bad has {len(b)}")
        return self._observe(m, self._checked_ids(keys, len(m)), None, b)

    def observe_counts(
        self,
        minutes: np.ndarray | Sequence[int],
        keys: KeysLike,
        totals: np.ndarray | Sequence[int],
        bads: np.ndarray | Sequence[int],
    ) -> list[Transition]:
        """Like :meth:`observe_batch` for pre-aggregated rows (e.g. per-minute counts).

        A row with ``total == 0`` still moves event time to its minute.
        """
        m = np.asarray(minutes, dtype=np.int64).reshape(-1)
        t = np.asarray(totals, dtype=np.int64).reshape(-1)
        b = np.asarray(bads, dtype=np.int64).reshape(-1)
        if not len(m) == len(t) == len(b):
            raise ValueError("minutes, totals and bads must have the same length")
        if len(t) and (t.min() < 0 or b.min() < 0 or (b > t).any()):
            raise ValueError("counts must satisfy 0 <= bad <= total")
        return self._observe(m, self._checked_ids(keys, len(m)), t, b)

    def _observe(
        self, minutes: np.ndarray, kids: np.ndarray, totals: np.ndarray | None, bads: np.ndarray
    ) -> list[Transition]:
        if len(minutes) == 0:
            return []
        if self.cursor is None:
            self.cursor = int(minutes.min())
        out: list[Transition] = []
        hi = int(minutes.max())
        if hi < self.cursor + self.ahead:
            self._add(minutes, kids, totals, bads)
        else:
            # The batch reaches past what the ring holds: add it in minute order, evaluating
            # in between, exactly as if it had arrived minute by minute.
            order = np.argsort(minutes, kind="stable")
            minutes, kids, bads = minutes[order], kids[order], bads[order]
            totals = None if totals is None else totals[order]
            pos = 0
            while pos < len(minutes):
                end = int(np.searchsorted(minutes, self.cursor + self.ahead, side="left"))
                end = max(end, pos)
                sl = slice(pos, end)
                self._add(minutes[sl], kids[sl], None if totals is None else totals[sl], bads[sl])
                pos = end
                if pos < len(minutes):
                    # Minutes before the next event are complete; close as many as the
                    # lateness rule allows so that the next chunk fits in the ring.
                    through = min(int(minutes[pos]) - 1, hi - 1 - self.lateness)
                    out.extend(self._evaluate_through(through))
        out.extend(self.see_minute(hi))
        return out

    def see_minute(self, minute: int) -> list[Transition]:
        """Event time of the stream reached ``minute`` (even without events for this SLO).

        Moves the watermark and evaluates the minutes it closes. :class:`SloEvaluator`
        calls it with each batch's newest minute so that an SLO whose traffic stopped still
        resolves.
        """
        if self.cursor is None:
            return []
        minute = int(minute)
        self.watermark = minute if self.watermark is None else max(self.watermark, minute)
        return self._evaluate_through(self.watermark - 1 - self.lateness)

    def _add(
        self, minutes: np.ndarray, kids: np.ndarray, totals: np.ndarray | None, bads: np.ndarray
    ) -> None:
        if len(minutes) == 0:
            return
        assert self.cursor is not None
        c = self.cursor
        old = minutes < c - self.horizon
        if old.any():
            self.dropped_events += int(old.sum() if totals is None else totals[old].sum())
            keep = ~old
            minutes, kids, bads = minutes[keep], kids[keep], bads[keep]
            totals = None if totals is None else totals[keep]
            if len(minutes) == 0:
                return
        late = minutes < c
        if late.any():
            lm, lk, lb = minutes[late], kids[late], bads[late]
            lt = None if totals is None else totals[late]
            self.late_events += len(lm) if lt is None else int(lt.sum())
            kc = self._sum_total.shape[1]
            for row, w in enumerate(self._windows):
                # The running sum of window w (as of minute c-1) covers minutes c-w .. c-1.
                inside = lm >= c - w
                if not inside.any():
                    continue
                k = lk[inside]
                self._sum_total[row] += (
                    np.bincount(k, minlength=kc)
                    if lt is None
                    else np.bincount(k, weights=lt[inside], minlength=kc).astype(np.int64)
                )
                self._sum_bad[row] += np.bincount(k, weights=lb[inside], minlength=kc).astype(
                    np.int64
                )
        self._ring.add(minutes, kids, totals, bads)
        has_data = minutes if totals is None else minutes[totals > 0]
        if len(has_data):
            top = int(has_data.max())
            self.last_data_minute = (
                top if self.last_data_minute is None else max(self.last_data_minute, top)
            )

    # ------------------------------------------------------------------ evaluation

    def advance(self, through_minute: int) -> list[Transition]:
        """Evaluate every open minute up to and including ``through_minute``.

        Use it at the end of a replay, or with a wall-clock minute while traffic is idle.
        Events for those minutes that arrive afterwards are late.
        """
        if self.cursor is None:
            return []
        return self._evaluate_through(int(through_minute))

    def _evaluate_through(self, t: int) -> list[Transition]:
        out: list[Transition] = []
        assert self.cursor is not None
        n_keys = len(self._key_names)
        while self.cursor <= t:
            c = self.cursor
            if self.last_data_minute is None or c > self.last_data_minute + self.horizon:
                # Every window is empty and nothing can fire (factors are > 0): jump.
                self._sum_total[:] = 0
                self._sum_bad[:] = 0
                self.cursor = t + 1
                break
            block = min(t - c + 1, self.ahead, max(1, _BLOCK_CELLS // max(1, n_keys)))
            out.extend(self._evaluate_block(c, block, n_keys))
            self._ring.clear(c - self.horizon, block)
            self.cursor = c + block
        return out

    def _evaluate_block(self, c: int, block: int, n_keys: int) -> list[Transition]:
        add_t, add_b = self._ring.rows(c, block, n_keys)
        sums_t: list[np.ndarray] = []
        sums_b: list[np.ndarray] = []
        for row, w in enumerate(self._windows):
            sub_t, sub_b = self._ring.rows(c - w, block, n_keys)
            st = np.cumsum(add_t - sub_t, axis=0)
            st += self._sum_total[row, :n_keys]
            sb = np.cumsum(add_b - sub_b, axis=0)
            sb += self._sum_bad[row, :n_keys]
            sums_t.append(st)
            sums_b.append(sb)
            self._sum_total[row, :n_keys] = st[-1]
            self._sum_bad[row, :n_keys] = sb[-1]
        budget = self.spec.error_budget
        burns: dict[int, np.ndarray] = {}

        def burn(row: int) -> np.ndarray:
            if row not in burns:
                burns[row] = _burn(sums_b[row], sums_t[row], budget)
            return burns[row]

        rows_m: list[np.ndarray] = []
        rows_k: list[np.ndarray] = []
        rows_a: list[np.ndarray] = []
        for pos, factor in enumerate(self._factors):
            lr, sr = self._long_row[pos], self._short_row[pos]
            firing = (burn(lr) >= factor) & (burn(sr) >= factor)
            firing &= sums_t[lr] >= self.spec.min_events
            prev = self._firing[:n_keys, pos]
            changed = np.empty_like(firing)
            changed[0] = firing[0] != prev
            changed[1:] = firing[1:] != firing[:-1]
            self._firing[:n_keys, pos] = firing[-1]
            mi, ki = np.nonzero(changed)
            if len(mi):
                rows_m.append(mi)
                rows_k.append(ki)
                rows_a.append(np.full(len(mi), pos))
        if not rows_m:
            return []
        mi = np.concatenate(rows_m)
        ki = np.concatenate(rows_k)
        ai = np.concatenate(rows_a)
        order = np.lexsort((ai, ki, mi))
        out = []
        for j in order:
            m, k, a = int(mi[j]), int(ki[j]), int(ai[j])
            alert = self.spec.alerts[a]
            lr, sr = self._long_row[a], self._short_row[a]
            fired = bool(
                (burn(lr)[m, k] >= self._factors[a])
                and (burn(sr)[m, k] >= self._factors[a])
                and sums_t[lr][m, k] >= self.spec.min_events
            )
            out.append(
                Transition(
                    minute=c + m,
                    slo=self.spec.name,
                    window=alert.window,
                    severity=alert.severity,
                    state="firing" if fired else "resolved",
                    burn_long=float(burn(lr)[m, k]),
                    burn_short=float(burn(sr)[m, k]),
                    key=self._key_names[k],
                )
            )
        return out

    # ------------------------------------------------------------------ state

    @property
    def firing(self) -> set[tuple[str, str]]:
        """Alerts firing now, as ``(key, window)`` pairs."""
        ks, al = np.nonzero(self._firing[: len(self._key_names)])
        return {
            (self._key_names[k], self.spec.alerts[a].window) for k, a in zip(ks, al, strict=True)
        }

    def to_bytes(self) -> bytes:
        """Serialise the whole state (versioned, compressed, no pickle).

        >>> from detectors.slo.spec import parse_slo
        >>> spec = parse_slo({"name": "a", "objective": 0.99, "period": "1d"})
        >>> ev = BurnRateEvaluator(spec)
        >>> _ = ev.observe_batch([5, 6, 7], "k", [True, False, False])
        >>> back = BurnRateEvaluator.from_bytes(ev.to_bytes(), spec)
        >>> back.cursor, back.keys, back.firing == ev.firing
        (6, ['k'], True)
        """
        n = len(self._key_names)
        header = {
            "spec": self.spec.fingerprint(),
            "lateness": self.lateness,
            "ahead": self.ahead,
            "horizon": self.horizon,
            "cursor": self.cursor,
            "watermark": self.watermark,
            "last_data_minute": self.last_data_minute,
            "late_events": self.late_events,
            "dropped_events": self.dropped_events,
            "keys": self._key_names,
        }
        arrays = {
            "ring_totals": self._ring.totals[:, :n],
            "ring_bads": self._ring.bads[:, :n],
            "sum_total": self._sum_total[:, :n],
            "sum_bad": self._sum_bad[:, :n],
            "firing": self._firing[:n],
        }
        # Raw little-endian arrays, zlib level 1: fast enough to checkpoint at each commit
        # (empty minutes and the mostly-zero bad counts compress to almost nothing).
        chunks: list[bytes] = []
        specs: list[list[Any]] = []
        for name, arr in arrays.items():
            raw = np.ascontiguousarray(arr)
            chunk = zlib.compress(raw.tobytes(), 1)
            specs.append([name, raw.dtype.str, list(raw.shape), len(chunk)])
            chunks.append(chunk)
        header["arrays"] = specs
        head = json.dumps(header, separators=(",", ":")).encode()
        return b"".join(
            [_MAGIC, bytes([STATE_FORMAT_VERSION]), struct.pack(">I", len(head)), head, *chunks]
        )

    @classmethod
    def from_bytes(
        cls, data: bytes, spec: SloSpec, *, lateness_minutes: int | None = None
    ) -> BurnRateEvaluator:
        """Restore an evaluator written by :meth:`to_bytes` for the same ``spec``.

        Parameters
        ----------
        data
            The checkpoint.
        spec
            The SLO it was written for.
        lateness_minutes
            A new lateness (``None``: keep the checkpoint's); it must fit the same ring.

        Raises
        ------
        StateError
            When the bytes are not a checkpoint of this format version, or were written
            for a spec with other windows, objective, period, selector or SLI: discard the
            checkpoint and let the evaluator rebuild from the replayed topic.
        """
        if len(data) < 9 or data[:4] != _MAGIC:
            raise StateError(f"slo {spec.name!r}: not an SLO evaluator checkpoint")
        if data[4] != STATE_FORMAT_VERSION:
            raise StateError(
                f"slo {spec.name!r}: checkpoint format {data[4]} is not supported "
                f"(this tocsin writes {STATE_FORMAT_VERSION}); discard it"
            )
        try:
            return cls._restore(data, spec, lateness_minutes)
        except StateError:
            raise
        except (ValueError, TypeError, KeyError, zlib.error) as exc:
            raise StateError(f"slo {spec.name!r}: corrupt checkpoint ({exc}); discard it") from None

    @classmethod
    def _restore(cls, data: bytes, spec: SloSpec, lateness: int | None) -> BurnRateEvaluator:
        (hlen,) = struct.unpack(">I", data[5:9])
        header = json.loads(data[9 : 9 + hlen])
        arrays: dict[str, np.ndarray] = {}
        pos = 9 + hlen
        for name, dtype, shape, size in header["arrays"]:
            if dtype not in _STATE_DTYPES:
                raise ValueError(f"unexpected dtype {dtype!r} for {name}")
            raw = zlib.decompress(data[pos : pos + size])
            pos += size
            arrays[name] = np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape)
        if pos != len(data):
            raise ValueError(f"{len(data) - pos} trailing bytes")
        if header["spec"] != spec.fingerprint():
            raise StateError(
                f"slo {spec.name!r}: checkpoint was written for a different spec "
                "(windows, objective, period, selector or SLI changed); discard it"
            )
        ev = cls(
            spec,
            lateness_minutes=header["lateness"] if lateness is None else lateness,
            ahead_minutes=header["ahead"],
        )
        if ev.horizon + ev.ahead != header["horizon"] + header["ahead"]:
            raise StateError(
                f"slo {spec.name!r}: lateness {lateness} needs a larger ring than the "
                "checkpoint has; restore with its lateness or discard it"
            )
        keys = header["keys"]
        ev._grow(len(keys))
        for name in keys:
            ev._intern(name)
        n = len(keys)
        ev._ring.totals[:, :n] = arrays["ring_totals"]
        ev._ring.bads[:, :n] = arrays["ring_bads"]
        ev._sum_total[:, :n] = arrays["sum_total"]
        ev._sum_bad[:, :n] = arrays["sum_bad"]
        ev._firing[:n] = arrays["firing"]
        ev.cursor = header["cursor"]
        ev.watermark = header["watermark"]
        ev.last_data_minute = header["last_data_minute"]
        ev.late_events = header["late_events"]
        ev.dropped_events = header["dropped_events"]
        return ev


# --------------------------------------------------------------------------- SLO set


class SloEvaluator:
    """All SLOs of a spec file over a stream of inference events (columns of a batch).

    Parameters
    ----------
    specs
        A :class:`~detectors.slo.spec.SpecFile` or SLOs.
    lateness_minutes
        See :class:`BurnRateEvaluator`.

    Examples
    --------
    >>> from detectors.slo.spec import parse_spec_document
    >>> f = parse_spec_document({"version": 1, "slos": [
    ...     {"name": "avail", "objective": 0.99, "period": "30d", "selector": {"service": "chat-*"}},
    ...     {"name": "ttft", "objective": 0.9, "period": "30d",
    ...      "sli": {"kind": "latency", "field": "ttft_ms", "threshold": 1000}}]})
    >>> ev = SloEvaluator(f, lateness_minutes=0)
    >>> batch = {"ts": [0, 1_000, 61_000], "service": ["chat-api", "search", "chat-api"],
    ...          "status": ["ok", "error", "ok"], "ttft_ms": [200.0, 3000.0, None]}
    >>> [(t.minute, t.slo, t.window) for t in ev.observe_events(batch)]  # ttft burn 5 at minute 0
    [(0, 'ttft', '1d/2h'), (0, 'ttft', '3d/6h')]
    """

    def __init__(
        self,
        specs: SpecFile | Iterable[SloSpec],
        *,
        lateness_minutes: int = 1,
        defaults: Iterable[SloSpec] = (),
    ) -> None:
        slos = specs.slos if isinstance(specs, SpecFile) else tuple(specs)
        fallbacks = tuple(defaults)
        self.evaluators: dict[str, BurnRateEvaluator] = {
            s.name: BurnRateEvaluator(s, lateness_minutes=lateness_minutes)
            for s in (*slos, *fallbacks)
        }
        self.lateness = lateness_minutes
        #: SLOs that only see the events no other SLO selects (zero-config defaults).
        self.defaults = frozenset(s.name for s in fallbacks)

    def observe_events(
        self, columns: Mapping[str, Any], minutes: np.ndarray | None = None
    ) -> list[Transition]:
        """Select, classify and count one batch of events given as columns.

        Parameters
        ----------
        columns
            Field name -> sequence/array (``ts`` in epoch milliseconds, ``service``,
            ``deployment``, ``track``, ``model``, ``status``, ``latency_ms``, detector
            verdict fields ...).
        minutes
            Epoch minute per event; computed from ``ts`` when omitted.
        """
        if minutes is None:
            if "ts" not in columns:
                raise ValueError("columns need 'ts' (epoch milliseconds) or pass minutes=")
            minutes = np.asarray(columns["ts"], dtype=np.int64) // 60_000
        n = len(minutes)
        cols = EventColumns(columns, n)
        out: list[Transition] = []
        selected = np.zeros(n, dtype=bool)
        for ev in self.evaluators.values():
            spec = ev.spec
            eligible, bad = spec.sli.classify(cols, n)
            if spec.name in self.defaults:
                chosen = ~selected
            else:
                chosen = spec.selector.mask(cols, n)
                selected |= chosen
            use = np.flatnonzero(chosen & eligible)
            keys = _group_keys(ev, cols, use) if spec.group_by else None
            weights = cols.get(WEIGHT_FIELD) if spec.sli.field in WEIGHTED_FIELDS else None
            if weights is None:
                out.extend(ev.observe_batch(minutes[use], keys, bad[use]))
            else:
                # Sampled scoring: each scored event stands for `weight` events (integer
                # weights: sampling ratios are 1/k), so the burn rate stays unbiased.
                w = np.asarray(weights, dtype=np.float64)[use]
                w = np.where(np.isnan(w), 1.0, np.rint(w)).astype(np.int64)
                out.extend(ev.observe_counts(minutes[use], keys, w, w * bad[use]))
            if n:
                out.extend(ev.see_minute(int(minutes.max())))
        return _merge(out, list(self.evaluators))

    def advance(self, through_minute: int) -> list[Transition]:
        """:meth:`BurnRateEvaluator.advance` for every SLO."""
        out: list[Transition] = []
        for ev in self.evaluators.values():
            out.extend(ev.advance(through_minute))
        return _merge(out, list(self.evaluators))

    def to_bytes(self) -> bytes:
        """Checkpoint of every SLO's state (see :meth:`BurnRateEvaluator.to_bytes`)."""
        blobs = {name: ev.to_bytes() for name, ev in self.evaluators.items()}
        head = json.dumps({n: len(b) for n, b in blobs.items()}).encode()
        body = b"".join(blobs.values())
        return (
            _SET_MAGIC + bytes([STATE_FORMAT_VERSION]) + struct.pack(">I", len(head)) + head + body
        )

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        specs: SpecFile | Iterable[SloSpec],
        *,
        lateness_minutes: int = 1,
        defaults: Iterable[SloSpec] = (),
    ) -> SloEvaluator:
        """Restore; SLOs without a checkpoint (new in the spec) start empty.

        Raises
        ------
        StateError
            When the checkpoint is corrupt, of another format, or one SLO's spec changed.
        """
        if len(data) < 9 or data[:4] != _SET_MAGIC or data[4] != STATE_FORMAT_VERSION:
            raise StateError("not an SLO set checkpoint of a supported format version")
        try:
            (hlen,) = struct.unpack(">I", data[5:9])
            sizes = json.loads(data[9 : 9 + hlen])
            if not isinstance(sizes, dict):
                raise TypeError("header is not a mapping")
        except (ValueError, TypeError) as exc:
            raise StateError(f"corrupt SLO set checkpoint ({exc}); discard it") from None
        out = cls(specs, lateness_minutes=lateness_minutes, defaults=defaults)
        pos = 9 + hlen
        for name, size in sizes.items():
            blob = data[pos : pos + int(size)]
            pos += int(size)
            if name in out.evaluators:
                out.evaluators[name] = BurnRateEvaluator.from_bytes(
                    blob, out.evaluators[name].spec, lateness_minutes=lateness_minutes
                )
        return out


def _group_keys(ev: BurnRateEvaluator, cols: EventColumns, use: np.ndarray) -> np.ndarray:
    """Key ids of the selected events: group_by values joined with "/" (null as "")."""
    combined = np.zeros(len(use), dtype=np.int64)
    factors: list[list[Any]] = []
    for field in ev.spec.group_by:
        uniques, codes = cols.factorized(field)
        combined = combined * len(uniques) + codes[use]
        factors.append(uniques)
    combos, inverse = np.unique(combined, return_inverse=True)
    names = []
    for combo in combos.tolist():
        parts = []
        for uniques in reversed(factors):
            combo, code = divmod(combo, len(uniques))
            value = uniques[code]
            # "/" joins the parts: escape it (and the escape) inside values.
            parts.append(
                "" if value is None else str(value).replace("%", "%25").replace("/", "%2F")
            )
        names.append("/".join(reversed(parts)))
    return ev.key_ids(names, len(names))[inverse.reshape(-1)]


def _merge(items: list[Transition], order: list[str]) -> list[Transition]:
    rank = {name: i for i, name in enumerate(order)}
    # Each SLO's list is already ordered; a stable sort keeps key and alert order inside.
    return sorted(items, key=lambda t: (t.minute, rank[t.slo]))
