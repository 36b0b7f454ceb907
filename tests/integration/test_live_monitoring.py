"""Live monitoring end to end (issue 9's "done when"), on the real embedded broker and chdb.

Two hours of event-time traffic for chat-api, whose stable track stays healthy and whose
canary turns bad at minute 60 (errors, slow, toxic and PII-leaking answers), produced as
fast as the producer goes and keyed by service (as the SDK does). The worker must:

* page for the canary's deployment within a few event-minutes of minute 60, never for
  stable; emit a ``fail`` canary verdict;
* give the same SLO transitions as ``tocsin slo backtest --from/--to`` over the stored
  events (the same SLOs in force, zero-config defaults included);
* store no PII literal that was sent, in any table;
* killed with SIGKILL mid-incident and restarted, give the same SLO and canary alerts, each
  once (deterministic ids), and no event twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from streams.alerts import decode_alert
from streams.codec import EventEncoder
from streams.generator import CanaryIncident, TrafficGenerator
from streams.topics import ensure_topics
from tests.integration.conftest import run_cli
from tests.integration.test_ingest import WorkerProcess, read_topic, wait_until
from tocsin.runtime.broker import EmbeddedBroker
from tocsin.runtime.topics import topic_specs
from tocsin.settings import TopicSettings

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(900)]

SERVICE = "chat-api"
# Two hours of this traffic is ~45 MB on one partition: more than the embedded default
# retention (32 MiB a partition), which would delete the oldest segments while a slow
# worker has not read them yet. These tests are about judging, not retention.
ROOMY_TOPICS = TopicSettings(retention_bytes=512 * 1024 * 1024, retention_ms=24 * 3600 * 1000)
MINUTE_MS = 60_000
ENV = {
    "TOCSIN_WORKER__BATCH_SIZE": "5000",
    "TOCSIN_WORKER__COMMIT_INTERVAL_S": "0.5",
    # A deterministic sample (by event id): the same events are scored in every run.
    "TOCSIN_TOXICITY__SAMPLING": "ratio",
    "TOCSIN_TOXICITY__SAMPLING_RATIO": "0.25",
    # Event time is two hours in the past: no wall-clock advance during the test.
    "TOCSIN_SLO__IDLE_ADVANCE_S": "3600",
    # The generated PII is e-mails, phones and cards (pattern recognizers); the NER model's
    # names are tested on their own and would only slow two hours of traffic down here.
    "TOCSIN_PII__NER": "false",
}


class RecordingGenerator(TrafficGenerator):
    """Remembers every PII value it puts into the traffic."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent_pii: list[str] = []

    def _pii(self) -> tuple[str, str]:
        value, kind = super()._pii()
        self.sent_pii.append(value)
        return value, kind


def start_broker(path: Path) -> EmbeddedBroker:
    """A real noida-db broker with tocsin's topics, retention large enough for the traffic."""
    b = EmbeddedBroker(path).start()
    try:
        ensure_topics(b.bootstrap_servers, topic_specs(ROOMY_TOPICS))
    except BaseException:
        b.stop()
        raise
    return b


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    b = start_broker(tmp_path / "kafka")
    try:
        yield b
    finally:
        b.stop()


def traffic(start_ms: int) -> tuple[list[dict[str, Any]], list[bytes], list[str]]:
    incident = CanaryIncident(start_ms + 60 * MINUTE_MS, services=(SERVICE,))
    gen = RecordingGenerator(
        seed=21,
        services=(SERVICE,),
        rate=5.0,
        start_ms=start_ms,
        incident=incident,
        error_rate=0.0003,
        timeout_rate=0.0001,
    )
    events = gen.events(36_000)  # two hours at 5 events/s
    encoder = EventEncoder()
    return events, [encoder.encode(e) for e in events], gen.sent_pii


def produce_by_service(bootstrap: str, events: list[dict[str, Any]], values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20})
    for event, value in zip(events, values, strict=True):
        while True:
            try:
                producer.produce("tocsin.events.v1", value, key=event["service"].encode())
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(60) == 0


def alerts(
    worker: WorkerProcess, kinds: tuple[str, ...] = ("slo", "canary")
) -> list[dict[str, Any]]:
    kind_list = ", ".join(f"'{k}'" for k in kinds)
    text = worker.sql(
        "SELECT alert_id, incident_id, toUnixTimestamp64Milli(ts) AS ts, kind, rule, severity, "
        f"state, deployment, track, window, labels FROM alerts FINAL WHERE kind IN ({kind_list}) "
        "ORDER BY ts, alert_id FORMAT JSONEachRow"
    )
    return [json.loads(line) for line in text.splitlines() if line]


def wait_all_stored(worker: WorkerProcess, total: int, timeout: float = 400) -> None:
    try:
        wait_until(
            lambda: worker.counts()[1] >= total, timeout, f"{total} events stored", every=1.0
        )
    except pytest.fail.Exception:
        stored = worker.sql(
            "SELECT kafka_partition, count(), min(kafka_offset), max(kafka_offset) FROM events "
            "GROUP BY kafka_partition FORMAT TSV"
        )
        pytest.fail(f"{total} events not stored; per partition:\n{stored}\n{worker.log()[-3000:]}")


def test_canary_incident_pages_once_for_the_canary_and_matches_the_backtest(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    now_minute = int(time.time() * 1000) // MINUTE_MS
    start_ms = (now_minute - 125) * MINUTE_MS
    events, values, sent_pii = traffic(start_ms)
    total = len(events)
    stable_dep = next(e["deployment"] for e in events if e["track"] == "stable")
    canary_dep = next(e["deployment"] for e in events if e["track"] == "canary")
    home = tmp_path / "home"
    worker = WorkerProcess(home, broker.bootstrap_servers, **ENV).start()
    try:
        worker.wait_ready()
        produce_by_service(broker.bootstrap_servers, events, values)
        wait_all_stored(worker, total)
        last_minute = max(e["ts"] for e in events) // MINUTE_MS
        closed = last_minute - 2  # lateness 1: the worker has closed minutes up to here
        wait_until(lambda: alerts(worker), 30, "alerts in ClickHouse")
        live = alerts(worker)
        # -- what pages -----------------------------------------------------------------
        pages = [a for a in live if a["severity"] == "page" and a["state"] == "firing"]
        assert pages, live
        assert {a["deployment"] for a in pages} == {canary_dep}, pages
        incident_minute = start_ms // MINUTE_MS + 60
        first_page = min(a["ts"] for a in pages if a["kind"] == "slo") // MINUTE_MS
        assert incident_minute <= first_page <= incident_minute + 5, (first_page, incident_minute)
        verdicts = [a for a in live if a["kind"] == "canary"]
        assert any(a["labels"]["verdict"] == "fail" and a["state"] == "firing" for a in verdicts)
        assert all(a["deployment"] != stable_dep for a in live if a["severity"] == "page")
        # -- the alerts topic carries the same records ------------------------------------
        n_alerts = int(worker.sql("SELECT count() FROM alerts FINAL"))
        on_topic = [
            decode_alert(m.value())
            for m in read_topic(broker.bootstrap_servers, "tocsin.alerts.v1", n_alerts)
        ]
        stored_ids = set(worker.sql("SELECT alert_id FROM alerts FINAL").split())
        assert {a["alert_id"] for a in on_topic} == stored_ids
        assert all(m["deployment"] for m in on_topic)
        # -- every alert has its detection; a resolve closes the incident its firing opened --
        orphans = (
            "SELECT count() FROM alerts WHERE alert_id NOT IN (SELECT alert_id FROM detections)"
        )
        assert int(worker.sql(orphans)) == 0
        opened = {a["incident_id"] for a in live if a["state"] == "firing"}
        resolved = [a for a in live if a["state"] == "resolved" and a["severity"] != "info"]
        assert resolved and all(a["incident_id"] in opened for a in resolved)
        # -- the minute rollup counts what was sent ---------------------------------------
        assert int(worker.sql("SELECT sum(events) FROM events_1m")) == total
        per_track = dict(
            line.split("\t")
            for line in worker.sql(
                "SELECT track, sum(events) FROM events_1m GROUP BY track FORMAT TSV"
            ).splitlines()
        )
        assert {k: int(v) for k, v in per_track.items()} == {
            t: sum(e["track"] == t for e in events) for t in per_track
        }
        # -- no PII literal anywhere -------------------------------------------------------
        assert sent_pii
        for table in ("events", "alerts", "detections", "dead_letters"):
            dump = worker.sql(f"SELECT * FROM {table} FORMAT TSV")
            leaked = [v for v in set(sent_pii) if v in dump]
            assert not leaked, (table, leaked[:3])
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]
    # The worker owns the embedded store while it runs: replay once it has stopped.
    # -- the backtest gives the same SLO transitions ----------------------------------
    frm = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start_ms / 1000))
    to = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((last_minute + 1) * 60))
    out = run_cli(home, "slo", "backtest", "--from", frm, "--to", to).stdout
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
        if a["kind"] == "slo"
    }
    assert live_slo == replayed


def test_sigkill_mid_incident_gives_the_same_alerts_each_once(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    now_minute = int(time.time() * 1000) // MINUTE_MS
    start_ms = (now_minute - 125) * MINUTE_MS
    events, values, _ = traffic(start_ms)
    total = len(events)
    half = next(i for i, e in enumerate(events) if e["ts"] >= start_ms + 70 * MINUTE_MS)
    home = tmp_path / "home"
    worker = WorkerProcess(home, broker.bootstrap_servers, **ENV).start()
    try:
        worker.wait_ready()
        produce_by_service(broker.bootstrap_servers, events[:half], values[:half])
        # kill once the incident pages (mid-incident), before everything is judged
        wait_until(
            lambda: int(worker.sql("SELECT count() FROM alerts WHERE severity = 'page'")) > 0,
            300,
            "the first page",
            every=0.5,
        )
        worker.kill9()
        produce_by_service(broker.bootstrap_servers, events[half:], values[half:])
        worker = WorkerProcess(home, broker.bootstrap_servers, **ENV).start()
        worker.wait_ready()
        wait_all_stored(worker, total)
        wait_until(
            lambda: int(worker.sql("SELECT count() FROM events FINAL")) == total, 60, "dedup"
        )
        time.sleep(3)  # the last batch's alerts
        after_kill = alerts(worker)
        assert int(worker.sql("SELECT count() FROM alerts")) >= len(after_kill)
        # each alert once in the table (ids are deterministic: a replay re-emits the same id)
        ids = [a["alert_id"] for a in after_kill]
        assert len(ids) == len(set(ids))
        assert int(worker.sql("SELECT count() FROM monitor_state")) > 0
        # the replay after the kill was judged again but not inserted twice: the rollup
        # fed by inserts counts every event once
        assert int(worker.sql("SELECT sum(events) FROM events_1m")) == total
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]

    # The same traffic through an uninterrupted worker gives the same SLO and canary alerts.
    home2 = tmp_path / "home2"
    ref_broker = start_broker(tmp_path / "kafka2")
    try:
        ref = WorkerProcess(home2, ref_broker.bootstrap_servers, **ENV).start()
        try:
            ref.wait_ready()
            produce_by_service(ref_broker.bootstrap_servers, events, values)
            wait_all_stored(ref, total)
            time.sleep(3)
            reference = alerts(ref)
        finally:
            assert ref.stop() == 0, ref.log()[-3000:]
    finally:
        ref_broker.stop()
    key = lambda a: (a["alert_id"], a["incident_id"], a["state"])  # noqa: E731
    assert sorted(map(key, after_kill)) == sorted(map(key, reference))
