"""The alerter's HTTP endpoints on a real aiohttp server: the verdict and Slack's buttons."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientSession, web

from sinks.clickhouse.control_plane import ControlStore
from sinks.slack import ACTION_ACK, ACTION_ROLLBACK, ACTION_SILENCE, sign_request
from streams.agents.alerter import alerting_routes, build_alerter
from tests.integration.test_alerter import ROUTING_KEY, alert
from tocsin.runtime.receivers import FakeReceivers
from tocsin.settings import Settings

pytestmark = pytest.mark.integration

SECRET = "slack-signing-secret-0123456789"


def serve_and_call(
    alerter: Any, calls: list[tuple[str, str, dict[str, str], bytes]]
) -> list[tuple[int, Any]]:
    """Start the routes on a free port, make the calls, return (status, JSON) of each."""

    async def main() -> list[tuple[int, Any]]:
        app = web.Application()
        app.add_routes(alerting_routes(alerter, SECRET))
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        out = []
        try:
            async with ClientSession() as http:
                for method, path, headers, body in calls:
                    async with http.request(
                        method, f"http://127.0.0.1:{port}{path}", headers=headers, data=body
                    ) as r:
                        out.append((r.status, await r.json()))
        finally:
            await runner.cleanup()
        return out

    return asyncio.run(main())


def slack_call(
    action_id: str, value: str, *, ts: int | None = None, secret: str = SECRET
) -> tuple[str, str, dict[str, str], bytes]:
    payload = {
        "type": "block_actions",
        "user": {"id": "U1", "username": "alice"},
        "actions": [{"action_id": action_id, "value": value}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = int(time.time()) if ts is None else ts
    headers = {
        "X-Slack-Request-Timestamp": str(stamp),
        "X-Slack-Signature": sign_request(secret, stamp, body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return ("POST", "/v1/slack/actions", headers, body)


def make(fake: FakeReceivers, client: Any, tmp_path: Path) -> Any:
    settings = Settings(
        home=tmp_path / "home",
        alerting={
            "slack_webhook_url": fake.slack_url,
            "slack_signing_secret": SECRET,
            "pagerduty_routing_key": ROUTING_KEY,
            "pagerduty_url": fake.pagerduty_url,
        },
        rollback={"signing_key": "k" * 32, "enabled": True},
    )
    published: list[Any] = []
    return build_alerter(
        settings, ControlStore(client), lambda k, c: published.append(c)
    ), published


def test_verdict_endpoint(migrated_store: Any, tmp_path: Path) -> None:
    with FakeReceivers() as fake:
        alerter, _ = make(fake, migrated_store, tmp_path)
        alerter.handle(alert())
        flagger = json.dumps(
            {"name": "chat-api-canary", "namespace": "prod", "phase": "Progressing"}
        ).encode()
        results = serve_and_call(
            alerter,
            [
                ("GET", "/v1/verdict", {}, b""),
                ("GET", "/v1/verdict?deployment=chat-api-canary", {}, b""),
                ("GET", "/v1/verdict?deployment=chat-api-canary&always_200=1", {}, b""),
                ("POST", "/v1/verdict", {"Content-Type": "application/json"}, flagger),
                ("GET", "/v1/verdict?deployment=chat-api-stable", {}, b""),
            ],
        )
    assert results[0][0] == 400
    assert results[1][0] == 503 and results[1][1]["verdict"] == "fail"
    assert results[1][1]["firing"][0]["rule"] == "chat-api-availability"
    assert results[2][0] == 200 and results[2][1]["verdict"] == "fail"
    assert results[3][0] == 503 and results[3][1]["deployment"] == "chat-api-canary"
    assert results[4][0] == 200 and results[4][1]["verdict"] == "inconclusive"


def test_slack_buttons_need_a_fresh_valid_signature(migrated_store: Any, tmp_path: Path) -> None:
    with FakeReceivers() as fake:
        alerter, published = make(fake, migrated_store, tmp_path)
        alerter.config.policy = type(alerter.config.policy)(on_tracks=())  # no automatic rollback
        alerter.handle(alert())
        incident = "inc-canary"
        bad = [
            slack_call(ACTION_ACK, incident, secret="wrong-secret"),
            slack_call(ACTION_ACK, incident, ts=int(time.time()) - 301),
            ("POST", "/v1/slack/actions", {}, b"payload=%7B%7D"),
        ]
        refused = serve_and_call(alerter, bad)
        assert [s for s, _ in refused] == [401, 401, 401]
        assert alerter.book.incidents[incident].state == "triggered"  # nothing was done
        before = len(fake.accepted("pagerduty"))
        good = serve_and_call(
            alerter,
            [
                slack_call(ACTION_ACK, incident),
                slack_call(ACTION_SILENCE, incident),
                slack_call(ACTION_ROLLBACK, incident),
            ],
        )
        assert [s for s, _ in good] == [200, 200, 200]
        assert "alice" in good[0][1]["text"]
        assert alerter.book.incidents[incident].state == "acknowledged"
        ack = fake.accepted("pagerduty")[before:]
        assert [(e.body["event_action"], e.body["dedup_key"]) for e in ack] == [
            ("acknowledge", incident)
        ]
        silences = ControlStore(migrated_store).silences(int(time.time() * 1000))
        assert [s["matchers"] for s in silences] == [
            {"rule": "chat-api-availability", "deployment": "chat-api-canary"}
        ]
        assert good[2][1]["text"] == "Rollback: issued" and len(published) == 1
        assert "manual rollback by alice" in published[0]["reason"]
