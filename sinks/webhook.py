"""A generic JSON webhook: the incident transition as one self-describing JSON object.

Any 2xx is delivered; 429/5xx are retried, other 4xx are not (:mod:`sinks.delivery`).

Example
-------
>>> from sinks.notification import EXAMPLE_ALERT, Notification
>>> body = build_body(Notification("resolve", "inc-1", EXAMPLE_ALERT, 1768469460000, 1768470000000))
>>> body["action"], body["incident_id"], body["alert"]["rule"], body["ended_at"]
('resolve', 'inc-1', 'chat-api-availability', '2026-01-15T09:40:00Z')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sinks.delivery import Attempt, DeliveryResult, HttpDelivery
from sinks.notification import Notification, iso_ms


def build_body(n: Notification) -> dict[str, Any]:
    """The JSON body for ``n``: version, action, incident, evidence and the alert record."""
    return {
        "version": 1,
        "source": "tocsin",
        "action": n.action,
        "incident_id": n.incident_id,
        "title": n.title,
        "severity": n.severity,
        "started_at": iso_ms(n.started_ms),
        "ended_at": iso_ms(n.ended_ms) if n.ended_ms else None,
        "evidence": n.evidence,
        "sql": n.sql or None,
        "dashboard": n.dashboard_link,
        "alert": n.alert,
    }


class WebhookReceiver:
    """POSTs to one URL (treated as a secret: it may embed a token)."""

    kind = "webhook"

    def __init__(
        self, url: str, delivery: HttpDelivery, headers: dict[str, str] | None = None
    ) -> None:
        self._url = url
        self._headers = dict(headers or {})
        self._delivery = delivery

    def __repr__(self) -> str:
        return "WebhookReceiver(<url hidden>)"

    def send(
        self, n: Notification, on_attempt: Callable[[Attempt], None] | None = None
    ) -> DeliveryResult:
        return self._delivery.post_json(
            self._url, build_body(n), headers=self._headers, on_attempt=on_attempt
        )
