"""The alerter end to end below faust: real chdb tables, local fake Slack and PagerDuty.

Each test builds the alerter from settings (environment-style quick start), feeds it alert
records as the worker emits them, and checks what reached the fake services, the rollback
commands it published and the rows in ``notifications``, ``rollbacks`` and ``incidents``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sinks.clickhouse.control_plane import ControlStore
from sinks.rollback_signing import verify_command
from streams.agents.alerter import Alerter, build_alerter
from streams.control_records import alert_codec
from tocsin.runtime.receivers import FakeReceivers
from tocsin.settings import Settings

pytestmark = pytest.mark.integration

ROUTING_KEY = "PDKEY0123456789abcdef0123456789Z"
SIGNING_KEY = "signing-key-0123456789-abcdefghij"


def alert(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "alert_id": "a-fire",
        "incident_id": "inc-canary",
        "ts": 1_767_225_660_000,
        "kind": "slo",
        "rule": "chat-api-availability",
        "severity": "page",
        "state": "firing",
        "service": "chat-api",
        "deployment": "chat-api-canary",
        "track": "canary",
        "model": None,
        "window": "1h/5m",
        "value": 20.0,
        "threshold": 14.4,
        "summary": "chat-api-availability burning 20x",
        "labels": {
            "service": "chat-api",
            "deployment": "chat-api-canary",
            "track": "canary",
            "slo": "chat-api-availability",
        },
        "annotations": {"burn_rates": '{"1h": 20.0}', "sql": "SELECT 1"},
    }
    base.update(kw)
    return base


@pytest.fixture
def fake() -> Iterator[FakeReceivers]:
    with FakeReceivers(fail_first={"slack": (500,), "pagerduty": (429,)}, retry_after_s=0) as f:
        yield f


class Published(list[tuple[str, dict[str, Any]]]):
    def __call__(self, key: str, command: dict[str, Any]) -> None:
        self.append((key, command))


def make(
    fake: FakeReceivers, store: ControlStore, tmp_path: Path, **rollback: Any
) -> tuple[Alerter, Published]:
    settings = Settings(
        home=tmp_path / "home",
        alerting={
            "slack_webhook_url": fake.slack_url,
            "pagerduty_routing_key": ROUTING_KEY,
            "pagerduty_url": fake.pagerduty_url,
            "delivery_base_delay_s": 0.01,
            "delivery_max_elapsed_s": 5,
        },
        rollback={"signing_key": SIGNING_KEY, **rollback},
    )
    published = Published()
    return build_alerter(settings, store, published, issued_by="test"), published


def all_rows(client: Any) -> str:
    text = []
    for table in ("notifications", "rollbacks", "incidents", "silences"):
        text.append(str(client.query(f"SELECT * FROM {table}").result_rows))
    return "\n".join(text)


def test_canary_page_pages_once_rolls_back_once_and_resolves(
    fake: FakeReceivers, migrated_store: Any, tmp_path: Path
) -> None:
    store = ControlStore(migrated_store)
    alerter, published = make(fake, store, tmp_path)
    fire = alert()
    out = alerter.handle(alert_codec().decode(alert_codec().encode(fire)))
    assert out.transition == "trigger" and out.rollback_status == "issued"
    # the same page from the stable deployment: notified, never rolled back
    stable = alert(
        alert_id="s-fire",
        incident_id="inc-stable",
        deployment="chat-api-stable",
        track="stable",
        labels={"track": "stable", "slo": "chat-api-availability"},
    )
    assert alerter.handle(stable).rollback_status is None
    assert alerter.handle(fire).transition == "duplicate"
    ((key, command),) = published
    assert key == "chat-api-canary" and command["deployment"] == "chat-api-canary"
    verify_command(command, {"k1": SIGNING_KEY.encode()}, now_ms=command["ts"] + 1000)
    assert alerter.verdict("chat-api-canary")[0] == 503

    alerter.handle(alert(alert_id="a-res", state="resolved", ts=fire["ts"] + 600_000))
    assert alerter.verdict("chat-api-canary")[0] == 200

    pd = [r.body for r in fake.accepted("pagerduty") if r.body["dedup_key"] == "inc-canary"]
    assert [e["event_action"] for e in pd] == ["trigger", "resolve"]
    slack = [r.body["text"] for r in fake.accepted("slack") if "canary" in r.body["text"]]
    assert len(slack) == 2 and "firing" in slack[0] and "resolved" in slack[1]
    rows = migrated_store.query(
        "SELECT receiver, action, attempt, status_code, outcome FROM notifications "
        "WHERE incident_id = 'inc-canary' ORDER BY receiver, action, attempt"
    ).result_rows
    assert ("pagerduty", "trigger", 1, 429, "retrying") in rows
    assert ("pagerduty", "trigger", 2, 202, "delivered") in rows
    assert ("slack", "trigger", 1, 500, "retrying") in rows
    assert ("slack", "resolve", 1, 200, "delivered") in rows
    issued = migrated_store.query(
        "SELECT deployment, status FROM rollbacks FINAL WHERE record = 'command'"
    ).result_rows
    assert issued == [("chat-api-canary", "issued")]
    text = all_rows(migrated_store)
    for secret in (ROUTING_KEY, SIGNING_KEY, fake.slack_url.rsplit("/", 3)[-1]):
        assert secret not in text


def test_restart_and_crash_replays_send_nothing_twice(
    fake: FakeReceivers, migrated_store: Any, tmp_path: Path
) -> None:
    store = ControlStore(migrated_store)
    first, _ = make(fake, store, tmp_path)
    first.handle(alert())
    sent = len(fake.requests)
    # a restart: the replayed alert is a duplicate of a stored incident
    second, published2 = make(fake, store, tmp_path)
    assert second.handle(alert()).transition == "duplicate"
    assert second.verdict("chat-api-canary")[0] == 503  # open incident remembered
    # a crash after notifying but before the incident row was written: replayed as new,
    # yet neither notified nor rolled back again
    migrated_store.command("TRUNCATE TABLE incidents")
    third, published3 = make(fake, store, tmp_path)
    out = third.handle(alert())
    assert out.transition == "trigger" and out.rollback_status == "already_issued"
    assert len(fake.requests) == sent and not published2 and not published3
    # the resolve still reaches both receivers that got the trigger
    third.handle(alert(alert_id="a-res", state="resolved"))
    actions = [r.body.get("event_action") for r in fake.accepted("pagerduty")]
    assert actions == ["trigger", "resolve"]


def test_silence_inhibition_kill_switch_dry_run_and_cooldown(
    fake: FakeReceivers, migrated_store: Any, tmp_path: Path
) -> None:
    store = ControlStore(migrated_store)
    now = 1_767_225_600_000
    store.add_silence({"service": "chat-api"}, now - 1, now + 10**12, "maintenance", "me", "s1")
    alerter, published = make(fake, store, tmp_path, dry_run=True)
    out = alerter.handle(alert())
    assert {o for _, _, o in out.notified} == {"silenced"}
    assert out.rollback_status == "dry_run" and not published
    assert fake.requests == []
    store.expire_silence("s1", now_ms=now)
    alerter.refresh_silences(force=True)
    # same deployment, another SLO: the dry run's cooldown holds a second rollback back
    out2 = alerter.handle(
        alert(
            alert_id="b",
            incident_id="inc-2",
            rule="latency",
            labels={"slo": "latency", "track": "canary"},
        )
    )
    assert out2.rollback_status == "skipped_cooldown"
    assert {o for _, _, o in out2.notified} == {"delivered"}
    off, published_off = make(fake, ControlStore(migrated_store), tmp_path, enabled=False)
    out3 = off.handle(alert(alert_id="c", incident_id="inc-3", deployment="other-canary"))
    assert out3.rollback_status == "disabled" and not published_off
    statuses = sorted(
        r[0]
        for r in migrated_store.query(
            "SELECT status FROM rollbacks FINAL WHERE record = 'command'"
        ).result_rows
    )
    assert statuses == ["disabled", "dry_run", "skipped_cooldown"]
    silenced = migrated_store.query(
        "SELECT count() FROM notifications WHERE outcome = 'silenced'"
    ).result_rows[0][0]
    assert silenced == 2  # slack and pagerduty were both held back


def test_canary_verdicts_drive_the_verdict_endpoint(
    fake: FakeReceivers, migrated_store: Any, tmp_path: Path
) -> None:
    alerter, published = make(fake, ControlStore(migrated_store), tmp_path)
    assert alerter.verdict("chat-api-canary")[1]["verdict"] == "inconclusive"
    fail = alert(
        kind="canary",
        rule="canary-verdict",
        alert_id="cv1",
        incident_id="cv",
        labels={"verdict": "fail", "track": "canary"},
        window=None,
    )
    out = alerter.handle(fail)
    assert out.rollback_status == "issued" and len(published) == 1
    status, doc = alerter.verdict("chat-api-canary")
    assert status == 503 and doc["verdict"] == "fail" and doc["canary"]["verdict"] == "fail"
    alerter.handle(
        {
            **fail,
            "alert_id": "cv2",
            "state": "resolved",
            "labels": {"verdict": "pass", "track": "canary"},
        }
    )
    status, doc = alerter.verdict("chat-api-canary")
    assert (status, doc["verdict"], doc["firing"]) == (200, "pass", [])


def test_alert_without_deployment_gets_the_canary_that_served_the_track(
    fake: FakeReceivers, migrated_store: Any, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    migrated_store.insert(
        "events",
        [
            ["e1", datetime.now(UTC), "chat-api", "chat-api-v42", "canary"],
            ["e2", datetime.now(UTC), "chat-api", "chat-api-v41", "stable"],
        ],
        column_names=["event_id", "ts", "service", "deployment", "track"],
    )
    alerter, published = make(fake, ControlStore(migrated_store), tmp_path)
    out = alerter.handle(
        alert(deployment=None, labels={"track": "canary", "slo": "chat-api-availability"})
    )
    assert out.rollback_status == "issued"
    assert published[0][1]["deployment"] == "chat-api-v42"
    assert alerter.verdict("chat-api-v42")[0] == 503


def test_people_hear_first_but_a_slow_receiver_never_delays_the_rollback(
    migrated_store: Any, tmp_path: Path
) -> None:
    import time

    with FakeReceivers() as quick:
        alerter, _ = make(quick, ControlStore(migrated_store), tmp_path)
        seen_at_publish: list[int] = []
        alerter.publish = lambda key, cmd: seen_at_publish.append(
            len(quick.accepted("slack")) + len(quick.accepted("pagerduty"))
        )
        alerter.handle(alert())
        assert seen_at_publish == [2]  # both receivers had it before the command went out
    with FakeReceivers(fail_first={"pagerduty": (429,)}, retry_after_s=2) as slow:
        alerter, _ = make(slow, ControlStore(migrated_store), tmp_path / "b")
        started = time.monotonic()
        published_after: list[float] = []
        alerter.publish = lambda key, cmd: published_after.append(time.monotonic() - started)
        alerter.handle(alert(alert_id="x2", incident_id="inc-x2", deployment="other-canary"))
        assert time.monotonic() - started >= 2.0  # the handler waited for PagerDuty's retry
        assert published_after[0] < 1.8  # the rollback did not


def test_pagerduty_resolves_when_the_pages_end_while_a_ticket_window_still_burns(
    fake: FakeReceivers, migrated_store: Any, tmp_path: Path
) -> None:
    alerter, _ = make(fake, ControlStore(migrated_store), tmp_path)
    alerter.handle(alert(alert_id="p-f", incident_id="w-page"))
    alerter.handle(alert(alert_id="t-f", incident_id="w-ticket", severity="ticket", window="3d/6h"))
    out = alerter.handle(alert(alert_id="p-r", incident_id="w-page", state="resolved"))
    assert out.transition == "deescalate"
    assert out.notified == [("pagerduty", "resolve", "delivered")]
    assert alerter.verdict("chat-api-canary")[0] == 200  # no page firing any more
    out = alerter.handle(alert(alert_id="t-r", incident_id="w-ticket", severity="ticket",
                               window="3d/6h", state="resolved"))  # fmt: skip
    assert out.transition == "resolve"
    assert out.notified == [("slack", "resolve", "delivered")]
    pd = [r.body["event_action"] for r in fake.accepted("pagerduty")]
    assert pd == ["trigger", "resolve"]


def test_unacknowledged_incidents_repeat_and_carry_the_grafana_link(
    fake: FakeReceivers, migrated_store: Any, tmp_path: Path
) -> None:
    now = [1_767_225_600_000]
    settings = Settings(
        home=tmp_path / "home",
        alerting={"slack_webhook_url": fake.slack_url, "repeat_interval_s": 3600,
                  "grafana_url": "https://grafana.example.com/d/tocsin"},
        rollback={"enabled": False},
    )  # fmt: skip
    alerter = build_alerter(settings, ControlStore(migrated_store), None)
    alerter.clock = lambda: now[0]
    alerter.handle(alert())
    assert alerter.due_repeats() == []
    now[0] += 3_600_000
    assert alerter.due_repeats() == [("slack", "repeat", "delivered")]
    assert alerter.due_repeats() == []  # not again before another interval
    alerter.acknowledge("inc-canary", "bob")
    now[0] += 3_600_000
    assert alerter.due_repeats() == []  # acknowledged: no more reminders
    texts = [r.body["text"] for r in fake.accepted("slack")]
    assert [t.split("]")[1].split(":")[0].strip() for t in texts] == [
        "chat-api-availability firing",
        "chat-api-availability still firing",
        "chat-api-availability acknowledged",
    ]
    context = fake.accepted("slack")[0].body["blocks"]
    links = [e["text"] for b in context if b["type"] == "context" for e in b["elements"]]
    assert any(
        "https://grafana.example.com/d/tocsin?var-deployment=chat-api-canary" in t for t in links
    )


def test_drift_incidents_resolve_after_the_resolve_timeout(
    fake: FakeReceivers, migrated_store: Any, tmp_path: Path
) -> None:
    # A drift detection only fires; without a timeout its incident would stay open and
    # repeat every four hours for ever.
    now = [1_767_225_600_000]
    settings = Settings(
        home=tmp_path / "home",
        alerting={"slack_webhook_url": fake.slack_url, "resolve_timeout_s": 3600,
                  "repeat_interval_s": 0},
        rollback={"enabled": False},
    )  # fmt: skip
    store = ControlStore(migrated_store)
    alerter = build_alerter(settings, store, None)
    alerter.clock = lambda: now[0]
    drift = alert(
        kind="drift", rule="tokens_out", severity="ticket", alert_id="d-1",
        incident_id="drift-1", window="", summary="[ticket] tokens_out drifted down",
    )  # fmt: skip
    slo_ticket = alert(alert_id="s-1", incident_id="slo-1", severity="ticket")
    assert alerter.handle(drift).transition == "trigger"
    assert alerter.handle(slo_ticket).transition == "trigger"
    now[0] += 1_800_000
    # a second detection of the same signal and deployment: same incident, clock restarts
    second = {**drift, "alert_id": "d-2", "incident_id": "drift-2", "ts": drift["ts"] + 1_800_000}
    assert alerter.handle(second).transition == "update"
    now[0] += 3_000_000
    assert alerter.due_auto_resolves() == []  # 50 min since the last detection
    now[0] += 600_000
    outcomes = alerter.due_auto_resolves()
    assert [o.transition for o in outcomes] == ["update", "resolve"]  # both members closed
    assert alerter.due_auto_resolves() == []
    open_kinds = [i.kind for i in alerter.book.open_incidents()]
    assert open_kinds == ["slo"]  # an SLO incident resolves with its own record, not by time
    texts = [r.body["text"] for r in fake.accepted("slack")]
    assert len(texts) == 3 and "resolved" in texts[-1], texts
    # a restarted alerter finds it resolved and does not resolve it again
    again = build_alerter(settings, store, None)
    again.clock = lambda: now[0] + 7_200_000
    again.start()
    assert again.due_auto_resolves() == []
    assert len(fake.accepted("slack")) == 3
