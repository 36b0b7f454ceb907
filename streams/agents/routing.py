"""Alert routing as pure code: matching, routes, silences, grouping, inhibition, incidents.

No I/O here: :class:`streams.agents.alerter.Alerter` feeds alert records in, persists what
comes out and talks to the receivers. Alertmanager's model, kept small:

- **labels** of an alert are its ``labels`` map plus ``kind``, ``rule``, ``severity``,
  ``state``, ``service``, ``deployment`` and ``track``;
- **routes** match labels exactly (``match: {severity: page}``) and name receivers; the first
  matching route wins unless it says ``continue_matching``;
- **grouping**: one incident per ``group_by`` values (default rule × deployment); the
  incident id is the worker's ``incident_id`` of the first alert that opened it (PagerDuty's
  ``dedup_key``); its severity is the highest of its firing members;
- **inhibition**: a firing page holds back the ticket of the same SLO and deployment (within
  one incident this is the severity rule; across incidents, :meth:`IncidentBook.inhibitor`);
- **silences** hold back notifications whose labels match every matcher while active;
- **state machine**: triggered → acknowledged → resolved; a firing alert on a resolved group
  opens a new incident. Alerts are applied once per ``alert_id`` (a worker replay re-emits
  the same ids).

Example
-------
>>> book = IncidentBook()
>>> a = {"alert_id": "a1", "incident_id": "w1", "ts": 60_000, "kind": "slo", "rule": "avail",
...      "severity": "page", "state": "firing", "service": "chat", "deployment": "chat-v2",
...      "track": "canary", "labels": {}}
>>> t = book.apply(a)
>>> t.action, t.incident.incident_id, t.incident.state
('trigger', 'w1', 'triggered')
>>> book.apply(a).action   # the same alert_id again: a replay
'duplicate'
>>> book.apply({**a, "alert_id": "a2", "state": "resolved", "ts": 120_000}).action
'resolve'
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

SEVERITY_RANK = {"info": 0, "ticket": 1, "page": 2}
#: Label names built from the alert's own fields (they win over same-named labels).
FIELD_LABELS = ("kind", "rule", "severity", "state", "service", "deployment", "track", "window")

TransitionAction = Literal[
    "trigger", "escalate", "deescalate", "resolve", "update", "duplicate", "ignored"
]


def alert_labels(alert: Mapping[str, Any]) -> dict[str, str]:
    """The labels routes and silences match on.

    >>> alert_labels({"kind": "slo", "rule": "r", "service": "s", "deployment": None,
    ...               "labels": {"slo": "r", "team": "x"}})["team"]
    'x'
    """
    labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
    for name in FIELD_LABELS:
        value = alert.get(name)
        if value is not None and value != "":
            labels[name] = str(value)
    return labels


def parse_matchers(items: Iterable[str]) -> dict[str, str]:
    """``["service=chat-api", "severity=page"]`` -> a matcher dict.

    >>> parse_matchers(["service=chat-api", "rule = avail"])
    {'service': 'chat-api', 'rule': 'avail'}
    >>> parse_matchers(["service"])
    Traceback (most recent call last):
    ...
    ValueError: matcher 'service' must look like name=value (e.g. service=chat-api)
    """
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(f"matcher {item!r} must look like name=value (e.g. service=chat-api)")
        out[name.strip()] = value.strip()
    return out


def matches(matchers: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Every matcher equals the label of the same name (``*`` matches any present value).

    >>> matches({"service": "chat"}, {"service": "chat", "severity": "page"})
    True
    >>> matches({"service": "chat", "track": "*"}, {"service": "chat"})
    False
    """
    for name, want in matchers.items():
        have = labels.get(name)
        if have is None or (want != "*" and have != want):
            return False
    return True


@dataclass(frozen=True)
class Route:
    """Alerts whose labels match go to ``receivers``."""

    match: Mapping[str, str]
    receivers: Sequence[str]
    continue_matching: bool = False


def route(routes: Sequence[Route], labels: Mapping[str, str]) -> list[str]:
    """Receiver names for ``labels`` (first match wins unless it continues), no duplicates.

    >>> rs = [Route({"severity": "page"}, ["pagerduty"], True), Route({}, ["slack"])]
    >>> route(rs, {"severity": "page"}), route(rs, {"severity": "ticket"})
    (['pagerduty', 'slack'], ['slack'])
    """
    out: list[str] = []
    for r in routes:
        if matches(r.match, labels):
            out.extend(x for x in r.receivers if x not in out)
            if not r.continue_matching:
                break
    return out


@dataclass(frozen=True)
class Silence:
    """Holds back notifications of matching alerts between ``starts_ms`` and ``ends_ms``."""

    silence_id: str
    matchers: Mapping[str, str]
    starts_ms: int
    ends_ms: int
    comment: str = ""
    created_by: str = ""

    def active(self, now_ms: int) -> bool:
        return self.starts_ms <= now_ms < self.ends_ms

    def silences(self, labels: Mapping[str, str], now_ms: int) -> bool:
        """Whether this silence holds back an alert with ``labels`` at ``now_ms``.

        >>> Silence("s", {"service": "chat"}, 0, 10).silences({"service": "chat"}, 5)
        True
        """
        return self.active(now_ms) and matches(self.matchers, labels)


def silenced_by(
    silences: Iterable[Silence], labels: Mapping[str, str], now_ms: int
) -> Silence | None:
    """The first active silence matching ``labels``, if any."""
    for s in silences:
        if s.silences(labels, now_ms):
            return s
    return None


@dataclass
class Incident:
    """One router incident (a group of worker alerts sharing the ``group_by`` values)."""

    incident_id: str
    group_key: str
    kind: str
    rule: str
    service: str
    deployment: str
    track: str
    started_ms: int
    updated_ms: int
    state: str = "triggered"  # triggered | acknowledged | resolved
    severity: str = "info"
    members: dict[str, str] = field(default_factory=dict)  # worker incident id -> severity
    alert_ids: list[str] = field(default_factory=list)
    resolved_ms: int | None = None
    acknowledged_by: str = ""
    last_alert: dict[str, Any] = field(default_factory=dict)
    version: int = 0

    @property
    def open(self) -> bool:
        return self.state != "resolved"

    @property
    def labels(self) -> dict[str, str]:
        return alert_labels(self.last_alert) if self.last_alert else {}

    def recompute_severity(self) -> str:
        if self.members:
            self.severity = max(self.members.values(), key=lambda s: SEVERITY_RANK.get(s, 0))
        return self.severity


@dataclass
class Transition:
    """What applying one alert did."""

    action: TransitionAction
    incident: Incident | None = None
    previous_severity: str | None = None
    alert: Mapping[str, Any] | None = None


def group_key(alert: Mapping[str, Any], group_by: Sequence[str]) -> str:
    """The grouping key: ``kind`` plus the ``group_by`` label values.

    >>> group_key({"kind": "slo", "rule": "avail", "service": "chat", "deployment": "d1"},
    ...           ["rule", "deployment"])
    'slo|rule=avail|deployment=d1'
    """
    labels = alert_labels(alert)
    if "deployment" in group_by and "deployment" not in labels:
        labels["deployment"] = labels.get("service", "")
    parts = [str(alert.get("kind") or "")]
    parts += [f"{name}={labels.get(name, '')}" for name in group_by]
    return "|".join(parts)


class IncidentBook:
    """The incident state machine over a stream of alert records (pure, in memory).

    ``restore`` loads what the store remembers, so a restart neither forgets an open
    incident nor re-applies an alert it already applied.
    """

    def __init__(self, group_by: Sequence[str] = ("rule", "deployment")) -> None:
        self.group_by = tuple(group_by)
        self.incidents: dict[str, Incident] = {}  # incident_id -> incident
        self.open_by_group: dict[str, str] = {}  # group key -> open incident id
        self.seen_alert_ids: set[str] = set()

    def restore(self, incidents: Iterable[Incident]) -> None:
        """Take back incidents from the store (oldest first)."""
        for inc in incidents:
            self.incidents[inc.incident_id] = inc
            self.seen_alert_ids.update(inc.alert_ids)
            if inc.open:
                self.open_by_group[inc.group_key] = inc.incident_id
            elif self.open_by_group.get(inc.group_key) == inc.incident_id:
                del self.open_by_group[inc.group_key]

    def open_incidents(self, deployment: str | None = None) -> list[Incident]:
        out = [self.incidents[i] for i in self.open_by_group.values()]
        if deployment is not None:
            out = [i for i in out if i.deployment == deployment]
        return out

    def apply(self, alert: Mapping[str, Any]) -> Transition:
        """Apply one alert record; the transition says what to notify."""
        alert_id = str(alert.get("alert_id") or "")
        if alert_id and alert_id in self.seen_alert_ids:
            return Transition("duplicate", alert=alert)
        key = group_key(alert, self.group_by)
        member = str(alert.get("incident_id") or alert_id)
        severity = str(alert.get("severity") or "ticket")
        ts = int(alert.get("ts") or 0)
        open_id = self.open_by_group.get(key)
        incident = self.incidents.get(open_id) if open_id else None
        firing = alert.get("state") == "firing"
        if alert_id:
            self.seen_alert_ids.add(alert_id)
        if incident is None:
            if not firing:
                return Transition("ignored", alert=alert)  # resolve of nothing we know
            labels = alert_labels(alert)
            incident = Incident(
                incident_id=member,
                group_key=key,
                kind=str(alert.get("kind") or ""),
                rule=str(alert.get("rule") or ""),
                service=labels.get("service", ""),
                deployment=labels.get("deployment", ""),
                track=labels.get("track", ""),
                started_ms=ts,
                updated_ms=ts,
                severity=severity,
                members={member: severity},
                last_alert=dict(alert),
            )
            if member in self.incidents:
                # the worker reopened an incident id we resolved before: a new router incident
                incident.incident_id = f"{member}-{ts}"
            incident.alert_ids.append(alert_id)
            self.incidents[incident.incident_id] = incident
            self.open_by_group[key] = incident.incident_id
            incident.version += 1
            return Transition("trigger", incident, None, alert)
        previous = incident.severity
        incident.alert_ids.append(alert_id)
        incident.updated_ms = max(incident.updated_ms, ts)
        incident.version += 1
        if firing:
            incident.members[member] = severity
            incident.recompute_severity()
            if SEVERITY_RANK.get(incident.severity, 0) > SEVERITY_RANK.get(previous, 0):
                incident.last_alert = dict(alert)
                return Transition("escalate", incident, previous, alert)
            if SEVERITY_RANK.get(severity, 0) >= SEVERITY_RANK.get(previous, 0):
                incident.last_alert = dict(alert)  # newer evidence of the same severity
            return Transition("update", incident, previous, alert)
        incident.members.pop(member, None)
        if incident.members:
            incident.recompute_severity()
            if SEVERITY_RANK.get(incident.severity, 0) < SEVERITY_RANK.get(previous, 0):
                # e.g. the page windows are over, a ticket window still burns: receivers
                # that only take pages (PagerDuty) get their resolve now
                return Transition("deescalate", incident, previous, alert)
            return Transition("update", incident, previous, alert)
        incident.state = "resolved"
        incident.resolved_ms = ts
        resolved = dict(incident.last_alert)
        resolved.update(state="resolved", alert_id=alert_id, ts=ts)
        if alert.get("labels"):
            resolved["labels"] = dict(alert["labels"])
        incident.last_alert = resolved
        del self.open_by_group[key]
        return Transition("resolve", incident, previous, alert)

    def acknowledge(self, incident_id: str, by: str, now_ms: int) -> Incident | None:
        """Mark an open incident acknowledged (idempotent); None if unknown or resolved."""
        incident = self.incidents.get(incident_id)
        if incident is None or not incident.open:
            return None
        if incident.state != "acknowledged":
            incident.state = "acknowledged"
            incident.acknowledged_by = by
            incident.updated_ms = max(incident.updated_ms, now_ms)
            incident.version += 1
        return incident

    def inhibitor(self, incident: Incident) -> Incident | None:
        """An open page incident that holds back ``incident`` (a ticket/info of the same SLO
        and deployment), if any."""
        if SEVERITY_RANK.get(incident.severity, 0) >= SEVERITY_RANK["page"]:
            return None
        slo = incident.labels.get("slo") or (incident.rule if incident.kind == "slo" else None)
        if not slo:
            return None
        for other in self.open_incidents(incident.deployment):
            if other is incident or other.severity != "page":
                continue
            other_slo = other.labels.get("slo") or (other.rule if other.kind == "slo" else None)
            if other_slo == slo:
                return other
        return None


# --------------------------------------------------------------------------- rollback policy


@dataclass(frozen=True)
class RollbackPolicy:
    """Which alerts roll back which deployments (``rollback`` settings)."""

    enabled: bool = True
    dry_run: bool = False
    on_tracks: Sequence[str] = ("canary",)
    on_kinds: Sequence[str] = ("slo", "canary")
    deployments: Sequence[str] = ()
    cooldown_ms: int = 900_000

    def wants_rollback(self, alert: Mapping[str, Any]) -> str | None:
        """Why ``alert`` calls for a rollback of its deployment, or None.

        A firing ``page`` SLO alert, or a failing canary verdict, on a canary track (or on a
        deployment listed in ``deployments``). The kill switch is checked by the caller so
        that it can record what it did not do.

        >>> p = RollbackPolicy()
        >>> p.wants_rollback({"kind": "slo", "severity": "page", "state": "firing",
        ...                   "deployment": "d2", "track": "canary", "rule": "avail"})
        'slo avail paging on canary d2'
        >>> p.wants_rollback({"kind": "slo", "severity": "page", "state": "firing",
        ...                   "deployment": "d1", "track": "stable", "rule": "avail"}) is None
        True
        """
        if alert.get("state") != "firing":
            return None
        deployment = alert.get("deployment")
        if not deployment:
            return None
        kind = str(alert.get("kind") or "")
        if kind not in self.on_kinds:
            return None
        labels = alert.get("labels") or {}
        track = str(alert.get("track") or labels.get("track") or "")
        if track not in self.on_tracks and deployment not in self.deployments:
            return None
        rule = alert.get("rule")
        if kind == "canary":
            verdict = labels.get("verdict")
            if verdict == "fail" or (verdict is None and alert.get("severity") == "page"):
                return f"canary verdict fail ({rule}) on {track} {deployment}"
            return None
        if alert.get("severity") == "page":
            return f"{kind} {rule} paging on {track} {deployment}"
        return None


ROLLBACK_NAMESPACE = uuid.UUID("6b3f1c2e-8d4a-4e5b-9c7d-0a1b2c3d4e5f")


def command_id_for(incident_id: str, deployment: str) -> str:
    """The rollback command id of an incident: the same on every restart, a UUID.

    >>> command_id_for("w1", "chat-v2") == command_id_for("w1", "chat-v2")
    True
    """
    return str(uuid.uuid5(ROLLBACK_NAMESPACE, f"rollback|{incident_id}|{deployment}"))


def stable_hex(*parts: str, length: int = 16) -> str:
    """A short deterministic hex id.

    >>> stable_hex("a", "b")
    'f04cdced9736a69d'
    """
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length]
