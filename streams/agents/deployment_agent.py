"""The deployment agent (`tocsin agent`): executes signed rollback commands at most once.

It reads the rollback topic (a batch consumer of its own, not faust: one small process per
deployment), keeps the commands for its deployment, and for each one:

1. **verifies** the HMAC signature against the keys it accepts (rotation: several key ids)
   and ``expires_at``; a forged, unknown-key or expired command is not executed: it is
   acked ``rejected`` and an alert (kind ``rollback``, rule ``rollback-rejected``) goes on
   the alerts topic;
2. **persists** the ``command_id`` in its ledger (SQLite, synchronous commit) *before*
   acting, so a command is run at most once even across a SIGKILL: a command found in the
   ledger without a result was interrupted and is acked ``failed``, never re-run;
3. **acts** through an executor (a shell command, an HTTP webhook, or the Kubernetes API),
   with a timeout; the hook's environment says what to do (``TOCSIN_DEPLOYMENT``,
   ``TOCSIN_TARGET_DEPLOYMENT``, ``TOCSIN_REASON``, ...), never a tocsin secret;
4. **acks** on the acks topic: ``executing``, then ``succeeded`` or ``failed`` with the
   detail and duration. Ack ids are deterministic, so a replayed ack collapses in
   ClickHouse's ``rollbacks`` table.

Offsets are committed after each command is handled; what a crash replays is caught by the
ledger.

Example
-------
>>> import tempfile, pathlib
>>> ledger = Ledger(pathlib.Path(tempfile.mkdtemp()) / "agent.sqlite")
>>> ledger.claim("c1", 1000), ledger.claim("c1", 1001)
(True, False)
>>> ledger.finish("c1", "succeeded", "ok", 1500); ledger.get("c1")["status"]
'succeeded'
>>> hook_environment({"command_id": "c1", "deployment": "chat-v2", "service": "chat",
...                   "target_deployment": "chat-v1", "reason": "page", "action": "rollback",
...                   "incident_id": "i1"}, base={"PATH": "/bin", "TOCSIN_ROLLBACK__SIGNING_KEY": "x"})["TOCSIN_DEPLOYMENT"]
'chat-v2'
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sinks.rollback_signing import CommandRejected, verify_command
from streams.agents.routing import stable_hex
from streams.codec import InvalidMessage

log = logging.getLogger("tocsin.agent")

ACK_NAMESPACE = uuid.UUID("0f5d2a9c-3e71-4b8a-a6c4-7d1e9b2f3c40")
#: Environment variables never passed to a hook (tocsin's secrets and config).
_SECRET_PREFIXES = ("TOCSIN_ROLLBACK__", "TOCSIN_ALERTING__", "TOCSIN_PII__")


def _now_ms() -> int:
    return int(time.time() * 1000)


class Ledger:
    """Commands this agent has taken on: persisted before acting (at-most-once)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a claim is on disk before we act
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS commands (command_id TEXT PRIMARY KEY, status TEXT, "
            "claimed_ms INTEGER, finished_ms INTEGER, detail TEXT)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS rejected (fingerprint TEXT PRIMARY KEY, command_id TEXT, "
            "reason TEXT, ms INTEGER)"
        )

    def claim(self, command_id: str, now_ms: int) -> bool:
        """Record ``command_id`` as executing; False when it was claimed before."""
        try:
            self._db.execute(
                "INSERT INTO commands VALUES (?, 'executing', ?, NULL, '')", (command_id, now_ms)
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def finish(self, command_id: str, status: str, detail: str, now_ms: int) -> None:
        self._db.execute(
            "UPDATE commands SET status = ?, detail = ?, finished_ms = ? WHERE command_id = ?",
            (status, detail, now_ms, command_id),
        )

    def get(self, command_id: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT command_id, status, claimed_ms, finished_ms, detail FROM commands "
            "WHERE command_id = ?",
            (command_id,),
        ).fetchone()
        if row is None:
            return None
        return dict(
            zip(("command_id", "status", "claimed_ms", "finished_ms", "detail"), row, strict=True)
        )

    def note_rejected(self, fingerprint: str, command_id: str, reason: str, now_ms: int) -> bool:
        """Remember a rejected record (by its bytes); False if seen before (a replay)."""
        try:
            self._db.execute(
                "INSERT INTO rejected VALUES (?, ?, ?, ?)",
                (fingerprint, command_id, reason, now_ms),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def executions(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT command_id, status, detail FROM commands").fetchall()
        return [{"command_id": c, "status": s, "detail": d} for c, s, d in rows]

    def close(self) -> None:
        self._db.close()


def hook_environment(
    command: Mapping[str, Any], base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a hook: the caller's minus tocsin secrets, plus the command."""
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not k.startswith(_SECRET_PREFIXES)
    }
    env.update(
        TOCSIN_COMMAND_ID=str(command.get("command_id") or ""),
        TOCSIN_INCIDENT_ID=str(command.get("incident_id") or ""),
        TOCSIN_ACTION=str(command.get("action") or ""),
        TOCSIN_SERVICE=str(command.get("service") or ""),
        TOCSIN_DEPLOYMENT=str(command.get("deployment") or ""),
        TOCSIN_TARGET_DEPLOYMENT=str(command.get("target_deployment") or ""),
        TOCSIN_REASON=str(command.get("reason") or ""),
    )
    return env


@dataclass
class Outcome:
    ok: bool
    detail: str


class Executor(Protocol):
    """Carries a rollback out; never raises for an expected failure (returns ok=False)."""

    def run(self, command: Mapping[str, Any], timeout_s: float) -> Outcome: ...


class ShellExecutor:
    """Runs a shell command with the command in its environment (``--exec``)."""

    def __init__(self, script: str) -> None:
        self.script = script

    def run(self, command: Mapping[str, Any], timeout_s: float) -> Outcome:
        proc = subprocess.Popen(
            self.script,
            shell=True,
            env=hook_environment(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the timeout kills the whole process group
        )
        try:
            out, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return Outcome(False, f"timed out after {timeout_s:g} s (killed)")
        tail = out.decode(errors="replace").strip()[-500:]
        if proc.returncode == 0:
            return Outcome(True, tail or "exit 0")
        return Outcome(False, f"exit {proc.returncode}: {tail}")


class HttpExecutor:
    """POSTs the command as JSON to a webhook (``--http``); 2xx is success."""

    def __init__(self, url: str) -> None:
        self.url = url

    def run(self, command: Mapping[str, Any], timeout_s: float) -> Outcome:
        import httpx

        body = {k: v for k, v in command.items() if k != "signature"}
        try:
            r = httpx.post(self.url, json=body, timeout=timeout_s)
        except httpx.HTTPError as exc:
            return Outcome(False, f"{type(exc).__name__}")
        if 200 <= r.status_code < 300:
            return Outcome(True, f"HTTP {r.status_code}")
        return Outcome(False, f"HTTP {r.status_code}: {r.text[:200]}")


def ack_id(command_id: str, status: str, agent_id: str) -> str:
    """Deterministic ack id: a replayed ack is the same row in ``rollbacks``.

    >>> ack_id("c1", "succeeded", "a") == ack_id("c1", "succeeded", "a")
    True
    """
    return str(uuid.uuid5(ACK_NAMESPACE, f"{command_id}|{status}|{agent_id}"))


class DeploymentAgent:
    """Handles rollback command records for one deployment (see the module docstring).

    ``send_ack(ack)`` and ``send_alert(alert)`` publish records; the caller wires them to
    Kafka (:func:`run_agent`) or to lists (tests).
    """

    def __init__(
        self,
        deployment: str,
        agent_id: str,
        executor: Executor,
        keyring: Mapping[str, bytes],
        ledger: Ledger,
        send_ack: Callable[[dict[str, Any]], None],
        send_alert: Callable[[dict[str, Any]], None],
        timeout_s: float = 60.0,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self.deployment = deployment
        self.agent_id = agent_id
        self.executor = executor
        self.keyring = dict(keyring)
        self.ledger = ledger
        self.send_ack = send_ack
        self.send_alert = send_alert
        self.timeout_s = timeout_s
        self.clock = clock
        self.executed = 0
        self.last_action_started_ms: int | None = None

    def _ack(
        self, command: Mapping[str, Any], status: str, detail: str | None, duration_ms: float | None
    ) -> dict[str, Any]:
        ack = {
            "ack_id": ack_id(str(command.get("command_id")), status, self.agent_id),
            "command_id": str(command.get("command_id") or ""),
            "ts": self.clock(),
            "agent_id": self.agent_id,
            "status": status,
            "service": str(command.get("service") or ""),
            "deployment": str(command.get("deployment") or self.deployment),
            "detail": detail,
            "duration_ms": duration_ms,
        }
        self.send_ack(ack)
        return ack

    def handle_bytes(self, value: bytes | None) -> str | None:
        """Decode and handle one record; returns the final ack status (None: not ours)."""
        from streams.control_records import command_codec

        try:
            command = command_codec().decode(value)
        except InvalidMessage as exc:
            log.error("agent: skipping a rollback record that cannot be read: %s", exc)
            return None
        return self.handle(command, fingerprint=stable_hex((value or b"").hex(), length=32))

    def handle(self, command: Mapping[str, Any], fingerprint: str | None = None) -> str | None:
        """Verify, persist, execute and ack one command of this agent's deployment."""
        if command.get("deployment") != self.deployment:
            return None
        command_id = str(command.get("command_id") or "")
        now = self.clock()
        try:
            verify_command(command, self.keyring, now_ms=now)
        except CommandRejected as exc:
            fp = fingerprint or stable_hex(
                json.dumps(dict(command), default=str, sort_keys=True), length=32
            )
            if self.ledger.note_rejected(fp, command_id, exc.reason, now):
                log.error(
                    "agent: REJECTED rollback command %s for %s: %s",
                    command_id,
                    self.deployment,
                    exc.reason,
                )
                self._ack(command, "rejected", exc.reason, 0.0)
                self.send_alert(self._rejection_alert(command, exc.reason, fp, now))
            return "rejected"
        previous = self.ledger.get(command_id)
        if previous is not None:
            if previous["status"] == "executing":
                # claimed, then the agent died: at most once means we do not run it again
                detail = "interrupted before a result was recorded; not re-run (at most once)"
                self.ledger.finish(command_id, "failed", detail, now)
                self._ack(command, "failed", detail, None)
                return "failed"
            # already done: repeat the final ack (same ack id) in case it was lost
            self._ack(command, previous["status"], previous["detail"], None)
            return str(previous["status"])
        if not self.ledger.claim(command_id, now):
            return None
        self._ack(command, "executing", None, None)
        started = time.monotonic()
        self.last_action_started_ms = self.clock()
        log.warning(
            "agent: executing rollback %s of %s: %s",
            command_id,
            self.deployment,
            command.get("reason"),
        )
        try:
            outcome = self.executor.run(command, self.timeout_s)
        except Exception as exc:  # an executor bug: record it as a failure, never re-run
            outcome = Outcome(False, f"executor error: {type(exc).__name__}: {exc}")
        duration = (time.monotonic() - started) * 1000
        status = "succeeded" if outcome.ok else "failed"
        self.executed += 1
        self.ledger.finish(command_id, status, outcome.detail, self.clock())
        self._ack(command, status, outcome.detail, duration)
        return status

    def _rejection_alert(
        self, command: Mapping[str, Any], reason: str, fp: str, now: int
    ) -> dict[str, Any]:
        service = str(command.get("service") or "unknown")
        return {
            "alert_id": stable_hex("rollback-rejected", fp, "firing"),
            "incident_id": stable_hex("rollback-rejected", fp),
            "ts": now,
            "kind": "rollback",
            "rule": "rollback-rejected",
            "severity": "ticket",
            "state": "firing",
            "service": service,
            "deployment": self.deployment,
            "track": None,
            "model": None,
            "window": None,
            "value": None,
            "threshold": None,
            "summary": f"agent {self.agent_id} rejected a rollback command for {self.deployment}: {reason}",
            "labels": {"service": service, "deployment": self.deployment, "agent": self.agent_id},
            "annotations": {
                "evidence": json.dumps(
                    {
                        "command_id": command.get("command_id"),
                        "key_id": command.get("key_id"),
                        "reason": reason,
                    }
                ),
            },
        }


def agent_consumer_config(bootstrap: str, deployment: str, agent_id: str) -> dict[str, Any]:
    """confluent-kafka consumer settings of an agent: its own group, manual commits."""
    return {
        "bootstrap.servers": bootstrap,
        "group.id": f"tocsin-agent-{deployment}",
        "group.instance.id": agent_id,
        "client.id": agent_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10_000,
        "receive.message.max.bytes": 2_147_483_647,  # noida-db ignores fetch max_bytes
        "log_level": 0,
    }


def run_agent(
    agent: DeploymentAgent,
    bootstrap: str,
    rollback_topic: str,
    acks_topic: str,
    alerts_topic: str,
    stop: threading.Event | None = None,
    poll_timeout_s: float = 0.2,
) -> int:
    """Consume ``rollback_topic`` until ``stop`` is set (or SIGTERM/SIGINT); returns 0."""
    from confluent_kafka import Consumer, KafkaException, Producer

    from streams.control_records import ack_codec, alert_codec

    stop = stop or threading.Event()
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 0,
            "log_level": 0,
        }
    )

    def produce(topic: str, value: bytes, wait: bool = True) -> None:
        producer.produce(topic, key=agent.deployment.encode(), value=value)
        if not wait:
            producer.poll(0)
        elif producer.flush(10):
            raise KafkaException(f"{topic}: broker did not acknowledge within 10 s")

    # "executing" is not waited for: the ledger, not the ack, makes the command run at most
    # once, and the hook should start at once; the final ack is flushed before the commit.
    agent.send_ack = lambda ack: produce(
        acks_topic, ack_codec().encode(ack), wait=ack["status"] != "executing"
    )
    agent.send_alert = lambda alert: produce(alerts_topic, alert_codec().encode(alert))
    consumer = Consumer(agent_consumer_config(bootstrap, agent.deployment, agent.agent_id))
    consumer.subscribe([rollback_topic])
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    log.warning(
        "agent %s watching %s for deployment %s", agent.agent_id, rollback_topic, agent.deployment
    )
    try:
        while not stop.is_set():
            # poll() returns as soon as one record is there (consume(n, t) would wait to fill n)
            msg = consumer.poll(poll_timeout_s)
            if msg is None:
                continue
            if msg.error():
                log.warning("agent: consumer error %s", msg.error())
                continue
            agent.handle_bytes(msg.value())
            consumer.commit(message=msg, asynchronous=False)
    finally:
        consumer.close()
        producer.flush(10)
    return 0
