"""Alert records: what the live monitors emit on the alerts topic and into ``alerts``.

One :class:`AlertRecord` per SLO transition, drift detection or canary verdict change,
with the fields of the Avro ``alert`` schema (``schemas/avro/alert.v1.avsc``). Ids are
deterministic, so a replay after a crash re-emits the same ``alert_id`` and consumers drop
duplicates; ``incident_id`` joins the ``firing`` and ``resolved`` records of one incident
(it is derived from the minute the incident started).

Every record has a :class:`Detection` twin (the ``detections`` audit row): detector,
version, parameters, key, statistic and the event-time range of the events behind it.

Example
-------
>>> a = alert_id("slo", "chat-avail", "chat/chat-v2/canary", "1h/5m", "page", "firing", 29_000_000)
>>> a == alert_id("slo", "chat-avail", "chat/chat-v2/canary", "1h/5m", "page", "firing", 29_000_000)
True
>>> len(a), a == alert_id("slo", "chat-avail", "chat/chat-v2/canary", "1h/5m", "page", "resolved", 29_000_000)
(32, False)
>>> rec = AlertRecord(alert_id=a, incident_id="i", ts=1_740_000_060_000, kind="slo",
...     rule="chat-avail", severity="page", state="firing", service="chat",
...     deployment="chat-v2", track="canary", summary="x")
>>> decode_alert(encode_alert(rec))["deployment"]
'chat-v2'
>>> sql_literal("it's")
"'it\\\\'s'"
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from schemas.loader import load_schema, schema_info
from streams.codec import frame, parse_header

__all__ = [
    "ALERT_SCHEMA_ID",
    "AlertRecord",
    "Detection",
    "alert_id",
    "decode_alert",
    "encode_alert",
    "incident_id",
    "sql_literal",
]

ALERT_SCHEMA_ID: int = schema_info("alert", 1).id


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]


def alert_id(
    kind: str, rule: str, key: str, window: str, severity: str, state: str, minute: int
) -> str:
    """Deterministic id of one alert record (the same on a replay)."""
    return _digest("alert", kind, rule, key, window, severity, state, minute)


def incident_id(kind: str, rule: str, key: str, window: str, severity: str, start: int) -> str:
    """Id shared by the firing and the resolved record of the incident started at ``start``."""
    return _digest("incident", kind, rule, key, window, severity, start)


def sql_literal(value: str) -> str:
    """A ClickHouse string literal (backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def events_sql(
    service: str, deployment: str, track: str, start_ms: int, end_ms: int, where: str = ""
) -> str:
    """The query that lists the events behind an alert (for its ``sql`` annotation).

    >>> print(events_sql("chat", "chat-v2", "canary", 0, 60_000, "status IN ('error')"))
    SELECT * FROM events_dedup WHERE service = 'chat' AND deployment = 'chat-v2' AND track = 'canary' AND ts >= '1970-01-01 00:00:00.000' AND ts < '1970-01-01 00:01:00.000' AND status IN ('error') ORDER BY ts
    """
    parts = [
        f"service = {sql_literal(service)}",
        f"deployment = {sql_literal(deployment)}",
        f"track = {sql_literal(track)}",
        f"ts >= '{_iso(start_ms)}'",
        f"ts < '{_iso(end_ms)}'",
    ]
    if where:
        parts.append(where)
    return f"SELECT * FROM events_dedup WHERE {' AND '.join(parts)} ORDER BY ts"


@dataclass(frozen=True)
class AlertRecord:
    """One ``alert`` record (field names and meanings of ``alert.v1.avsc``)."""

    alert_id: str
    incident_id: str
    ts: int
    kind: str
    rule: str
    severity: str
    state: str
    service: str
    summary: str
    deployment: str | None = None
    track: str | None = None
    model: str | None = None
    window: str | None = None
    value: float | None = None
    threshold: float | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> bytes:
        """The Kafka message key: the deployment (the service when there is none)."""
        return (self.deployment or self.service).encode()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def row(self, worker_id: str = "") -> dict[str, Any]:
        """The ``alerts`` table row."""
        d = self.to_dict()
        d["ts"] = datetime.fromtimestamp(self.ts / 1000, UTC)
        for name in ("deployment", "track", "model", "window"):
            d[name] = d[name] or ""
        d["worker_id"] = worker_id
        return d


@dataclass(frozen=True)
class Detection:
    """One ``detections`` audit row: the verdict behind an alert."""

    alert_id: str
    ts: int
    detector: str
    detector_version: str
    rule: str
    params: str
    key: str
    service: str
    deployment: str
    track: str
    verdict: str
    statistic: float | None
    threshold: float | None
    window: str
    window_start: int
    window_end: int
    evidence: str

    def row(self) -> dict[str, Any]:
        """The ``detections`` table row."""
        d = asdict(self)
        for name in ("ts", "window_start", "window_end"):
            d[name] = datetime.fromtimestamp(d[name] / 1000, UTC)
        return d


@lru_cache(maxsize=1)
def _schema() -> Any:
    return load_schema("alert", 1)


def encode_alert(record: AlertRecord) -> bytes:
    """Avro ``alert`` v1 in Confluent framing."""
    buf = io.BytesIO()
    schemaless_writer(buf, _schema(), record.to_dict())
    return frame(ALERT_SCHEMA_ID, buf.getvalue())


def decode_alert(value: bytes) -> dict[str, Any]:
    """Read a framed ``alert`` record (``ts`` as epoch milliseconds).

    Raises
    ------
    ValueError
        Not a framed alert record.
    """
    schema_id = parse_header(value)
    if schema_id != ALERT_SCHEMA_ID:
        raise ValueError(f"schema id {schema_id} is not the alert schema ({ALERT_SCHEMA_ID})")
    rec: dict[str, Any] = schemaless_reader(io.BytesIO(value[5:]), _schema(), None)  # type: ignore[assignment]
    ts = rec["ts"]
    if isinstance(ts, datetime):
        rec["ts"] = int(ts.timestamp() * 1000)
    return rec
