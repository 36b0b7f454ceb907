"""Benchmark: what the events_1m materialized view (migration 0005) adds to an events insert.

Three databases in one chdb engine get the same batches of generated events, inserted the
way the worker does it (column-oriented, one insert_deduplication_token per batch), in
rotating order so that load from other processes falls on all three alike:

- ``no_view``: migrations 0001-0004 only (the **baseline**: events without the rollup);
- ``view``: every migration (events_1m_mv feeds events_1m, which has a dedup window);
- ``view_no_window``: the same with events_1m's dedup window set to 0 (what the window costs).

Reports the median time per insert for each batch size.

Run:  .venv/bin/python bench/bench_events_1m.py [--quick]
Writes bench/results/events_1m.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_model  # noqa: E402
from sinks.clickhouse.client import connect  # noqa: E402
from sinks.clickhouse.migrations import default_migrations_dir, migrate  # noqa: E402
from streams.codec import EventDecoder, EventEncoder  # noqa: E402
from streams.generator import TrafficGenerator  # noqa: E402
from streams.monitor import events_table_columns  # noqa: E402
from streams.registry import make_resolver  # noqa: E402

NAMES = ("no_view", "view", "view_no_window")


def batches(n: int, size: int) -> list[dict[str, list[Any]]]:
    start = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000)
    gen = TrafficGenerator(seed=1, rate=300.0, start_ms=start)
    encoder, decoder = EventEncoder(), EventDecoder(make_resolver(None))
    out = []
    for lo in range(0, n, size):
        batch = decoder.decode_batch([encoder.encode(e, 10**14) for e in gen.events(size)])
        out.append(events_table_columns(batch.columns, [0] * size, list(range(lo, lo + size))))
    return out


def run(n: int, size: int, old_migrations: Path) -> dict[str, float]:
    client = connect("chdb://memory", database=None)
    suffix = f"{os.getpid()}_{size}"
    dbs = {name: f"b_{name}_{suffix}" for name in NAMES}
    migrate(client, dbs["no_view"], directory=old_migrations)
    migrate(client, dbs["view"])
    migrate(client, dbs["view_no_window"])
    client.command(
        f"ALTER TABLE {dbs['view_no_window']}.events_1m"
        " MODIFY SETTING non_replicated_deduplication_window = 0"
    )
    times: dict[str, list[float]] = {name: [] for name in NAMES}
    try:
        for i, cols in enumerate(batches(n, size)):
            order = NAMES[i % 3 :] + NAMES[: i % 3]
            for name in order:
                t0 = time.perf_counter()
                client.insert(
                    "events",
                    [list(v) for v in cols.values()],
                    column_names=list(cols),
                    column_oriented=True,
                    database=dbs[name],
                    settings={"insert_deduplication_token": f"batch-{i}"},
                )
                times[name].append(time.perf_counter() - t0)
        total = client.query(f"SELECT sum(events) FROM {dbs['view']}.events_1m").result_rows
        assert total[0][0] == n, total
    finally:
        for db in dbs.values():
            client.command(f"DROP DATABASE IF EXISTS {db}")
        client.close()
    return {name: statistics.median(v) * 1000 for name, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer inserts")
    args = parser.parse_args()
    plan = [(1_000, 8 if args.quick else 30), (10_000, 3 if args.quick else 12)]
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp)
        for path in sorted(default_migrations_dir().glob("000[1-4]_*.sql")):
            shutil.copy(path, old / path.name)
        results = []
        for size, inserts in plan:
            medians = run(size * inserts, size, old)
            results.append({"rows_per_insert": size, "inserts": inserts, "median_ms": medians})
            print(
                f"{size:>6} rows/insert, {inserts} inserts each: median ms "
                + ", ".join(f"{k} {v:.1f}" for k, v in medians.items())
                + f"  (view adds {medians['view'] - medians['no_view']:+.1f} ms)"
            )
    report = {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0],
        "python": platform.python_version(),
        "results": results,
    }
    out = ROOT / "bench" / "results" / "events_1m.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
