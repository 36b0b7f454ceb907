"""Confluent-framed Avro codec: round trips, every malformed case, field validation."""

from __future__ import annotations

import io
import math
import pickle
import random
import struct
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from schemas.loader import schema_info
from streams.avro_codegen import _AvroDataError, _zigzag_varint, native_reader
from streams.codec import (
    EVENT_COLUMNS,
    DecodedBatch,
    EventDecoder,
    EventEncoder,
    InvalidMessage,
    LocalSchemaResolver,
    _strip_logical_types,
    compile_reader,
    compile_writer,
    encode_event,
    frame,
    parse_header,
    to_epoch_ms,
)
from streams.generator import TrafficGenerator

NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
PLAIN_V1 = _strip_logical_types(schema_info("inference_event", 1).raw())
PARSED_V1 = parse_schema(PLAIN_V1)


def clock() -> float:
    return NOW_MS / 1000


@pytest.fixture(scope="module")
def decoder() -> EventDecoder:
    return EventDecoder(LocalSchemaResolver(), clock=clock)


@pytest.fixture(scope="module")
def encoder() -> EventEncoder:
    return EventEncoder()


def event(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": "2b1f8a9e-3c4d-4e5f-8a6b-7c8d9e0f1a2b",
        "ts": NOW_MS - 5_000,
        "service": "chat-api",
        "deployment": "chat-api-v42",
        "track": "canary",
        "model": "llama-3.1-8b",
        "model_version": "2025-01",
        "status": "ok",
        "latency_ms": 812.5,
    }
    base.update(over)
    return base


def fastavro_body(record: dict[str, Any], schema: Any = PARSED_V1) -> bytes:
    buf = io.BytesIO()
    schemaless_writer(buf, schema, record)
    return buf.getvalue()


@pytest.fixture(scope="module")
def generated(encoder: EventEncoder) -> list[dict[str, Any]]:
    gen = TrafficGenerator(seed=3, start_ms=NOW_MS - 3_600_000, pii_fraction=0.3)
    return [encoder.normalize(e, NOW_MS) for e in gen.events(1500)]


# --------------------------------------------------------------------------- round trips


def test_round_trip_generated_events(
    decoder: EventDecoder, encoder: EventEncoder, generated: list[dict[str, Any]]
) -> None:
    values = [encoder.encode(e, NOW_MS) for e in generated]
    batch = decoder.decode_batch(values)
    assert not batch.invalid
    assert batch.rows() == [{**e, "schema_id": 1001} for e in generated]


def test_round_trip_optional_fields_absent(decoder: EventDecoder) -> None:
    value = encode_event(event())
    got = decoder.decode(value)
    assert got["prompt"] is None and got["tokens_in"] is None and got["features"] == {}
    assert got["ts"] == NOW_MS - 5_000 and got["schema_id"] == 1001


def test_decode_batch_columns_order_and_positions(decoder: EventDecoder) -> None:
    good = [encode_event(event(event_id=str(uuid.uuid4()), service=f"s{i}")) for i in range(3)]
    values: list[bytes | None] = [good[0], b"\x01junk", good[1], None, good[2]]
    batch = decoder.decode_batch(values)
    assert isinstance(batch, DecodedBatch)
    assert len(batch) == 3
    assert list(batch.columns) == list(EVENT_COLUMNS)
    assert all(len(col) == 3 for col in batch.columns.values())
    assert batch.columns["service"] == ["s0", "s1", "s2"]
    assert batch.good_index == [0, 2, 4]
    assert [(i, e.reason) for i, e in batch.invalid] == [(1, "bad_magic"), (3, "empty")]


def test_decode_batch_empty(decoder: EventDecoder) -> None:
    batch = decoder.decode_batch([])
    assert len(batch) == 0 and batch.columns["event_id"] == [] and batch.invalid == []


# --------------------------------------------------------------------------- compiled codec


EDGE_RECORDS = [
    {**event(), **{k: None for k in ("trace_id", "prompt", "response", "error_type")}},
    event(
        prompt="ünïcödé 🙂 " * 3000,  # > 16384 bytes: length varint beyond the cached table
        response="",
        ttft_ms=0.0,
        tokens_in=0,
        tokens_out=2**31 - 1,
        cost_usd=1e-12,
        ts=2**62,
        latency_ms=-0.0,
        features={f"f{i}": float(i) - 0.5 for i in range(300)},
        attributes={"": "", "k": "v" * 200},
        user_hash="u",
        error_type="x",
        trace_id="t",
        status="filtered",
        track="baseline",
    ),
    event(ts=-(2**63), tokens_in=-(2**31), latency_ms=math.inf, cost_usd=-1.0),
]


@pytest.mark.parametrize("i", range(len(EDGE_RECORDS)))
def test_compiled_writer_matches_fastavro_on_edge_records(i: int) -> None:
    rec = {**EventEncoder()._defaults, **EDGE_RECORDS[i]}
    out = bytearray()
    writer = compile_writer(PLAIN_V1)
    assert writer is not None
    writer(out, rec)
    assert bytes(out) == fastavro_body(rec)
    reader = compile_reader(PLAIN_V1)
    assert reader is not None
    got, end = reader(bytes(out), 0, len(out))
    assert end == len(out)
    assert got == schemaless_reader(io.BytesIO(bytes(out)), PARSED_V1)


def test_compiled_writer_matches_fastavro_on_generated(generated: list[dict[str, Any]]) -> None:
    writer = compile_writer(PLAIN_V1)
    assert writer is not None
    for rec in generated:
        out = bytearray()
        writer(out, rec)
        assert bytes(out) == fastavro_body(rec)


def corrupted(data: bytes, rng: random.Random) -> bytes:
    """``data`` with one to four random corruptions: a byte changed, the tail cut, or random
    bytes inserted."""
    body = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not body:
            break
        op = rng.random()
        pos = rng.randrange(len(body))
        if op < 0.6:
            body[pos] = rng.randrange(256)
        elif op < 0.8:
            del body[pos:]
        else:
            body[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(body)


def test_native_reader_reads_what_the_python_reader_reads(
    generated: list[dict[str, Any]],
) -> None:
    """The C reader (streams/_avro_reader.c) against the generated Python reader: the same
    records on generated and edge-case data, the same outcome on fuzzed bytes (a record,
    or an error of the same family with the same message for data of the wrong shape)."""
    native = native_reader(PLAIN_V1)
    if native is None:
        pytest.skip("the optional C extension is not built (no C compiler)")
    python = compile_reader(PLAIN_V1, native=False)
    assert python is not None
    writer = compile_writer(PLAIN_V1)
    assert writer is not None
    bodies = []
    for rec in [*generated, *({**EventEncoder()._defaults, **r} for r in EDGE_RECORDS)]:
        out = bytearray()
        writer(out, rec)
        bodies.append(bytes(out))
        assert repr(native(bytes(out), 0, len(out))) == repr(python(bytes(out), 0, len(out)))
    families = {
        EOFError: "truncated",
        IndexError: "truncated",
        UnicodeDecodeError: "utf8",
        _AvroDataError: "data",
    }
    rng = random.Random(7)
    seen: dict[str, int] = {}
    for n in range(4000):
        body = corrupted(bodies[n % len(bodies)], rng)
        data = b"\x00\x00\x00\x03\xe9" + body  # read from an offset, as the decoder does
        outcome = []
        for read in (native, python):
            try:
                outcome.append(("ok", repr(read(data, 5, len(data)))))
            except (EOFError, IndexError, UnicodeDecodeError, _AvroDataError) as exc:
                detail = str(exc) if isinstance(exc, _AvroDataError) else ""
                outcome.append((families[type(exc)], detail))
        assert outcome[0] == outcome[1], (n, outcome)
        seen[outcome[0][0]] = seen.get(outcome[0][0], 0) + 1
    assert seen.get("ok", 0) > 100 and seen.get("truncated", 0) > 100, seen
    assert seen.get("data", 0) > 100 and seen.get("utf8", 0) > 10, seen


def test_native_columns_transpose_like_python() -> None:
    from streams.decoder import _columns, _python_columns

    records = [{"a": i, "b": str(i), "c": None} for i in range(5)]
    names = ("c", "a", "b")
    assert _columns(records, names) == _python_columns(records, names)
    assert _columns([], names) == [[], [], []]
    with pytest.raises(KeyError):
        _columns([{"a": 1}], ("a", "b"))


def test_native_reader_rejects_varints_beyond_64_bits() -> None:
    plan_schema = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "long"}]}
    eleven = b"\x80" * 10 + b"\x01"
    overflow = b"\xff" * 9 + b"\x7f"  # ten bytes, but 70 bits
    for read in (native_reader(plan_schema), compile_reader(plan_schema, native=False)):
        if read is None:
            continue
        with pytest.raises(_AvroDataError, match="longer than 10 bytes"):
            read(eleven, 0, len(eleven))
        with pytest.raises(_AvroDataError, match="overflows 64 bits"):
            read(overflow, 0, len(overflow))
        largest = b"\xfe" + b"\xff" * 8 + b"\x01"  # zigzag of 2**63 - 1
        assert read(largest, 0, len(largest)) == ({"a": 2**63 - 1}, 10)


def test_an_int_beyond_32_bits_is_a_dead_letter_not_a_failed_insert(decoder: EventDecoder) -> None:
    # tokens_in is an Avro int (a UInt32 column): fastavro reads 2**40 from a 64-bit varint
    # and the insert of the batch would then fail, stopping the worker.
    value = encode_event(event(tokens_in=7))
    at = value.index(b"\x02\x0e", 5)  # union branch 1, zigzag(7)
    with pytest.raises(InvalidMessage, match="int out of range") as info:
        decoder.decode(value[:at] + b"\x02" + _zigzag_varint(2**40) + value[at + 2 :])
    assert info.value.reason == "avro_error"


def test_compiler_declines_nested_records() -> None:
    dlq = _strip_logical_types(schema_info("dead_letter").raw())
    assert compile_writer(dlq) is None and compile_reader(dlq) is None
    assert compile_writer({"type": "string"}) is None


def test_fuzzed_bytes_never_escape_as_other_errors(
    decoder: EventDecoder, generated: list[dict[str, Any]]
) -> None:
    """Random corruptions: the compiled reader agrees with fastavro, errors are InvalidMessage."""
    rng = random.Random(42)
    reader = compile_reader(PLAIN_V1)
    assert reader is not None
    outcomes = {"ok": 0, "invalid": 0}
    for n in range(3000):
        body = corrupted(fastavro_body(generated[n % len(generated)]), rng)
        value = frame(1001, body)
        try:
            ref = schemaless_reader(io.BytesIO(bytes(body)), PARSED_V1)
            fo = io.BytesIO(bytes(body))
            schemaless_reader(fo, PARSED_V1)
            ref_ok = fo.tell() == len(body)
        except (Exception, StopIteration):  # fastavro fails in many ways: that is the point
            ref_ok, ref = False, None
        try:
            got = decoder.decode(value)
        except InvalidMessage as exc:
            assert exc.reason in InvalidMessage.REASONS
            outcomes["invalid"] += 1
            # stricter than fastavro, which reads a negative enum index as symbols[-1]
            # and than fastavro, which reads an Avro int of 64 bits
            strict = "enum index" in exc.detail or "int out of range" in exc.detail
            if ref_ok and exc.reason != "invalid_field" and not strict:
                pytest.fail(f"fastavro read case {n} but the decoder said {exc}")
            continue
        outcomes["ok"] += 1
        assert ref_ok, f"case {n}: decoder accepted what fastavro rejects"
        # repr: corrupted doubles may be NaN, which is never equal to itself
        assert repr({k: v for k, v in got.items() if k != "schema_id"}) == repr(ref)
    assert outcomes["ok"] > 100 and outcomes["invalid"] > 1000, outcomes


# --------------------------------------------------------------------------- malformed input


def reason_of(decoder: EventDecoder, value: bytes | None) -> str:
    with pytest.raises(InvalidMessage) as info:
        decoder.decode(value)
    return info.value.reason


def test_none_is_empty(decoder: EventDecoder) -> None:
    assert reason_of(decoder, None) == "empty"


def test_zero_bytes_is_empty(decoder: EventDecoder) -> None:
    assert reason_of(decoder, b"") == "empty"


def test_bad_magic_byte(decoder: EventDecoder) -> None:
    value = encode_event(event())
    assert reason_of(decoder, b"\x01" + value[1:]) == "bad_magic"
    with pytest.raises(InvalidMessage, match="0x7b"):
        decoder.decode(b'{"event_id": "x"}')


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_short_frame_is_truncated(decoder: EventDecoder, size: int) -> None:
    assert reason_of(decoder, b"\x00\x00\x00\x03\xe9"[:size]) == "truncated"


def test_unknown_schema_id(decoder: EventDecoder) -> None:
    value = frame(4242, encode_event(event())[5:])
    with pytest.raises(InvalidMessage) as info:
        decoder.decode(value)
    assert info.value.reason == "unknown_schema_id" and info.value.schema_id == 4242
    assert "4242" in info.value.detail


def test_header_only_is_truncated(decoder: EventDecoder) -> None:
    assert reason_of(decoder, frame(1001, b"")) == "truncated"


def test_every_truncation_is_reported_as_truncated(decoder: EventDecoder) -> None:
    value = encode_event(
        event(
            prompt="p" * 300, ttft_ms=1.0, tokens_in=3, features={"a": 1.0}, attributes={"b": "c"}
        )
    )
    for cut in range(5, len(value)):
        assert reason_of(decoder, value[:cut]) == "truncated", cut


def test_trailing_bytes_are_an_avro_error(decoder: EventDecoder) -> None:
    with pytest.raises(InvalidMessage, match="3 trailing bytes") as info:
        decoder.decode(encode_event(event()) + b"abc")
    assert info.value.reason == "avro_error"


def test_invalid_utf8(decoder: EventDecoder) -> None:
    value = encode_event(event(prompt="AAAA"))
    bad = value.replace(b"AAAA", b"A\xff\xfeA")
    assert reason_of(decoder, bad) == "invalid_utf8"


def test_over_the_size_limit() -> None:
    small = EventDecoder(LocalSchemaResolver(), max_message_bytes=1000, clock=clock)
    ok = encode_event(event(prompt="x" * 100))
    assert small.decode(ok)["prompt"] == "x" * 100
    big = encode_event(event(prompt="x" * 1000))
    with pytest.raises(InvalidMessage, match="over max_message_bytes=1000") as info:
        small.decode(big)
    assert info.value.reason == "too_large"


def test_bad_enum_index_is_an_avro_error(decoder: EventDecoder) -> None:
    rec = {**EventEncoder()._defaults, **event()}
    body = bytearray(fastavro_body(rec))
    # track is the first enum, right after three strings, the ts long and two strings
    plain_prefix = fastavro_body({**rec, "track": "stable"})
    idx = next(i for i in range(len(body)) if body[i] != plain_prefix[i])
    body[idx] = 40  # zigzag 20: no such symbol
    assert reason_of(decoder, frame(1001, bytes(body))) == "avro_error"


def test_bad_union_index_is_an_avro_error(decoder: EventDecoder) -> None:
    rec = {**EventEncoder()._defaults, **event(trace_id="T" * 10)}
    body = fastavro_body(rec)
    pos = body.index(b"\x14" + b"T" * 10) - 1  # the union index before the string
    assert body[pos] == 2
    broken = body[:pos] + b"\x08" + body[pos + 1 :]  # branch 4 of a 2-branch union
    assert reason_of(decoder, frame(1001, broken)) == "avro_error"


def test_other_schema_id_is_incompatible(decoder: EventDecoder) -> None:
    alert = schema_info("alert").raw()
    rec = {
        "alert_id": "a",
        "incident_id": "i",
        "ts": NOW_MS,
        "kind": "slo_burn",
        "rule": "r",
        "severity": "page",
        "state": "firing",
        "service": "s",
        "summary": "x",
    }
    value = frame(2001, fastavro_body(rec, parse_schema(alert)))
    assert reason_of(decoder, value) == "incompatible_schema"


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"event_id": ""}, "event_id"),
        ({"ts": 1_700_000_000}, "ts"),  # seconds, not milliseconds
        ({"ts": NOW_MS + 3 * 86_400_000}, "ts"),  # three days in the future
        ({"latency_ms": -1.0}, "latency_ms"),
        ({"latency_ms": math.nan}, "latency_ms"),
        ({"latency_ms": 1e12}, "latency_ms"),
        ({"ttft_ms": -5.0}, "ttft_ms"),
        ({"tokens_in": -1}, "tokens_in"),
        ({"tokens_out": -3}, "tokens_out"),
        ({"cost_usd": -0.01}, "cost_usd"),
        ({"cost_usd": math.inf}, "cost_usd"),
        ({"service": ""}, "service"),
        ({"deployment": "   "}, "deployment"),
        ({"model": "m" * 300}, "model"),
    ],
)
def test_invalid_field_values(decoder: EventDecoder, over: dict[str, Any], field: str) -> None:
    rec = {**EventEncoder()._defaults, **event(**over)}
    value = frame(1001, fastavro_body(rec))  # bypass the encoder's own checks
    with pytest.raises(InvalidMessage) as info:
        decoder.decode(value)
    assert info.value.reason == "invalid_field"
    assert info.value.detail.startswith(f"{field}:")
    # and the encoder refuses the same event, naming the same field
    with pytest.raises(ValueError, match=rf"^{field}:"):
        EventEncoder().encode(event(**over), NOW_MS)


def test_seconds_hint_in_ts_error(decoder: EventDecoder) -> None:
    rec = {**EventEncoder()._defaults, **event(ts=1_700_000_000)}
    with pytest.raises(InvalidMessage, match="seconds instead of milliseconds"):
        decoder.decode(frame(1001, fastavro_body(rec)))


def test_details_never_contain_the_payload(decoder: EventDecoder) -> None:
    secret = "4539 1488 0343 6467 is my card"
    cases = [
        encode_event(event(prompt=secret)).replace(b"my card", b"my \xff\xfe"),
        frame(
            1001, fastavro_body({**EventEncoder()._defaults, **event(prompt=secret, latency_ms=-1)})
        ),
        encode_event(event(prompt=secret))[:-3],
        encode_event(event(prompt=secret)) + b"zz",
    ]
    for value in cases:
        with pytest.raises(InvalidMessage) as info:
            decoder.decode(value)
        assert "4539" not in str(info.value) and "card" not in str(info.value)


def test_invalid_message_pickles() -> None:
    e = InvalidMessage("truncated", "ends early", 1001)
    back = pickle.loads(pickle.dumps(e))
    assert (back.reason, back.detail, back.schema_id) == ("truncated", "ends early", 1001)


def test_parse_header() -> None:
    assert parse_header(frame(7, b"body")) == 7
    with pytest.raises(InvalidMessage, match="bad_magic"):
        parse_header(b"\x05\x00\x00\x00\x07")
    with pytest.raises(InvalidMessage, match="truncated"):
        parse_header(b"\x00\x00")
    with pytest.raises(InvalidMessage, match="empty"):
        parse_header(b"")


def test_unknown_ids_are_remembered(decoder: EventDecoder) -> None:
    calls: list[int] = []

    class Counting(LocalSchemaResolver):
        def writer_schema(self, schema_id: int) -> dict[str, Any]:
            calls.append(schema_id)
            return super().writer_schema(schema_id)

    dec = EventDecoder(Counting(), clock=clock)
    batch = dec.decode_batch([frame(77, b"\x00")] * 5 + [encode_event(event())] * 3)
    assert len(batch) == 3 and len(batch.invalid) == 5
    assert calls == [77, 1001]


# --------------------------------------------------------------------------- encoding


def test_encoder_fills_event_id_and_ts(encoder: EventEncoder) -> None:
    ev = event()
    del ev["event_id"], ev["ts"]
    rec = encoder.normalize(ev, NOW_MS)
    assert uuid.UUID(rec["event_id"]).version == 4
    assert rec["ts"] == NOW_MS


@pytest.mark.parametrize(
    "ts",
    [
        NOW_MS,
        str(NOW_MS),
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T01:00:00+01:00",
        "2026-01-01T00:00:00",  # no offset: UTC
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2025, 12, 31, 19, 0, tzinfo=timezone(timedelta(hours=-5))),
        datetime(2026, 1, 1),  # naive: UTC
        float(NOW_MS),
    ],
)
def test_ts_forms(encoder: EventEncoder, ts: Any) -> None:
    assert encoder.normalize(event(ts=ts), NOW_MS)["ts"] == NOW_MS


def test_ts_errors() -> None:
    for bad in ("yesterday", True, [1], math.nan):
        with pytest.raises(ValueError, match=r"^ts:"):
            to_epoch_ms(bad)


def test_uuid_object_event_id(encoder: EventEncoder) -> None:
    u = uuid.uuid4()
    assert encoder.normalize(event(event_id=u), NOW_MS)["event_id"] == str(u)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"latency_ms": "fast"}, r"^latency_ms: expected number, got str"),
        ({"tokens_in": 1.5}, r"^tokens_in: expected null or int \(32-bit\)"),
        ({"tokens_out": 2**40}, r"^tokens_out: expected null or int \(32-bit\)"),
        ({"track": "blue"}, r"^track: expected one of stable, canary, shadow, baseline"),
        ({"status": None}, r"^status: required field is missing"),
        ({"features": {"a": "x"}}, r"^features: expected \['a'\] must be number, got str"),
        ({"attributes": {"a": 1}}, r"^attributes: expected \['a'\] must be string, got 1"),
        ({"attributes": ["a"]}, r"^attributes: expected a map \(dict\), got list"),
        ({"prompt": b"bytes"}, r"^prompt: expected null or string, got bytes"),
        ({"service": 12}, r"^service: expected string, got 12"),
        ({"latency": 3.0}, r"^latency: unknown field"),
    ],
)
def test_encoder_names_the_bad_field(
    encoder: EventEncoder, over: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        encoder.encode(event(**over), NOW_MS)


def test_missing_required_field(encoder: EventEncoder) -> None:
    ev = event()
    del ev["model"]
    with pytest.raises(ValueError, match=r"^model: required field is missing"):
        encoder.encode(ev, NOW_MS)


def test_encode_rejects_non_mappings(encoder: EventEncoder) -> None:
    with pytest.raises(ValueError, match="dict or a dataclass"):
        encoder.encode(["not", "an", "event"])


def test_encoded_frame_layout() -> None:
    value = encode_event(event())
    assert value[0] == 0
    assert struct.unpack(">I", value[1:5])[0] == 1001


def test_encoder_with_registry_id_uses_v1_schema() -> None:
    enc = EventEncoder(schema_id=77)  # an id only a registry knows
    value = enc.encode(event(), NOW_MS)
    assert parse_header(value) == 77
    got: Any = schemaless_reader(io.BytesIO(value[5:]), PARSED_V1)
    assert got["service"] == "chat-api"


def test_unknown_ids_are_asked_again_after_the_ttl() -> None:
    calls: list[int] = []

    class Counting(LocalSchemaResolver):
        def writer_schema(self, schema_id: int) -> dict[str, Any]:
            calls.append(schema_id)
            return super().writer_schema(schema_id)

    dec = EventDecoder(Counting(), clock=clock, unknown_id_ttl_s=0.0)
    dec.decode_batch([frame(77, b"\x00")] * 3)
    assert calls == [77, 77, 77]
