"""The deployment agent's rules: verify, persist before acting, at most once, ack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sinks.rollback_signing import sign_command
from streams.agents.deployment_agent import DeploymentAgent, Ledger, ShellExecutor, hook_environment

KEY = b"0123456789abcdef0123456789abcdef"
NOW = 1_767_225_600_000


def command(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "command_id": "cmd-1",
        "ts": NOW,
        "expires_at": NOW + 900_000,
        "incident_id": "inc-1",
        "action": "rollback",
        "service": "chat-api",
        "deployment": "chat-api-canary",
        "target_deployment": "chat-api-stable",
        "reason": "page",
        "issued_by": "worker-0",
        "key_id": None,
        "signature": None,
        "labels": {},
    }
    base.update(kw)
    return sign_command(base, KEY, "k1")


class Harness:
    def __init__(self, tmp_path: Path, script: str | None = None, timeout_s: float = 10.0) -> None:
        self.runs = tmp_path / "runs.txt"
        self.acks: list[dict[str, Any]] = []
        self.alerts: list[dict[str, Any]] = []
        self.ledger_path = tmp_path / "ledger.sqlite"
        script = script or f'echo "$TOCSIN_COMMAND_ID $TOCSIN_TARGET_DEPLOYMENT" >> {self.runs}'
        self.agent = DeploymentAgent(
            "chat-api-canary",
            "agent-1",
            ShellExecutor(script),
            {"k1": KEY},
            Ledger(self.ledger_path),
            self.acks.append,
            self.alerts.append,
            timeout_s=timeout_s,
            clock=lambda: NOW + 1000,
        )

    def lines(self) -> list[str]:
        return self.runs.read_text().splitlines() if self.runs.exists() else []


def test_executes_once_and_acks(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    assert h.agent.handle(command()) == "succeeded"
    assert h.agent.handle(command()) == "succeeded"  # a replay: acked again, not run
    assert h.lines() == ["cmd-1 chat-api-stable"]
    assert [a["status"] for a in h.acks] == ["executing", "succeeded", "succeeded"]
    assert h.acks[1]["ack_id"] == h.acks[2]["ack_id"]  # same row in ClickHouse
    assert h.acks[1]["duration_ms"] is not None
    # other deployments' commands are not ours
    assert h.agent.handle(command(deployment="other", command_id="cmd-2")) is None
    # a restarted agent (new process, same ledger) does not run it again either
    again = Harness(tmp_path)
    assert again.agent.handle(command()) == "succeeded"
    assert h.lines() == ["cmd-1 chat-api-stable"]


def test_forged_unknown_key_and_expired_commands_are_rejected_and_alerted(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    forged = {**command(), "target_deployment": "attacker"}
    unknown = sign_command({**command(command_id="cmd-3"), "key_id": None}, b"x" * 32, "k9")
    expired = command(command_id="cmd-4", expires_at=NOW)
    for cmd, reason in (
        (forged, "bad signature"),
        (unknown, "unknown key_id"),
        (expired, "expired"),
    ):
        assert h.agent.handle(cmd) == "rejected"
        assert reason in h.acks[-1]["detail"]
    assert h.lines() == []
    assert [a["status"] for a in h.acks] == ["rejected"] * 3
    assert len(h.alerts) == 3 and {a["rule"] for a in h.alerts} == {"rollback-rejected"}
    assert h.alerts[0]["severity"] == "ticket" and h.alerts[0]["deployment"] == "chat-api-canary"
    # a replay of a forged record is not alerted twice
    h.agent.handle(forged)
    assert len(h.alerts) == 3
    # a forgery cannot burn the id of the real command: the real one still runs
    assert h.agent.handle(command()) == "succeeded"
    assert h.lines() == ["cmd-1 chat-api-stable"]


def test_a_command_interrupted_by_a_crash_is_never_rerun(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    # what a SIGKILL between "persisted" and "finished" leaves behind
    Ledger(h.ledger_path).claim("cmd-1", NOW)
    assert h.agent.handle(command()) == "failed"
    assert h.lines() == []
    assert "not re-run" in h.acks[-1]["detail"]


def test_timeouts_and_failures_are_failed_acks(tmp_path: Path) -> None:
    h = Harness(tmp_path, script="sleep 30", timeout_s=0.5)
    assert h.agent.handle(command()) == "failed"
    assert "timed out" in h.acks[-1]["detail"]
    h2 = Harness(tmp_path / "b", script="echo nope >&2; exit 3")
    assert h2.agent.handle(command()) == "failed"
    assert h2.acks[-1]["detail"] == "exit 3: nope"


def test_hooks_never_see_tocsin_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    env = hook_environment(
        command(),
        base={
            "PATH": "/bin",
            "TOCSIN_ROLLBACK__SIGNING_KEY": "secret",
            "TOCSIN_ALERTING__SLACK_WEBHOOK_URL": "https://hooks",
        },
    )
    assert "TOCSIN_ROLLBACK__SIGNING_KEY" not in env
    assert "TOCSIN_ALERTING__SLACK_WEBHOOK_URL" not in env
    assert env["TOCSIN_REASON"] == "page" and env["PATH"] == "/bin"
