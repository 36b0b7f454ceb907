"""The query endpoint over real HTTP: clickhouse-connect's HTTP client and plain requests."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import clickhouse_connect
import httpx
import pytest

from sinks.clickhouse.client import connect
from sinks.clickhouse.migrations import migrate
from sinks.clickhouse.query_server import QueryServer

pytestmark = pytest.mark.integration


@pytest.fixture
def endpoint() -> Iterator[tuple[str, str]]:
    """A QueryServer on chdb (in memory) in a background event loop: (url, database)."""
    database = f"e_{uuid.uuid4().hex[:10]}"
    client = connect("chdb://memory", database=database)
    migrate(client, database)
    server = QueryServer(client, port=0)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield server.url, database
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        client.command(f"DROP DATABASE IF EXISTS {database}")
        client.close()


def test_clickhouse_connect_queries_inserts_and_errors(endpoint: tuple[str, str]) -> None:
    url, database = endpoint
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    client = clickhouse_connect.get_client(host="127.0.0.1", port=port, database=database)
    try:
        now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
        client.insert(
            "events",
            [["a", "chat", now, 120.5, {"k": "v"}], ["b", "chat", now, 80.0, {}]],
            column_names=["event_id", "service", "ts", "latency_ms", "attributes"],
        )
        rows = client.query(
            "SELECT event_id, latency_ms, attributes FROM events_dedup ORDER BY event_id"
        ).result_rows
        assert rows == [("a", 120.5, {"k": "v"}), ("b", 80.0, {})]
        assert client.command("SELECT count() FROM events") == 2
        got = client.query(
            "SELECT {id:String} AS id, {n:UInt8} + 1 AS n", parameters={"id": "it's", "n": 1}
        ).result_rows
        assert got == [("it's", 2)]
        ids = client.query(  # list parameters, as the worker's monitor store sends them
            "SELECT event_id FROM events WHERE event_id IN {ids:Array(String)} ORDER BY event_id",
            parameters={"ids": ["a", "it's", "b"]},
        ).result_rows
        assert ids == [("a",), ("b",)]
        with pytest.raises(clickhouse_connect.driver.exceptions.DatabaseError, match="Code: 60"):
            client.query("SELECT * FROM missing_table")
    finally:
        client.close()


def test_plain_http_requests(endpoint: tuple[str, str]) -> None:
    url, _ = endpoint
    assert httpx.get(url + "ping").text == "Ok.\n"
    assert httpx.get(url).text == "Ok.\n"
    r = httpx.get(url, params={"query": "SELECT 1 AS a FORMAT JSONCompact"})
    assert r.json()["data"] == [[1]]
    r = httpx.post(url, params={"default_format": "CSVWithNames"}, content=b"SELECT 1 AS a")
    assert r.text == '"a"\n1\n'
    r = httpx.post(url, content=b"SELECT throwIf(1, 'boom')")
    assert r.status_code == 500
    assert r.headers["X-ClickHouse-Exception-Code"] == "395"
    assert "boom" in r.text and r.text.startswith("Code: 395.")
