"""The events hot path: a batch consumer that commits after it writes (DESIGN.md 2 and 3).

One :class:`BatchMonitor` runs in its own thread inside the faust worker
(:mod:`streams.app`). Each step:

1. wait up to ``poll_timeout`` for the first record, then take what else arrives within
   ``linger`` (up to ``batch_size``): a batch starts as soon as data is there, and grows
   with the load (what arrived while the previous batch was processed is taken at once);
2. decode the whole batch (:class:`streams.codec.EventDecoder`), undecodable records
   become :class:`~streams.dlq.DeadLetter` s;
3. check the DLQ limit (:class:`DlqRatioWindow`): when most messages are bad the worker
   stops loudly instead of dead-lettering everything;
4. run the detector :class:`Pipeline` (PII redaction today; toxicity, drift, SLO later);
5. write the events and the dead letters to ClickHouse and the dead letters to the DLQ
   topic, retrying retryable errors with capped exponential backoff. While it retries the
   loop does not consume: librdkafka's prefetch stops at ``queued.max.messages.kbytes``, so
   memory stays bounded and nothing is lost (``consumer.pause()/resume()`` is not used:
   on noida-db a partition paused after its first fetch never fetched again, measured with
   confluent-kafka 2.16);
6. commit the offsets of everything written, synchronously, every ``commit_interval_s``.

A permanent sink error, or the DLQ limit, raises :class:`WorkerStopped` without committing:
the process exits non-zero and a restart with the same worker id replays from the last
commit (``events`` is a ReplacingMergeTree on ``event_id``, so replays are harmless).

The pure parts (:class:`DlqRatioWindow`, :class:`OffsetTracker`, :class:`Backoff`,
:class:`Pipeline`, :class:`MonitorMetrics`) are unit tested on their own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from streams import crash_points
from streams.dlq import DeadLetter, dlq_rows

log = logging.getLogger("tocsin.monitor")

# ---------------------------------------------------------------------------- interfaces


@runtime_checkable
class InvalidLike(Protocol):
    """What the decoder says about a record it could not read."""

    reason: str
    detail: str


class DecodedBatchLike(Protocol):
    """The decoder's output: column lists for the good records, and the bad ones."""

    columns: dict[str, list[Any]]
    good_index: list[int]
    invalid: list[tuple[int, Any]]


class DecoderLike(Protocol):
    """``streams.codec.EventDecoder``."""

    def decode_batch(self, values: Sequence[bytes | None]) -> Any: ...


class WriterLike(Protocol):
    """``sinks.clickhouse.writer.EventWriter``."""

    def insert_events(
        self, columns: dict[str, list[Any]], *, dedup_token: str | None = None
    ) -> int: ...

    def insert_dead_letters(self, rows: list[dict[str, Any]]) -> Any: ...


class MonitorStoreLike(Protocol):
    """``sinks.clickhouse.monitor_store.MonitorStore``."""

    def insert_alerts(self, rows: Sequence[dict[str, Any]]) -> int: ...

    def insert_detections(self, rows: Sequence[dict[str, Any]]) -> int: ...

    def known_alert_ids(self, ids: Iterable[str]) -> set[str]: ...

    def write_states(
        self, group_id: str, topic: str, states: dict[int, tuple[int, bytes]], *, worker_id: str
    ) -> None: ...

    def read_states(
        self, group_id: str, topic: str, partitions: Sequence[int]
    ) -> dict[int, tuple[int, bytes]]: ...

    def inserted_through(self, positions: dict[int, int]) -> dict[int, int]: ...


class Stage(Protocol):
    """A detector stage: takes a decoded batch, returns it (possibly with new columns).

    Stages must not drop or reorder rows; they may change values (redaction) and add
    columns (scores, verdicts). PII, toxicity, drift and SLO stages plug in here.
    """

    name: str

    def process(self, batch: Any) -> Any: ...


class Pipeline:
    """Runs stages in order over a decoded batch.

    >>> class Upper:
    ...     name = "upper"
    ...     def process(self, batch):
    ...         batch["x"] = [v.upper() for v in batch["x"]]
    ...         return batch
    >>> Pipeline([Upper()]).process({"x": ["a", "b"]})
    {'x': ['A', 'B']}
    >>> Pipeline().names
    []
    """

    def __init__(self, stages: Iterable[Stage] = ()) -> None:
        self.stages: list[Stage] = list(stages)

    @property
    def names(self) -> list[str]:
        """Names of the stages, in order."""
        return [s.name for s in self.stages]

    def process(self, batch: Any) -> Any:
        """Run every stage; each gets the previous stage's output."""
        for stage in self.stages:
            batch = stage.process(batch)
        return batch


class PiiRedactionStage:
    """Redacts ``prompt`` and ``response`` in place and fills ``pii_types``/``pii_count``
    (both texts) and ``response_pii_count`` (the response alone: a leak, for the SLOs).

    Wraps a ``detectors.pii.PiiDetector`` (anything with ``redact_batch(texts)`` returning
    ``.texts`` and ``.counts``, one ``{type: count}`` per text). With ``redact=False`` (``pii.store_raw``) the
    text is kept as sent and only the verdict columns are filled.

    >>> from types import SimpleNamespace
    >>> class Fake:
    ...     def redact_batch(self, texts):
    ...         hit = ["@" in t for t in texts]
    ...         return SimpleNamespace(
    ...             texts=["<EMAIL_ADDRESS>" if h else t for t, h in zip(texts, hit)],
    ...             types=[["EMAIL_ADDRESS"] if h else [] for h in hit],
    ...             counts=[{"EMAIL_ADDRESS": 1} if h else {} for h in hit])
    >>> batch = SimpleNamespace(columns={"prompt": ["mail a@b.c", None], "response": ["ok", "x@y.z"]})
    >>> out = PiiRedactionStage(Fake()).process(batch).columns
    >>> out["prompt"], out["response"], out["pii_types"], out["pii_count"]
    (['<EMAIL_ADDRESS>', None], ['ok', '<EMAIL_ADDRESS>'], [['EMAIL_ADDRESS'], ['EMAIL_ADDRESS']], [1, 1])
    >>> out["response_pii_count"]
    [0, 1]
    """

    name = "pii"

    def __init__(self, detector: Any, *, redact: bool = True) -> None:
        self.detector = detector
        self.redact = redact

    def process(self, batch: Any) -> Any:
        """Redact one decoded batch (columns are replaced, rows keep their order)."""
        cols = batch.columns
        types: list[list[str]] | None = None
        counts: list[int] | None = None
        for name in ("prompt", "response"):
            values = cols.get(name)
            if values is None:
                continue
            result = self.detector.redact_batch([v or "" for v in values])
            if self.redact:
                cols[name] = [
                    None if v is None else t for v, t in zip(values, result.texts, strict=True)
                ]
            # most texts have no finding: an empty dict, nothing to add up or sort
            found = [sum(c.values()) if c else 0 for c in result.counts]
            if name == "response":
                cols["response_pii_count"] = [min(c, 65535) for c in found]
            if types is None or counts is None:
                types = [sorted(c) if c else [] for c in result.counts]
                counts = found
            else:
                for i, c in enumerate(result.counts):
                    if c:
                        types[i] = sorted(set(types[i]).union(c))
                        counts[i] += found[i]
        if types is not None and counts is not None:
            cols["pii_types"] = types
            cols["pii_count"] = [min(c, 65535) for c in counts]  # UInt16 column
        return batch


class ToxicityStage:
    """Scores ``response`` texts with a toxicity model: the ``toxicity`` and
    ``sample_weight`` columns.

    Wraps a ``detectors.toxicity.ToxicityScorer`` (anything with ``score_batch(texts)``
    returning label -> probabilities with a ``toxicity`` entry). It runs before PII
    redaction, so the model sees the text as the user saw it; rows without a response
    (errors, timeouts) get NULL. Texts go to the model in batches of ``batch_size``; with
    ``chunk_chars`` long responses are scored per chunk of sentences, keeping the maximum.

    With a ``sampler`` (:class:`detectors.toxicity.sampling.ToxicitySampler`) only the
    sampled answers are scored when scoring cannot keep up; each scored row gets its weight
    in ``sample_weight`` (1 when everything is scored), unscored rows NULL. ``lag`` tells
    the sampler how far behind the worker is.

    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> class Fake:
    ...     def score_batch(self, texts, chunk_chars=None):
    ...         return {"toxicity": np.array([0.9 if "idiot" in t else 0.1 for t in texts])}
    >>> batch = SimpleNamespace(columns={"response": ["you idiot", None, "", "thanks"]})
    >>> out = ToxicityStage(Fake()).process(batch).columns
    >>> [None if v is None else round(v, 1) for v in out["toxicity"]], out["sample_weight"]
    ([0.9, None, None, 0.1], [1.0, None, None, 1.0])
    """

    name = "toxicity"

    def __init__(
        self,
        scorer: Any,
        *,
        batch_size: int = 4096,
        chunk_chars: int = 0,
        sampler: Any = None,
        lag: Callable[[], int] | None = None,
        busy: Callable[[], float] | None = None,
    ) -> None:
        self.scorer = scorer
        self.batch_size = batch_size
        self.chunk_chars = chunk_chars or None
        self.sampler = sampler
        self.lag = lag
        #: Seconds the worker spent on the previous batch, its wait for records excluded
        #: (``MonitorMetrics.last_batch_s``): the sampler's costs must not count idle time.
        self.busy = busy
        self.scored_total = 0
        self.scoring_s_total = 0.0
        self._last_end: float | None = None
        self._last_start: float | None = None
        self._last_score_s = 0.0
        self._last_rows = 0

    @property
    def sampling_ratio(self) -> float:
        """Share of (non-canary) answers scored now."""
        return 1.0 if self.sampler is None else float(self.sampler.ratio)

    @property
    def texts_per_s(self) -> float:
        """Scoring throughput so far (answers scored per second of scoring)."""
        return self.scored_total / self.scoring_s_total if self.scoring_s_total else 0.0

    def process(self, batch: Any) -> Any:
        """Score one decoded batch (``toxicity`` and ``sample_weight`` are replaced)."""
        started = time.perf_counter()
        cols = batch.columns
        responses = cols.get("response")
        if responses is None:
            return batch
        n = len(responses)
        scores: list[float | None] = [None] * n
        weights: list[float | None] = [None] * n
        todo = [i for i, text in enumerate(responses) if text]
        todo_weights = [1.0] * len(todo)
        scorable, canaries = len(todo), 0
        if self.sampler is not None and todo:
            ids = cols.get("event_id") or [str(i) for i in range(n)]
            tracks = cols.get("track") or [None] * n
            todo_tracks = [tracks[i] for i in todo]
            canaries = todo_tracks.count("canary")
            mask, w = self.sampler.choose(
                [ids[i] for i in todo], todo_tracks, lag=self.lag() if self.lag else 0
            )
            keep = np.flatnonzero(mask).tolist()
            todo = [todo[j] for j in keep]
            todo_weights = w[keep].tolist()
        t0 = time.perf_counter()
        for start in range(0, len(todo), self.batch_size):
            rows = todo[start : start + self.batch_size]
            texts = [responses[i] for i in rows]
            values = self.scorer.score_batch(texts, chunk_chars=self.chunk_chars)["toxicity"]
            for i, value in zip(rows, np.asarray(values, dtype=np.float64).tolist(), strict=True):
                scores[i] = value
        score_s = time.perf_counter() - t0
        for i, weight in zip(todo, todo_weights, strict=True):
            weights[i] = weight
        cols["toxicity"] = scores
        cols["sample_weight"] = weights
        self.scored_total += len(todo)
        self.scoring_s_total += score_s
        if self.sampler is not None:
            if self.busy is not None:
                # The rest of the worker on the previous batch: its processing time less its
                # scoring (waiting for records is not a cost); the input rate uses wall time.
                other = max(0.0, self.busy() - self._last_score_s) if self._last_rows else 0.0
                interval = started - self._last_start if self._last_start is not None else None
            else:  # no worker around: wall time from the previous batch's scoring to now
                other = (started - self._last_end) if self._last_end is not None else 0.0
                other += time.perf_counter() - started - score_s
                interval = other + score_s
            self.sampler.observe(
                scored=len(todo),
                score_s=score_s,
                rows=self._last_rows or n,
                other_s=other,
                lag=self.lag() if self.lag is not None else 0,
                answer_share=scorable / n if n else None,
                canary_share=canaries / scorable if scorable else 0.0,
                interval_s=interval,
            )
        self._last_end = time.perf_counter()
        self._last_start = started
        self._last_score_s = score_s
        self._last_rows = n
        return batch


# ---------------------------------------------------------------------------- errors


class WorkerStopped(RuntimeError):
    """The worker must stop without committing; the process exits with ``exit_code``."""

    exit_code = 1


class DlqLimitExceeded(WorkerStopped):
    """Most recent messages were undecodable: a producer or schema problem, not noise."""

    exit_code = 3


class SinkFailed(WorkerStopped):
    """The sink raised a permanent error (or one we cannot classify)."""

    exit_code = 4


# ---------------------------------------------------------------------------- pure parts


class DlqRatioWindow:
    """The share of invalid messages among the most recent ones (the DLQ limit).

    The window holds the last ``min_messages`` messages. :meth:`update` takes one batch's
    invalid flags (in consumption order); :attr:`exceeded` is true once the window is
    full and more than ``max_ratio`` of it is invalid, or when one batch at least as
    large as the window is on its own more than ``max_ratio`` invalid.

    Parameters
    ----------
    max_ratio
        Largest tolerated share of invalid messages, in ``(0, 1]``.
    min_messages
        Window length; nothing is judged before this many messages were seen.

    Examples
    --------
    >>> w = DlqRatioWindow(max_ratio=0.5, min_messages=4)
    >>> w.update(np.array([True, True, True])).exceeded   # window not full yet
    False
    >>> w.update(np.array([False])).exceeded              # 3 of 4 bad
    True
    >>> w.update(np.array([False, False, False])).ratio   # window: [F, F, F, F]
    0.0
    """

    def __init__(self, max_ratio: float, min_messages: int) -> None:
        if not 0 < max_ratio <= 1:
            raise ValueError(f"max_ratio must be in (0, 1], got {max_ratio}")
        if min_messages < 1:
            raise ValueError(f"min_messages must be >= 1, got {min_messages}")
        self.max_ratio = max_ratio
        self.min_messages = min_messages
        self._ring = np.zeros(min_messages, dtype=bool)
        self._pos = 0
        self._seen = 0
        self._batch_exceeded = False

    @property
    def ratio(self) -> float:
        """Invalid share of the messages currently in the window (0 when empty)."""
        n = min(self._seen, self.min_messages)
        return float(self._ring.sum()) / n if n else 0.0

    @property
    def full(self) -> bool:
        """Whether ``min_messages`` messages have been seen."""
        return self._seen >= self.min_messages

    @property
    def exceeded(self) -> bool:
        """Whether the DLQ limit is exceeded (see class docstring)."""
        return self._batch_exceeded or (self.full and self.ratio > self.max_ratio)

    def update(self, invalid: np.ndarray) -> DlqRatioWindow:
        """Add one batch's invalid flags (bool array, consumption order)."""
        flags = np.asarray(invalid, dtype=bool)
        n = int(flags.size)
        cap = self.min_messages
        self._batch_exceeded = n >= cap and float(flags.mean()) > self.max_ratio
        if n >= cap:
            self._ring[:] = flags[-cap:]
            self._pos = 0
        elif n:
            end = self._pos + n
            if end <= cap:
                self._ring[self._pos : end] = flags
            else:
                first = cap - self._pos
                self._ring[self._pos :] = flags[:first]
                self._ring[: n - first] = flags[first:]
            self._pos = end % cap
        self._seen += n
        return self


@dataclass
class OffsetTracker:
    """Next offset to commit per ``(topic, partition)``, advanced only after a write.

    Examples
    --------
    >>> t = OffsetTracker()
    >>> t.advance([("ev", 0, 10), ("ev", 0, 11), ("ev", 1, 3)])
    >>> t.pending()
    {('ev', 0): 12, ('ev', 1): 4}
    >>> t.mark_committed({("ev", 0): 12})
    >>> t.pending()
    {('ev', 1): 4}
    >>> t.forget([("ev", 1)])
    >>> t.pending()
    {}
    """

    _next: dict[tuple[str, int], int] = field(default_factory=dict)
    _committed: dict[tuple[str, int], int] = field(default_factory=dict)
    uncommitted_messages: int = 0

    def advance(self, positions: Iterable[tuple[str, int, int]]) -> None:
        """Record that the records at these ``(topic, partition, offset)`` are written."""
        nxt = self._next
        n = 0
        for topic, partition, offset in positions:
            key = (topic, partition)
            if offset + 1 > nxt.get(key, -1):
                nxt[key] = offset + 1
            n += 1
        self.uncommitted_messages += n

    def pending(self, only: set[tuple[str, int]] | None = None) -> dict[tuple[str, int], int]:
        """Offsets written but not committed yet, optionally limited to ``only``."""
        return {
            k: v
            for k, v in self._next.items()
            if self._committed.get(k) != v and (only is None or k in only)
        }

    def mark_committed(self, offsets: dict[tuple[str, int], int]) -> None:
        """Record a successful commit of ``offsets``."""
        self._committed.update(offsets)
        if not self.pending():
            self.uncommitted_messages = 0

    def forget(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Drop what we know of partitions we lost (revoked or lost in a rebalance)."""
        for key in partitions:
            self._next.pop(key, None)
            self._committed.pop(key, None)
        if not self.pending():
            self.uncommitted_messages = 0


@dataclass
class Backoff:
    """Capped exponential backoff with deterministic jitter-free delays.

    >>> list(Backoff(initial_s=0.1, max_s=0.5).delays(5))
    [0.1, 0.2, 0.4, 0.5, 0.5]
    """

    initial_s: float = 0.1
    max_s: float = 30.0
    factor: float = 2.0

    def delays(self, attempts: int | None = None) -> Iterator[float]:
        """Successive delays; endless when ``attempts`` is None."""
        delay = self.initial_s
        i = 0
        while attempts is None or i < attempts:
            yield min(delay, self.max_s)
            delay *= self.factor
            i += 1


@dataclass
class MonitorMetrics:
    """Counters of one worker, for ``tocsin status`` and the worker's run file.

    >>> m = MonitorMetrics(); m.consumed += 3; m.snapshot()["consumed"]
    3
    """

    consumed: int = 0
    written: int = 0
    dead_lettered: int = 0
    skipped_ranges: int = 0
    skipped_messages: int = 0
    batches: int = 0
    commits: int = 0
    write_retries: int = 0
    lag: int = 0
    paused: bool = False
    last_batch_s: float = 0.0
    last_error: str = ""
    late_events: int = 0
    alerts_emitted: int = 0
    alerts_replayed: int = 0
    replayed_rows_skipped: int = 0
    checkpoints: int = 0
    last_checkpoint_unix: float = 0.0
    last_alert_latency_s: float = 0.0

    def snapshot(self) -> dict[str, Any]:
        """A copy of the counters, safe to serialize from another thread."""
        return asdict(self)


@dataclass(frozen=True)
class MonitorConfig:
    """What :class:`BatchMonitor` needs from ``Settings.worker`` and ``Settings.topics``.

    >>> MonitorConfig("tocsin.events.v1", "tocsin.dlq.v1").batch_size
    10000
    """

    events_topic: str
    dlq_topic: str
    worker_id: str = ""
    batch_size: int = 10_000
    poll_timeout_s: float = 0.5
    linger_s: float = 0.05
    commit_interval_s: float = 2.0
    commit_every_messages: int = 50_000
    dlq_max_ratio: float = 0.5
    dlq_min_messages: int = 1000
    insert_retry_initial_s: float = 0.2
    insert_retry_max_s: float = 30.0
    alerts_topic: str = "tocsin.alerts.v1"
    group_id: str = "tocsin-monitor"


# ---------------------------------------------------------------------------- table rows

#: Optional Avro fields (None when absent) stored in non-Nullable columns of ``events``,
#: with the value that stands for "absent" there.
ABSENT_AS: dict[str, Any] = {
    "trace_id": "",
    "prompt": "",
    "response": "",
    "error_type": "",
    "user_hash": "",
    "tokens_in": 0,
    "tokens_out": 0,
    "cost_usd": 0.0,
}


def events_table_columns(
    columns: dict[str, list[Any]], partitions: list[int], offsets: list[int]
) -> dict[str, list[Any]]:
    """The decoded columns as the ``events`` table stores them, with the Kafka position.

    The decoder keeps Avro's ``None`` for absent optional fields; the table keeps a default
    for most of them (see :data:`ABSENT_AS`). ``kafka_partition``/``kafka_offset`` record
    where each event was read, for audits and replays.

    >>> cols = events_table_columns({"event_id": ["a", "b"], "prompt": [None, "hi"]}, [0, 1], [5, 9])
    >>> cols["prompt"], cols["kafka_partition"], cols["kafka_offset"]
    (['', 'hi'], [0, 1], [5, 9])
    """
    out = dict(columns)
    for name, absent in ABSENT_AS.items():
        values = out.get(name)
        if values is not None and None in values:
            out[name] = [absent if v is None else v for v in values]
    out["kafka_partition"] = partitions
    out["kafka_offset"] = offsets
    return out


# ---------------------------------------------------------------------------- the loop


def consumer_config(bootstrap: str, group_id: str, worker_id: str, **extra: Any) -> dict[str, Any]:
    """confluent-kafka consumer settings for the batch consumer (STACK.md pitfalls).

    >>> c = consumer_config("127.0.0.1:9092", "g", "worker-0")
    >>> c["group.instance.id"], c["enable.auto.commit"], c["receive.message.max.bytes"]
    ('worker-0', False, 2147483647)
    """
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "group.id": group_id,
        # Static membership: noida-db never expires a dead member, a restart with the
        # same id takes its partitions back at once.
        "group.instance.id": worker_id,
        "client.id": f"tocsin-{worker_id}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        # noida-db ignores Fetch max_bytes: a lagging consumer gets the whole backlog.
        "receive.message.max.bytes": 2147483647,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
        # The loop stops polling while the sink is down (bounded by the prefetch cap below);
        # that must not count as a hung consumer.
        "max.poll.interval.ms": 86_400_000,
        "queued.max.messages.kbytes": 65_536,
        # Prefetch stops at 2,000 messages a partition (librdkafka's default, 100,000, is
        # never reached by a backlog that noida-db sends whole, so it kept asking for more:
        # empty fetches answered at once, a spin that cost the broker and librdkafka's
        # thread ~0.4 core while the worker was behind). Checked again every 20 ms, not
        # the default second, so a fast worker on a real Kafka never waits for records.
        "queued.min.messages": 2_000,
        "fetch.queue.backoff.ms": 20,
        "enable.partition.eof": False,
        "logger": logging.getLogger("tocsin.kafka.consumer"),
    }
    conf.update(extra)
    return conf


def producer_config(bootstrap: str, worker_id: str, **extra: Any) -> dict[str, Any]:
    """confluent-kafka producer settings for the DLQ (idempotent, ``acks=all``).

    >>> producer_config("h:1", "worker-0")["enable.idempotence"]
    True
    """
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "client.id": f"tocsin-{worker_id}-dlq",
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.max.bytes": 16 * 1024 * 1024,
        "logger": logging.getLogger("tocsin.kafka.producer"),
    }
    conf.update(extra)
    return conf


class BatchMonitor:
    """The batch consumer loop. Create it, then call :meth:`run` in a thread.

    Parameters
    ----------
    consumer
        A ``confluent_kafka.Consumer`` built with :func:`consumer_config`.
    producer
        A ``confluent_kafka.Producer`` for the DLQ topic (:func:`producer_config`).
    decoder
        ``streams.codec.EventDecoder``.
    writer
        ``sinks.clickhouse.writer.EventWriter``.
    config
        Topics, batch size, cadence and limits.
    pipeline
        Detector stages run on each decoded batch.
    retryable
        Exception types that mean "the sink is unavailable, try again"
        (``sinks.base.RetryableError``); anything else from the sink stops the worker.

    Examples
    --------
    >>> from confluent_kafka import Consumer, Producer                  # doctest: +SKIP
    >>> monitor = BatchMonitor(
    ...     Consumer(consumer_config("127.0.0.1:9092", "tocsin-monitor", "worker-0")),
    ...     Producer(producer_config("127.0.0.1:9092", "worker-0")),
    ...     EventDecoder(LocalSchemaResolver()), EventWriter(client),
    ...     MonitorConfig("tocsin.events.v1", "tocsin.dlq.v1"),
    ...     retryable=(RetryableError,))                                # doctest: +SKIP
    >>> threading.Thread(target=monitor.run).start()                    # doctest: +SKIP
    """

    def __init__(
        self,
        consumer: Any,
        producer: Any,
        decoder: DecoderLike,
        writer: WriterLike,
        config: MonitorConfig,
        *,
        pipeline: Pipeline | None = None,
        retryable: tuple[type[BaseException], ...] = (),
        sleep: Callable[[float], None] = time.sleep,
        mask_dead_letter: Callable[[bytes], bytes] | None = None,
        monitor_store: MonitorStoreLike | None = None,
        encode_alert: Callable[[Any], bytes] | None = None,
        observer: Callable[[str, float], None] | None = None,
    ) -> None:
        self.consumer = consumer
        self.monitor_store = monitor_store
        self.encode_alert = encode_alert
        #: Called with (what, seconds) for latency histograms (``batch``, ``alert``).
        self.observer = observer
        self.mask_dead_letter = mask_dead_letter
        self.producer = producer
        self.decoder = decoder
        self.writer = writer
        self.config = config
        self.pipeline = pipeline or Pipeline()
        self.retryable = retryable
        self.metrics = MonitorMetrics()
        self.offsets = OffsetTracker()
        self.window = DlqRatioWindow(config.dlq_max_ratio, config.dlq_min_messages)
        self.stop_event = threading.Event()
        #: Called after every batch (``streams.app.MonitorThread``: garbage collection).
        self.after_batch: Callable[[], None] | None = None
        self._sleep = sleep
        self._assigned: set[tuple[str, int]] = set()
        self._expected: dict[tuple[str, int], int] = {}
        self._pending_letters: list[DeadLetter] = []
        self._last_commit = time.monotonic()
        # Live monitors (a pipeline stage with per-partition state), when there is one.
        self.judge: Any = next((st for st in self.pipeline.stages if hasattr(st, "snapshot")), None)
        # Where each assigned partition's state stands when nothing was consumed yet.
        self._position: dict[tuple[str, int], int] = {}
        # After a crash: offsets already in `events` (replayed rows are judged, not inserted).
        self._stored_through: dict[tuple[str, int], int] = {}

    # ------------------------------------------------------------------ lifecycle

    def subscribe(self) -> None:
        """Subscribe to the events topic with the rebalance callbacks."""
        self.consumer.subscribe(
            [self.config.events_topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )

    def run(self) -> None:
        """Consume until :meth:`stop`; raises :class:`WorkerStopped` on a fatal condition.

        On a normal stop the offsets of everything written are committed and the
        consumer is closed. On :class:`WorkerStopped` nothing more is committed.
        """
        self.subscribe()
        try:
            while not self.stop_event.is_set():
                self.step()
                if self.after_batch is not None:
                    self.after_batch()
            self._commit(force=True)
        except _Abandoned as exc:
            log.warning("%s", exc)
        finally:
            self._close()

    def stop(self) -> None:
        """Ask :meth:`run` to finish its current batch, commit and return."""
        self.stop_event.set()

    def _close(self) -> None:
        try:
            self.producer.flush(5)
        finally:
            self.consumer.close()

    # ------------------------------------------------------------------ one batch

    def step(self) -> int:
        """Consume, decode, write and (maybe) commit one batch; returns its size."""
        cfg = self.config
        messages = self._consume_batch()
        records = [m for m in messages if self._usable(m)]
        if not records:
            if self._pending_letters:
                self._write({}, self._take_pending_letters())
            if self.judge is not None:
                self.judge.tick()
                self._emit_alerts(self.judge.take(), time.perf_counter())
            self._commit()
            return 0
        t0 = time.perf_counter()
        positions = [(m.topic(), m.partition(), m.offset()) for m in records]
        self._check_gaps(positions)
        values = [m.value() for m in records]
        decoded = self._with_retry("decode (schema registry)", lambda: self._decode(values))
        invalid_flags = np.zeros(len(records), dtype=bool)
        letters = self._take_pending_letters()
        for index, problem in decoded.invalid:
            invalid_flags[index] = True
            msg = records[index]
            letters.append(
                DeadLetter.from_message(
                    topic=msg.topic(),
                    partition=msg.partition(),
                    offset=msg.offset(),
                    key=msg.key(),
                    value=msg.value(),
                    headers=msg.headers(),
                    reason=getattr(problem, "reason", "invalid"),
                    detail=getattr(problem, "detail", str(problem)),
                    message_ts_ms=_message_ts(msg),
                    schema_id=getattr(problem, "schema_id", None),
                    worker_id=cfg.worker_id or None,
                )
            )
        self.metrics.consumed += len(records)
        if self.window.update(invalid_flags).exceeded:
            raise DlqLimitExceeded(
                f"DLQ limit exceeded: {self.window.ratio:.0%} of the last "
                f"{self.window.min_messages} messages on {cfg.events_topic} could not be "
                f"decoded (limit {cfg.dlq_max_ratio:.0%}). Nothing was committed. Check the "
                f"producers and the schema registry, then inspect {cfg.dlq_topic} or raise "
                "TOCSIN_WORKER__DLQ_MAX_RATIO if this is expected."
            )
        columns: dict[str, list[Any]] = {}
        alerts: list[Any] = []
        if not self.metrics.batches:
            # The first batch: the backlog behind it, for the toxicity sampler's cold start
            # (later batches see the lag measured after the previous one: what arrived
            # while it worked).
            self._update_lag(positions)
        if decoded.good_index:
            good = [positions[i] for i in decoded.good_index]
            decoded.kafka_partitions = [p[1] for p in good]
            batch = self.pipeline.process(decoded)
            columns = events_table_columns(
                batch.columns, [p[1] for p in good], [p[2] for p in good]
            )
            columns = self._without_stored(columns, good)
            if self.judge is not None:
                alerts = self.judge.take()
        self._write(columns, letters, token=_batch_token(positions))
        crash_points.reached("after_insert")  # test-only fault injection, off by default
        self._emit_alerts(alerts, t0)
        self.offsets.advance(positions)
        self.metrics.batches += 1
        self.metrics.last_batch_s = time.perf_counter() - t0
        if self.judge is not None:
            self.metrics.late_events = int(self.judge.late_events)
        if self.observer is not None:
            self.observer("batch", self.metrics.last_batch_s)
        # After the work: what arrived meanwhile (measured right after the consume, it is
        # ~0 however far behind the worker falls, and the toxicity sampler never samples).
        self._update_lag(positions)
        self._commit()
        return len(records)

    def _consume_batch(self) -> list[Any]:
        """The next batch: block for the first record (``poll_timeout_s``), then take what
        is buffered or arrives within ``linger_s``, up to ``batch_size``.

        ``consume(n, timeout)`` returns only when ``n`` records are there or the timeout
        passed, so one call with the poll timeout made every batch below ``batch_size`` wait
        the whole timeout (half a second of alert latency at moderate rates).
        """
        cfg = self.config
        first = self.consumer.consume(num_messages=1, timeout=cfg.poll_timeout_s)
        if not first or cfg.batch_size <= 1:
            return list(first)
        rest = self.consumer.consume(num_messages=cfg.batch_size - 1, timeout=cfg.linger_s)
        return [*first, *rest]

    def _without_stored(
        self, columns: dict[str, list[Any]], good: list[tuple[str, int, int]]
    ) -> dict[str, list[Any]]:
        """Drop rows a crashed run already inserted (they were judged again, not stored)."""
        if not self._stored_through or not columns:
            return columns
        stored = self._stored_through
        keep = [i for i, (t, p, o) in enumerate(good) if o > stored.get((t, p), -1)]
        for t, p, o in good:
            if (t, p) in stored and o >= stored[(t, p)]:
                del stored[(t, p)]  # the replay has caught up with what was stored
        if len(keep) == len(good):
            return columns
        self.metrics.replayed_rows_skipped += len(good) - len(keep)
        return {name: [values[i] for i in keep] for name, values in columns.items()}

    def _emit_alerts(self, alerts: list[Any], started: float) -> None:
        """Produce the alert records (keyed by deployment), then store them with their
        detections. A record whose id is already stored was emitted before a crash."""
        if not alerts:
            return
        store = self.monitor_store
        if store is not None:
            known = self._with_retry(
                "lookup of emitted alerts",
                lambda: store.known_alert_ids(a.alert_id for a, _ in alerts),
            )
            if known:
                self.metrics.alerts_replayed += sum(1 for a, _ in alerts if a.alert_id in known)
                alerts = [(a, d) for a, d in alerts if a.alert_id not in known]
            if not alerts:
                return
        if self.encode_alert is not None:
            self._with_retry("produce to the alerts topic", lambda: self._produce_alerts(alerts))
        latency = time.perf_counter() - started
        self.metrics.last_alert_latency_s = latency
        if self.observer is not None:
            for _ in alerts:
                self.observer("alert", latency)
        if store is not None:
            worker = self.config.worker_id
            self._with_retry(
                "insert alerts", lambda: store.insert_alerts([a.row(worker) for a, _ in alerts])
            )
            self._with_retry(
                "insert detections", lambda: store.insert_detections([d.row() for _, d in alerts])
            )
        self.metrics.alerts_emitted += len(alerts)
        for a, _ in alerts:
            log.warning("ALERT %s %s %s: %s", a.kind, a.severity, a.state, a.summary)

    def _produce_alerts(self, alerts: list[Any]) -> None:
        assert self.encode_alert is not None
        failures: list[str] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                failures.append(str(err))

        for record, _ in alerts:
            while True:
                try:
                    self.producer.produce(
                        self.config.alerts_topic,
                        value=self.encode_alert(record),
                        key=record.key,
                        on_delivery=on_delivery,
                    )
                    break
                except BufferError:
                    self.producer.poll(0.1)
        remaining = self.producer.flush(30)
        if remaining or failures:
            raise _Transient(
                f"{remaining} alert records undelivered, {len(failures)} failed "
                f"({failures[:1]}); is the broker up?"
            )

    def _decode(self, values: list[bytes | None]) -> Any:
        try:
            return self.decoder.decode_batch(values)
        except Exception as exc:
            # The registry being unreachable is not the messages' fault: retry the batch.
            if getattr(exc, "retryable", False):
                raise _Transient(f"{type(exc).__name__}: {exc}") from exc
            raise

    def _usable(self, msg: Any) -> bool:
        err = msg.error()
        if err is None:
            return True
        if err.fatal():
            raise WorkerStopped(f"Kafka consumer fatal error: {err}. Restart the worker.")
        log.warning("consumer: %s", err)
        return False

    def _take_pending_letters(self) -> list[DeadLetter]:
        out, self._pending_letters = self._pending_letters, []
        return out

    # ------------------------------------------------------------------ writing

    def _write(
        self, columns: dict[str, list[Any]], letters: list[DeadLetter], token: str | None = None
    ) -> None:
        n_good = len(next(iter(columns.values()))) if columns else 0
        if n_good:
            # The same token on a retry: a store that wrote the batch before timing out
            # drops the second copy (and so do the rollups fed by the insert).
            insert = self.writer.insert_events
            self._with_retry(
                "insert events",
                lambda: insert(columns, dedup_token=token) if token else insert(columns),
            )
        if letters:
            rows = dlq_rows(letters, self.mask_dead_letter)
            self._with_retry("insert dead letters", lambda: self.writer.insert_dead_letters(rows))
            self._with_retry("produce to the DLQ topic", lambda: self._produce_dlq(letters))
        self.metrics.written += n_good
        self.metrics.dead_lettered += sum(1 for dl in letters if dl.reason != "skipped_range")

    def _produce_dlq(self, letters: list[DeadLetter]) -> None:
        failures: list[str] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                failures.append(str(err))

        for dl in letters:
            while True:
                try:
                    self.producer.produce(
                        self.config.dlq_topic,
                        value=dl.value,
                        key=dl.key,
                        headers=dl.kafka_headers(),
                        on_delivery=on_delivery,
                    )
                    break
                except BufferError:
                    self.producer.poll(0.1)
        remaining = self.producer.flush(30)
        if remaining or failures:
            raise _Transient(
                f"{remaining} DLQ records undelivered, {len(failures)} failed "
                f"({failures[:1]}); is the broker up?"
            )

    def _with_retry(self, what: str, action: Callable[[], Any]) -> Any:
        cfg = self.config
        delays = Backoff(cfg.insert_retry_initial_s, cfg.insert_retry_max_s).delays()
        attempt = 0
        retry_on: tuple[type[BaseException], ...] = (*self.retryable, _Transient)
        while True:
            try:
                result = action()
            except retry_on as exc:
                attempt += 1
                delay = next(delays)
                self.metrics.write_retries += 1
                self.metrics.last_error = f"{what}: {type(exc).__name__}: {exc}"[:500]
                log.warning(
                    "%s failed (attempt %d): %s: %s; consumption paused, retrying in %.1f s",
                    what,
                    attempt,
                    type(exc).__name__,
                    exc,
                    delay,
                )
                self.metrics.paused = True
                if self.stop_event.wait(delay):
                    raise _Abandoned(f"stopped while retrying {what}; nothing committed") from exc
                continue
            except WorkerStopped:
                raise
            except Exception as exc:
                raise SinkFailed(
                    f"{what} failed with a permanent error: {type(exc).__name__}: {exc}. "
                    "Nothing was committed; fix the cause (schema, permissions, disk) and "
                    "restart the worker with the same id to replay from the last commit."
                ) from exc
            if attempt:
                log.warning("%s succeeded after %d retries; resuming consumption", what, attempt)
            self.metrics.paused = False
            return result

    # ------------------------------------------------------------------ committing

    def _commit(self, force: bool = False) -> None:
        cfg = self.config
        due = (
            force
            or time.monotonic() - self._last_commit >= cfg.commit_interval_s
            or self.offsets.uncommitted_messages >= cfg.commit_every_messages
        )
        if not due:
            return
        pending = self.offsets.pending(only=self._assigned)
        self._last_commit = time.monotonic()
        self._checkpoint(pending)
        if not pending:
            return
        from confluent_kafka import KafkaException, TopicPartition

        tps = [TopicPartition(t, p, off) for (t, p), off in pending.items()]
        try:
            result = self.consumer.commit(offsets=tps, asynchronous=False)
        except KafkaException as exc:
            # Broker restart or rebalance: keep them pending, the next commit carries them.
            log.warning("offset commit failed, will retry with the next batch: %s", exc)
            return
        failed = [tp for tp in result or () if tp.error is not None]
        if failed:
            log.warning("offset commit failed for %d partitions: %s", len(failed), failed[0].error)
            pending = {
                k: v
                for k, v in pending.items()
                if all((tp.topic, tp.partition) != k for tp in failed)
            }
        self.offsets.mark_committed(pending)
        self.metrics.commits += 1
        crash_points.reached("after_commit")  # test-only fault injection, off by default

    def _checkpoint(self, pending: dict[tuple[str, int], int]) -> None:
        """Store each changed partition's monitor state with the offset it reflects,
        before the offsets are committed (a crash in between resumes from the state)."""
        judge, store = self.judge, self.monitor_store
        if judge is None or store is None:
            return
        topic = self.config.events_topic
        changed = {p for (t, p) in pending if t == topic} | set(judge.dirty)
        states: dict[int, tuple[int, bytes]] = {}
        for p in sorted(changed):
            key = (topic, p)
            if key not in self._assigned:
                continue
            nxt = self.offsets._next.get(key, self._position.get(key))
            if nxt is None:
                continue
            states[p] = (nxt, judge.snapshot(p))
        if not states:
            return
        self._with_retry(
            "checkpoint monitor state",
            lambda: store.write_states(
                self.config.group_id, topic, states, worker_id=self.config.worker_id
            ),
        )
        judge.dirty.difference_update(states)
        self.metrics.checkpoints += 1
        self.metrics.last_checkpoint_unix = time.time()

    # ------------------------------------------------------------------ rebalances

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        self._assigned.update(keys)
        try:
            committed = consumer.committed(partitions, timeout=10)
        except Exception as exc:  # the check is best effort: reading goes on without it
            log.warning("could not read committed offsets on assignment: %s", exc)
            committed = []
        for tp in committed:
            key = (tp.topic, tp.partition)
            if tp.offset < 0:
                self._expected.pop(key, None)
                continue
            self._expected[key] = tp.offset
            self._position[key] = tp.offset
            self._check_log_start(tp.topic, tp.partition, tp.offset, None)
        if self.judge is not None:
            self._restore_monitors(consumer, partitions)
        log.info("assigned %s", sorted(keys))

    def _restore_monitors(self, consumer: Any, partitions: list[Any]) -> None:
        """Resume each partition from its checkpoint: state and position together."""
        topic = self.config.events_topic
        mine = [tp.partition for tp in partitions if tp.topic == topic]
        states: dict[int, tuple[int, bytes]] = {}
        if self.monitor_store is not None and mine:
            store = self.monitor_store
            states = self._with_retry(
                "read monitor checkpoints",
                lambda: store.read_states(self.config.group_id, topic, mine),
            )
        for p in mine:
            state = states.get(p)
            self.judge.restore(p, None if state is None else state[1])
        if not states:
            return
        positions = {p: off for p, (off, _) in states.items()}
        for tp in partitions:
            if tp.topic == topic and tp.partition in positions:
                tp.offset = positions[tp.partition]
                key = (topic, tp.partition)
                self._position[key] = tp.offset
                # Never below what the committed-offset check expects: it may already have
                # reported a range that retention deleted (and moved past it).
                self._expected[key] = max(self._expected.get(key, -1), tp.offset)
        assert self.monitor_store is not None
        store = self.monitor_store
        stored = self._with_retry("read stored offsets", lambda: store.inserted_through(positions))
        for p, off in stored.items():
            self._stored_through[(topic, p)] = off
        # Start where the state stands, not at the committed offset.
        consumer.assign(partitions)
        log.warning(
            "restored monitor state of partitions %s at offsets %s (already stored up to %s)",
            sorted(positions),
            positions,
            stored,
        )

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        # Everything in OffsetTracker is already written: commit it before letting go.
        # An in-flight batch (a write being retried) has not reached the tracker yet, so
        # nothing past it is committed; its records are replayed by the new owner.
        self._commit(force=True)
        self._forget(keys)
        log.info("revoked %s", sorted(keys))

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        self._forget(keys)
        log.warning("lost %s without a clean revoke; uncommitted records will be replayed", keys)

    def _forget(self, keys: list[tuple[str, int]]) -> None:
        self.offsets.forget(keys)
        for key in keys:
            self._assigned.discard(key)
            self._expected.pop(key, None)
            self._position.pop(key, None)
            self._stored_through.pop(key, None)
        if self.judge is not None:
            self.judge.drop(p for t, p in keys if t == self.config.events_topic)

    # ------------------------------------------------------------------ skipped ranges

    def _check_gaps(self, positions: list[tuple[str, int, int]]) -> None:
        expected = self._expected
        for topic, partition, offset in positions:
            key = (topic, partition)
            want = expected.get(key)
            if want is not None and offset > want:
                self._check_log_start(topic, partition, want, offset)
            expected[key] = offset + 1

    def _check_log_start(self, topic: str, partition: int, want: int, got: int | None) -> None:
        """Report ``want .. log_start-1`` when retention deleted it before we read it."""
        from confluent_kafka import KafkaException, TopicPartition

        try:
            marks = self.consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=5, cached=False
            )
        except KafkaException as exc:
            log.warning("could not read the log start of %s[%d]: %s", topic, partition, exc)
            marks = None
        if marks is None:
            if got is None:
                return
            low = got  # unknown log start: report the whole gap rather than hide it
        else:
            low = marks[0]
        end = low if got is None else min(low, got)
        if end <= want:
            return  # a legitimate gap (compaction, transaction markers)
        letter = DeadLetter.skipped_range(
            topic, partition, want, end, worker_id=self.config.worker_id or None
        )
        log.error(
            "SKIPPED RANGE: %s; the events in it are lost. Size retention for the outage "
            "(topics.retention_bytes / retention_ms) or keep the worker running.",
            letter.detail,
        )
        self._pending_letters.append(letter)
        self.metrics.skipped_ranges += 1
        self.metrics.skipped_messages += end - want
        self._expected[(topic, partition)] = end

    # ------------------------------------------------------------------ lag

    def _update_lag(self, positions: list[tuple[str, int, int]]) -> None:
        """Records behind the high watermark, over the partitions of the last batch."""
        from confluent_kafka import TopicPartition

        seen = {(topic, partition): offset for topic, partition, offset in positions}
        lag = 0
        for (topic, partition), offset in seen.items():
            try:
                marks = self.consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), cached=True
                )
            except Exception as exc:  # lag is a metric: never fail a batch for it
                log.debug("lag of %s[%d] unknown: %s", topic, partition, exc)
                continue
            if marks:
                lag += max(0, marks[1] - offset - 1)
        self.metrics.lag = lag


class _Abandoned(RuntimeError):
    """A stop was requested while a write was being retried: exit without committing it."""


class _Transient(RuntimeError):
    """A failure outside the sink worth retrying (broker acks for the DLQ, schema registry)."""


def _batch_token(positions: list[tuple[str, int, int]]) -> str:
    """Insert dedup token of one batch, the same for every retry of that batch.

    >>> _batch_token([("ev", 0, 5), ("ev", 0, 6)]) == _batch_token([("ev", 0, 5), ("ev", 0, 6)])
    True
    """
    first, last = positions[0], positions[-1]
    return f"{first[0]}:{first[1]}:{first[2]}:{last[1]}:{last[2]}:{len(positions)}"


def _message_ts(msg: Any) -> int | None:
    kind, ts = msg.timestamp()
    return int(ts) if kind and ts >= 0 else None
