"""`tocsin demo` (what `make run` runs): the stack, synthetic traffic, a live view.

The stack comes up in the foreground, a thread sends traffic from
:class:`streams.generator.TrafficGenerator` through :class:`streams.producer.EventProducer`
at a steady rate (with a few undecodable records, so that the dead-letter path shows), and a
rich view refreshed every ``refresh`` seconds queries ClickHouse through the worker's
endpoint: events per service and deployment, p50/p95/p99 latency, error ratio, dead letters.
Ctrl-C (or ``duration``) stops the traffic, then the workers, then the broker.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from tocsin.runtime.stack import Stack
from tocsin.runtime.store_access import query_client
from tocsin.settings import Settings

#: The service whose canary goes bad in the demo (errors, latency, toxic answers).
INCIDENT_SERVICE = "chat-api"

#: One record in this many is garbage, to show the dead-letter path.
GARBAGE_EVERY = 2000

SUMMARY_SQL = """
SELECT service, deployment, track, count() AS events,
       quantiles(0.5, 0.95, 0.99)(latency_ms) AS q,
       countIf(status != 'ok') / count() AS error_ratio,
       sum(pii_count > 0) AS with_pii,
       countIf(toxicity >= {threshold:Float32}) AS toxic,
       avg(toxicity) AS mean_toxicity
FROM events_dedup
GROUP BY service, deployment, track
ORDER BY service, track DESC, deployment
"""
TOTALS_SQL = """
SELECT (SELECT count() FROM events) AS stored,
       (SELECT uniqExact(event_id) FROM events) AS unique_events,
       (SELECT count() FROM dead_letters) AS dead_letters,
       (SELECT max(ts) FROM events) AS newest
"""


class TrafficThread(threading.Thread):
    """Sends generated events at ``rate`` per second until stopped."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        rate: float,
        seed: int,
        incident_after_s: float | None = None,
    ) -> None:
        super().__init__(name="tocsin-demo-traffic", daemon=True)
        self.incident_after_s = incident_after_s
        self.bootstrap = bootstrap
        self.topic = topic
        self.rate = rate
        self.seed = seed
        self.sent = 0
        self.garbage = 0
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        from streams.generator import CanaryIncident, TrafficGenerator
        from streams.producer import EventProducer

        try:
            incident = None
            if self.incident_after_s is not None:
                start_ms = int((time.time() + self.incident_after_s) * 1000)
                incident = CanaryIncident(start_ms, services=(INCIDENT_SERVICE,))
            generator = TrafficGenerator(self.seed, rate=self.rate, incident=incident)
            producer = EventProducer(self.bootstrap, self.topic)
        except Exception as exc:
            # shown in the view, and the demo goes on with what it has
            self.error = exc
            return
        try:
            start = time.monotonic()
            while not self._halt.is_set():
                due = int((time.monotonic() - start) * self.rate) - self.sent
                if due <= 0:
                    producer.poll(0.02)
                    continue
                n = min(due, 5000)
                producer.send_many(generator.events(n))
                before = self.sent // GARBAGE_EVERY
                self.sent += n
                for _ in range(self.sent // GARBAGE_EVERY - before):
                    producer.send_encoded(b"\x00not avro at all", key=b"demo")
                    self.garbage += 1
                producer.poll(0)
        except Exception as exc:
            self.error = exc
        finally:
            producer.close(10)


def _view(
    rows: list[tuple[Any, ...]],
    totals: tuple[Any, ...] | None,
    traffic: TrafficThread,
    elapsed: float,
    note: str,
) -> Group:
    table = Table(title="tocsin demo: events in ClickHouse (events_dedup)", expand=False)
    for name, justify in (
        ("service", "left"),
        ("deployment", "left"),
        ("track", "left"),
        ("events", "right"),
        ("p50/p95/p99 ms", "right"),
        ("errors", "right"),
        ("PII", "right"),
        ("toxic", "right"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for service, deployment, track, events, q, error_ratio, pii, toxic, mean_tox in rows:
        style = "yellow" if track == "canary" else None
        table.add_row(
            str(service),
            str(deployment),
            str(track),
            f"{events:,}",
            f"{q[0]:.0f}/{q[1]:.0f}/{q[2]:.0f}",
            f"{100 * error_ratio:.2f}%",
            f"{pii:,}",
            "-" if mean_tox is None else f"{toxic:,} (avg {mean_tox:.2f})",
            style=style,
        )
    line = Text()
    line.append(f"sent {traffic.sent:,} (+{traffic.garbage} garbage)  ")
    if totals:
        stored, unique, dead, newest = totals
        line.append(f"stored {stored:,} rows, {unique:,} unique  dead letters {dead:,}  ")
        if stored:
            line.append(f"newest {newest}  ")
    line.append(f"{elapsed:.0f} s  Ctrl-C stops", style="dim")
    parts: list[Any] = [table, line]
    if note:
        parts.append(Text(note, style="red"))
    if traffic.error:
        parts.append(Text(f"traffic stopped: {traffic.error}", style="red"))
    return Group(*parts)


def run_demo(
    settings: Settings,
    *,
    rate: float = 500.0,
    seed: int = 7,
    duration: float = 0.0,
    incident_after_s: float | None = 30.0,
    refresh: float = 2.0,
    console: Console | None = None,
) -> None:
    """Run the demo until Ctrl-C or ``duration`` seconds; always stops the stack.

    After ``incident_after_s`` seconds (None = never) the canary of
    :data:`INCIDENT_SERVICE` degrades: more errors, slower, toxic answers.
    """
    console = console or Console(stderr=True)
    stack = Stack(settings, progress=lambda line: console.print(f"[dim]·[/dim] {line}"))
    status = stack.up()
    traffic = TrafficThread(
        status["bootstrap_servers"], settings.topics.events, rate, seed, incident_after_s
    )
    client = None
    started = time.monotonic()
    try:
        traffic.start()
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            while not duration or time.monotonic() - started < duration:
                note = ""
                rows: list[tuple[Any, ...]] = []
                totals: tuple[Any, ...] | None = None
                try:
                    if client is None:
                        client = query_client(settings)[0]
                    rows = [
                        tuple(r)
                        for r in client.query(
                            SUMMARY_SQL, parameters={"threshold": settings.toxicity.threshold}
                        ).result_rows
                    ]
                    totals = tuple(client.query(TOTALS_SQL).result_rows[0])
                except Exception as exc:
                    # the view says what is wrong and tries again at the next refresh
                    note = f"query failed: {exc}"
                    if client is not None:
                        client.close()
                        client = None
                    dead = [n for n, alive in stack.status()["alive"].items() if not alive]
                    if dead:
                        note += f"; restarting {', '.join(dead)}"
                        stack.up()
                live.update(_view(rows, totals, traffic, time.monotonic() - started, note))
                time.sleep(refresh)
    finally:
        traffic.stop()
        traffic.join(15)
        if client is not None:
            client.close()
        console.print("stopping the stack...")
        for name, what in stack.down().items():
            console.print(f"{name}: {what}")
