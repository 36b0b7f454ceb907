"""Slack, PagerDuty and webhook receivers against local servers that apply the real rules.

No mocks of the HTTP client: real sockets on 127.0.0.1, real retries (with short waits).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from sinks.delivery import Attempt, HttpDelivery, RetryPolicy
from sinks.notification import EXAMPLE_ALERT, Notification
from sinks.pagerduty import PagerDutyReceiver, build_event
from sinks.slack import SlackReceiver, build_message, check_message
from sinks.webhook import WebhookReceiver
from tocsin.runtime.receivers import FakeReceivers

pytestmark = pytest.mark.integration

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"


def delivery(**kw: Any) -> HttpDelivery:
    policy = RetryPolicy(
        max_elapsed_s=kw.pop("max_elapsed_s", 10.0), base_delay_s=0.05, max_delay_s=0.2
    )
    return HttpDelivery(policy, **kw)


def note(action: str = "trigger", **alert: Any) -> Notification:
    return Notification(action, "inc-1", {**EXAMPLE_ALERT, **alert}, 1768469460000)  # type: ignore[arg-type]


def test_slack_429_then_ok_honours_retry_after() -> None:
    attempts: list[Attempt] = []
    with FakeReceivers(fail_first={"slack": (429,)}, retry_after_s=1) as fake:
        started = time.monotonic()
        result = SlackReceiver(fake.slack_url, delivery()).send(note(), attempts.append)
        waited = time.monotonic() - started
        assert result.delivered
        assert [(a.attempt, a.status_code, a.outcome) for a in attempts] == [
            (1, 429, "retrying"),
            (2, 200, "delivered"),
        ]
        assert waited >= 1.0  # Retry-After: 1, not the 0.05 s backoff
        (msg,) = fake.accepted("slack")
        assert msg.body["blocks"][0]["type"] == "header"
        assert "chat-api-v42" in msg.body["text"]


def test_pagerduty_500_then_202_and_the_event_is_valid() -> None:
    attempts: list[Attempt] = []
    with FakeReceivers(fail_first={"pagerduty": (500, 502)}) as fake:
        receiver = PagerDutyReceiver(ROUTING_KEY, delivery(), fake.pagerduty_url)
        result = receiver.send(note(), attempts.append)
        assert result.delivered
        assert [a.status_code for a in attempts] == [500, 502, 202]
        (event,) = fake.accepted("pagerduty")
        assert event.body["dedup_key"] == "inc-1"
        assert event.body["payload"]["severity"] == "critical"
        assert event.body["payload"]["custom_details"]["burn_rates"] == {"1h": 21.3, "5m": 30.1}
        resolve = receiver.send(note("resolve"))
        assert resolve.delivered
        assert fake.accepted("pagerduty")[-1].body == {
            "routing_key": ROUTING_KEY,
            "event_action": "resolve",
            "dedup_key": "inc-1",
        }


def test_400_is_not_retried_and_is_reported_as_rejected() -> None:
    attempts: list[Attempt] = []
    with FakeReceivers() as fake:
        # a 31-character routing key: PagerDuty answers 400 invalid event
        receiver = PagerDutyReceiver(ROUTING_KEY[:-1], delivery(), fake.pagerduty_url)
        result = receiver.send(note(), attempts.append)
        assert not result.delivered
        assert [(a.status_code, a.outcome) for a in attempts] == [(400, "rejected")]
        assert "routing_key" in attempts[0].error
        # Slack: a wrong webhook token is a 404 no_service, not retried either
        bad = SlackReceiver(fake.slack_url + "x", delivery()).send(note(), attempts.append)
        assert not bad.delivered and attempts[-1].status_code == 404
        assert len(fake.requests) == 2


def test_connection_errors_retry_until_the_budget_is_spent() -> None:
    attempts: list[Attempt] = []
    waits: list[float] = []
    d = delivery(max_elapsed_s=0.5, sleep=waits.append)
    result = WebhookReceiver("http://127.0.0.1:9/hook", d).send(note(), attempts.append)
    assert not result.delivered
    assert all(a.status_code == 0 and "connection" in a.error for a in attempts)
    assert attempts[-1].outcome == "failed" and len(attempts) >= 2
    assert all(0 <= w <= 0.2 for w in waits)  # jittered, capped


def test_long_evidence_is_cut_to_slack_and_pagerduty_limits() -> None:
    huge = "x" * 10_000
    n = note(
        summary=huge,
        annotations={"sql": "SELECT " + huge, "evidence": '{"a": "' + huge + '"}'},
        rule="r" * 300,
    )
    n.interactive = True
    msg = build_message(n)
    assert check_message(msg) == []
    event = build_event(n, ROUTING_KEY)
    assert len(event["payload"]["summary"]) == 1024
    with FakeReceivers() as fake:
        assert SlackReceiver(fake.slack_url, delivery()).send(n).delivered
        assert PagerDutyReceiver(ROUTING_KEY, delivery(), fake.pagerduty_url).send(n).delivered


def test_the_fake_slack_refuses_what_slack_refuses() -> None:
    with FakeReceivers() as fake:
        too_many = {"text": "t", "blocks": [{"type": "divider"}] * 51}
        long_header = {
            "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]
        }
        for body in ({}, too_many, long_header):
            r = httpx.post(fake.slack_url, json=body)
            assert r.status_code == 400
        assert httpx.post(fake.slack_url, json={}).text == "no_text"
        r = httpx.post(fake.pagerduty_url, json={"event_action": "trigger"})
        assert r.status_code == 400 and r.json()["status"] == "invalid event"
