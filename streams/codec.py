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

import math
import os
import re
import struct
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, date, datetime, timedelta
from io import BytesIO
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro._read_common import SchemaResolutionError

from schemas.loader import Manifest, UnknownSchemaError, schema_digest
from streams.registry import LocalSchemaResolver, SchemaResolver

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_SCHEMA_ID",
    "MAGIC_BYTE",
    "DecodedBatch",
    "EventDecoder",
    "EventEncoder",
    "InvalidMessage",
    "LocalSchemaResolver",
    "SchemaResolver",
    "encode_event",
    "frame",
    "parse_header",
    "to_epoch_ms",
]

MAGIC_BYTE = 0
HEADER = struct.Struct(">bI")
HEADER_SIZE = HEADER.size  # 5
EVENT_SCHEMA_NAME = "inference_event"
EVENT_SCHEMA_ID = 1001  # inference_event v1 in schemas/manifest.json

#: Columns of a decoded batch, in the order of the ClickHouse ``events`` table.
EVENT_COLUMNS: tuple[str, ...] = (
    "event_id",
    "ts",
    "service",
    "deployment",
    "track",
    "model",
    "model_version",
    "trace_id",
    "prompt",
    "response",
    "status",
    "error_type",
    "latency_ms",
    "ttft_ms",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "user_hash",
    "features",
    "attributes",
    "schema_id",
)

#: Earliest accepted event time (2000-01-01T00:00:00Z): catches seconds passed as ms.
MIN_TS_MS = 946_684_800_000
#: Latest accepted event time relative to the wall clock: producer clock skew allowance.
DEFAULT_MAX_FUTURE_MS = 24 * 3600 * 1000
#: Latencies above a day are not requests but bugs (units mix-ups).
MAX_LATENCY_MS = 24 * 3600 * 1000.0
#: Longest accepted service / deployment / model name.
MAX_NAME_CHARS = 256

_UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_uuid_match = _UUID_RE.fullmatch
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_INF = math.inf


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


@dataclass
class DecodedBatch:
    """Result of :meth:`EventDecoder.decode_batch`.

    Attributes
    ----------
    columns : dict[str, list]
        ``EVENT_COLUMNS`` -> one value per good record, in input order. ``ts`` is int epoch
        milliseconds UTC; ``features`` and ``attributes`` are dicts; optional fields are None
        when absent; ``schema_id`` is the writer schema id from the frame.
    good_index : list[int]
        Input position of each good record.
    invalid : list[tuple[int, InvalidMessage]]
        Input position and error of each record that could not be read.
    """

    columns: dict[str, list[Any]]
    good_index: list[int] = field(default_factory=list)
    invalid: list[tuple[int, InvalidMessage]] = field(default_factory=list)

    def __len__(self) -> int:
        """Number of good records."""
        return len(self.good_index)

    def rows(self) -> list[dict[str, Any]]:
        """The good records as dicts (convenient in tests, slower than the columns)."""
        names = list(self.columns)
        return [
            dict(zip(names, vals, strict=True)) for vals in zip(*self.columns.values(), strict=True)
        ]


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


def to_epoch_ms(value: Any, field_name: str = "ts") -> int:
    """Epoch milliseconds from an int (ms), a datetime or an ISO-8601 string.

    Naive datetimes and ISO strings without an offset are taken as UTC.

    >>> to_epoch_ms(1767225600000)
    1767225600000
    >>> to_epoch_ms("2026-01-01T00:00:00Z"), to_epoch_ms("2026-01-01T01:00:00+01:00")
    (1767225600000, 1767225600000)
    >>> to_epoch_ms(datetime(2026, 1, 1, tzinfo=UTC))
    1767225600000
    >>> to_epoch_ms("yesterday")
    Traceback (most recent call last):
    ...
    ValueError: ts: 'yesterday' is not ISO-8601 (e.g. 2026-01-01T12:00:00Z) nor epoch milliseconds
    """
    if isinstance(value, bool):
        raise ValueError(f"{field_name}: expected epoch milliseconds, a datetime or ISO-8601")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{field_name}: {value} is not a finite time")
        return round(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return (value - _EPOCH) // _MS
    if isinstance(value, date):
        return (datetime(value.year, value.month, value.day, tzinfo=UTC) - _EPOCH) // _MS
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            shown = text if len(text) <= 40 else text[:40] + "..."
            raise ValueError(
                f"{field_name}: {shown!r} is not ISO-8601 (e.g. 2026-01-01T12:00:00Z) "
                "nor epoch milliseconds"
            ) from None
        return to_epoch_ms(parsed, field_name)
    raise ValueError(
        f"{field_name}: expected epoch milliseconds, a datetime or ISO-8601, "
        f"got {type(value).__name__}"
    )


def random_uuid4() -> str:
    """A random (version 4) UUID as text; ~3x faster than ``str(uuid.uuid4())``.

    >>> u = uuid.UUID(random_uuid4())
    >>> u.version, u.variant == uuid.RFC_4122
    (4, True)
    """
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def _ms_to_iso(ms: int) -> str:
    try:
        return (_EPOCH + ms * _MS).strftime("%Y-%m-%dT%H:%M:%SZ")
    except OverflowError:
        return "out of range"


def field_problem(rec: Mapping[str, Any], now_ms: int, max_future_ms: int) -> str | None:
    """Semantic check of one inference event; ``"field: why"`` or None when it is fine.

    Shared by the encoder and the decoder so both accept exactly the same events. Types are
    Avro's job; this checks values.

    >>> field_problem({"event_id": "nope"}, 0, 0)
    "event_id: 'nope' is not a UUID (e.g. 2b1f8a9e-3c4d-4e5f-8a6b-7c8d9e0f1a2b)"
    """
    eid = rec["event_id"]
    if type(eid) is not str or _uuid_match(eid) is None:
        shown = repr(eid) if type(eid) is not str or len(eid) <= 40 else repr(eid[:40] + "...")
        return f"event_id: {shown} is not a UUID (e.g. 2b1f8a9e-3c4d-4e5f-8a6b-7c8d9e0f1a2b)"
    ts = rec["ts"]
    if not MIN_TS_MS <= ts <= now_ms + max_future_ms:
        if ts < MIN_TS_MS:
            hint = " (did you pass seconds instead of milliseconds?)" if ts > 0 else ""
            return f"ts: {ts} ({_ms_to_iso(ts)}) is before 2000-01-01{hint}"
        return f"ts: {ts} ({_ms_to_iso(ts)}) is more than {max_future_ms} ms in the future"
    for name in ("service", "deployment", "model"):
        v = rec[name]
        if not v or len(v) > MAX_NAME_CHARS or v.isspace():
            return f"{name}: must be a non-blank string of at most {MAX_NAME_CHARS} characters"
    lat = rec["latency_ms"]
    if not 0.0 <= lat <= MAX_LATENCY_MS:
        return f"latency_ms: {lat} is not between 0 and {MAX_LATENCY_MS:.0f} (one day)"
    v = rec["ttft_ms"]
    if v is not None and not 0.0 <= v <= MAX_LATENCY_MS:
        return f"ttft_ms: {v} is not between 0 and {MAX_LATENCY_MS:.0f} (one day)"
    v = rec["tokens_in"]
    if v is not None and v < 0:
        return f"tokens_in: {v} is negative"
    v = rec["tokens_out"]
    if v is not None and v < 0:
        return f"tokens_out: {v} is negative"
    v = rec["cost_usd"]
    if v is not None and not 0.0 <= v < _INF:
        return f"cost_usd: {v} is not a finite amount >= 0"
    return None


def _strip_logical_types(schema: Any) -> Any:
    """A copy of a JSON schema without ``logicalType``: the codec converts ``ts`` itself.

    fastavro converts by the *writer's* logical type, building a datetime per record.
    """
    if isinstance(schema, dict):
        return {k: _strip_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_strip_logical_types(v) for v in schema]
    return schema


def _without_docs(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_docs(v) for k, v in schema.items() if k != "doc"}
    if isinstance(schema, list):
        return [_without_docs(v) for v in schema]
    return schema


def _schema_name(schema: Mapping[str, Any]) -> str:
    name = str(schema.get("name", "?"))
    ns = schema.get("namespace")
    return f"{ns}.{name}" if ns and "." not in name else name


@dataclass(frozen=True)
class _WriterEntry:
    writer: dict[str, Any]  # parsed, logical types stripped
    reader: dict[str, Any] | None  # None = identical to the reader: skip resolution
    name: str
    # compiled reader, only when writer == reader (no resolution needed)
    fast: Callable[[bytes, int, int], tuple[dict[str, Any], int]] | None = None


class EventDecoder:
    """Decode Confluent-framed inference events, one or a batch at a time.

    Parameters
    ----------
    resolver : SchemaResolver
        Where writer schemas come from (:class:`LocalSchemaResolver` or a registry).
    max_message_bytes : int
        Longer values are ``too_large``.
    max_future_ms : int
        How far past the wall clock ``ts`` may be (producer clock skew).
    manifest : Manifest | None
        Where the reader schema (inference_event v1) comes from; None = the shipped one.
    clock : Callable[[], float]
        Wall clock in seconds (for tests).
    unknown_id_ttl_s : float
        How long an unknown schema id is answered from memory before the resolver is asked
        again (a bogus id in every record must not become a registry request per record).

    Examples
    --------
    >>> dec = EventDecoder(LocalSchemaResolver())
    >>> dec.decode(b"\\x00\\x00\\x00\\x00\\x07")
    Traceback (most recent call last):
    ...
    streams.codec.InvalidMessage: unknown_schema_id: schema id 7 is not in manifest.json (known ids: ...)
    """

    def __init__(
        self,
        resolver: SchemaResolver,
        max_message_bytes: int = 1_048_576,
        *,
        max_future_ms: int = DEFAULT_MAX_FUTURE_MS,
        manifest: Manifest | None = None,
        clock: Callable[[], float] = time.time,
        unknown_id_ttl_s: float = 60.0,
    ) -> None:
        self.resolver = resolver
        self.max_message_bytes = max_message_bytes
        self.max_future_ms = max_future_ms
        self._clock = clock
        manifest = manifest if manifest is not None else Manifest.default()
        info = manifest.info(EVENT_SCHEMA_NAME, 1)
        raw_reader = info.raw()
        self._reader_digest = schema_digest(_without_docs(raw_reader))
        self._reader: dict[str, Any] = parse_schema(_strip_logical_types(raw_reader))  # type: ignore[assignment]
        self._reader_name = _schema_name(raw_reader)
        self._entries: dict[int, _WriterEntry] = {}
        # id -> (when, why): an id unknown now may be registered a moment later (registry
        # replication), so it is asked again after unknown_id_ttl_s.
        self._unknown: dict[int, tuple[float, str]] = {}
        self.unknown_id_ttl_s = unknown_id_ttl_s

    def _entry(self, schema_id: int) -> _WriterEntry:
        entry = self._entries.get(schema_id)
        if entry is not None:
            return entry
        known_bad = self._unknown.get(schema_id)
        if known_bad is not None and time.monotonic() - known_bad[0] < self.unknown_id_ttl_s:
            raise InvalidMessage("unknown_schema_id", known_bad[1], schema_id)
        try:
            raw = self.resolver.writer_schema(schema_id)
        except UnknownSchemaError as exc:
            detail = str(exc)
            if len(self._unknown) >= 10_000:  # bounded: ids come from untrusted input
                self._unknown.clear()
            self._unknown[schema_id] = (time.monotonic(), detail)
            raise InvalidMessage("unknown_schema_id", detail, schema_id) from None
        name = _schema_name(raw)
        try:
            writer: dict[str, Any] = parse_schema(_strip_logical_types(raw))  # type: ignore[assignment]
        except Exception as exc:  # fastavro raises several types for a bad schema
            raise InvalidMessage(
                "incompatible_schema",
                f"schema id {schema_id} does not parse: {type(exc).__name__}",
                schema_id,
            ) from None
        same = schema_digest(_without_docs(raw)) == self._reader_digest
        entry = _WriterEntry(
            writer=writer,
            reader=None if same else self._reader,
            name=name,
            fast=compile_reader(_strip_logical_types(raw)) if same else None,
        )
        self._entries[schema_id] = entry
        return entry

    def _decode(self, value: bytes | None, now_ms: int) -> dict[str, Any]:
        if not value:
            raise InvalidMessage("empty", "value is None (tombstone) or zero bytes")
        n = len(value)
        if n > self.max_message_bytes:
            raise InvalidMessage(
                "too_large", f"{n} bytes, over max_message_bytes={self.max_message_bytes}"
            )
        if value[0] != MAGIC_BYTE:
            raise InvalidMessage(
                "bad_magic",
                f"first byte is 0x{value[0]:02x}, expected 0x00 (not Confluent-framed Avro)",
            )
        if n < HEADER_SIZE:
            raise InvalidMessage(
                "truncated", f"{n} bytes, shorter than the 5-byte Confluent header"
            )
        schema_id: int = HEADER.unpack_from(value)[1]
        entry = self._entries.get(schema_id) or self._entry(schema_id)
        if entry.fast is not None:
            rec, end = self._read_fast(entry.fast, value, n, schema_id)
        else:
            rec, end = self._read_fastavro(entry, value, n, schema_id)
        if end != n:
            raise InvalidMessage(
                "avro_error",
                f"{n - end} trailing bytes after the Avro body (wrong schema id?)",
                schema_id,
            )
        problem = field_problem(rec, now_ms, self.max_future_ms)
        if problem is not None:
            raise InvalidMessage("invalid_field", problem, schema_id)
        rec["schema_id"] = schema_id
        return rec

    def _read_fast(
        self,
        read: Callable[[bytes, int, int], tuple[dict[str, Any], int]],
        value: bytes,
        n: int,
        schema_id: int,
    ) -> tuple[dict[str, Any], int]:
        try:
            return read(value, HEADER_SIZE, n)
        except UnicodeDecodeError as exc:
            raise InvalidMessage(
                "invalid_utf8", f"a string is not valid UTF-8 ({exc.reason})", schema_id
            ) from None
        except (IndexError, EOFError):
            raise InvalidMessage(
                "truncated", f"Avro body ends early ({n - HEADER_SIZE} bytes)", schema_id
            ) from None
        except _AvroDataError as exc:
            raise InvalidMessage(
                "avro_error", f"body does not parse with schema {schema_id}: {exc}", schema_id
            ) from None
        except (ValueError, TypeError, OverflowError, MemoryError) as exc:
            raise InvalidMessage(
                "avro_error",
                f"body does not parse with schema {schema_id}: {type(exc).__name__}",
                schema_id,
            ) from None

    def _read_fastavro(
        self, entry: _WriterEntry, value: bytes, n: int, schema_id: int
    ) -> tuple[dict[str, Any], int]:
        fo = BytesIO(value)
        fo.seek(HEADER_SIZE)
        try:
            rec: dict[str, Any] = schemaless_reader(fo, entry.writer, entry.reader)  # type: ignore[assignment]
        except UnicodeDecodeError as exc:
            raise InvalidMessage(
                "invalid_utf8", f"a string is not valid UTF-8 ({exc.reason})", schema_id
            ) from None
        except SchemaResolutionError:
            raise InvalidMessage(
                "incompatible_schema",
                f"writer schema {schema_id} ({entry.name}) cannot be read as {self._reader_name}",
                schema_id,
            ) from None
        except (EOFError, StopIteration):
            raise InvalidMessage(
                "truncated", f"Avro body ends early ({n - HEADER_SIZE} bytes)", schema_id
            ) from None
        except (ValueError, IndexError, KeyError, TypeError, OverflowError, MemoryError) as exc:
            if fo.tell() >= n:
                raise InvalidMessage(
                    "truncated", f"Avro body ends early ({n - HEADER_SIZE} bytes)", schema_id
                ) from None
            raise InvalidMessage(
                "avro_error",
                f"body does not parse with schema {schema_id} at byte {fo.tell()}: "
                f"{type(exc).__name__}",
                schema_id,
            ) from None
        return rec, fo.tell()

    def decode(self, value: bytes | None) -> dict[str, Any]:
        """Decode one value into a dict with the ``EVENT_COLUMNS`` keys.

        Raises
        ------
        InvalidMessage
            When the value cannot be read (see the reasons in the module docstring).
        SchemaRegistryError
            When the registry cannot be reached (transient: retry, do not dead-letter).
        """
        return self._decode(value, int(self._clock() * 1000))

    def decode_batch(self, values: Sequence[bytes | None]) -> DecodedBatch:
        """Decode a batch into columns; bad records are collected, not raised.

        Raises
        ------
        SchemaRegistryError
            When the registry cannot be reached (transient: retry the whole batch).
        """
        now_ms = int(self._clock() * 1000)
        decode = self._decode
        good: list[dict[str, Any]] = []
        good_index: list[int] = []
        invalid: list[tuple[int, InvalidMessage]] = []
        for i, value in enumerate(values):
            try:
                rec = decode(value, now_ms)
            except InvalidMessage as exc:
                invalid.append((i, exc))
                continue
            good.append(rec)
            good_index.append(i)
        columns = {name: [r[name] for r in good] for name in EVENT_COLUMNS}
        return DecodedBatch(columns=columns, good_index=good_index, invalid=invalid)


# --------------------------------------------------------------------------- encoding


def _type_problem(value: Any, avro_type: Any) -> str | None:
    """Why ``value`` does not fit ``avro_type`` (a JSON schema fragment), or None."""
    if isinstance(avro_type, list):
        problems = [_type_problem(value, branch) for branch in avro_type]
        if any(p is None for p in problems):
            return None
        text = [p for p in problems if p is not None and p.startswith("text encodable")]
        if text:
            return text[0]
        return " or ".join(_type_label(b) for b in avro_type) + _got(value)
    if isinstance(avro_type, dict):
        kind = avro_type["type"]
        if kind == "enum":
            symbols = avro_type["symbols"]
            if value in symbols:
                return None
            return f"one of {', '.join(symbols)}" + _got(value)
        if kind == "map":
            if not isinstance(value, Mapping):
                return "a map (dict)" + _got(value)
            for k, v in value.items():
                if not isinstance(k, str):
                    return f"map keys must be strings, got {type(k).__name__}"
                sub = _type_problem(v, avro_type["values"])
                if sub is not None:
                    return f"[{k!r}] must be {sub}"
            return None
        if kind == "array":
            if not isinstance(value, list | tuple):
                return "a list" + _got(value)
            for i, v in enumerate(value):
                sub = _type_problem(v, avro_type["items"])
                if sub is not None:
                    return f"[{i}] must be {sub}"
            return None
        if kind == "record":
            return None if isinstance(value, Mapping) else "a record (dict)" + _got(value)
        return _type_problem(value, kind)
    ok = {
        "null": lambda v: v is None,
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool) and -(2**31) <= v < 2**31,
        "long": lambda v: isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63,
        "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "double": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "bytes": lambda v: isinstance(v, bytes | bytearray),
    }.get(avro_type)
    if ok is None:
        return None
    if ok(value):
        if avro_type == "string" and not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError as exc:  # a lone surrogate: say where, not what
                return f"text encodable as UTF-8 (lone surrogate at position {exc.start})"
        return None
    return _type_label(avro_type) + _got(value)


def _type_label(avro_type: Any) -> str:
    if isinstance(avro_type, dict):
        return str(avro_type.get("name") or avro_type["type"])
    if isinstance(avro_type, list):
        return " or ".join(_type_label(b) for b in avro_type)
    return {
        "int": "int (32-bit)",
        "long": "int (64-bit)",
        "double": "number",
        "float": "number",
    }.get(str(avro_type), str(avro_type))


def _got(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f", got {value!r}"
    return f", got {type(value).__name__}"


_DATACLASS_FIELDS: dict[type, tuple[str, ...]] = {}
_WRITE_ERRORS = (TypeError, ValueError, AttributeError, KeyError, OverflowError, struct.error)


class EventEncoder:
    """Validate and encode inference events into Confluent-framed Avro.

    Parameters
    ----------
    schema_id : int
        The id written in the frame header (the manifest's 1001, or a registry's id).
    schema : dict | None
        The writer schema as JSON; None = the local schema registered under ``schema_id`` in
        the manifest, or inference_event v1 when the id is not in the manifest (registry ids).
    max_future_ms : int
        How far past the wall clock ``ts`` may be.
    native : bool
        Use the optional C writer (``streams._avro_writer``) when it is built; the generated
        Python writer otherwise. Both write the same bytes.

    Examples
    --------
    >>> enc = EventEncoder()
    >>> rec = enc.normalize({"service": "chat-api", "deployment": "d1", "track": "stable",
    ...                      "model": "m", "model_version": "1", "status": "ok",
    ...                      "latency_ms": 5, "ts": "2026-01-01T00:00:00Z"})
    >>> rec["ts"], len(rec["event_id"]), rec["features"]
    (1767225600000, 36, {})
    >>> enc.normalize({**rec, "latency_ms": "fast"})
    Traceback (most recent call last):
    ...
    ValueError: latency_ms: expected number, got str
    """

    def __init__(
        self,
        schema_id: int = EVENT_SCHEMA_ID,
        schema: Mapping[str, Any] | None = None,
        *,
        manifest: Manifest | None = None,
        max_future_ms: int = DEFAULT_MAX_FUTURE_MS,
        native: bool = True,
    ) -> None:
        manifest = manifest if manifest is not None else Manifest.default()
        if schema is None:
            try:
                schema = manifest.info(schema_id=schema_id).raw()
            except UnknownSchemaError:
                schema = manifest.info(EVENT_SCHEMA_NAME, 1).raw()
        self.schema_id = schema_id
        self.max_future_ms = max_future_ms
        self._raw = dict(schema)
        plain = _strip_logical_types(self._raw)
        self._parsed = parse_schema(plain)
        self._compiled = compile_writer(plain)
        self._plan = build_write_plan(plain)
        self._native = native_writer() if native and self._plan is not None else None
        self._header = HEADER.pack(MAGIC_BYTE, schema_id)
        self._fields: dict[str, Any] = {f["name"]: f["type"] for f in self._raw["fields"]}
        self._field_set = frozenset(self._fields)
        self.field_names: tuple[str, ...] = tuple(self._fields)
        missing = {"event_id", "ts", *EVENT_COLUMNS} - {"schema_id"} - self._field_set
        if missing:
            raise ValueError(f"schema {schema_id} lacks inference-event fields {sorted(missing)}")
        self._defaults = {f["name"]: f["default"] for f in self._raw["fields"] if "default" in f}
        self._required_set = frozenset(
            f["name"]
            for f in self._raw["fields"]
            if "default" not in f and f["name"] not in ("event_id", "ts")
        )

    def normalize(
        self, event: Mapping[str, Any] | Any, now_ms: int | None = None
    ) -> dict[str, Any]:
        """A complete, checked record from an event dict or dataclass.

        Fills ``event_id`` (uuid4) and ``ts`` (now) when missing, converts ``ts`` from a
        datetime or ISO-8601 string, fills optional fields with their defaults.

        Raises
        ------
        ValueError
            Naming the first field that is missing, unknown, mistyped or out of range.
        """
        if type(event) is not dict and not isinstance(event, Mapping):
            if is_dataclass(event) and not isinstance(event, type):
                names = _DATACLASS_FIELDS.get(type(event))
                if names is None:
                    names = _DATACLASS_FIELDS[type(event)] = tuple(f.name for f in fields(event))
                event = {name: getattr(event, name) for name in names}
            else:
                raise ValueError(f"event must be a dict or a dataclass, got {type(event).__name__}")
        extra = event.keys() - self._field_set
        if extra:
            name = sorted(map(str, extra))[0]
            raise ValueError(
                f"{name}: unknown field (not in {_schema_name(self._raw)}); "
                "put free-form values in 'attributes' (strings) or 'features' (numbers)"
            )
        missing = self._required_set - event.keys()
        if missing:
            raise ValueError(f"{sorted(missing)[0]}: required field is missing")
        rec = {**self._defaults, **event}
        if now_ms is None:
            now_ms = int(time.time() * 1000)
        eid = rec.get("event_id")
        if eid is None:
            rec["event_id"] = random_uuid4()
        elif isinstance(eid, uuid.UUID):
            rec["event_id"] = str(eid)
        ts = rec.get("ts")
        if ts is None:
            rec["ts"] = now_ms
        elif type(ts) is not int:
            rec["ts"] = to_epoch_ms(ts)
        for name in ("track", "status"):
            v = rec[name]
            if type(v) is not str and hasattr(v, "value"):  # enum.Enum members
                rec[name] = v.value
        try:
            problem = field_problem(rec, now_ms, self.max_future_ms)
        except TypeError as exc:  # a mistyped value: name the field
            raise self._explain(rec, exc) from None
        if problem is not None:
            raise ValueError(problem)
        return rec

    def _explain(self, rec: Mapping[str, Any], exc: BaseException) -> ValueError:
        for name, avro_type in self._fields.items():
            if name in self._required_set and rec.get(name) is None:
                return ValueError(f"{name}: required field is missing")
            problem = _type_problem(rec.get(name), avro_type)
            if problem is not None:
                return ValueError(f"{name}: expected {problem}")
        # no field identified: name the error type only (its text may quote the data)
        return ValueError(f"event does not fit the Avro schema ({type(exc).__name__})")

    def prepare(
        self, event: Mapping[str, Any] | Any, now_ms: int | None = None
    ) -> tuple[dict[str, Any], bytes]:
        """Validate, normalize and encode one event: the record and its framed bytes.

        Raises
        ------
        ValueError
            Naming the offending field.
        """
        rec = self.normalize(event, now_ms)
        try:
            return rec, self.encode_record(rec)
        except _WRITE_ERRORS as exc:
            raise self._explain(rec, exc) from None

    def encode(self, event: Mapping[str, Any] | Any, now_ms: int | None = None) -> bytes:
        """Validate, normalize and encode one event (header + Avro body).

        Raises
        ------
        ValueError
            Naming the offending field.
        """
        return self.prepare(event, now_ms)[1]

    def encode_record(self, rec: Mapping[str, Any]) -> bytes:
        """Encode an already-normalized record (no checks beyond Avro's own).

        Raises whatever the Avro writer raises on a mistyped value (TypeError, ValueError,
        KeyError, ...); :meth:`encode` turns that into a ValueError naming the field.
        """
        native, plan = self._native, self._plan
        if native is not None and plan is not None:
            return native(self._header, plan, rec)
        compiled = self._compiled
        if compiled is not None:
            out = bytearray(self._header)
            compiled(out, rec)
            return bytes(out)
        buf = BytesIO()
        buf.write(self._header)
        schemaless_writer(buf, self._parsed, rec)
        return buf.getvalue()

    def encode_many(self, events: Iterable[Mapping[str, Any] | Any]) -> list[bytes]:
        """Encode several events (one wall-clock reading for the whole call)."""
        now_ms = int(time.time() * 1000)
        encode = self.encode
        return [encode(e, now_ms) for e in events]


_ENCODERS: dict[int, EventEncoder] = {}


def encode_event(event: Mapping[str, Any] | Any, schema_id: int = EVENT_SCHEMA_ID) -> bytes:
    """Validate and encode one event with the local schema registered under ``schema_id``.

    Raises
    ------
    ValueError
        Naming the offending field.

    >>> encode_event({"service": "s"})
    Traceback (most recent call last):
    ...
    ValueError: deployment: required field is missing
    """
    enc = _ENCODERS.get(schema_id)
    if enc is None:
        enc = _ENCODERS[schema_id] = EventEncoder(schema_id)
    return enc.encode(event)


# --------------------------------------------------------------------------- compiled codecs
#
# fastavro interprets the schema for every record (~0.7 µs per field here). For the flat record
# shapes tocsin writes (primitives, enums, [null, X] unions, maps and arrays of those) we
# generate a Python writer and reader specialised to the schema once: on ~1.2 KB events the
# writer took ~8 µs vs ~18 µs and the reader ~12 µs vs ~17 µs of CPU on the dev machine.
# Anything else (nested records, other unions) returns None and fastavro is used.
# The tests check byte-for-byte equality with fastavro on generated, edge-case and fuzzed data.


class _AvroDataError(ValueError):
    """Bytes that cannot be Avro data of the schema (bad union/enum index, negative length)."""


class _Unsupported(Exception):
    """The schema shape is outside what the compiler handles: use fastavro."""


_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "string", "bytes"})
_SMALL_LONGS = 16384


def _zigzag_varint(n: int) -> bytes:
    if not -(1 << 63) <= n < (1 << 63):
        raise OverflowError(f"{n} does not fit a 64-bit long")
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


_SMALL = tuple(_zigzag_varint(i) for i in range(_SMALL_LONGS))


def _long_bytes(n: int) -> bytes:
    if 0 <= n < _SMALL_LONGS:
        return _SMALL[n]
    return _zigzag_varint(n)


def _read_long(b: bytes, pos: int) -> tuple[int, int]:
    shift = 0
    z = 0
    while True:
        c = b[pos]
        pos += 1
        z |= (c & 0x7F) << shift
        if c < 0x80:
            return (z >> 1) ^ -(z & 1), pos
        shift += 7
        if shift > 63:
            raise _AvroDataError("varint longer than 10 bytes")


def _normalize_type(t: Any) -> Any:
    if isinstance(t, dict) and t.get("type") in _PRIMITIVES and len(t) == 1:
        return t["type"]
    return t


class _CodeGen:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}

    def const(self, value: Any) -> str:
        name = f"K{len(self.consts)}"
        self.consts[name] = value
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)


def _is_simple(t: Any) -> bool:
    t = _normalize_type(t)
    return (isinstance(t, str) and t in _PRIMITIVES) or (
        isinstance(t, dict) and t.get("type") == "enum"
    )


def _nullable_union(t: list[Any]) -> tuple[int, Any]:
    """(index of the null branch, the other branch) of a ``["null", T]`` union.

    >>> _nullable_union(["null", "string"])
    (0, 'string')
    """
    branches = [_normalize_type(b) for b in t]
    if len(branches) != 2 or "null" not in branches:
        raise _Unsupported("union")
    ni = branches.index("null")
    other = branches[1 - ni]
    if isinstance(other, list):
        raise _Unsupported("nested union")
    return ni, other


def _gen_write(g: _CodeGen, t: Any, var: str, ind: int, depth: int = 0) -> None:
    t = _normalize_type(t)
    if isinstance(t, str):
        if t == "null":
            g.emit(ind, f"if {var} is not None: raise TypeError('null')")
        elif t == "boolean":
            g.emit(ind, f"if {var} is True: o += b'\\x01'")
            g.emit(ind, f"elif {var} is False: o += b'\\x00'")
            g.emit(ind, "else: raise TypeError('boolean')")
        elif t == "int":
            g.emit(ind, f"if not -2147483648 <= {var} <= 2147483647: raise OverflowError('int')")
            g.emit(ind, f"o += LB({var})")
        elif t == "long":
            g.emit(ind, f"o += LB({var})")
        elif t == "float":
            g.emit(ind, f"o += PF({var})")
        elif t == "double":
            g.emit(ind, f"o += PD({var})")
        elif t == "string":
            g.emit(ind, f"s = {var}.encode(); n = len(s)")
            g.emit(ind, "o += SM[n] if n < 16384 else LB(n); o += s")
        elif t == "bytes":
            g.emit(ind, f"o += LB(len({var})); o += {var}")
        else:
            raise _Unsupported(t)
        return
    if isinstance(t, list):
        ni, other = _nullable_union(t)
        g.emit(ind, f"if {var} is None: o += {g.const(_long_bytes(ni))}")
        g.emit(ind, "else:")
        g.emit(ind + 1, f"o += {g.const(_long_bytes(1 - ni))}")
        _gen_write(g, other, var, ind + 1, depth)
        return
    if isinstance(t, dict):
        kind = t.get("type")
        if kind == "enum":
            table = {sym: _long_bytes(i) for i, sym in enumerate(t["symbols"])}
            g.emit(ind, f"o += {g.const(table)}[{var}]")
            return
        if kind in ("map", "array") and depth == 0:
            inner = t["values"] if kind == "map" else t["items"]
            if not _is_simple(inner):
                raise _Unsupported("nested container")
            g.emit(ind, f"if {var}:")
            g.emit(ind + 1, f"o += LB(len({var}))")
            if kind == "map":
                g.emit(ind + 1, f"for mk, mv in {var}.items():")
                g.emit(ind + 2, "s = mk.encode(); n = len(s)")
                g.emit(ind + 2, "o += SM[n] if n < 16384 else LB(n); o += s")
            else:
                g.emit(ind + 1, f"for mv in {var}:")
            _gen_write(g, inner, "mv", ind + 2, depth + 1)
            g.emit(ind, "o += b'\\x00'")
            return
    raise _Unsupported(repr(t)[:40])


def _gen_read_long(g: _CodeGen, target: str, ind: int) -> None:
    # one- and two-byte varints inline (lengths up to 8191), longer ones in _read_long
    g.emit(ind, "c = b[pos]")
    g.emit(ind, "if c < 128:")
    g.emit(ind + 1, f"pos += 1; {target} = (c >> 1) ^ -(c & 1)")
    g.emit(ind, "else:")
    g.emit(ind + 1, "d = b[pos + 1]")
    g.emit(ind + 1, "if d < 128:")
    g.emit(ind + 2, f"z = (c & 127) | (d << 7); pos += 2; {target} = (z >> 1) ^ -(z & 1)")
    g.emit(ind + 1, "else:")
    g.emit(ind + 2, f"{target}, pos = RL(b, pos)")


def _gen_read(g: _CodeGen, t: Any, target: str, ind: int, depth: int = 0) -> None:
    t = _normalize_type(t)
    if isinstance(t, str):
        if t == "null":
            g.emit(ind, f"{target} = None")
        elif t == "boolean":
            g.emit(ind, "c = b[pos]; pos += 1")
            g.emit(ind, "if c > 1: raise AE('boolean byte')")
            g.emit(ind, f"{target} = c == 1")
        elif t in ("int", "long"):
            _gen_read_long(g, target, ind)
        elif t in ("float", "double"):
            size, unpack = (4, "UF") if t == "float" else (8, "UD")
            g.emit(ind, f"if pos + {size} > end: raise EOFError")
            g.emit(ind, f"{target} = {unpack}(b, pos)[0]; pos += {size}")
        elif t in ("string", "bytes"):
            _gen_read_long(g, "n", ind)
            g.emit(ind, "if n < 0: raise AE('negative length')")
            g.emit(ind, "e = pos + n")
            g.emit(ind, "if e > end: raise EOFError")
            decode = ".decode()" if t == "string" else ""
            g.emit(ind, f"{target} = b[pos:e]{decode}; pos = e")
        else:
            raise _Unsupported(t)
        return
    if isinstance(t, list):
        ni, other = _nullable_union(t)
        _gen_read_long(g, "u", ind)
        g.emit(ind, f"if u == {ni}: {target} = None")
        g.emit(ind, f"elif u == {1 - ni}:")
        _gen_read(g, other, target, ind + 1, depth)
        g.emit(ind, "else: raise AE('union index')")
        return
    if isinstance(t, dict):
        kind = t.get("type")
        if kind == "enum":
            symbols = g.const(tuple(t["symbols"]))
            _gen_read_long(g, "u", ind)
            g.emit(ind, f"if not 0 <= u < {len(t['symbols'])}: raise AE('enum index')")
            g.emit(ind, f"{target} = {symbols}[u]")
            return
        if kind in ("map", "array") and depth == 0:
            inner = t["values"] if kind == "map" else t["items"]
            if not _is_simple(inner):
                raise _Unsupported("nested container")
            g.emit(ind, "acc = {}" if kind == "map" else "acc = []")
            _gen_read_long(g, "cnt", ind)
            g.emit(ind, "while cnt:")
            g.emit(ind + 1, "if cnt < 0:")
            g.emit(ind + 2, "cnt = -cnt")
            _gen_read_long(g, "n", ind + 2)
            g.emit(ind + 1, "for _ in range(cnt):")
            if kind == "map":
                _gen_read(g, "string", "mk", ind + 2, depth + 1)
                _gen_read(g, inner, "acc[mk]", ind + 2, depth + 1)
            else:
                _gen_read(g, inner, "mv", ind + 2, depth + 1)
                g.emit(ind + 2, "acc.append(mv)")
            _gen_read_long(g, "cnt", ind + 1)
            g.emit(ind, f"{target} = acc")
            return
    raise _Unsupported(repr(t)[:40])


_RUNTIME = {
    "LB": _long_bytes,
    "SM": _SMALL,
    "RL": _read_long,
    "AE": _AvroDataError,
    "PF": struct.Struct("<f").pack,
    "PD": struct.Struct("<d").pack,
    "UF": struct.Struct("<f").unpack_from,
    "UD": struct.Struct("<d").unpack_from,
}


def _compile(g: _CodeGen, name: str) -> Callable[..., Any]:
    namespace: dict[str, Any] = {**_RUNTIME, **g.consts}
    # Safe: names enter the source only through repr(), symbols and constants as objects.
    exec(compile("\n".join(g.lines), f"<tocsin-avro-{name}>", "exec"), namespace)
    fn: Callable[..., Any] = namespace[name]
    return fn


def compile_writer(
    schema: Mapping[str, Any],
) -> Callable[[bytearray, Mapping[str, Any]], None] | None:
    """A specialised Avro writer for a flat record schema, or None (use fastavro).

    The writer appends the body of ``record`` to a bytearray. Logical types are ignored
    (values are written as their underlying type).

    >>> w = compile_writer({"type": "record", "name": "R", "fields": [
    ...     {"name": "a", "type": "long"}, {"name": "b", "type": ["null", "string"]}]})
    >>> out = bytearray(); w(out, {"a": -1, "b": "hé"}); bytes(out)
    b'\\x01\\x02\\x06h\\xc3\\xa9'
    """
    if schema.get("type") != "record":
        return None
    g = _CodeGen()
    g.emit(0, "def write(o, r):")
    try:
        for i, f in enumerate(schema["fields"]):
            g.emit(1, f"v{i} = r[{f['name']!r}]")
            _gen_write(g, f["type"], f"v{i}", 1)
    except _Unsupported:
        return None
    return _compile(g, "write")


_KINDS = {
    "null": 0,
    "boolean": 1,
    "int": 2,
    "long": 3,
    "float": 4,
    "double": 5,
    "string": 6,
    "bytes": 7,
}
_K_ENUM, _K_MAP, _K_ARRAY = 8, 9, 10


def _plan_type(t: Any, depth: int) -> tuple[int, Any]:
    t = _normalize_type(t)
    if isinstance(t, str) and t in _KINDS:
        return _KINDS[t], None
    if isinstance(t, dict):
        kind = t.get("type")
        if kind == "enum":
            return _K_ENUM, {sym: i for i, sym in enumerate(t["symbols"])}
        if kind in ("map", "array") and depth == 0:
            inner = t["values"] if kind == "map" else t["items"]
            if not _is_simple(inner):
                raise _Unsupported("nested container")
            return (_K_MAP if kind == "map" else _K_ARRAY), _plan_type(inner, depth + 1)
    raise _Unsupported(repr(t)[:40])


def build_write_plan(schema: Mapping[str, Any]) -> tuple[tuple[str, int, int, Any], ...] | None:
    """The field plan of the native writer (``streams._avro_writer``), or None if unsupported.

    The same schemas as :func:`compile_writer`: flat records of primitives, enums,
    ``["null", T]`` unions and maps/arrays of simple types.

    >>> build_write_plan({"type": "record", "name": "R", "fields": [
    ...     {"name": "a", "type": "long"}, {"name": "b", "type": ["null", "string"]}]})
    (('a', -1, 3, None), ('b', 0, 6, None))
    """
    if schema.get("type") != "record":
        return None
    plan = []
    try:
        for f in schema["fields"]:
            t = _normalize_type(f["type"])
            null_index = -1
            if isinstance(t, list):
                null_index, t = _nullable_union(t)
            kind, extra = _plan_type(t, 0)
            plan.append((str(f["name"]), null_index, kind, extra))
    except _Unsupported:
        return None
    return tuple(plan)


def native_writer() -> Callable[[bytes, tuple[Any, ...], Mapping[str, Any]], bytes] | None:
    """``streams._avro_writer.encode`` when the optional C extension is built, else None.

    Tests and benchmarks compare both writers by passing ``native=False`` to
    :class:`EventEncoder`.
    """
    try:
        from streams._avro_writer import encode
    except ImportError:
        return None
    return encode  # type: ignore[no-any-return]


def compile_reader(
    schema: Mapping[str, Any],
) -> Callable[[bytes, int, int], tuple[dict[str, Any], int]] | None:
    """A specialised Avro reader for a flat record schema, or None (use fastavro).

    ``reader(data, pos, end)`` returns the record and the position after it. It raises
    ``IndexError``/``EOFError`` when the data ends early, ``UnicodeDecodeError`` for bad UTF-8
    and ``ValueError`` for data that is not of the schema. No schema resolution: use it only
    when writer and reader schemas are the same.

    >>> r = compile_reader({"type": "record", "name": "R", "fields": [
    ...     {"name": "a", "type": "long"}, {"name": "b", "type": ["null", "string"]}]})
    >>> data = b'\\x01\\x02\\x06h\\xc3\\xa9'
    >>> r(data, 0, len(data))
    ({'a': -1, 'b': 'hé'}, 6)
    """
    if schema.get("type") != "record":
        return None
    g = _CodeGen()
    g.emit(0, "def read(b, pos, end):")
    names = []
    try:
        for i, f in enumerate(schema["fields"]):
            _gen_read(g, f["type"], f"v{i}", 1)
            names.append(f"{f['name']!r}: v{i}")
    except _Unsupported:
        return None
    g.emit(1, "return {" + ", ".join(names) + "}, pos")
    return _compile(g, "read")
