"""Fixtures that run the real embedded pieces (no mocks of Kafka or ClickHouse).

- ``kafka_broker``: one noida-db broker on a free 127.0.0.1 port with tocsin's topics
  created, stopped after the test. Light: about 0.1 s to start.
- ``embedded_stack``: the whole stack (broker, topics, migrated chdb store, worker-0 with its
  query endpoint) from ``tocsin up --detach`` in a private ``TOCSIN_HOME``, stopped with
  ``tocsin down`` in ``finally`` (and any process left over killed). About 10 s.

Example::

    def test_something(embedded_stack):
        st = embedded_stack.status()
        result = embedded_stack.cli("sql", "SELECT count() FROM events_dedup", "-f", "json")
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from streams.topics import ensure_topics
from tocsin.runtime.broker import EmbeddedBroker
from tocsin.runtime.processes import pid_alive
from tocsin.runtime.topics import topic_specs
from tocsin.settings import TopicSettings

CLI_TIMEOUT_S = 180


def tocsin_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for a CLI run on ``home``: no TOCSIN_* leaking from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env.update(TOCSIN_HOME=str(home), TOCSIN_LOG_LEVEL="warn", **extra)
    return env


def run_cli(
    home: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``tocsin ARGS`` for ``home`` in a subprocess, as a user would."""
    proc = subprocess.run(
        [sys.executable, "-c", "from tocsin.cli import main; main()", *args],
        env=env or tocsin_env(home),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        cwd=str(home.parent),
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"tocsin {' '.join(args)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


@dataclass
class StackHandle:
    """A running embedded stack in a private TOCSIN_HOME."""

    home: Path

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli(self.home, *args, check=check)

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.cli("status", "--json", check=False).stdout)
        return data

    def recorded_pids(self) -> list[int]:
        try:
            state = json.loads((self.home / "run" / "stack.json").read_text())
        except FileNotFoundError:
            return []
        return [int(pid) for pid in state.get("pids", {}).values() if pid]


def kill_leftovers(pids: list[int]) -> None:
    """SIGKILL processes a failed test left running (ours: recorded by our own stack)."""
    for pid in pids:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def start_stack(home: Path, *args: str) -> StackHandle:
    """``tocsin up --detach ARGS`` on ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    handle = StackHandle(home)
    handle.cli("up", "--detach", *args)
    return handle


def stop_stack(handle: StackHandle) -> None:
    """``tocsin down``, then kill whatever survived it."""
    pids = handle.recorded_pids()
    try:
        handle.cli("down", check=False)
    finally:
        kill_leftovers(pids)


@pytest.fixture
def embedded_stack(tmp_path: Path) -> Iterator[StackHandle]:
    """The whole embedded stack, up for the test and down afterwards."""
    handle = StackHandle(tmp_path / "home")
    try:
        start_stack(handle.home)
        yield handle
    finally:
        stop_stack(handle)


@pytest.fixture
def kafka_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """Only the broker, with tocsin's topics (default TopicSettings) created."""
    broker = EmbeddedBroker(tmp_path / "kafka").start()
    try:
        ensure_topics(broker.bootstrap_servers, topic_specs(TopicSettings()))
        yield broker
    finally:
        broker.stop()
