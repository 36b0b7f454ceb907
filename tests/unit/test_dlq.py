"""DLQ records and dead_letters rows keep the original bytes, headers and position."""

from __future__ import annotations

from streams.dlq import DLQ_HEADER_PREFIX, MAX_DETAIL_CHARS, SKIPPED_RANGE, DeadLetter, dlq_rows


def _letter(**kw: object) -> DeadLetter:
    args: dict = {
        "topic": "tocsin.events.v1",
        "partition": 3,
        "offset": 1234,
        "key": b"svc",
        "value": b"\x00\x00\x00\x03\xe9\xff\xfe",
        "headers": [("traceparent", b"00-ab"), ("empty", None)],
        "reason": "truncated",
        "detail": "Avro body ended early",
        "message_ts_ms": 1_700_000_000_123,
        "now_ms": 1_700_000_001_000,
    }
    args.update(kw)
    return DeadLetter.from_message(**args)


def test_kafka_headers_keep_originals_first_then_reason_and_position() -> None:
    headers = _letter(worker_id="worker-0", schema_id=1001).kafka_headers()
    assert headers[:2] == [("traceparent", b"00-ab"), ("empty", b"")]
    added = dict(headers[2:])
    assert added[DLQ_HEADER_PREFIX + "reason"] == b"truncated"
    assert added[DLQ_HEADER_PREFIX + "detail"] == b"Avro body ended early"
    assert added[DLQ_HEADER_PREFIX + "topic"] == b"tocsin.events.v1"
    assert added[DLQ_HEADER_PREFIX + "partition"] == b"3"
    assert added[DLQ_HEADER_PREFIX + "offset"] == b"1234"
    assert added[DLQ_HEADER_PREFIX + "ts"] == b"1700000001000"
    assert added[DLQ_HEADER_PREFIX + "worker_id"] == b"worker-0"
    assert added[DLQ_HEADER_PREFIX + "schema_id"] == b"1001"


def test_row_keeps_original_bytes_exactly() -> None:
    dl = _letter(value=bytes(range(256)), key=None)
    row = dl.row()
    assert row["value"] == bytes(range(256))
    assert row["key"] is None
    assert row["kafka_partition"] == 3 and row["kafka_offset"] == 1234
    assert row["reason"] == "truncated"
    assert row["headers"]["traceparent"] == b"00-ab"
    assert row["headers"] == {"traceparent": b"00-ab", "empty": b""}


def test_missing_value_becomes_empty_bytes_and_detail_is_capped() -> None:
    dl = _letter(value=None, detail="x" * (MAX_DETAIL_CHARS + 50))
    assert dl.value == b""
    assert len(dl.detail) == MAX_DETAIL_CHARS


def test_skipped_range_names_the_range() -> None:
    dl = DeadLetter.skipped_range("t", 1, 100, 160, now_ms=0)
    assert dl.reason == SKIPPED_RANGE
    assert dl.offset == 100
    assert "100..159 (60 messages)" in dl.detail
    assert dict(dl.kafka_headers())[DLQ_HEADER_PREFIX + "skipped_end"] == b"160"
    assert dlq_rows([dl])[0]["value"] == b""
