"""GenAI span mapping across convention generations, the span/log join, and bad requests."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from streams.otlp.genai import MappingOptions, span_to_event
from streams.otlp.receiver import SpanJoiner
from streams.otlp.wire import OtlpRequestError, decode_request

TRACE, SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"


def kv(**attrs: Any) -> list[dict[str, Any]]:
    out = []
    for key, value in attrs.items():
        key = key.replace("__", ".")
        if isinstance(value, bool):
            v = {"boolValue": value}
        elif isinstance(value, int):
            v = {"intValue": str(value)}
        elif isinstance(value, float):
            v = {"doubleValue": value}
        elif isinstance(value, list):
            v = {"arrayValue": {"values": [{"stringValue": x} for x in value]}}
        else:
            v = {"stringValue": value}
        out.append({"key": key, "value": v})
    return out


def span(attrs: list[dict[str, Any]], span_id: str = SPAN, **extra: Any) -> dict[str, Any]:
    return {
        "traceId": TRACE,
        "spanId": span_id,
        "name": "chat",
        "startTimeUnixNano": "1767225600000000000",
        "endTimeUnixNano": "1767225601250000000",
        "attributes": attrs,
        **extra,
    }


def traces(*spans: dict[str, Any], **resource: str) -> dict[str, Any]:
    res = {"service.name": "chat-api", **{k.replace("__", "."): v for k, v in resource.items()}}
    return {
        "resourceSpans": [
            {"resource": {"attributes": kv(**res)}, "scopeSpans": [{"spans": list(spans)}]}
        ]
    }


def logs(*records: dict[str, Any]) -> dict[str, Any]:
    return {"resourceLogs": [{"scopeLogs": [{"logRecords": list(records)}]}]}


def record(name: str, body: Any, span_id: str = SPAN) -> dict[str, Any]:
    return {
        "traceId": TRACE,
        "spanId": span_id,
        "eventName": name,
        "body": body,
        "timeUnixNano": "0",
    }


def text_body(content: str) -> dict[str, Any]:
    return {"kvlistValue": {"values": [{"key": "content", "value": {"stringValue": content}}]}}


def test_traceloop_indexed_prompts_and_old_token_names() -> None:
    attrs = kv(
        gen_ai__system="openai",
        gen_ai__request__model="gpt-4",
        gen_ai__usage__prompt_tokens=12,
        gen_ai__usage__completion_tokens=30,
        gen_ai__prompt__1__content="second",
        gen_ai__prompt__0__content="first",
        gen_ai__completion__0__content="answer",
    )
    event = span_to_event({"service.name": "svc"}, span(attrs), [])
    assert event["prompt"] == "first\nsecond" and event["response"] == "answer"
    assert (event["tokens_in"], event["tokens_out"]) == (12, 30)
    assert event["attributes"]["gen_ai.provider.name"] == "openai"
    assert event["latency_ms"] == 1250.0 and event["ts"] == 1767225600000


def test_old_span_events_and_new_structured_messages() -> None:
    events = [
        {
            "name": "gen_ai.content.prompt",
            "attributes": kv(gen_ai__prompt='[{"role": "user", "content": "q"}]'),
        },
        {"name": "gen_ai.content.completion", "attributes": kv(gen_ai__completion="a")},
    ]
    event = span_to_event({}, span(kv(gen_ai__request__model="m"), events=events), [])
    assert (event["prompt"], event["response"]) == ("q", "a")
    assert event["service"] == "unknown_service" and event["deployment"] == "unknown_service"
    structured = kv(gen_ai__request__model="m")
    structured.append(
        {
            "key": "gen_ai.output.messages",
            "value": {
                "stringValue": json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": "x"}]}]
                )
            },
        }
    )
    assert span_to_event({}, span(structured), [])["response"] == "x"


def test_resource_attributes_name_deployment_and_track() -> None:
    resource = {
        "service.name": "s",
        "service.version": "v1",
        "env.track": "Canary",
        "deploy": "s-blue",
    }
    options = MappingOptions(deployment_attribute="deploy", track_attribute="env.track")
    event = span_to_event(resource, span(kv(gen_ai__request__model="m")), [], options)
    assert (event["deployment"], event["track"]) == ("s-blue", "canary")
    other = span_to_event(
        {"service.name": "s", "tocsin.track": "nightly"}, span(kv(gen_ai__system="x")), []
    )
    assert other["track"] == "stable" and other["model"] == "unknown"


def test_error_status_and_timeouts() -> None:
    status = {"code": 2, "message": "Error code: 500"}
    event = span_to_event({}, span(kv(gen_ai__request__model="m"), status=status), [])
    assert (event["status"], event["error_type"]) == ("error", "Error code: 500")
    timeout = span_to_event(
        {}, span(kv(gen_ai__request__model="m", error__type="APITimeoutError"), status=status), []
    )
    assert (timeout["status"], timeout["error_type"]) == ("timeout", "APITimeoutError")


def collecting(wait: float = 5.0) -> tuple[SpanJoiner, list[dict[str, Any]], list[float]]:
    now = [0.0]
    sent: list[dict[str, Any]] = []
    return SpanJoiner(sent.append, join_wait_s=wait, clock=lambda: now[0]), sent, now


def test_logs_before_the_span_are_joined_at_once() -> None:
    joiner, sent, _ = collecting()
    joiner.add_logs(logs(record("gen_ai.user.message", text_body("hello"))))
    joiner.add_logs(
        logs(
            record(
                "gen_ai.choice",
                {
                    "kvlistValue": {
                        "values": [
                            {
                                "key": "message",
                                "value": {
                                    "kvlistValue": {
                                        "values": [
                                            {"key": "content", "value": {"stringValue": "hi there"}}
                                        ]
                                    }
                                },
                            }
                        ]
                    }
                },
            )
        )
    )
    joiner.add_spans(traces(span(kv(gen_ai__request__model="m"))))
    assert [(e["prompt"], e["response"]) for e in sent] == [("hello", "hi there")]


def test_span_waits_for_its_answer_then_late_logs_are_counted() -> None:
    joiner, sent, now = collecting(wait=5.0)
    joiner.add_spans(traces(span(kv(gen_ai__request__model="m"))))
    joiner.add_logs(logs(record("gen_ai.user.message", text_body("hello"))))
    assert sent == [] and joiner.pending == 1
    now[0] = 4.9
    joiner.flush()
    assert sent == []
    now[0] = 5.0
    joiner.flush()
    assert [(e["prompt"], e["response"]) for e in sent] == [("hello", None)]
    joiner.add_logs(logs(record("gen_ai.choice", text_body("too late"))))
    assert joiner.stats["logs_late"] == 1 and len(sent) == 1


def test_answer_in_a_log_record_releases_the_span_before_the_wait() -> None:
    joiner, sent, _ = collecting(wait=60.0)
    joiner.add_spans(traces(span(kv(gen_ai__request__model="m"))))
    joiner.add_logs(logs(record("gen_ai.choice", text_body("done"))))
    assert [e["response"] for e in sent] == ["done"]


def test_orphan_logs_expire_and_memory_is_bounded() -> None:
    now = [0.0]
    sent: list[dict[str, Any]] = []
    joiner = SpanJoiner(sent.append, join_wait_s=1.0, max_pending=2, clock=lambda: now[0])
    for i in range(3):
        joiner.add_logs(logs(record("gen_ai.user.message", text_body("x"), span_id=f"{i:016x}")))
    assert joiner.stats["logs_orphaned"] == 1
    now[0] = 10.0
    joiner.flush()
    assert joiner.stats["logs_orphaned"] == 3
    for i in range(3):
        joiner.add_spans(traces(span(kv(gen_ai__request__model="m"), span_id=f"{i:016x}")))
    assert len(sent) == 1 and joiner.pending == 2  # the oldest was emitted to stay bounded


def test_non_genai_spans_are_counted_and_schema_refusals_reported() -> None:
    def refuse(event: dict[str, Any]) -> None:
        raise ValueError("latency_ms: must be >= 0")

    joiner = SpanJoiner(refuse, join_wait_s=0.0)
    request = traces(
        span(kv(http__method="GET"), span_id="1" * 16),
        span(kv(gen_ai__request__model="m", gen_ai__completion__0__content="a")),
    )
    rejected, reason = joiner.add_spans(request)
    assert rejected == 1 and "latency_ms" in reason
    assert joiner.stats["non_genai_spans"] == 1 and joiner.stats["rejected"] == 1


def test_decoding_json_gzip_protobuf_and_refusals() -> None:
    body = json.dumps(traces(span(kv(gen_ai__request__model="m")))).encode()
    parsed = decode_request(
        gzip.compress(body), "application/json; charset=utf-8", "gzip", "traces"
    )
    assert parsed["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] == TRACE

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    message = ExportTraceServiceRequest()
    proto_span = message.resource_spans.add().scope_spans.add().spans.add()
    proto_span.trace_id = bytes.fromhex(TRACE)
    proto_span.span_id = bytes.fromhex(SPAN)
    parsed = decode_request(message.SerializeToString(), "application/x-protobuf", "", "traces")
    assert parsed["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] == SPAN

    bad = [
        (b"{not json", "application/json", "", "not valid JSON"),
        (b"\x0a\xff\xff", "application/x-protobuf", "", "not a valid OTLP traces protobuf"),
        (b"\x1f\x8bbroken", "application/json", "gzip", "not valid gzip"),
        (b"{}", "text/plain", "", "unsupported Content-Type"),
        (b"[]", "application/json", "", "must be a JSON object"),
        (b'{"resourceSpans": {}}', "application/json", "", "must be a list"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
            "application/json",
            "",
            "invalid id",
        ),
    ]
    for data, ctype, encoding, reason in bad:
        with pytest.raises(OtlpRequestError, match=reason):
            decode_request(data, ctype, encoding, "traces")
