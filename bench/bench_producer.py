"""Producer SDK throughput: events per CPU-second, against Confluent's AvroSerializer path.

Run: ``.venv/bin/python bench/bench_producer.py [--quick]``

Measured in one run, on the same generated ~1 KB inference events:

1. encode only (validate + normalize + Avro + Confluent frame), CPU time of this process:
   - tocsin ``EventEncoder.encode`` (schema-compiled writer)
   - tocsin ``EventEncoder`` with fastavro's generic writer (what the compiled writer replaces)
   - baseline: ``confluent_kafka.schema_registry.avro.AvroSerializer`` with an in-memory
     (``mock://``) registry client, the standard Confluent Python path
   - reference: ``json.dumps(event).encode()``
2. encode + produce to a real local noida-db broker (``acks=all``, idempotent, linger 5 ms, lz4),
   until every delivery report is in: tocsin ``EventProducer.send_many`` (with its C writer,
   and with the generated pure-Python writer a machine without a compiler gets) vs the
   baseline ``AvroSerializer`` + ``Producer.produce`` loop with the same librdkafka settings,
   configured two ways: failure reports only (``delivery.report.only.error``, as tocsin asks
   librdkafka when no ``on_delivery`` is given: the like-for-like ratio) and a Python delivery
   callback per message (as most examples write it). "per core" is events / (CPU seconds of
   this process, librdkafka threads included); the broker runs in its own process and is
   not counted.

Writes ``bench/results/producer.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from importlib.resources import files
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from fastavro import parse_schema, schemaless_reader  # noqa: E402

from bench.machine import cpu_model  # noqa: E402
from schemas.loader import schema_info  # noqa: E402
from streams.codec import (  # noqa: E402
    EventDecoder,
    EventEncoder,
    LocalSchemaResolver,
    _strip_logical_types,
)
from streams.generator import TrafficGenerator  # noqa: E402
from streams.producer import EventProducer  # noqa: E402

RESULTS = REPO / "bench" / "results" / "producer.json"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("fastavro", "confluent-kafka", "noida-db", "orjson"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "absent"
    import confluent_kafka

    out["librdkafka"] = confluent_kafka.libversion()[0]
    return out


def machine() -> dict[str, Any]:
    cpu = cpu_model()
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0],
    }


def best_cpu_per_event(fn: Callable[[Any], Any], items: list[Any], reps: int) -> float:
    """Lowest CPU seconds per item over ``reps`` passes (CPU time resists a shared machine)."""
    best = float("inf")
    for _ in range(reps):
        t0 = time.process_time()
        for item in items:
            fn(item)
        best = min(best, (time.process_time() - t0) / len(items))
    return best


def avro_deserializer() -> tuple[Callable[[bytes], Any], str] | tuple[None, str]:
    try:
        from confluent_kafka.schema_registry import SchemaRegistryClient
        from confluent_kafka.schema_registry.avro import AvroDeserializer
        from confluent_kafka.serialization import MessageField, SerializationContext
    except ImportError as exc:
        return None, f"unavailable ({exc})"
    client = SchemaRegistryClient.new_client({"url": "mock://bench-decode"})
    text = schema_info("inference_event").text()
    from confluent_kafka.schema_registry import Schema

    schema_id = client.register_schema("tocsin.events.v1-value", Schema(text, "AVRO"))
    deser = AvroDeserializer(client, text)
    ctx = SerializationContext("tocsin.events.v1", MessageField.VALUE)
    header = b"\x00" + schema_id.to_bytes(4, "big")

    def deserialize(value: bytes) -> Any:
        return deser(header + value[5:], ctx)

    return deserialize, "confluent_kafka AvroDeserializer (mock:// registry)"


def avro_serializer() -> tuple[Callable[[dict[str, Any]], bytes], str] | tuple[None, str]:
    try:
        from confluent_kafka.schema_registry import SchemaRegistryClient
        from confluent_kafka.schema_registry.avro import AvroSerializer
        from confluent_kafka.serialization import MessageField, SerializationContext
    except ImportError as exc:
        return None, f"unavailable ({exc}); pip install 'confluent-kafka[schemaregistry]'"
    client = SchemaRegistryClient.new_client({"url": "mock://bench"})
    ser = AvroSerializer(client, schema_info("inference_event").text())
    ctx = SerializationContext("tocsin.events.v1", MessageField.VALUE)

    def serialize(event: dict[str, Any]) -> bytes:
        out: bytes = ser(event, ctx)
        return out

    return serialize, "confluent_kafka.schema_registry.avro.AvroSerializer (mock:// registry)"


class LocalBroker:
    """noida-db on a free 127.0.0.1 port, stopped on exit."""

    def __enter__(self) -> LocalBroker:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.dir = tempfile.TemporaryDirectory(prefix="bench-noida-")
        self.proc = subprocess.Popen(
            [
                str(files("noida_db") / "noida-db"),
                "start",
                "--only",
                "kafka",
                "--host",
                "127.0.0.1",
                "--kafka-port",
                str(port),
                "--data-dir",
                self.dir.name,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.bootstrap = f"127.0.0.1:{port}"
        self.admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.admin.list_topics(timeout=1).brokers:
                    break
            except Exception:  # not listening yet
                if time.monotonic() > deadline:
                    self.__exit__()
                    raise
            time.sleep(0.05)
        return self

    def topic(self, name: str) -> str:
        # Short retention and small segments: the broker snapshots its whole state as JSON.
        config = {"retention.ms": "5000", "segment.bytes": "1048576"}
        self.admin.create_topics([NewTopic(name, 4, 1, config=config)])[name].result(10)
        return name

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.dir.cleanup()


def produce_tocsin(
    bootstrap: str, topic: str, events: list[dict[str, Any]], native: bool = True
) -> dict[str, Any]:
    producer = EventProducer(bootstrap, topic, log_level=0)
    if not native:  # what a machine without a C compiler runs: the generated Python writer
        producer.encoder = EventEncoder(
            producer.encoder.schema_id,
            schema=schema_info("inference_event", 1).raw(),
            native=False,
        )
    t0, c0 = time.perf_counter(), time.process_time()
    producer.send_many(events)
    left = producer.flush(120)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    stats = producer.stats
    return {
        "events": len(events),
        "delivered": stats.delivered,
        "failed": stats.failed + left,
        "wall_s": wall,
        "cpu_s": cpu,
    }


def produce_baseline(
    bootstrap: str,
    topic: str,
    events: list[dict[str, Any]],
    serialize: Callable[[dict[str, Any]], bytes],
    errors_only: bool = False,
) -> dict[str, Any]:
    """The Confluent path. ``errors_only``: configured as a careful user would, with
    ``delivery.report.only.error`` (a Python callback for failures only, as tocsin asks);
    otherwise the callback runs for every message."""
    counts = {"ok": 0, "err": 0}

    def report(err: Any, msg: Any) -> None:
        counts["err" if err else "ok"] += 1

    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "compression.type": "lz4",  # as the SDK (the same work on both sides)
        "on_delivery": report,
        "log_level": 0,
    }
    if errors_only:
        conf["delivery.report.only.error"] = True
    producer = Producer(conf)
    t0, c0 = time.perf_counter(), time.process_time()
    for i, event in enumerate(events):
        value = serialize(event)
        while True:
            try:
                producer.produce(topic, value, event["service"])
                break
            except BufferError:
                producer.poll(0.05)
        if not i & 0x3F:
            producer.poll(0)
    left = producer.flush(120)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    failed = counts["err"] + left
    return {
        "events": len(events),
        # without success reports, delivered = what left the queue without a failure report
        "delivered": len(events) - failed if errors_only else counts["ok"],
        "failed": failed,
        "wall_s": wall,
        "cpu_s": cpu,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--events", type=int, help="events per measurement")
    parser.add_argument("--no-broker", action="store_true", help="encode-only measurements")
    args = parser.parse_args()
    n_encode = args.events or (5_000 if args.quick else 50_000)
    n_produce = args.events or (5_000 if args.quick else 100_000)
    reps = 1 if args.quick else 3

    gen = TrafficGenerator(seed=0, rate=20_000.0)
    encoder = EventEncoder()
    now_ms = int(time.time() * 1000)
    raw_events = gen.events(max(n_encode, n_produce))
    # the baselines get complete records (ts as int) since they do not normalize
    records = [encoder.normalize(e, now_ms) for e in raw_events]
    sizes = [len(encoder.encode_record(r)) for r in records[:5000]]
    avg_size = sum(sizes) / len(sizes)

    python_encoder = EventEncoder(native=False)  # the generated pure-Python writer
    fastavro_encoder = EventEncoder(native=False)
    fastavro_encoder._compiled = None  # the generic fastavro writer
    writer = "C extension" if encoder._native is not None else "pure Python (extension not built)"

    serialize, baseline_name = avro_serializer()
    rows: list[dict[str, Any]] = []

    def add(group: str, name: str, cpu_per_event: float, **extra: Any) -> None:
        rows.append(
            {
                "group": group,
                "name": name,
                "us_per_event_cpu": round(cpu_per_event * 1e6, 3),
                "events_per_cpu_s": round(1 / cpu_per_event),
                **extra,
            }
        )

    enc_items = raw_events[:n_encode]
    add(
        "encode",
        f"tocsin EventEncoder.encode ({writer})",
        best_cpu_per_event(encoder.encode, enc_items, reps),
    )
    add(
        "encode",
        "tocsin EventEncoder.encode, generated Python writer",
        best_cpu_per_event(python_encoder.encode, enc_items, reps),
    )
    add(
        "encode",
        "tocsin EventEncoder.encode, fastavro writer",
        best_cpu_per_event(fastavro_encoder.encode, enc_items, reps),
    )
    if serialize is not None:
        add(
            "encode",
            f"baseline: {baseline_name}",
            best_cpu_per_event(serialize, records[:n_encode], reps),
        )
    add(
        "encode",
        "reference: json.dumps(event).encode()",
        best_cpu_per_event(lambda e: json.dumps(e).encode(), records[:n_encode], reps),
    )

    # decode: the worker's side of the same wire format, per batch of 10k
    values = [encoder.encode_record(r) for r in records[:n_encode]]
    decoder = EventDecoder(LocalSchemaResolver())
    batches = [values[i : i + 10_000] for i in range(0, len(values), 10_000)]
    per_batch = best_cpu_per_event(decoder.decode_batch, batches, reps)
    add(
        "decode",
        "tocsin EventDecoder.decode_batch (checks + columns)",
        per_batch * len(batches) / len(values),
    )
    python_decoder = EventDecoder(LocalSchemaResolver(), native=False)
    add(
        "decode",
        "tocsin EventDecoder.decode_batch, pure-Python reader (no C compiler)",
        best_cpu_per_event(python_decoder.decode_batch, batches, reps) * len(batches) / len(values),
    )
    deserialize, deser_name = avro_deserializer()
    if deserialize is not None:
        add("decode", f"baseline: {deser_name}", best_cpu_per_event(deserialize, values, reps))
    plain = parse_schema(_strip_logical_types(schema_info("inference_event").raw()))

    def fastavro_read(value: bytes) -> Any:
        fo = io.BytesIO(value)
        fo.seek(5)
        return schemaless_reader(fo, plain)

    add(
        "decode",
        "reference: fastavro.schemaless_reader, no checks",
        best_cpu_per_event(fastavro_read, values, reps),
    )

    if not args.no_broker:
        with LocalBroker() as broker:
            bootstrap = broker.bootstrap
            runs: dict[str, list[dict[str, Any]]] = {
                "tocsin": [],
                "tocsin_py": [],
                "baseline_errors_only": [],
                "baseline": [],
            }
            for rep in range(reps):
                t = broker.topic(f"bench.tocsin.{rep}")
                runs["tocsin"].append(produce_tocsin(bootstrap, t, raw_events[:n_produce]))
                t = broker.topic(f"bench.tocsin-py.{rep}")
                runs["tocsin_py"].append(
                    produce_tocsin(bootstrap, t, raw_events[:n_produce], native=False)
                )
                if serialize is not None:
                    t = broker.topic(f"bench.baseline-errors.{rep}")
                    runs["baseline_errors_only"].append(
                        produce_baseline(
                            bootstrap, t, records[:n_produce], serialize, errors_only=True
                        )
                    )
                    t = broker.topic(f"bench.baseline.{rep}")
                    runs["baseline"].append(
                        produce_baseline(bootstrap, t, records[:n_produce], serialize)
                    )
            for key, label in (
                ("tocsin", f"tocsin EventProducer.send_many + flush ({writer})"),
                ("tocsin_py", "tocsin EventProducer.send_many + flush, generated Python writer"),
                (
                    "baseline_errors_only",
                    f"baseline: {baseline_name} + Producer.produce + flush, failure reports "
                    "only (delivery.report.only.error)",
                ),
                (
                    "baseline",
                    f"baseline: {baseline_name} + Producer.produce + flush, a Python "
                    "delivery callback per message",
                ),
            ):
                if not runs[key]:
                    continue
                best = min(runs[key], key=lambda r: r["cpu_s"])
                add(
                    "encode+produce",
                    label,
                    best["cpu_s"] / best["events"],
                    events_per_wall_s=round(best["events"] / best["wall_s"]),
                    delivered=best["delivered"],
                    failed=best["failed"],
                    run=key,
                )

    def rate(group: str, prefix: str, run: str | None = None) -> float | None:
        row = next(
            (
                r
                for r in rows
                if r["group"] == group
                and r["name"].startswith(prefix)
                and (run is None or r.get("run") == run)
            ),
            None,
        )
        return None if row is None else float(row["events_per_cpu_s"])

    def ratio(mine: float | None, base: float | None) -> float | None:
        return None if mine is None or base is None else round(mine / base, 2)

    produce = "encode+produce"
    ratios = {
        "encode": ratio(rate("encode", "tocsin"), rate("encode", "baseline")),
        "decode": ratio(rate("decode", "tocsin"), rate("decode", "baseline")),
        # like for like: both ask for failure reports only
        "encode+produce": ratio(
            rate(produce, "tocsin", "tocsin"), rate(produce, "baseline", "baseline_errors_only")
        ),
        "encode+produce_python_writer": ratio(
            rate(produce, "tocsin", "tocsin_py"),
            rate(produce, "baseline", "baseline_errors_only"),
        ),
        # the baseline as most examples write it: a Python callback per delivered message
        "encode+produce_vs_callback_per_message": ratio(
            rate(produce, "tocsin", "tocsin"), rate(produce, "baseline", "baseline")
        ),
    }

    result = {
        "benchmark": "producer",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "versions": versions(),
        "events": {"encode": n_encode, "produce": n_produce, "reps": reps},
        "avg_value_bytes": round(avg_size),
        "baseline": baseline_name,
        "target_events_per_cpu_s": 100_000,
        "rows": rows,
        "ratio_vs_baseline": ratios,
        "quick": args.quick,
    }

    print(f"machine: {result['machine']}")
    print(f"versions: {result['versions']}")
    print(
        f"events: ~{result['avg_value_bytes']} B Avro values, {n_encode} encoded, {n_produce} produced, best of {reps}"
    )
    print()
    print(f"{'group':<15} {'what':<86} {'µs/event':>9} {'ev/CPU-s':>10} {'ev/wall-s':>10}")
    for r in rows:
        print(
            f"{r['group']:<15} {r['name'][:86]:<86} {r['us_per_event_cpu']:>9.2f} "
            f"{r['events_per_cpu_s']:>10,} {r.get('events_per_wall_s', ''):>10}"
        )
    print()
    for group, value in result["ratio_vs_baseline"].items():
        print(f"ratio tocsin / baseline ({group}, events per CPU-second): {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(REPO)}")
    failed = sum(r.get("failed", 0) for r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
