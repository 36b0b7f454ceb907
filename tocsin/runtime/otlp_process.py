"""``tocsin otlp``: the OTLP/HTTP receiver as a process, producing to the events topic.

``tocsin up`` runs it next to the workers (``otlp.enabled``) on a free 127.0.0.1 port and
records its base URL as ``otlp_url`` in ``tocsin status --json``; point an
OpenTelemetry SDK at it with ``OTEL_EXPORTER_OTLP_ENDPOINT=<otlp_url>``.

Example
-------
>>> otlp_command(4318, "127.0.0.1:9092")[-6:]
['otlp', '--port', '4318', '--bootstrap', '127.0.0.1:9092', '--host=127.0.0.1']
"""

from __future__ import annotations

import sys

from tocsin.settings import Settings

#: What identifies the receiver process in its command line.
OTLP_TOKENS = ("tocsin.cli", "otlp", "--port")


def otlp_command(port: int, bootstrap: str, host: str = "127.0.0.1") -> list[str]:
    """The command ``tocsin up`` starts the receiver with."""
    return [
        sys.executable,
        "-c",
        "from tocsin.cli import main; main()",
        "otlp",
        "--port",
        str(port),
        "--bootstrap",
        bootstrap,
        f"--host={host}",
    ]


def serve_otlp(settings: Settings, bootstrap: str, host: str, port: int) -> int:
    """Serve ``/v1/traces`` and ``/v1/logs`` until SIGTERM/SIGINT; returns the exit code."""
    from aiohttp import web

    from streams.otlp.genai import MappingOptions
    from streams.otlp.receiver import OtlpReceiver, SpanJoiner
    from streams.producer import EventProducer

    o = settings.otlp
    producer = EventProducer(
        bootstrap, settings.topics.events, settings.schema_registry_url, linger_ms=20
    )
    joiner = SpanJoiner(
        producer.send,
        MappingOptions(o.deployment_attribute, o.track_attribute, o.default_track),
        join_wait_s=o.join_wait_s,
        max_pending=o.max_pending,
    )
    receiver = OtlpReceiver(joiner, after_request=lambda: producer.poll(0))
    print(f"otlp: http://{host}:{port}/v1/traces -> {settings.topics.events}", flush=True)
    try:
        web.run_app(
            receiver.app(o.max_body_bytes), host=host, port=port, print=None, access_log=None
        )
    finally:
        left = producer.close(30)
        if left:
            print(f"otlp: {left} events were not delivered", file=sys.stderr, flush=True)
    return 0
