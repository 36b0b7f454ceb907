"""Schema evolution (a v2 writer read as v1) and the Confluent Schema Registry resolver.

The registry is a small in-process fake over ``httpx.MockTransport`` that follows the real
REST rules (ids per schema, subjects/versions, 404 with error codes).
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastavro import parse_schema, schemaless_writer

from schemas.loader import MANIFEST_PATH, Manifest, schema_digest, schema_info
from streams.codec import (
    EventDecoder,
    EventEncoder,
    InvalidMessage,
    LocalSchemaResolver,
    _strip_logical_types,
    frame,
)
from streams.registry import (
    RegistrySchemaResolver,
    SchemaRegistryClient,
    SchemaRegistryError,
    make_resolver,
)

NOW_MS = 1_767_225_600_000


def clock() -> float:
    return NOW_MS / 1000


def v2_schema() -> dict[str, Any]:
    """v1 plus optional fields, and a new track symbol."""
    raw = copy.deepcopy(schema_info("inference_event", 1).raw())
    raw["fields"].insert(3, {"name": "tenant", "type": ["null", "string"], "default": None})
    raw["fields"].append({"name": "cache_hit", "type": "boolean", "default": False})
    raw["fields"].append(
        {"name": "scores", "type": {"type": "map", "values": "float"}, "default": {}}
    )
    track = next(f for f in raw["fields"] if f["name"] == "track")
    track["type"]["symbols"].append("blue")
    return raw


def v2_event(**over: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "event_id": "2b1f8a9e-3c4d-4e5f-8a6b-7c8d9e0f1a2b",
        "ts": NOW_MS - 1000,
        "service": "chat-api",
        "tenant": "acme",
        "deployment": "chat-api-v43",
        "track": "canary",
        "model": "m",
        "model_version": "v",
        "trace_id": None,
        "prompt": "hello",
        "response": "hi",
        "status": "ok",
        "error_type": None,
        "latency_ms": 10.0,
        "ttft_ms": None,
        "tokens_in": 1,
        "tokens_out": 1,
        "cost_usd": None,
        "user_hash": None,
        "features": {"x": 1.0},
        "attributes": {"k": "v"},
        "cache_hit": True,
        "scores": {"tox": 0.5},
    }
    rec.update(over)
    return rec


def encode_with(raw: dict[str, Any], schema_id: int, rec: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    schemaless_writer(buf, parse_schema(_strip_logical_types(raw)), rec)
    return frame(schema_id, buf.getvalue())


@pytest.fixture
def local_v2_manifest(tmp_path: Path) -> Manifest:
    """A test-local manifest: the shipped schemas plus inference_event v2 as id 1002."""
    entries = json.loads(MANIFEST_PATH.read_text())["schemas"]
    for e in entries:
        e["file"] = str(MANIFEST_PATH.parent / e["file"])
    raw = v2_schema()
    (tmp_path / "inference_event.v2.avsc").write_text(json.dumps(raw))
    entries.append(
        {
            "name": "inference_event",
            "version": 2,
            "id": 1002,
            "subject": "tocsin.events.v1-value",
            "file": "inference_event.v2.avsc",
            "sha256": schema_digest(raw),
        }
    )
    (tmp_path / "manifest.json").write_text(json.dumps({"schemas": entries}))
    return Manifest(tmp_path / "manifest.json")


def test_v2_writer_is_read_as_v1(local_v2_manifest: Manifest) -> None:
    dec = EventDecoder(LocalSchemaResolver(local_v2_manifest), clock=clock)
    value = encode_with(v2_schema(), 1002, v2_event())
    got = dec.decode(value)
    assert "tenant" not in got and "cache_hit" not in got and "scores" not in got
    assert got["deployment"] == "chat-api-v43" and got["features"] == {"x": 1.0}
    assert got["schema_id"] == 1002


def test_v2_new_enum_symbol_reads_as_the_v1_default(local_v2_manifest: Manifest) -> None:
    dec = EventDecoder(LocalSchemaResolver(local_v2_manifest), clock=clock)
    batch = dec.decode_batch(
        [
            encode_with(v2_schema(), 1002, v2_event(track="blue")),
            EventEncoder().encode(
                {k: v for k, v in v2_event().items() if k not in ("tenant", "cache_hit", "scores")},
                NOW_MS,
            ),
        ]
    )
    assert batch.columns["track"] == ["shadow", "canary"]
    assert batch.columns["schema_id"] == [1002, 1001]


def test_v2_records_are_still_validated(local_v2_manifest: Manifest) -> None:
    dec = EventDecoder(LocalSchemaResolver(local_v2_manifest), clock=clock)
    with pytest.raises(InvalidMessage) as info:
        dec.decode(encode_with(v2_schema(), 1002, v2_event(latency_ms=-4.0)))
    assert info.value.reason == "invalid_field"
    with pytest.raises(InvalidMessage) as info:
        dec.decode(encode_with(v2_schema(), 1002, v2_event())[:-4])
    assert info.value.reason == "truncated"


def test_incompatible_evolution_is_reported(tmp_path: Path) -> None:
    """A writer that dropped a required field without a default cannot be read as v1."""
    raw = copy.deepcopy(schema_info("inference_event", 1).raw())
    raw["fields"] = [f for f in raw["fields"] if f["name"] != "latency_ms"]
    (tmp_path / "bad.avsc").write_text(json.dumps(raw))
    (tmp_path / "manifest.json").write_text(
        json.dumps(
            {
                "schemas": [
                    {
                        "name": "inference_event",
                        "version": 1,
                        "id": 1001,
                        "file": str(MANIFEST_PATH.parent / "avro/inference_event.v1.avsc"),
                    },
                    {"name": "bad", "version": 1, "id": 66, "file": "bad.avsc"},
                ]
            }
        )
    )
    dec = EventDecoder(LocalSchemaResolver(Manifest(tmp_path / "manifest.json")), clock=clock)
    rec = {
        k: v
        for k, v in v2_event().items()
        if k not in ("tenant", "cache_hit", "scores", "latency_ms")
    }
    with pytest.raises(InvalidMessage) as info:
        dec.decode(encode_with(raw, 66, rec))
    assert info.value.reason == "incompatible_schema"


# --------------------------------------------------------------------------- registry


class FakeRegistry:
    """Confluent Schema Registry REST semantics, in memory."""

    def __init__(self) -> None:
        self.schemas: dict[int, str] = {}
        self.subjects: dict[str, list[int]] = {}
        self.requests: list[str] = []
        self.next_id = 100
        self.fail_with: int | None = None

    def _id_for(self, text: str) -> int:
        for sid, existing in self.schemas.items():
            if json.loads(existing) == json.loads(text):
                return sid
        self.next_id += 1
        self.schemas[self.next_id] = text
        return self.next_id

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        if self.fail_with:
            return httpx.Response(self.fail_with, json={"error_code": 50001, "message": "boom"})
        parts = request.url.path.strip("/").split("/")
        if request.method == "GET" and parts[:2] == ["schemas", "ids"]:
            sid = int(parts[2])
            if sid not in self.schemas:
                return httpx.Response(
                    404, json={"error_code": 40403, "message": "Schema not found"}
                )
            return httpx.Response(200, json={"schema": self.schemas[sid]})
        if request.method == "POST" and parts[0] == "subjects":
            assert request.headers["content-type"] == "application/vnd.schemaregistry.v1+json"
            text = json.loads(request.content)["schema"]
            subject = parts[1]
            if len(parts) == 3 and parts[2] == "versions":
                sid = self._id_for(text)
                if sid not in self.subjects.setdefault(subject, []):
                    self.subjects[subject].append(sid)
                return httpx.Response(200, json={"id": sid})
            if len(parts) == 2:
                for sid in self.subjects.get(subject, []):
                    if json.loads(self.schemas[sid]) == json.loads(text):
                        return httpx.Response(
                            200, json={"subject": subject, "id": sid, "version": 1}
                        )
                code = 40401 if subject not in self.subjects else 40403
                return httpx.Response(404, json={"error_code": code, "message": "not found"})
        return httpx.Response(404, json={"error_code": 404, "message": "no route"})


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


def client_for(registry: FakeRegistry, url: str = "http://registry.test") -> SchemaRegistryClient:
    return SchemaRegistryClient(url, transport=httpx.MockTransport(registry))


def test_registry_register_then_decode_with_registry_ids(registry: FakeRegistry) -> None:
    resolver = RegistrySchemaResolver(client_for(registry))
    sid = resolver.schema_id("inference_event", 1, subject="events-value")
    assert sid == 101 and registry.subjects == {"events-value": [101]}
    enc = EventEncoder(sid, schema=schema_info("inference_event", 1).raw())
    ev = {k: v for k, v in v2_event().items() if k not in ("tenant", "cache_hit", "scores")}
    dec = EventDecoder(resolver, clock=clock)
    batch = dec.decode_batch([enc.encode(ev, NOW_MS)] * 3)
    assert len(batch) == 3 and batch.columns["schema_id"] == [101] * 3
    # the schema is fetched once (register caches it, so not even once here), ids cached too
    assert resolver.schema_id("inference_event", 1, subject="events-value") == 101
    assert registry.requests.count("POST /subjects/events-value/versions") == 1
    assert not [r for r in registry.requests if r.startswith("GET")]


def test_registry_v2_writer_read_as_v1(registry: FakeRegistry) -> None:
    client = client_for(registry)
    v2_id = client.register("tocsin.events.v1-value", v2_schema())
    dec = EventDecoder(RegistrySchemaResolver(client_for(registry)), clock=clock)
    batch = dec.decode_batch([encode_with(v2_schema(), v2_id, v2_event())] * 4)
    assert len(batch) == 4 and batch.columns["deployment"][0] == "chat-api-v43"
    assert registry.requests.count(f"GET /schemas/ids/{v2_id}") == 1


def test_registry_unknown_id_is_invalid_and_not_asked_again(registry: FakeRegistry) -> None:
    dec = EventDecoder(RegistrySchemaResolver(client_for(registry)), clock=clock)
    batch = dec.decode_batch([frame(999, b"\x00")] * 3)
    assert [e.reason for _, e in batch.invalid] == ["unknown_schema_id"] * 3
    assert "999" in batch.invalid[0][1].detail
    assert registry.requests == ["GET /schemas/ids/999"]


def test_registry_outage_is_retryable_not_a_dead_letter(registry: FakeRegistry) -> None:
    registry.fail_with = 503
    dec = EventDecoder(RegistrySchemaResolver(client_for(registry)), clock=clock)
    with pytest.raises(SchemaRegistryError) as info:
        dec.decode_batch([encode_with(v2_schema(), 123, v2_event())])
    assert info.value.retryable and info.value.status == 503 and info.value.error_code == 50001
    registry.fail_with = None  # the registry is back: same ids now work
    v2_id = client_for(registry).register("s-value", v2_schema())
    assert len(dec.decode_batch([encode_with(v2_schema(), v2_id, v2_event())])) == 1


def test_registry_unreachable_is_retryable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = SchemaRegistryClient("http://registry.test", transport=httpx.MockTransport(refuse))
    with pytest.raises(SchemaRegistryError, match="unreachable") as info:
        client.get_schema(1)
    assert info.value.retryable and info.value.status is None


def test_registry_lookup_without_auto_register(registry: FakeRegistry) -> None:
    resolver = RegistrySchemaResolver(client_for(registry), auto_register=False)
    with pytest.raises(SchemaRegistryError, match="not registered under subject"):
        resolver.schema_id("inference_event", 1, subject="x-value")
    client_for(registry).register("x-value", schema_info("inference_event", 1).raw())
    assert resolver.schema_id("inference_event", 1, subject="x-value") == 101


def test_registry_credentials_go_to_basic_auth_not_the_url(registry: FakeRegistry) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return registry(request)

    client = SchemaRegistryClient(
        "https://user:s3cret@registry.test/", transport=httpx.MockTransport(handler)
    )
    assert client.url == "https://registry.test"
    assert "s3cret" not in repr(client)
    client.register("a-value", {"type": "string"})
    assert seen and seen[0].startswith("Basic ")


def test_make_resolver() -> None:
    assert isinstance(make_resolver(None), LocalSchemaResolver)
    assert isinstance(make_resolver("http://registry.test:8081"), RegistrySchemaResolver)
