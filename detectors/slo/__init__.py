"""SLO burn-rate alerting: versioned specs, per-minute windows, multi-window evaluation.

Pure computation (no Kafka, no ClickHouse). See :mod:`detectors.slo.spec` for the spec
file and :mod:`detectors.slo.evaluator` for the exact semantics.

How a worker uses it (one :class:`SloEvaluator` per assigned partition)::

    slos = SloEvaluator(load_spec_file(settings.slo.resolved_spec_file()),
                        lateness_minutes=settings.slo.lateness_minutes)
    transitions = slos.observe_events(columns)     # decoded batch + detector verdict columns
    state = slos.to_bytes()                        # checkpoint with the committed offsets
    slos = SloEvaluator.from_bytes(state, spec_file)   # on assignment
    transitions = slos.advance(now_minute - 1 - lateness)  # idle tick: event time stands still

Backtests and per-minute aggregates use :func:`evaluate_series` or
:meth:`BurnRateEvaluator.observe_counts`.

Example
-------
>>> from detectors.slo import parse_slo, evaluate_series
>>> spec = parse_slo({"name": "api", "objective": 0.999, "period": "30d"})
>>> [t.window for t in evaluate_series(spec, [[100, 0]] * 10 + [[100, 100]])]
['1h/5m', '6h/30m', '1d/2h', '3d/6h']
"""

from __future__ import annotations

from detectors.slo.durations import Duration, DurationError, parse_duration
from detectors.slo.evaluator import (
    STATE_FORMAT_VERSION,
    BurnRateEvaluator,
    SloEvaluator,
    StateError,
    Transition,
    evaluate_series,
)
from detectors.slo.spec import (
    DEFAULT_ALERTS,
    SPEC_VERSION,
    AlertSpec,
    Selector,
    SliSpec,
    SloSpec,
    SpecError,
    SpecFile,
    load_spec_file,
    parse_slo,
    parse_spec_document,
)
from detectors.slo.windows import MinuteRing

__all__ = [
    "DEFAULT_ALERTS",
    "SPEC_VERSION",
    "STATE_FORMAT_VERSION",
    "AlertSpec",
    "BurnRateEvaluator",
    "Duration",
    "DurationError",
    "MinuteRing",
    "Selector",
    "SliSpec",
    "SloEvaluator",
    "SloSpec",
    "SpecError",
    "SpecFile",
    "StateError",
    "Transition",
    "evaluate_series",
    "load_spec_file",
    "parse_duration",
    "parse_slo",
    "parse_spec_document",
]
