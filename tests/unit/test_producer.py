"""The producer SDK without a broker: validation, keys, config, delivery-failure accounting.

The happy path against a real broker is in tests/integration/test_produce_cli.py.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from streams.codec import EventDecoder, LocalSchemaResolver
from streams.producer import EventProducer, InferenceEvent, _librdkafka_config
from streams.registry import LocalSchemaResolver as RegistryLocal

REPO = Path(__file__).resolve().parents[2]
# Nothing listens on port 1: deliveries fail after message.timeout.ms.
UNREACHABLE = "127.0.0.1:1"


def event(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "service": "chat-api",
        "deployment": "chat-api-v42",
        "track": "canary",
        "model": "m",
        "model_version": "1",
        "status": "ok",
        "latency_ms": 10.0,
    }
    base.update(over)
    return base


@pytest.fixture
def producer() -> Any:
    p = EventProducer(UNREACHABLE, message_timeout_ms=300, log_level=0)
    yield p
    p.flush(0)


def test_sdk_imports_only_the_base_dependencies() -> None:
    code = (
        "import sys\n"
        "import streams.producer, streams.codec, schemas.loader\n"
        "heavy = {'numpy', 'pydantic', 'pydantic_settings', 'faust', 'httpx', 'typer',\n"
        "         'rich', 'pyarrow', 'river', 'onnxruntime', 'clickhouse_connect', 'yaml'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_config_defaults_and_overrides() -> None:
    conf = _librdkafka_config(
        "h:1", {"linger.ms": 20, "client.id": "svc"}, {"compression_type": "lz4"}
    )
    assert conf["acks"] == "all" and conf["enable.idempotence"] is True
    assert conf["linger.ms"] == 20 and conf["client.id"] == "svc"
    assert conf["compression.type"] == "lz4" and conf["bootstrap.servers"] == "h:1"
    plain = _librdkafka_config("h:1", None, {})
    assert plain["compression.type"] == "lz4"  # text compresses: the SDK default
    assert _librdkafka_config("h:1", {"compression.type": "zstd"}, {})["compression.type"] == "zstd"


def test_invalid_event_raises_names_the_field_and_sends_nothing(producer: EventProducer) -> None:
    with pytest.raises(ValueError, match=r"^latency_ms: -1.0 is not between"):
        producer.send(event(latency_ms=-1.0))
    with pytest.raises(ValueError, match=r"^deployment: required field is missing"):
        producer.send({"service": "s"})
    assert producer.stats.invalid == 2 and producer.stats.sent == 0


def test_send_returns_the_event_id_and_fills_it(producer: EventProducer) -> None:
    eid = producer.send(event())
    assert uuid.UUID(eid).version == 4
    given = str(uuid.uuid4())
    assert producer.send(event(event_id=given)) == given
    assert producer.stats.sent == 2 and producer.stats.in_flight == 2


def test_dataclass_events(producer: EventProducer) -> None:
    typed = InferenceEvent(
        service="chat-api",
        deployment="chat-api-v41",
        model="m",
        model_version="1",
        latency_ms=5.0,
        ts=datetime(2026, 1, 1, tzinfo=UTC),
        features={"prompt_len": 12.0},
    )
    record, value = producer.encoder.prepare(typed)
    assert record["track"] == "stable" and record["status"] == "ok"
    assert record["ts"] == 1767225600000
    decoded = EventDecoder(LocalSchemaResolver()).decode(value)
    assert decoded["features"] == {"prompt_len": 12.0}
    producer.send(typed)
    assert producer.stats.sent == 1


def test_send_many_reports_the_position(producer: EventProducer) -> None:
    with pytest.raises(ValueError, match=r"^events\[2\]: track: expected one of"):
        producer.send_many([event(), event(), event(track="blue"), event()])
    assert producer.stats.sent == 2 and producer.stats.invalid == 1


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        (("service",), "chat-api"),
        (("service", "deployment"), "chat-api/chat-api-v42"),
        ((), None),
    ],
)
def test_keys(fields: tuple[str, ...], key: str | None) -> None:
    p = EventProducer(UNREACHABLE, key_fields=fields, log_level=0)
    assert p.key_for({"service": "chat-api", "deployment": "chat-api-v42"}) == key


def test_delivery_failures_are_counted_and_reported() -> None:
    seen: list[tuple[Any, Any]] = []
    p = EventProducer(
        UNREACHABLE,
        on_delivery=lambda err, msg: seen.append((err, msg)),
        message_timeout_ms=200,
        log_level=0,
    )
    p.send_many([event(), event()])
    p.flush(10)
    stats = p.stats
    assert stats.sent == 2 and stats.failed == 2 and stats.delivered == 0
    assert stats.in_flight == 0
    assert stats.last_error is not None and "TIMED_OUT" in stats.last_error
    assert len(seen) == 2 and all(err is not None for err, _ in seen)


def test_context_manager_flushes_and_closes() -> None:
    with EventProducer(UNREACHABLE, message_timeout_ms=200, log_level=0) as p:
        p.send(event())
    assert p.stats.failed == 1
    for call in (lambda: p.send(event()), lambda: p.send_many([event()])):
        with pytest.raises(RuntimeError, match="closed"):
            call()
    with pytest.raises(RuntimeError, match="closed"):
        p.send_encoded(b"\x00\x00\x00\x03\xe9")


def test_producer_uses_the_resolver_id() -> None:
    class Fixed(RegistryLocal):
        def schema_id(
            self, name: str, version: int | None = None, subject: str | None = None
        ) -> int:
            assert subject == "my.events-value"
            return 4321

    p = EventProducer(UNREACHABLE, topic="my.events", resolver=Fixed(), log_level=0)
    _, value = p.encoder.prepare(event())
    assert value[1:5] == (4321).to_bytes(4, "big")


def test_unknown_key_field_is_refused() -> None:
    with pytest.raises(ValueError, match="key_fields: 'tenant' is not an event field"):
        EventProducer(UNREACHABLE, key_fields=("tenant",), log_level=0)
