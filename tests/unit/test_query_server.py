"""The ClickHouse HTTP-interface endpoint, driven through ``QueryService.execute``.

No sockets here (the HTTP round trip with clickhouse-connect and curl-like requests is in
tests/integration/test_stack_query_endpoint.py); the store is chdb in memory.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from datetime import UTC, datetime

import pytest
from clickhouse_connect.driver.client import Client

from sinks.clickhouse.client import connect
from sinks.clickhouse.query_server import (
    QueryServer,
    QueryService,
    error_text,
    has_format_clause,
    is_result_query,
    result_format,
    unescape_param,
)

# recent, so that the events TTL (90 days) keeps the rows
NOW = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def service(migrated_store: Client) -> QueryService:
    return QueryService(migrated_store)


def run(service: QueryService, params: dict[str, str], body: bytes = b"", enc: str = ""):  # type: ignore[no-untyped-def]
    return asyncio.run(service.execute(params, body, enc))


def test_default_format_is_tab_separated(service: QueryService) -> None:
    r = run(service, {"query": "SELECT 1 AS a, 'x' AS b"})
    assert (r.status, r.body) == (200, b"1\tx\n")
    assert r.headers["X-ClickHouse-Format"] == "TabSeparated"


def test_default_format_parameter(service: QueryService) -> None:
    r = run(service, {"query": "SELECT 1 AS a", "default_format": "JSONEachRow"})
    assert r.body == b'{"a":1}\n'
    assert r.headers["Content-Type"].startswith("application/x-ndjson")


def test_format_clause_wins_over_default_format(service: QueryService) -> None:
    r = run(service, {"default_format": "CSV"}, b"SELECT 1 AS a FORMAT JSON")
    assert r.status == 200
    doc = json.loads(r.body)
    assert doc["data"] == [{"a": 1}] and doc["meta"][0]["name"] == "a"
    assert r.headers["X-ClickHouse-Format"] == "JSON"


def test_query_in_body_and_query_parameter_are_joined(service: QueryService) -> None:
    r = run(service, {"query": "SELECT sum(x) FROM"}, b"(SELECT 1 AS x UNION ALL SELECT 2 AS x)")
    assert r.body == b"3\n"


def test_empty_request_answers_ok(service: QueryService) -> None:
    assert run(service, {}).body == b"Ok.\n"


def test_bad_sql_is_a_500_with_the_clickhouse_text(service: QueryService) -> None:
    r = run(service, {"query": "SELEC 1"})
    assert r.status == 500
    assert r.headers["X-ClickHouse-Exception-Code"] == "62"
    assert r.body.startswith(b"Code: 62. DB::Exception: Syntax error")


def test_unknown_table_is_a_500(service: QueryService) -> None:
    r = run(service, {"query": "SELECT * FROM no_such_table"})
    assert r.status == 500 and r.headers["X-ClickHouse-Exception-Code"] == "60"


def test_unsupported_content_encoding_is_a_500(service: QueryService) -> None:
    r = run(service, {}, b"SELECT 1", "br-unknown")
    assert r.status == 500 and b"unsupported Content-Encoding" in r.body


def test_gzip_body(service: QueryService) -> None:
    r = run(service, {}, gzip.compress(b"SELECT 40 + 2"), "gzip")
    assert r.body == b"42\n"


def test_server_side_parameters_are_unescaped(service: QueryService) -> None:
    r = run(service, {"query": "SELECT {s:String} AS s", "param_s": "it\\'s\\ta"})
    assert r.body == b"it\\'s\\ta\n"  # TabSeparated output escapes again
    r = run(
        service,
        {"query": "SELECT {s:String} AS s", "param_s": "it\\'s", "default_format": "JSONEachRow"},
    )
    assert json.loads(r.body) == {"s": "it's"}


def test_array_and_null_parameters_as_clickhouse_connect_sends_them(service: QueryService) -> None:
    # clickhouse-connect's HTTP client sends a list as ['a', 'b'] (quoted elements) and a
    # string with its quotes escaped; the engine must parse the very same text
    r = run(
        service,
        {
            "query": "SELECT {ids:Array(String)} AS ids, {s:String} AS s, {n:Nullable(UInt8)} AS n",
            "param_ids": "['a', 'it\\'s']",
            "param_s": "x",
            "param_n": "\\N",
            "default_format": "JSONEachRow",
        },
    )
    assert r.status == 200, r.body
    assert json.loads(r.body) == {"ids": ["a", "it's"], "s": "x", "n": None}


def test_settings_parameters_reach_the_engine(service: QueryService) -> None:
    r = run(service, {"query": "SELECT getSetting('max_threads')", "max_threads": "3"})
    assert r.body == b"3\n"


def test_insert_with_data_in_body_then_select(service: QueryService) -> None:
    r = run(
        service,
        {"query": "INSERT INTO events (event_id, service, ts) FORMAT CSV"},
        f'"e1","chat","{NOW}"\n"e2","chat","{NOW}"\n'.encode(),
    )
    assert r.status == 200, r.body
    r = run(service, {"query": "SELECT event_id FROM events_dedup ORDER BY event_id"})
    assert r.body == b"e1\ne2\n"


def test_insert_statement_and_data_both_in_body(service: QueryService) -> None:
    body = (
        f'INSERT INTO events (event_id, ts) FORMAT JSONEachRow\n{{"event_id":"z","ts":"{NOW}"}}\n'
    ).encode()
    assert run(service, {}, body).status == 200
    assert run(service, {"query": "SELECT count() FROM events"}).body == b"1\n"


def test_database_parameter_selects_the_database(service: QueryService) -> None:
    r = run(service, {"query": "SELECT currentDatabase()", "database": "system"})
    assert r.body == b"system\n"
    # and the service's own database is back for the next request
    r = run(service, {"query": "SELECT currentDatabase()"})
    assert r.body.decode().strip() == service.default_database


def test_ddl_gets_no_format_appended(service: QueryService) -> None:
    r = run(
        service, {"query": "CREATE TABLE t (a UInt8) ENGINE = Memory", "default_format": "JSON"}
    )
    assert (r.status, r.body) == (200, b"")


def test_query_server_refuses_non_local_bind(service: QueryService) -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1 only"):
        QueryServer(service.client, host="0.0.0.0")


def test_helpers() -> None:
    assert result_format("WITH 1 AS x SELECT x", None) == ("TabSeparated", "TabSeparated")
    assert result_format("INSERT INTO t VALUES (1)", "JSON") == (None, "TabSeparated")
    assert is_result_query("(SELECT 1)") and not is_result_query("DROP TABLE t")
    assert has_format_clause("select 1 format Pretty")
    assert unescape_param("a\\\\b\\nc") == "a\\b\nc"
    assert error_text(RuntimeError("boom")) == ("Code: 0. DB::Exception: RuntimeError: boom", 0)


@pytest.mark.parametrize("compress", ["lz4", "gzip", False])
def test_clickhouse_connect_insert_of_many_blocks_keeps_every_row(compress: str | bool) -> None:
    """clickhouse-connect compresses each block as its own frame; all of them must land.

    Regression: only the first lz4 frame was decoded (32,768 of 100,000 rows stored), and
    gzip bodies failed because aiohttp had already inflated them.
    """
    import clickhouse_connect

    async def scenario() -> int:
        server = QueryServer(connect("chdb://memory", database="qs_blocks"), port=0)
        await server.start()
        port = int(server.url.rstrip("/").rsplit(":", 1)[1])

        def insert_and_count() -> int:
            client = clickhouse_connect.get_client(host="127.0.0.1", port=port, compress=compress)
            table = f"t_{compress}"
            client.command(f"DROP TABLE IF EXISTS {table}")
            client.command(f"CREATE TABLE {table} (a UInt64, s String) ENGINE=MergeTree ORDER BY a")
            client.insert(table, [[i, "x" * 64] for i in range(100_000)], column_names=["a", "s"])
            return int(client.query(f"SELECT count() FROM {table}").result_rows[0][0])

        try:
            return await asyncio.to_thread(insert_and_count)
        finally:
            await server.stop()

    assert asyncio.run(scenario()) == 100_000


def test_truncated_lz4_body_is_an_error_not_a_partial_insert(service: QueryService) -> None:
    import lz4.frame

    body = lz4.frame.compress(b"SELECT 1")[:-6]
    r = run(service, {}, body, "lz4")
    assert r.status == 500 and b"lz4" in r.body
