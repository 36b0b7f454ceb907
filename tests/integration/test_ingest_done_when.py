"""The "Foundation" done-when scenario, as a user would run it, through the `tocsin` CLI.

Empty TOCSIN_HOME → ``tocsin up --detach`` → ``tocsin produce --file F`` (20,000 events) →
raw malformed records on the events topic → ``kill -9`` of the worker while it is in its
second batch → ``tocsin up`` again → ``tocsin sql`` shows every valid event exactly once
and every malformed record in ``dead_letters``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from streams.codec import encode_event
from streams.generator import TrafficGenerator

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(180)]

TOTAL = 20_000
CLI = [sys.executable, "-c", "from tocsin.cli import main; main()"]


def cli(home: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*CLI, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(home.parent),
    )
    assert proc.returncode == 0, f"tocsin {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
    return proc


def sql_json(home: Path, query: str, env: dict[str, str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(cli(home, "sql", query, "-f", "json", env=env).stdout)
    return rows


def test_done_when_every_valid_event_once_every_malformed_one_dead_lettered(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    # Small batches and frequent commits, so that the kill lands between commits.
    env.update(
        TOCSIN_HOME=str(home),
        TOCSIN_LOG_LEVEL="warn",
        TOCSIN_WORKER__BATCH_SIZE="1000",
        TOCSIN_WORKER__COMMIT_INTERVAL_S="0.5",
    )
    events = TrafficGenerator(seed=2026).events(TOTAL)
    good = encode_event(events[0])
    service = events[0]["service"].encode()
    malformed = {
        "bad_magic": b"\x07" + good[1:],
        "unknown_schema_id": b"\x00" + (424242).to_bytes(4, "big") + good[5:],
        "truncated": good[:30],
        "empty": b"",
        "invalid_utf8": good.replace(service, b"\xff" + service[1:], 1),
    }
    feed = tmp_path / "events.jsonl"
    feed.write_text("".join(json.dumps(e) + "\n" for e in events))

    assert not home.exists()
    try:
        cli(home, "up", "--detach", env=env)
        state = json.loads((home / "run" / "stack.json").read_text())
        query_url = state["store_url"]  # the store process, as the read-only analyst
        analyst = json.loads((home / "secrets" / "analyst.json").read_text())
        auth = (analyst["user"], analyst["password"])

        def written() -> int:
            r = httpx.get(
                query_url, params={"query": "SELECT count() FROM events"}, auth=auth, timeout=10
            )
            return int(r.text.strip() or 0)

        producing = subprocess.Popen(
            [*CLI, "produce", "--file", str(feed), "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        raw = Producer({"bootstrap.servers": state["bootstrap_servers"], "acks": "all"})
        for reason, value in malformed.items():
            raw.produce("tocsin.events.v1", value, headers=[("case", reason.encode())])
        assert raw.flush(10) == 0

        # kill -9 once the first batch is in, i.e. during the second one.
        deadline = time.monotonic() + 60
        seen = 0
        while (seen := written()) < 1000:
            assert time.monotonic() < deadline, "the worker wrote nothing within 60 s"
            time.sleep(0.05)
        os.kill(int(state["pids"]["worker-0"]), signal.SIGKILL)
        assert seen < TOTAL, "the worker finished before the kill: the test proves nothing"

        out, errs = producing.communicate(timeout=120)
        assert producing.returncode == 0, errs
        assert json.loads(out)["delivered"] == TOTAL

        cli(home, "up", "--detach", env=env)  # restarts worker-0 with the same id
        query = "SELECT count() AS n, uniqExact(event_id) AS u FROM events FINAL"
        deadline = time.monotonic() + 90
        while (row := sql_json(home, query, env)[0])["u"] < TOTAL:
            assert time.monotonic() < deadline, f"only {row} after the restart"
            time.sleep(0.5)
        assert (int(row["n"]), int(row["u"])) == (TOTAL, TOTAL)
        ids = sql_json(home, "SELECT uniqExact(event_id) AS u FROM events", env)[0]
        assert int(ids["u"]) == TOTAL

        letters = sql_json(
            home,
            "SELECT headers['case'] AS c, reason, hex(value) AS v, kafka_partition, kafka_offset "
            "FROM dead_letters FINAL",
            env,
        )
        assert {r["c"]: r["reason"] for r in letters} == {k: k for k in malformed}
        for r in letters:
            assert bytes.fromhex(r["v"]) == malformed[r["c"]]
    finally:
        subprocess.run(
            [*CLI, "down"],
            env=env,
            capture_output=True,
            timeout=120,
        )
