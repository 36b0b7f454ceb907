"""Validation and encoding of inference events (the producer SDK's path; see
:mod:`streams.codec`)."""

from __future__ import annotations

import struct
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import fields, is_dataclass
from io import BytesIO
from typing import Any

from fastavro import parse_schema, schemaless_writer

from schemas.loader import Manifest, UnknownSchemaError
from streams.avro_codegen import build_write_plan, compile_writer, native_writer
from streams.decoder import _schema_name, _strip_logical_types
from streams.event_fields import (
    DEFAULT_MAX_FUTURE_MS,
    EVENT_COLUMNS,
    EVENT_SCHEMA_ID,
    EVENT_SCHEMA_NAME,
    field_problem,
    random_uuid4,
    to_epoch_ms,
)
from streams.framing import HEADER, MAGIC_BYTE

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
