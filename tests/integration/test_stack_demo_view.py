"""The demo's live-view queries and rendering, on chdb with generated traffic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from clickhouse_connect.driver.client import Client
from rich.console import Console

from sinks.clickhouse.writer import EventWriter
from streams.generator import TrafficGenerator
from tocsin.runtime.demo import SUMMARY_SQL, TOTALS_SQL, TrafficThread, _view

pytestmark = pytest.mark.integration

COLUMNS = ("event_id", "service", "deployment", "track", "status", "latency_ms")


@pytest.fixture
def store(migrated_store: Client) -> Client:
    return migrated_store


def test_view_shows_counts_latency_and_errors(store: Client) -> None:
    events = TrafficGenerator(seed=3, error_rate=0.2).events(2000)
    columns: dict[str, list[object]] = {c: [e[c] for e in events] for c in COLUMNS}
    columns["ts"] = [datetime.fromtimestamp(e["ts"] / 1000, UTC) for e in events]
    columns["toxicity"] = [0.9 if i % 10 == 0 else 0.1 for i in range(len(events))]
    writer = EventWriter(store)
    writer.insert_events(columns)
    writer.insert_events({k: v[:100] for k, v in columns.items()})  # a replay
    writer.insert_dead_letters(
        [{"topic": "t", "partition": 0, "offset": 1, "value": b"\x00x", "reason": "bad"}]
    )
    rows = [tuple(r) for r in store.query(SUMMARY_SQL, parameters={"threshold": 0.5}).result_rows]
    totals = tuple(store.query(TOTALS_SQL).result_rows[0])
    assert sum(r[3] for r in rows) == 2000  # events_dedup: the replay is not counted twice
    assert {r[2] for r in rows} == {"stable", "canary"}
    assert all(r[4][0] <= r[4][1] <= r[4][2] for r in rows)  # p50 <= p95 <= p99
    assert 0.1 < sum(r[5] * r[3] for r in rows) / 2000 < 0.35  # error ratio near 20%+
    assert totals[1:3] == (2000, 1)
    assert sum(r[7] for r in rows) == 200  # toxicity >= threshold

    console = Console(record=True, width=120)
    console.print(_view(rows, totals, TrafficThread("x:1", "t", 1.0, 0), 12.0, ""))
    text = console.export_text()
    assert "chat-api" in text and "canary" in text and "p50/p95/p99 ms" in text
    assert "2,000 unique" in text and "dead letters 1" in text
    assert "toxic" in text and "(avg 0.18)" in text
