"""Done-when of the OpenTelemetry door: spans from OpenTelemetry's own instrumentation of an
OpenAI client calling a local fake server arrive in ClickHouse as events with model,
tokens, status, latency and redacted texts, through `tocsin up`'s receiver (`otlp_url`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.integration.conftest import StackHandle, run_cli, stop_stack, tocsin_env
from tests.otlp.conftest import run_app
from tests.otlp.fake_openai import FakeOpenAI

pytestmark = [pytest.mark.integration, pytest.mark.slow]
pytest.importorskip("opentelemetry.instrumentation.openai_v2")


def test_instrumented_openai_client_lands_in_clickhouse_redacted(tmp_path: Path) -> None:
    handle = StackHandle(tmp_path / "home")
    env = tocsin_env(handle.home, TOCSIN_TOXICITY__ENABLED="false")
    handle.home.mkdir(parents=True)
    try:
        run_cli(handle.home, "up", "--detach", env=env)
        status = json.loads(run_cli(handle.home, "status", "--json", env=env).stdout)
        otlp_url = status["otlp_url"]
        assert otlp_url and otlp_url.startswith("http://127.0.0.1:")
        with FakeOpenAI() as api:
            run_app(
                "v2",
                otlp_url,
                api.base_url,
                OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="true",
            )
            assert len(api.requests) == 2
        query = (
            "SELECT model, model_version, status, error_type, tokens_in, tokens_out, latency_ms, "
            "track, deployment, prompt, response, pii_count FROM events_dedup "
            "WHERE service = 'support-bot' ORDER BY model"
        )
        deadline = time.monotonic() + 180
        rows: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            rows = json.loads(run_cli(handle.home, "sql", query, "-f", "json", env=env).stdout)
            if len(rows) == 2:
                break
            time.sleep(1.0)
        assert len(rows) == 2, rows
        failed, ok = rows
        assert (ok["model"], ok["model_version"], ok["status"]) == (
            "gpt-4o-mini",
            "gpt-4o-mini-2024-07-18",
            "ok",
        )
        assert ok["tokens_in"] and ok["tokens_out"] and float(ok["latency_ms"]) > 0
        assert (ok["track"], ok["deployment"]) == ("canary", "support-bot-v7")
        assert "jane.doe@example.com" not in ok["prompt"] + ok["response"]
        assert "<EMAIL_ADDRESS>" in ok["prompt"] and "<EMAIL_ADDRESS>" in ok["response"]
        assert int(ok["pii_count"]) >= 2
        assert (failed["model"], failed["status"], failed["error_type"]) == (
            "broken",
            "error",
            "InternalServerError",
        )
    finally:
        stop_stack(handle)
