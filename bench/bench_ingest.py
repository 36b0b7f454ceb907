"""Ingest benchmark: the monitor worker's batch consumer vs per-event baselines, same run.

Pre-fills a topic on the embedded noida-db broker with generated inference events
(Confluent-framed Avro, ~1 KB of prompt + response text each), then measures, end to end
(consume → decode → validate → insert into chdb → commit):

1. ``batch``: :class:`streams.monitor.BatchMonitor`, exactly as the worker runs it
   (``consume(10000)``, one column-oriented insert per batch, commit every 2 s), on every
   event; checked afterwards with ``uniqExact(event_id)``;
2. ``one-row``: the same decoder, one ``INSERT`` per event (commit every 1000), on a
   subset, extrapolated; labelled as such;
3. ``faust``: a faust agent (``stream.take(10000, within=30)`` → decode → one insert per
   take: the worker's insert size, checked afterwards), the best case of faust's per-event stream path, in its
   own process, on the same events as (1);
4. ``batch + PII``: the worker with PII redaction on the first 50,000 events (5 batches,
   4 timed), run 3 times, the median reported; ``batch + toxicity + PII``: the worker's
   pipeline on the first 30,000 with ``toxicity.sampling: always`` (every response scored
   with the default bundle on the CPU);
5. the broker's own ceilings: produce rate of the pre-fill and a counting-only consumer.

Run: ``.venv/bin/python bench/bench_ingest.py`` (200k events) or ``--quick`` (20k).
Writes ``bench/results/ingest.json``. Numbers are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
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

from confluent_kafka import Consumer, Producer  # noqa: E402

from bench.machine import cpu_model  # noqa: E402
from streams.generator import TrafficGenerator  # noqa: E402

TOPIC = "bench.events"
PARTITIONS = 4


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def prefill(bootstrap: str, values: list[bytes]) -> float:
    """Produce ``values`` (idempotent, acks=all); returns events/s."""
    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "log_level": 3,
        }
    )
    t0 = time.perf_counter()
    for i, v in enumerate(values):
        while True:
            try:
                p.produce(TOPIC, v, key=str(i % 64).encode())
                break
            except BufferError:
                p.poll(0.05)
        if i % 1000 == 0:
            p.poll(0)
    if p.flush(120):
        raise RuntimeError("pre-fill did not finish: is the broker up?")
    return len(values) / (time.perf_counter() - t0)


def consume_ceiling(bootstrap: str, n: int) -> float:
    """A consumer that only counts (consume(10000), no decode, no insert)."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-count-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "receive.message.max.bytes": 2147483647,
            "log_level": 3,
        }
    )
    c.subscribe([TOPIC])
    got = 0
    t0 = None
    while got < n:
        msgs = c.consume(10000, 1.0)
        if msgs and t0 is None:
            t0 = time.perf_counter()
        got += len(msgs)
    rate = n / (time.perf_counter() - (t0 or time.perf_counter()))
    c.close()
    return rate


def settings_for(
    home: Path,
    bootstrap: str,
    group: str,
    batch_size: int,
    pii: bool = False,
    toxicity: bool = False,
) -> Any:
    from tocsin.settings import Settings, TopicSettings, WorkerSettings

    return Settings(
        home=home,
        bootstrap_servers=bootstrap,
        topics=TopicSettings(events=TOPIC, partitions=PARTITIONS),
        worker=WorkerSettings(batch_size=batch_size, group_id=group, poll_timeout_s=1.0),
        pii={"enabled": pii},
        # every answer scored (`auto`, the worker's default, samples behind a backlog:
        # bench_live measures that)
        toxicity={"enabled": toxicity, "sampling": "always"},
    )


def bench_batch(
    home: Path, bootstrap: str, n: int, pii: bool = False, toxicity: bool = False
) -> dict[str, Any]:
    """The worker's batch consumer on the first ``n`` events (with the detector stages or not)."""
    from streams.app import MonitorThread, build_monitor

    settings = settings_for(home, bootstrap, f"bench-batch-{time.time_ns()}", 10_000, pii, toxicity)
    parts = build_monitor(settings, "bench-0", bootstrap)
    errors: list[BaseException] = []
    thread = MonitorThread(parts.monitor, on_fatal=errors.append)
    m = parts.monitor.metrics
    cpu0 = cpu_s()
    t_start = time.perf_counter()
    thread.start()
    # The rate is timed from the end of the first batch (group join and the first fill
    # of the batch are start-up, not throughput); the figure with them is kept too.
    t_first, first = None, 0
    while m.written < n and not errors:
        if t_first is None and m.batches:
            t_first, first = time.perf_counter(), m.written
        time.sleep(0.002)
    t_end = time.perf_counter()
    thread.stop()
    cpu = cpu_s() - cpu0
    if errors:
        raise RuntimeError(f"batch consumer failed: {errors[0]}")
    uniq = int(str(parts.query_client.command("SELECT uniqExact(event_id) FROM events")))
    parts.query_client.close()
    parts.client.close()
    if t_first is None or m.written <= first:
        t_first, first = t_start, 0
    return {
        "events": m.written,
        "pii_stage": pii,
        "toxicity_stage": toxicity,
        "unique_rows": uniq,
        "seconds": t_end - t_start,
        "events_per_s": (m.written - first) / (t_end - t_first),
        "events_per_s_incl_join": m.written / (t_end - t_start),
        "cpu_s_per_1k": 1000 * cpu / m.written,
        "batches": m.batches,
        "commits": m.commits,
    }


def bench_one_row(home: Path, bootstrap: str, n: int, total: int) -> dict[str, Any]:
    """Decode each event and insert it alone (commit every 1000), on ``n`` events."""
    from confluent_kafka import TopicPartition

    from sinks.clickhouse.client import connect
    from sinks.clickhouse.migrations import migrate
    from sinks.clickhouse.writer import EventWriter
    from streams.codec import EventDecoder
    from streams.monitor import consumer_config, events_table_columns
    from streams.registry import make_resolver

    client = connect(f"chdb://{home / 'clickhouse'}", "bench_one_row")
    migrate(client, "bench_one_row")
    writer = EventWriter(client)
    decoder = EventDecoder(make_resolver(None))
    conf = consumer_config(bootstrap, f"bench-row-{time.time_ns()}", "bench-row")
    conf.pop("logger")
    consumer = Consumer(conf)
    consumer.subscribe([TOPIC])
    done = 0
    pending: dict[tuple[str, int], int] = {}
    t0: float | None = None
    while done < n:
        msg: Any
        for msg in consumer.consume(100, 1.0):
            if msg.error() or done >= n:
                continue
            t0 = t0 or time.perf_counter()
            batch = decoder.decode_batch([msg.value()])
            cols = events_table_columns(batch.columns, [msg.partition()], [msg.offset()])
            writer.insert_events(cols)
            pending[(msg.topic(), msg.partition())] = msg.offset() + 1
            done += 1
            if done % 1000 == 0:
                consumer.commit(
                    offsets=[TopicPartition(t, p, o) for (t, p), o in pending.items()],
                    asynchronous=False,
                )
    elapsed = time.perf_counter() - (t0 or time.perf_counter())
    consumer.close()
    client.close()
    rate = n / elapsed
    return {
        "events": n,
        "seconds": elapsed,
        "events_per_s": rate,
        "extrapolated_seconds_for_all": total / rate,
        "note": f"subset of {n} events, extrapolated to {total}",
    }


FAUST_AGENT = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[5])
import faust
from faust.worker import Worker
from sinks.clickhouse.client import connect
from sinks.clickhouse.migrations import migrate
from sinks.clickhouse.writer import EventWriter
from streams.app import throttle_empty_fetches
from streams.codec import EventDecoder
from streams.monitor import events_table_columns
from streams.registry import make_resolver

bootstrap, topic, n, home = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
take, within = int(sys.argv[6]), float(sys.argv[7])
throttle_empty_fetches()
client = connect(f"chdb://{home}/faust-ch", "bench_faust")
migrate(client, "bench_faust")
writer = EventWriter(client)
decoder = EventDecoder(make_resolver(None))
app = faust.App(f"bench-faust-{time.time_ns()}", broker=f"kafka://{bootstrap}",
    value_serializer="raw", key_serializer="raw", web_enabled=False,
    consumer_auto_offset_reset="earliest", consumer_group_instance_id="bench-faust",
    broker_session_timeout=10, broker_heartbeat_interval=1, store="memory://",
    datadir=f"{home}/faust-data", topic_partitions=4, producer_acks=-1)
events = app.topic(topic, value_type=bytes, value_serializer="raw", partitions=4)
state = {"done": 0, "t0": None, "first": 0, "inserts": 0}

@app.agent(events)
async def sink(stream):
    async for batch in stream.take(take, within=within):
        if state["t0"] is None:
            state["t0"], state["first"] = time.perf_counter(), len(batch)
        decoded = decoder.decode_batch(batch)
        m = len(decoded.good_index)
        writer.insert_events(events_table_columns(decoded.columns, [0] * m, [0] * m))
        state["done"] += len(batch)
        state["inserts"] += 1
        if state["done"] >= n:
            elapsed = time.perf_counter() - state["t0"]
            timed = state["done"] - state["first"]
            print(json.dumps({"events": state["done"], "timed": timed, "seconds": elapsed,
                              "inserts": state["inserts"]}))
            sys.stdout.flush()
            client.close()
            os._exit(0)

worker = Worker(app, loglevel="error", quiet=True, redirect_stdouts=False)
worker.spinner = None
worker.execute_from_commandline()
"""


def bench_faust(
    home: Path, bootstrap: str, n: int, take: int = 10_000, within: float = 30.0
) -> dict[str, Any]:
    """A faust agent (per-event stream, take() batches), in its own process, on ``n`` events.

    Given the worker's insert size: ``take(10000)`` against the worker's ``consume(10000)``,
    one insert per batch. ``within`` is long because faust's per-event path fills a batch
    far slower than librdkafka does: with the worker's 1 s it inserted ~1,000 rows at a time.
    The mean insert size is recorded.
    """
    argv = [bootstrap, TOPIC, str(n), str(home), str(REPO), str(take), str(within)]
    proc = subprocess.run(
        [sys.executable, "-c", FAUST_AGENT, *argv],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=str(home),
    )
    start = proc.stdout.rfind('{"events"')
    if proc.returncode != 0 or start < 0:
        raise RuntimeError(f"faust agent failed ({proc.returncode}): {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout[start:].splitlines()[0])
    # Timing starts when the first take() returns: its events are counted out of the rate.
    return {
        "events": out["events"],
        "seconds": out["seconds"],
        "events_per_s": out["timed"] / out["seconds"],
        "take": take,
        "within_s": within,
        "inserts": out["inserts"],
        "mean_rows_per_insert": out["events"] / out["inserts"],
        "note": f"all {n} events; take({take}, within={within}), one insert per take",
    }


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median rate, with every run's rate beside it."""
    ordered = sorted(runs, key=lambda r: r["events_per_s"])
    out = dict(ordered[len(ordered) // 2])
    out["runs"] = len(runs)
    out["events_per_s_all_runs"] = [r["events_per_s"] for r in runs]
    return out


def machine() -> dict[str, Any]:
    pkgs = ["confluent-kafka", "faust-streaming", "aiokafka", "chdb", "clickhouse-connect"]
    pkgs += ["noida-db", "fastavro"]
    return {
        "platform": platform.platform(),
        "processor": cpu_model(),
        "cpus": os.cpu_count(),
        "load_avg_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "versions": {p: version(p) for p in pkgs},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke size (20k events)")
    parser.add_argument("--events", type=int, default=0, help="events to pre-fill")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "ingest.json")
    args = parser.parse_args(argv)
    n = args.events or (20_000 if args.quick else 200_000)
    row_subset = 500 if args.quick else 2000

    from streams.topics import TopicSpec, ensure_topics
    from tocsin.runtime.broker import EmbeddedBroker

    info = machine()
    print(f"machine: {info['platform']}, {info['cpus']} cpus, load {info['load_avg_at_start']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    work = Path(tempfile.mkdtemp(prefix="tocsin-bench-ingest-"))
    broker = EmbeddedBroker(work / "kafka").start()
    results: dict[str, Any] = {"machine": info, "events": n, "quick": args.quick}
    try:
        per_partition = 2 * 1300 * n // PARTITIONS + 64 * 1024 * 1024
        spec = TopicSpec(
            TOPIC,
            PARTITIONS,
            1,
            {
                "retention.ms": str(3600 * 1000),
                "retention.bytes": str(per_partition),
                "segment.bytes": str(64 * 1024 * 1024),
            },
        )
        ensure_topics(broker.bootstrap_servers, [spec])
        t = time.perf_counter()
        values = TrafficGenerator(seed=20261124).encoded(n)
        mean_bytes = sum(map(len, values)) / n
        print(
            f"generated {n:,} events, {mean_bytes:.0f} B mean, in {time.perf_counter() - t:.1f} s"
        )
        results["mean_event_bytes"] = mean_bytes
        results["produce_events_per_s"] = prefill(broker.bootstrap_servers, values)
        del values
        results["consume_only_events_per_s"] = consume_ceiling(broker.bootstrap_servers, n)
        results["batch"] = bench_batch(work / "batch", broker.bootstrap_servers, n)
        # +PII over 5 batches of 10,000 (4 timed: the first is start-up), 3 times: the median
        pii_n = min(n, 50_000)
        pii_runs = [
            bench_batch(work / f"batch-pii-{i}", broker.bootstrap_servers, pii_n, pii=True)
            for i in range(3)
        ]
        results["batch_pii"] = median_run(pii_runs)
        results["batch_full"] = bench_batch(
            work / "batch-full",
            broker.bootstrap_servers,
            min(n, 30_000),
            pii=True,
            toxicity=True,
        )
        results["one_row"] = bench_one_row(work / "row", broker.bootstrap_servers, row_subset, n)
        # the same events and the same insert size as the worker
        results["faust"] = bench_faust(work, broker.bootstrap_servers, n)
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)

    b = results["batch"]["events_per_s"]
    rows = [
        (
            "batch consumer (worker)",
            b,
            f"all {n:,}; {results['batch']['unique_rows']:,} unique rows",
        ),
        (
            "batch + PII redaction",
            results["batch_pii"]["events_per_s"],
            f"first {results['batch_pii']['events']:,} events, median of "
            f"{results['batch_pii']['runs']} runs",
        ),
        (
            "batch + toxicity + PII",
            results["batch_full"]["events_per_s"],
            f"first {results['batch_full']['events']:,}; default bundle on CPU, every answer",
        ),
        ("faust agent, take(10000)", results["faust"]["events_per_s"], results["faust"]["note"]),
        ("one-row inserts", results["one_row"]["events_per_s"], results["one_row"]["note"]),
        ("broker: produce only", results["produce_events_per_s"], "pre-fill, acks=all"),
        ("broker: consume only", results["consume_only_events_per_s"], "consume(10000), count"),
    ]
    results["ratios"] = {
        "batch_vs_faust": b / results["faust"]["events_per_s"],
        "batch_vs_one_row": b / results["one_row"]["events_per_s"],
    }
    print(f"\n{'path':<26} {'events/s':>10} {'x batch':>8}  note")
    for name, rate, note in rows:
        print(f"{name:<26} {rate:>10,.0f} {b / rate:>8.2f}  {note}")
    print(
        f"\nbatch consumer: {results['batch']['cpu_s_per_1k']:.2f} CPU-s per 1k events "
        f"(this process), {results['batch']['batches']} batches, "
        f"{results['batch']['commits']} commits; target >= 20,000 events/s"
    )
    if results["batch"]["unique_rows"] != n:
        print(f"ERROR: {results['batch']['unique_rows']} unique rows, expected {n}")
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
