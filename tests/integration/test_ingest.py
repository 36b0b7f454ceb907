"""The monitor worker against the real embedded broker (noida-db) and chdb: bad input and faults.

No mocks: every test starts a real noida-db broker; ClickHouse is chdb (in this process, or
in a worker process reached through its query endpoint), or a real ClickHouse HTTP endpoint
(``sinks.clickhouse.query_server`` over chdb) that goes away and comes back.

Only one chdb directory can be open per process at a time, so in-process tests close their
clients before they end (``running_monitor``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from sinks.clickhouse.client import connect
from streams.app import MonitorThread, build_monitor
from streams.codec import encode_event
from streams.dlq import DLQ_HEADER_PREFIX
from streams.generator import TrafficGenerator
from streams.monitor import DlqLimitExceeded
from streams.topics import TopicSpec, ensure_topics
from tocsin.runtime.broker import EmbeddedBroker
from tocsin.runtime.processes import free_port
from tocsin.runtime.topics import topic_specs
from tocsin.settings import Settings, TopicSettings, WorkerSettings

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(120)]

EVENTS = "tocsin.events.v1"
DLQ = "tocsin.dlq.v1"
WORKER_CMD = [sys.executable, "-c", "from tocsin.cli import main; main()", "worker"]


# ----------------------------------------------------------------------------- helpers


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def produce(
    bootstrap: str,
    values: list[bytes],
    *,
    topic: str = EVENTS,
    headers: list[list[tuple[str, str | bytes | None]]] | None = None,
) -> list[tuple[int, int]]:
    """Produce ``values``; return the (partition, offset) of each, in input order."""
    positions: list[tuple[int, int]] = [(-1, -1)] * len(values)
    errors: list[str] = []
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "message.max.bytes": 8 * 1024 * 1024,
        }
    )

    def delivered(index: int) -> Callable[[Any, Any], None]:
        def cb(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(str(err))
            else:
                positions[index] = (msg.partition(), msg.offset())

        return cb

    for i, value in enumerate(values):
        while True:
            try:
                producer.produce(
                    topic,
                    value,
                    key=str(i % 16).encode(),
                    headers=headers[i] if headers else None,
                    on_delivery=delivered(i),
                )
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(30) == 0, "produce did not finish"
    assert not errors, errors[:3]
    return positions


def make_settings(home: Path, bootstrap: str, **worker: Any) -> Settings:
    defaults: dict[str, Any] = {
        "commit_interval_s": 0.5,
        "poll_timeout_s": 0.3,
        "insert_retry_max_s": 1.0,
    }
    defaults.update(worker)
    return Settings(
        home=home,
        bootstrap_servers=bootstrap,
        clickhouse_database="tocsin",
        worker=WorkerSettings(**defaults),
    )


@dataclass
class Running:
    parts: Any
    errors: list[BaseException] = field(default_factory=list)

    @property
    def metrics(self) -> Any:
        return self.parts.monitor.metrics

    def scalar(self, sql: str) -> Any:
        return self.parts.query_client.command(sql)


@contextlib.contextmanager
def running_monitor(settings: Settings, bootstrap: str, **kw: Any) -> Iterator[Running]:
    """A batch consumer in a thread of this process, stopped and closed on exit."""
    parts = build_monitor(settings, "worker-test", bootstrap, **kw)
    run = Running(parts)
    thread = MonitorThread(parts.monitor, on_fatal=run.errors.append)
    thread.start()
    try:
        yield run
    finally:
        thread.stop(timeout=30)
        parts.query_client.close()
        parts.client.close()


def counts(scalar: Callable[[str], Any]) -> tuple[int, int]:
    """(count() FROM events FINAL, uniqExact(event_id)) as ints."""
    out = scalar("SELECT count(), uniqExact(event_id) FROM events FINAL")
    if isinstance(out, str):
        out = out.split()
    return int(out[0]), int(out[1])


def read_topic(bootstrap: str, topic: str, n: int, timeout: float = 20.0) -> list[Any]:
    """Read ``n`` records of ``topic`` from the beginning (no group membership)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{time.time_ns()}",
            "enable.auto.commit": False,
            "receive.message.max.bytes": 2147483647,
        }
    )
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < n and time.monotonic() < deadline:
            got.extend(m for m in consumer.consume(1000, 0.5) if m.error() is None)
    finally:
        consumer.close()
    return got


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A real noida-db broker with tocsin's topics, stopped at the end."""
    b = EmbeddedBroker(tmp_path / "kafka").start()
    try:
        ensure_topics(b.bootstrap_servers, topic_specs(TopicSettings()))
        yield b
    finally:
        b.stop()


class WorkerProcess:
    """`tocsin worker` as a child process, with its query endpoint."""

    def __init__(self, home: Path, bootstrap: str, worker_id: str = "worker-0", **env: str):
        self.home = home
        self.bootstrap = bootstrap
        self.worker_id = worker_id
        self.port = free_port()
        self.env = dict(os.environ, TOCSIN_HOME=str(home), TOCSIN_LOG_LEVEL="warn", **env)
        self.log_path = home / f"{worker_id}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> WorkerProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        cmd = [*WORKER_CMD, "--id", self.worker_id, "--web-port", str(self.port)]
        cmd += ["--bootstrap", self.bootstrap]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def wait_ready(self, timeout: float = 60.0) -> WorkerProcess:
        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(f"worker exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                return httpx.get(self.url + "ping", timeout=1).text.strip() == "Ok."
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout, "the worker's query endpoint")
        return self

    def sql(self, query: str) -> str:
        r = httpx.get(self.url, params={"query": query}, timeout=30)
        assert r.status_code == 200, r.text
        return r.text.strip()

    def counts(self) -> tuple[int, int]:
        return counts(self.sql)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


# ----------------------------------------------------------------------------- bad input


def _malformed(gen: TrafficGenerator, max_bytes: int) -> dict[str, bytes]:
    """One record for each bad-input case, built from real encoded events."""
    ev = gen.events(1)[0]
    good = encode_event(ev)
    service = ev["service"].encode()
    at = good.index(service, 5)
    bad_utf8 = good[:at] + b"\xff" + good[at + 1 :]
    big = dict(ev, prompt="p" * (max_bytes + 100))
    return {
        "bad_magic": b"\x07" + good[1:],
        "unknown_schema_id": b"\x00" + (987654).to_bytes(4, "big") + good[5:],
        "truncated": good[: len(good) // 2],
        "invalid_utf8": bad_utf8,
        "too_large": encode_event(big),
    }


def test_malformed_messages_go_to_dlq_topic_and_table_and_the_stream_goes_on(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    max_bytes = 4096
    gen = TrafficGenerator(seed=11)
    good = gen.encoded(400)
    bad = _malformed(gen, max_bytes)
    values = good[:200] + list(bad.values()) + good[200:]
    headers: list[list[tuple[str, str | bytes | None]]] = [[("src", b"test")]] * 200
    headers += [[("src", b"test"), ("case", name.encode())] for name in bad]
    headers += [[("src", b"test")]] * 200
    positions = produce(broker.bootstrap_servers, values, headers=headers)
    bad_pos = dict(zip(bad, positions[200 : 200 + len(bad)], strict=True))

    settings = make_settings(
        tmp_path / "home", broker.bootstrap_servers, max_message_bytes=max_bytes
    )
    with running_monitor(settings, broker.bootstrap_servers) as run:
        wait_until(lambda: counts(run.scalar) == (400, 400), 45, "400 good events")
        wait_until(
            lambda: int(run.scalar("SELECT count() FROM dead_letters FINAL")) == len(bad),
            10,
            "5 dead letters",
        )
        rows = run.parts.query_client.query(
            "SELECT headers['case'], reason, kafka_partition, kafka_offset, hex(value), "
            "headers['src'], topic, detail FROM dead_letters FINAL"
        ).result_rows
        assert run.errors == []
        assert run.metrics.dead_lettered == len(bad)

    by_case = {r[0]: r for r in rows}
    assert set(by_case) == set(bad)
    for name, original in bad.items():
        _, reason, partition, offset, value_hex, src, topic, detail = by_case[name]
        assert reason == name
        assert (partition, offset) == bad_pos[name]
        assert bytes.fromhex(value_hex) == original
        assert src == "test" and topic == EVENTS
        assert detail and original.hex() not in detail.lower()

    dlq = read_topic(broker.bootstrap_servers, DLQ, len(bad))
    assert len(dlq) == len(bad)
    for msg in dlq:
        hdrs = {k: v for k, v in msg.headers()}
        name = hdrs["case"].decode()
        assert msg.value() == bad[name]
        assert hdrs["src"] == b"test"
        assert hdrs[DLQ_HEADER_PREFIX + "reason"] == name.encode()
        assert hdrs[DLQ_HEADER_PREFIX + "topic"] == EVENTS.encode()
        assert int(hdrs[DLQ_HEADER_PREFIX + "partition"]) == bad_pos[name][0]
        assert int(hdrs[DLQ_HEADER_PREFIX + "offset"]) == bad_pos[name][1]
        assert int(hdrs[DLQ_HEADER_PREFIX + "ts"]) > 0


def test_pii_is_redacted_before_it_is_stored(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """Prompts, responses and dead letters: no raw value and no fragment of one is stored."""
    events = TrafficGenerator(seed=17).events(50)
    secret = "jane.doe@example.com"
    phone, card = "+44 20 7946 0958", "4111 1111 1111 1111"
    for e in events:
        e["prompt"] = f"please answer {secret} today"
        e["status"] = "ok"
        e["response"] = f"call {phone} or pay with {card}."
    values = [encode_event(e) for e in events]
    values.append(b"\x07" + values[0][1:])  # undecodable: a dead letter holding all three
    produce(broker.bootstrap_servers, values)
    settings = make_settings(tmp_path / "home", broker.bootstrap_servers)
    with running_monitor(settings, broker.bootstrap_servers) as run:
        wait_until(lambda: counts(run.scalar) == (50, 50), 30, "50 events")
        wait_until(
            lambda: int(run.scalar("SELECT count() FROM dead_letters FINAL")) == 1, 10, "1 letter"
        )
        leaked = {
            col: int(
                run.scalar(
                    f"SELECT count() FROM events WHERE position({col}, '{secret}') > 0 "
                    f"OR position({col}, '{phone}') > 0 OR position({col}, '{card}') > 0 "
                    f"OR position({col}, '0958') > 0 OR position({col}, '+') > 0"
                )
            )
            for col in ("prompt", "response")
        }
        flagged = run.scalar(
            "SELECT count() FROM events FINAL WHERE has(pii_types, 'EMAIL_ADDRESS') "
            "AND has(pii_types, 'PHONE_NUMBER') AND has(pii_types, 'CREDIT_CARD') "
            "AND response_pii_count = 2"
        )
        stored = run.parts.query_client.query(
            "SELECT DISTINCT prompt, response FROM events"
        ).result_rows
        letter = bytes.fromhex(str(run.scalar("SELECT hex(value) FROM dead_letters FINAL")))
    assert leaked == {"prompt": 0, "response": 0}
    assert int(flagged) == 50
    assert [tuple(r) for r in stored] == [
        ("please answer <EMAIL_ADDRESS> today", "call <PHONE_NUMBER> or pay with <CREDIT_CARD>.")
    ]
    assert len(letter) == len(values[-1])
    for raw in (secret, phone, card):
        assert raw.encode() not in letter, f"{raw} is stored in dead_letters"


def test_dead_letters_keep_their_bytes_but_not_the_pii(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """An undecodable record is stored with PII spans masked byte for byte; the DLQ topic
    keeps the original for replays."""
    secret = b"jane.doe@example.com"
    original = encode_event(TrafficGenerator(seed=4).events(1)[0])[:60] + b" mail " + secret
    bad = b"\x07" + original[1:]  # wrong magic byte
    produce(broker.bootstrap_servers, [bad])
    settings = make_settings(tmp_path / "home", broker.bootstrap_servers)
    with running_monitor(settings, broker.bootstrap_servers) as run:
        wait_until(
            lambda: int(run.scalar("SELECT count() FROM dead_letters FINAL")) == 1, 30, "1 letter"
        )
        stored = bytes.fromhex(str(run.scalar("SELECT hex(value) FROM dead_letters FINAL")))
    assert len(stored) == len(bad) and secret not in stored
    assert stored == bad.replace(secret, b"*" * len(secret))
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": "dlq-check",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([settings.topics.dlq])
    try:
        msgs = [m for m in consumer.consume(10, 10.0) if not m.error()]
    finally:
        consumer.close()
    assert [m.value() for m in msgs] == [bad]


def test_dlq_limit_stops_the_worker_loudly_without_committing(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    gen = TrafficGenerator(seed=12)
    good = produce(broker.bootstrap_servers, gen.encoded(50))
    junk = produce(broker.bootstrap_servers, [b"not avro %d" % i for i in range(600)])
    worker = WorkerProcess(
        tmp_path / "home",
        broker.bootstrap_servers,
        TOCSIN_WORKER__DLQ_MIN_MESSAGES="200",
        TOCSIN_WORKER__DLQ_MAX_RATIO="0.5",
        TOCSIN_WORKER__BATCH_SIZE="100",
    ).start()
    try:
        assert worker.proc is not None
        code = worker.proc.wait(60)
    finally:
        worker.stop()
    log = worker.log()
    assert code == DlqLimitExceeded.exit_code, log[-3000:]
    assert "DLQ limit exceeded" in log and "WORKER STOPPED" in log

    # Nothing committed past the first bad record of any partition.
    first_bad: dict[int, int] = {}
    for partition, offset in junk:
        first_bad[partition] = min(offset, first_bad.get(partition, offset))
    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap_servers, "group.id": "tocsin-monitor"}
    )
    try:
        committed = consumer.committed([TopicPartition(EVENTS, p) for p in range(4)], timeout=10)
    finally:
        consumer.close()
    # Batches of 100 and a window of 200: the stop comes within ~2 batches of the junk, and
    # the batch that tripped the limit is not committed, so most of the junk is unread.
    committed_total = sum(max(tp.offset, 0) for tp in committed)
    assert committed_total < len(good) + len(junk) - 200, committed
    for tp in committed:
        if tp.partition in first_bad:
            assert tp.offset <= first_bad[tp.partition] + 200, (tp, first_bad)


# ----------------------------------------------------------------------------- faults


def _query_server(chdb_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "sinks.clickhouse.query_server", "--url", f"chdb://{chdb_dir}"]
    cmd += ["--port", str(port)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def up() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"query server exited: {log.read_text()[-2000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, 30, "the ClickHouse HTTP endpoint")
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_clickhouse_outage_pauses_consumption_and_resumes_without_loss(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    port = free_port()
    chdb_dir = tmp_path / "ch"
    server = _query_server(chdb_dir, port, tmp_path / "qs.log")
    url = f"http://127.0.0.1:{port}"
    settings = make_settings(tmp_path / "home", broker.bootstrap_servers, batch_size=1000)
    settings = settings.model_copy(update={"clickhouse_url": url})
    # compress=False: the local endpoint only reads the first lz4 frame of an insert body.
    client = connect(url, "tocsin", compress=False)
    gen = TrafficGenerator(seed=13)
    try:
        with running_monitor(settings, broker.bootstrap_servers, client=client) as run:
            produce(broker.bootstrap_servers, gen.encoded(2000))
            wait_until(lambda: counts(run.scalar) == (2000, 2000), 40, "the first 2000 events")

            _stop(server)  # ClickHouse goes away
            produce(broker.bootstrap_servers, gen.encoded(3000))
            wait_until(lambda: run.metrics.write_retries >= 2, 30, "write retries")
            assert run.metrics.paused
            consumed = run.metrics.consumed
            time.sleep(2.0)
            assert run.metrics.consumed == consumed, "kept consuming while the sink was down"
            assert run.metrics.consumed < 5000

            server = _query_server(chdb_dir, port, tmp_path / "qs.log")  # and comes back
            wait_until(lambda: counts(run.scalar) == (5000, 5000), 40, "all 5000 events")
            wait_until(lambda: not run.metrics.paused, 10, "resumed consumption")
            assert run.errors == []
            # the last write retried: the events, or the monitors' checkpoint before a commit
            assert run.metrics.last_error.startswith(("insert events", "checkpoint monitor state"))
    finally:
        client.close()
        _stop(server)


def test_broker_restart_worker_reconnects_and_continues(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    gen = TrafficGenerator(seed=14)
    settings = make_settings(tmp_path / "home", broker.bootstrap_servers)
    with running_monitor(settings, broker.bootstrap_servers) as run:
        produce(broker.bootstrap_servers, gen.encoded(3000))
        wait_until(lambda: counts(run.scalar) == (3000, 3000), 40, "3000 events before restart")
        time.sleep(1.0)  # let a commit land
        broker.stop()
        time.sleep(1.0)
        broker.start()
        produce(broker.bootstrap_servers, gen.encoded(3000))
        wait_until(lambda: counts(run.scalar) == (6000, 6000), 90, "6000 events after restart")
        assert run.errors == []


def test_skipped_range_below_log_start_is_reported(broker: EmbeddedBroker, tmp_path: Path) -> None:
    from confluent_kafka.admin import AdminClient

    topic = "skip.events"
    ensure_topics(broker.bootstrap_servers, [TopicSpec(topic, 1, 1, {})])
    settings = make_settings(tmp_path / "home", broker.bootstrap_servers)
    settings.topics.events = topic
    gen = TrafficGenerator(seed=15)
    with running_monitor(settings, broker.bootstrap_servers) as run:
        produce(broker.bootstrap_servers, gen.encoded(100), topic=topic)
        wait_until(lambda: counts(run.scalar) == (100, 100), 30, "100 events")
    # While the worker is away, 50 records arrive and are deleted (as retention would).
    produce(broker.bootstrap_servers, gen.encoded(50), topic=topic)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    futures = admin.delete_records([TopicPartition(topic, 0, 140)])
    for future in futures.values():
        future.result(10)
    with running_monitor(settings, broker.bootstrap_servers) as run:
        produce(broker.bootstrap_servers, gen.encoded(10), topic=topic)
        wait_until(lambda: counts(run.scalar)[1] == 120, 30, "the records after the gap")
        rows = run.parts.query_client.query(
            "SELECT kafka_offset, detail, headers FROM dead_letters FINAL "
            "WHERE reason = 'skipped_range'"
        ).result_rows
        assert run.metrics.skipped_ranges == 1 and run.metrics.skipped_messages == 40
    assert len(rows) == 1
    offset, detail, _ = rows[0]
    assert offset == 100
    assert "offsets 100..139 (40 messages)" in detail


# the test waits up to 180 + 60 + 420 s itself: its own messages must show, not the timeout's
@pytest.mark.timeout(900)
def test_kill9_mid_stream_then_restart_lands_every_event_exactly_once(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    total = 30_000
    gen = TrafficGenerator(seed=16)
    values = gen.encoded(total)
    env = {
        "TOCSIN_WORKER__BATCH_SIZE": "2000",
        "TOCSIN_WORKER__COMMIT_INTERVAL_S": "0.5",
        # exactly-once is under test: names by the NER model would only slow it down (the
        # generated PII is e-mails, phones and cards, found by the patterns)
        "TOCSIN_PII__NER": "false",
    }
    feeder = threading.Thread(
        target=lambda: [
            produce(broker.bootstrap_servers, values[i : i + 5000]) for i in range(0, total, 5000)
        ]
    )
    worker = WorkerProcess(tmp_path / "home", broker.bootstrap_servers, **env).start()
    try:
        worker.wait_ready()
        feeder.start()
        # generous: every event is scored for toxicity on a CPU shared with other work
        seen = wait_until(lambda: (n := worker.counts()[0]) >= 4000 and n, 180, "first batches")
        worker.kill9()
        assert seen < total, "the worker finished before the kill: the test proves nothing"
        feeder.join(60)
        worker = WorkerProcess(tmp_path / "home", broker.bootstrap_servers, **env).start()
        worker.wait_ready()
        # generous: every event also goes through toxicity scoring on the CPU (~1,200/s here)
        wait_until(lambda: worker.counts()[1] == total, 420, f"{total} unique events")
        assert worker.counts() == (total, total)
        assert int(worker.sql("SELECT count() FROM dead_letters")) == 0
        status = httpx.get(worker.url + "tocsin/status", timeout=10).json()
        run_file = tmp_path / "home" / "run" / "worker-0.json"
        assert status["worker_id"] == "worker-0" and status["query_url"] == worker.url
        assert status["metrics"]["consumed"] > 0 and run_file.is_file()
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]
    assert not run_file.exists(), "a clean stop removes the run file"


# ----------------------------------------------------------------------------- commit order


STORED_FRONTIER = """
import json, sys
from sinks.clickhouse.client import connect
client = connect("chdb://" + sys.argv[1], "tocsin", create_database=False)
rows = client.query(
    "SELECT kafka_partition, count(), max(kafka_offset) + 1 FROM events FINAL "
    "GROUP BY kafka_partition"
).result_rows
client.close()
print(json.dumps({int(p): [int(n), int(end)] for p, n, end in rows}))
"""


def stored_frontier(home: Path) -> dict[int, int]:
    """Per partition, the offset after the last stored event (checked to have no gaps).

    Read in a child process: the killed worker's chdb directory is free again, and this test
    process must not hold it when the next worker opens it.
    """
    proc = subprocess.run(
        [sys.executable, "-c", STORED_FRONTIER, str(home / "clickhouse")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    out = {int(p): v for p, v in json.loads(proc.stdout).items()}
    gaps = {p: v for p, v in out.items() if v[0] != v[1]}
    assert not gaps, f"stored offsets are not contiguous from 0: {gaps}"
    return {p: v[1] for p, v in out.items()}


def committed_offsets(bootstrap: str, group: str) -> dict[int, int]:
    """The group's committed offset per partition of the events topic (no group join)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = consumer.committed([TopicPartition(EVENTS, p) for p in range(4)], timeout=10)
    finally:
        consumer.close()
    return {tp.partition: max(tp.offset, 0) for tp in tps}


@pytest.mark.timeout(360)
@pytest.mark.parametrize("point", ["after_insert", "after_commit"])
def test_a_crash_between_insert_and_commit_loses_nothing_and_duplicates_nothing(
    broker: EmbeddedBroker, tmp_path: Path, point: str
) -> None:
    """The worker kills itself (SIGKILL) exactly between writing a batch and committing its
    offsets, or between a commit and the next write (``streams.crash_points``). Before the
    restart, nothing committed may be missing from ClickHouse; after it, every event is
    stored once. A worker that committed before writing fails both checks."""
    total = 6000
    produce(broker.bootstrap_servers, TrafficGenerator(seed=23).encoded(total))
    home = tmp_path / "home"
    env = {
        "TOCSIN_WORKER__BATCH_SIZE": "1000",
        "TOCSIN_WORKER__COMMIT_INTERVAL_S": "0",  # a commit after every batch
        "TOCSIN_TOXICITY__ENABLED": "false",  # the commit path is under test, not the models
        "TOCSIN_PII__NER": "false",
    }
    crashing = WorkerProcess(
        home,
        broker.bootstrap_servers,
        **env,
        TOCSIN_FAULTS__CRASH_AT=point,
        TOCSIN_FAULTS__CRASH_AFTER="2",
    ).start()
    assert crashing.proc is not None
    try:
        code = crashing.proc.wait(150)
    except subprocess.TimeoutExpired:
        crashing.kill9()
        pytest.fail(f"the worker never reached {point}:\n{crashing.log()[-3000:]}")
    assert code == -signal.SIGKILL, f"exit {code}, not the crash point:\n{crashing.log()[-3000:]}"

    stored = stored_frontier(home)
    committed = committed_offsets(broker.bootstrap_servers, "tocsin-monitor")
    ahead = {p: (o, stored.get(p, 0)) for p, o in committed.items() if o > stored.get(p, 0)}
    assert not ahead, f"offsets committed past what ClickHouse holds (committed, stored): {ahead}"
    assert sum(committed.values()) > 0, "nothing was committed before the crash"
    if point == "after_insert":
        assert sum(stored.values()) > sum(committed.values()), (
            f"the crash should leave a written, uncommitted batch: {stored} vs {committed}"
        )
    else:
        assert stored == {p: o for p, o in committed.items() if o}, (stored, committed)

    worker = WorkerProcess(home, broker.bootstrap_servers, **env).start()
    try:
        worker.wait_ready()
        wait_until(lambda: worker.counts()[1] == total, 120, f"{total} unique events")
        assert worker.counts() == (total, total)
        assert int(worker.sql("SELECT count() FROM dead_letters")) == 0
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]
