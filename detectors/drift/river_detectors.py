"""river's drift detectors by name, per key, for comparison and backtests.

``adwin``, ``page_hinkley`` and ``kswin`` are river's own classes with their defaults
(overridable). They cost one Python call per value, and their thresholds are not
calibrated (see ``shared/vectors/README.md`` §4): the default monitor uses
:mod:`detectors.drift.cusum` instead.

Example
-------
>>> det = make_river_detector("page_hinkley", threshold=20)
>>> type(det).__name__, det.threshold
('PageHinkley', 20)
>>> make_river_detector("adwim")
Traceback (most recent call last):
...
ValueError: unknown river detector 'adwim': choose one of adwin, kswin, page_hinkley
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from detectors.drift.cusum import RawDetection

if TYPE_CHECKING:
    from river.base import DriftDetector

# river is imported on first use (it costs ~1 s of start-up for every `tocsin` command).
RIVER_DETECTORS: dict[str, str] = {
    "adwin": "ADWIN",
    "kswin": "KSWIN",
    "page_hinkley": "PageHinkley",
}
# KSWIN samples at random: seed it so a replay gives the same verdicts.
_DEFAULT_PARAMS: dict[str, dict[str, Any]] = {"kswin": {"seed": 42}}


def make_river_detector(name: str, **params: Any) -> DriftDetector:
    """A fresh river detector by name (``adwin``, ``page_hinkley``, ``kswin``)."""
    try:
        class_name = RIVER_DETECTORS[name]
    except KeyError:
        raise ValueError(
            f"unknown river detector {name!r}: choose one of {', '.join(sorted(RIVER_DETECTORS))}"
        ) from None
    from river import drift

    cls: type[DriftDetector] = getattr(drift, class_name)
    return cls(**{**_DEFAULT_PARAMS.get(name, {}), **params})


def river_statistic(det: DriftDetector) -> tuple[float, float, dict[str, float]]:
    """(statistic, threshold, evidence) of a river detector that just fired.

    ADWIN: mean of the kept window (no threshold; evidence = window width); PageHinkley:
    its cumulative deviation vs ``threshold``; KSWIN: the KS p-value vs ``alpha``.

    >>> d = make_river_detector("kswin")
    >>> for i in range(300):
    ...     _ = d.update(float(i > 150))
    >>> stat, thr, _ = river_statistic(d)
    >>> thr
    0.005
    """
    from river import drift

    if isinstance(det, drift.ADWIN):
        return float(det.estimation), float("nan"), {"width": float(det.width)}
    if isinstance(det, drift.PageHinkley):
        up = det._sum_increase - det._min_increase
        down = det._max_decrease - det._sum_decrease
        return float(max(up, down)), float(det.threshold), {"mean": float(det._x_mean.get())}
    if isinstance(det, drift.KSWIN):
        return float(det.p_value), float(det.alpha), {}
    return float("nan"), float("nan"), {}


class KeyedRiver:
    """One river detector per slot, fed value by value (slow; for comparison).

    Parameters
    ----------
    name
        ``adwin``, ``page_hinkley`` or ``kswin``.
    params
        Keyword parameters passed to the river class.

    Example
    -------
    >>> import numpy as np
    >>> eng = KeyedRiver("adwin")
    >>> x = np.r_[np.zeros(500), np.ones(500)]
    >>> [(h.slot, h.index >= 500) for h in eng.update(np.zeros(1000, int), x)][:1]
    [(0, True)]
    """

    def __init__(self, name: str, params: dict[str, Any] | None = None) -> None:
        self.name = name
        self.params = dict(params or {})
        make_river_detector(name, **self.params)  # fail early on a bad name/params
        self.detectors: dict[int, DriftDetector] = {}
        self.n_seen: dict[int, int] = {}
        self.n_nonfinite = 0
        self.capacity = 1 << 62

    def ensure_capacity(self, n: int) -> None:
        """Nothing to do: detectors are created on first use."""

    def clear_slots(self, slots: np.ndarray) -> None:
        """Forget the detectors of ``slots``."""
        for s in slots.tolist():
            self.detectors.pop(s, None)
            self.n_seen.pop(s, None)

    def update(
        self, slots: np.ndarray, x: np.ndarray, ts: np.ndarray | None = None
    ) -> list[RawDetection]:
        """Feed a batch value by value; NaN/inf are counted and skipped."""
        slots = np.asarray(slots, dtype=np.int64)
        x = np.asarray(x, dtype=np.float64)
        if slots.shape != x.shape:
            raise ValueError(f"slots {slots.shape} and values {x.shape} must match")
        ts_arr = np.full(x.size, np.nan) if ts is None else np.asarray(ts, np.float64)
        finite = np.isfinite(x)
        self.n_nonfinite += int(x.size - finite.sum())
        out: list[RawDetection] = []
        for row in np.flatnonzero(finite).tolist():
            s = int(slots[row])
            det = self.detectors.get(s)
            if det is None:
                det = self.detectors[s] = make_river_detector(self.name, **self.params)
            idx = self.n_seen.get(s, 0)
            self.n_seen[s] = idx + 1
            det.update(float(x[row]))
            if det.drift_detected:
                stat, _thr, ev = river_statistic(det)
                out.append(RawDetection(s, idx, float(ts_arr[row]), row, stat, "change", ev))
        return out
