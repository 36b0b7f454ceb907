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
from collections.abc import Callable
from pathlib import Path
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

#: With event time running faster than wall time, it starts this many (scaled) seconds in
#: the past, so that it reaches the present after about this long.
STORY_HORIZON_S = 240.0

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
        time_scale: float = 1.0,
        on_degraded: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name="tocsin-demo-traffic", daemon=True)
        self.incident_after_s = incident_after_s
        # event time runs time_scale times faster than wall time until it catches up with
        # the clock (it starts in the past), so that the story takes minutes, not an hour
        self.time_scale = max(1.0, time_scale)
        self.on_degraded = on_degraded
        self.shifted: set[str] = set()  # services whose canary traffic went back to stable
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

    def shift_to_stable(self, service: str) -> None:
        """What the demo's deployment agent does: the service's canary traffic goes to its
        stable deployment (and the bad canary release stops answering)."""
        self.shifted.add(service)

    def _route(self, generator: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from streams.generator import DEFAULT_SERVICES

        if not self.shifted:
            return events
        if (
            generator.incident is not None
            and generator.incident.services
            and set(generator.incident.services) <= self.shifted
        ):
            generator.incident = None
        for e in events:
            if e["track"] == "canary" and e["service"] in self.shifted:
                p = DEFAULT_SERVICES[e["service"]]
                e.update(
                    track="stable",
                    deployment=f"{p.name}-{p.stable_release}",
                    model_version=p.stable_model_version,
                )
        return events

    def run(self) -> None:
        from streams.generator import CanaryIncident, TrafficGenerator
        from streams.producer import EventProducer

        try:
            incident = None
            scale = self.time_scale
            now_ms = time.time() * 1000
            # event time starts STORY_HORIZON_S of (scaled) time in the past
            start_ms = int(now_ms - (scale - 1) * STORY_HORIZON_S * 1000)
            if self.incident_after_s is not None:
                incident_ms = int(start_ms + self.incident_after_s * scale * 1000)
                incident = CanaryIncident(incident_ms, services=(INCIDENT_SERVICE,))
            generator = TrafficGenerator(
                self.seed, rate=self.rate / scale, start_ms=start_ms, incident=incident
            )
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
                producer.send_many(self._route(generator, generator.events(n)))
                if incident is not None and generator.clock_ms >= incident.start_ms:
                    if self.on_degraded is not None:
                        self.on_degraded()
                    incident = None
                if generator.rate != self.rate and generator.clock_ms >= time.time() * 1000:
                    generator.rate = self.rate  # caught up with the clock: real time now
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
    time_scale: float = 60.0,
    headless: bool = False,
    report: Path | None = None,
) -> dict[str, Any]:
    """Run the demo until Ctrl-C or ``duration`` seconds of traffic; always stops the stack.

    After ``incident_after_s`` seconds (None = never) the canary of
    :data:`INCIDENT_SERVICE` degrades: more errors, slower, toxic answers. tocsin pages,
    notifies (local receivers that print, unless the environment configures Slack or
    PagerDuty), issues a signed rollback; the demo's agent shifts the canary's traffic back
    to stable and the alert resolves (:mod:`tocsin.runtime.demo_story`). Event time runs
    ``time_scale`` times faster than wall time until it reaches the present. ``headless``
    prints story lines instead of the live view; ``report`` gets the JSON report. Returns
    the report document.
    """
    import os

    from streams.generator import DEFAULT_SERVICES
    from tocsin.runtime.demo_story import (
        NEXT_QUERIES,
        DemoAgent,
        StoryWatcher,
        local_receivers,
        write_report,
    )

    console = console or Console(stderr=True)
    started = time.monotonic()
    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(line)
        if headless:
            console.print(
                f"{time.monotonic() - started:6.1f}s {line}", markup=False, highlight=False
            )

    fake, env = local_receivers(settings, say)
    os.environ.update(env)  # the workers `tocsin up` starts inherit it
    stack = Stack(settings, progress=lambda line: console.print(f"[dim]·[/dim] {line}"))
    status = stack.up()
    bootstrap = status["bootstrap_servers"]
    watcher = StoryWatcher(
        bootstrap,
        INCIDENT_SERVICE,
        started=started,
        topics={
            "alerts": settings.topics.alerts,
            "rollback": settings.topics.rollback,
            "acks": settings.topics.rollback_acks,
        },
    )
    if fake is not None:
        show = fake.on_request

        def on_request(r: Any) -> None:
            if show is not None:
                show(r)
            watcher.on_receiver(r)

        fake.on_request = on_request
    traffic = TrafficThread(
        bootstrap,
        settings.topics.events,
        rate,
        seed,
        incident_after_s,
        time_scale=time_scale,
        on_degraded=lambda: watcher.mark("degradation_started", service=INCIDENT_SERVICE),
    )
    profile = DEFAULT_SERVICES[INCIDENT_SERVICE]
    canary = f"{profile.name}-{profile.canary_release}"
    agent = DemoAgent(settings, bootstrap, canary, INCIDENT_SERVICE, traffic.shift_to_stable)
    client = None
    seen_events = 0
    try:
        watcher.start()
        agent.start()
        traffic.start()
        # `duration` counts from the first event sent, not from the stack's start-up (a few
        # seconds on a small machine, which left a short demo no time to show anything)
        traffic_started = time.monotonic()
        live = None if headless else Live(console=console, refresh_per_second=4, transient=False)
        if live is not None:
            live.start()
        try:
            while not duration or time.monotonic() - traffic_started < duration:
                note = ""
                rows: list[tuple[Any, ...]] = []
                totals: tuple[Any, ...] | None = None
                try:
                    if client is None:
                        client = query_client(settings)[0]
                    if live is not None:
                        rows = [
                            tuple(r)
                            for r in client.query(
                                SUMMARY_SQL, parameters={"threshold": settings.toxicity.threshold}
                            ).result_rows
                        ]
                        totals = tuple(client.query(TOTALS_SQL).result_rows[0])
                    if fake is None and "notified" not in watcher.events() and watcher.paging:
                        delivered = client.query(
                            "SELECT receiver FROM notifications WHERE outcome = 'delivered' "
                            "AND action = 'trigger' LIMIT 1"
                        ).result_rows
                        if delivered:
                            watcher.notified_elsewhere(str(delivered[0][0]))
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
                for e in watcher.timeline[seen_events:]:
                    details = ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("t", "event"))
                    say(f"** {e['event']} ({details})")
                seen_events = len(watcher.timeline)
                if live is not None:
                    view = _view(rows, totals, traffic, time.monotonic() - started, note)
                    live.update(Group(view, _story_view(watcher, traffic, lines)))
                elif note:
                    say(note)
                time.sleep(refresh)
        finally:
            if live is not None:
                live.stop()
    finally:
        traffic.stop()
        agent.stop()
        watcher.stop()
        traffic.join(15)
        agent.join(15)
        watcher.join(5)
        if client is not None:
            client.close()
        document = watcher.report(
            {
                "duration_s": round(time.monotonic() - started, 1),
                "events_sent": traffic.sent,
                "time_scale": time_scale,
                "incident_service": INCIDENT_SERVICE,
                "canary": canary,
                "rollback_command": (watcher.command or {}).get("command_id"),
                "agent_executions": agent.agent.executed,
            }
        )
        if report is not None:
            write_report(report, document)
        console.print("stopping the stack...")
        for name, what in stack.down().items():
            console.print(f"{name}: {what}")
        if fake is not None:
            fake.stop()
        story = " -> ".join(f"{e['event']} {e['t']:.0f}s" for e in document["timeline"])
        console.print(f"story: {story or 'nothing happened yet'}", markup=False)
        console.print(
            "complete" if document["complete"] else "incomplete: run longer (--duration)",
            markup=False,
        )
        console.print("next, in `tocsin sql` (after `tocsin up`):", markup=False)
        for q in NEXT_QUERIES:
            console.print(f"  {q}", markup=False, highlight=False)
    return document


def _story_view(watcher: Any, traffic: TrafficThread, lines: list[str]) -> Group:
    """Burn rates per window, verdicts, the incident timeline and the rollback."""
    alerts = Table(title="alerts (latest per deployment, rule and window)", expand=False)
    for name in ("deployment", "kind / rule", "window", "severity", "state", "value"):
        alerts.add_column(name, no_wrap=True)
    for (deployment, rule, window), a in sorted(watcher.latest.items())[-12:]:
        verdict = (a.get("labels") or {}).get("verdict")
        value = "-" if a.get("value") is None else f"{a['value']:.1f}"
        if verdict:
            value += f" ({verdict})"
        style = "red" if a.get("state") == "firing" and a.get("severity") == "page" else None
        alerts.add_row(
            deployment, f"{a.get('kind')} / {rule}", window or "-", str(a.get("severity")),
            str(a.get("state")), value, style=style,
        )  # fmt: skip
    timeline = Table(title="incident timeline", expand=False)
    timeline.add_column("t", justify="right")
    timeline.add_column("event")
    timeline.add_column("details")
    for e in watcher.timeline:
        details = ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("t", "event"))
        timeline.add_row(f"{e['t']:.0f}s", e["event"], details[:90])
    parts: list[Any] = [alerts, timeline]
    if traffic.shifted:
        parts.append(
            Text(
                f"rolled back: {', '.join(sorted(traffic.shifted))} canary traffic -> stable",
                style="green",
            )
        )
    for line in lines[-4:]:
        parts.append(Text(line[:160], style="dim"))
    if watcher.error:
        parts.append(Text(f"story watcher stopped: {watcher.error}", style="red"))
    return Group(*parts)
