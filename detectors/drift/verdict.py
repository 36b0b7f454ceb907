"""What a drift detector says when it fires, with the evidence behind it.

Every alert traces back to one :class:`DriftVerdict`: which detector (and with which
parameters) saw which signal of which key change, at which per-key sample index and
event time, and the statistic that crossed the threshold.

Example
-------
>>> v = DriftVerdict(detector="cusum", params={"threshold": 60.0}, key="chat|prod|v3",
...                  signal="latency_ms", index=51234, ts=1.7e9, statistic=61.2,
...                  threshold=60.0, direction="up")
>>> v.to_dict()["signal"], v.exceedance
('latency_ms', 1.02)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class DriftVerdict:
    """One detected change.

    Parameters
    ----------
    detector
        Detector name (``cusum``, ``categorical``, ``adwin``, ``page_hinkley``, ``kswin``).
    params
        The detector's parameters, so the verdict can be reproduced.
    key
        The monitored key (e.g. ``"service|deployment|model_version"`` or an int code).
    signal
        Signal name (``latency_ms``, ``language``, ``features.toxicity`` ...).
    index
        Per-key, per-signal sample index (0-based, counting finite samples only) of the
        sample at which the change was declared.
    ts
        Event time of that sample (seconds; ``nan`` when unknown).
    statistic
        The detector's test statistic at that sample.
    threshold
        The value the statistic crossed (``nan`` for detectors without one, e.g. ADWIN).
    direction
        ``"up"``, ``"down"`` or ``"change"`` (direction not defined).
    evidence
        Detector-specific numbers: reference mean/std and window mean for numeric
        detectors, PSI and p-value for the categorical one.
    row
        Position of that sample in the batch passed to ``update_batch`` (-1 if unknown).
    """

    detector: str
    params: dict[str, Any]
    key: Any
    signal: str
    index: int
    ts: float
    statistic: float
    threshold: float = float("nan")
    direction: str = "change"
    evidence: dict[str, float] = field(default_factory=dict)
    row: int = -1

    @property
    def exceedance(self) -> float:
        """``statistic / threshold`` rounded to 3 digits (nan when there is no threshold)."""
        if not self.threshold or self.threshold != self.threshold:
            return float("nan")
        return round(self.statistic / self.threshold, 3)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (keys that are numpy scalars become Python values)."""
        d = asdict(self)
        key = d["key"]
        d["key"] = key.item() if hasattr(key, "item") else key
        return d
