"""A receiver on a free port in a background event loop, collecting schema-checked events."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from schemas.loader import schema_info
from streams.codec import EVENT_SCHEMA_NAME, EventEncoder
from streams.otlp.receiver import OtlpReceiver, SpanJoiner

HERE = Path(__file__).resolve().parent


@dataclass
class Receiver:
    url: str
    joiner: SpanJoiner
    events: list[dict[str, Any]] = field(default_factory=list)


def run_app(mode: str, endpoint: str, openai_base_url: str, **env: str) -> None:
    """Run the instrumented service script against ``endpoint`` (OTLP) and the fake API."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    full.update(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_BSP_SCHEDULE_DELAY="200", **env)
    proc = subprocess.run(
        [sys.executable, str(HERE / "instrumented_app.py"), mode, openai_base_url],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    encoder = EventEncoder(1001, schema=schema_info(EVENT_SCHEMA_NAME, 1).raw())
    events: list[dict[str, Any]] = []

    def emit(event: dict[str, Any]) -> None:
        record, _ = encoder.prepare(event)  # the producer's own checks
        events.append(record)

    joiner = SpanJoiner(emit, join_wait_s=1.0)
    app = OtlpReceiver(joiner).app()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    ready = threading.Event()
    port: list[int] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield Receiver(f"http://127.0.0.1:{port[0]}", joiner, events)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
