"""The OTLP/HTTP receiver: GenAI spans (and their log records) in, inference events out.

``POST /v1/traces`` and ``POST /v1/logs`` take OTLP export requests (protobuf or JSON,
optionally gzip) as the OpenTelemetry SDK exporters send them. GenAI spans become events
on the events topic through the producer SDK, so they meet the same schema checks as any
other door; spans that are not GenAI are counted and ignored. A malformed request gets a
400 with the reason; a GenAI span whose event the schema refuses is reported back as a
partial success (``rejectedSpans`` with the first reason), never a crash.

Instrumentations differ in where they put the conversation (see :mod:`streams.otlp.genai`):
OpenTelemetry's ``opentelemetry-instrumentation-openai-v2`` by default sends it as log
records linked by trace and span id, in separate requests that may arrive before or after
the span. :class:`SpanJoiner` holds a span that has no answer of its own for at most
``join_wait_s`` (or until its answer arrives in a log record) and keeps log records that
came first until their span arrives, both bounded by ``max_pending``.

``GET /tocsin/otlp/status`` returns the counters as JSON; ``GET /ping`` answers ``Ok.``.

Example
-------
>>> sent = []
>>> joiner = SpanJoiner(sent.append, join_wait_s=0.0)
>>> request = {"resourceSpans": [{"resource": {"attributes": [
...     {"key": "service.name", "value": {"stringValue": "chat-api"}}]},
...     "scopeSpans": [{"spans": [{"traceId": "ab" * 16, "spanId": "cd" * 8,
...         "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000500000000",
...         "attributes": [{"key": "gen_ai.request.model", "value": {"stringValue": "m"}}]},
...       {"traceId": "ab" * 16, "spanId": "ef" * 8, "name": "GET /"}]}]}]}
>>> joiner.add_spans(request)
(0, '')
>>> joiner.flush(now=float("inf")); [e["model"] for e in sent], joiner.stats["non_genai_spans"]
(['m'], 1)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from streams.otlp.genai import (
    OUTPUT_EVENTS,
    GenAiRecord,
    MappingOptions,
    has_content,
    is_genai,
    log_record,
    span_events,
    span_to_event,
)
from streams.otlp.wire import (
    JSON,
    PROTOBUF,
    OtlpRequestError,
    Signal,
    attributes,
    decode_request,
    encode_response,
)

log = logging.getLogger("tocsin.otlp")

Key = tuple[str, str]


@dataclass
class _Pending:
    resource: dict[str, Any]
    span: dict[str, Any]
    deadline: float
    records: list[GenAiRecord] = field(default_factory=list)


class SpanJoiner:
    """Joins GenAI spans with their log records and emits one event per span.

    Parameters
    ----------
    emit
        Called with each event dict; a ``ValueError`` (schema refusal) is counted as
        rejected and its message returned to the sender.
    options
        Which resource attributes name deployment and track.
    join_wait_s
        How long a span without its own answer waits for its log records.
    max_pending
        Spans and log groups held at most; beyond it the oldest span is emitted at once
        and the oldest orphan logs are dropped (counted).
    clock
        Monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        emit: Callable[[dict[str, Any]], Any],
        options: MappingOptions = MappingOptions(),
        *,
        join_wait_s: float = 2.0,
        max_pending: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.emit = emit
        self.options = options
        self.join_wait_s = join_wait_s
        self.max_pending = max_pending
        self.clock = clock
        self._spans: OrderedDict[Key, _Pending] = OrderedDict()
        self._orphans: OrderedDict[Key, tuple[float, list[GenAiRecord]]] = OrderedDict()
        self._done: OrderedDict[Key, None] = OrderedDict()
        self.stats: dict[str, int] = {
            "requests": 0,
            "bad_requests": 0,
            "spans": 0,
            "genai_spans": 0,
            "non_genai_spans": 0,
            "events": 0,
            "rejected": 0,
            "log_records": 0,
            "logs_joined": 0,
            "logs_orphaned": 0,
            "logs_late": 0,
            "logs_ignored": 0,
        }

    @property
    def pending(self) -> int:
        """Spans waiting for their logs."""
        return len(self._spans)

    def _emit(self, item: _Pending) -> str:
        event = span_to_event(item.resource, item.span, item.records, self.options)
        key = (item.span.get("traceId", ""), item.span.get("spanId", ""))
        self._done[key] = None
        while len(self._done) > self.max_pending:
            self._done.popitem(last=False)
        try:
            self.emit(event)
        except ValueError as exc:
            self.stats["rejected"] += 1
            return f"span {key[1]}: {exc}"
        self.stats["events"] += 1
        return ""

    def add_spans(self, request: dict[str, Any]) -> tuple[int, str]:
        """Take the spans of an export request; returns (rejected, first reason)."""
        rejected, reason = 0, ""
        now = self.clock()
        for resource_spans in request.get("resourceSpans") or []:
            resource = attributes((resource_spans.get("resource") or {}).get("attributes"))
            for scope in resource_spans.get("scopeSpans") or []:
                for span in scope.get("spans") or []:
                    self.stats["spans"] += 1
                    attrs = attributes(span.get("attributes"))
                    if not is_genai(attrs):
                        self.stats["non_genai_spans"] += 1
                        continue
                    self.stats["genai_spans"] += 1
                    key = (span.get("traceId", ""), span.get("spanId", ""))
                    item = _Pending(resource, span, now + self.join_wait_s)
                    early = self._orphans.pop(key, None)
                    if early:
                        item.records.extend(early[1])
                        self.stats["logs_joined"] += len(early[1])
                    done = has_content(attrs, span_events(span)) or any(
                        r.name in OUTPUT_EVENTS for r in item.records
                    )
                    if done:
                        why = self._emit(item)
                    else:
                        self._spans[key] = item
                        why = ""
                    if why:
                        rejected += 1
                        reason = reason or why
        rejected_more, why = self._bound()
        return rejected + rejected_more, reason or why

    def add_logs(self, request: dict[str, Any]) -> None:
        """Take the log records of an export request: join them to their span or keep them."""
        now = self.clock()
        for resource_logs in request.get("resourceLogs") or []:
            for scope in resource_logs.get("scopeLogs") or []:
                for record in scope.get("logRecords") or []:
                    self.stats["log_records"] += 1
                    genai = log_record(record)
                    key = (record.get("traceId", ""), record.get("spanId", ""))
                    if genai is None or not key[1]:
                        self.stats["logs_ignored"] += 1
                        continue
                    pending = self._spans.get(key)
                    if pending is not None:
                        pending.records.append(genai)
                        self.stats["logs_joined"] += 1
                        if genai.name in OUTPUT_EVENTS:
                            self._emit(self._spans.pop(key))
                    elif key in self._done:
                        self.stats["logs_late"] += 1
                    else:
                        deadline, records = self._orphans.get(key, (now + self.join_wait_s, []))
                        records.append(genai)
                        self._orphans[key] = (deadline, records)
        self._bound()

    def _bound(self) -> tuple[int, str]:
        rejected, reason = 0, ""
        while len(self._spans) > self.max_pending:
            why = self._emit(self._spans.popitem(last=False)[1])
            if why:
                rejected += 1
                reason = reason or why
        while len(self._orphans) > self.max_pending:
            self.stats["logs_orphaned"] += len(self._orphans.popitem(last=False)[1][1])
        return rejected, reason

    def flush(self, now: float | None = None) -> None:
        """Emit the spans whose wait is over and drop the log records whose span never
        came (counted as orphaned)."""
        now = self.clock() if now is None else now
        for key in [k for k, item in self._spans.items() if item.deadline <= now]:
            self._emit(self._spans.pop(key))
        # orphans wait twice as long: their span may still be in an exporter's batch
        for key in [k for k, (d, _) in self._orphans.items() if d + self.join_wait_s <= now]:
            self.stats["logs_orphaned"] += len(self._orphans.pop(key)[1])


class OtlpReceiver:
    """The aiohttp side of the receiver, around a :class:`SpanJoiner`.

    ``after_emit`` (for instance the producer's ``poll(0)``) runs after each request.
    """

    def __init__(self, joiner: SpanJoiner, after_request: Callable[[], Any] | None = None) -> None:
        self.joiner = joiner
        self.after_request = after_request or (lambda: None)
        self._flusher: asyncio.Task[None] | None = None

    def routes(self) -> list[web.RouteDef]:
        """``POST /v1/traces``, ``POST /v1/logs``, ``GET /ping``, ``GET /tocsin/otlp/status``."""
        return [
            web.post("/v1/traces", self.traces),
            web.post("/v1/logs", self.logs),
            web.get("/ping", self.ping),
            web.get("/tocsin/otlp/status", self.status),
        ]

    async def ping(self, request: web.Request) -> web.Response:
        return web.Response(text="Ok.\n")

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response({**self.joiner.stats, "pending": self.joiner.pending})

    async def _read(self, request: web.Request, signal: Signal) -> dict[str, Any] | web.Response:
        self.joiner.stats["requests"] += 1
        try:
            body = await request.read()
            return decode_request(
                body,
                request.headers.get("Content-Type", ""),
                request.headers.get("Content-Encoding", ""),
                signal,
            )
        except OtlpRequestError as exc:
            self.joiner.stats["bad_requests"] += 1
            return web.json_response({"error": str(exc)}, status=400)

    @staticmethod
    def _media(request: web.Request) -> str:
        media = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        return PROTOBUF if media == PROTOBUF else JSON

    async def traces(self, request: web.Request) -> web.Response:
        parsed = await self._read(request, "traces")
        if isinstance(parsed, web.Response):
            return parsed
        try:
            rejected, reason = self.joiner.add_spans(parsed)
        except (AttributeError, TypeError) as exc:
            # a structurally wrong request (an object where a list belongs...)
            self.joiner.stats["bad_requests"] += 1
            return web.json_response({"error": f"malformed OTLP request: {exc}"}, status=400)
        self.after_request()
        media = self._media(request)
        return web.Response(
            body=encode_response(media, rejected, reason, "traces"), content_type=media
        )

    async def logs(self, request: web.Request) -> web.Response:
        parsed = await self._read(request, "logs")
        if isinstance(parsed, web.Response):
            return parsed
        try:
            self.joiner.add_logs(parsed)
        except (AttributeError, TypeError) as exc:
            self.joiner.stats["bad_requests"] += 1
            return web.json_response({"error": f"malformed OTLP request: {exc}"}, status=400)
        self.after_request()
        media = self._media(request)
        return web.Response(body=encode_response(media, signal="logs"), content_type=media)

    async def _flush_loop(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.joiner.flush()
            self.after_request()

    async def start_flushing(self, app: web.Application) -> None:
        """aiohttp ``on_startup`` hook: emit expired spans every 100 ms."""
        self._flusher = asyncio.create_task(self._flush_loop(0.1))

    async def stop_flushing(self, app: web.Application) -> None:
        """aiohttp ``on_cleanup`` hook: emit everything still held."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        self.joiner.flush(now=float("inf"))
        self.after_request()

    def app(self, max_body_bytes: int = 32 * 1024 * 1024) -> web.Application:
        """A standalone aiohttp application with the receiver's routes."""
        application = web.Application(client_max_size=max_body_bytes)
        application.add_routes(self.routes())
        application.on_startup.append(self.start_flushing)
        application.on_cleanup.append(self.stop_flushing)
        return application
