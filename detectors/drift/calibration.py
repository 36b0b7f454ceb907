"""Measure and fit the default detector: false alarms, detection delay, thresholds.

Two jobs:

* :func:`evaluate` measures a parameter set on seeded synthetic streams the way
  ``shared/vectors/README.md`` §4 does (false alarms per 100,000 stationary samples;
  median delay of the first detection at or after a change at sample 50,000);
* :func:`calibrate_threshold` fits the threshold to a target false-alarm rate on **your**
  history: it replays circular block-bootstrap resamples of the history (blocks keep its
  short-range autocorrelation) through the keyed engine, one replay per key, and searches
  the smallest threshold whose measured rate is at most the target.

Example
-------
>>> r = evaluate(CusumParams(), "normal", seeds=range(4), n=60_000, change_at=30_000)
>>> r.fa_per_100k <= 1.0, r.median_delay < 300, r.misses
(True, True, 0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from detectors.drift.cusum import CusumParams, KeyedCusum

StreamKind = Literal["normal", "lognormal", "bernoulli"]
STREAM_KINDS: tuple[StreamKind, ...] = ("normal", "lognormal", "bernoulli")
LOGNORMAL_MU = math.log(800.0) - 0.125
LOGNORMAL_SIGMA = 0.5
LOGNORMAL_SD = 800.0 * math.sqrt(math.exp(LOGNORMAL_SIGMA**2) - 1.0)  # ~426 ms


def simulate(
    kind: StreamKind, n: int, rng: np.random.Generator, shifted: bool = False
) -> np.ndarray:
    """One stream segment of ``n`` samples, before (or after) the README §4 change.

    ``normal``: N(0,1) -> N(1,1); ``lognormal``: latencies in ms (mean 800, sd 426)
    -> +426 ms; ``bernoulli``: 0/1 with p 0.02 -> 0.04.

    >>> simulate("bernoulli", 5, np.random.default_rng(0)).tolist()
    [0.0, 0.0, 0.0, 1.0, 0.0]
    """
    if kind == "normal":
        return rng.normal(1.0 if shifted else 0.0, 1.0, n)
    if kind == "lognormal":
        x = rng.lognormal(LOGNORMAL_MU, LOGNORMAL_SIGMA, n)
        return x + LOGNORMAL_SD if shifted else x
    if kind == "bernoulli":
        return (rng.random(n) < (0.04 if shifted else 0.02)).astype(np.float64)
    raise ValueError(f"unknown stream kind {kind!r}: choose one of {', '.join(STREAM_KINDS)}")


@dataclass
class Evaluation:
    """False alarms and delays of one parameter set on one stream kind."""

    kind: str
    seeds: int
    fa_per_100k: float
    delays: list[int] = field(default_factory=list)
    misses: int = 0

    @property
    def median_delay(self) -> float:
        """Median over seeds, a miss counting as infinitely late (inf if most missed)."""
        if not self.delays and not self.misses:
            return math.nan
        d = np.array(self.delays + [np.iinfo(np.int64).max] * self.misses, dtype=np.float64)
        med = float(np.median(d))
        return math.inf if med >= np.iinfo(np.int64).max else med

    def to_dict(self) -> dict[str, Any]:
        """Plain dict with the median delay."""
        return {**asdict(self), "median_delay": self.median_delay}


def _run(
    params: CusumParams,
    kind: StreamKind,
    seeds: list[int],
    n: int,
    change_at: int | None,
    chunk: int = 10_000,
) -> tuple[int, np.ndarray]:
    eng = KeyedCusum(params, capacity=len(seeds))
    rngs = [np.random.default_rng(s) for s in seeds]
    first = np.full(len(seeds), -1, dtype=np.int64)
    total = 0
    slots_chunk = None
    for t0 in range(0, n, chunk):
        m = min(chunk, n - t0)
        if change_at is not None and t0 < change_at < t0 + m:
            raise ValueError("change_at must be a multiple of the chunk size (10,000)")
        shifted = change_at is not None and t0 >= change_at
        x = np.concatenate([simulate(kind, m, r, shifted) for r in rngs])
        if slots_chunk is None or slots_chunk.size != x.size:
            slots_chunk = np.repeat(np.arange(len(seeds)), m)
        for h in eng.update(slots_chunk, x):
            total += 1
            if change_at is not None and h.index >= change_at and first[h.slot] < 0:
                first[h.slot] = h.index - change_at
    return total, first


def evaluate(
    params: CusumParams,
    kind: StreamKind,
    seeds: Iterable[int] = range(10),
    n: int = 100_000,
    change_at: int = 50_000,
    delay_seed_offset: int = 1_000_000,
) -> Evaluation:
    """False alarms per 100k on stationary streams and delays for a change at ``change_at``.

    Each seed gives one stationary stream of ``n`` samples (false alarms = mean
    detections, scaled to 100k) and, with ``seed + delay_seed_offset``, one stream that
    changes at ``change_at`` (delay = first detection index >= change_at, minus it).
    """
    seeds = list(seeds)
    fa, _ = _run(params, kind, seeds, n, None)
    _, first = _run(params, kind, [s + delay_seed_offset for s in seeds], n, change_at)
    return Evaluation(
        kind=kind,
        seeds=len(seeds),
        fa_per_100k=fa / len(seeds) * 100_000 / n,
        delays=sorted(int(d) for d in first if d >= 0),
        misses=int((first < 0).sum()),
    )


def block_bootstrap(
    history: np.ndarray, length: int, block_len: int, rng: np.random.Generator
) -> np.ndarray:
    """A circular block-bootstrap resample of ``history`` with ``length`` samples.

    >>> block_bootstrap(np.arange(10.0), 6, 3, np.random.default_rng(0)).size
    6
    """
    h = np.asarray(history, dtype=np.float64)
    if h.size == 0:
        raise ValueError("empty history")
    block_len = max(1, min(block_len, h.size))
    nb = -(-length // block_len)
    starts = rng.integers(0, h.size, nb)
    idx = (starts[:, None] + np.arange(block_len)[None, :]) % h.size
    return h[idx.ravel()[:length]]


@dataclass
class Calibration:
    """Result of :func:`calibrate_threshold`."""

    params: CusumParams
    target_fa_per_100k: float
    fa_per_100k: float
    detections: int
    replays: int
    replay_length: int
    history_samples: int
    median_delay_1sd: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON/YAML output."""
        d = asdict(self)
        d["params"] = self.params.to_dict()
        return d


def _count(params: CusumParams, replays: np.ndarray) -> tuple[int, np.ndarray]:
    r, n = replays.shape
    eng = KeyedCusum(params, capacity=r)
    hits = eng.update(np.repeat(np.arange(r), n), replays.ravel())
    return len(hits), np.array([h.index for h in hits] + [-1])[:-1]


def calibrate_threshold(
    history: np.ndarray,
    target_fa_per_100k: float = 1.0,
    params: CusumParams | None = None,
    replays: int = 40,
    replay_length: int = 100_000,
    block_len: int = 1_024,
    method: Literal["block", "permutation"] = "block",
    seed: int = 0,
) -> Calibration:
    """Fit the default detector's threshold to a false-alarm target on a history.

    Parameters
    ----------
    history
        Stationary history of the signal (finite values are used; others dropped).
    target_fa_per_100k
        Target false alarms per 100,000 samples.
    params
        Parameters to start from (all but ``threshold`` are kept).
    replays, replay_length
        Resampled streams replayed, each from a fresh start like a new key.
    block_len
        Bootstrap block length; ``method="permutation"`` ignores it (iid resampling).
    seed
        Seed of the resampling.

    Example
    -------
    >>> rng = np.random.default_rng(2)
    >>> cal = calibrate_threshold(rng.gamma(2.0, 3.0, 50_000), 1.0, replays=8,
    ...                           replay_length=50_000)
    >>> 20 < cal.params.threshold < 120, cal.fa_per_100k <= 1.0
    (True, True)
    """
    base = params or CusumParams()
    if not target_fa_per_100k > 0:
        raise ValueError(f"target_fa_per_100k must be > 0, got {target_fa_per_100k}")
    h = np.asarray(history, dtype=np.float64)
    h = h[np.isfinite(h)]
    notes: list[str] = []
    if h.size < 2 * base.warmup:
        raise ValueError(
            f"history has {h.size} finite values; need at least {2 * base.warmup} "
            "(two warm-ups) to calibrate"
        )
    if h.size < 50_000:
        notes.append(
            f"short history ({h.size} values): replays reuse it heavily; "
            "the threshold may be optimistic"
        )
    if float(np.std(h)) == 0.0:
        raise ValueError("history is constant: nothing to calibrate (any change is drift)")
    rng = np.random.default_rng(seed)
    if method == "permutation":
        data = np.stack([rng.choice(h, replay_length) for _ in range(replays)])
    elif method == "block":
        data = np.stack([block_bootstrap(h, replay_length, block_len, rng) for _ in range(replays)])
    else:
        raise ValueError(f"method must be block or permutation, got {method!r}")
    per = replays * replay_length / 100_000

    def rate(th: float) -> tuple[float, int]:
        n, _ = _count(base.with_threshold(th), data)
        return n / per, n

    lo, hi = 1.0, 2.0 * base.threshold
    while rate(hi)[0] > target_fa_per_100k:
        lo, hi = hi, hi * 2
        if hi > 1e6:
            raise ValueError("no threshold reaches the target: is the history stationary?")
    for _ in range(12):
        mid = math.sqrt(lo * hi)
        if rate(mid)[0] > target_fa_per_100k:
            lo = mid
        else:
            hi = mid
    th = round(hi, 2)
    fa, n_det = rate(th)
    if n_det < 10:
        notes.append(
            f"only {n_det} false alarms in the replays: the rate is imprecise; "
            "raise replays for a tighter fit"
        )
    if th > 3 * CusumParams().threshold:
        notes.append(
            f"threshold {th} is over 3x the default: the history looks non-stationary "
            "(level shifts, incidents); calibrate on a quiet stretch"
        )
    fitted = base.with_threshold(th)
    # Delay for a 1-sd shift injected halfway through each replay.
    shifted = data.copy()
    half = replay_length // 2
    shifted[:, half:] += float(np.std(h))
    eng = KeyedCusum(fitted, capacity=replays)
    first = np.full(replays, -1)
    for hit in eng.update(np.repeat(np.arange(replays), replay_length), shifted.ravel()):
        if hit.index >= half and first[hit.slot] < 0:
            first[hit.slot] = hit.index - half
    ok = first >= 0
    delay = float(np.median(np.where(ok, first, np.iinfo(np.int64).max))) if replays else math.nan
    return Calibration(
        params=fitted,
        target_fa_per_100k=target_fa_per_100k,
        fa_per_100k=fa,
        detections=n_det,
        replays=replays,
        replay_length=replay_length,
        history_samples=int(h.size),
        median_delay_1sd=delay if delay < np.iinfo(np.int64).max else math.inf,
        notes=notes,
    )
