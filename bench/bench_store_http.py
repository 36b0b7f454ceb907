"""Store benchmark: the worker writing over HTTP to the embedded store process vs chdb
in-process (the baseline: what the single embedded worker did before), same run.

Pre-fills a topic on the embedded noida-db broker with generated events, then runs the
worker's batch consumer (:func:`streams.app.build_monitor`, no detector stages, as
``bench_ingest``'s ``batch``) twice over the same events with fresh consumer groups:

1. ``in-process``: the client opens chdb in the worker's own process (``chdb:///dir``);
2. ``http``: the client reaches ``tocsin store serve`` (chdb behind ClickHouse's HTTP
   interface, authenticated as the generated writer) over 127.0.0.1, as every worker of
   ``tocsin up --workers N`` now does.

Each run reports events/s (from the end of the first batch), the CPU of the worker and of
the store process per 1k events, and ``uniqExact(event_id)`` afterwards. The target of
issue 11 is an HTTP ingest at most 10% below in-process, at 20,000 events/s or more.

Run: ``.venv/bin/python bench/bench_store_http.py`` (200k events) or ``--quick`` (40k).
Writes ``bench/results/store_http.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_ingest import PARTITIONS, TOPIC, cpu_s, machine, prefill, settings_for  # noqa: E402
from streams.generator import TrafficGenerator  # noqa: E402


def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of another process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def run_worker(settings: Any, bootstrap: str, n: int, store_pid: int | None) -> dict[str, Any]:
    from streams.app import MonitorThread, build_monitor

    parts = build_monitor(settings, "bench-0", bootstrap)
    errors: list[BaseException] = []
    thread = MonitorThread(parts.monitor, on_fatal=errors.append)
    m = parts.monitor.metrics
    cpu0 = cpu_s()
    store0 = proc_cpu_s(store_pid) if store_pid else 0.0
    t_start = time.perf_counter()
    thread.start()
    t_first, first, store_first, cpu_first = None, 0, store0, cpu0
    while m.written < n and not errors:
        if t_first is None and m.batches:
            t_first, first = time.perf_counter(), m.written
            cpu_first = cpu_s()
            store_first = proc_cpu_s(store_pid) if store_pid else 0.0
        time.sleep(0.002)
    t_end = time.perf_counter()
    cpu_end = cpu_s()
    store_end = proc_cpu_s(store_pid) if store_pid else 0.0
    thread.stop()
    if errors:
        raise RuntimeError(f"batch consumer failed: {errors[0]}")
    uniq = int(str(parts.query_client.command("SELECT uniqExact(event_id) FROM events")))
    parts.query_client.close()
    parts.client.close()
    if t_first is None or m.written <= first:
        t_first, first, cpu_first, store_first = t_start, 0, cpu0, store0
    timed = m.written - first
    return {
        "events": m.written,
        "unique_rows": uniq,
        "events_per_s": timed / (t_end - t_first),
        "worker_cpu_s_per_1k": 1000 * (cpu_end - cpu_first) / max(timed, 1),
        "store_cpu_s_per_1k": 1000 * (store_end - store_first) / max(timed, 1),
        "batches": m.batches,
    }


def start_store(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``tocsin store serve`` on a free port; returns the process and the writer URL."""
    from streams.localhost import free_port
    from tocsin.runtime.credentials import ensure_credentials, with_credentials
    from tocsin.runtime.stack import ping
    from tocsin.runtime.store_process import store_command

    port = free_port()
    creds = ensure_credentials(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env["TOCSIN_HOME"] = str(home)
    proc = subprocess.Popen(
        store_command(port),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while not ping(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the store process did not start")
        time.sleep(0.1)
    return proc, with_credentials(url, creds["writer"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="40k events instead of 200k")
    parser.add_argument("--events", type=int, default=0)
    args = parser.parse_args()
    n = args.events or (40_000 if args.quick else 200_000)

    from sinks.clickhouse.migrations import migrate  # noqa: F401  (import cost outside timing)
    from streams.topics import TopicSpec, ensure_topics
    from tocsin.runtime.broker import EmbeddedBroker

    info = machine()
    print(f"machine: {info['platform']}, {info['cpus']} cpus, load {info['load_avg_at_start']}")
    work = Path(tempfile.mkdtemp(prefix="tocsin-bench-store-"))
    broker = EmbeddedBroker(work / "kafka").start()
    store = None
    try:
        bootstrap = broker.bootstrap_servers
        ensure_topics(
            bootstrap,
            [
                TopicSpec(
                    TOPIC,
                    PARTITIONS,
                    1,
                    {
                        "retention.ms": str(3600 * 1000),
                        "retention.bytes": str(2 * 1300 * n // PARTITIONS + 64 * 1024 * 1024),
                        "segment.bytes": str(64 * 1024 * 1024),
                    },
                )
            ],
        )
        print(f"generating {n:,} events ...", flush=True)
        values = TrafficGenerator(seed=20261124).encoded(n)
        size = sum(map(len, values)) / n
        print(f"pre-filling ({size:.0f} B/event) ...", flush=True)
        prefill(bootstrap, values)
        del values

        results: dict[str, Any] = {}
        home_a = work / "inproc"
        s_a = settings_for(home_a, bootstrap, f"bench-inproc-{time.time_ns()}", 10_000)
        print("in-process chdb ...", flush=True)
        results["in_process"] = run_worker(s_a, bootstrap, n, None)
        print(f"  {results['in_process']['events_per_s']:,.0f} events/s", flush=True)

        home_b = work / "http"
        store, writer_url = start_store(home_b)
        s_b = settings_for(home_b, bootstrap, f"bench-http-{time.time_ns()}", 10_000)
        s_b = s_b.model_copy(update={"clickhouse_url": writer_url})
        print("HTTP store process ...", flush=True)
        results["http"] = run_worker(s_b, bootstrap, n, store.pid)
        print(f"  {results['http']['events_per_s']:,.0f} events/s", flush=True)
    finally:
        if store is not None:
            store.terminate()
            store.wait(30)
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)

    ratio = results["http"]["events_per_s"] / results["in_process"]["events_per_s"]
    out = {
        "bench": "store_http",
        "events": n,
        "event_bytes": round(size),
        "machine": info,
        "versions": {p: version(p) for p in ("aiohttp",)},
        "results": results,
        "http_vs_in_process": ratio,
        "target": "http >= 0.9 x in-process at >= 20,000 events/s",
        "target_met": ratio >= 0.9 and results["http"]["events_per_s"] >= 20_000,
    }
    for name, r in results.items():
        assert r["unique_rows"] == n, (name, r)
    print(
        f"\nstore over HTTP: {results['http']['events_per_s']:,.0f} events/s, in-process "
        f"chdb: {results['in_process']['events_per_s']:,.0f} events/s -> {ratio:.2f}x "
        f"(worker CPU {results['http']['worker_cpu_s_per_1k']:.3f} vs "
        f"{results['in_process']['worker_cpu_s_per_1k']:.3f} s/1k; store process "
        f"{results['http']['store_cpu_s_per_1k']:.3f} s/1k); unique rows {n:,} both"
    )
    path = REPO / "bench" / "results" / "store_http.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
