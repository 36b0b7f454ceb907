"""Prometheus metrics of one worker, served at ``/metrics`` on its web server.

Counters and gauges are read from the batch consumer's :class:`~streams.monitor.MonitorMetrics`
and the monitors at scrape time (no bookkeeping on the hot path); the two latency
histograms (batch processing, alert emission) are observed by the consumer thread.

Example
-------
>>> m = WorkerMetrics("worker-0")
>>> m.observe("batch", 0.12)
>>> body, content_type = m.render()
>>> b"tocsin_batch_seconds_bucket" in body, content_type.startswith("text/plain")
(True, True)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

__all__ = ["WorkerMetrics"]

_COUNTERS = {
    "consumed": ("tocsin_events_consumed", "Records read from the events topic."),
    "written": ("tocsin_events_written", "Events written to ClickHouse."),
    "dead_lettered": ("tocsin_dead_letters", "Records sent to the dead-letter queue."),
    "late_events": ("tocsin_late_events", "Events for minutes already closed by the watermark."),
    "alerts_emitted": ("tocsin_alert_records", "Alert records put on the alerts topic."),
    "replayed_rows_skipped": (
        "tocsin_replayed_rows_skipped",
        "Replayed events judged again but not inserted twice.",
    ),
    "checkpoints": ("tocsin_checkpoints", "Monitor checkpoints written."),
    "skipped_messages": ("tocsin_skipped_messages", "Records lost to retention before reading."),
}


class _Collector(Collector):
    def __init__(self, owner: WorkerMetrics) -> None:
        self.owner = owner

    def collect(self) -> Iterator[Any]:
        monitor = self.owner.monitor
        if monitor is None:
            return
        snap = monitor.metrics.snapshot()
        labels = ["worker"]
        wid = [self.owner.worker_id]
        for field, (name, doc) in _COUNTERS.items():
            c = CounterMetricFamily(name, doc, labels=labels)
            c.add_metric(wid, float(snap.get(field, 0)))
            yield c
        lag = GaugeMetricFamily("tocsin_consumer_lag", "Records behind the log end.", labels=labels)
        lag.add_metric(wid, float(snap["lag"]))
        yield lag
        last = float(snap.get("last_checkpoint_unix") or 0.0)
        age = GaugeMetricFamily(
            "tocsin_checkpoint_timestamp_seconds",
            "Unix time of the last monitor checkpoint (0: none yet).",
            labels=labels,
        )
        age.add_metric(wid, last)
        yield age
        for stage in monitor.pipeline.stages:
            ratio = getattr(stage, "sampling_ratio", None)
            if ratio is not None:
                g = GaugeMetricFamily(
                    "tocsin_toxicity_sampling_ratio",
                    "Share of answers scored (1: all).",
                    labels=labels,
                )
                g.add_metric(wid, float(ratio))
                yield g
                t = GaugeMetricFamily(
                    "tocsin_toxicity_texts_per_second",
                    "Scoring throughput (answers per second of scoring).",
                    labels=labels,
                )
                t.add_metric(wid, float(stage.texts_per_s))
                yield t
                scorer = getattr(stage, "scorer", None)
                providers = getattr(scorer, "providers", None) or []
                p = GaugeMetricFamily(
                    "tocsin_onnx_provider",
                    "ONNX Runtime execution provider in use (1).",
                    labels=[*labels, "provider"],
                )
                p.add_metric([*wid, str(providers[0]) if providers else "none"], 1.0)
                yield p
        judge = monitor.judge
        if judge is not None:
            a = CounterMetricFamily(
                "tocsin_alerts",
                "Alerts emitted by kind and severity.",
                labels=[*labels, "kind", "severity"],
            )
            for (kind, severity), n in sorted(judge.alerts_emitted.items()):
                a.add_metric([*wid, kind, severity], float(n))
            yield a


class WorkerMetrics:
    """The worker's Prometheus registry (one per worker process)."""

    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id
        self.monitor: Any = None
        self.registry = CollectorRegistry(auto_describe=False)
        self.batch_seconds = Histogram(
            "tocsin_batch_seconds",
            "Time to decode, judge and write one batch.",
            ["worker"],
            registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.alert_seconds = Histogram(
            "tocsin_alert_emit_seconds",
            "From the start of the batch that closed a minute to its alert on the topic.",
            ["worker"],
            registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
        )
        self.registry.register(_Collector(self))

    def bind(self, monitor: Any) -> None:
        """Read counters from this :class:`~streams.monitor.BatchMonitor`."""
        self.monitor = monitor

    def observe(self, what: str, seconds: float) -> None:
        """Record a latency: ``batch`` or ``alert``."""
        hist = self.batch_seconds if what == "batch" else self.alert_seconds
        hist.labels(self.worker_id).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
