"""SLO, drift and canary state follow their partition: a page that is building up on the
worker that owns chat-api's partition fires once, on the other worker, after the first one
stops (SIGTERM), and the live SLO transitions equal `tocsin slo backtest` over the stored
events (what an uninterrupted worker gives). Two workers on one embedded store process,
the real noida-db broker, the live-monitoring traffic of issue 9's tests."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import kill_leftovers, run_cli, tocsin_env
from tests.integration.test_live_monitoring import (
    ENV,
    MINUTE_MS,
    SERVICE,
    produce_by_service,
    traffic,
)
from tests.integration.test_rebalance import assignment, wait_for
from tocsin.runtime.processes import pid_alive

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(1200)]


def test_a_building_page_fires_once_on_the_next_owner(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = tocsin_env(home, TOCSIN_OTLP__ENABLED="false", **ENV)

    def cli(*args: str) -> Any:
        return run_cli(home, *args, env=env)

    def sql(query: str) -> list[dict[str, Any]]:
        out = cli("sql", query + " FORMAT JSONEachRow").stdout
        return [json.loads(line) for line in out.splitlines() if line]

    now_minute = int(time.time() * 1000) // MINUTE_MS
    start_ms = (now_minute - 125) * MINUTE_MS
    events, values, _ = traffic(start_ms)
    total = len(events)
    canary_dep = next(e["deployment"] for e in events if e["track"] == "canary")
    building = next(i for i, e in enumerate(events) if e["ts"] >= start_ms + 61 * MINUTE_MS)
    pids: list[int] = []
    try:
        st = json.loads(cli("up", "--detach", "--workers", "2", "--json").stdout)
        pids = [p for p in st["pids"].values() if p]
        bootstrap = st["bootstrap_servers"]
        wait_for("two members", lambda: len(assignment(bootstrap)) == 2)

        # 1. the first 61 event-minutes (the incident began at minute 60): no page yet
        produce_by_service(bootstrap, events[:building], values[:building])
        wait_for(
            "the first part stored",
            lambda: sql("SELECT uniqExact(event_id) AS n FROM events")[0]["n"] >= building,
        )
        partitions = {r["p"] for r in sql("SELECT DISTINCT kafka_partition AS p FROM events")}
        assert len(partitions) == 1  # keyed by service: one partition holds chat-api
        owner = next(w for w, ps in assignment(bootstrap).items() if partitions <= set(ps))
        other = "worker-1" if owner == "worker-0" else "worker-0"
        pages = "SELECT count() AS n FROM alerts WHERE severity = 'page'"
        assert sql(pages)[0]["n"] == 0, "paged before the handover: nothing was building up"
        state = sql("SELECT count() AS n FROM monitor_state")[0]["n"]
        assert state > 0  # the owner checkpointed its state with its offsets

        # 2. the owner stops; the other worker takes the partition and its state
        owner_pid = st["pids"][owner]
        os.kill(owner_pid, signal.SIGTERM)
        wait_for(f"{owner} to exit", lambda: not pid_alive(owner_pid), 120)
        wait_for(
            f"{other} to own chat-api's partition",
            lambda: partitions <= set(assignment(bootstrap).get(other, [])),
        )
        produce_by_service(bootstrap, events[building:], values[building:])
        wait_for(
            "every event stored",
            lambda: sql("SELECT uniqExact(event_id) AS n FROM events")[0]["n"] >= total,
            600,
        )
        fired = wait_for(
            "the page",
            lambda: sql(
                "SELECT alert_id, worker_id, deployment, toUnixTimestamp64Milli(ts) AS ts "
                "FROM alerts FINAL WHERE severity = 'page' AND state = 'firing'"
            ),
        )
        # the page fired on the new owner, for the canary only, once per alert id
        assert {a["worker_id"] for a in fired} == {other}, fired
        assert {a["deployment"] for a in fired} == {canary_dep}, fired
        ids = [a["alert_id"] for a in sql("SELECT alert_id FROM alerts")]
        assert len(ids) == len(set(ids)), "an alert was emitted twice"
        incident_minute = start_ms // MINUTE_MS + 60
        first_page = min(a["ts"] for a in fired) // MINUTE_MS
        assert incident_minute <= first_page <= incident_minute + 5, (first_page, incident_minute)
        time.sleep(3)  # the last batch's alerts
        live = sql(
            "SELECT rule, deployment, track, window, severity, state, "
            "toUnixTimestamp64Milli(ts) AS ts FROM alerts FINAL WHERE kind = 'slo'"
        )
        last_minute = max(e["ts"] for e in events) // MINUTE_MS

        # 3. same SLO transitions as a replay of the stored events from the start: the new
        #    owner carried on from the old owner's windows, not from scratch
        frm = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start_ms / 1000))
        to = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((last_minute + 1) * 60))
        out = cli("slo", "backtest", "--from", frm, "--to", to).stdout
    finally:
        pids = pids + [
            p for p in json.loads((home / "run" / "stack.json").read_text())["pids"].values() if p
        ]
        run_cli(home, "down", env=env, check=False)
        kill_leftovers(pids)
    closed = last_minute - 2
    replayed = {
        (
            t["slo"],
            t["key"],
            t["window"],
            t["severity"],
            t["state"],
            t["minute"] + start_ms // MINUTE_MS,
        )
        for t in map(json.loads, out.splitlines())
    }
    replayed = {t for t in replayed if t[5] <= closed}
    live_slo = {
        (
            a["rule"],
            "/".join([SERVICE, a["deployment"], a["track"]]),
            a["window"],
            a["severity"],
            a["state"],
            a["ts"] // MINUTE_MS - 1,
        )
        for a in live
    }
    assert live_slo == replayed
