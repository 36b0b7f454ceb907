"""Rollback latency: page alert -> signed command on the topic -> deployment agent acting.

Runs the embedded stack (`tocsin up`, the worker hosting the alerter, local fake Slack and
PagerDuty) and one `tocsin agent --exec` whose hook records when it starts. Each round puts
one page alert for a canary on the alerts topic and measures, from the produce call:

- ``baseline``: a plain confluent-kafka consumer of the alerts topic sees the alert (the
  broker's own delivery latency: the floor under everything below, same run, same load);
- ``command issued``: the ``ts`` the alerter stamped on the signed command;
- ``command on topic``: a consumer of the rollback topic sees it;
- ``agent action``: the agent's hook started (measured from the command's issue time, the
  issue's second target).

Run: ``.venv/bin/python bench/bench_rollback.py [--rounds 10]``. Writes
``bench/results/rollback.json``. The machine is shared: look at the baseline too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from confluent_kafka import Consumer, Producer  # noqa: E402

from bench.machine import cpu_model  # noqa: E402
from streams.control_records import alert_codec, command_codec  # noqa: E402
from tocsin.runtime.receivers import FakeReceivers  # noqa: E402

CLI = [sys.executable, "-c", "from tocsin.cli import main; main()"]
DEPLOYMENT = "bench-canary"


def alert(rule: str, minute: int) -> dict[str, Any]:
    return {
        "alert_id": f"bench-{rule}-{minute}",
        "incident_id": f"bench-inc-{rule}",
        "ts": 1_767_225_600_000 + minute * 60_000,
        "kind": "slo",
        "rule": rule,
        "severity": "page",
        "state": "firing",
        "service": "bench",
        "deployment": DEPLOYMENT,
        "track": "canary",
        "model": None,
        "window": "1h/5m",
        "value": 30.0,
        "threshold": 14.4,
        "summary": f"{rule} paging on {DEPLOYMENT}",
        "labels": {"service": "bench", "deployment": DEPLOYMENT, "track": "canary", "slo": rule},
        "annotations": {},
    }


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(values) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
        "min_ms": round(min(values) * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tocsin-bench-rollback-"))
    home = tmp / "home"
    hook_times = tmp / "hook-times"
    fake = FakeReceivers().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env.update(
        TOCSIN_HOME=str(home),
        TOCSIN_LOG_LEVEL="warn",
        TOCSIN_TOXICITY__ENABLED="false",
        TOCSIN_ALERTING__SLACK_WEBHOOK_URL=fake.slack_url,
        TOCSIN_ALERTING__PAGERDUTY_ROUTING_KEY="BENCHROUTINGKEY0123456789abcdefX",
        TOCSIN_ALERTING__PAGERDUTY_URL=fake.pagerduty_url,
        TOCSIN_ROLLBACK__SIGNING_KEY="bench-signing-key-0123456789abcdef",
        TOCSIN_ROLLBACK__COOLDOWN_S="0",
    )
    hook = f"date +%s.%N >> {hook_times}"
    agent = None
    rows: list[dict[str, float]] = []
    try:
        subprocess.run([*CLI, "up", "--detach"], env=env, check=True, cwd=tmp, capture_output=True)
        bootstrap = json.loads((home / "run" / "stack.json").read_text())["bootstrap_servers"]
        agent = subprocess.Popen(
            [*CLI, "agent", "--deployment", DEPLOYMENT, "--exec", hook],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-{time.time_ns()}",
                "auto.offset.reset": "earliest",  # a fresh stack: only our records
                "enable.auto.commit": False,
                "receive.message.max.bytes": 2_147_483_647,
                "log_level": 0,
            }
        )
        consumer.subscribe(["tocsin.alerts.v1", "tocsin.rollback.v1"])
        while not consumer.assignment():
            consumer.poll(0.1)

        def one_round(rule: str, minute: int, executions: int) -> dict[str, float]:
            value = alert_codec().encode(alert(rule, minute))
            t0 = time.time()  # from the produce call, as a monitor emitting the alert
            producer.produce("tocsin.alerts.v1", key=DEPLOYMENT.encode(), value=value)
            producer.flush(10)
            seen = cmd_seen = cmd_ts = None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and (seen is None or cmd_seen is None):
                msg = consumer.poll(0.05)
                if msg is None or msg.error():
                    continue
                if msg.topic() == "tocsin.alerts.v1" and seen is None:
                    seen = time.time()
                elif msg.topic() == "tocsin.rollback.v1":
                    cmd = command_codec().decode(msg.value())
                    if cmd["incident_id"] == f"bench-inc-{rule}":
                        cmd_seen, cmd_ts = time.time(), cmd["ts"] / 1000
            while time.monotonic() < deadline:
                lines = hook_times.read_text().split() if hook_times.exists() else []
                if len(lines) >= executions:
                    break
                time.sleep(0.02)
            assert seen and cmd_seen and cmd_ts, f"round {rule}: nothing within 60 s"
            hook_started = float(lines[executions - 1])
            return {
                "baseline": seen - t0,
                "issued": cmd_ts - t0,
                "on_topic": cmd_seen - t0,
                "agent": hook_started - cmd_ts,
            }

        one_round("warmup", 0, 1)  # the faust agents join their group, connections open
        for i in range(args.rounds):
            rows.append(one_round(f"slo-{i}", i + 1, i + 2))
            time.sleep(0.5)
        consumer.close()
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(20)
        subprocess.run([*CLI, "down"], env=env, cwd=tmp, capture_output=True)
        fake.stop()
    result = {
        "bench": "rollback",
        "rounds": len(rows),
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "load_avg_1m": os.getloadavg()[0],
            "python": platform.python_version(),
            "faust": version("faust-streaming"),
            "confluent_kafka": version("confluent-kafka"),
            "noida_db": version("noida-db"),
        },
        "baseline_alert_delivery": summary([r["baseline"] for r in rows]),
        "alert_to_command_issued": summary([r["issued"] for r in rows]),
        "alert_to_command_on_topic": summary([r["on_topic"] for r in rows]),
        "command_to_agent_action": summary([r["agent"] for r in rows]),
        "targets": {"alert_to_command_on_topic_ms": 1000, "command_to_agent_action_ms": 1000},
    }
    out = REPO / "bench" / "results" / "rollback.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'measure':36} {'median':>9} {'max':>9}")
    for name in (
        "baseline_alert_delivery",
        "alert_to_command_issued",
        "alert_to_command_on_topic",
        "command_to_agent_action",
    ):
        r = result[name]
        print(f"{name:36} {r['median_ms']:>7.0f}ms {r['max_ms']:>7.0f}ms")
    print(
        f"load average during the run: {result['machine']['load_avg_1m']:.1f} on {os.cpu_count()} cores"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
