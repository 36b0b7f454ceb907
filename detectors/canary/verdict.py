"""Parameters of the canary judge and the verdict it emits, with its evidence.

Example
-------
>>> p = CanaryParams(window_minutes=10)
>>> p.to_dict()["window_minutes"], p.alpha
(10, 0.01)
>>> v = CanaryVerdict(service="chat", deployment="chat-v2", baseline_deployment="chat-v1",
...                   minute=100, verdict="fail", previous="pass", window_start_minute=71,
...                   window_end_minute=100, failed_metrics=("error_ratio",),
...                   metrics={"error_ratio": {"canary": 0.05, "stable": 0.001}})
>>> v.to_dict()["failed_metrics"]
['error_ratio']
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

VERDICTS = ("pass", "fail", "inconclusive")


@dataclass(frozen=True)
class CanaryParams:
    """How a canary is compared with its stable track.

    Parameters
    ----------
    window_minutes
        Sliding event-time window (minutes) compared at each minute close.
    min_samples
        Events each track needs in the window before any ``pass``/``fail``.
    alpha
        Family-wise probability of a false ``fail`` over all looks and metrics of one
        comparison (see :func:`detectors.canary.statistics.spent_alpha`).
    min_error_delta, min_pii_delta, min_toxic_delta
        Practical margins: the canary's ratio must exceed stable's by more than this
        (absolute) for the metric to fail, whatever its p-value.
    latency_ratio
        The canary's p50 or p95 must be at least this multiple of stable's for latency to fail.
    toxicity_threshold
        An answer is toxic when its score is above this.
    """

    window_minutes: int = 30
    min_samples: int = 200
    alpha: float = 0.01
    min_error_delta: float = 0.01
    min_pii_delta: float = 0.002
    min_toxic_delta: float = 0.01
    latency_ratio: float = 1.25
    toxicity_threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.window_minutes < 1:
            raise ValueError(f"window_minutes must be >= 1, got {self.window_minutes}")
        if self.min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {self.min_samples}")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        for name in ("min_error_delta", "min_pii_delta", "min_toxic_delta"):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.latency_ratio >= 1.0:
            raise ValueError(f"latency_ratio must be >= 1, got {self.latency_ratio}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready) of the parameters."""
        return asdict(self)


@dataclass(frozen=True)
class CanaryVerdict:
    """A canary verdict change, with the evidence of the window that produced it.

    Parameters
    ----------
    service
        The compared service.
    deployment
        The canary track's deployment (latest seen).
    baseline_deployment
        The deployment of the track it was compared with (stable, else baseline; ``""``
        when neither had events).
    minute
        Epoch minute whose close produced this verdict.
    verdict
        ``"pass"``, ``"fail"`` or ``"inconclusive"``.
    previous
        The verdict before this one (``"inconclusive"`` initially).
    window_start_minute, window_end_minute
        The compared event-time window, both inclusive.
    failed_metrics
        Names of the metrics that failed (empty unless ``verdict == "fail"``).
    metrics
        Per metric (``error_ratio``, ``pii_leak_ratio``, ``toxicity_ratio``, ``latency``):
        ``canary``, ``stable``, ``statistic``, ``p_value``, ``n_canary``, ``n_stable``,
        ``alpha_used`` (NaN when the look was not tested), ``margin`` and ``failed``
        (1.0/0.0); latency adds ``canary_p50``, ``stable_p50``, ``canary_p95``,
        ``stable_p95`` (its ``canary``/``stable`` are the p95s).
    """

    service: str
    deployment: str
    baseline_deployment: str
    minute: int
    verdict: str
    previous: str
    window_start_minute: int
    window_end_minute: int
    failed_metrics: tuple[str, ...] = ()
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready; tuples become lists)."""
        d = asdict(self)
        d["failed_metrics"] = list(self.failed_metrics)
        return d
