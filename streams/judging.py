"""The live monitors of the worker: SLO burn rates, drift and canary verdicts per partition.

:class:`JudgingStage` is the last stage of the worker's :class:`~streams.monitor.Pipeline`.
Per batch, after decode, toxicity and PII, it feeds every event to the monitors of the
Kafka partition it came from (DESIGN.md convention 3: keyed state belongs to its partition):

* a :class:`detectors.slo.SloEvaluator` over the SLOs in force
  (:func:`detectors.slo.in_force.slos_in_force`: configured SLOs per deployment, plus the
  zero-config defaults);
* a :class:`detectors.drift.KeyedDriftMonitor` per ``service|deployment|track`` over
  latency, time to first token, output tokens and toxicity;
* a :class:`detectors.canary.CanaryJudge` comparing each service's canary with its stable.

Event time drives everything: a minute closes when the partition's watermark (newest
minute seen minus ``lateness_minutes``) passes it, or, without events, after
``idle_advance_s`` of wall time (:meth:`JudgingStage.tick`). Each SLO transition, drift
detection and canary verdict change becomes an :class:`~streams.alerts.AlertRecord` (and
its :class:`~streams.alerts.Detection`), collected until :meth:`JudgingStage.take`.

State round-trips per partition through :meth:`JudgingStage.snapshot` /
:meth:`JudgingStage.restore`; the worker stores it with the offset it reflects.

Example
-------
>>> import numpy as np
>>> from types import SimpleNamespace
>>> stage = JudgingStage(JudgingConfig(lateness_minutes=0))
>>> t0 = 29_000_000 * 60_000
>>> def batch(minute, status):
...     n = 200
...     return SimpleNamespace(kafka_partitions=[0] * n, columns={
...         "event_id": [f"{minute}-{i}" for i in range(n)], "ts": [t0 + minute * 60_000] * n,
...         "service": ["chat"] * n, "deployment": ["chat-v2"] * n, "track": ["canary"] * n,
...         "model": ["m"] * n, "model_version": ["1"] * n, "status": [status] * n,
...         "latency_ms": [100.0] * n, "ttft_ms": [None] * n, "tokens_out": [10] * n,
...         "toxicity": [None] * n, "sample_weight": [None] * n, "response_pii_count": [0] * n})
>>> _ = stage.process(batch(0, "ok")); _ = stage.process(batch(1, "error"))
>>> _ = stage.process(batch(2, "ok"))
>>> alerts = [a for a, _ in stage.take()]
>>> [(a.kind, a.rule, a.severity, a.state, a.deployment) for a in alerts][:1]
[('slo', 'default-availability', 'page', 'firing', 'chat-v2')]
>>> restored = JudgingStage(JudgingConfig(lateness_minutes=0))
>>> restored.restore(0, stage.snapshot(0))
>>> restored.partitions
[0]
"""

from __future__ import annotations

import json
import logging
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detectors.canary import CanaryJudge, CanaryParams, CanaryVerdict
from detectors.drift import KeyedDriftMonitor
from detectors.drift.verdict import DriftVerdict
from detectors.slo import SloEvaluator, SpecFile, StateError, Transition
from detectors.slo.in_force import SlosInForce, slos_in_force, split_key
from detectors.slo.spec import SloSpec
from streams.alerts import AlertRecord, Detection, alert_id, events_sql, incident_id

log = logging.getLogger("tocsin.judging")

__all__ = ["DRIFT_SIGNALS", "JudgingConfig", "JudgingStage", "PartitionMonitors"]

#: Numeric event fields watched for drift, per service|deployment|track.
DRIFT_SIGNALS: tuple[str, ...] = ("latency_ms", "ttft_ms", "tokens_out", "toxicity")
#: Heavy-tailed signals are watched on a log scale (``log1p``): a rare 30 s timeout among
#: 800 ms answers is one outlier there, not a shift of the mean.
LOG_SIGNALS = frozenset({"latency_ms", "ttft_ms", "tokens_out"})

_STATE_MAGIC = b"TJDG"
_STATE_VERSION = 1
_MINUTE_MS = 60_000


@dataclass(frozen=True)
class JudgingConfig:
    """What the monitors need from the settings (``slo``, ``drift``, ``canary``)."""

    slos: SlosInForce = field(default_factory=lambda: slos_in_force(None))
    lateness_minutes: int = 1
    idle_advance_s: float = 120.0
    slo_enabled: bool = True
    drift_enabled: bool = True
    drift_config: dict[str, Any] = field(default_factory=dict)
    canary_enabled: bool = True
    canary: CanaryParams = field(default_factory=CanaryParams)
    toxicity_threshold: float = 0.5

    @classmethod
    def from_spec(cls, spec: SpecFile | None, **kwargs: Any) -> JudgingConfig:
        """A config whose SLOs are those in force for ``spec`` (None: defaults only)."""
        return cls(slos=slos_in_force(spec), **kwargs)


class PartitionMonitors:
    """The monitors of one partition and the bookkeeping that makes alerts idempotent."""

    def __init__(self, cfg: JudgingConfig) -> None:
        self.cfg = cfg
        self.slo: SloEvaluator | None = (
            SloEvaluator(
                cfg.slos.slos, defaults=cfg.slos.defaults, lateness_minutes=cfg.lateness_minutes
            )
            if cfg.slo_enabled
            else None
        )
        self.drift: KeyedDriftMonitor | None = (
            KeyedDriftMonitor.from_config(cfg.drift_config) if cfg.drift_enabled else None
        )
        self.canary: CanaryJudge | None = CanaryJudge(cfg.canary) if cfg.canary_enabled else None
        #: Newest event minute seen on this partition.
        self.watermark: int | None = None
        #: Open incidents: "kind|rule|key|window|severity" -> minute the incident started.
        self.open: dict[str, int] = {}
        #: Wall time of the last event (not checkpointed: a restart counts as activity).
        self.last_event_wall = time.monotonic()
        #: Drift keys ("service|deployment|track") by the int id the detectors know them by.
        self.drift_keys: list[str] = []
        self._drift_ids: dict[str, int] = {}

    def drift_ids(self, names: Sequence[str]) -> np.ndarray:
        """Stable int ids of drift keys (int keys keep the detectors' lookups in numpy)."""
        ids = self._drift_ids
        for name in names:
            if name not in ids:
                ids[name] = len(self.drift_keys)
                self.drift_keys.append(name)
        return np.fromiter(map(ids.__getitem__, names), dtype=np.int64, count=len(names))

    # ------------------------------------------------------------------ state
    def to_bytes(self) -> bytes:
        """Versioned container of every monitor's own checkpoint."""
        blobs: dict[str, bytes] = {}
        if self.slo is not None:
            blobs["slo"] = self.slo.to_bytes()
        if self.drift is not None:
            blobs["drift"] = self.drift.to_bytes()
        if self.canary is not None:
            blobs["canary"] = self.canary.to_bytes()
        head = json.dumps(
            {
                "watermark": self.watermark,
                "open": self.open,
                "drift_keys": self.drift_keys,
                "sizes": {k: len(v) for k, v in blobs.items()},
            },
            separators=(",", ":"),
        ).encode()
        return b"".join(
            [
                _STATE_MAGIC,
                bytes([_STATE_VERSION]),
                struct.pack(">I", len(head)),
                head,
                *blobs.values(),
            ]
        )

    @classmethod
    def from_bytes(cls, data: bytes, cfg: JudgingConfig) -> PartitionMonitors:
        """Restore; a part that no longer fits the configuration starts afresh (logged)."""
        if len(data) < 9 or data[:4] != _STATE_MAGIC or data[4] != _STATE_VERSION:
            raise StateError("not a monitor checkpoint of a supported format version")
        (hlen,) = struct.unpack(">I", data[5:9])
        head = json.loads(data[9 : 9 + hlen])
        pos = 9 + hlen
        blobs: dict[str, bytes] = {}
        for name, size in head["sizes"].items():
            blobs[name] = data[pos : pos + int(size)]
            pos += int(size)
        out = cls(cfg)
        out.watermark = head["watermark"]
        out.open = {str(k): int(v) for k, v in head["open"].items()}
        out.drift_ids([str(k) for k in head.get("drift_keys", [])])
        if out.slo is not None and "slo" in blobs:
            try:
                out.slo = SloEvaluator.from_bytes(
                    blobs["slo"],
                    cfg.slos.slos,
                    defaults=cfg.slos.defaults,
                    lateness_minutes=cfg.lateness_minutes,
                )
            except StateError as exc:
                log.warning("SLO state not restored (%s): the SLO windows start empty", exc)
                out.open = {k: v for k, v in out.open.items() if not k.startswith("slo|")}
        if out.drift is not None and "drift" in blobs:
            try:
                out.drift = KeyedDriftMonitor.from_bytes(blobs["drift"])
            except (ValueError, KeyError) as exc:
                log.warning("drift state not restored (%s): detectors warm up again", exc)
        if out.canary is not None and "canary" in blobs:
            try:
                out.canary = CanaryJudge.from_bytes(blobs["canary"])
            except ValueError as exc:
                log.warning("canary state not restored (%s): the comparison restarts", exc)
        return out


class JudgingStage:
    """Pipeline stage running the live monitors (see the module docstring).

    The worker sets ``batch.kafka_partitions`` (one partition per good row) before the
    pipeline runs; a batch without it counts as partition 0 (tests, notebooks).
    """

    name = "judging"

    def __init__(self, cfg: JudgingConfig | None = None) -> None:
        self.cfg = cfg or JudgingConfig()
        self.monitors: dict[int, PartitionMonitors] = {}
        self._out: list[tuple[AlertRecord, Detection]] = []
        self.late_events = 0
        self.dirty: set[int] = set()
        self.alerts_emitted: dict[tuple[str, str], int] = {}
        self._specs: dict[str, SloSpec] = {s.name: s for s in self.cfg.slos.all}
        self._combo_names: list[str] = []

    # ------------------------------------------------------------------ partitions
    @property
    def partitions(self) -> list[int]:
        return sorted(self.monitors)

    def restore(self, partition: int, blob: bytes | None) -> None:
        """Take over ``partition`` with its checkpointed state (None: start empty)."""
        if blob is None:
            self.monitors[partition] = PartitionMonitors(self.cfg)
            return
        try:
            self.monitors[partition] = PartitionMonitors.from_bytes(blob, self.cfg)
        except (StateError, ValueError, KeyError, struct.error) as exc:
            log.error(
                "partition %d: monitor checkpoint unreadable (%s); starting empty", partition, exc
            )
            self.monitors[partition] = PartitionMonitors(self.cfg)

    def snapshot(self, partition: int) -> bytes:
        """The state of ``partition`` to checkpoint with its offset."""
        return self._monitors(partition).to_bytes()

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget partitions this worker no longer owns."""
        for p in partitions:
            self.monitors.pop(p, None)
            self.dirty.discard(p)

    def _monitors(self, partition: int) -> PartitionMonitors:
        mon = self.monitors.get(partition)
        if mon is None:
            mon = self.monitors[partition] = PartitionMonitors(self.cfg)
        return mon

    def take(self) -> list[tuple[AlertRecord, Detection]]:
        """The alerts (with their detections) produced since the last call."""
        out, self._out = self._out, []
        return out

    # ------------------------------------------------------------------ batches
    def process(self, batch: Any) -> Any:
        """Feed one batch to the monitors of its partitions; alerts wait in :meth:`take`."""
        cols = batch.columns
        ts = cols.get("ts")
        if not ts:
            return batch
        n = len(ts)
        parts = getattr(batch, "kafka_partitions", None)
        arrays = _numpy_columns(cols, n)
        codes, self._combo_names = _combos(arrays["service"], arrays["deployment"], arrays["track"])
        arrays["combo"] = codes
        if parts is None:
            groups: list[tuple[int, np.ndarray | None]] = [(0, None)]
        else:
            p = np.asarray(parts, dtype=np.int64)
            uniq = np.unique(p)
            groups = (
                [(int(uniq[0]), None)]
                if len(uniq) == 1
                else [(int(u), np.flatnonzero(p == u)) for u in uniq]
            )
        now = time.monotonic()
        for partition, idx in groups:
            sub = arrays if idx is None else {k: v[idx] for k, v in arrays.items()}
            mon = self._monitors(partition)
            mon.last_event_wall = now
            self._judge(mon, sub)
            self.dirty.add(partition)
        return batch

    def tick(self, wall_ms: int | None = None) -> None:
        """Close the minutes of partitions idle for ``idle_advance_s`` up to the wall clock."""
        now = time.monotonic()
        wall_minute = int((time.time() * 1000 if wall_ms is None else wall_ms) // _MINUTE_MS)
        through = wall_minute - 1 - self.cfg.lateness_minutes
        for partition, mon in self.monitors.items():
            if mon.watermark is None or now - mon.last_event_wall < self.cfg.idle_advance_s:
                continue
            transitions = mon.slo.advance(through) if mon.slo is not None else []
            verdicts = mon.canary.close_through(through) if mon.canary is not None else []
            if transitions or verdicts:
                self._emit_slo(mon, transitions)
                self._emit_canary(mon, verdicts)
                self.dirty.add(partition)
            mon.last_event_wall = now  # next idle tick after another idle period

    def _judge(self, mon: PartitionMonitors, c: dict[str, np.ndarray]) -> None:
        minutes = c["ts"] // _MINUTE_MS
        top = int(minutes.max())
        if mon.watermark is not None:
            closed = mon.watermark - 1 - self.cfg.lateness_minutes
            self.late_events += int(np.count_nonzero(minutes <= closed))
        mon.watermark = top if mon.watermark is None else max(mon.watermark, top)
        if mon.slo is not None:
            self._emit_slo(mon, mon.slo.observe_events(c, minutes))
        if mon.drift is not None:
            self._drift(mon, c)
        if mon.canary is not None:
            tox = c["toxicity"]
            mon.canary.update_batch(
                minutes,
                c["service"],
                c["track"],
                c["deployment"],
                c["status_bad"],
                c["response_pii_count"] > 0,
                tox,
                c["sample_weight"],
                c["latency_ms"],
            )
            self._emit_canary(
                mon, mon.canary.close_through(mon.watermark - 1 - self.cfg.lateness_minutes)
            )

    # ------------------------------------------------------------------ SLO
    def _emit_slo(self, mon: PartitionMonitors, transitions: Sequence[Transition]) -> None:
        for t in transitions:
            spec = self._specs.get(t.slo)
            values = split_key(t.key)
            service, deployment, track = ([*values, "", "", ""])[:3]
            open_key = f"slo|{t.slo}|{t.key}|{t.window}|{t.severity}"
            if t.state == "firing":
                start = mon.open.setdefault(open_key, t.minute)
            else:
                start = mon.open.pop(open_key, t.minute)
            end_ms = (t.minute + 1) * _MINUTE_MS
            alert = alert_id("slo", t.slo, t.key, t.window, t.severity, t.state, t.minute)
            factor = threshold = None
            long_min = 60
            where = ""
            if spec is not None:
                for a in spec.alerts:
                    if a.window == t.window and a.severity == t.severity:
                        factor = threshold = spec.factor(a)
                        long_min = a.long_minutes
                where = _sli_where(spec)
            window_start = end_ms - long_min * _MINUTE_MS
            long_w, short_w = t.window.split("/")
            burn = {long_w: round(t.burn_long, 4), short_w: round(t.burn_short, 4)}
            labels = {"service": service, "deployment": deployment, "track": track, "slo": t.slo}
            if spec is not None:
                for name, value in zip(spec.group_by[3:], values[3:], strict=False):
                    labels[name] = value
            sql = events_sql(service, deployment, track, window_start, end_ms, where)
            verb = "burning" if t.state == "firing" else "back within"
            summary = (
                f"[{t.severity}] SLO {t.slo} {verb} budget on {service}/{deployment} ({track}): "
                f"burn {t.burn_long:.1f}x over {long_w}, {t.burn_short:.1f}x over {short_w}"
                + (f" (threshold {factor:.1f}x)" if factor else "")
            )
            evidence = {"burn_rates": burn, "factor": factor, "minute": t.minute, "key": t.key}
            record = AlertRecord(
                alert_id=alert,
                incident_id=incident_id("slo", t.slo, t.key, t.window, t.severity, start),
                ts=end_ms,
                kind="slo",
                rule=t.slo,
                severity=t.severity,
                state=t.state,
                service=service,
                deployment=deployment or None,
                track=track or None,
                window=t.window,
                value=float(t.burn_long),
                threshold=threshold,
                summary=summary,
                labels=labels,
                annotations={
                    "burn_rates": json.dumps(burn),
                    "evidence": json.dumps(evidence),
                    "sql": sql,
                    "since": str(start),
                },
            )
            detection = Detection(
                alert_id=alert,
                ts=end_ms,
                detector="slo-burn-rate",
                detector_version="1",
                rule=t.slo,
                params=json.dumps(spec.as_dict() if spec is not None else {}, default=str),
                key=t.key,
                service=service,
                deployment=deployment,
                track=track,
                verdict=t.state,
                statistic=float(t.burn_long),
                threshold=threshold,
                window=t.window,
                window_start=window_start,
                window_end=end_ms,
                evidence=json.dumps(evidence),
            )
            self._collect(record, detection)

    # ------------------------------------------------------------------ drift
    def _drift(self, mon: PartitionMonitors, c: dict[str, np.ndarray]) -> None:
        assert mon.drift is not None
        keys = mon.drift_ids(self._combo_names)[c["combo"]]
        ts_s = c["ts"] / 1000.0
        for signal in DRIFT_SIGNALS:
            values = c[signal]
            if signal in LOG_SIGNALS:
                with np.errstate(invalid="ignore", divide="ignore"):
                    values = np.log1p(np.maximum(values, 0.0))
            ok = np.isfinite(values)
            if not ok.any():
                continue
            if ok.all():
                verdicts = mon.drift.update_batch(keys, signal, values, ts_s, kind="numeric")
            else:
                verdicts = mon.drift.update_batch(
                    keys[ok], signal, values[ok], ts_s[ok], kind="numeric"
                )
            for v in verdicts:
                self._emit_drift(v, mon.drift_keys[int(v.key)])

    def _emit_drift(self, v: DriftVerdict, key: str) -> None:
        service, deployment, track = ([*key.split("|"), "", "", ""])[:3]
        minute = int(v.ts // 60) if v.ts == v.ts else 0
        end_ms = (minute + 1) * _MINUTE_MS
        rule = v.signal
        alert = alert_id("drift", rule, key, "", "ticket", "firing", minute)
        evidence = {k: (None if x != x else x) for k, x in v.to_dict().items() if k != "params"}
        evidence["scale"] = "log1p" if v.signal in LOG_SIGNALS else "linear"
        start_ms = end_ms - 60 * _MINUTE_MS
        summary = (
            f"[ticket] {v.signal} drifted {v.direction} on {service}/{deployment} ({track}): "
            f"{v.detector} statistic {v.statistic:.1f} over threshold {v.threshold:.1f}"
        )
        record = AlertRecord(
            alert_id=alert,
            incident_id=incident_id("drift", rule, key, "", "ticket", minute),
            ts=end_ms,
            kind="drift",
            rule=rule,
            severity="ticket",
            state="firing",
            service=service,
            deployment=deployment or None,
            track=track or None,
            value=float(v.statistic),
            threshold=None if v.threshold != v.threshold else float(v.threshold),
            summary=summary,
            labels={
                "service": service,
                "deployment": deployment,
                "track": track,
                "signal": v.signal,
                "direction": v.direction,
                "detector": v.detector,
            },
            annotations={
                "evidence": json.dumps(evidence, default=str),
                "sql": events_sql(service, deployment, track, start_ms, end_ms),
            },
        )
        detection = Detection(
            alert_id=alert,
            ts=end_ms,
            detector=v.detector,
            detector_version="1",
            rule=rule,
            params=json.dumps(v.params, default=str),
            key=key,
            service=service,
            deployment=deployment,
            track=track,
            verdict=f"drift-{v.direction}",
            statistic=float(v.statistic),
            threshold=None if v.threshold != v.threshold else float(v.threshold),
            window="",
            window_start=start_ms,
            window_end=end_ms,
            evidence=json.dumps(evidence, default=str),
        )
        self._collect(record, detection)

    # ------------------------------------------------------------------ canary
    def _emit_canary(self, mon: PartitionMonitors, verdicts: Sequence[CanaryVerdict]) -> None:
        for v in verdicts:
            key = f"{v.service}|{v.deployment}"
            open_key = f"canary|canary-verdict|{v.service}|"
            failing = v.verdict == "fail"
            if failing:
                start = mon.open.setdefault(open_key, v.minute)
                severity = "page"
            elif v.previous == "fail":
                start = mon.open.pop(open_key, v.minute)
                severity = "page"
            else:
                start = v.minute
                severity = "info"
            state = "firing" if failing else "resolved"
            end_ms = (v.minute + 1) * _MINUTE_MS
            alert = alert_id("canary", "canary-verdict", key, "", severity, state, v.minute)
            inc = (
                incident_id("canary", "canary-verdict", v.service, "", "page", start)
                if severity == "page"
                else alert
            )
            window = f"{v.window_end_minute - v.window_start_minute + 1}m"
            w_start = v.window_start_minute * _MINUTE_MS
            evidence = v.to_dict()
            failed = ", ".join(v.failed_metrics) or "none"
            summary = (
                f"[{severity}] canary {v.deployment} of {v.service} is {v.verdict.upper()} "
                f"against {v.baseline_deployment or 'stable'} (was {v.previous}; failing: {failed})"
            )
            worst = min(
                (
                    m.get("p_value", 1.0)
                    for m in v.metrics.values()
                    if m.get("p_value") == m.get("p_value")
                ),
                default=None,
            )
            record = AlertRecord(
                alert_id=alert,
                incident_id=inc,
                ts=end_ms,
                kind="canary",
                rule="canary-verdict",
                severity=severity,
                state=state,
                service=v.service,
                deployment=v.deployment or None,
                track="canary",
                window=window,
                value=None if worst is None else float(worst),
                threshold=None,
                summary=summary,
                labels={
                    "service": v.service,
                    "deployment": v.deployment,
                    "track": "canary",
                    "verdict": v.verdict,
                    "previous": v.previous,
                    "baseline_deployment": v.baseline_deployment,
                },
                annotations={
                    "evidence": json.dumps(evidence, default=str),
                    "failed_metrics": ",".join(v.failed_metrics),
                    "sql": events_sql(v.service, v.deployment, "canary", w_start, end_ms),
                    "since": str(start),
                },
            )
            detection = Detection(
                alert_id=alert,
                ts=end_ms,
                detector="canary-judge",
                detector_version=CanaryJudge.version,
                rule="canary-verdict",
                params=json.dumps(self.cfg.canary.to_dict()),
                key=key,
                service=v.service,
                deployment=v.deployment,
                track="canary",
                verdict=v.verdict,
                statistic=None if worst is None else float(worst),
                threshold=float(self.cfg.canary.alpha),
                window=window,
                window_start=w_start,
                window_end=end_ms,
                evidence=json.dumps(evidence, default=str),
            )
            self._collect(record, detection)

    def _collect(self, record: AlertRecord, detection: Detection) -> None:
        self._out.append((record, detection))
        k = (record.kind, record.severity)
        self.alerts_emitted[k] = self.alerts_emitted.get(k, 0) + 1


def _sli_where(spec: SloSpec) -> str:
    """The SQL condition of a bad event of ``spec`` (empty when not expressible)."""
    sli = spec.sli
    if sli.kind == "error_ratio":
        values = ", ".join("'" + v.replace("'", "\\'") + "'" for v in sli.bad_values)
        return f"`{sli.field}` IN ({values})"
    if sli.threshold is None:
        return f"`{sli.field}` != 0"
    return f"`{sli.field}` > {sli.threshold}"


def _float_column(values: Sequence[Any] | None, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, np.nan)
    arr = np.asarray(values, dtype=object) if None in values else np.asarray(values)
    return (
        arr.astype(np.float64)
        if arr.dtype != object
        else np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    )


def _object_column(values: Sequence[Any] | None, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, "", dtype=object)
    return np.asarray(values, dtype=object)


def _numpy_columns(cols: dict[str, list[Any]], n: int) -> dict[str, np.ndarray]:
    """The columns the monitors read, as numpy arrays (one conversion per batch)."""
    out: dict[str, np.ndarray] = {
        "ts": np.asarray(cols["ts"], dtype=np.int64),
        "service": _object_column(cols.get("service"), n),
        "deployment": _object_column(cols.get("deployment"), n),
        "track": _object_column(cols.get("track"), n),
        "model": _object_column(cols.get("model"), n),
        "model_version": _object_column(cols.get("model_version"), n),
        "status": _object_column(cols.get("status"), n),
        "response_pii_count": np.asarray(
            cols.get("response_pii_count") or np.zeros(n), dtype=np.int64
        ),
    }
    for name in ("latency_ms", "ttft_ms", "tokens_out", "toxicity", "sample_weight"):
        out[name] = _float_column(cols.get(name), n)
    uniques, codes = _factorize(out["status"])
    bad = np.array([u in ("error", "timeout") for u in uniques], dtype=bool)
    out["status_bad"] = bad[codes]
    return out


def _factorize(column: np.ndarray) -> tuple[list[Any], np.ndarray]:
    """Distinct values (first-seen order) and each row's code; no Python code per row."""
    values = column.tolist()
    index: dict[Any, int] = dict.fromkeys(values, 0)
    for code, value in enumerate(index):
        index[value] = code
    return list(index), np.fromiter(map(index.__getitem__, values), np.int64, len(values))


def _combos(*columns: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Each row's code of its ``a|b|c`` combination, and the combinations' names.

    >>> codes, names = _combos(np.array(["s", "s", "t"], dtype=object),
    ...                        np.array(["d1", "d2", "d1"], dtype=object))
    >>> codes.tolist(), names
    ([0, 1, 2], ['s|d1', 's|d2', 't|d1'])
    """
    combined = np.zeros(len(columns[0]), dtype=np.int64)
    factors = []
    for col in columns:
        uniques, codes = _factorize(col)
        combined = combined * len(uniques) + codes
        factors.append(uniques)
    combos, inverse = np.unique(combined, return_inverse=True)
    names = []
    for combo in combos.tolist():
        parts = []
        for uniques in reversed(factors):
            combo, code = divmod(combo, len(uniques))
            value = uniques[code]
            parts.append("" if value is None else str(value))
        names.append("|".join(reversed(parts)))
    return inverse.reshape(-1).astype(np.int64), names
