"""`tocsin produce` and `tocsin generate`: put inference events on the events topic.

``produce`` reads JSON lines (one event per line) and sends them with the SDK
(:class:`streams.producer.EventProducer`); ``generate`` sends seeded synthetic traffic
(:class:`streams.generator.TrafficGenerator`) at a fixed rate, optionally with a canary
incident, or writes it as JSON lines for ``produce``.

The broker is ``--bootstrap-servers``, else ``TOCSIN_BOOTSTRAP_SERVERS`` (settings), else the
embedded stack's address from ``$TOCSIN_HOME/run/stack.json`` (written by ``tocsin up``).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tocsin.runtime.bootstrap import NoBrokerError, resolve_bootstrap
from tocsin.settings import Settings

MAX_REPORTED_REJECTS = 50
FLUSH_TIMEOUT_S = 60.0

err_console = Console(stderr=True)


@dataclass
class Summary:
    """What a produce run did (the ``--json`` output)."""

    topic: str
    bootstrap_servers: str
    lines: int = 0
    produced: int = 0
    delivered: int = 0
    failed: int = 0
    rejected: int = 0
    undelivered: int = 0
    seconds: float = 0.0
    last_error: str | None = None
    rejects: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "bootstrap_servers": self.bootstrap_servers,
            "lines": self.lines,
            "produced": self.produced,
            "delivered": self.delivered,
            "failed": self.failed,
            "rejected": self.rejected,
            "undelivered": self.undelivered,
            "seconds": round(self.seconds, 3),
            "events_per_s": round(self.produced / self.seconds, 1) if self.seconds else None,
            "last_error": self.last_error,
            "rejects": self.rejects,
        }


def _fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def _destination(bootstrap_servers: str | None, topic: str | None) -> tuple[str, str, Settings]:
    """Broker and topic to send to (options, then settings, then the running stack)."""
    try:
        settings = Settings()
        bootstrap = resolve_bootstrap(bootstrap_servers, settings)
    except (NoBrokerError, ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    return bootstrap, topic or settings.topics.events, settings


def _open_producer(
    bootstrap: str, topic: str, schema_registry_url: str | None, key_by: str, check_topic: bool
) -> Any:
    from streams.producer import EventProducer, KafkaException

    key_fields = tuple(f for f in key_by.split(",") if f) if key_by != "none" else ()
    try:
        producer = EventProducer(
            bootstrap,
            topic,
            schema_registry_url,
            key_fields=key_fields,
            message_timeout_ms=30_000,
        )
    except (KafkaException, ValueError, RuntimeError) as exc:
        raise _fail(f"cannot create a producer for {bootstrap}: {exc}") from None
    if check_topic:
        try:
            exists = producer.topic_exists(timeout=10.0)
        except KafkaException as exc:
            raise _fail(
                f"cannot reach the broker at {bootstrap} ({exc.args[0].str()}): "
                "run `tocsin up` or check --bootstrap-servers"
            ) from None
        if not exists:
            raise _fail(
                f"topic {topic!r} does not exist on {bootstrap}: `tocsin up` creates the "
                "topics; or pass --topic"
            )
    return producer


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )


def _finish(producer: Any, summary: Summary, started: float) -> None:
    summary.undelivered = producer.flush(FLUSH_TIMEOUT_S)
    stats = producer.stats
    summary.produced = stats.sent
    summary.delivered = stats.delivered
    summary.failed = stats.failed
    summary.last_error = stats.last_error
    summary.seconds = time.perf_counter() - started


def _report(summary: Summary, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(summary.as_dict()) + "\n")
        return
    d = summary.as_dict()
    rate = f" ({d['events_per_s']:,.0f}/s)" if d["events_per_s"] else ""
    err_console.print(
        f"produced {summary.produced:,}{rate}, delivered {summary.delivered:,}, "
        f"failed {summary.failed:,}, rejected {summary.rejected:,}"
        + (f", undelivered {summary.undelivered:,}" if summary.undelivered else "")
        + f" -> {summary.topic}",
        highlight=False,
    )
    if summary.last_error:
        err_console.print(f"last delivery error: {summary.last_error}", highlight=False)


def produce(
    file: Annotated[
        Path,
        typer.Option(
            "--file", "-f", help="JSON lines, one event per line ('-' = stdin).", show_default=False
        ),
    ],
    bootstrap_servers: Annotated[
        str | None,
        typer.Option(help="Kafka bootstrap servers (default: settings, then `tocsin up`'s)."),
    ] = None,
    topic: Annotated[str | None, typer.Option(help="Events topic (default: settings).")] = None,
    schema_registry_url: Annotated[
        str | None, typer.Option(help="Confluent Schema Registry (default: settings; none).")
    ] = None,
    key_by: Annotated[
        str,
        typer.Option(
            help="Comma-separated key fields, or 'none'. Default keeps a service together."
        ),
    ] = "service",
    strict: Annotated[bool, typer.Option(help="Exit non-zero when any line was rejected.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary on stdout.")
    ] = False,
) -> None:
    """Send inference events from a JSON-lines file to the events topic.

    Each line is one event (fields of schemas/avro/inference_event.v1.avsc); `ts` may be ISO-8601 or epoch milliseconds, a missing `event_id` is generated. Lines that fail validation are reported with their line number and skipped; the rest are sent.

    Exit codes: 0 all sent lines delivered, 1 a delivery failed, 2 usage error (no broker, no topic, no file), 3 lines rejected with --strict.

    Example: tocsin produce --file events.jsonl --json
    """
    bootstrap, topic, settings = _destination(bootstrap_servers, topic)
    registry = schema_registry_url or settings.schema_registry_url
    if str(file) != "-" and not file.is_file():
        raise _fail(f"{file}: no such file")
    producer = _open_producer(bootstrap, topic, registry, key_by, check_topic=True)
    summary = Summary(topic=topic, bootstrap_servers=bootstrap)
    started = time.perf_counter()
    stream: IO[bytes] = sys.stdin.buffer if str(file) == "-" else file.open("rb")
    total = None if str(file) == "-" else file.stat().st_size
    try:
        with _progress() as progress:
            task = progress.add_task("producing", total=total)
            done_bytes = 0
            for number, line in enumerate(stream, start=1):
                done_bytes += len(line)
                if not number % 1000:
                    progress.update(task, completed=done_bytes)
                if not line.strip():
                    continue
                summary.lines += 1
                reason = _send_line(producer, line)
                if reason is not None:
                    summary.rejected += 1
                    if len(summary.rejects) < MAX_REPORTED_REJECTS:
                        summary.rejects.append({"line": number, "reason": reason})
                        progress.console.print(
                            f"[yellow]line {number}:[/yellow] {reason}", highlight=False
                        )
            progress.update(task, completed=done_bytes, total=done_bytes)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
        _finish(producer, summary, started)
    if summary.rejected > MAX_REPORTED_REJECTS:
        err_console.print(
            f"... {summary.rejected - MAX_REPORTED_REJECTS} more rejected lines not shown",
            highlight=False,
        )
    _report(summary, as_json)
    if summary.failed or summary.undelivered:
        raise typer.Exit(1)
    if strict and summary.rejected:
        raise typer.Exit(3)


def _send_line(producer: Any, line: bytes) -> str | None:
    """Send one JSON line; the reason it was rejected, or None."""
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return f"invalid JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(event, dict):
        return f"expected a JSON object, got {type(event).__name__}"
    try:
        producer.send(event)
    except ValueError as exc:
        return str(exc)
    return None


def generate(
    rate: Annotated[float, typer.Option(help="Events per second.", min=1.0)] = 2000.0,
    duration: Annotated[
        float | None, typer.Option(help="Seconds to run (default 60 unless --count).")
    ] = None,
    count: Annotated[
        int | None, typer.Option(help="Number of events instead of a duration.")
    ] = None,
    services: Annotated[
        str | None, typer.Option(help="Comma-separated: chat-api,search-assist,summarizer.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same events).")] = 0,
    canary_incident_at: Annotated[
        float | None,
        typer.Option(help="Seconds after the start when the canary starts misbehaving."),
    ] = None,
    incident_error_rate: Annotated[
        float, typer.Option(help="Canary error rate in the incident.")
    ] = 0.25,
    incident_latency_factor: Annotated[
        float, typer.Option(help="Canary latency multiplier in the incident.")
    ] = 3.0,
    incident_toxic_fraction: Annotated[
        float, typer.Option(help="Share of toxic canary responses in the incident.")
    ] = 0.3,
    pii_fraction: Annotated[float, typer.Option(help="Share of events with PII.")] = 0.05,
    toxic_fraction: Annotated[float, typer.Option(help="Share of events with toxic text.")] = 0.02,
    out: Annotated[
        Path | None,
        typer.Option(help="Write JSON lines here instead of producing (no broker needed)."),
    ] = None,
    bootstrap_servers: Annotated[
        str | None, typer.Option(help="Kafka bootstrap servers (default: settings, `tocsin up`).")
    ] = None,
    topic: Annotated[str | None, typer.Option(help="Events topic (default: settings).")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary on stdout.")
    ] = False,
) -> None:
    """Send realistic synthetic inference traffic at a fixed rate.

    Services with stable and canary deployments, lognormal latencies, ~1 KB prompts and responses, some PII and toxic text. --canary-incident-at makes the canary fail, slow down and turn toxic from that second on. Event time is the wall clock. With --out, writes JSON lines for `tocsin produce` instead.

    Example: tocsin generate --rate 2000 --duration 60 --canary-incident-at 30
    """
    from streams.generator import DEFAULT_SERVICES, CanaryIncident, TrafficGenerator

    if count is None and duration is None:
        duration = 60.0
    if count is not None and count < 0:
        raise _fail("--count must be >= 0")
    total = count if count is not None else int(rate * (duration or 0.0))
    service_list = [s.strip() for s in services.split(",") if s.strip()] if services else None
    unknown = [s for s in service_list or () if s not in DEFAULT_SERVICES]
    if unknown:
        raise _fail(f"unknown service {unknown[0]!r}: choose from {', '.join(DEFAULT_SERVICES)}")
    producer = None
    if out is None:
        bootstrap, topic, settings = _destination(bootstrap_servers, topic)
        producer = _open_producer(
            bootstrap, topic, settings.schema_registry_url, "service", check_topic=True
        )
    # Event time starts now, after the broker checks, so pacing starts on time.
    start_ms = int(time.time() * 1000)
    incident = None
    if canary_incident_at is not None:
        incident = CanaryIncident(
            start_ms=start_ms + int(canary_incident_at * 1000),
            error_rate=incident_error_rate,
            latency_factor=incident_latency_factor,
            toxic_fraction=incident_toxic_fraction,
        )
    try:
        gen = TrafficGenerator(
            seed,
            services=service_list,
            rate=rate,
            start_ms=start_ms,
            pii_fraction=pii_fraction,
            toxic_fraction=toxic_fraction,
            incident=incident,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None

    if producer is None:
        assert out is not None
        _generate_to_file(gen, total, out, as_json)
        return
    assert topic is not None
    summary = Summary(topic=topic, bootstrap_servers=bootstrap)
    started = time.perf_counter()
    chunk = max(1, int(rate / 50))  # ~20 ms of traffic per step
    try:
        with _progress() as progress:
            task = progress.add_task("generating", total=total)
            sent = 0
            while sent < total:
                # Pace on the generator's event clock so ts tracks the wall clock.
                ahead_s = (gen.clock_ms - time.time() * 1000) / 1000.0
                if ahead_s > 0:
                    time.sleep(min(ahead_s, 0.05))
                    continue
                n = min(chunk, total - sent)
                producer.send_many(gen.events(n))
                sent += n
                progress.update(task, completed=sent)
    except KeyboardInterrupt:
        err_console.print("interrupted: flushing what was sent", highlight=False)
    finally:
        _finish(producer, summary, started)
    _report(summary, as_json)
    if summary.failed or summary.undelivered:
        raise typer.Exit(1)


def _generate_to_file(gen: Any, total: int, out: Path, as_json: bool) -> None:
    written = 0
    with out.open("wb") as fh, _progress() as progress:
        task = progress.add_task("writing", total=total)
        while written < total:
            n = min(5000, total - written)
            for event in gen.events(n):
                event["ts"] = (
                    datetime.fromtimestamp(event["ts"] / 1000, tz=UTC)
                    .isoformat(timespec="milliseconds")
                    .replace("+00:00", "Z")
                )
                fh.write(orjson.dumps(event))
                fh.write(b"\n")
            written += n
            progress.update(task, completed=written)
    if as_json:
        sys.stdout.write(json.dumps({"written": written, "file": str(out)}) + "\n")
    else:
        err_console.print(f"wrote {written:,} events to {out}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.command("produce")(produce)
    app.command("generate")(generate)
