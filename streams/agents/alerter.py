"""The alerter: alert records in, notifications, rollback commands and a verdict out.

:class:`Alerter` is plain synchronous code (testable without faust): it applies each alert
record to the :class:`streams.agents.routing.IncidentBook`, issues a signed rollback
command when the policy says so (first: the rollback must be on its topic within a second),
then notifies the routed receivers (with retries, one ``notifications`` row per attempt,
silences and inhibition applied), and finally persists the incident. Persisting last makes
a crash mid-way safe: the replayed alert is applied again, and what was already delivered
(``notifications``) or issued (``rollbacks``, deterministic ``command_id``) is not repeated.

:func:`register_alerting` hosts it in the worker's faust app (DESIGN.md convention 3:
agents consume raw bytes and decode themselves), with the rollback-acks agent, the verdict
endpoint ``GET /v1/verdict?deployment=NAME`` and the Slack interactivity endpoint
``POST /v1/slack/actions``.

Example
-------
>>> from streams.agents.routing import Route
>>> alerter = Alerter(AlerterConfig(routes=[Route({}, ["print"])]),
...                   {"print": PrintReceiver()}, store=None)
>>> outcome = alerter.handle(EXAMPLE_ALERT)
[print] trigger [PAGE] chat-api-availability firing: chat-api / chat-api-v42 (canary)
>>> outcome.transition, alerter.verdict("chat-api-v42")[0]
('trigger', 503)
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sinks.base import RetryableError, SinkError, retry_call
from sinks.delivery import Attempt, DeliveryResult
from sinks.notification import EXAMPLE_ALERT, Notification
from sinks.rollback_signing import sign_command
from streams.agents.routing import (
    SEVERITY_RANK,
    Incident,
    IncidentBook,
    RollbackPolicy,
    Route,
    Silence,
    Transition,
    alert_labels,
    command_id_for,
    route,
    silenced_by,
    stable_hex,
)
from streams.codec import InvalidMessage

if TYPE_CHECKING:
    import faust
    from aiohttp import web

    from sinks.clickhouse.control_plane import ControlStore
    from tocsin.settings import Settings

__all__ = [
    "EXAMPLE_ALERT",
    "Alerter",
    "AlerterConfig",
    "HandleOutcome",
    "PrintReceiver",
    "Receiver",
    "build_alerter",
    "register_alerting",
]

log = logging.getLogger("tocsin.alerter")


class Receiver(Protocol):
    """What the alerter needs of a receiver (sinks.slack / pagerduty / webhook)."""

    kind: str

    def send(
        self, n: Notification, on_attempt: Callable[[Attempt], None] | None = None
    ) -> DeliveryResult: ...


class PrintReceiver:
    """Prints one line per notification (doctests, and a fallback when nothing is set)."""

    kind = "print"

    def send(
        self, n: Notification, on_attempt: Callable[[Attempt], None] | None = None
    ) -> DeliveryResult:
        print(f"[print] {n.action} {n.title}")
        attempt = Attempt(1, 0, 0.0, "delivered")
        if on_attempt:
            on_attempt(attempt)
        return DeliveryResult(True, [attempt])


#: Alert kinds whose records only ever fire (no resolve from the worker): their incidents
#: resolve after ``resolve_timeout_ms`` without a new firing alert.
ONE_SHOT_KINDS = frozenset({"drift"})


@dataclass
class AlerterConfig:
    """Everything the alerter decides with (built from the settings by :func:`build_alerter`)."""

    routes: Sequence[Route] = ()
    group_by: Sequence[str] = ("rule", "deployment")
    repeat_interval_ms: int = 4 * 3600 * 1000
    resolve_timeout_ms: int = 3600 * 1000
    grafana_url: str | None = None
    interactive: bool = False
    policy: RollbackPolicy = field(default_factory=RollbackPolicy)
    signing_key: bytes | None = None
    key_id: str = "k1"
    command_ttl_ms: int = 900_000
    issued_by: str = "tocsin-alerter"
    history_days: int = 7
    silence_refresh_ms: int = 5000
    notify_head_start_ms: int = 300


@dataclass
class HandleOutcome:
    """What one alert record caused (tests and logs)."""

    transition: str
    incident_id: str | None = None
    command: dict[str, Any] | None = None
    rollback_status: str | None = None
    notified: list[tuple[str, str, str]] = field(default_factory=list)  # receiver, action, outcome


def _now_ms() -> int:
    return int(time.time() * 1000)


class Alerter:
    """Routes alerts, issues rollbacks and keeps the per-deployment verdict (see module doc).

    Parameters
    ----------
    config : AlerterConfig
    receivers : dict
        Receiver name -> receiver object.
    store : ControlStore | None
        Durable state; None keeps everything in memory (doctests).
    publish : callable | None
        ``publish(key, command_record)`` puts a signed command on the rollback topic and
        returns once the broker has it; None = nothing is published.
    clock : callable
        Wall-clock milliseconds.
    """

    def __init__(
        self,
        config: AlerterConfig,
        receivers: Mapping[str, Receiver],
        store: ControlStore | None,
        publish: Callable[[str, dict[str, Any]], None] | None = None,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self.config = config
        self.receivers = dict(receivers)
        self.store = store
        self.publish = publish
        self.clock = clock
        self.book = IncidentBook(config.group_by)
        self.delivered: set[tuple[str, str, str]] = set()
        self.issued: dict[str, tuple[str, int]] = {}  # command_id -> (deployment, ms)
        self.last_rollback_ms: dict[str, int] = {}  # deployment -> ms
        self.silences: list[Silence] = []
        self.canary_verdicts: dict[str, dict[str, Any]] = {}  # deployment -> latest
        self.last_notified_ms: dict[str, int] = {}  # incident -> wall ms
        self.last_firing_ms: dict[str, int] = {}  # incident -> wall ms of its last firing alert
        self.counters = {"alerts": 0, "duplicates": 0, "invalid": 0, "rollbacks": 0}
        self._lock = threading.RLock()  # book and verdict state (not held while sending)
        self._started = False
        self._silences_at = 0
        self._deployments: dict[tuple[str, str], tuple[str | None, int]] = {}
        self._store_lock = threading.Lock()

    # ------------------------------------------------------------------ start-up
    def start(self) -> None:
        """Load incidents, deliveries, rollbacks and silences from the store (idempotent)."""
        if self._started:
            return
        if self.store is not None:
            since = self.clock() - self.config.history_days * 86_400_000
            store = self.store
            rows = self._store_call(lambda: store.incidents(since), "load incidents")
            self.book.restore(_incident_from_row(r) for r in rows)
            self.delivered = self._store_call(lambda: store.delivered(since), "load deliveries")
            self.issued = self._store_call(lambda: store.issued_commands(since), "load rollbacks")
            for deployment, ms in self.issued.values():
                self.last_rollback_ms[deployment] = max(
                    ms, self.last_rollback_ms.get(deployment, 0)
                )
            for inc in self.book.open_incidents():
                if inc.kind == "canary" and inc.severity == "page":
                    self.canary_verdicts[inc.deployment] = {
                        "verdict": "fail",
                        "ts": inc.updated_ms,
                        "incident_id": inc.incident_id,
                    }
        now = self.clock()
        for inc in self.book.open_incidents():
            self.last_notified_ms.setdefault(inc.incident_id, now)
            self.last_firing_ms.setdefault(inc.incident_id, now)
        self._started = True
        self.refresh_silences(force=True)

    def _store_call(self, fn: Callable[[], Any], what: str) -> Any:
        def on_retry(exc: BaseException, wait: float) -> None:
            log.warning("alerter: %s failed (%s); retrying in %.1f s", what, exc, wait)

        def locked() -> Any:
            with self._store_lock:  # notifications and rollbacks write from two threads
                return fn()

        return retry_call(locked, max_elapsed_s=60.0, on_retry=on_retry)

    def refresh_silences(self, force: bool = False) -> None:
        """Re-read active silences (every ``silence_refresh_ms`` at most, unless forced)."""
        now = self.clock()
        if self.store is None or (
            not force and now - self._silences_at < self.config.silence_refresh_ms
        ):
            return
        store = self.store
        try:
            with self._store_lock:
                rows = store.silences(now)
        except SinkError as exc:
            log.warning("alerter: cannot read silences (%s); keeping the last ones", exc)
            return
        self.silences = [
            Silence(
                r["silence_id"],
                r["matchers"],
                r["starts_ms"],
                r["ends_ms"],
                r["comment"],
                r["created_by"],
            )
            for r in rows
        ]
        self._silences_at = now

    # ------------------------------------------------------------------ alerts
    def handle_bytes(self, value: bytes | None) -> HandleOutcome | None:
        """Decode one alert record and handle it; an undecodable one is logged and counted."""
        from streams.control_records import alert_codec

        try:
            alert = alert_codec().decode(value)
        except InvalidMessage as exc:
            self.counters["invalid"] += 1
            log.error("alerter: skipping an alert record that cannot be read: %s", exc)
            return None
        return self.handle(alert)

    def with_deployment(self, alert: Mapping[str, Any]) -> Mapping[str, Any]:
        """The alert, with its deployment filled in from the events when the monitor grouped
        by track only (``deployment`` null, ``track`` known): the deployment that served the
        service on that track most recently. Cached for a minute."""
        if alert.get("deployment") or not alert.get("track") or self.store is None:
            return alert
        key = (str(alert.get("service") or ""), str(alert["track"]))
        now = self.clock()
        cached = self._deployments.get(key)
        if cached is None or now - cached[1] > 60_000:
            try:
                with self._store_lock:
                    found = self.store.latest_deployment(*key)
            except SinkError as exc:
                log.warning("alerter: cannot look up the deployment of %s: %s", key, exc)
                found = None
            cached = (found, now)
            self._deployments[key] = cached
        if not cached[0]:
            return alert
        labels = {**(alert.get("labels") or {}), "deployment": cached[0]}
        labels["deployment_from"] = "events"
        return {**alert, "deployment": cached[0], "labels": labels}

    def handle(self, alert: Mapping[str, Any]) -> HandleOutcome:
        """Apply one alert record: rollback, notifications, persistence (in that order)."""
        self.start()
        self.refresh_silences()
        alert = self.with_deployment(alert)
        with self._lock:
            self.counters["alerts"] += 1
            transition = self.book.apply(alert)
            if transition.action != "duplicate":
                self._note_canary_verdict(alert)
            else:
                self.counters["duplicates"] += 1
        outcome = HandleOutcome(transition.action)
        incident = transition.incident
        if incident is None:
            return outcome
        outcome.incident_id = incident.incident_id
        if alert.get("state") == "firing":
            self.last_firing_ms[incident.incident_id] = self.clock()
        failure: list[BaseException] = []
        notifier: threading.Thread | None = None
        if transition.action in ("trigger", "escalate", "deescalate", "resolve"):

            def notify() -> None:
                try:
                    outcome.notified = self._notify(transition)
                except BaseException as exc:  # re-raised below, in the caller's thread
                    failure.append(exc)

            # People are told first; the rollback waits for that only a moment, so that a
            # slow or retrying receiver never delays it past its one-second target.
            notifier = threading.Thread(target=notify, name="tocsin-notify", daemon=True)
            notifier.start()
            notifier.join(self.config.notify_head_start_ms / 1000)
        if transition.action in ("trigger", "escalate"):
            command, status = self.maybe_roll_back(incident, alert)
            outcome.command, outcome.rollback_status = command, status
        if notifier is not None:
            notifier.join()
        if failure:
            raise failure[0]
        self._persist(incident)
        return outcome

    def _note_canary_verdict(self, alert: Mapping[str, Any]) -> None:
        if alert.get("kind") != "canary" or not alert.get("deployment"):
            return
        labels = alert.get("labels") or {}
        verdict = labels.get("verdict") or ("fail" if alert.get("state") == "firing" else "pass")
        self.canary_verdicts[str(alert["deployment"])] = {
            "verdict": verdict,
            "ts": alert.get("ts"),
            "incident_id": alert.get("incident_id"),
            "alert_id": alert.get("alert_id"),
        }

    # ------------------------------------------------------------------ notifications
    def _receivers_for(self, incident: Incident, alert: Mapping[str, Any]) -> list[str]:
        labels = alert_labels(alert)
        labels["severity"] = incident.severity
        return [r for r in route(self.config.routes, labels) if r in self.receivers]

    def _notify(self, t: Transition) -> list[tuple[str, str, str]]:
        incident = t.incident
        assert incident is not None and t.alert is not None
        if t.action in ("resolve", "deescalate"):
            names = [
                name
                for name in self.receivers
                if (incident.incident_id, name, "trigger") in self.delivered
                and (incident.incident_id, name, "resolve") not in self.delivered
            ]
            if t.action == "deescalate":
                # only those that would not be told at the lower severity (PagerDuty when
                # the page windows are over and a ticket window still burns)
                still = set(self._receivers_for(incident, t.alert))
                names = [n for n in names if n not in still]
            action = "resolve"
        else:
            names = self._receivers_for(incident, t.alert)
            action = "trigger"
            for name in names:  # told it was over at a lower severity: a new trigger is due
                if (incident.incident_id, name, "resolve") in self.delivered:
                    self.delivered.discard((incident.incident_id, name, "resolve"))
                    self.delivered.discard((incident.incident_id, name, "trigger"))
        notification = Notification(
            action,  # type: ignore[arg-type]
            incident.incident_id,
            dict(incident.last_alert),
            incident.started_ms,
            incident.resolved_ms,
            grafana_url=self.config.grafana_url,
            interactive=self.config.interactive,
        )
        held: tuple[str, str] | None = None
        if action == "trigger":
            with self._lock:
                inhibitor = self.book.inhibitor(incident)
            silence = silenced_by(self.silences, incident.labels, self.clock())
            if inhibitor is not None:
                held = ("inhibited", f"by incident {inhibitor.incident_id}")
            elif silence is not None:
                held = ("silenced", f"by silence {silence.silence_id}")
        return self._send_all(notification, names, incident, held)

    def _send_all(
        self,
        n: Notification,
        names: Sequence[str],
        incident: Incident,
        held: tuple[str, str] | None = None,
    ) -> list[tuple[str, str, str]]:
        done: list[tuple[str, str, str]] = []
        for name in names:
            key = (incident.incident_id, name, n.action)
            if n.action != "repeat" and key in self.delivered:
                continue  # delivered before a restart or replay
            receiver = self.receivers[name]
            rows: list[dict[str, Any]] = []

            def row(
                outcome: str,
                attempt: int = 0,
                status: int = 0,
                latency: float = 0.0,
                error: str = "",
                _name: str = name,
                _kind: str = receiver.kind,
                _rows: list[dict[str, Any]] = rows,
            ) -> None:
                _rows.append(
                    {
                        "ts": self.clock(),
                        "incident_id": incident.incident_id,
                        "alert_id": str(n.alert.get("alert_id") or ""),
                        "receiver": _name,
                        "receiver_type": _kind,
                        "action": n.action,
                        "attempt": attempt,
                        "status_code": status,
                        "latency_ms": latency,
                        "outcome": outcome,
                        "error": error,
                        "service": incident.service,
                        "deployment": incident.deployment,
                        "rule": incident.rule,
                        "severity": incident.severity,
                    }
                )

            if held is not None:
                row(held[0], error=held[1])
                done.append((name, n.action, held[0]))
            else:

                def on_attempt(
                    a: Attempt, _row: Callable[..., None] = row, _name: str = name
                ) -> None:
                    _row(a.outcome, a.attempt, a.status_code, a.latency_ms, a.error)
                    if a.outcome == "rejected":
                        log.error(
                            "alerter: receiver %s refused the %s of incident %s (%s): check its "
                            "configuration; not retried",
                            _name,
                            n.action,
                            incident.incident_id,
                            a.error,
                        )
                    elif a.outcome == "failed":
                        log.error(
                            "alerter: receiver %s: giving up on incident %s (%s)",
                            _name,
                            incident.incident_id,
                            a.error,
                        )

                try:
                    result = receiver.send(n, on_attempt)
                except Exception as exc:  # a receiver bug must not stop the alerter
                    log.exception("alerter: receiver %s crashed", name)
                    row("failed", error=f"{type(exc).__name__}")
                    result = DeliveryResult(False)
                if result.delivered:
                    self.delivered.add(key)
                    self.last_notified_ms[incident.incident_id] = self.clock()
                done.append((name, n.action, "delivered" if result.delivered else "failed"))
            if self.store is not None and rows:
                self._write_notifications(rows)
        return done

    def _write_notifications(self, rows: list[dict[str, Any]]) -> None:
        store = self.store
        if store is not None:
            self._store_call(lambda: store.insert_notifications(rows), "write notifications")

    # ------------------------------------------------------------------ rollback
    def maybe_roll_back(
        self, incident: Incident, alert: Mapping[str, Any], *, manual_by: str | None = None
    ) -> tuple[dict[str, Any] | None, str | None]:
        """Issue the incident's rollback command if the policy wants one; (command, status)."""
        policy = self.config.policy
        reason = policy.wants_rollback(alert)
        if manual_by is not None and alert.get("deployment"):
            reason = f"manual rollback by {manual_by} ({incident.rule})"
        if reason is None:
            return None, None
        deployment = str(alert["deployment"])
        command_id = command_id_for(incident.incident_id, deployment)
        if command_id in self.issued:
            return None, "already_issued"
        now = self.clock()
        labels = alert.get("labels") or {}
        command: dict[str, Any] = {
            "command_id": command_id,
            "ts": now,
            "expires_at": now + self.config.command_ttl_ms,
            "incident_id": incident.incident_id,
            "action": "rollback",
            "service": str(alert.get("service") or incident.service),
            "deployment": deployment,
            "target_deployment": labels.get("stable_deployment")
            or labels.get("baseline_deployment")
            or labels.get("target_deployment"),
            "reason": f"{reason}: {alert.get('summary') or ''}"[:1000],
            "issued_by": self.config.issued_by,
            "key_id": None,
            "signature": None,
            "labels": {"rule": str(incident.rule), "kind": str(incident.kind)},
        }
        if command["target_deployment"] is None and self.store is not None:
            # where the canary's traffic goes back to: the service's stable deployment
            try:
                with self._store_lock:
                    command["target_deployment"] = self.store.latest_deployment(
                        command["service"], "stable"
                    )
            except SinkError as exc:
                log.warning("alerter: cannot look up the stable deployment: %s", exc)
        last = self.last_rollback_ms.get(deployment)
        if not policy.enabled:
            status = "disabled"
        elif last is not None and manual_by is None and now - last < policy.cooldown_ms:
            status = "skipped_cooldown"
        elif self.config.signing_key is None:
            status = "no_signing_key"
            log.error(
                "alerter: no rollback signing key (TOCSIN_ROLLBACK__SIGNING_KEY): "
                "not issuing the rollback of %s",
                deployment,
            )
        elif policy.dry_run:
            status = "dry_run"
        else:
            status = "issued"
        if status == "issued":
            command = sign_command(command, self.config.signing_key or b"", self.config.key_id)
            if self.publish is not None:
                publish = self.publish
                self._store_call(lambda: publish(deployment, command), "publish rollback command")
            self.counters["rollbacks"] += 1
            log.warning("alerter: rollback %s of %s issued (%s)", command_id, deployment, reason)
        if status in ("issued", "dry_run"):
            self.issued[command_id] = (deployment, now)
            self.last_rollback_ms[deployment] = now
        if self.store is not None:
            store = self.store
            row = {
                **command,
                "record": "command",
                "ack_id": "",
                "status": status,
                "key_id": command.get("key_id") or "",
                "target_deployment": command.get("target_deployment") or "",
            }
            self._store_call(lambda: store.insert_rollbacks([row]), "write rollbacks")
        return (command if status == "issued" else None), status

    def record_ack(self, ack: Mapping[str, Any]) -> None:
        """Store a deployment agent's acknowledgement in ``rollbacks``."""
        if self.store is None:
            return
        row = {**ack, "record": "ack", "ack_id": ack.get("ack_id") or stable_hex(str(ack))}
        store = self.store
        self._store_call(lambda: store.insert_rollbacks([row]), "write rollback ack")

    # ------------------------------------------------------------------ people's actions
    def acknowledge(self, incident_id: str, by: str) -> Incident | None:
        """Acknowledge an open incident; tells the receivers that got its trigger."""
        self.start()
        with self._lock:
            incident = self.book.acknowledge(incident_id, by, self.clock())
        if incident is None:
            return None
        names = [n for n in self.receivers if (incident_id, n, "trigger") in self.delivered]
        n = Notification(
            "acknowledge",
            incident_id,
            dict(incident.last_alert),
            incident.started_ms,
            grafana_url=self.config.grafana_url,
        )
        self._send_all(n, names, incident)
        self._persist(incident)
        return incident

    def silence_incident(self, incident_id: str, duration_ms: int, by: str) -> str | None:
        """Silence what an incident matches (rule and deployment) for ``duration_ms``."""
        incident = self.book.incidents.get(incident_id)
        if incident is None or self.store is None:
            return None
        matchers = {"rule": incident.rule}
        if incident.deployment:
            matchers["deployment"] = incident.deployment
        now = self.clock()
        with self._store_lock:
            sid = self.store.add_silence(
                matchers, now, now + duration_ms, f"from Slack by {by}", by
            )
        self.refresh_silences(force=True)
        return sid

    def roll_back_now(self, incident_id: str, by: str) -> str | None:
        """A person asked for the incident's rollback (Slack button); returns the status."""
        incident = self.book.incidents.get(incident_id)
        if incident is None:
            return None
        return self.maybe_roll_back(incident, incident.last_alert, manual_by=by)[1]

    def due_repeats(self) -> list[tuple[str, str, str]]:
        """Re-notify incidents still triggered (not acknowledged) after the repeat interval."""
        interval = self.config.repeat_interval_ms
        if interval <= 0:
            return []
        now = self.clock()
        done: list[tuple[str, str, str]] = []
        for incident in list(self.book.open_incidents()):
            if incident.state != "triggered":
                continue
            if now - self.last_notified_ms.get(incident.incident_id, now) < interval:
                continue
            names = [
                n for n in self.receivers if (incident.incident_id, n, "trigger") in self.delivered
            ]
            n = Notification(
                "repeat",
                incident.incident_id,
                dict(incident.last_alert),
                incident.started_ms,
                grafana_url=self.config.grafana_url,
                interactive=self.config.interactive,
            )
            self.last_notified_ms[incident.incident_id] = now
            done += self._send_all(n, names, incident)
        return done

    def due_auto_resolves(self) -> list[HandleOutcome]:
        """Resolve the open incidents of one-shot kinds (drift: a detection says "changed",
        never "back to normal") that saw no firing alert for ``resolve_timeout_ms``, as
        Alertmanager's ``resolve_timeout`` does: receivers get their resolve, the incident
        stops repeating, and the next detection opens a new one. The resolve records have
        deterministic ids (a restart does not resolve twice)."""
        timeout = self.config.resolve_timeout_ms
        if timeout <= 0:
            return []
        now = self.clock()
        outcomes: list[HandleOutcome] = []
        for incident in list(self.book.open_incidents()):
            if incident.kind not in ONE_SHOT_KINDS:
                continue
            last = self.last_firing_ms.setdefault(incident.incident_id, now)
            if now - last < timeout:
                continue
            minutes = round(timeout / 60_000)
            for member in list(incident.members):
                record = dict(incident.last_alert)
                record.update(
                    alert_id=f"{member}:resolve-timeout",
                    incident_id=member,
                    state="resolved",
                    ts=incident.updated_ms + (now - last),
                    summary=f"[{incident.severity}] {incident.kind} {incident.rule} on "
                    f"{incident.service}/{incident.deployment}: no new detection for "
                    f"{minutes} min, closed",
                )
                outcomes.append(self.handle(record))
            self.last_firing_ms.pop(incident.incident_id, None)
        return outcomes

    # ------------------------------------------------------------------ state
    def _persist(self, incident: Incident) -> None:
        if self.store is None:
            return
        row = {
            "incident_id": incident.incident_id,
            "group_key": incident.group_key,
            "state": incident.state,
            "severity": incident.severity,
            "kind": incident.kind,
            "rule": incident.rule,
            "service": incident.service,
            "deployment": incident.deployment,
            "track": incident.track,
            "started_at": incident.started_ms,
            "updated_at": incident.updated_ms,
            "resolved_at": incident.resolved_ms,
            "acknowledged_by": incident.acknowledged_by,
            "members": dict(incident.members),
            "alert_ids": [a for a in incident.alert_ids if a],
            "last_alert": _alert_json(incident.last_alert),
            # newer rows win in FINAL: wall-clock ns keeps versions rising across restarts
            "version": time.time_ns(),
        }
        store = self.store
        self._store_call(lambda: store.upsert_incident(row), "write incident")

    def verdict(self, deployment: str) -> tuple[int, dict[str, Any]]:
        """The deployment's verdict for rollout gates: (HTTP status, JSON document).

        200 with ``pass`` or ``inconclusive``; 503 with ``fail`` while a canary verdict fails
        or a page is firing for the deployment.
        """
        with self._lock:
            firing: list[dict[str, Any]] = [
                {
                    "incident_id": i.incident_id,
                    "kind": i.kind,
                    "rule": i.rule,
                    "severity": i.severity,
                    "state": i.state,
                    "since_ms": i.started_ms,
                }
                for i in self.book.open_incidents(deployment)
            ]
            canary = dict(self.canary_verdicts.get(deployment) or {})
        pages = [
            f for f in firing if SEVERITY_RANK.get(str(f["severity"]), 0) >= SEVERITY_RANK["page"]
        ]
        canary_verdict = canary.get("verdict")
        if pages or canary_verdict == "fail":
            verdict, status = "fail", 503
            reason = (
                "; ".join(f"{p['kind']} {p['rule']} paging" for p in pages) or "canary verdict fail"
            )
        elif canary_verdict == "pass":
            verdict, status, reason = "pass", 200, "canary verdict pass, nothing paging"
        else:
            verdict, status = "inconclusive", 200
            reason = "nothing paging" + ("" if canary_verdict else "; no canary verdict seen yet")
        return status, {
            "deployment": deployment,
            "verdict": verdict,
            "healthy": status == 200,
            "reason": reason,
            "canary": canary or None,
            "firing": firing,
            "checked_at_ms": self.clock(),
        }


def _alert_json(alert: Mapping[str, Any]) -> str:
    import json

    return json.dumps(dict(alert), default=str, sort_keys=True)


def _incident_from_row(row: Mapping[str, Any]) -> Incident:
    import json

    try:
        last = json.loads(row.get("last_alert") or "{}")
    except ValueError:
        last = {}
    return Incident(
        incident_id=row["incident_id"],
        group_key=row["group_key"],
        kind=row["kind"],
        rule=row["rule"],
        service=row["service"],
        deployment=row["deployment"],
        track=row["track"],
        started_ms=row["started_at"] or 0,
        updated_ms=row["updated_at"] or 0,
        state=row["state"],
        severity=row["severity"],
        members=dict(row["members"]),
        alert_ids=list(row["alert_ids"]),
        resolved_ms=row.get("resolved_at"),
        acknowledged_by=row.get("acknowledged_by") or "",
        last_alert=last,
        version=int(row.get("version") or 0),
    )


# --------------------------------------------------------------------------- wiring


def ensure_local_signing_key(path: Path) -> bytes:
    """The embedded stack's generated signing key (created 0600 on first use).

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "secrets" / "k"
    >>> ensure_local_signing_key(p) == ensure_local_signing_key(p), oct(p.stat().st_mode & 0o777)
    (True, '0o600')
    """
    if path.is_file():
        return path.read_text().strip().encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made meanwhile by another process
        return path.read_text().strip().encode()
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key.encode()


def build_receivers(settings: Settings) -> dict[str, Receiver]:
    """Receiver objects from the settings; a receiver without its secret is skipped loudly."""
    from sinks.delivery import HttpDelivery, RetryPolicy
    from sinks.pagerduty import PagerDutyReceiver
    from sinks.slack import SlackReceiver
    from sinks.webhook import WebhookReceiver

    a = settings.alerting
    policy = RetryPolicy(
        max_elapsed_s=a.delivery_max_elapsed_s,
        base_delay_s=a.delivery_base_delay_s,
        max_delay_s=a.delivery_max_delay_s,
        timeout_s=a.delivery_timeout_s,
    )
    delivery = HttpDelivery(policy)
    receivers_cfg, _ = a.routing()
    out: dict[str, Receiver] = {}
    for name, spec in receivers_cfg.items():
        secret = a.secret_for(name, spec)
        if spec.type == "pagerduty":
            if not secret:
                log.error("alerter: receiver %s has no routing key; skipped", name)
                continue
            out[name] = PagerDutyReceiver(secret, delivery, spec.url or a.pagerduty_url)
        elif not secret:
            log.error("alerter: receiver %s has no URL; skipped", name)
        elif spec.type == "slack":
            out[name] = SlackReceiver(secret, delivery)
        else:
            out[name] = WebhookReceiver(secret, delivery, spec.headers)
    return out


def build_alerter(
    settings: Settings,
    store: ControlStore | None,
    publish: Callable[[str, dict[str, Any]], None] | None,
    issued_by: str = "tocsin-alerter",
    receivers: Mapping[str, Receiver] | None = None,
) -> Alerter:
    """An :class:`Alerter` configured from the settings."""
    a = settings.alerting
    r = settings.rollback
    _, routes_cfg = a.routing()
    # unset: the embedded stack's generated key ($TOCSIN_HOME/secrets, made by `tocsin up`)
    key = r.signing_key_bytes(settings.home_abs)
    config = AlerterConfig(
        routes=[Route(x.match, x.receivers, x.continue_matching) for x in routes_cfg],
        group_by=a.group_by,
        repeat_interval_ms=int(a.repeat_interval_s * 1000),
        resolve_timeout_ms=int(a.resolve_timeout_s * 1000),
        grafana_url=a.grafana_url,
        interactive=a.slack_signing_secret is not None,
        policy=RollbackPolicy(
            enabled=r.enabled,
            dry_run=r.dry_run,
            on_tracks=tuple(r.on_tracks),
            on_kinds=tuple(r.on_kinds),
            deployments=tuple(r.deployments),
            cooldown_ms=int(r.cooldown_s * 1000),
        ),
        signing_key=key,
        key_id=r.key_id,
        command_ttl_ms=int(r.command_ttl_s * 1000),
        issued_by=issued_by,
        history_days=a.history_days,
        silence_refresh_ms=int(a.silence_refresh_s * 1000),
    )
    return Alerter(
        config, receivers if receivers is not None else build_receivers(settings), store, publish
    )


def command_publisher(
    bootstrap: str, topic: str, client_id: str
) -> Callable[[str, dict[str, Any]], None]:
    """``publish(deployment, command)``: encode, produce keyed by deployment, wait for the ack."""
    from confluent_kafka import Producer

    from streams.control_records import command_codec

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": client_id,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 0,
            "log_level": 0,
        }
    )
    codec = command_codec()

    def publish(deployment: str, command: dict[str, Any]) -> None:
        errors: list[str] = []

        def on_delivery(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(str(err))

        producer.produce(
            topic, key=deployment.encode(), value=codec.encode(command), on_delivery=on_delivery
        )
        left = producer.flush(10)
        if left or errors:
            raise RetryableError(
                f"rollback command not acknowledged by the broker: {errors or 'timeout'}"
            )

    return publish


def register_alerting(
    app: faust.App,
    settings: Settings,
    bootstrap: str,
    web_app: web.Application,
    worker_id: str = "worker-0",
) -> Alerter | None:
    """Host the alerter in the worker's faust app: agents, timer and HTTP endpoints.

    The agents consume raw bytes and decode themselves (DESIGN.md convention 3). A store or
    broker failure that outlasts the retries stops the process without acking
    (``os._exit``), so the alert is replayed after the restart instead of being lost.
    """
    if not settings.alerting.enabled:
        return None

    from sinks.clickhouse.client import connect, resolve_url
    from sinks.clickhouse.control_plane import ControlStore
    from streams.control_records import ack_codec

    url = resolve_url(settings.clickhouse_url, settings.chdb_path)
    store = ControlStore(connect(url, settings.clickhouse_database, create_database=False))
    publish = command_publisher(bootstrap, settings.topics.rollback, f"{worker_id}-alerter")
    alerter = build_alerter(settings, store, publish, issued_by=worker_id)
    secret = settings.alerting.slack_signing_secret

    def fatal(exc: BaseException) -> None:
        log.critical("ALERTER STOPPED: %s; the alert will be replayed after a restart", exc)
        os._exit(5)

    alerts_topic = app.topic(settings.topics.alerts, key_serializer="raw", value_serializer="raw")
    acks_topic = app.topic(
        settings.topics.rollback_acks, key_serializer="raw", value_serializer="raw"
    )

    @app.agent(alerts_topic, name="tocsin-alerter")
    async def alerter_agent(stream: Any) -> None:
        async for value in stream:
            try:
                await asyncio.to_thread(alerter.handle_bytes, value)
            except SinkError as exc:
                fatal(exc)

    @app.agent(acks_topic, name="tocsin-rollback-acks")
    async def acks_agent(stream: Any) -> None:
        codec = ack_codec()
        async for value in stream:
            try:
                ack = codec.decode(value)
            except InvalidMessage as exc:
                log.error("alerter: skipping a rollback ack that cannot be read: %s", exc)
                continue
            try:
                await asyncio.to_thread(alerter.record_ack, ack)
            except SinkError as exc:
                fatal(exc)

    @app.timer(interval=30.0)
    async def repeat_notifications() -> None:
        if alerter._started:
            await asyncio.to_thread(alerter.due_repeats)
            await asyncio.to_thread(alerter.due_auto_resolves)

    web_app.add_routes(alerting_routes(alerter, secret.get_secret_value() if secret else None))
    return alerter


def alerting_routes(alerter: Alerter, slack_secret: str | None) -> list[Any]:
    """The HTTP routes of the alerter: ``GET|POST /v1/verdict`` and ``POST /v1/slack/actions``.

    ``/v1/verdict?deployment=NAME`` answers 200 (pass, inconclusive) or 503 (fail);
    ``always_200=1`` keeps the status at 200 for gates that read the JSON. A POST without
    the query parameter takes the deployment from a Flagger webhook body (``metadata.deployment``
    or ``name``).
    """
    from aiohttp import web

    async def verdict(request: web.Request) -> web.Response:
        deployment = request.query.get("deployment", "").strip()
        if not deployment and request.method == "POST" and request.can_read_body:
            # Flagger webhooks POST {"name", "namespace", "phase", "metadata": {...}}
            try:
                body = await request.json()
            except ValueError:
                body = {}
            if isinstance(body, dict):
                meta = body.get("metadata")
                meta = meta if isinstance(meta, dict) else {}
                deployment = str(meta.get("deployment") or body.get("name") or "").strip()
        if not deployment:
            return web.json_response(
                {"error": "give the deployment: /v1/verdict?deployment=NAME"}, status=400
            )
        if not alerter._started:
            await asyncio.to_thread(alerter.start)
        status, doc = alerter.verdict(deployment)
        if request.query.get("always_200") in ("1", "true"):
            status = 200  # for gates that read the JSON (Argo's web metric), not the status
        return web.json_response(doc, status=status)

    async def slack_actions(request: web.Request) -> web.Response:
        return await _slack_action(request, alerter, slack_secret)

    return [
        web.get("/v1/verdict", verdict),
        web.post("/v1/verdict", verdict),
        web.post("/v1/slack/actions", slack_actions),
    ]


async def _slack_action(request: web.Request, alerter: Alerter, secret: str | None) -> web.Response:
    """Slack interactivity: verify the v0 signature, then act on the button."""
    import json
    from urllib.parse import parse_qs

    from aiohttp import web

    from sinks.slack import (
        ACTION_ACK,
        ACTION_ROLLBACK,
        ACTION_SILENCE,
        SlackSignatureError,
        verify_request,
    )

    if secret is None:
        return web.json_response({"error": "Slack interactivity is not configured"}, status=404)
    body = await request.read()
    try:
        verify_request(
            secret,
            request.headers.get("X-Slack-Request-Timestamp"),
            body,
            request.headers.get("X-Slack-Signature"),
        )
    except SlackSignatureError as exc:
        log.warning("alerter: refused a Slack action: %s", exc)
        return web.json_response({"error": "invalid signature"}, status=401)
    try:
        payload = json.loads(parse_qs(body.decode())["payload"][0])
        action = payload["actions"][0]
        action_id, incident_id = action["action_id"], action["value"]
        user = payload.get("user") or {}
        by = str(user.get("username") or user.get("name") or user.get("id") or "slack")
    except (KeyError, IndexError, ValueError, TypeError):
        return web.json_response({"error": "not a block_actions payload"}, status=400)
    if action_id == ACTION_ACK:
        done = await asyncio.to_thread(alerter.acknowledge, incident_id, by)
        text = f"Acknowledged by {by}" if done else "No open incident with that id"
    elif action_id == ACTION_SILENCE:
        sid = await asyncio.to_thread(alerter.silence_incident, incident_id, 3_600_000, by)
        text = (
            f"Silenced for 1 h by {by} (silence {sid})" if sid else "Cannot silence that incident"
        )
    elif action_id == ACTION_ROLLBACK:
        status = await asyncio.to_thread(alerter.roll_back_now, incident_id, by)
        text = f"Rollback: {status}" if status else "Nothing to roll back for that incident"
    else:
        return web.json_response({"error": f"unknown action {action_id}"}, status=400)
    return web.json_response({"text": text, "response_type": "in_channel"})
