"""A service instrumented with a real OpenTelemetry OpenAI instrumentation (run as a script).

Usage: ``python instrumented_app.py {v2|traceloop} OPENAI_BASE_URL``, with the standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` (and for v2 ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``,
``OTEL_SEMCONV_STABILITY_OPT_IN``) in the environment, as a real deployment sets them.
It makes one successful chat completion (with an e-mail address in the prompt) and one
that fails with a 500, then flushes the batch exporters and exits.
"""

from __future__ import annotations

import contextlib
import sys

from opentelemetry import _logs, trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

PROMPT = "Hi, please write to me at jane.doe@example.com about my order."
SYSTEM = "You are a support agent."


def main() -> int:
    mode, base_url = sys.argv[1], sys.argv[2]
    resource = Resource.create(
        {
            "service.name": "support-bot",
            "service.version": "v7",
            "deployment.environment": "test",
            "tocsin.track": "canary",
        }
    )
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(tracer_provider)
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
    _logs.set_logger_provider(logger_provider)
    if mode == "v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(
            tracer_provider=tracer_provider, logger_provider=logger_provider
        )
    else:
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as Traceloop

        Traceloop().instrument(tracer_provider=tracer_provider)

    import openai

    client = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
    tracer = trace.get_tracer("support-bot")
    with tracer.start_as_current_span("handle-ticket"):  # a non-GenAI parent span
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": PROMPT},
            ],
        )
        with contextlib.suppress(openai.InternalServerError):  # the fake answers 500
            client.chat.completions.create(
                model="broken", messages=[{"role": "user", "content": "Are you there?"}]
            )
    tracer_provider.force_flush()
    logger_provider.force_flush()
    tracer_provider.shutdown()
    logger_provider.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
