"""The monitor worker: a faust app hosting the batch consumer (DESIGN.md convention 3).

faust hosts the process: its event loop, signal handling, web server (bound to 127.0.0.1)
and, in later issues, the agents of the low-volume topics. The events hot path is not a
faust agent: :class:`MonitorService` runs a :class:`streams.monitor.BatchMonitor` in its own
thread, so faust's loop stays free while a batch is decoded and written.

The worker owns the embedded chdb directory (one process per directory, STACK.md), so it
also serves the ClickHouse-compatible query endpoint of
:mod:`sinks.clickhouse.query_server` at the root of its web server; ``tocsin sql`` reaches
it through the ``query_url`` written to ``$TOCSIN_HOME/run/<worker-id>.json``::

    {"worker_id": "worker-0", "pid": 4242, "query_url": "http://127.0.0.1:50123/",
     "web_port": 50123, "started_at": "2026-11-24T12:00:00+00:00", "metrics": {...}}

The file is rewritten every few seconds with the batch consumer's counters
(:class:`streams.monitor.MonitorMetrics`) and removed on a clean stop.

Exit codes of :func:`run_worker`: 0 clean stop, 3 DLQ limit, 4 permanent sink error,
1 anything else fatal. On a fatal error nothing more is committed, and a restart with the
same worker id replays from the last commit.

Example
-------
>>> run_file_path(Path("/srv/tocsin/run"), "worker-0")
PosixPath('/srv/tocsin/run/worker-0.json')
>>> validate_worker_id("worker-0")
'worker-0'
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import faust
    from clickhouse_connect.driver.client import Client

    from detectors.slo.in_force import SlosInForce
    from streams.metrics import WorkerMetrics
    from tocsin.settings import Settings

from streams.localhost import free_port
from streams.monitor import (
    BatchMonitor,
    MonitorConfig,
    PiiRedactionStage,
    Pipeline,
    Stage,
    ToxicityStage,
    WorkerStopped,
)

log = logging.getLogger("tocsin.worker")

_WORKER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")

#: How long the faust consumer waits after an empty fetch (see :func:`throttle_empty_fetches`).
EMPTY_FETCH_WAIT_S = 0.25
#: Seconds between rewrites of the worker's run file.
RUN_FILE_INTERVAL_S = 2.0


def validate_worker_id(worker_id: str) -> str:
    """Check a worker id: it names files, a consumer-group member and a faust app.

    >>> validate_worker_id("../x")
    Traceback (most recent call last):
    ...
    ValueError: invalid worker id '../x': use letters, digits, '.', '_' or '-' (e.g. worker-0)
    """
    if not _WORKER_ID.match(worker_id):
        raise ValueError(
            f"invalid worker id {worker_id!r}: use letters, digits, '.', '_' or '-' (e.g. worker-0)"
        )
    return worker_id


def run_file_path(run_dir: Path, worker_id: str) -> Path:
    """Where a worker records its pid, query URL and counters."""
    return run_dir / f"{worker_id}.json"


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON so that a reader never sees a half-written file.

    >>> import json, tempfile
    >>> target = Path(tempfile.mkdtemp()) / "run" / "w.json"
    >>> write_json_atomic(target, {"pid": 1}); json.loads(target.read_text())
    {'pid': 1}
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    os.replace(tmp, path)


def throttle_empty_fetches(wait_s: float = EMPTY_FETCH_WAIT_S) -> None:
    """Make aiokafka wait ``wait_s`` after a fetch that returned nothing.

    noida-db ignores Fetch ``max_wait_ms`` and answers an empty fetch at once, so aiokafka
    (and faust with it) spins: an idle worker burned ~0.8 core here (9.7 CPU-s in 12 s;
    with this wait, 0.66 CPU-s). This restores, client side, what the broker should do. An
    empty fetch that already took ``wait_s`` (a real Kafka honouring ``max_wait_ms``) is
    not delayed further. Idempotent.

    >>> throttle_empty_fetches(); throttle_empty_fetches()
    >>> from aiokafka.consumer.fetcher import Fetcher
    >>> Fetcher._proc_fetch_request._tocsin_throttled
    True
    """
    from aiokafka.consumer.fetcher import Fetcher

    original = Fetcher._proc_fetch_request
    if getattr(original, "_tocsin_throttled", False):
        return

    async def proc_fetch_request(self: Any, assignment: Any, node_id: Any, request: Any) -> Any:
        before = len(self._records)
        started = time.monotonic()
        woke = await original(self, assignment, node_id, request)
        if not woke and len(self._records) == before:
            # A broker that honours max_wait_ms already waited: only top up the rest.
            left = wait_s - (time.monotonic() - started)
            if left > 0:
                try:
                    await asyncio.sleep(left)
                except asyncio.CancelledError:
                    return False  # closing or unassigned: as the original handles it
        return woke

    proc_fetch_request._tocsin_throttled = True  # type: ignore[attr-defined]
    Fetcher._proc_fetch_request = proc_fetch_request


def pii_stage(settings: Settings) -> Stage | None:
    """The PII redaction stage from ``settings.pii``, or None when PII detection is off.

    >>> from tocsin.settings import Settings
    >>> pii_stage(Settings(pii={"enabled": False})) is None
    True
    >>> pii_stage(Settings()).name
    'pii'
    """
    if not settings.pii.enabled:
        return None
    from detectors.pii import PiiDetector

    detector = PiiDetector.from_config(settings.pii)
    return PiiRedactionStage(detector, redact=not settings.pii.store_raw)


def toxicity_stage(settings: Settings) -> Stage | None:
    """The toxicity scoring stage from ``settings.toxicity``, or None when it is off.

    Loads (and verifies) the configured bundle, or the one shipped with tocsin, and logs
    the ONNX Runtime providers actually in use.

    >>> from tocsin.settings import Settings
    >>> toxicity_stage(Settings(toxicity={"enabled": False})) is None
    True
    >>> toxicity_stage(Settings()).name
    'toxicity'
    """
    if not settings.toxicity.enabled:
        return None
    from detectors.toxicity import ToxicityScorer
    from detectors.toxicity.sampling import ToxicitySampler

    tox = settings.toxicity
    scorer = ToxicityScorer(tox.model_dir, **tox.scorer_kwargs())
    log.warning("toxicity: bundle %s, providers %s", scorer.bundle.name, scorer.providers)
    sampler = ToxicitySampler(
        tox.sampling,
        ratio=tox.sampling_ratio,
        canary_min_ratio=tox.canary_min_ratio,
        max_share=tox.sampling_max_share,
        behind_records=tox.sampling_behind_records,
        behind_s=tox.sampling_behind_s,
    )
    return ToxicityStage(scorer, chunk_chars=tox.chunk_chars, sampler=sampler)


def slos_in_force_for(settings: Settings) -> SlosInForce:
    """The SLOs the worker applies (and ``tocsin slo backtest --from/--to`` replays):
    the configured spec file per deployment, plus the zero-config defaults.

    >>> from tocsin.settings import Settings
    >>> [s.name for s in slos_in_force_for(Settings(slo={"spec_file": None})).defaults][:1]
    ['default-availability']
    """
    from detectors.slo import load_spec_file
    from detectors.slo.in_force import slos_in_force

    path = settings.slo.spec_path()
    return slos_in_force(None if path is None else load_spec_file(path))


def judging_stage(settings: Settings) -> Stage | None:
    """The live monitors (SLO, drift, canary) from the settings, or None when all are off.

    >>> from tocsin.settings import Settings
    >>> judging_stage(Settings()).name
    'judging'
    >>> judging_stage(Settings(slo={"enabled": False}, drift={"enabled": False},
    ...                        canary={"enabled": False})) is None
    True
    """
    if not (settings.slo.enabled or settings.drift.enabled or settings.canary.enabled):
        return None
    from detectors.canary import CanaryParams
    from streams.judging import JudgingConfig, JudgingStage

    c = settings.canary
    cfg = JudgingConfig(
        slos=slos_in_force_for(settings),
        lateness_minutes=settings.slo.lateness_minutes,
        idle_advance_s=settings.slo.idle_advance_s,
        slo_enabled=settings.slo.enabled,
        drift_enabled=settings.drift.enabled,
        drift_config={**settings.drift.model_dump(), "detector": "auto"},
        canary_enabled=c.enabled,
        canary=CanaryParams(
            window_minutes=c.window_minutes,
            min_samples=c.min_samples,
            alpha=c.alpha,
            min_error_delta=c.min_error_delta,
            min_pii_delta=c.min_pii_delta,
            min_toxic_delta=c.min_toxic_delta,
            latency_ratio=c.latency_ratio,
            toxicity_threshold=settings.toxicity.threshold,
        ),
        toxicity_threshold=settings.toxicity.threshold,
    )
    return JudgingStage(cfg)


def dead_letter_mask(settings: Settings) -> Callable[[bytes], bytes] | None:
    """How dead letters are stored in ClickHouse: PII spans masked, unless ``pii.store_raw``
    (or PII detection is off). The DLQ topic always keeps the original bytes.

    >>> from tocsin.settings import Settings
    >>> dead_letter_mask(Settings())(b"\\x02call +1 415 555 0134")
    b'\\x02call ***************'
    >>> dead_letter_mask(Settings(pii={"store_raw": True})) is None
    True
    """
    if not settings.pii.enabled or settings.pii.store_raw:
        return None
    from detectors.pii import PiiDetector

    detector = PiiDetector.from_config(settings.pii)

    def mask(data: bytes) -> bytes:
        return detector.mask_bytes(data)[0]

    return mask


def default_pipeline(settings: Settings) -> Pipeline:
    """The worker's stages in order: toxicity (on the text as sent), PII redaction, then
    the live monitors (on the verdict columns the first two filled).

    >>> from tocsin.settings import Settings
    >>> default_pipeline(Settings()).names
    ['toxicity', 'pii', 'judging']
    """
    stages = [toxicity_stage(settings), pii_stage(settings), judging_stage(settings)]
    return Pipeline([s for s in stages if s is not None])


@dataclass
class WorkerParts:
    """Everything a worker opens, so that tests and the benchmark can build one too.

    Close ``query_client`` and ``client`` when done: one chdb directory per process.
    """

    monitor: BatchMonitor
    client: Client
    query_client: Client
    metrics: WorkerMetrics | None = None
    #: Whether the worker serves the query endpoint: only when it opened chdb in-process; a
    #: store reached over HTTP (a server, or the embedded store process) serves itself.
    serves_queries: bool = True


def build_monitor(
    settings: Settings,
    worker_id: str,
    bootstrap: str,
    *,
    client: Client | None = None,
    pipeline: Pipeline | None = None,
    consumer_overrides: dict[str, Any] | None = None,
) -> WorkerParts:
    """Open the store (applying migrations), the decoder, the Kafka clients and the monitor.

    Examples
    --------
    >>> parts = build_monitor(settings, "worker-0", "127.0.0.1:9092")  # doctest: +SKIP
    >>> thread = MonitorThread(parts.monitor); thread.start()          # doctest: +SKIP
    """
    from confluent_kafka import Consumer, Producer

    from sinks.base import RetryableError
    from sinks.clickhouse.client import connect, is_embedded, resolve_url
    from sinks.clickhouse.migrations import migrate
    from sinks.clickhouse.monitor_store import MonitorStore
    from sinks.clickhouse.writer import EventWriter
    from streams.alerts import encode_alert
    from streams.codec import EventDecoder
    from streams.metrics import WorkerMetrics
    from streams.monitor import consumer_config, producer_config
    from streams.registry import make_resolver

    w = settings.worker
    url = resolve_url(settings.clickhouse_url, settings.chdb_path)
    if client is None:
        client = connect(url, settings.clickhouse_database)
    migrate(
        client,
        settings.clickhouse_database,
        cluster=settings.clickhouse_cluster,
        directory=settings.clickhouse_migrations_dir,
        params={"events_ttl_days": settings.clickhouse_ttl_days},
    )
    # A second client on the same engine for the query endpoint: it switches databases per
    # request, which must never affect the writer's inserts.
    query_client = connect(url, settings.clickhouse_database, create_database=False)
    if pipeline is None:
        pipeline = default_pipeline(settings)
    config = MonitorConfig(
        events_topic=settings.topics.events,
        dlq_topic=settings.topics.dlq,
        worker_id=worker_id,
        batch_size=w.batch_size,
        poll_timeout_s=w.poll_timeout_s,
        linger_s=w.linger_s,
        commit_interval_s=w.commit_interval_s,
        dlq_max_ratio=w.dlq_max_ratio,
        dlq_min_messages=w.dlq_min_messages,
        insert_retry_max_s=w.insert_retry_max_s,
        alerts_topic=settings.topics.alerts,
        group_id=w.group_id,
    )
    metrics = WorkerMetrics(worker_id)
    consumer = Consumer(
        consumer_config(bootstrap, w.group_id, worker_id, **(consumer_overrides or {}))
    )
    producer = Producer(producer_config(bootstrap, worker_id))
    monitor = BatchMonitor(
        consumer,
        producer,
        EventDecoder(make_resolver(settings.schema_registry_url), w.max_message_bytes),
        EventWriter(client),
        config,
        pipeline=pipeline,
        retryable=(RetryableError,),
        mask_dead_letter=dead_letter_mask(settings),
        monitor_store=MonitorStore(client),
        encode_alert=encode_alert,
        observer=metrics.observe,
    )
    for stage in pipeline.stages:
        if isinstance(stage, ToxicityStage) and stage.sampler is not None:
            stage.lag = lambda: monitor.metrics.lag
            stage.busy = lambda: monitor.metrics.last_batch_s
    metrics.bind(monitor)
    return WorkerParts(
        monitor=monitor,
        client=client,
        query_client=query_client,
        metrics=metrics,
        serves_queries=is_embedded(url),
    )


def _die(exc: BaseException) -> None:
    """Stop the process at once, without faust's shutdown (which would run its acks)."""
    code = exc.exit_code if isinstance(exc, WorkerStopped) else 1
    log.critical("WORKER STOPPED (exit %d): %s", code, exc)
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    sys.stderr.flush()
    os._exit(code)


class BatchGarbageCollector:
    """Python's cyclic garbage collector run between batches instead of during them.

    A batch keeps ~10 container objects per event alive (records, findings, column
    lists) until it is written. With the default thresholds the collector runs every 700
    allocations and walks those live objects again and again, moving them through the
    older generations whose collections walk the whole heap: on the decode step of 20,000
    events, 11.3 µs/event with the collector on, 8.5 µs with it off. So :meth:`start`
    freezes what start-up loaded (models, tokenizers, settings: never walked again) and
    turns automatic collection off, and :meth:`after_batch` collects the young
    generation once a batch is done (its objects are gone by then, the walk is short) and
    everything every ``full_every_s`` (cycles that reached the older generations).

    >>> import gc
    >>> collector = BatchGarbageCollector(); collector.start(); gc.isenabled()
    False
    >>> collector.after_batch(); collector.stop(); gc.isenabled()
    True
    """

    def __init__(self, full_every_s: float = 30.0) -> None:
        self.full_every_s = full_every_s
        self._last_full = time.monotonic()
        self._was_enabled = True

    def start(self) -> None:
        """Freeze the start-up heap and stop automatic collections."""
        self._was_enabled = gc.isenabled()
        gc.freeze()
        gc.disable()
        self._last_full = time.monotonic()

    def after_batch(self) -> None:
        """Collect the young generation, and everything every ``full_every_s``."""
        now = time.monotonic()
        if now - self._last_full >= self.full_every_s:
            gc.collect()
            self._last_full = now
        else:
            gc.collect(0)

    def stop(self) -> None:
        """Give collection back to Python (as it was before :meth:`start`)."""
        if self._was_enabled:
            gc.enable()


class MonitorThread:
    """Runs :meth:`BatchMonitor.run` in a thread; a fatal error ends the process loudly.

    ``on_fatal`` defaults to logging the reason and ``os._exit`` with the error's exit code
    (no faust shutdown, no commit); tests pass ``errors.append`` instead.

    >>> MonitorThread(parts.monitor, on_fatal=print).start()  # doctest: +SKIP
    """

    def __init__(
        self, monitor: BatchMonitor, on_fatal: Callable[[BaseException], None] = _die
    ) -> None:
        self.monitor = monitor
        self.on_fatal = on_fatal
        self.thread = threading.Thread(target=self._run, name="tocsin-batch-consumer", daemon=True)
        self.collector = BatchGarbageCollector()
        self.error: BaseException | None = None

    def start(self) -> None:
        """Start consuming; Python's garbage collector then runs between batches."""
        self.monitor.after_batch = self.collector.after_batch
        self.collector.start()
        self.thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Finish the current batch, commit, close the consumer."""
        self.monitor.stop()
        self.thread.join(timeout)

    def _run(self) -> None:
        try:
            self.monitor.run()
        except BaseException as exc:
            self.error = exc
            self.on_fatal(exc)
        finally:
            self.collector.stop()


def build_app(
    settings: Settings,
    worker_id: str,
    bootstrap: str,
    parts: WorkerParts,
    web_port: int,
) -> faust.App:
    """The faust app of one worker, with the batch consumer and the query endpoint.

    The app listens on ``127.0.0.1:web_port`` only: ``/`` and ``/ping`` are the ClickHouse
    HTTP interface, ``/tocsin/status`` the worker's counters as JSON.

    >>> app = build_app(settings, "worker-0", bootstrap, parts, 8123)  # doctest: +SKIP
    """
    import faust
    import mode
    from aiohttp import web
    from faust.web.base import BlueprintManager

    from sinks.clickhouse.query_server import QueryService
    from streams.membership import leave_group

    worker_dir = settings.run_dir / worker_id
    worker_dir.mkdir(parents=True, exist_ok=True)
    # One faust app id (= consumer group of the agents) shared by all workers, so that the
    # low-volume topics are split between them; static membership keeps a member per id.
    app = faust.App(
        f"{settings.worker.group_id}-agents",
        broker=f"kafka://{bootstrap}",
        value_serializer="raw",
        key_serializer="raw",
        web_host="127.0.0.1",
        web_bind="127.0.0.1",
        web_port=web_port,
        broker_session_timeout=10,
        broker_heartbeat_interval=1,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        consumer_group_instance_id=worker_id,
        store="memory://",
        datadir=str(worker_dir),
        topic_partitions=settings.topics.partitions,
        topic_replication_factor=settings.topics.replication_factor,
    )
    run_file = run_file_path(settings.run_dir, worker_id)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    thread = MonitorThread(parts.monitor)

    def run_info() -> dict[str, Any]:
        return {
            "worker_id": worker_id,
            "pid": os.getpid(),
            "query_url": f"http://127.0.0.1:{web_port}/",
            "web_port": web_port,
            "bootstrap_servers": bootstrap,
            "started_at": started_at,
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "metrics": parts.monitor.metrics.snapshot(),
            "monitors": monitors_info(parts.monitor),
        }

    class MonitorService(mode.Service):
        """Hosts the batch consumer thread inside the faust worker."""

        async def on_started(self) -> None:
            thread.start()
            write_json_atomic(run_file, run_info())
            log.warning(
                "worker %s consuming %s; query endpoint http://127.0.0.1:%d/",
                worker_id,
                settings.topics.events,
                web_port,
            )

        @mode.Service.task
        async def _refresh_run_file(self) -> None:
            while not self.should_stop:
                await self.sleep(RUN_FILE_INTERVAL_S)
                write_json_atomic(run_file, run_info())

        async def on_stop(self) -> None:
            await asyncio.to_thread(thread.stop)
            # a clean stop hands the partitions over now (static members do not leave)
            await leave_group(bootstrap, settings.worker.group_id, worker_id)
            parts.query_client.close()
            parts.client.close()
            with contextlib.suppress(FileNotFoundError):
                run_file.unlink()

    service = MonitorService()
    app._tocsin_service = service  # type: ignore[attr-defined]

    # The query endpoint takes "/" (plain ClickHouse URL); faust's index page is dropped.
    app.web.blueprints = BlueprintManager(
        [
            ("/router", "faust.web.apps.router:blueprint"),
            ("/table", "faust.web.apps.tables.blueprint"),
        ]
    )
    web_app = app.web.web_app  # type: ignore[attr-defined]
    if parts.serves_queries:
        web_app.add_routes(QueryService(parts.query_client).routes())

    async def status(request: web.Request) -> web.Response:
        return web.json_response(run_info())

    async def metrics(request: web.Request) -> web.Response:
        if parts.metrics is None:
            raise web.HTTPNotFound(text="metrics are not enabled on this worker")
        body, content_type = parts.metrics.render()
        return web.Response(body=body, headers={"Content-Type": content_type})

    web_app.add_routes([web.get("/tocsin/status", status), web.get("/metrics", metrics)])
    from streams.agents.alerter import register_alerting  # issue 10: alerts, acks, verdict

    register_alerting(app, settings, bootstrap, web_app, worker_id)
    return app


def monitors_info(monitor: BatchMonitor) -> dict[str, Any]:
    """The live monitors' and the toxicity sampler's state for ``tocsin status``."""
    info: dict[str, Any] = {}
    for stage in monitor.pipeline.stages:
        if isinstance(stage, ToxicityStage):
            info["toxicity_sampling_ratio"] = stage.sampling_ratio
            info["toxicity_texts_per_s"] = round(stage.texts_per_s, 1)
            info["toxicity_scored"] = stage.scored_total
    judge = monitor.judge
    if judge is not None:
        info["partitions"] = judge.partitions
        info["late_events"] = judge.late_events
        info["alerts_by_kind"] = {f"{k}/{s}": n for (k, s), n in judge.alerts_emitted.items()}
        last = monitor.metrics.last_checkpoint_unix
        info["checkpoint_age_s"] = round(time.time() - last, 1) if last else None
    return info


def run_worker(
    settings: Settings,
    worker_id: str,
    bootstrap: str,
    *,
    web_port: int | None = None,
) -> int:
    """Run one worker in the foreground until SIGTERM/SIGINT; returns the exit code.

    >>> run_worker(load_settings(), "worker-0", "127.0.0.1:9092")  # doctest: +SKIP
    0
    """
    from faust.worker import Worker

    validate_worker_id(worker_id)
    servers = bootstrap
    throttle_empty_fetches()
    # `tocsin up` passes --web-port; the query endpoint is mounted on faust's web server.
    port = web_port or settings.worker.web_port_base or free_port()
    parts = build_monitor(settings, worker_id, servers)
    app = build_app(settings, worker_id, servers, parts, port)
    worker = Worker(
        app,
        app._tocsin_service,  # type: ignore[attr-defined]
        loglevel=settings.log_level,
        quiet=True,
        redirect_stdouts=False,
    )
    worker.spinner = None  # its cursor escape codes end up in log files
    started = time.monotonic()
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
        log.info(
            "worker %s exited with %d after %.0f s", worker_id, code, time.monotonic() - started
        )
        return code
    return 0
