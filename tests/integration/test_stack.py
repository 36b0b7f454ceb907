"""`tocsin up/status/down/sql/migrate` against the real noida-db broker and chdb."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import clickhouse_connect
import httpx
import pytest

from sinks.clickhouse.migrations import default_migrations_dir
from streams.topics import broker_ready, describe
from tests.integration.conftest import (
    StackHandle,
    kill_leftovers,
    run_cli,
    start_stack,
    stop_stack,
    tocsin_env,
)
from tocsin.runtime.broker import EmbeddedBroker
from tocsin.runtime.processes import pid_alive
from tocsin.runtime.stack import Stack
from tocsin.settings import Settings

pytestmark = pytest.mark.integration

TOPIC_KEYS = {"events", "dlq", "alerts", "rollback", "rollback_acks"}
MIGRATIONS = len(list(default_migrations_dir().glob("[0-9][0-9][0-9][0-9]_*.sql")))


def wait_until(predicate, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_up_status_sql_down(embedded_stack: StackHandle) -> None:
    st = embedded_stack.status()
    assert st["running"] is True
    assert set(st["topics"]) == TOPIC_KEYS
    assert set(st["pids"]) == {"broker", "store", "worker-0", "otlp"}
    assert st["otlp_url"] and st["otlp_url"].startswith("http://127.0.0.1:")
    assert all(st["pids"].values())
    assert st["clickhouse"] == f"chdb://{embedded_stack.home / 'clickhouse'}"
    assert st["bootstrap_servers"].startswith("127.0.0.1:")
    for name in ("broker", "store", "worker-0"):
        assert (embedded_stack.home / "run" / f"{name}.pid").read_text().strip() == str(
            st["pids"][name]
        )
    partitions = describe(st["bootstrap_servers"], list(st["topics"].values()))
    assert set(partitions) == set(st["topics"].values())
    assert set(partitions.values()) == {Settings().topics.partitions}

    # queries go through the store process, which owns the chdb directory, as the analyst
    r = embedded_stack.cli(
        "sql",
        "SELECT name FROM system.tables WHERE database = 'tocsin' ORDER BY name",
        "-f",
        "json",
    )
    assert "as analyst" in r.stderr
    names = [row["name"] for row in json.loads(r.stdout)]
    assert {"events", "events_dedup", "dead_letters", "schema_migrations"} <= set(names)
    r = embedded_stack.cli("sql", "SELECT 1 AS a, 'x' AS b", "-f", "csv")
    assert r.stdout.splitlines() == ["a,b", "1,x"]
    r = embedded_stack.cli("sql", "SELECT 2 AS n FORMAT JSONEachRow")
    assert json.loads(r.stdout) == {"n": 2}
    bad = embedded_stack.cli("sql", "SELEC 1", check=False)
    assert bad.returncode == 1 and "Code: 62" in bad.stderr

    # the store speaks ClickHouse's HTTP interface to curl-like clients and to
    # clickhouse-connect, and only to those with the generated credentials
    url = st["query_url"]
    assert url == st["store_url"]
    secrets = embedded_stack.home / "secrets"
    creds = {r: json.loads((secrets / f"{r}.json").read_text()) for r in ("writer", "analyst")}
    for role in creds:
        assert (secrets / f"{role}.json").stat().st_mode & 0o777 == 0o600
        assert st["credentials"][role] == str(secrets / f"{role}.json")
    analyst = (creds["analyst"]["user"], creds["analyst"]["password"])
    assert httpx.get(url + "ping").text == "Ok.\n"
    anonymous = httpx.post(url, content=b"DROP TABLE tocsin.events")
    assert anonymous.status_code == 403 and anonymous.text.startswith("Code: 516.")
    wrong = httpx.get(url, params={"query": "SELECT 1"}, auth=(analyst[0], "guess"))
    assert wrong.status_code == 403 and creds["analyst"]["password"] not in wrong.text
    assert httpx.get(url, params={"query": "SELECT 40 + 2"}, auth=analyst).text == "42\n"
    lift = httpx.get(url, params={"query": "SELECT 1", "readonly": "0"}, auth=analyst)
    assert lift.status_code == 500 and lift.text.startswith("Code: 164.")  # cannot lift it
    err = httpx.post(url, content=b"SELECT * FROM nowhere", auth=analyst)
    assert err.status_code == 500 and err.text.startswith("Code: 60.")
    port = int(url.rsplit(":", 1)[1].strip("/"))
    client = clickhouse_connect.get_client(
        host="127.0.0.1", port=port, database="tocsin", username=analyst[0], password=analyst[1]
    )
    try:
        assert client.command("SELECT count() FROM events") == 0
        with pytest.raises(Exception, match="Code: 164"):
            client.command("DROP TABLE events")  # the analyst is ClickHouse-readonly
        assert client.command("EXISTS TABLE events") == 1
    finally:
        client.close()
    denied = embedded_stack.cli("sql", "CREATE TABLE x (a UInt8) ENGINE = Log", check=False)
    assert denied.returncode == 1 and "Code: 164" in denied.stderr
    embedded_stack.cli("sql", "--writer", "CREATE TABLE x (a UInt8) ENGINE = Log")

    # status shows each worker's counters, read from its /tocsin/status endpoint
    embedded_stack.cli("generate", "--count", "300", "--seed", "3")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        metrics = embedded_stack.status()["metrics"]["worker-0"]
        if metrics.get("written", 0) >= 300:
            break
        time.sleep(0.5)
    assert metrics["written"] == 300 and metrics["dead_lettered"] == 0, metrics
    shown = embedded_stack.cli("status").stderr
    assert "written 300" in shown and "dead letters 0" in shown

    # migrations go through the store process as the writer while the stack runs
    migrated = embedded_stack.cli("migrate", "--json")
    assert json.loads(migrated.stdout)["applied"] == []

    # up again is a no-op on a healthy stack
    again = json.loads(embedded_stack.cli("up", "--detach", "--json").stdout)
    assert again["pids"] == st["pids"]

    pids = list(st["pids"].values())
    down = embedded_stack.cli("down", "--json")
    assert json.loads(down.stdout) == {
        "worker-0": "terminated",
        "store": "terminated",
        "otlp": "terminated",
        "broker": "terminated",
    }
    assert not any(pid_alive(pid) for pid in pids)
    stopped = embedded_stack.cli("status", "--json", check=False)
    assert stopped.returncode == 3
    assert json.loads(stopped.stdout)["running"] is False
    assert not (embedded_stack.home / "run" / "broker.pid").exists()

    # stopped: tocsin sql opens chdb directly, and the data is still there
    r = embedded_stack.cli("sql", "SELECT count() AS n FROM schema_migrations", "-f", "json")
    assert "via chdb" in r.stderr
    assert json.loads(r.stdout) == [{"n": MIGRATIONS}]


@pytest.mark.slow
def test_second_up_restarts_a_killed_broker_and_worker(embedded_stack: StackHandle) -> None:
    before = embedded_stack.status()
    broker_pid, worker_pid = before["pids"]["broker"], before["pids"]["worker-0"]
    time.sleep(2.5)  # past the broker's snapshot debounce, so the topics are on disk
    os.kill(worker_pid, signal.SIGKILL)
    os.kill(broker_pid, signal.SIGKILL)
    assert wait_until(lambda: not pid_alive(broker_pid) and not pid_alive(worker_pid))

    st = embedded_stack.status()
    assert st["running"] is False
    assert set(st["stale"]) == {"broker", "worker-0"}
    assert st["pids"] == {
        "broker": None,
        "store": before["pids"]["store"],
        "worker-0": None,
        "otlp": before["pids"]["otlp"],
    }

    r = embedded_stack.cli("up", "--detach", "--json")
    assert "is gone, restarting" in r.stderr
    after = json.loads(r.stdout)
    assert after["running"] is True
    assert after["bootstrap_servers"] == before["bootstrap_servers"]  # same port
    assert after["pids"]["broker"] not in (None, broker_pid)
    assert after["pids"]["worker-0"] not in (None, worker_pid)
    assert broker_ready(after["bootstrap_servers"])
    r = embedded_stack.cli("sql", "SELECT count() AS n FROM schema_migrations", "-f", "json")
    assert json.loads(r.stdout) == [{"n": MIGRATIONS}]


@pytest.mark.slow
def test_two_stacks_side_by_side(tmp_path: Path) -> None:
    a, b = StackHandle(tmp_path / "a"), StackHandle(tmp_path / "b")
    try:
        start_stack(a.home)
        start_stack(b.home)
        sa, sb = a.status(), b.status()
        assert sa["running"] and sb["running"]
        assert sa["bootstrap_servers"] != sb["bootstrap_servers"]
        assert sa["query_url"] != sb["query_url"]
        assert not set(sa["pids"].values()) & set(sb["pids"].values())
        a.cli("sql", "--writer", "CREATE TABLE only_in_a (x UInt8) ENGINE = MergeTree ORDER BY x")
        q = "SELECT count() AS n FROM system.tables WHERE name = 'only_in_a'"
        assert json.loads(a.cli("sql", q, "-f", "json").stdout) == [{"n": 1}]
        assert json.loads(b.cli("sql", q, "-f", "json").stdout) == [{"n": 0}]
    finally:
        stop_stack(a)
        stop_stack(b)
    assert not any(pid_alive(p) for p in [*sa["pids"].values(), *sb["pids"].values()])


def test_stale_pid_is_detected(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    home = tmp_path / "home"
    (home / "run").mkdir(parents=True)
    (home / "run" / "stack.json").write_text(
        json.dumps({"pids": {"broker": gone.pid}, "bootstrap_servers": "127.0.0.1:1"})
    )
    st = Stack(Settings(home=home)).status()
    assert st["running"] is False
    assert st["stale"] == ["broker"]
    assert st["pids"] == {"broker": None}
    # a live pid that is not ours (this test process) is not mistaken for the broker
    (home / "run" / "stack.json").write_text(json.dumps({"pids": {"broker": os.getpid()}}))
    assert Stack(Settings(home=home)).status()["stale"] == ["broker"]


@pytest.mark.slow
def test_up_without_workers_and_migrate_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"
    handle = StackHandle(home)
    try:
        st = json.loads(run_cli(home, "up", "--detach", "--no-workers", "--json").stdout)
        assert st["running"] is True and set(st["pids"]) == {"broker", "store", "otlp"}
        assert st["query_url"] == st["store_url"] and st["store_url"].startswith("http://")
    finally:
        stop_stack(handle)
    migrations = tmp_path / "migrations"
    shutil.copytree(default_migrations_dir(), migrations)
    env = tocsin_env(home, TOCSIN_CLICKHOUSE_MIGRATIONS_DIR=str(migrations))
    r = run_cli(home, "migrate", "--json", env=env)
    assert json.loads(r.stdout)["applied"] == []  # `up` applied them already
    # numbers may have gaps (each area owns a range): the next one is after the highest
    last = max(int(p.name[:4]) for p in default_migrations_dir().glob("[0-9][0-9][0-9][0-9]_*.sql"))
    note = f"{last + 1:04d}_note"
    (migrations / f"{note}.sql").write_text(
        "ALTER TABLE {database}.events {on_cluster} ADD COLUMN IF NOT EXISTS note String;\n"
    )
    assert json.loads(run_cli(home, "migrate", "--json", env=env).stdout)["applied"] == [note]
    (migrations / f"{note}.sql").write_text("-- edited after it was applied\n")
    r = run_cli(home, "migrate", env=env, check=False)
    assert r.returncode == 1
    assert f"{note}.sql was changed after it was applied" in r.stderr


def test_kafka_broker_fixture_creates_capped_topics(kafka_broker: EmbeddedBroker) -> None:
    from confluent_kafka.admin import AdminClient, ConfigResource

    topics = Settings().topics
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topics.events)
    config = admin.describe_configs([resource])[resource].result(10)
    assert config["retention.bytes"].value == str(topics.retention_bytes)
    assert config["segment.bytes"].value == str(topics.segment_bytes)
    assert config["retention.ms"].value == str(topics.retention_ms)
    pid = kafka_broker.pid
    assert pid and kafka_broker.alive()
    assert kafka_broker.stop() == "terminated"
    assert not pid_alive(pid)
    kill_leftovers([pid])


@pytest.mark.slow
def test_demo_runs_traffic_and_stops_everything(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    handle = StackHandle(home)
    try:
        r = run_cli(home, "demo", "--duration", "6", "--rate", "500", "--refresh", "1")
        assert "tocsin demo: events in ClickHouse" in r.stderr
        sent = int(r.stderr.rsplit("sent ", 1)[1].split(" ", 1)[0].replace(",", ""))
        assert sent > 0
        assert "worker-0: terminated" in r.stderr and "broker: terminated" in r.stderr
    finally:
        pids = handle.recorded_pids()
        stop_stack(handle)
    state = json.loads((home / "run" / "stack.json").read_text())
    assert state["state"] == "stopped" and not pids
    # end to end: the worker wrote the traffic into ClickHouse (read back from chdb directly)
    r = run_cli(home, "sql", "SELECT count() AS n FROM events_dedup", "-f", "json")
    assert json.loads(r.stdout)[0]["n"] > 0  # (sent is the last frame: traffic ran on)
    # ... through the default pipeline: answers scored (toxicity `auto`: all of them while the
    # worker keeps up, a weighted sample while its warm-up batches fall behind, so the
    # weights add up to the answers), no raw PII stored in prompts, responses or dead letters
    email = "'[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[a-z]{2,}'"
    r = run_cli(
        home,
        "sql",
        "SELECT countIf(status = 'ok' AND response != '') AS answers, "
        "sumIf(sample_weight, toxicity IS NOT NULL) AS weighted, "
        "countIf(toxicity IS NOT NULL AND sample_weight IS NULL) AS unweighted, "
        "countIf(toxicity IS NULL AND sample_weight IS NOT NULL) AS weight_unscored, "
        "countIf(toxicity IS NOT NULL) AS scored, "
        f"countIf(match(prompt, {email})) AS raw_emails, "
        f"countIf(match(response, {email})) AS raw_response_emails, "
        "countIf(has(pii_types, 'EMAIL_ADDRESS')) AS emails FROM events_dedup",
        "-f",
        "json",
    )
    row = json.loads(r.stdout)[0]
    assert row["scored"] > 0 and row["unweighted"] == 0 and row["weight_unscored"] == 0, row
    assert abs(row["weighted"] - row["answers"]) <= 0.25 * row["answers"], row
    assert row["raw_emails"] == 0 and row["raw_response_emails"] == 0 and row["emails"] > 0, row
    r = run_cli(
        home,
        "sql",
        f"SELECT countIf(match(value, {email}) OR match(detail, {email})) AS raw_emails "
        "FROM dead_letters",
        "-f",
        "json",
    )
    assert json.loads(r.stdout)[0]["raw_emails"] == 0


def test_external_broker_is_used_not_started(tmp_path: Path, kafka_broker: EmbeddedBroker) -> None:
    home = tmp_path / "home"
    env = tocsin_env(
        home,
        TOCSIN_BOOTSTRAP_SERVERS=kafka_broker.bootstrap_servers,
        TOCSIN_TOPICS__EVENTS="other.events",
    )
    try:
        st = json.loads(run_cli(home, "up", "--detach", "--no-workers", "--json", env=env).stdout)
        assert st["bootstrap_servers"] == kafka_broker.bootstrap_servers
        assert st["embedded"] == {"broker": False, "clickhouse": True}
        assert "broker" not in st["pids"]
        assert "other.events" in describe(kafka_broker.bootstrap_servers, ["other.events"])
    finally:
        run_cli(home, "down", env=env, check=False)
    assert kafka_broker.alive()  # not ours to stop
