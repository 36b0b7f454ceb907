"""Migrations, the events/dead_letters tables, the batch writer and error classification.

These run on chdb in memory (no sockets, no files but tmp dirs). chdb allows one engine per
process, so every test uses its own database and closes its client.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from sinks.base import (
    PermanentError,
    RetryableError,
    classify,
    classify_http_status,
    retry_call,
)
from sinks.clickhouse.client import connect, quote_ident, redact_url, resolve_url
from sinks.clickhouse.migrations import (
    Migration,
    MigrationError,
    default_migrations_dir,
    discover,
    migrate,
    render_values,
)
from sinks.clickhouse.writer import EventWriter

TS = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def db() -> Iterator[tuple[Client, str]]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    client = connect("chdb://memory", database=name)
    try:
        yield client, name
    finally:
        client.command(f"DROP DATABASE IF EXISTS {name}")
        client.close()


@pytest.fixture
def migrations_copy(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(default_migrations_dir(), target)
    return target


# ------------------------------------------------------------------ files and rendering


def test_repository_migrations_are_numbered_from_one() -> None:
    names = [m.name for m in discover()]
    assert names[:3] == ["0001_events", "0002_dead_letters", "0003_response_pii"]
    versions = [m.version for m in discover()]
    # numbers may have gaps (each issue has its own range); the runner sorts them
    assert versions == sorted(set(versions)) and versions[0] == 1


def test_single_node_rendering_has_no_placeholders_or_cluster() -> None:
    for m in discover():
        for statement in m.statements(render_values("tocsin", None)):
            assert "{" not in statement.replace("{}", "")
            assert "ON CLUSTER" not in statement
            assert "Replicated" not in statement


def test_cluster_rendering_uses_on_cluster_and_replicated_engines() -> None:
    statements = [st for m in discover() for st in m.statements(render_values("tocsin", "main"))]
    tables = [st for st in statements if st.startswith("CREATE TABLE")]
    assert tables and all("ON CLUSTER `main`" in st for st in tables)
    local = [st for st in tables if "ENGINE = Distributed(" not in st]
    assert local and all(
        re.search(r"ENGINE = Replicated(Replacing|Aggregating)MergeTree", st) for st in local
    )
    views = [st for st in statements if st.startswith("CREATE VIEW")]
    assert views and all("ON CLUSTER `main`" in st for st in views)


def test_bad_file_name_is_refused(migrations_copy: Path) -> None:
    (migrations_copy / "3_oops.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"must look like 0003_add_column\.sql"):
        discover(migrations_copy)


def test_duplicate_version_is_refused(migrations_copy: Path) -> None:
    (migrations_copy / "0002_other.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="share version 0002"):
        discover(migrations_copy)


def test_unknown_placeholder_is_refused() -> None:
    m = Migration.from_text("0009_x.sql", "CREATE TABLE {databse}.t (a UInt8) ENGINE = Log;")
    with pytest.raises(MigrationError, match=r"unknown placeholder\(s\) \['databse'\]"):
        m.statements(render_values("tocsin", None))


def test_bad_identifiers_are_refused() -> None:
    with pytest.raises(ValueError, match="invalid ClickHouse identifier"):
        render_values("tocsin; DROP TABLE x", None)
    with pytest.raises(ValueError, match="invalid ClickHouse identifier"):
        quote_ident("")


# ------------------------------------------------------------------ applying


def test_migrate_is_idempotent_and_records_checksums(db: tuple[Client, str]) -> None:
    client, name = db
    first = migrate(client, name)
    assert [m.name for m in first.applied] == [m.name for m in discover()]
    second = migrate(client, name)
    assert second.applied == []
    assert [m.name for m in second.already_applied] == [m.name for m in first.applied]
    tables = {
        row[0]
        for row in client.query(
            "SELECT name FROM system.tables WHERE database = {d:String}", parameters={"d": name}
        ).result_rows
    }
    assert {"events", "events_dedup", "dead_letters", "schema_migrations"} <= tables
    recorded = client.query(
        f"SELECT version, checksum FROM {name}.schema_migrations ORDER BY version"
    ).result_rows
    assert recorded == [(m.version, m.checksum) for m in discover()]


def test_changed_applied_migration_is_refused(
    db: tuple[Client, str], migrations_copy: Path
) -> None:
    client, name = db
    migrate(client, name, directory=migrations_copy)
    path = migrations_copy / "0001_events.sql"
    path.write_text(path.read_text() + "\n-- an innocent-looking edit\n")
    with pytest.raises(MigrationError, match=r"0001_events\.sql was changed after it was applied"):
        migrate(client, name, directory=migrations_copy)


def test_applied_migration_missing_on_disk_is_refused(
    db: tuple[Client, str], migrations_copy: Path
) -> None:
    client, name = db
    migrate(client, name, directory=migrations_copy)
    (migrations_copy / "0002_dead_letters.sql").unlink()
    with pytest.raises(MigrationError, match="0002_dead_letters that is not on disk"):
        migrate(client, name, directory=migrations_copy)


def test_new_migration_is_applied_forward(db: tuple[Client, str], migrations_copy: Path) -> None:
    client, name = db
    migrate(client, name, directory=migrations_copy)
    later = max(int(f.name[:4]) for f in migrations_copy.glob("*.sql")) + 1
    (migrations_copy / f"{later:04d}_extra.sql").write_text(
        "-- a later change\nALTER TABLE {database}.events {on_cluster} "
        "ADD COLUMN IF NOT EXISTS region LowCardinality(String);\n"
    )
    report = migrate(client, name, directory=migrations_copy)
    assert [m.name for m in report.applied] == [f"{later:04d}_extra"]
    assert "region" in client.query(f"SELECT * FROM {name}.events LIMIT 0").column_names


def test_ttl_parameter_reaches_the_table(db: tuple[Client, str]) -> None:
    client, name = db
    migrate(client, name, params={"events_ttl_days": 7})
    ddl = str(client.command(f"SHOW CREATE TABLE {name}.events"))
    assert "TTL toDateTime(ts) + toIntervalDay(7)" in ddl


def test_events_keep_old_rows_without_ttl(db: tuple[Client, str]) -> None:
    client, name = db
    migrate(client, name)  # default: no events TTL, a backfill of old events stays
    assert "TTL" not in str(client.command(f"SHOW CREATE TABLE {name}.events"))
    old = datetime(2020, 1, 1, tzinfo=UTC)
    EventWriter(client).insert_events({"event_id": ["old"], "ts": [old]})
    assert client.command("SELECT count() FROM events_dedup") == 1


# ------------------------------------------------------------------ tables and writer


def _events(ids: list[str], **extra: list[object]) -> dict[str, list[object]]:
    n = len(ids)
    cols: dict[str, list[object]] = {
        "event_id": list(ids),
        "ts": [TS] * n,
        "service": ["chat"] * n,
        "deployment": ["chat-v1"] * n,
        "latency_ms": [100.0] * n,
        "features": [{"len": 3.0}] * n,
        "attributes": [{"k": "v"}] * n,
        "pii_types": [["EMAIL"]] * n,
    }
    cols.update(extra)
    return cols


def test_replayed_events_collapse_in_events_dedup(db: tuple[Client, str]) -> None:
    client, name = db
    migrate(client, name)
    writer = EventWriter(client)
    assert writer.insert_events(_events(["a", "b", "c"])) == 3
    # a replay re-forms batches differently: same events, another batch, later ingest
    assert writer.insert_events(_events(["c", "b"], kafka_offset=[2, 1])) == 2
    assert client.command("SELECT count() FROM events_dedup") == 3
    assert client.command("SELECT uniqExact(event_id) FROM events") == 3
    row = client.query(
        "SELECT features['len'], attributes['k'], pii_types FROM events_dedup WHERE event_id = 'a'"
    ).result_rows[0]
    assert row == (3.0, "v", ["EMAIL"])


def test_writer_empty_batches_write_nothing(db: tuple[Client, str]) -> None:
    client, name = db
    migrate(client, name)
    writer = EventWriter(client)
    assert writer.insert_events({}) == 0
    assert writer.insert_events({"event_id": []}) == 0
    assert writer.insert_dead_letters([]) == 0
    assert client.command("SELECT count() FROM events") == 0


def test_writer_ragged_columns_are_permanent(db: tuple[Client, str]) -> None:
    client, name = db
    migrate(client, name)
    with pytest.raises(PermanentError, match="differ in length"):
        EventWriter(client).insert_events({"event_id": ["a", "b"], "ts": [TS]})


def test_writer_unknown_column_is_permanent(db: tuple[Client, str]) -> None:
    client, name = db
    migrate(client, name)
    with pytest.raises(PermanentError, match="insert of 1 rows into events"):
        EventWriter(client).insert_events({"event_id": ["a"], "no_such_column": [1]})


def test_writer_missing_table_is_permanent(db: tuple[Client, str]) -> None:
    client, _ = db  # not migrated
    with pytest.raises(PermanentError):
        EventWriter(client).insert_events(_events(["a"]))


def test_dead_letters_keep_raw_bytes_and_dedupe(db: tuple[Client, str]) -> None:
    client, name = db
    migrate(client, name)
    raw = bytes(range(256))
    row = {
        "topic": "tocsin.events.v1",
        "kafka_partition": 3,
        "kafka_offset": 41,
        "key": b"\xff\x00k",
        "value": raw,
        "headers": [("trace", b"\x01\x02"), ("empty", None)],
        "reason": "bad_magic",
        "detail": "first byte 0x7b",
        "schema_id": None,
    }
    writer = EventWriter(client)
    assert writer.insert_dead_letters([row]) == 1
    alias = {**row, "partition": 3, "offset": 41}
    del alias["kafka_partition"], alias["kafka_offset"]
    assert writer.insert_dead_letters([alias]) == 1  # replay of the same record
    stored = client.query(
        "SELECT hex(value), hex(key), hex(headers['trace']), headers['empty'], reason, schema_id "
        "FROM dead_letters FINAL"
    ).result_rows
    assert stored == [(raw.hex().upper(), "FF006B", "0102", "", "bad_magic", None)]


def test_dead_letter_without_required_field_is_permanent(db: tuple[Client, str]) -> None:
    client, name = db
    migrate(client, name)
    with pytest.raises(PermanentError, match="lacks field 'value'"):
        EventWriter(client).insert_dead_letters(
            [{"topic": "t", "partition": 0, "offset": 1, "reason": "x"}]
        )
    with pytest.raises(PermanentError, match="must be bytes or str"):
        EventWriter(client).insert_dead_letters(
            [{"topic": "t", "partition": 0, "offset": 1, "reason": "x", "value": 12}]
        )


# ------------------------------------------------------------------ client factory


def test_relative_chdb_url_is_refused() -> None:
    with pytest.raises(ValueError, match="absolute directory"):
        connect("chdb://./data")


def test_unknown_scheme_is_refused_without_leaking_the_password() -> None:
    with pytest.raises(ValueError, match=r"tcp://u:\*\*\*@h:9000") as info:
        connect("tcp://u:secret@h:9000")
    assert "secret" not in str(info.value)


def test_unreachable_server_is_retryable() -> None:
    with pytest.raises(RetryableError, match="cannot open ClickHouse at http://u:\\*\\*\\*@"):
        connect("http://u:pw@127.0.0.1:9", connect_timeout=1)


def test_resolve_and_redact() -> None:
    assert resolve_url(None, Path("/x/ch")) == "chdb:///x/ch"
    assert redact_url("http://a@h:1") == "http://a@h:1"


# ------------------------------------------------------------------ classification


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TimeoutError(), RetryableError),
        (ConnectionResetError(), RetryableError),
        (RuntimeError("Code: 252. DB::Exception: Too many parts"), RetryableError),
        (RuntimeError("Code: 60. DB::Exception: Unknown table"), PermanentError),
        (RuntimeError("HTTP status 503"), RetryableError),
        (RuntimeError("HTTP status 400"), PermanentError),
        (ValueError("bad value"), PermanentError),
        (PermanentError("x"), PermanentError),
    ],
)
def test_classify(exc: BaseException, expected: type) -> None:
    assert classify(exc) is expected


def test_http_status_classes() -> None:
    assert classify_http_status(429) is RetryableError
    assert classify_http_status(404) is PermanentError


def test_retry_call_gives_up_after_the_time_budget() -> None:
    calls: list[float] = []

    def always_busy() -> None:
        calls.append(1.0)
        raise RetryableError("busy")

    with pytest.raises(RetryableError):
        retry_call(always_busy, max_elapsed_s=0.05, base_delay_s=0.01, max_delay_s=0.01)
    assert len(calls) >= 2


def test_retry_call_does_not_retry_permanent_errors() -> None:
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise PermanentError("schema mismatch")

    with pytest.raises(PermanentError):
        retry_call(broken, sleep=lambda s: None)
    assert calls == [1]


def test_events_dedup_view_shows_columns_added_by_later_migrations(db: tuple[Client, str]) -> None:
    client, name = db
    migrate(client, name)
    view = client.query(f"SELECT * FROM {name}.events_dedup LIMIT 0").column_names
    table = client.query(f"SELECT * FROM {name}.events LIMIT 0").column_names
    assert "response_pii_count" in view and list(view) == list(table)


def test_cluster_mode_adds_distributed_tables_sharded_by_event_id() -> None:
    cluster = [st for m in discover() for st in m.statements(render_values("tocsin", "prod_ch"))]
    distributed = {st.split()[5]: st for st in cluster if "ENGINE = Distributed(" in st}
    assert distributed["`tocsin`.events_distributed"].endswith(
        "AS `tocsin`.events ENGINE = Distributed('prod_ch', 'tocsin', 'events', cityHash64(event_id))"
    )
    assert (
        "Distributed('prod_ch', 'tocsin', 'dead_letters', rand())"
        in (distributed["`tocsin`.dead_letters_distributed"])
    )
    assert all("ON CLUSTER `prod_ch`" in st for st in distributed.values())
    assert (
        "CREATE VIEW IF NOT EXISTS `tocsin`.events_dedup_distributed ON CLUSTER `prod_ch` "
        "AS SELECT * FROM `tocsin`.events_distributed FINAL"
    ) in cluster
    # every statement of cluster mode is ON CLUSTER, and nothing is left unrendered
    ddl = [st for st in cluster if st.startswith(("CREATE", "ALTER"))]
    assert all("ON CLUSTER `prod_ch`" in st for st in ddl)
    assert not any("{" in st.replace("{}", "") for st in cluster)
    # on a single node the cluster-only lines are comments: nothing Distributed is created
    single = [st for m in discover() for st in m.statements(render_values("tocsin", None))]
    assert not any("Distributed" in st or "_distributed" in st for st in single)
