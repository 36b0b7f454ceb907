"""`tocsin slo backtest --from/--to` replays the stored events through the SLO evaluators.

Two hours of generated traffic go into the embedded store the way the worker writes them
(encode -> decode -> events_table_columns -> insert); chat-api's canary starts failing after
the first hour. The backtest must page for the canary, and only for it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from detectors.slo.in_force import split_key
from tests.integration.conftest import run_cli, tocsin_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "infra" / "config" / "slos.yaml"
START = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
INCIDENT = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
END = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

FILL = textwrap.dedent(
    """
    import sys
    from streams.codec import EventDecoder, EventEncoder
    from streams.generator import CanaryIncident, TrafficGenerator
    from streams.monitor import events_table_columns
    from streams.registry import make_resolver
    from sinks.clickhouse.writer import EventWriter
    from tocsin.runtime.store import open_store, run_migrations
    from tocsin.settings import load_settings

    start_ms, incident_ms, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    settings = load_settings()
    client = open_store(settings)
    run_migrations(settings, client)
    incident = CanaryIncident(incident_ms, services=("chat-api",), error_rate=0.5)
    # a healthy baseline for an objective of 99.9%: 0.04% errors and timeouts
    gen = TrafficGenerator(seed=9, rate=10.0, start_ms=start_ms, incident=incident,
                           error_rate=0.0003, timeout_rate=0.0001)
    encoder, decoder = EventEncoder(), EventDecoder(make_resolver(None))
    writer = EventWriter(client)
    for lo in range(0, n, 10_000):
        values = [encoder.encode(e, start_ms + 10**10) for e in gen.events(min(10_000, n - lo))]
        batch = decoder.decode_batch(values)
        m = len(batch.good_index)
        writer.insert_events(events_table_columns(batch.columns, [0] * m, list(range(lo, lo + m))))
    print(client.command("SELECT count() FROM events"))
    client.close()
    """
)


def test_backtest_over_stored_events_pages_for_the_failing_canary_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    n = 72_000  # two hours at 10 events/s
    filled = subprocess.run(
        [
            sys.executable,
            "-c",
            FILL,
            str(int(START.timestamp() * 1000)),
            str(int(INCIDENT.timestamp() * 1000)),
            str(n),
        ],
        env=tocsin_env(home),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(REPO),
    )
    assert filled.returncode == 0, filled.stderr
    assert int(filled.stdout.split()[-1]) == n

    r = run_cli(
        home,
        "slo",
        "backtest",
        "--spec",
        str(SPEC),
        "--from",
        START.isoformat(),
        "--to",
        END.isoformat(),
    )
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert "replaying stored events via chdb" in r.stderr
    fired = [x for x in rows if x["slo"] == "chat-api-availability" and x["state"] == "firing"]
    assert fired, rows
    # Pages go to the canary only. (A ticket for stable at the very start is legitimate: the
    # long windows then hold a few minutes, so one error weighs a lot, as the vectors define.)
    pages = [x for x in fired if x["severity"] == "page"]
    # keys are service/deployment/track (the worker judges every SLO per deployment)
    assert {tuple(split_key(x["key"]))[::2] for x in pages} == {("chat-api", "canary")}, pages
    fast = [x for x in pages if x["window"] == "1h/5m"]
    assert fast and min(x["at"] for x in fast) > INCIDENT.isoformat().replace("+00:00", "Z")
    late_stable = [x for x in fired if x["key"].endswith("/stable") and x["minute"] >= 30]
    assert not late_stable, late_stable
    assert all(0 <= x["minute"] <= 120 for x in rows)

    # one SLO only, and an error that names the missing column
    only = run_cli(
        home,
        "slo",
        "backtest",
        "--spec",
        str(SPEC),
        "--slo",
        "chat-api-toxicity",
        "--from",
        START.isoformat(),
        "--to",
        END.isoformat(),
    )
    assert all(json.loads(line)["slo"] == "chat-api-toxicity" for line in only.stdout.splitlines())
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        "version: 1\nslos:\n  - name: x\n    objective: 0.99\n    period: 30d\n"
        "    sli: {kind: quality, field: no_such_verdict}\n"
    )
    bad = run_cli(
        home,
        "slo",
        "backtest",
        "--spec",
        str(spec),
        "--from",
        START.isoformat(),
        "--to",
        END.isoformat(),
        check=False,
    )
    assert bad.returncode == 1 and "no_such_verdict" in bad.stderr
