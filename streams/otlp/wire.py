"""OTLP/HTTP request bodies to plain Python: protobuf or JSON, plain or gzip.

Both encodings come out in the shape of OTLP/JSON (camelCase keys), with ``traceId`` and
``spanId`` as lowercase hex and attribute lists turned into dicts by :func:`attributes`.

Example
-------
>>> body = b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331", "name": "chat"}]}]}]}'
>>> request = decode_request(body, "application/json", "", "traces")
>>> request["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"]
'b7ad6b7169203331'
>>> attributes([{"key": "gen_ai.usage.input_tokens", "value": {"intValue": "9"}}])
{'gen_ai.usage.input_tokens': 9}
"""

from __future__ import annotations

import base64
import binascii
import gzip
import re
import zlib
from typing import Any, Literal

import orjson

Signal = Literal["traces", "logs"]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

_HEX = re.compile(r"^[0-9a-fA-F]*$")


class OtlpRequestError(ValueError):
    """A request that cannot be read; the message is the reason sent back with the 400."""


def decompress(body: bytes, content_encoding: str) -> bytes:
    """The body without its ``Content-Encoding`` (identity, gzip, deflate).

    >>> decompress(gzip.compress(b"x"), "gzip")
    b'x'
    >>> decompress(b"{}", "gzip")  # already inflated by the web server
    b'{}'
    """
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    try:
        if encoding in ("gzip", "x-gzip"):
            if not body.startswith(b"\x1f\x8b"):
                return body  # aiohttp inflates request bodies before handlers see them
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    except (OSError, EOFError, zlib.error) as exc:
        raise OtlpRequestError(f"body is not valid {encoding}: {exc}") from exc
    raise OtlpRequestError(f"unsupported Content-Encoding {content_encoding!r} (use gzip)")


def _hex_id(value: Any, length: int) -> str:
    """An id as lowercase hex: OTLP/JSON sends hex, protobuf-to-dict gives base64."""
    if not value:
        return ""
    text = str(value)
    if len(text) == length and _HEX.match(text):
        return text.lower()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise OtlpRequestError(f"invalid id {text[:40]!r}: expected {length} hex digits") from exc
    if len(raw) * 2 != length:
        raise OtlpRequestError(f"invalid id {text[:40]!r}: expected {length // 2} bytes")
    return raw.hex()


def _protobuf_to_dict(body: bytes, signal: Signal) -> dict[str, Any]:
    try:
        from google.protobuf.json_format import MessageToDict
        from google.protobuf.message import DecodeError
    except ImportError as exc:  # pragma: no cover - the pipeline extra brings it
        raise OtlpRequestError("protobuf bodies need opentelemetry-proto installed") from exc
    message: Any
    if signal == "traces":
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        message = trace_service_pb2.ExportTraceServiceRequest()
    else:
        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

        message = logs_service_pb2.ExportLogsServiceRequest()
    try:
        message.ParseFromString(body)
    except DecodeError as exc:
        raise OtlpRequestError(f"body is not a valid OTLP {signal} protobuf: {exc}") from exc
    return dict(MessageToDict(message, use_integers_for_enums=True))


def _normalise_ids(request: dict[str, Any], signal: Signal) -> None:
    resource_key, scope_key, item_key = (
        ("resourceSpans", "scopeSpans", "spans")
        if signal == "traces"
        else ("resourceLogs", "scopeLogs", "logRecords")
    )
    resources = request.get(resource_key)
    if resources is None:
        resources = []
    if not isinstance(resources, list):
        raise OtlpRequestError(f"{resource_key} must be a list")
    for resource in resources:
        if not isinstance(resource, dict):
            raise OtlpRequestError(f"{resource_key} entries must be objects")
        for scope in resource.get(scope_key) or []:
            if not isinstance(scope, dict):
                raise OtlpRequestError(f"{scope_key} entries must be objects")
            for item in scope.get(item_key) or []:
                if not isinstance(item, dict):
                    raise OtlpRequestError(f"{item_key} entries must be objects")
                item["traceId"] = _hex_id(item.get("traceId"), 32)
                item["spanId"] = _hex_id(item.get("spanId"), 16)


def decode_request(
    body: bytes, content_type: str, content_encoding: str, signal: Signal
) -> dict[str, Any]:
    """Decode an ``Export{Trace,Logs}ServiceRequest`` body.

    Raises
    ------
    OtlpRequestError
        Unsupported content type or encoding, or a body that does not parse.
    """
    body = decompress(body, content_encoding)
    media = content_type.split(";", 1)[0].strip().lower()
    if media == PROTOBUF:
        request = _protobuf_to_dict(body, signal)
    elif media == JSON:
        try:
            request = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError as exc:
            raise OtlpRequestError(f"body is not valid JSON: {exc}") from exc
        if not isinstance(request, dict):
            raise OtlpRequestError("body must be a JSON object (an OTLP export request)")
    else:
        raise OtlpRequestError(
            f"unsupported Content-Type {content_type!r}: use {PROTOBUF} or {JSON}"
        )
    _normalise_ids(request, signal)
    return request


def any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` as a Python value (strings, numbers, lists, dicts).

    >>> any_value({"arrayValue": {"values": [{"stringValue": "stop"}]}})
    ['stop']
    >>> any_value({"kvlistValue": {"values": [{"key": "a", "value": {"doubleValue": 1.5}}]}})
    {'a': 1.5}
    """
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return None
    if "doubleValue" in value:
        try:
            return float(value["doubleValue"])
        except (TypeError, ValueError):
            return None
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [any_value(v) for v in (value["arrayValue"] or {}).get("values") or []]
    if "kvlistValue" in value:
        return attributes((value["kvlistValue"] or {}).get("values") or [])
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attributes(items: Any) -> dict[str, Any]:
    """An OTLP ``KeyValue`` list as a dict (malformed entries are skipped)."""
    out: dict[str, Any] = {}
    if not isinstance(items, list):
        return out
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            out[item["key"]] = any_value(item.get("value"))
    return out


def encode_response(
    media: str, rejected: int = 0, message: str = "", signal: Signal = "traces"
) -> bytes:
    """An ``Export*ServiceResponse`` in the request's encoding (partial success when
    ``rejected``).

    >>> encode_response(JSON)
    b'{}'
    """
    if media == PROTOBUF:
        if signal == "traces":
            from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                ExportTraceServiceResponse,
            )

            trace_response = ExportTraceServiceResponse()
            if rejected:
                trace_response.partial_success.rejected_spans = rejected
                trace_response.partial_success.error_message = message
            return bytes(trace_response.SerializeToString())
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
            ExportLogsServiceResponse,
        )

        logs_response = ExportLogsServiceResponse()
        if rejected:
            logs_response.partial_success.rejected_log_records = rejected
            logs_response.partial_success.error_message = message
        return bytes(logs_response.SerializeToString())
    if not rejected:
        return b"{}"
    key = "rejectedSpans" if signal == "traces" else "rejectedLogRecords"
    return orjson.dumps({"partialSuccess": {key: rejected, "errorMessage": message}})
