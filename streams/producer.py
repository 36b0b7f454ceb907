"""The producer SDK: send inference events to tocsin from any Python service.

Install only the base package (confluent-kafka, fastavro, orjson); this module imports
nothing else at import time.

.. code-block:: python

    from streams.producer import EventProducer, InferenceEvent

    with EventProducer("kafka:9092") as producer:
        producer.send({"service": "chat-api", "deployment": "chat-api-v42", "track": "canary",
                       "model": "llama-3.1-8b", "model_version": "2025-01", "status": "ok",
                       "latency_ms": 812.5, "prompt": prompt, "response": answer})
        producer.send(InferenceEvent(service="chat-api", deployment="chat-api-v41",
                                     model="llama-3.1-8b", model_version="2024-11",
                                     latency_ms=640.0))
    # leaving the block flushes: every event is delivered or counted as failed

Choices, and why:

- **Validation before sending.** An event that does not fit ``inference_event`` v1 raises
  ``ValueError`` naming the field, in the caller, rather than becoming a dead letter later.
  A missing ``event_id`` is filled with a uuid4 and a missing ``ts`` with now; ``ts`` may be a
  datetime, an ISO-8601 string or epoch milliseconds.
- **Key = service** (``key_fields=("service",)``). Records of one service land in one
  partition, so the worker that owns it sees all of that service's traffic: SLO windows and
  the canary-vs-stable comparison are exact without merging partial state across workers,
  and per-key state is checkpointed with that partition's offset. The cost: one service's
  throughput is bounded by one worker (about 20k events/s). For a service bigger than that
  use ``key_fields=("service", "deployment")`` or ``()`` (no key: spread over partitions),
  knowing that per-service state is then split.
- **Delivery**: ``acks=all``, ``enable.idempotence=True``, ``linger.ms=5`` (batching by
  librdkafka), ``allow.auto.create.topics=False`` (topics are created with their partitions
  and retention caps by ``tocsin up`` or by ops, never implicitly). Delivery reports are counted (``stats``) and passed to an optional callback.
  Call :meth:`EventProducer.flush` (or use ``with``) before exiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from schemas.loader import schema_info
from streams.codec import EVENT_SCHEMA_NAME, EventEncoder
from streams.registry import SchemaResolver, make_resolver

__all__ = ["DEFAULT_TOPIC", "EventProducer", "InferenceEvent", "KafkaException", "ProducerStats"]

DEFAULT_TOPIC = "tocsin.events.v1"

DeliveryCallback = Callable[[KafkaError | None, Message], None]


@dataclass
class InferenceEvent:
    """One inference request, typed. Fields as in ``schemas/avro/inference_event.v1.avsc``.

    ``track`` defaults to ``"stable"`` and ``status`` to ``"ok"``; ``event_id`` and ``ts``
    are filled when sent.

    >>> e = InferenceEvent(service="chat-api", deployment="chat-api-v41", model="m",
    ...                    model_version="1", latency_ms=12.5)
    >>> e.track, e.status, e.features
    ('stable', 'ok', {})
    """

    service: str
    deployment: str
    model: str
    model_version: str
    latency_ms: float
    track: str = "stable"
    status: str = "ok"
    event_id: str | None = None
    ts: int | datetime | str | None = None
    trace_id: str | None = None
    prompt: str | None = None
    response: str | None = None
    error_type: str | None = None
    ttft_ms: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    user_hash: str | None = None
    features: dict[str, float] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProducerStats:
    """Counters of an :class:`EventProducer`.

    Attributes
    ----------
    sent : int
        Events accepted into the local queue.
    delivered : int
        Events the broker acknowledged.
    failed : int
        Events that failed delivery permanently.
    invalid : int
        Events rejected by validation (never sent).
    last_error : str | None
        The last delivery error, as text.
    """

    sent: int
    delivered: int
    failed: int
    invalid: int
    last_error: str | None

    @property
    def in_flight(self) -> int:
        """Sent but not yet delivered nor failed."""
        return self.sent - self.delivered - self.failed


_PYTHON_CLIENT_KEYS = frozenset(
    {"log_level", "logger", "error_cb", "stats_cb", "throttle_cb", "oauth_cb", "on_delivery"}
)


def _librdkafka_config(
    bootstrap_servers: str,
    config: Mapping[str, Any] | None,
    overrides: Mapping[str, Any],
) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "client.id": "tocsin-sdk",
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        # Prompts and answers are text: lz4 batches are ~5x smaller (100k bench events: a
        # 79 MB broker state file instead of 433 MB) for ~2 us of CPU an event here. The
        # embedded broker rewrites its whole state after commits, so this halves its CPU.
        "compression.type": "lz4",
        # Topics are created with their partitions and retention caps (`tocsin up`, ops);
        # an auto-created one would get broker defaults (uncapped on the embedded broker).
        "allow.auto.create.topics": False,
        # librdkafka's log lines go to Python logging instead of straight to stderr
        "logger": logging.getLogger("tocsin.sdk.kafka"),
    }
    conf.update(config or {})
    # Python names for librdkafka properties: linger_ms=20 -> "linger.ms": 20; the Python
    # client's own properties (log_level, error_cb, ...) keep their underscores.
    conf.update(
        {(k if k in _PYTHON_CLIENT_KEYS else k.replace("_", ".")): v for k, v in overrides.items()}
    )
    return conf


class EventProducer:
    """Validate, encode (Confluent-framed Avro) and produce inference events.

    Parameters
    ----------
    bootstrap_servers : str
        Kafka bootstrap servers, e.g. ``"127.0.0.1:9092"``.
    topic : str
        Events topic.
    schema_registry_url : str | None
        Confluent Schema Registry; the schema is registered under ``<topic>-value`` and the
        registry's id goes into the frame. None = the fixed id of the local manifest (1001).
    key_fields : Sequence[str]
        Fields joined with ``/`` into the message key (see the module docstring).
    on_delivery : callable | None
        ``callback(err, msg)`` for every delivery report, called from :meth:`poll` /
        :meth:`flush` (an exception it raises propagates from there).
    config : Mapping | None
        librdkafka properties, verbatim (``{"linger.ms": 20}``).
    resolver : SchemaResolver | None
        Overrides ``schema_registry_url`` (tests, custom registries).
    queue_full_timeout_s : float
        How long :meth:`send` waits for room when the local queue is full before raising
        ``BufferError``.
    **overrides
        librdkafka properties with ``_`` for ``.``: ``linger_ms=20``, ``compression_type="lz4"``.

    Examples
    --------
    >>> p = EventProducer("127.0.0.1:1", message_timeout_ms=1000)
    >>> p.send({"service": "chat-api", "deployment": "d", "track": "nightly", "model": "m",
    ...         "model_version": "1", "status": "ok", "latency_ms": 1.0})
    Traceback (most recent call last):
    ...
    ValueError: track: expected one of stable, canary, shadow, baseline, got str
    >>> p.stats.invalid
    1
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str = DEFAULT_TOPIC,
        schema_registry_url: str | None = None,
        *,
        key_fields: Sequence[str] = ("service",),
        on_delivery: DeliveryCallback | None = None,
        config: Mapping[str, Any] | None = None,
        resolver: SchemaResolver | None = None,
        queue_full_timeout_s: float = 30.0,
        **overrides: Any,
    ) -> None:
        self.topic = topic
        self.key_fields = tuple(key_fields)
        self.queue_full_timeout_s = queue_full_timeout_s
        self._user_callback = on_delivery
        if resolver is None:
            resolver = make_resolver(schema_registry_url)
        schema_id = resolver.schema_id(EVENT_SCHEMA_NAME, 1, subject=f"{topic}-value")
        # The registry's id may differ from the manifest's: always write the local v1.
        self.encoder = EventEncoder(schema_id, schema=schema_info(EVENT_SCHEMA_NAME, 1).raw())
        unknown = [f for f in self.key_fields if f not in self.encoder.field_names]
        if unknown:
            raise ValueError(
                f"key_fields: {unknown[0]!r} is not an event field "
                "(use e.g. ('service',) or ('service', 'deployment'))"
            )
        self._sent = 0
        self._delivered = 0
        self._failed = 0
        self._invalid = 0
        self._last_error: str | None = None
        self._closed = False
        conf = _librdkafka_config(bootstrap_servers, config, overrides)
        conf["on_delivery"] = self._on_delivery
        # Without a user callback only failures need a report: a Python call per delivered
        # event costs ~1 us; successes are counted as what left the queue without failing.
        self._errors_only = on_delivery is None and "delivery.report.only.error" not in conf
        if self._errors_only:
            conf["delivery.report.only.error"] = True
        self._producer = Producer(conf)

    # ------------------------------------------------------------------ delivery reports

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self._delivered += 1
        else:
            self._failed += 1
            self._last_error = f"{err.name()}: {err.str()}"
        if self._user_callback is not None:
            self._user_callback(err, msg)

    @property
    def stats(self) -> ProducerStats:
        """A snapshot of the counters (delivery counts advance on poll/flush)."""
        delivered = self._delivered
        if self._errors_only:
            # len(producer): events still queued, in flight, or with a report to serve
            delivered = max(0, self._sent - self._failed - len(self._producer))
        return ProducerStats(
            sent=self._sent,
            delivered=delivered,
            failed=self._failed,
            invalid=self._invalid,
            last_error=self._last_error,
        )

    # ------------------------------------------------------------------ sending

    def _produce(self, value: bytes, key: str | bytes | None) -> None:
        produce = self._producer.produce
        try:
            produce(self.topic, value, key)
        except BufferError:
            deadline = time.monotonic() + self.queue_full_timeout_s
            while True:
                self._producer.poll(0.05)
                try:
                    produce(self.topic, value, key)
                    break
                except BufferError:
                    if time.monotonic() > deadline:
                        raise BufferError(
                            f"local producer queue still full after {self.queue_full_timeout_s}s:"
                            " the broker is slow or unreachable (check bootstrap_servers), or"
                            " raise queue.buffering.max.messages"
                        ) from None
        self._sent += 1
        if not self._sent & 0x3F:
            self._producer.poll(0)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("EventProducer is closed: create a new one to send more events")

    def key_for(self, record: Mapping[str, Any]) -> str | None:
        """The message key of a normalized record.

        >>> p = EventProducer("127.0.0.1:1", key_fields=("service", "deployment"))
        >>> p.key_for({"service": "chat-api", "deployment": "chat-api-v42"})
        'chat-api/chat-api-v42'
        """
        if not self.key_fields:
            return None
        if len(self.key_fields) == 1:
            return str(record[self.key_fields[0]])
        return "/".join(str(record[f]) for f in self.key_fields)

    def send(self, event: Mapping[str, Any] | InferenceEvent) -> str:
        """Validate, encode and queue one event; returns its ``event_id``.

        Raises
        ------
        ValueError
            The event does not fit the schema (the message names the field). Nothing is sent.
        BufferError
            The local queue stayed full for ``queue_full_timeout_s``.
        """
        self._check_open()
        try:
            record, value = self.encoder.prepare(event)
        except ValueError:
            self._invalid += 1
            raise
        self._produce(value, self.key_for(record))
        event_id: str = record["event_id"]
        return event_id

    def send_many(self, events: Iterable[Mapping[str, Any] | InferenceEvent]) -> int:
        """Send several events; returns how many were queued.

        Events without ``ts`` get the time of the call (one clock reading per call).

        Raises
        ------
        ValueError
            At the first invalid event, prefixed with its position (``events[3]: ...``); the
            events before it are queued.
        """
        self._check_open()
        now_ms = int(time.time() * 1000)
        prepare = self.encoder.prepare
        produce = self._produce
        key_for = self.key_for
        n = 0
        for i, event in enumerate(events):
            try:
                record, value = prepare(event, now_ms)
            except ValueError as exc:
                self._invalid += 1
                raise ValueError(f"events[{i}]: {exc}") from None
            produce(value, key_for(record))
            n += 1
        return n

    def send_encoded(self, value: bytes, key: str | bytes | None = None) -> None:
        """Queue an already-encoded, Confluent-framed value (e.g. from the generator)."""
        self._check_open()
        self._produce(value, key)

    def poll(self, timeout: float = 0.0) -> int:
        """Serve delivery reports; returns how many were served."""
        served: int = self._producer.poll(timeout)
        return served

    def flush(self, timeout: float = 30.0) -> int:
        """Wait until queued events are delivered or failed; returns how many are still queued."""
        remaining: int = self._producer.flush(timeout)
        return remaining

    def topic_exists(self, timeout: float = 5.0) -> bool:
        """True when the broker knows the topic.

        Raises
        ------
        KafkaException
            When the broker cannot be reached within ``timeout``.
        """
        md = self._producer.list_topics(self.topic, timeout=timeout)
        meta = md.topics.get(self.topic)
        if meta is None or meta.error is not None:
            if meta is not None and meta.error.code() not in (
                KafkaError.UNKNOWN_TOPIC_OR_PART,
                KafkaError._UNKNOWN_TOPIC,
            ):
                raise KafkaException(meta.error)
            return False
        return True

    def close(self, timeout: float = 30.0) -> int:
        """Flush and stop accepting events; returns how many were left undelivered."""
        if self._closed:
            return 0
        remaining = self.flush(timeout)
        self._closed = True
        return remaining

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        s = self.stats
        return (
            f"EventProducer(topic={self.topic!r}, sent={s.sent}, delivered={s.delivered}, "
            f"failed={s.failed}, invalid={s.invalid})"
        )
