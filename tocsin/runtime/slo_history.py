"""Replay stored events through the SLO evaluators: ``tocsin slo backtest --from/--to``.

The events of ``[start, end)`` are read from ``events_dedup`` in time order, a few minutes
at a time, and fed to :class:`detectors.slo.SloEvaluator` exactly as the worker feeds live
batches, so a backtest gives the verdicts live traffic would have given.

Example
-------
>>> from detectors.slo import parse_spec_document
>>> spec = parse_spec_document({"version": 1, "slos": [{"name": "a", "objective": 0.99,
...     "period": "30d", "selector": {"service": "chat-*"}, "group_by": ["track"],
...     "sli": {"kind": "latency", "field": "ttft_ms", "threshold": 900}}]})
>>> needed_fields(spec.slos)
['service', 'track', 'ttft_ms']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from clickhouse_connect.driver.client import Client

from detectors.slo import SloEvaluator, SloSpec, Transition
from detectors.slo.evaluator import WEIGHT_FIELD, WEIGHTED_FIELDS
from detectors.slo.in_force import SlosInForce

__all__ = ["HistoryError", "needed_fields", "replay_events"]

#: The view analysts and backtests read: every event once.
EVENTS_VIEW = "events_dedup"


class HistoryError(RuntimeError):
    """The stored events cannot answer the spec (a field the table does not have)."""


def needed_fields(slos: Iterable[SloSpec]) -> list[str]:
    """Event fields the SLOs read: selector fields, group_by fields and SLI fields."""
    fields: set[str] = set()
    for slo in slos:
        fields.update(name for name, _ in slo.selector.patterns)
        fields.update(slo.group_by)
        fields.add(slo.sli.field)
        if slo.sli.field in WEIGHTED_FIELDS:
            fields.add(WEIGHT_FIELD)
    return sorted(fields)


def replay_events(
    client: Client,
    slos: SlosInForce | list[SloSpec],
    start: datetime,
    end: datetime,
    *,
    chunk_minutes: int = 10,
    on_progress: Callable[[datetime], None] | None = None,
) -> Iterator[Transition]:
    """Transitions of ``slos`` over the stored events of ``[start, end)`` (UTC).

    ``slos`` is what the worker applies (:func:`detectors.slo.in_force.slos_in_force`:
    configured SLOs per deployment plus the zero-config defaults), or a plain list of SLOs.

    Transition minutes are epoch minutes. Every minute up to ``end`` is evaluated at the
    end, so an alert that is still firing at ``end`` shows as firing.

    Raises
    ------
    HistoryError
        A field the SLOs need is not a column of the events.
    """
    in_force = slos if isinstance(slos, SlosInForce) else SlosInForce(tuple(slos), ())
    columns = [r[0] for r in client.query(f"DESCRIBE TABLE {EVENTS_VIEW}").result_rows]
    fields = needed_fields(in_force.all)
    missing = [f for f in fields if f not in columns]
    if missing:
        raise HistoryError(
            f"the SLOs read {', '.join(missing)}, which {EVENTS_VIEW} does not have "
            f"(its columns: {', '.join(columns)})"
        )
    # The worker's evaluators: configured SLOs, then the defaults for unselected events.
    evaluator = SloEvaluator(in_force.slos, defaults=in_force.defaults, lateness_minutes=0)
    select = ", ".join(f"`{f}`" for f in fields)
    query = (
        f"SELECT toUnixTimestamp64Milli(ts) AS ts_ms, {select} FROM {EVENTS_VIEW} "
        "WHERE ts >= {a:DateTime64(3, 'UTC')} AND ts < {b:DateTime64(3, 'UTC')} ORDER BY ts"
    )
    step = timedelta(minutes=chunk_minutes)
    t = start
    while t < end:
        t_next = min(t + step, end)
        result = client.query(query, parameters={"a": t, "b": t_next})
        data = result.result_columns
        if data and len(data[0]):
            batch: dict[str, Any] = {"ts": np.asarray(data[0], dtype=np.int64)}
            for name, values in zip(fields, data[1:], strict=True):
                batch[name] = np.asarray(values, dtype=object)
            if WEIGHT_FIELD in batch:
                batch[WEIGHT_FIELD] = np.array(
                    [np.nan if v is None else v for v in batch[WEIGHT_FIELD]], dtype=np.float64
                )
            yield from evaluator.observe_events(batch)
        t = t_next
        if on_progress is not None:
            on_progress(t)
    last_minute = int(end.timestamp() // 60) - 1
    yield from evaluator.advance(last_minute)
