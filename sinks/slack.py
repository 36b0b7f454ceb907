"""Slack: incoming-webhook messages in Block Kit, and request signatures (v0) for buttons.

Payload rules applied here (Slack's documented limits; the fake server in
``tocsin.runtime.receivers`` rejects payloads that break them with ``400 invalid_payload``,
as Slack does): at most 50 blocks; a ``header`` is ``plain_text`` of at most 150
characters; a ``section`` text at most 3,000 characters and at most 10 ``fields`` of at most
2,000 each; a ``context`` at most 10 elements; an ``actions`` block at most 25 elements, a
button's text at most 75 characters, its ``action_id`` at most 255 and ``value`` at most 2,000.
A top-level ``text`` is always set (notifications and screen readers use it). Slack answers
``200 ok`` when it takes a message.

Signatures: Slack signs each interactivity request with the app's signing secret:
``v0=`` + hex HMAC-SHA256 over ``v0:{X-Slack-Request-Timestamp}:{raw body}``. A request
older than five minutes is refused (replay protection), as is a bad signature.

Example
-------
>>> from sinks.notification import EXAMPLE_ALERT, Notification
>>> msg = build_message(Notification("trigger", "inc-1", EXAMPLE_ALERT, 1768469460000))
>>> msg["blocks"][0]["text"]["text"]
':rotating_light: [PAGE] chat-api-availability firing: chat-api / chat-api-v42 (canary)'
>>> check_message(msg)
[]
>>> body = b"payload=%7B%7D"
>>> sig = sign_request("secret", 1700000000, body)
>>> verify_request("secret", "1700000000", body, sig, now=1700000100)
>>> verify_request("secret", "1700000000", body, sig, now=1700000400)
Traceback (most recent call last):
...
sinks.slack.SlackSignatureError: request timestamp is more than 300 s from now
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from sinks.delivery import Attempt, DeliveryResult, HttpDelivery
from sinks.notification import Notification, iso_ms

MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTION_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_ACTION_ID = 255
MAX_BUTTON_VALUE = 2000
MAX_TEXT = 40_000
#: Slack refuses signed requests older than this (seconds).
SIGNATURE_MAX_AGE_S = 300

ACTION_ACK = "tocsin_acknowledge"
ACTION_SILENCE = "tocsin_silence_1h"
ACTION_ROLLBACK = "tocsin_rollback"

_ICONS = {"trigger": ":rotating_light:", "repeat": ":repeat:", "acknowledge": ":eyes:"}


class SlackSignatureError(ValueError):
    """An interactivity request that must not be acted on (bad, missing or stale signature)."""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _code(text: str, limit: int = MAX_SECTION_TEXT) -> str:
    # ``` fences count against the limit; backticks inside would end the block early
    inner = text.replace("```", "'''")
    return "```" + _cut(inner, limit - 6) + "```"


def build_message(n: Notification) -> dict[str, Any]:
    """The Block Kit message for one incident transition, within Slack's limits."""
    a = n.alert
    icon = ":white_check_mark:" if n.action == "resolve" else _ICONS.get(n.action, ":bell:")
    if n.severity != "page" and n.action == "trigger":
        icon = ":warning:"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(f"{icon} {n.title}", MAX_HEADER)},
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": _cut(str(a.get("summary") or n.title), MAX_SECTION_TEXT),
            },
        },
    ]
    fields = [
        ("Service", a.get("service")),
        ("Deployment", a.get("deployment")),
        ("Track", a.get("track")),
        ("Kind / rule", f"{a.get('kind')} / {a.get('rule')}"),
        ("Severity", n.severity),
        ("Window", a.get("window")),
        ("Since", iso_ms(n.started_ms)),
        ("Ended", iso_ms(n.ended_ms) if n.ended_ms else None),
        ("Incident", n.incident_id),
    ]
    blocks.append(
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _cut(f"*{k}*\n{v}", MAX_FIELD_TEXT)}
                for k, v in fields
                if v
            ][:MAX_FIELDS],
        }
    )
    evidence = n.evidence
    if evidence:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*Evidence*\n"
                    + _code(json.dumps(evidence, indent=1, sort_keys=True), MAX_SECTION_TEXT - 20),
                },
            }
        )
    if n.sql:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*Events behind it* (`tocsin sql`)\n"
                    + _code(n.sql, MAX_SECTION_TEXT - 40),
                },
            }
        )
    context = [
        {
            "type": "mrkdwn",
            "text": f"tocsin · alert `{a.get('alert_id')}` · event time {iso_ms(a.get('ts'))}",
        }
    ]
    link = n.dashboard_link
    if link:
        context.append({"type": "mrkdwn", "text": f"<{link}|Grafana>"})
    blocks.append({"type": "context", "elements": context[:MAX_CONTEXT_ELEMENTS]})
    if n.interactive and n.action in ("trigger", "repeat"):
        value = _cut(n.incident_id, MAX_BUTTON_VALUE)
        elements = [
            {
                "type": "button",
                "action_id": ACTION_ACK,
                "value": value,
                "text": {"type": "plain_text", "text": "Acknowledge"},
            },
            {
                "type": "button",
                "action_id": ACTION_SILENCE,
                "value": value,
                "text": {"type": "plain_text", "text": "Silence 1 h"},
            },
        ]
        if a.get("deployment"):
            elements.append(
                {
                    "type": "button",
                    "action_id": ACTION_ROLLBACK,
                    "value": value,
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Roll back now"},
                }
            )
        blocks.append({"type": "actions", "elements": elements})
    return {"text": _cut(n.title, MAX_TEXT), "blocks": blocks[:MAX_BLOCKS]}


def check_message(payload: Any) -> list[str]:
    """Problems Slack would refuse a message for (empty list = acceptable)."""
    problems: list[str] = []
    if not isinstance(payload, dict):
        return ["payload is not a JSON object"]
    blocks = payload.get("blocks")
    text = payload.get("text")
    if not text and not blocks and not payload.get("attachments"):
        return ["no_text"]
    if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT):
        problems.append("text too long or not a string")
    if blocks is None:
        return problems
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        return [*problems, "blocks must be a list of at most 50"]
    for i, b in enumerate(blocks):
        kind = b.get("type") if isinstance(b, dict) else None
        if kind == "header":
            t = b.get("text") or {}
            if t.get("type") != "plain_text" or not 0 < len(t.get("text", "")) <= MAX_HEADER:
                problems.append(f"blocks[{i}] header text must be plain_text of 1-150 chars")
        elif kind == "section":
            t = b.get("text")
            fields = b.get("fields")
            if t is None and not fields:
                problems.append(f"blocks[{i}] section needs text or fields")
            if t is not None and (
                t.get("type") not in ("mrkdwn", "plain_text")
                or not 0 < len(t.get("text", "")) <= MAX_SECTION_TEXT
            ):
                problems.append(f"blocks[{i}] section text must be 1-3000 chars")
            if fields is not None:
                if len(fields) > MAX_FIELDS:
                    problems.append(f"blocks[{i}] more than 10 fields")
                for f in fields:
                    if not 0 < len(f.get("text", "")) <= MAX_FIELD_TEXT:
                        problems.append(f"blocks[{i}] field text must be 1-2000 chars")
        elif kind == "context":
            els = b.get("elements") or []
            if not 0 < len(els) <= MAX_CONTEXT_ELEMENTS:
                problems.append(f"blocks[{i}] context needs 1-10 elements")
        elif kind == "actions":
            els = b.get("elements") or []
            if not 0 < len(els) <= MAX_ACTION_ELEMENTS:
                problems.append(f"blocks[{i}] actions needs 1-25 elements")
            for e in els:
                if e.get("type") == "button":
                    if not 0 < len((e.get("text") or {}).get("text", "")) <= MAX_BUTTON_TEXT:
                        problems.append(f"blocks[{i}] button text must be 1-75 chars")
                    if len(e.get("action_id", "")) > MAX_ACTION_ID:
                        problems.append(f"blocks[{i}] action_id longer than 255")
                    if len(e.get("value", "")) > MAX_BUTTON_VALUE:
                        problems.append(f"blocks[{i}] button value longer than 2000")
        elif kind not in ("divider", "image", "rich_text", "input", "file", "video", "markdown"):
            problems.append(f"blocks[{i}] unknown block type {kind!r}")
    return problems


def _slack_accepts(response: httpx.Response) -> str | None:
    body = response.text.strip()
    return (
        None if body == "ok" else f"HTTP {response.status_code}: unexpected answer {body[:100]!r}"
    )


class SlackReceiver:
    """Posts messages to one incoming webhook (its URL is a secret: never logged)."""

    kind = "slack"

    def __init__(self, webhook_url: str, delivery: HttpDelivery) -> None:
        self._url = webhook_url
        self._delivery = delivery

    def __repr__(self) -> str:
        return "SlackReceiver(<webhook url hidden>)"

    def send(
        self, n: Notification, on_attempt: Callable[[Attempt], None] | None = None
    ) -> DeliveryResult:
        """Deliver the message for ``n`` (retries inside; see :mod:`sinks.delivery`)."""
        return self._delivery.post_json(
            self._url, build_message(n), on_attempt=on_attempt, accept=_slack_accepts
        )


def sign_request(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Slack-Signature`` value Slack would send for ``body`` at ``timestamp``."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify_request(
    secret: str,
    timestamp: str | None,
    body: bytes,
    signature: str | None,
    *,
    now: float | None = None,
) -> None:
    """Raise :class:`SlackSignatureError` unless Slack signed ``body`` within five minutes."""
    if not timestamp or not signature:
        raise SlackSignatureError("missing X-Slack-Request-Timestamp or X-Slack-Signature")
    try:
        ts = int(timestamp)
    except ValueError:
        raise SlackSignatureError("X-Slack-Request-Timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - ts) > SIGNATURE_MAX_AGE_S:
        raise SlackSignatureError(
            f"request timestamp is more than {SIGNATURE_MAX_AGE_S} s from now"
        )
    expected = sign_request(secret, ts, body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SlackSignatureError("signature does not match")
