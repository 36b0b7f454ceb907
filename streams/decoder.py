"""Batch decoding of Confluent-framed Avro inference events into columns (the worker's
hot path; see :mod:`streams.codec` for the reasons a record is refused)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from fastavro import parse_schema, schemaless_reader
from fastavro._read_common import SchemaResolutionError

from schemas.loader import Manifest, UnknownSchemaError, schema_digest
from streams.avro_codegen import _AvroDataError, compile_reader
from streams.event_fields import (
    DEFAULT_MAX_FUTURE_MS,
    EVENT_COLUMNS,
    EVENT_SCHEMA_NAME,
    field_problem,
)
from streams.framing import HEADER, HEADER_SIZE, MAGIC_BYTE, InvalidMessage
from streams.registry import SchemaResolver


def _python_columns(records: list[dict[str, Any]], names: tuple[str, ...]) -> list[list[Any]]:
    """One list per name of the records' values (``streams._avro_reader.columns`` in C)."""
    return [[r[name] for r in records] for name in names]


try:
    from streams._avro_reader import columns as _columns
except ImportError:  # the optional C extension is not built
    _columns = _python_columns


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
    native : bool
        Read with the C reader when the optional extension is built (False: the generated
        pure-Python reader, what a machine without a C compiler runs).

    Examples
    --------
    >>> from streams.registry import LocalSchemaResolver
    >>> dec = EventDecoder(LocalSchemaResolver())
    >>> dec.decode(b"\\x00\\x00\\x00\\x00\\x07")
    Traceback (most recent call last):
    ...
    streams.framing.InvalidMessage: unknown_schema_id: schema id 7 is not in manifest.json (known ids: ...)
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
        native: bool = True,
    ) -> None:
        self.resolver = resolver
        self.native = native
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
            fast=compile_reader(_strip_logical_types(raw), native=self.native) if same else None,
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
        columns = dict(zip(EVENT_COLUMNS, _columns(good, EVENT_COLUMNS), strict=True))
        return DecodedBatch(columns=columns, good_index=good_index, invalid=invalid)
