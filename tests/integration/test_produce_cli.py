"""`tocsin produce` / `tocsin generate` against a real noida-db broker.

``local_noida_broker`` is a small fixture local to this file (the stack's reusable broker
fixture will replace it): it starts the noida-db binary from the wheel on a free port and
always stops it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic
from typer.testing import CliRunner

from streams.codec import EventDecoder, LocalSchemaResolver
from tocsin.cli import app

pytestmark = [pytest.mark.slow, pytest.mark.integration]

TOPIC = "tocsin.events.v1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def local_noida_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A noida-db Kafka broker on 127.0.0.1 for this module; yields bootstrap servers."""
    data_dir = tmp_path_factory.mktemp("noida")
    port = _free_port()
    binary = str(files("noida_db") / "noida-db")
    proc = subprocess.Popen(
        [
            binary,
            "start",
            "--only",
            "kafka",
            "--host",
            "127.0.0.1",
            "--kafka-port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    bootstrap = f"127.0.0.1:{port}"
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"noida-db exited with {proc.returncode}")
            try:
                if admin.list_topics(timeout=1).brokers:
                    break
            except Exception:  # KafkaException while the port is not open yet
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)
        futures = admin.create_topics(
            [
                NewTopic(
                    TOPIC,
                    num_partitions=4,
                    replication_factor=1,
                    config={"retention.ms": "3600000"},
                )
            ]
        )
        futures[TOPIC].result(10)
        yield bootstrap
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TOCSIN_HOME", str(tmp_path / "home"))
    for var in ("TOCSIN_BOOTSTRAP_SERVERS", "TOCSIN_SCHEMA_REGISTRY_URL", "TOCSIN_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "home"


def consume_all(
    bootstrap: str, group: str, expected: int, timeout_s: float = 30.0, topic: str = TOPIC
) -> list[Any]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "receive.message.max.bytes": 2147483647,
            "log_level": 0,
        }
    )
    consumer.subscribe([topic])
    got: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                if msg.error() is None:
                    got.append(msg)
            if len(got) >= expected:
                # give stragglers (duplicates) a chance to show up
                extra = consumer.consume(1000, 1.0)
                got.extend(m for m in extra if m.error() is None)
                break
    finally:
        consumer.close()
    return got


def test_produce_file_with_good_and_bad_lines(
    local_noida_broker: str, isolated_home: Path, tmp_path: Path
) -> None:
    good = [
        {
            "event_id": f"00000000-0000-4000-8000-{i:012d}",
            "ts": "2026-01-01T00:00:00Z" if i % 2 else 1767225600000 + i,
            "service": "chat-api" if i % 3 else "summarizer",
            "deployment": "chat-api-v41",
            "track": "stable",
            "model": "m",
            "model_version": "1",
            "status": "ok",
            "latency_ms": 100.0 + i,
            "prompt": f"prompt {i} ünïcödé",
        }
        for i in range(40)
    ]
    no_id = {k: v for k, v in good[0].items() if k != "event_id"}
    lines = [orjson.dumps(e).decode() for e in good[:20]]
    lines += [
        "{not json",  # line 21
        json.dumps({**good[0], "latency_ms": -5}),  # line 22
        json.dumps({**good[0], "track": "purple"}),  # line 23
        "",  # blank: skipped, not counted
        json.dumps({**good[0], "ts": "next tuesday"}),  # line 25
        "[1, 2, 3]",  # line 26
        json.dumps({**good[0], "colour": "red"}),  # line 27
        json.dumps(no_id),  # line 28: event_id generated
    ]
    lines += [orjson.dumps(e).decode() for e in good[20:]]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")

    result = CliRunner().invoke(
        app, ["produce", "--file", str(path), "--bootstrap-servers", local_noida_broker, "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["produced"] == 41 and summary["delivered"] == 41
    assert summary["rejected"] == 6 and summary["failed"] == 0 and summary["lines"] == 47
    rejects = {r["line"]: r["reason"] for r in summary["rejects"]}
    assert sorted(rejects) == [21, 22, 23, 25, 26, 27]
    assert rejects[21].startswith("invalid JSON")
    assert rejects[22].startswith("latency_ms:")
    assert rejects[23].startswith("track:")
    assert rejects[25].startswith("ts:")
    assert rejects[26] == "expected a JSON object, got list"
    assert rejects[27].startswith("colour: unknown field")
    assert "line 22: latency_ms" in result.stderr

    messages = consume_all(local_noida_broker, "test-produce-file", expected=41)
    decoder = EventDecoder(LocalSchemaResolver())
    batch = decoder.decode_batch([m.value() for m in messages])
    assert not batch.invalid
    ids = batch.columns["event_id"]
    assert len(ids) == 41 and len(set(ids)) == 41  # every good event exactly once
    assert set(ids) >= {e["event_id"] for e in good}
    by_id = {r["event_id"]: r for r in batch.rows()}
    assert by_id[good[1]["event_id"]]["ts"] == 1767225600000
    assert by_id[good[2]["event_id"]]["ts"] == 1767225600002
    assert by_id[good[5]["event_id"]]["prompt"] == "prompt 5 ünïcödé"
    # keyed by service: one service, one partition
    parts: dict[str, set[int]] = {}
    for m in messages:
        parts.setdefault(m.key().decode(), set()).add(m.partition())
    assert set(parts) == {"chat-api", "summarizer"} and all(len(p) == 1 for p in parts.values())


def test_produce_reads_the_stack_file(
    local_noida_broker: str, isolated_home: Path, tmp_path: Path
) -> None:
    (isolated_home / "run").mkdir(parents=True)
    (isolated_home / "run" / "stack.json").write_text(
        json.dumps({"bootstrap_servers": local_noida_broker})
    )
    path = tmp_path / "one.jsonl"
    path.write_text(
        json.dumps(
            {
                "service": "search-assist",
                "deployment": "d",
                "track": "canary",
                "model": "m",
                "model_version": "1",
                "status": "timeout",
                "latency_ms": 30000,
            }
        )
        + "\n"
    )
    result = CliRunner().invoke(app, ["produce", "--file", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["bootstrap_servers"] == local_noida_broker and summary["delivered"] == 1


def test_produce_without_a_broker_says_what_to_do(isolated_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text("{}\n")
    result = CliRunner().invoke(app, ["produce", "--file", str(path)])
    assert result.exit_code == 2
    assert "run `tocsin up` or set TOCSIN_BOOTSTRAP_SERVERS" in result.stderr


def test_produce_to_a_missing_topic_fails_early(
    local_noida_broker: str, isolated_home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text("{}\n")
    result = CliRunner().invoke(
        app,
        [
            "produce",
            "-f",
            str(path),
            "--bootstrap-servers",
            local_noida_broker,
            "--topic",
            "nope.v1",
        ],
    )
    assert result.exit_code == 2
    assert "topic 'nope.v1' does not exist" in result.stderr


def test_generate_into_the_broker_and_to_a_file(
    local_noida_broker: str, isolated_home: Path, tmp_path: Path
) -> None:
    topic = "tocsin.generated.v1"
    admin = AdminClient({"bootstrap.servers": local_noida_broker, "log_level": 0})
    admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])[topic].result(10)
    result = CliRunner().invoke(
        app,
        [
            "generate",
            "--topic",
            topic,
            "--rate",
            "2000",
            "--count",
            "600",
            "--seed",
            "4",
            "--canary-incident-at",
            "0.1",
            "--bootstrap-servers",
            local_noida_broker,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["produced"] == 600 and summary["delivered"] == 600
    assert summary["seconds"] >= 0.2  # paced: 600 at 2000/s is 0.3 s of event time
    messages = consume_all(local_noida_broker, "test-generate", expected=600, topic=topic)
    batch = EventDecoder(LocalSchemaResolver()).decode_batch([m.value() for m in messages])
    assert len(batch) == 600 and not batch.invalid
    assert len(set(batch.columns["event_id"])) == 600
    pairs = zip(batch.columns["status"], batch.columns["track"], strict=True)
    canary = [s for s, t in pairs if t == "canary"]
    assert canary.count("error") > 0.1 * len(canary)  # the incident started after 0.1 s

    out = tmp_path / "gen.jsonl"
    result = CliRunner().invoke(app, ["generate", "--count", "25", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert len(lines) == 25 and json.loads(lines[0])["ts"].endswith("Z")
    # the file is valid input for `tocsin produce`
    result = CliRunner().invoke(
        app, ["produce", "-f", str(out), "--bootstrap-servers", local_noida_broker, "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["delivered"] == 25


def test_strict_mode_fails_on_rejected_lines(
    local_noida_broker: str, isolated_home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"service": "s"}\n')
    args = ["produce", "-f", str(path), "--bootstrap-servers", local_noida_broker]
    assert CliRunner().invoke(app, args).exit_code == 0
    result = CliRunner().invoke(app, [*args, "--strict"])
    assert result.exit_code == 3
    assert "line 1: deployment: required field is missing" in result.stderr
