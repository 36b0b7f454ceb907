"""The story `tocsin demo` tells: degradation → page → notification → signed rollback → ack → resolved.

Pieces the demo runs beside the stack (none of them is part of the worker):

- :func:`local_receivers`: when the environment configures no Slack or PagerDuty, a local
  fake of both (:class:`tocsin.runtime.receivers.FakeReceivers`, which applies their real
  payload rules) that prints what each would get; the worker is pointed at it through its
  environment;
- :class:`DemoAgent`: the demo's own deployment agent (the real
  :class:`streams.agents.deployment_agent.DeploymentAgent`: signature, ledger, acks) whose
  action shifts the incident service's canary traffic back to its stable deployment;
- :class:`StoryWatcher`: reads the alerts, rollback and acks topics (its own consumer
  group) and the local receivers, and keeps the **timeline** the live view shows and
  ``--report`` writes: ``{"t": seconds since start, "event": ..., ...details}`` with
  ``degradation_started``, ``page_fired``, ``notified``, ``rollback_issued``,
  ``rollback_acked`` and ``resolved``.

Example
-------
>>> w = StoryWatcher("127.0.0.1:1", "chat-api", started=0.0, clock=lambda: 1.5)
>>> w.mark("degradation_started", service="chat-api"); w.mark("degradation_started")
>>> w.timeline
[{'t': 1.5, 'event': 'degradation_started', 'service': 'chat-api'}]
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from streams.agents.deployment_agent import DeploymentAgent, Ledger, Outcome, run_agent
from tocsin.runtime.receivers import FakeReceivers, Received
from tocsin.settings import Settings

log = logging.getLogger("tocsin.demo")

#: The order in which a complete story's events happen.
STORY = (
    "degradation_started",
    "page_fired",
    "notified",
    "rollback_issued",
    "rollback_acked",
    "resolved",
)

#: What the demo suggests analysts run next (printed at the end and put in the report).
NEXT_QUERIES = (
    "SELECT ts, kind, rule, severity, state, deployment, summary FROM alerts_dedup ORDER BY ts",
    "SELECT incident_id, receiver, action, max(attempt) AS attempts, argMax(outcome, attempt) AS outcome "
    "FROM notifications GROUP BY ALL ORDER BY incident_id",
    "SELECT record, status, deployment, agent_id, detail, duration_ms FROM rollbacks_dedup ORDER BY ts",
    "SELECT deployment, track, countIf(status != 'ok') / count() AS error_ratio, "
    "quantile(0.95)(latency_ms) AS p95_ms FROM events_dedup GROUP BY ALL ORDER BY deployment",
)


def local_receivers(
    settings: Settings, say: Callable[[str], None]
) -> tuple[FakeReceivers | None, dict[str, str]]:
    """A local Slack + PagerDuty when the environment configures neither, and the
    environment variables that point the worker at it (empty when real ones are set)."""
    a = settings.alerting
    if a.slack_webhook_url is not None or a.pagerduty_routing_key is not None:
        return None, {}

    def show(r: Received) -> None:
        if r.service == "slack":
            say(f"[slack] {r.body.get('text')}")
        elif r.service == "pagerduty":
            summary = (r.body.get("payload") or {}).get("summary", "")
            say(
                f"[pagerduty] {r.body.get('event_action')} dedup_key={r.body.get('dedup_key')} {summary}"[
                    :200
                ]
            )

    fake = FakeReceivers(on_request=show).start()
    env = {
        "TOCSIN_ALERTING__SLACK_WEBHOOK_URL": fake.slack_url,
        "TOCSIN_ALERTING__PAGERDUTY_ROUTING_KEY": "DEMOROUTINGKEY00000000000000000D",
        "TOCSIN_ALERTING__PAGERDUTY_URL": fake.pagerduty_url,
    }
    return fake, env


class StoryWatcher(threading.Thread):
    """Builds the incident timeline from the control topics (see the module docstring)."""

    def __init__(
        self,
        bootstrap: str,
        service: str,
        *,
        started: float | None = None,
        topics: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name="tocsin-demo-story", daemon=True)
        self.bootstrap = bootstrap
        self.service = service
        self.clock = clock
        self.started = clock() if started is None else started
        self.topics = dict(
            topics
            or {
                "alerts": "tocsin.alerts.v1",
                "rollback": "tocsin.rollback.v1",
                "acks": "tocsin.rollback-acks.v1",
            }
        )
        self.timeline: list[dict[str, Any]] = []
        self.latest: dict[
            tuple[str, str, str], dict[str, Any]
        ] = {}  # (deployment, rule, window) -> alert
        self.paging: dict[str, set[str]] = {}  # rule -> open page alerts of the canary
        self.first_rule: str | None = None
        self.command: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def mark(self, event: str, **details: Any) -> None:
        """Record ``event`` the first time it happens."""
        with self._lock:
            if any(e["event"] == event for e in self.timeline):
                return
            self.timeline.append(
                {"t": round(self.clock() - self.started, 2), "event": event, **details}
            )

    def events(self) -> list[str]:
        with self._lock:
            return [e["event"] for e in self.timeline]

    def complete(self) -> bool:
        return all(e in self.events() for e in STORY)

    def on_receiver(self, r: Received) -> None:
        """Local receivers' callback: the first delivery of a page about the service's canary.

        The receivers may hear of the page before this watcher reads it from the alerts
        topic (the alerter tells people first), so a page delivery also marks the page.
        """
        if r.status >= 300 or not isinstance(r.body, dict):
            return
        body = r.body
        if r.service == "pagerduty":
            payload = body.get("payload") or {}
            is_page = (
                body.get("event_action") == "trigger"
                and payload.get("severity") == "critical"
                and payload.get("component") == self.service
                and payload.get("group") == "canary"
            )
            rule = str(payload.get("class", "")).partition(":")[2]
        elif r.service == "slack":
            text = str(body.get("text") or "")
            is_page = (
                text.startswith("[PAGE]")
                and " firing: " in text
                and f": {self.service} / " in text
                and text.endswith("(canary)")
            )
            rule = text[len("[PAGE] ") :].split(" firing: ")[0]
        else:
            return
        if is_page:
            self.mark("page_fired", rule=rule, seen_by=r.service)
            self.mark("notified", receiver=r.service)

    def notified_elsewhere(self, receiver: str) -> None:
        """Real receivers: the demo saw a delivered notification in ClickHouse."""
        if self.paging:
            self.mark("notified", receiver=receiver)

    def _on_alert(self, a: dict[str, Any]) -> None:
        labels = a.get("labels") or {}
        deployment = str(
            a.get("deployment") or labels.get("deployment") or labels.get("track") or ""
        )
        with self._lock:
            self.latest[(deployment, str(a.get("rule")), str(a.get("window") or ""))] = a
        if a.get("service") != self.service or (a.get("track") or labels.get("track")) != "canary":
            return
        if a.get("severity") != "page":
            return
        incident, rule = str(a.get("incident_id")), str(a.get("rule"))
        if a.get("state") == "firing":
            self.paging.setdefault(rule, set()).add(incident)
            if self.first_rule is None:
                self.first_rule = rule
            self.mark(
                "page_fired",
                rule=rule,
                window=a.get("window"),
                value=a.get("value"),
                deployment=a.get("deployment"),
            )
        elif a.get("state") == "resolved":
            self.paging.get(rule, set()).discard(incident)
            if rule == self.first_rule and not self.paging[rule]:
                # every page window of the rule that paged first is over: the incident (one
                # per rule and deployment) resolves, and PagerDuty gets its resolve
                self.mark("resolved", rule=rule, deployment=a.get("deployment"))

    def run(self) -> None:
        from confluent_kafka import Consumer

        from streams.codec import InvalidMessage
        from streams.control_records import ack_codec, alert_codec, command_codec

        try:
            consumer = Consumer(
                {
                    "bootstrap.servers": self.bootstrap,
                    "group.id": f"tocsin-demo-story-{time.time_ns()}",
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": False,
                    "receive.message.max.bytes": 2_147_483_647,
                    "log_level": 0,
                }
            )
            consumer.subscribe(list(self.topics.values()))
        except Exception as exc:
            self.error = exc
            return
        try:
            while not self._halt.is_set():
                msg = consumer.poll(0.2)
                if msg is None or msg.error():
                    continue
                try:
                    if msg.topic() == self.topics["alerts"]:
                        self._on_alert(alert_codec().decode(msg.value()))
                    elif msg.topic() == self.topics["rollback"]:
                        cmd = command_codec().decode(msg.value())
                        if cmd.get("service") == self.service:
                            self.command = cmd
                            self.mark(
                                "rollback_issued",
                                command_id=cmd["command_id"],
                                deployment=cmd["deployment"],
                                target=cmd.get("target_deployment"),
                                key_id=cmd.get("key_id"),
                            )
                    elif msg.topic() == self.topics["acks"]:
                        ack = ack_codec().decode(msg.value())
                        if ack.get("status") == "succeeded" and ack.get("service") == self.service:
                            self.mark(
                                "rollback_acked",
                                agent=ack["agent_id"],
                                duration_ms=ack.get("duration_ms"),
                                detail=ack.get("detail"),
                            )
                except InvalidMessage:
                    continue
        except Exception as exc:  # shown in the view; the demo goes on
            self.error = exc
        finally:
            consumer.close()

    def report(self, summary: Mapping[str, Any]) -> dict[str, Any]:
        """The ``--report`` document."""
        with self._lock:
            timeline = list(self.timeline)
        return {
            "timeline": timeline,
            "complete": all(e in [x["event"] for x in timeline] for e in STORY),
            "summary": dict(summary),
            "queries": list(NEXT_QUERIES),
        }


class TrafficShift:
    """The demo agent's action: move a service's canary traffic back to its stable deployment."""

    def __init__(self, shift: Callable[[str], None], service: str) -> None:
        self.shift = shift
        self.service = service

    def run(self, command: Mapping[str, Any], timeout_s: float) -> Outcome:
        self.shift(self.service)
        target = command.get("target_deployment") or "stable"
        return Outcome(True, f"canary traffic of {self.service} shifted to {target}")


class DemoAgent(threading.Thread):
    """The demo's deployment agent, in a thread (real verification, ledger and acks)."""

    def __init__(
        self,
        settings: Settings,
        bootstrap: str,
        deployment: str,
        service: str,
        shift: Callable[[str], None],
    ) -> None:
        super().__init__(name="tocsin-demo-agent", daemon=True)
        self.stop_event = threading.Event()
        self.bootstrap = bootstrap
        self.settings = settings
        ledger = Ledger(settings.home_abs / "agents" / f"demo-{deployment}.sqlite")
        self.agent = DeploymentAgent(
            deployment,
            "demo-agent",
            TrafficShift(shift, service),
            settings.rollback.keyring(settings.home_abs),
            ledger,
            send_ack=lambda ack: None,
            send_alert=lambda alert: None,
        )
        self.error: BaseException | None = None

    def run(self) -> None:
        t = self.settings.topics
        try:
            if not self.agent.keyring:
                self.agent.keyring = self.settings.rollback.keyring(self.settings.home_abs)
            run_agent(
                self.agent,
                self.bootstrap,
                t.rollback,
                t.rollback_acks,
                t.alerts,
                stop=self.stop_event,
            )
        except Exception as exc:
            self.error = exc

    def stop(self) -> None:
        self.stop_event.set()


def write_report(path: Path, document: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
