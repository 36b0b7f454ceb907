"""What a receiver is asked to send: one incident transition, independent of the service.

The router (``streams.agents.routing``) builds a :class:`Notification` from the incident and
the alert record that changed it; :mod:`sinks.slack`, :mod:`sinks.pagerduty` and
:mod:`sinks.webhook` turn it into their payloads. It never holds a secret.

Example
-------
>>> n = Notification(action="trigger", incident_id="inc-1", alert=EXAMPLE_ALERT,
...                  started_ms=1768469460000)
>>> n.title
'[PAGE] chat-api-availability firing: chat-api / chat-api-v42 (canary)'
>>> n.evidence["burn_rates"]["1h"]
21.3
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Action = Literal["trigger", "acknowledge", "resolve", "repeat"]

#: An alert record as the worker emits it (schemas/avro/alert.v1.avsc), for examples and tests.
EXAMPLE_ALERT: dict[str, Any] = {
    "alert_id": "5f0c1d2e3a4b5c6d",
    "incident_id": "9e8d7c6b5a4f3e2d",
    "ts": 1768469460000,
    "kind": "slo",
    "rule": "chat-api-availability",
    "severity": "page",
    "state": "firing",
    "service": "chat-api",
    "deployment": "chat-api-v42",
    "track": "canary",
    "model": None,
    "window": "1h/5m",
    "value": 21.3,
    "threshold": 14.4,
    "summary": "chat-api-availability burning error budget 21.3x (page at 14.4x) over 1h and 5m",
    "labels": {
        "service": "chat-api",
        "deployment": "chat-api-v42",
        "track": "canary",
        "slo": "chat-api-availability",
    },
    "annotations": {
        "burn_rates": '{"1h": 21.3, "5m": 30.1}',
        "evidence": '{"bad": 213, "total": 1000}',
        "sql": "SELECT * FROM events_dedup WHERE deployment = 'chat-api-v42' AND status != 'ok'",
    },
}


def _json_or_text(value: str | None) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def iso_ms(ms: int | None) -> str:
    """Epoch milliseconds as ISO-8601 UTC.

    >>> iso_ms(1768469460000)
    '2026-01-15T09:31:00Z'
    """
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Notification:
    """One incident transition to tell a receiver about."""

    action: Action
    incident_id: str
    alert: dict[str, Any]
    started_ms: int
    ended_ms: int | None = None
    grafana_url: str | None = None
    interactive: bool = False  # Slack: add the Acknowledge / Silence / Roll back buttons
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> str:
        return str(self.alert.get("severity") or "ticket")

    @property
    def where(self) -> str:
        a = self.alert
        parts = [str(a.get("service") or "?")]
        if a.get("deployment"):
            parts.append(str(a["deployment"]))
        text = " / ".join(parts)
        if a.get("track"):
            text += f" ({a['track']})"
        return text

    @property
    def title(self) -> str:
        verb = {
            "trigger": "firing",
            "repeat": "still firing",
            "acknowledge": "acknowledged",
            "resolve": "resolved",
        }[self.action]
        return f"[{self.severity.upper()}] {self.alert.get('rule')} {verb}: {self.where}"

    @property
    def evidence(self) -> dict[str, Any]:
        """Burn rates, verdict evidence and SQL from the annotations, JSON decoded."""
        ann = self.alert.get("annotations") or {}
        out: dict[str, Any] = {}
        for key in ("burn_rates", "evidence"):
            value = _json_or_text(ann.get(key))
            if value is not None:
                out[key] = value
        verdict = (self.alert.get("labels") or {}).get("verdict")
        if verdict:
            out["verdict"] = verdict
        return out

    @property
    def sql(self) -> str:
        return str((self.alert.get("annotations") or {}).get("sql") or "")

    @property
    def dashboard_link(self) -> str | None:
        if not self.grafana_url:
            return None
        dep = self.alert.get("deployment") or ""
        sep = "&" if "?" in self.grafana_url else "?"
        return f"{self.grafana_url}{sep}var-deployment={dep}&from={self.started_ms - 3600_000}"
