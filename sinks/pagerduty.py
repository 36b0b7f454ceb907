"""PagerDuty Events API v2: ``trigger``, ``acknowledge`` and ``resolve`` one incident.

The ``dedup_key`` is tocsin's incident id, so a retried or replayed trigger never opens a
second PagerDuty incident, and the resolve closes the one the trigger opened.

Payload rules (PagerDuty's, enforced by the fake server in ``tocsin.runtime.receivers``):
``routing_key`` (32 characters) and ``event_action`` in trigger/acknowledge/resolve are
required; ``dedup_key`` at most 255 characters, required for acknowledge and resolve; a
trigger needs ``payload.summary`` (1-1,024 characters), ``payload.source`` and
``payload.severity`` in critical/error/warning/info. PagerDuty answers ``202`` with
``{"status": "success", "dedup_key": ...}``, ``400`` for an invalid event (never retried),
``429`` when throttled (retried).

Example
-------
>>> from sinks.notification import EXAMPLE_ALERT, Notification
>>> event = build_event(Notification("trigger", "inc-1", EXAMPLE_ALERT, 1768469460000), "K" * 32)
>>> event["event_action"], event["dedup_key"], event["payload"]["severity"]
('trigger', 'inc-1', 'critical')
>>> check_event(event)
[]
>>> check_event({**event, "dedup_key": "x" * 256})
['dedup_key longer than 255 characters']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from sinks.delivery import Attempt, DeliveryResult, HttpDelivery
from sinks.notification import Notification, iso_ms

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
SEVERITIES = ("critical", "error", "warning", "info")
#: tocsin severity -> PagerDuty severity.
SEVERITY_MAP = {"page": "critical", "ticket": "warning", "info": "info"}


def build_event(n: Notification, routing_key: str) -> dict[str, Any]:
    """The Events API v2 body for ``n`` (``repeat`` is sent as a trigger: PagerDuty dedups it)."""
    action = "trigger" if n.action == "repeat" else n.action
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": n.incident_id[:MAX_DEDUP_KEY],
    }
    if action != "trigger":
        return event
    a = n.alert
    summary = str(a.get("summary") or n.title)
    if len(summary) > MAX_SUMMARY:
        summary = summary[: MAX_SUMMARY - 1] + "…"
    details: dict[str, Any] = {
        "kind": a.get("kind"),
        "rule": a.get("rule"),
        "deployment": a.get("deployment"),
        "track": a.get("track"),
        "window": a.get("window"),
        "value": a.get("value"),
        "threshold": a.get("threshold"),
        "since": iso_ms(n.started_ms),
        "alert_id": a.get("alert_id"),
        **n.evidence,
    }
    if n.sql:
        details["sql"] = n.sql
    event["payload"] = {
        "summary": summary,
        "source": str(a.get("deployment") or a.get("service") or "tocsin"),
        "severity": SEVERITY_MAP.get(n.severity, "warning"),
        "timestamp": iso_ms(a.get("ts")),
        "component": str(a.get("service") or ""),
        "group": str(a.get("track") or ""),
        "class": f"{a.get('kind')}:{a.get('rule')}",
        "custom_details": {k: v for k, v in details.items() if v is not None},
    }
    event["client"] = "tocsin"
    link = n.dashboard_link
    if link:
        event["links"] = [{"href": link, "text": "Grafana"}]
    return event


def check_event(event: Any) -> list[str]:
    """Problems PagerDuty would refuse the event for (empty list = acceptable)."""
    if not isinstance(event, dict):
        return ["event is not a JSON object"]
    problems = []
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        problems.append("routing_key must be a 32 character string")
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        problems.append("event_action must be trigger, acknowledge or resolve")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > MAX_DEDUP_KEY):
        problems.append("dedup_key longer than 255 characters")
    if action in ("acknowledge", "resolve") and not dedup:
        problems.append("dedup_key is required for acknowledge and resolve")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return [*problems, "payload is required for trigger"]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not 0 < len(summary) <= MAX_SUMMARY:
            problems.append("payload.summary must be 1-1024 characters")
        if not payload.get("source"):
            problems.append("payload.source is required")
        if payload.get("severity") not in SEVERITIES:
            problems.append("payload.severity must be critical, error, warning or info")
        links = event.get("links", [])
        if not isinstance(links, list) or any("href" not in x for x in links):
            problems.append("links must be a list of {href, text}")
    return problems


def _accepts(response: httpx.Response) -> str | None:
    if response.status_code != 202:
        return f"HTTP {response.status_code}: expected 202"
    return None


class PagerDutyReceiver:
    """Sends events for one routing key (a secret: never logged)."""

    kind = "pagerduty"

    def __init__(self, routing_key: str, delivery: HttpDelivery, url: str = DEFAULT_URL) -> None:
        self._key = routing_key
        self._delivery = delivery
        self.url = url

    def __repr__(self) -> str:
        return f"PagerDutyReceiver({self.url}, <routing key hidden>)"

    def send(
        self, n: Notification, on_attempt: Callable[[Attempt], None] | None = None
    ) -> DeliveryResult:
        """Enqueue the event for ``n`` (retries inside; see :mod:`sinks.delivery`)."""
        return self._delivery.post_json(
            self.url, build_event(n, self._key), on_attempt=on_attempt, accept=_accepts
        )
