"""The alert router's durable state in ClickHouse: notifications, incidents, silences, rollbacks.

Small tables written a few rows at a time (control plane, not the hot path). Each method
wraps ClickHouse failures as :class:`sinks.base.RetryableError` / ``PermanentError``.
Nothing written here holds a secret: receivers are stored by name.

Example
-------
>>> from sinks.clickhouse.client import connect
>>> from sinks.clickhouse.migrations import migrate
>>> client = connect("chdb://memory", database="doc_control")
>>> _ = migrate(client, "doc_control")
>>> store = ControlStore(client)
>>> store.add_silence({"service": "chat-api"}, 1000, 2000, "deploy window", "me", "s1")
's1'
>>> [s["silence_id"] for s in store.silences(now_ms=1500)]
['s1']
>>> store.expire_silence("s1", now_ms=1600), store.silences(now_ms=1700)
(True, [])
>>> client.close()
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from sinks.base import wrap

NOTIFICATION_COLUMNS = (
    "ts",
    "incident_id",
    "alert_id",
    "receiver",
    "receiver_type",
    "action",
    "attempt",
    "status_code",
    "latency_ms",
    "outcome",
    "error",
    "service",
    "deployment",
    "rule",
    "severity",
)
ROLLBACK_COLUMNS = (
    "ts",
    "command_id",
    "record",
    "ack_id",
    "status",
    "incident_id",
    "action",
    "service",
    "deployment",
    "target_deployment",
    "reason",
    "issued_by",
    "key_id",
    "expires_at",
    "agent_id",
    "detail",
    "duration_ms",
)
INCIDENT_COLUMNS = (
    "incident_id",
    "group_key",
    "state",
    "severity",
    "kind",
    "rule",
    "service",
    "deployment",
    "track",
    "started_at",
    "updated_at",
    "resolved_at",
    "acknowledged_by",
    "members",
    "alert_ids",
    "last_alert",
    "version",
)


def ms_to_dt(ms: int | None) -> datetime | None:
    """Epoch ms -> aware UTC datetime (None stays None).

    >>> ms_to_dt(0).isoformat()
    '1970-01-01T00:00:00+00:00'
    """
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def dt_to_ms(value: Any) -> int | None:
    """A datetime read from ClickHouse (naive = UTC) -> epoch ms.

    >>> dt_to_ms(datetime(1970, 1, 1, 0, 0, 1))
    1000
    """
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return round(value.timestamp() * 1000)


class ControlStore:
    """Reads and writes the control-plane tables through one clickhouse-connect client."""

    def __init__(self, client: Client) -> None:
        self.client = client

    # ------------------------------------------------------------------ notifications
    def insert_notifications(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """One row per attempt (see ``0010_notifications.sql``); ``ts`` in epoch ms."""
        if not rows:
            return
        data = [
            [
                ms_to_dt(r["ts"]) if c == "ts" else r.get(c, _NOTIF_DEFAULTS[c])
                for c in NOTIFICATION_COLUMNS
            ]
            for r in rows
        ]
        try:
            self.client.insert("notifications", data, column_names=list(NOTIFICATION_COLUMNS))
        except Exception as exc:
            raise wrap(exc, "insert into notifications") from exc

    def delivered(self, since_ms: int) -> set[tuple[str, str, str]]:
        """(incident_id, receiver, action) already delivered since ``since_ms``."""
        try:
            rows = self.client.query(
                "SELECT DISTINCT incident_id, receiver, action FROM notifications "
                "WHERE outcome = 'delivered' AND ts >= fromUnixTimestamp64Milli({since:Int64})",
                parameters={"since": since_ms},
            ).result_rows
        except Exception as exc:
            raise wrap(exc, "read notifications") from exc
        return {(str(a), str(b), str(c)) for a, b, c in rows}

    # ------------------------------------------------------------------ incidents
    def upsert_incident(self, row: Mapping[str, Any]) -> None:
        """Write the newest state of one incident (times in epoch ms)."""
        values = []
        for c in INCIDENT_COLUMNS:
            v = row.get(c)
            if c in ("started_at", "updated_at", "resolved_at"):
                v = ms_to_dt(v)
            elif v is None:
                v = {"members": {}, "alert_ids": [], "version": 0}.get(c, "")
            values.append(v)
        try:
            self.client.insert("incidents", [values], column_names=list(INCIDENT_COLUMNS))
        except Exception as exc:
            raise wrap(exc, "insert into incidents") from exc

    def incidents(self, since_ms: int) -> list[dict[str, Any]]:
        """Incidents updated since ``since_ms``, newest state each (FINAL)."""
        try:
            result = self.client.query(
                f"SELECT {', '.join(INCIDENT_COLUMNS)} FROM incidents FINAL "
                "WHERE updated_at >= fromUnixTimestamp64Milli({since:Int64}) "
                "OR state != 'resolved' ORDER BY started_at",
                parameters={"since": since_ms},
            )
        except Exception as exc:
            raise wrap(exc, "read incidents") from exc
        out = []
        for r in result.result_rows:
            row = dict(zip(INCIDENT_COLUMNS, r, strict=True))
            for c in ("started_at", "updated_at", "resolved_at"):
                row[c] = dt_to_ms(row[c])
            row["members"] = dict(row["members"])
            row["alert_ids"] = list(row["alert_ids"])
            out.append(row)
        return out

    # ------------------------------------------------------------------ silences
    def add_silence(
        self,
        matchers: Mapping[str, str],
        starts_ms: int,
        ends_ms: int,
        comment: str,
        created_by: str,
        silence_id: str | None = None,
    ) -> str:
        """Store a silence; returns its id."""
        sid = silence_id or uuid.uuid4().hex[:12]
        self._write_silence(sid, dict(matchers), starts_ms, ends_ms, comment, created_by, starts_ms)
        return sid

    def _write_silence(
        self,
        sid: str,
        matchers: dict[str, str],
        starts_ms: int,
        ends_ms: int,
        comment: str,
        created_by: str,
        created_ms: int,
        version: int | None = None,
    ) -> None:
        import time

        row = [
            sid,
            matchers,
            ms_to_dt(starts_ms),
            ms_to_dt(ends_ms),
            comment,
            created_by,
            ms_to_dt(created_ms),
            version if version is not None else time.time_ns(),
        ]
        try:
            self.client.insert(
                "silences",
                [row],
                column_names=[
                    "silence_id",
                    "matchers",
                    "starts_at",
                    "ends_at",
                    "comment",
                    "created_by",
                    "created_at",
                    "version",
                ],
            )
        except Exception as exc:
            raise wrap(exc, "insert into silences") from exc

    def silences(
        self, now_ms: int | None = None, *, include_expired: bool = False
    ) -> list[dict[str, Any]]:
        """Silences active at ``now_ms`` (or all, newest first, with ``include_expired``)."""
        where = (
            ""
            if include_expired
            else (
                "WHERE starts_at <= fromUnixTimestamp64Milli({now:Int64}) "
                "AND ends_at > fromUnixTimestamp64Milli({now:Int64})"
            )
        )
        try:
            result = self.client.query(
                "SELECT silence_id, matchers, starts_at, ends_at, comment, created_by, created_at "
                f"FROM silences FINAL {where} ORDER BY created_at DESC",
                parameters={"now": now_ms or 0},
            )
        except Exception as exc:
            raise wrap(exc, "read silences") from exc
        return [
            {
                "silence_id": r[0],
                "matchers": dict(r[1]),
                "starts_ms": dt_to_ms(r[2]),
                "ends_ms": dt_to_ms(r[3]),
                "comment": r[4],
                "created_by": r[5],
                "created_ms": dt_to_ms(r[6]),
            }
            for r in result.result_rows
        ]

    def expire_silence(self, silence_id: str, now_ms: int) -> bool:
        """End a silence now; False when there is no such silence."""
        found = [s for s in self.silences(include_expired=True) if s["silence_id"] == silence_id]
        if not found:
            return False
        s = found[0]
        self._write_silence(
            silence_id,
            s["matchers"],
            min(s["starts_ms"], now_ms),
            now_ms,
            s["comment"],
            s["created_by"],
            s["created_ms"],
        )
        return True

    def latest_deployment(self, service: str, track: str) -> str | None:
        """The deployment that most recently served ``service`` on ``track`` (events table).

        For alerts whose monitor groups by track only: a canary alert must still name the
        deployment to roll back.
        """
        try:
            rows = self.client.query(
                "SELECT deployment FROM events WHERE service = {s:String} AND track = {t:String} "
                "AND ts > now64(3) - INTERVAL 1 DAY ORDER BY ts DESC LIMIT 1",
                parameters={"s": service, "t": track},
            ).result_rows
        except Exception as exc:
            raise wrap(exc, "read events") from exc
        return str(rows[0][0]) if rows and rows[0][0] else None

    # ------------------------------------------------------------------ rollbacks
    def insert_rollbacks(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Command and ack rows (see ``0011_rollbacks.sql``); times in epoch ms."""
        data = []
        for r in rows:
            values = []
            for c in ROLLBACK_COLUMNS:
                v = r.get(c)
                if c in ("ts", "expires_at"):
                    v = ms_to_dt(v)
                elif v is None and c != "duration_ms":
                    v = ""
                values.append(v)
            data.append(values)
        if not data:
            return
        try:
            self.client.insert("rollbacks", data, column_names=list(ROLLBACK_COLUMNS))
        except Exception as exc:
            raise wrap(exc, "insert into rollbacks") from exc

    def issued_commands(self, since_ms: int) -> dict[str, tuple[str, int]]:
        """command_id -> (deployment, issue time ms) of commands issued since ``since_ms``."""
        try:
            rows = self.client.query(
                "SELECT command_id, any(deployment), min(ts) FROM rollbacks "
                "WHERE record = 'command' AND status IN ('issued', 'dry_run') "
                "AND ts >= fromUnixTimestamp64Milli({since:Int64}) GROUP BY command_id",
                parameters={"since": since_ms},
            ).result_rows
        except Exception as exc:
            raise wrap(exc, "read rollbacks") from exc
        return {str(c): (str(d), dt_to_ms(t) or 0) for c, d, t in rows}


_NOTIF_DEFAULTS: dict[str, Any] = {
    "incident_id": "",
    "alert_id": "",
    "receiver": "",
    "receiver_type": "",
    "action": "",
    "attempt": 0,
    "status_code": 0,
    "latency_ms": 0.0,
    "outcome": "",
    "error": "",
    "service": "",
    "deployment": "",
    "rule": "",
    "severity": "",
}
