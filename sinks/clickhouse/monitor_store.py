"""What the live monitors write: alerts, detections, and each partition's checkpoint.

:class:`MonitorStore` wraps a clickhouse-connect client (chdb or a server, one code path)
around the tables of migration 0004:

* ``alerts`` / ``detections``: one row per alert record and its audit row;
* ``monitor_state``: per ``(group, topic, partition)`` the newest monitor checkpoint and the
  offset it reflects (ReplacingMergeTree: the newest row wins);
* ``events``: :meth:`MonitorStore.inserted_through` tells, after a crash, which offsets of a
  partition are already stored, so that a replay does not insert them twice (and the
  ``events_1m`` rollup fed by inserts counts each event once).

Errors are classified through :mod:`sinks.base` (retryable or permanent).

Example
-------
>>> from sinks.clickhouse.client import connect
>>> from sinks.clickhouse.migrations import migrate
>>> client = connect("chdb://memory", database="doc_monitor_store")
>>> _ = migrate(client, "doc_monitor_store")
>>> store = MonitorStore(client)
>>> blob = bytes(range(256)) * 3                    # checkpoints are binary
>>> store.write_states("g", "ev", {0: (42, blob)}, worker_id="worker-0")
>>> store.read_states("g", "ev", [0, 1]) == {0: (42, blob)}
True
>>> store.known_alert_ids(["a1"])
set()
>>> client.close()
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from clickhouse_connect.driver.client import Client

from sinks.base import wrap

__all__ = ["ALERT_COLUMNS", "DETECTION_COLUMNS", "MonitorStore"]

ALERT_COLUMNS: tuple[str, ...] = (
    "alert_id",
    "incident_id",
    "ts",
    "kind",
    "rule",
    "severity",
    "state",
    "service",
    "deployment",
    "track",
    "model",
    "window",
    "value",
    "threshold",
    "summary",
    "labels",
    "annotations",
    "worker_id",
)

DETECTION_COLUMNS: tuple[str, ...] = (
    "alert_id",
    "ts",
    "detector",
    "detector_version",
    "rule",
    "params",
    "key",
    "service",
    "deployment",
    "track",
    "verdict",
    "statistic",
    "threshold",
    "window",
    "window_start",
    "window_end",
    "evidence",
)

#: Version of the monitor checkpoint container written in ``monitor_state.format``.
STATE_FORMAT = 1


class MonitorStore:
    """Reads and writes the live monitors' tables through one client."""

    def __init__(self, client: Client) -> None:
        self.client = client

    # ------------------------------------------------------------------ alerts
    def insert_alerts(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert ``alerts`` rows (:meth:`streams.alerts.AlertRecord.row`)."""
        return self._insert_rows("alerts", ALERT_COLUMNS, rows)

    def insert_detections(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert ``detections`` rows (:meth:`streams.alerts.Detection.row`)."""
        return self._insert_rows("detections", DETECTION_COLUMNS, rows)

    def known_alert_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` are already in ``alerts`` (emitted before a crash)."""
        wanted = sorted(set(ids))
        if not wanted:
            return set()
        try:
            result = self.client.query(
                "SELECT DISTINCT alert_id FROM alerts WHERE alert_id IN {ids:Array(String)}",
                parameters={"ids": wanted},
            )
        except Exception as exc:
            raise wrap(exc, "lookup of emitted alerts") from exc
        return {str(r[0]) for r in result.result_rows}

    # ------------------------------------------------------------------ state
    def write_states(
        self,
        group_id: str,
        topic: str,
        states: Mapping[int, tuple[int, bytes]],
        *,
        worker_id: str = "",
    ) -> None:
        """Store ``partition -> (next_offset, state)`` (one insert for all partitions)."""
        if not states:
            return
        rows = [
            [group_id, topic, int(p), int(offset), STATE_FORMAT, blob, worker_id]
            for p, (offset, blob) in sorted(states.items())
        ]
        try:
            self.client.insert(
                "monitor_state",
                rows,
                column_names=[
                    "group_id",
                    "topic",
                    "partition",
                    "next_offset",
                    "format",
                    "state",
                    "worker_id",
                ],
            )
        except Exception as exc:
            raise wrap(exc, f"checkpoint of {len(rows)} partitions") from exc

    def read_states(
        self, group_id: str, topic: str, partitions: Sequence[int]
    ) -> dict[int, tuple[int, bytes]]:
        """The newest checkpoint per partition: ``partition -> (next_offset, state)``."""
        if not partitions:
            return {}
        try:
            result = self.client.query(
                "SELECT partition, argMax(next_offset, written_at), argMax(state, written_at) "
                "FROM monitor_state WHERE group_id = {g:String} AND topic = {t:String} "
                "AND partition IN {p:Array(UInt32)} AND format = {f:UInt16} GROUP BY partition",
                parameters={"g": group_id, "t": topic, "p": list(partitions), "f": STATE_FORMAT},
                query_formats={"String": "bytes"},
            )
        except Exception as exc:
            raise wrap(exc, "read of monitor checkpoints") from exc
        out: dict[int, tuple[int, bytes]] = {}
        for p, offset, blob in result.result_rows:
            out[int(p)] = (int(offset), bytes(blob))
        return out

    def inserted_through(self, positions: Mapping[int, int]) -> dict[int, int]:
        """Per partition, the highest Kafka offset at or after ``positions[p]`` already in
        ``events`` (partitions with none are left out)."""
        if not positions:
            return {}
        conds = " OR ".join(
            f"(kafka_partition = {int(p)} AND kafka_offset >= {int(o)})"
            for p, o in sorted(positions.items())
        )
        try:
            result = self.client.query(
                f"SELECT kafka_partition, max(kafka_offset) FROM events WHERE {conds} "
                "GROUP BY kafka_partition"
            )
        except Exception as exc:
            raise wrap(exc, "read of stored offsets") from exc
        return {int(p): int(o) for p, o in result.result_rows}

    # ------------------------------------------------------------------ helpers
    def _insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
    ) -> int:
        if not rows:
            return 0
        data = [[row.get(c) for c in columns] for row in rows]
        try:
            self.client.insert(table, data, column_names=list(columns))
        except Exception as exc:
            raise wrap(exc, f"insert of {len(rows)} rows into {table}") from exc
        return len(rows)
