"""The optional C writer (streams._avro_writer) writes exactly the Python writer's bytes.

`make test` builds the extension (gcc is part of the supported set-up), so it must be there;
without it the SDK still works, with the generated Python writer.
"""

from __future__ import annotations

import io
import time

import fastavro
import numpy as np
import pytest

from streams.codec import EventDecoder, EventEncoder, build_write_plan, native_writer
from streams.generator import TrafficGenerator
from streams.registry import make_resolver

NOW = int(time.time() * 1000)


@pytest.fixture(scope="module")
def encoders() -> tuple[EventEncoder, EventEncoder]:
    native, python = EventEncoder(), EventEncoder(native=False)
    assert native._native is not None, "streams._avro_writer was not built"
    assert python._native is None
    return native, python


def test_the_extension_is_built() -> None:
    assert native_writer() is not None


def test_same_bytes_as_the_python_writer_on_generated_traffic(
    encoders: tuple[EventEncoder, EventEncoder],
) -> None:
    native, python = encoders
    events = TrafficGenerator(seed=11, pii_fraction=0.3, toxic_fraction=0.2).events(3000)
    for event in events:
        rec = native.normalize(event, NOW)
        assert native.encode_record(rec) == python.encode_record(rec)


def test_same_bytes_on_edge_values(encoders: tuple[EventEncoder, EventEncoder]) -> None:
    native, python = encoders
    base = native.normalize(TrafficGenerator(seed=1).events(1)[0], NOW)
    variants = [
        {"prompt": "", "response": None, "features": {}, "attributes": {}},
        {"prompt": "héllo wörld ✓ 你好 🙂" * 50, "attributes": {"ключ": "значение"}},
        {"latency_ms": 0.0, "ttft_ms": None, "tokens_in": 0, "tokens_out": 2**31 - 1},
        {"cost_usd": 1e-12, "features": {"x": -1.5, "y": float("inf")}},
        {"ts": 2**62, "prompt": "x" * 20_000},  # a varint length over two bytes
        {"latency_ms": np.float64(12.5), "tokens_in": np.int64(7)},
        {"features": None},  # written as an empty map, as the Python writer does
    ]
    for change in variants:
        rec = {**base, **change}
        assert native.encode_record(rec) == python.encode_record(rec), change


def test_output_decodes_with_fastavro_and_the_worker_decoder(
    encoders: tuple[EventEncoder, EventEncoder],
) -> None:
    native, _ = encoders
    events = TrafficGenerator(seed=5).events(200)
    values = [native.encode(e, NOW) for e in events]
    schema = fastavro.parse_schema(native._raw)
    first = fastavro.schemaless_reader(io.BytesIO(values[0][5:]), schema, None)
    assert first["event_id"] == events[0]["event_id"]
    decoded = EventDecoder(make_resolver(None)).decode_batch(values)
    assert list(decoded.columns["event_id"]) == [e["event_id"] for e in events]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tokens_in": 2**31}, "tokens_in"),
        ({"track": "blue"}, "track"),
        ({"service": 5}, "service"),
        ({"features": {"x": "high"}}, "features"),
        ({"attributes": {"k": 1}}, "attributes"),
        ({"prompt": "\ud800 lone surrogate"}, "prompt"),
        ({"ts": 2**70}, "ts"),
    ],
)
def test_bad_values_raise_the_same_clear_error(
    encoders: tuple[EventEncoder, EventEncoder], change: dict[str, object], field: str
) -> None:
    native, python = encoders
    rec = {**native.normalize(TrafficGenerator(seed=2).events(1)[0], NOW), **change}
    errors = []
    for enc in (native, python):
        with pytest.raises(ValueError) as info:
            enc.prepare(rec, NOW)
        errors.append(str(info.value))
    assert errors[0] == errors[1]
    assert errors[0].startswith(field)


def test_unsupported_schemas_have_no_plan() -> None:
    nested = {
        "type": "record",
        "name": "R",
        "fields": [{"name": "a", "type": ["null", "int", "string"]}],
    }
    assert build_write_plan(nested) is None
    assert build_write_plan({"type": "array", "items": "int"}) is None
