"""Confluent framing of Kafka record values: magic byte ``0``, a 4-byte big-endian schema
id, then the Avro body; and :class:`InvalidMessage`, what a record that cannot be read
becomes (it goes to the DLQ with a machine ``reason``; see :mod:`streams.codec`).

Example
-------
>>> parse_header(frame(1001, b"body"))
1001
"""

from __future__ import annotations

import struct
from typing import Any

MAGIC_BYTE = 0
HEADER = struct.Struct(">bI")
HEADER_SIZE = HEADER.size  # 5


class InvalidMessage(Exception):
    """A record that cannot be read (arroyo-style): it goes to the DLQ, the stream goes on.

    Parameters
    ----------
    reason : str
        Short machine code (see the module docstring for the list).
    detail : str
        Human explanation. Never contains the raw payload.
    schema_id : int | None
        The id from the frame header, when it was read.

    Examples
    --------
    >>> e = InvalidMessage("bad_magic", "first byte is 0x7b, expected 0x00")
    >>> e.reason, str(e)
    ('bad_magic', 'bad_magic: first byte is 0x7b, expected 0x00')
    """

    REASONS = frozenset(
        {
            "empty",
            "too_large",
            "truncated",
            "bad_magic",
            "unknown_schema_id",
            "incompatible_schema",
            "avro_error",
            "invalid_utf8",
            "invalid_field",
        }
    )

    def __init__(self, reason: str, detail: str, schema_id: int | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.schema_id = schema_id

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, self.detail, self.schema_id))


def frame(schema_id: int, body: bytes) -> bytes:
    """Prefix an Avro body with the Confluent header.

    >>> frame(1001, b"x")
    b'\\x00\\x00\\x00\\x03\\xe9x'
    """
    return HEADER.pack(MAGIC_BYTE, schema_id) + body


def parse_header(value: bytes) -> int:
    """The schema id of a Confluent-framed value.

    Raises
    ------
    InvalidMessage
        ``empty``, ``truncated`` (shorter than 5 bytes) or ``bad_magic``.

    >>> parse_header(b"\\x00\\x00\\x00\\x03\\xe9...")
    1001
    """
    if not value:
        raise InvalidMessage("empty", "value is empty (tombstone or zero bytes)")
    if value[0] != MAGIC_BYTE:
        raise InvalidMessage(
            "bad_magic",
            f"first byte is 0x{value[0]:02x}, expected 0x00 (not Confluent-framed Avro)",
        )
    if len(value) < HEADER_SIZE:
        raise InvalidMessage(
            "truncated", f"{len(value)} bytes, shorter than the 5-byte Confluent header"
        )
    schema_id: int = HEADER.unpack_from(value)[1]
    return schema_id
