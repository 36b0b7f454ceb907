"""Confluent-framed Avro for inference events: encode one, decode batches.

Wire format (Confluent): byte 0 is the magic byte ``0``, bytes 1-4 the schema id (big-endian,
unsigned), then the Avro binary body written with that schema.

Decoding resolves the writer schema (looked up by id through a :class:`SchemaResolver`, then
cached) to the reader schema ``inference_event`` v1, so records from a newer producer schema
with added optional fields are readable. Every record that cannot be read raises, or is
reported in a batch as, an :class:`InvalidMessage` with a short machine ``reason``:

==================== ======================================================================
reason               meaning
==================== ======================================================================
empty                value is None (tombstone) or zero bytes
too_large            value is longer than ``max_message_bytes``
bad_magic            first byte is not 0 (not Confluent-framed: JSON, raw Avro, ...)
truncated            shorter than the 5-byte header, or the Avro body ends early
unknown_schema_id    the id is neither in the manifest nor in the registry
incompatible_schema  the writer schema cannot be resolved to InferenceEvent v1
avro_error           the body does not parse (bad union/enum index, trailing bytes...)
invalid_utf8         a string is not valid UTF-8
invalid_field        parses, but a value is wrong (event_id not a UUID, ts out of range, negative latency, blank service...)
==================== ======================================================================

``detail`` is human text that never contains the raw payload. A registry that cannot be
reached raises :class:`streams.registry.SchemaRegistryError` instead: that is not the
message's fault, so the caller must retry rather than dead-letter.

Time: ``ts`` is decoded as **int epoch milliseconds (UTC)**, not ``datetime``: no object per
record, and both sinks take it as is (clickhouse-connect inserts ints into a
``DateTime64(3)`` column as milliseconds; ``pyarrow.array(ts, pa.timestamp("ms", tz="UTC"))``
for Arrow inserts).

Speed: for the flat schemas tocsin writes, the Avro reader and writer are generated Python
specialised to the schema (:func:`compile_reader`, :func:`compile_writer`), checked
byte-for-byte against fastavro in the tests; other shapes (and schema resolution) use
fastavro. ``bench/bench_producer.py`` measures both against Confluent's serializers.

The code lives in one module per role; this module gathers their public names:

- :mod:`streams.framing`: the Confluent header, :class:`InvalidMessage`;
- :mod:`streams.event_fields`: the event's columns and field rules (time, ids, ranges);
- :mod:`streams.decoder`: :class:`EventDecoder` (batches to columns, the worker's path);
- :mod:`streams.encoder`: :class:`EventEncoder`, :func:`encode_event` (the SDK's path);
- :mod:`streams.avro_codegen`: generated Avro readers/writers and the optional C writer.

Example
-------
>>> event = {"event_id": "2b1f8a9e-3c4d-4e5f-8a6b-7c8d9e0f1a2b", "ts": 1767225600000,
...          "service": "chat-api", "deployment": "chat-api-v42", "track": "canary",
...          "model": "llama-3.1-8b", "model_version": "2025-01", "status": "ok",
...          "latency_ms": 812.5}
>>> value = encode_event(event)
>>> value[:5]
b'\\x00\\x00\\x00\\x03\\xe9'
>>> decoder = EventDecoder(LocalSchemaResolver())
>>> batch = decoder.decode_batch([value, b"{}", None])
>>> len(batch), batch.columns["service"], batch.columns["ts"], batch.good_index
(1, ['chat-api'], [1767225600000], [0])
>>> [(i, e.reason) for i, e in batch.invalid]
[(1, 'bad_magic'), (2, 'empty')]
"""

from __future__ import annotations

from streams.avro_codegen import build_write_plan, compile_reader, compile_writer, native_writer
from streams.decoder import DecodedBatch, EventDecoder, _strip_logical_types
from streams.encoder import EventEncoder, encode_event
from streams.event_fields import (
    DEFAULT_MAX_FUTURE_MS,
    EVENT_COLUMNS,
    EVENT_SCHEMA_ID,
    EVENT_SCHEMA_NAME,
    MAX_LATENCY_MS,
    MAX_NAME_CHARS,
    MIN_TS_MS,
    field_problem,
    random_uuid4,
    to_epoch_ms,
)
from streams.framing import HEADER, HEADER_SIZE, MAGIC_BYTE, InvalidMessage, frame, parse_header
from streams.registry import LocalSchemaResolver, SchemaResolver

__all__ = [
    "DEFAULT_MAX_FUTURE_MS",
    "EVENT_COLUMNS",
    "EVENT_SCHEMA_ID",
    "EVENT_SCHEMA_NAME",
    "HEADER",
    "HEADER_SIZE",
    "MAGIC_BYTE",
    "MAX_LATENCY_MS",
    "MAX_NAME_CHARS",
    "MIN_TS_MS",
    "DecodedBatch",
    "EventDecoder",
    "EventEncoder",
    "InvalidMessage",
    "LocalSchemaResolver",
    "SchemaResolver",
    "_strip_logical_types",
    "build_write_plan",
    "compile_reader",
    "compile_writer",
    "encode_event",
    "field_problem",
    "frame",
    "native_writer",
    "parse_header",
    "random_uuid4",
    "to_epoch_ms",
]
