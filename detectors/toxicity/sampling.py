"""Which answers to score when scoring cannot keep up: an unbiased, replayable sample.

On the CPU the model scores ~1,200 answers/s while a worker ingests ~25,000 events/s. When
scoring falls behind, the worker scores one event in ``k`` and gives each scored event the
weight ``k`` (``sample_weight``), so weighted ratios (the toxicity SLIs, the canary test)
stay unbiased (Horvitz-Thompson). Sampling ratios are always ``1/k`` with an integer ``k``:
weights are whole numbers and count exactly in the SLO windows.

The choice of an event depends only on its ``event_id`` (a hash), so a replay after a
crash scores the same events. Canary events have their own floor (``canary_min_ratio``,
default 0.1: at least one canary answer in ten is scored, whatever the mode): canaries are
small and matter most, but scoring every one of them can by itself cap a worker that is
behind (10% canary traffic at 15,000 events/s is more answers than a CPU scores).

Modes: ``always`` (k = 1), ``ratio`` (k = round(1 / ratio)), ``auto`` (k = 1 while the
worker keeps up; when it falls behind, k is chosen so that scoring takes at most
``max_share`` of the worker's time, from measured costs).

Behind, in ``auto``, means that draining the consumer lag at the measured cost per event
would take more than ``behind_s`` seconds, or that the lag exceeds ``behind_records``: a
time criterion, so that a slow trickle of expensive answers does not pile up minutes of
delay before the monitors see them (alert latency is lag). Behind, k is the smallest whose
scoring (canary floor included) takes at most ``max_share`` of the worker's time (default a
tenth: a worker behind a backlog drains it at ~90% of its speed without scoring, and a tenth
of a CPU worker still scores a few hundred answers a second); when the canary floor alone is
over that budget, the canary floor is kept and the rest is sampled at ``max_k``. Once the
drain time is under a quarter of ``behind_s`` and the lag under a quarter of
``behind_records``, k is the smallest that keeps the worker at most ``TARGET_BUSY`` (70%)
busy at the measured input rate, reached by halving k per batch; in between, k stays (no
flapping). So a worker fed 2,000 events/s with a CPU that scores 1,200 answers/s scores
about half of them continuously instead of scoring all, falling behind, and catching up.

Example
-------
>>> s = ToxicitySampler("ratio", ratio=0.25)
>>> ids = [f"ev-{i}" for i in range(10_000)]
>>> mask, weights = s.choose(ids, ["stable"] * 10_000)
>>> s.k, 2_200 < int(mask.sum()) < 2_800, set(weights[mask].tolist())
(4, True, {4.0})
>>> mask2, _ = s.choose(ids, ["stable"] * 10_000)     # the same events again
>>> bool((mask == mask2).all())
True
>>> every_canary = ToxicitySampler("ratio", ratio=0.25, canary_min_ratio=1.0)
>>> every_canary.choose(ids[:3], ["canary"] * 3)[1].tolist()  # canaries: every one
[1.0, 1.0, 1.0]
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from typing import Literal

import numpy as np

__all__ = ["SamplingMode", "ToxicitySampler"]

SamplingMode = Literal["auto", "always", "ratio"]


#: ``auto`` while keeping up: the share of the worker's time the input may fill, scoring
#: included (the rest absorbs bursts without building lag, which is alert latency).
TARGET_BUSY = 0.7

#: ``auto`` before any cost is measured, behind a backlog (at least another batch waits):
#: a larger batch scores about this many answers. A worker that starts behind must not
#: score a whole first batch of 10,000 answers, ~6 s on a CPU, to learn that it cannot;
#: one that starts with what one batch holds (a demo, a quiet service) scores everything.
COLD_START_ANSWERS = 256


def _ewma(old: float | None, new: float, weight: float = 0.3) -> float:
    return new if old is None else (1 - weight) * old + weight * new


class ToxicitySampler:
    """Chooses the events to score and their weights, batch by batch.

    Parameters
    ----------
    mode
        ``auto``, ``always`` or ``ratio`` (see the module docstring).
    ratio
        Share of events scored in ``ratio`` mode, in ``(0, 1]``.
    canary_min_ratio
        Floor of the share of canary events scored, whatever the mode, in ``(0, 1]``.
    max_share
        ``auto``: largest share of the worker's time spent scoring while behind.
    behind_records
        ``auto``: consumer lag above which the worker counts as behind, whatever the time.
    behind_s
        ``auto``: seconds of work in the lag (lag x measured cost per event) above which
        the worker counts as behind.
    max_k
        Largest ``k`` (smallest ratio ``1/max_k``).
    """

    def __init__(
        self,
        mode: SamplingMode = "auto",
        *,
        ratio: float = 1.0,
        canary_min_ratio: float = 0.1,
        max_share: float = 0.1,
        behind_records: int = 20_000,
        behind_s: float = 0.5,
        max_k: int = 1000,
    ) -> None:
        if mode not in ("auto", "always", "ratio"):
            raise ValueError(f"toxicity sampling mode must be auto, always or ratio, got {mode!r}")
        for name, value in (("ratio", ratio), ("canary_min_ratio", canary_min_ratio)):
            if not 0 < value <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        if not 0 < max_share < 1:
            raise ValueError(f"max_share must be in (0, 1), got {max_share}")
        if not behind_s > 0:
            raise ValueError(f"behind_s must be positive, got {behind_s}")
        self.mode = mode
        self.max_k = int(max_k)
        self.k = max(1, round(1 / ratio)) if mode == "ratio" else 1
        self.canary_k = max(1, math.floor(1 / canary_min_ratio + 1e-9))
        self.max_share = max_share
        self.behind_records = behind_records
        self.behind_s = float(behind_s)
        #: ``auto``: seconds of work in the lag at the last batch (lag x cost per event).
        self.drain_s = 0.0
        # Exponential averages of the measured costs (seconds per event).
        self.score_cost_s: float | None = None
        self.other_cost_s: float | None = None
        #: ``auto``: events arriving per second (processed + change of the lag), averaged.
        self.input_rate: float | None = None
        self._answer_share: float | None = None  # events with an answer (unknown: all)
        self._canary_share: float | None = None  # canary answers among those (unknown: none)
        self._last_lag: int | None = None
        #: ``auto``: the last :meth:`choose` was a cold-start probe (no cost measured yet).
        self.probing = False

    @property
    def ratio(self) -> float:
        """Share of (non-canary) events scored now."""
        return 1.0 / self.k

    def observe(
        self,
        *,
        scored: int,
        score_s: float,
        rows: int,
        other_s: float,
        lag: int,
        answer_share: float | None = None,
        canary_share: float = 0.0,
        interval_s: float | None = None,
    ) -> None:
        """Feed one batch's measurements and, in ``auto`` mode, choose the next ``k``.

        Parameters
        ----------
        scored, score_s
            Answers scored in the batch and the seconds scoring took.
        rows, other_s
            Events in the batch and the seconds the rest of the worker spent on them.
        lag
            Consumer lag (records behind the end of the log) after the batch.
        answer_share, canary_share
            Share of the batch's events with an answer to score (default: as before,
            initially all), and share of canary answers among those.
        interval_s
            Wall time of the whole cycle (default ``score_s + other_s``): with the lag's
            change it gives the input rate.
        """
        if scored > 0 and score_s > 0:
            self.score_cost_s = _ewma(self.score_cost_s, score_s / scored)
        if rows > 0 and other_s > 0:
            self.other_cost_s = _ewma(self.other_cost_s, other_s / rows)
        if answer_share is not None:
            self._answer_share = _ewma(self._answer_share, answer_share)
            self._canary_share = _ewma(self._canary_share, canary_share)
        if rows > 0:
            interval = interval_s if interval_s is not None else score_s + other_s
            if self._last_lag is not None and interval > 0:
                arrived = max(0.0, rows + lag - self._last_lag)
                self.input_rate = _ewma(self.input_rate, arrived / interval, 0.5)
        self._last_lag = lag
        if self.mode != "auto":
            return
        o, c = self.other_cost_s, self.score_cost_s
        self.drain_s = lag * ((o or 0.0) + (c or 0.0) * self._scored_share(self.k))
        if o is None or c is None:
            return
        if lag > self.behind_records or self.drain_s > self.behind_s:
            # Behind: scoring gets at most max_share of the worker's time until drained.
            # c*F(k) / (o + c*F(k)) <= s  <=>  c*F(k) <= s/(1-s) * o.
            self.k = self._smallest_k(self.max_share / (1 - self.max_share) * o)
            return
        if self.drain_s > self.behind_s / 4 or lag > self.behind_records / 4:
            return  # draining: keep k (no flapping)
        # Keeping up: score more again, halving k per batch, down to the smallest k that
        # keeps the worker TARGET_BUSY at the measured input rate (never up here: a rate
        # the worker cannot follow shows as lag, and the branch above handles it).
        fit = 1
        if self.input_rate:
            fit = self._smallest_k(TARGET_BUSY / self.input_rate - o)
        self.k = min(self.k, max(fit, self.k // 2))

    def _scored_share(self, k: int) -> float:
        """Expected share of events scored at ``k`` (answers, canaries at their floor)."""
        q = self._canary_share or 0.0
        a = 1.0 if self._answer_share is None else self._answer_share
        return a * ((1 - q) / k + q / min(k, self.canary_k))

    def _smallest_k(self, budget_s: float) -> int:
        """Smallest k whose scoring costs at most ``budget_s`` per event (max_k if none)."""
        c = self.score_cost_s or 0.0
        if budget_s <= 0:
            return self.max_k
        lo, hi = 1, self.max_k
        if c * self._scored_share(hi) > budget_s:
            return self.max_k  # the canary floor alone is over budget: sample the rest most
        while lo < hi:
            mid = (lo + hi) // 2
            if c * self._scored_share(mid) <= budget_s:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def choose(
        self, event_ids: Sequence[str], tracks: Sequence[str | None], *, lag: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Which events of a batch to score, and the weight of each scored one.

        ``lag``: records waiting behind this batch. ``auto`` with no cost measured yet and
        at least as many records waiting as the batch holds: a batch of more than
        ``COLD_START_ANSWERS`` answers is probed with about that many (``probing``).

        Returns
        -------
        (mask, weights)
            ``mask[i]`` is true when event ``i`` is scored; ``weights[i]`` is its weight
            (``k`` of its track), NaN for events not scored.
        """
        n = len(event_ids)
        if len(tracks) != n:
            raise ValueError(f"{n} event ids but {len(tracks)} tracks")
        cold = self.mode == "auto" and self.score_cost_s is None
        self.probing = cold and n > COLD_START_ANSWERS and lag >= n
        if self.probing:
            self.k = min(self.max_k, max(self.k, -(-n // COLD_START_ANSWERS)))
        canary = np.fromiter((t == "canary" for t in tracks), dtype=bool, count=n)
        k = np.where(canary, min(self.k, self.canary_k), self.k).astype(np.int64)
        if int(k.max(initial=1)) == 1:
            return np.ones(n, dtype=bool), np.ones(n, dtype=np.float64)
        h = np.fromiter(
            (zlib.crc32(e.encode("utf-8", "surrogatepass")) for e in event_ids),
            dtype=np.uint64,
            count=n,
        )
        # CRC is linear: mix its bits (murmur3's finaliser) so that h % k is uniform even
        # for ids that differ in a few characters (e-1, e-2, ...).
        h ^= h >> np.uint64(16)
        h = (h * np.uint64(0x85EBCA6B)) & np.uint64(0xFFFFFFFF)
        h ^= h >> np.uint64(13)
        h = (h * np.uint64(0xC2B2AE35)) & np.uint64(0xFFFFFFFF)
        h ^= h >> np.uint64(16)
        mask = (h % k.astype(np.uint64)) == 0
        weights = np.where(mask, k.astype(np.float64), np.nan)
        return mask, weights
