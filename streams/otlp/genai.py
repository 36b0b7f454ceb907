"""GenAI spans and their log records to inference events (pure: no I/O).

Every generation of the OpenTelemetry GenAI semantic conventions seen in the wild maps
onto the same event:

=====================================  ==============================================
event field                            span / log data, first match wins
=====================================  ==============================================
``model``                              ``gen_ai.request.model``, ``gen_ai.response.model``
``model_version``                      ``gen_ai.response.model`` (the dated model), else ``""``
``tokens_in``                          ``gen_ai.usage.input_tokens``, ``gen_ai.usage.prompt_tokens``
``tokens_out``                         ``gen_ai.usage.output_tokens``, ``gen_ai.usage.completion_tokens``
``prompt`` / ``response``              ``gen_ai.input.messages`` / ``gen_ai.output.messages``
                                       (JSON string or structured); ``gen_ai.prompt.N.content`` /
                                       ``gen_ai.completion.N.content``; ``gen_ai.prompt`` /
                                       ``gen_ai.completion``; span events ``gen_ai.user.message``,
                                       ``gen_ai.system.message``, ``gen_ai.choice``...; log records
                                       with those event names or
                                       ``gen_ai.client.inference.operation.details``
``status`` / ``error_type``            span status ERROR → ``error`` (``timeout`` when the error
                                       type says so), ``error.type`` or the status message
``latency_ms``                         end − start
``ts``                                 span start
``service``                            resource ``service.name``
``deployment``                         resource ``deployment_attribute`` (default
                                       ``deployment.name``), else ``service.name-service.version``
``track``                              resource ``track_attribute`` (default ``tocsin.track``),
                                       else ``default_track``
``attributes``                         ``gen_ai.system`` / ``gen_ai.provider.name``, operation,
                                       finish reasons, ``deployment.environment``, span name
``event_id``                           a hash of trace id and span id (an exporter's retry
                                       collapses onto the first copy)
=====================================  ==============================================

A span is GenAI when it has an attribute under ``gen_ai.``; others are ignored (counted by
the receiver).

Example
-------
>>> span = {"traceId": "ab" * 16, "spanId": "cd" * 8, "name": "chat gpt-4o-mini",
...         "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000812000000",
...         "attributes": [{"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
...                        {"key": "gen_ai.usage.prompt_tokens", "value": {"intValue": "9"}}]}
>>> resource = {"service.name": "chat-api", "service.version": "v42"}
>>> event = span_to_event(resource, span, [])
>>> event["service"], event["deployment"], event["model"], event["tokens_in"], event["latency_ms"]
('chat-api', 'chat-api-v42', 'gpt-4o-mini', 9, 812.0)
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from streams.otlp.wire import attributes as kv_attributes

TRACKS = ("stable", "canary", "shadow", "baseline")
STATUS_ERROR = 2
#: Event names whose content is part of the prompt (span events or log records).
INPUT_EVENTS = frozenset(
    {
        "gen_ai.system.message",
        "gen_ai.user.message",
        "gen_ai.assistant.message",
        "gen_ai.tool.message",
        "gen_ai.content.prompt",
    }
)
#: Event names whose content is the answer.
OUTPUT_EVENTS = frozenset({"gen_ai.choice", "gen_ai.content.completion"})
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
_INDEXED = re.compile(r"^gen_ai\.(prompt|completion)\.(\d+)\.content$")
_TIMEOUT = re.compile(r"time.?out|deadline", re.IGNORECASE)


@dataclass(frozen=True)
class MappingOptions:
    """Which resource attributes name the deployment and the track."""

    deployment_attribute: str = "deployment.name"
    track_attribute: str = "tocsin.track"
    default_track: str = "stable"


def is_genai(attrs: Mapping[str, Any]) -> bool:
    """Whether span attributes belong to a GenAI operation.

    >>> is_genai({"gen_ai.system": "openai"}), is_genai({"http.method": "GET"})
    (True, False)
    """
    return any(key.startswith("gen_ai.") for key in attrs)


def _parse_json(value: Any) -> Any:
    if isinstance(value, str | bytes):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def message_text(message: Any) -> str:
    """The text of one message in any of the shapes instrumentations send.

    >>> message_text({"role": "user", "parts": [{"type": "text", "content": "hi"}]})
    'hi'
    >>> message_text({"index": 0, "message": {"role": "assistant", "content": "ok"}})
    'ok'
    >>> message_text({"content": [{"type": "text", "text": "a"}, {"type": "image_url"}]})
    'a'
    """
    if message is None:
        return ""
    if isinstance(message, str):
        return message
    if isinstance(message, list):
        return "\n".join(t for t in (message_text(m) for m in message) if t)
    if not isinstance(message, dict):
        return ""
    if "parts" in message:
        return message_text(message["parts"])
    if "message" in message and isinstance(message["message"], dict):
        return message_text(message["message"])
    if message.get("type") not in (None, "text"):
        return ""
    for key in ("content", "text"):
        if key in message:
            return message_text(message[key])
    return ""


def messages_text(value: Any) -> str:
    """The joined text of a message list (a JSON string or structured).

    >>> messages_text('[{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi"}]')
    'be nice\\nhi'
    """
    return message_text(_parse_json(value))


def _indexed(attrs: Mapping[str, Any], kind: str) -> str:
    found = []
    for key, value in attrs.items():
        match = _INDEXED.match(key)
        if match and match.group(1) == kind:
            found.append((int(match.group(2)), message_text(value)))
    return "\n".join(text for _, text in sorted(found) if text)


def _event_text(attrs: Mapping[str, Any], body: Any) -> str:
    """Content of a GenAI span event or log record (body first, then attributes)."""
    text = message_text(body) if body is not None else ""
    if text:
        return text
    for key in ("content", "message", "gen_ai.prompt", "gen_ai.completion", "gen_ai.event.content"):
        if key in attrs:
            text = messages_text(attrs[key])
            if text:
                return text
    return ""


@dataclass
class GenAiRecord:
    """A log record (or span event) that carries GenAI content: its name, attributes, body."""

    name: str
    attributes: dict[str, Any]
    body: Any = None


def log_record(record: Mapping[str, Any]) -> GenAiRecord | None:
    """A GenAI log record from an OTLP ``LogRecord`` dict, or None when it is not one.

    The event name is the ``eventName`` field (newer SDKs) or the ``event.name`` attribute.
    """
    attrs = kv_attributes(record.get("attributes"))
    name = record.get("eventName") or attrs.get("event.name") or ""
    if not isinstance(name, str) or not name.startswith("gen_ai."):
        return None
    from streams.otlp.wire import any_value

    return GenAiRecord(name, attrs, any_value(record.get("body")))


def conversation(
    attrs: Mapping[str, Any], records: Iterable[GenAiRecord]
) -> tuple[str | None, str | None]:
    """The prompt and response texts of a span, from its attributes, then its span events
    and correlated log records. None where nothing was found."""
    prompt = messages_text(attrs.get("gen_ai.input.messages")) or _indexed(attrs, "prompt")
    response = messages_text(attrs.get("gen_ai.output.messages")) or _indexed(attrs, "completion")
    prompt = prompt or messages_text(attrs.get("gen_ai.prompt"))
    response = response or messages_text(attrs.get("gen_ai.completion"))
    inputs: list[str] = []
    outputs: list[str] = []
    for record in records:
        if record.name == DETAILS_EVENT:
            inputs.append(messages_text(record.attributes.get("gen_ai.input.messages")))
            outputs.append(messages_text(record.attributes.get("gen_ai.output.messages")))
        elif record.name in INPUT_EVENTS:
            inputs.append(_event_text(record.attributes, record.body))
        elif record.name in OUTPUT_EVENTS:
            outputs.append(_event_text(record.attributes, record.body))
    prompt = prompt or "\n".join(t for t in inputs if t)
    response = response or "\n".join(t for t in outputs if t)
    return prompt or None, response or None


def has_content(attrs: Mapping[str, Any], events: Iterable[GenAiRecord]) -> bool:
    """Whether a span carries its own answer (so no log record needs to be waited for)."""
    return conversation(attrs, events)[1] is not None


def span_events(span: Mapping[str, Any]) -> list[GenAiRecord]:
    """The GenAI span events of a span (older conventions put content there)."""
    out = []
    for event in span.get("events") or []:
        if isinstance(event, dict) and str(event.get("name", "")).startswith("gen_ai."):
            out.append(GenAiRecord(str(event["name"]), kv_attributes(event.get("attributes"))))
    return out


def _int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < 2**31 else None


def _nanos(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


#: Namespace of the name-based (v5) UUIDs of span events.
SPAN_NAMESPACE = uuid.UUID("6f1d3a52-2c6b-4c0e-9a57-3f4b1f0d7e21")


def event_id(trace_id: str, span_id: str) -> str:
    """A stable event id (a name-based UUID) for a span: the same span exported twice is
    one event.

    >>> event_id("ab" * 16, "cd" * 8) == event_id("ab" * 16, "cd" * 8)
    True
    >>> uuid.UUID(event_id("ab" * 16, "cd" * 8)).version
    5
    """
    return str(uuid.uuid5(SPAN_NAMESPACE, f"{trace_id}/{span_id}"))


def _first_str(*values: Any) -> str:
    for value in values:
        if isinstance(value, str) and value:
            return value
    return ""


def span_to_event(
    resource: Mapping[str, Any],
    span: Mapping[str, Any],
    records: Iterable[GenAiRecord],
    options: MappingOptions = MappingOptions(),
) -> dict[str, Any]:
    """The inference event of one GenAI span, with its span events and correlated log
    records (``records``). The producer validates it against the event schema."""
    attrs = kv_attributes(span.get("attributes"))
    all_records = [*span_events(span), *records]
    prompt, response = conversation(attrs, all_records)
    service = _first_str(resource.get("service.name")) or "unknown_service"
    version = _first_str(resource.get("service.version"))
    deployment = _first_str(resource.get(options.deployment_attribute)) or (
        f"{service}-{version}" if version else service
    )
    track = _first_str(resource.get(options.track_attribute)).lower()
    if track not in TRACKS:
        track = options.default_track
    start, end = _nanos(span.get("startTimeUnixNano")), _nanos(span.get("endTimeUnixNano"))
    status = span.get("status") or {}
    code = status.get("code", 0)
    failed = code in (STATUS_ERROR, "STATUS_CODE_ERROR") or bool(attrs.get("error.type"))
    error_type = None
    state = "ok"
    if failed:
        error_type = _first_str(attrs.get("error.type"), status.get("message")) or "error"
        state = "timeout" if _TIMEOUT.search(error_type) else "error"
    request_model = _first_str(attrs.get("gen_ai.request.model"))
    response_model = _first_str(attrs.get("gen_ai.response.model"))
    extra: dict[str, str] = {"otel.span_name": str(span.get("name") or "")}
    system = _first_str(attrs.get("gen_ai.provider.name"), attrs.get("gen_ai.system"))
    if system:
        extra["gen_ai.provider.name"] = system
    operation = _first_str(attrs.get("gen_ai.operation.name"))
    if operation:
        extra["gen_ai.operation.name"] = operation
    reasons = attrs.get("gen_ai.response.finish_reasons")
    if isinstance(reasons, list) and reasons:
        extra["gen_ai.response.finish_reasons"] = ",".join(map(str, reasons))
    environment = _first_str(
        resource.get("deployment.environment.name"), resource.get("deployment.environment")
    )
    if environment:
        extra["deployment.environment"] = environment
    event: dict[str, Any] = {
        "event_id": event_id(str(span.get("traceId", "")), str(span.get("spanId", ""))),
        "service": service,
        "deployment": deployment,
        "track": track,
        "model": request_model or response_model or "unknown",
        "model_version": response_model,
        "trace_id": span.get("traceId") or None,
        "prompt": prompt,
        "response": response,
        "status": state,
        "error_type": error_type,
        "latency_ms": max(0.0, (end - start) / 1e6) if start and end else 0.0,
        "tokens_in": _int(
            attrs.get("gen_ai.usage.input_tokens", attrs.get("gen_ai.usage.prompt_tokens"))
        ),
        "tokens_out": _int(
            attrs.get("gen_ai.usage.output_tokens", attrs.get("gen_ai.usage.completion_tokens"))
        ),
        "attributes": extra,
    }
    if start:
        event["ts"] = start // 1_000_000  # else the producer stamps the time it is sent
    return event
