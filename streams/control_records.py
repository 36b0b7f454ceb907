"""Avro codecs of the control-plane records: ``alert``, ``rollback_command``, ``rollback_ack``.

These topics carry a few records a minute, so plain fastavro is fast enough; what matters
is that every producer and consumer frames them the same way (Confluent framing with the
manifest's ids, or a registry's) and that a record that cannot be read is reported, never
half-applied. Timestamps are int epoch milliseconds, as in :mod:`streams.codec`.

Example
-------
>>> codec = RecordCodec("rollback_ack")
>>> ack = {"ack_id": "a1", "command_id": "c1", "ts": 1767225600000, "agent_id": "agent-1",
...        "status": "succeeded", "service": "chat-api", "deployment": "chat-api-v42",
...        "detail": None, "duration_ms": 12.5}
>>> value = codec.encode(ack)
>>> value[:5], codec.decode(value) == ack
(b'\\x00\\x00\\x00\\x0f\\xa1', True)
>>> codec.decode(b"garbage")
Traceback (most recent call last):
...
streams.framing.InvalidMessage: bad_magic: first byte is 0x67, expected 0x00 (Confluent framing)
"""

from __future__ import annotations

from collections.abc import Mapping
from io import BytesIO
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from streams.codec import HEADER, HEADER_SIZE, MAGIC_BYTE, InvalidMessage, _strip_logical_types
from streams.registry import LocalSchemaResolver, SchemaResolver

__all__ = ["RecordCodec", "ack_codec", "alert_codec", "command_codec"]


class RecordCodec:
    """Encode and decode one record type of ``schemas/manifest.json``.

    Parameters
    ----------
    name : str
        ``alert``, ``rollback_command`` or ``rollback_ack``.
    resolver : SchemaResolver | None
        Where writer schemas and the framing id come from (default: the local manifest).
    """

    def __init__(self, name: str, resolver: SchemaResolver | None = None) -> None:
        self.name = name
        self.resolver = resolver or LocalSchemaResolver()
        self.schema_id = self.resolver.schema_id(name)
        raw = self.resolver.writer_schema(self.schema_id)
        self._parsed = parse_schema(_strip_logical_types(raw))
        self._header = HEADER.pack(MAGIC_BYTE, self.schema_id)
        self._readers: dict[int, Any] = {self.schema_id: self._parsed}

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """Confluent-framed Avro bytes of ``record`` (ValueError when it does not fit)."""
        buf = BytesIO()
        buf.write(self._header)
        try:
            schemaless_writer(buf, self._parsed, dict(record))
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise ValueError(f"{self.name} record does not fit its schema: {exc}") from None
        return buf.getvalue()

    def decode(self, value: bytes | None) -> dict[str, Any]:
        """The record in ``value``; raises :class:`streams.codec.InvalidMessage` otherwise."""
        if not value:
            raise InvalidMessage("empty", "no value")
        if value[0] != MAGIC_BYTE:
            raise InvalidMessage(
                "bad_magic", f"first byte is 0x{value[0]:02x}, expected 0x00 (Confluent framing)"
            )
        if len(value) < HEADER_SIZE:
            raise InvalidMessage("truncated", "shorter than the 5-byte header")
        schema_id = HEADER.unpack_from(value)[1]
        writer = self._readers.get(schema_id)
        if writer is None:
            try:
                writer = parse_schema(_strip_logical_types(self.resolver.writer_schema(schema_id)))
            except Exception as exc:
                raise InvalidMessage(
                    "unknown_schema_id", f"schema id {schema_id}: {type(exc).__name__}", schema_id
                ) from None
            self._readers[schema_id] = writer
        buf = BytesIO(value[HEADER_SIZE:])
        try:
            record = schemaless_reader(buf, writer, self._parsed)
        except Exception as exc:
            raise InvalidMessage(
                "avro_error", f"{self.name}: {type(exc).__name__}", schema_id
            ) from None
        if buf.tell() != len(value) - HEADER_SIZE:
            raise InvalidMessage("avro_error", f"{self.name}: trailing bytes", schema_id)
        if not isinstance(record, dict):
            raise InvalidMessage("avro_error", f"{self.name}: not a record", schema_id)
        return record


_CODECS: dict[str, RecordCodec] = {}


def _codec(name: str) -> RecordCodec:
    codec = _CODECS.get(name)
    if codec is None:
        codec = _CODECS[name] = RecordCodec(name)
    return codec


def alert_codec() -> RecordCodec:
    """The shared codec of ``alert`` records (local manifest)."""
    return _codec("alert")


def command_codec() -> RecordCodec:
    """The shared codec of ``rollback_command`` records (local manifest)."""
    return _codec("rollback_command")


def ack_codec() -> RecordCodec:
    """The shared codec of ``rollback_ack`` records (local manifest)."""
    return _codec("rollback_ack")
