"""Spans from real OpenTelemetry instrumentations of the OpenAI client, against a local
fake OpenAI server, through the receiver, to inference events."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.otlp.conftest import Receiver, run_app
from tests.otlp.fake_openai import ANSWER, FakeOpenAI
from tests.otlp.instrumented_app import PROMPT, SYSTEM

pytest.importorskip("opentelemetry.instrumentation.openai_v2")


def wait_events(receiver: Receiver, n: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while len(receiver.events) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return sorted(receiver.events, key=lambda e: e["model"])


def check(events: list[dict[str, Any]], with_text: bool = True) -> None:
    assert [e["model"] for e in events] == ["broken", "gpt-4o-mini"], events
    failed, ok = events
    assert ok["service"] == "support-bot" and ok["deployment"] == "support-bot-v7"
    assert ok["track"] == "canary"
    assert ok["model_version"] == "gpt-4o-mini-2024-07-18"
    assert ok["status"] == "ok" and ok["error_type"] is None
    assert ok["tokens_in"] == len(SYSTEM.split()) + len(PROMPT.split())
    assert ok["tokens_out"] == len(ANSWER.split())
    assert ok["latency_ms"] > 0 and ok["ts"] > 1_600_000_000_000
    assert len(ok["trace_id"]) == 32
    assert ok["attributes"]["gen_ai.provider.name"] == "openai"
    assert ok["attributes"]["deployment.environment"] == "test"
    assert failed["status"] == "error" and failed["error_type"] == "InternalServerError"
    assert failed["tokens_out"] is None
    if with_text:
        assert PROMPT in ok["prompt"] and SYSTEM in ok["prompt"]
        assert ok["response"] == ANSWER
        assert failed["prompt"] == "Are you there?" and failed["response"] is None


def test_openai_v2_default_sends_content_as_log_records(receiver: Receiver) -> None:
    with FakeOpenAI() as api:
        run_app(
            "v2",
            receiver.url,
            api.base_url,
            OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="true",
        )
    events = wait_events(receiver, 2)
    check(events)
    stats = receiver.joiner.stats
    assert stats["non_genai_spans"] == 1  # the service's own parent span
    assert stats["logs_joined"] >= 4 and stats["logs_orphaned"] == 0


def test_openai_v2_without_content_capture_still_gives_the_numbers(receiver: Receiver) -> None:
    with FakeOpenAI() as api:
        run_app("v2", receiver.url, api.base_url)
    events = wait_events(receiver, 2)
    check(events, with_text=False)
    assert events[1]["prompt"] is None and events[1]["response"] is None


def test_openai_v2_latest_conventions_put_messages_on_the_span(receiver: Receiver) -> None:
    with FakeOpenAI() as api:
        run_app(
            "v2",
            receiver.url,
            api.base_url,
            OTEL_SEMCONV_STABILITY_OPT_IN="gen_ai_latest_experimental",
            OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="SPAN_ONLY",
        )
    check(wait_events(receiver, 2))


def test_traceloop_instrumentation(receiver: Receiver) -> None:
    pytest.importorskip("opentelemetry.instrumentation.openai")
    with FakeOpenAI() as api:
        run_app("traceloop", receiver.url, api.base_url)
    check(wait_events(receiver, 2))
