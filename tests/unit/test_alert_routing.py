"""Routing, grouping, inhibition, silences and the incident state machine (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from streams.agents.routing import (
    IncidentBook,
    RollbackPolicy,
    Route,
    Silence,
    command_id_for,
    group_key,
    parse_matchers,
    route,
    silenced_by,
)


def alert(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "alert_id": "a1",
        "incident_id": "w1",
        "ts": 60_000,
        "kind": "slo",
        "rule": "avail",
        "severity": "page",
        "state": "firing",
        "service": "chat",
        "deployment": "chat-v2",
        "track": "canary",
        "summary": "s",
        "labels": {"slo": "avail"},
        "annotations": {},
    }
    base.update(kw)
    return base


def test_replayed_alert_ids_are_dropped_also_after_restore() -> None:
    book = IncidentBook()
    assert book.apply(alert()).action == "trigger"
    assert book.apply(alert()).action == "duplicate"
    again = IncidentBook()
    again.restore(book.incidents.values())
    assert again.apply(alert()).action == "duplicate"
    assert again.apply(alert(alert_id="a2", state="resolved")).action == "resolve"


def test_one_incident_per_rule_and_deployment() -> None:
    book = IncidentBook()
    t1 = book.apply(alert(alert_id="a1", incident_id="w1", window="1h/5m"))
    t2 = book.apply(alert(alert_id="a2", incident_id="w2", window="6h/30m"))
    assert t1.action == "trigger" and t2.action == "update"
    assert t2.incident is t1.incident
    assert t1.incident is not None and t1.incident.incident_id == "w1"
    # one member resolving keeps the incident open; the last one resolves it
    assert book.apply(alert(alert_id="a3", incident_id="w1", state="resolved")).action == "update"
    t = book.apply(alert(alert_id="a4", incident_id="w2", state="resolved", ts=300_000))
    assert t.action == "resolve" and t.incident is not None
    assert t.incident.state == "resolved" and t.incident.resolved_ms == 300_000
    other = book.apply(alert(alert_id="b1", incident_id="x1", deployment="chat-v1"))
    assert other.action == "trigger"


def test_ticket_then_page_escalates_and_page_inhibits_a_ticket() -> None:
    book = IncidentBook()
    assert book.apply(alert(alert_id="t1", incident_id="wt", severity="ticket")).action == "trigger"
    t = book.apply(alert(alert_id="p1", incident_id="wp", severity="page"))
    assert t.action == "escalate" and t.previous_severity == "ticket"
    assert t.incident is not None and t.incident.severity == "page"
    # across groups: with grouping by window too, the page inhibits the ticket of the same SLO
    book2 = IncidentBook(group_by=("rule", "deployment", "window"))
    book2.apply(alert(alert_id="p1", incident_id="wp", window="1h/5m"))
    t2 = book2.apply(alert(alert_id="t1", incident_id="wt", severity="ticket", window="3d/6h"))
    assert t2.action == "trigger" and t2.incident is not None
    blocker = book2.inhibitor(t2.incident)
    assert blocker is not None and blocker.incident_id == "wp"
    # another deployment's page does not inhibit
    t3 = book2.apply(alert(alert_id="t3", incident_id="wx", severity="ticket", deployment="other"))
    assert t3.incident is not None and book2.inhibitor(t3.incident) is None


def test_resolved_group_reopens_as_a_new_incident() -> None:
    book = IncidentBook()
    book.apply(alert())
    book.apply(alert(alert_id="a2", state="resolved"))
    t = book.apply(alert(alert_id="a3", incident_id="w2", ts=600_000))
    assert t.action == "trigger" and t.incident is not None and t.incident.incident_id == "w2"
    # the worker reusing an old incident id still gets a distinct router incident
    book.apply(alert(alert_id="a4", incident_id="w2", state="resolved", ts=660_000))
    t = book.apply(alert(alert_id="a5", incident_id="w2", ts=720_000))
    assert t.incident is not None and t.incident.incident_id == "w2-720000"


def test_resolve_of_unknown_incident_is_ignored_and_acknowledge_is_idempotent() -> None:
    book = IncidentBook()
    assert book.apply(alert(state="resolved")).action == "ignored"
    book.apply(alert(alert_id="a9"))
    inc = book.acknowledge("w1", "alice", 1)
    assert inc is not None and inc.state == "acknowledged"
    version = inc.version
    assert book.acknowledge("w1", "bob", 2) is inc and inc.version == version
    assert inc.acknowledged_by == "alice"
    assert book.acknowledge("nope", "x", 3) is None


def test_routes_and_silences() -> None:
    routes = [
        Route({"severity": "page"}, ["pagerduty"], continue_matching=True),
        Route({"service": "chat"}, ["slack-chat"]),
        Route({}, ["slack-all"]),
    ]
    assert route(routes, {"severity": "page", "service": "chat"}) == ["pagerduty", "slack-chat"]
    assert route(routes, {"severity": "ticket", "service": "x"}) == ["slack-all"]
    s = Silence("s1", parse_matchers(["service=chat", "track=canary"]), 100, 200)
    labels = {"service": "chat", "track": "canary"}
    assert silenced_by([s], labels, 150) is s
    assert silenced_by([s], labels, 200) is None  # ends_at is exclusive
    assert silenced_by([s], {"service": "chat"}, 150) is None
    with pytest.raises(ValueError, match="name=value"):
        parse_matchers(["=x"])


def test_group_key_uses_service_when_deployment_is_null() -> None:
    key = group_key(alert(deployment=None, labels={}), ["rule", "deployment"])
    assert key == "slo|rule=avail|deployment=chat"


@pytest.mark.parametrize(
    ("changes", "wanted"),
    [
        ({}, True),
        ({"track": "stable"}, False),
        ({"severity": "ticket"}, False),
        ({"state": "resolved"}, False),
        ({"deployment": None}, False),
        ({"kind": "drift"}, False),
        ({"kind": "canary", "rule": "canary-verdict", "labels": {"verdict": "fail"}}, True),
        (
            {"kind": "canary", "rule": "canary-verdict", "labels": {"verdict": "inconclusive"}},
            False,
        ),
    ],
)
def test_rollback_policy(changes: dict[str, Any], wanted: bool) -> None:
    assert (RollbackPolicy().wants_rollback(alert(**changes)) is not None) is wanted


def test_stable_rolls_back_only_when_configured_and_command_ids_are_stable() -> None:
    policy = RollbackPolicy(deployments=("chat-v1",))
    assert policy.wants_rollback(alert(track="stable", deployment="chat-v1")) is not None
    assert command_id_for("w1", "d") == command_id_for("w1", "d") != command_id_for("w2", "d")


def test_the_documented_routing_example_loads_and_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from tocsin.settings import AlertingSettings

    example = Path(__file__).resolve().parents[2] / "infra" / "config" / "routing.yaml"
    settings = AlertingSettings(routing_file=example)
    receivers, routes = settings.routing()
    assert receivers["oncall-pagerduty"].type == "pagerduty"
    rs = [Route(r.match, r.receivers, r.continue_matching) for r in routes]
    page = {"severity": "page", "service": "chat-api", "kind": "slo"}
    assert route(rs, page) == ["oncall-pagerduty", "chat-team-slack"]
    assert route(rs, {"severity": "ticket", "kind": "drift", "service": "x"}) == [
        "ml-platform-slack"
    ]
    monkeypatch.setenv("SLACK_WEBHOOK_CHAT_TEAM", "https://hooks.slack.com/services/T/B/x")
    assert settings.secret_for("chat-team-slack", receivers["chat-team-slack"]) == (
        "https://hooks.slack.com/services/T/B/x"
    )
    assert settings.secret_for("oncall-pagerduty", receivers["oncall-pagerduty"]) is None
