"""`tocsin demo --headless --report` tells the whole story, in order.

The alerts come from a stand-in for the worker's monitor (this test produces the alert
records the monitor emits: issue 9's contract) so that the story's own machinery is
checked on its own: local receivers, alerter, signed rollback, the demo's deployment agent
shifting canary traffic to stable, the timeline and the report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer

from streams.control_records import ack_codec, alert_codec
from tocsin.runtime.demo_story import STORY

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(420)]

CLI = [sys.executable, "-c", "from tocsin.cli import main; main()"]


def page(state: str, minute: int) -> dict[str, Any]:
    return {
        "alert_id": f"story-{state}-{minute}",
        "incident_id": "story-incident",
        "ts": 1_767_225_600_000 + minute * 60_000,
        "kind": "slo",
        "rule": "chat-api-availability",
        "severity": "page",
        "state": state,
        "service": "chat-api",
        "deployment": "chat-api-v42",
        "track": "canary",
        "model": None,
        "window": "1h/5m",
        "value": 40.0 if state == "firing" else 0.0,
        "threshold": 14.4,
        "summary": f"chat-api-availability {state} on chat-api-v42",
        "labels": {"service": "chat-api", "deployment": "chat-api-v42", "track": "canary",
                   "slo": "chat-api-availability", "stable_deployment": "chat-api-v41"},
        "annotations": {"burn_rates": '{"1h": 40.0, "5m": 250.0}'},
    }  # fmt: skip


def stand_in_monitor(home: Path, stop: threading.Event, errors: list[BaseException]) -> None:
    """Fire a page once the demo has degraded, resolve it once the rollback is acked."""
    try:
        stack_file = home / "run" / "stack.json"
        while not stack_file.exists() and not stop.is_set():
            time.sleep(0.5)
        bootstrap = json.loads(stack_file.read_text())["bootstrap_servers"]
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "story-test",
                             "auto.offset.reset": "earliest", "log_level": 0})  # fmt: skip
        consumer.subscribe(["tocsin.rollback-acks.v1"])
        # like a monitor: page once the canary's errors show in the data
        query = "SELECT count() FROM events WHERE service = 'chat-api' AND track = 'canary' AND status = 'error'"
        while not stop.is_set():
            url = json.loads(stack_file.read_text()).get("query_url")
            if url:
                try:
                    if (
                        int(httpx.get(url, params={"query": query}, timeout=10).text.strip() or 0)
                        >= 10
                    ):
                        break
                except (httpx.HTTPError, ValueError):
                    pass
            time.sleep(1)
        producer.produce(
            "tocsin.alerts.v1", key=b"chat-api-v42", value=alert_codec().encode(page("firing", 10))
        )
        producer.flush(10)
        while not stop.is_set():
            msg = consumer.poll(0.5)
            if (
                msg is not None
                and not msg.error()
                and ack_codec().decode(msg.value())["status"] == "succeeded"
            ):
                break
        time.sleep(3)
        producer.produce(
            "tocsin.alerts.v1",
            key=b"chat-api-v42",
            value=alert_codec().encode(page("resolved", 16)),
        )
        producer.flush(10)
        consumer.close()
    except BaseException as exc:
        errors.append(exc)


def test_headless_demo_report_has_the_story_in_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env.update(TOCSIN_HOME=str(home), TOCSIN_LOG_LEVEL="warn", TOCSIN_TOXICITY__ENABLED="false")
    stop = threading.Event()
    errors: list[BaseException] = []
    monitor = threading.Thread(target=stand_in_monitor, args=(home, stop, errors), daemon=True)
    monitor.start()
    try:
        proc = subprocess.run(
            [*CLI, "demo", "--headless", "--duration", "75", "--incident-after", "15",
             "--rate", "200", "--refresh", "1", "--report", str(report)],
            env=env, capture_output=True, text=True, timeout=300, cwd=str(tmp_path),
        )  # fmt: skip
    finally:
        stop.set()
        monitor.join(10)
    assert not errors, errors
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(report.read_text())
    events = [e["event"] for e in doc["timeline"]]
    assert [e for e in events if e in STORY] == list(STORY), (events, proc.stderr[-3000:])
    times = [e["t"] for e in doc["timeline"]]
    assert times == sorted(times)
    assert doc["complete"] and doc["summary"]["agent_executions"] == 1
    assert doc["summary"]["rollback_command"]
    assert any("events_dedup" in q for q in doc["queries"])
    out = proc.stderr
    assert "[pagerduty] trigger" in out and "[slack]" in out
    assert "story: degradation_started" in out
