"""Kafka administration: create, grow and describe topics; check that a broker answers.

This is the one place outside the worker that talks to Kafka's admin API (DESIGN.md: only
``streams`` imports Kafka clients). ``tocsin.runtime.topics`` turns the settings into the
:class:`TopicSpec` list that :func:`ensure_topics` applies.

Example
-------
>>> TopicSpec("tocsin.events.v1", 4, 1, {"retention.ms": "3600000"}).partitions
4
>>> broker_ready("127.0.0.1:1", timeout=0.1)
False
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.localhost import LOCALHOST, port_open


class TopicError(RuntimeError):
    """A topic could not be created or does not match what tocsin needs."""


@dataclass(frozen=True)
class TopicSpec:
    """One topic: name, partitions, replication and configuration."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


def ensure_topics(
    bootstrap_servers: str, specs: list[TopicSpec], timeout: float = 30.0
) -> dict[str, str]:
    """Create missing topics and grow partition counts; returns name -> what was done.

    Outcomes: ``created``, ``exists``, ``partitions increased to N``. A topic with more
    partitions than asked is left alone (Kafka cannot shrink one).

    Raises
    ------
    TopicError
        The broker refused a creation, or did not answer within ``timeout``.
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

    # Keep the reference until every future resolved: a temporary AdminClient is destroyed
    # under its futures, which then fail with _DESTROY (STACK.md).
    admin: Any = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise TopicError(
            f"cannot list topics on {bootstrap_servers}: {exc}; is the broker running?"
        ) from exc
    outcome: dict[str, str] = {}
    missing = [s for s in specs if s.name not in metadata.topics]
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(
                    s.name,
                    num_partitions=s.partitions,
                    replication_factor=s.replication_factor,
                    config=s.config,
                )
                for s in missing
            ],
            operation_timeout=timeout,
            request_timeout=timeout,
        )
        for name, future in futures.items():
            try:
                future.result(timeout=timeout)
                outcome[name] = "created"
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" in str(exc):
                    outcome[name] = "exists"
                    continue
                raise TopicError(f"cannot create topic {name}: {exc}") from exc
    grow = []
    for s in specs:
        if s.name in outcome:
            continue
        have = len(metadata.topics[s.name].partitions)
        if have < s.partitions:
            grow.append(NewPartitions(s.name, s.partitions))
            outcome[s.name] = f"partitions increased to {s.partitions}"
        else:
            outcome[s.name] = "exists"
    if grow:
        for name, future in admin.create_partitions(grow, request_timeout=timeout).items():
            try:
                future.result(timeout=timeout)
            except KafkaException as exc:
                raise TopicError(f"cannot add partitions to {name}: {exc}") from exc
    return outcome


def describe(bootstrap_servers: str, names: list[str], timeout: float = 10.0) -> dict[str, int]:
    """Topic name -> partition count for those of ``names`` that exist."""
    from confluent_kafka.admin import AdminClient

    admin: Any = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0})
    metadata = admin.list_topics(timeout=timeout)
    return {n: len(metadata.topics[n].partitions) for n in names if n in metadata.topics}


def broker_ready(bootstrap_servers: str, timeout: float = 2.0) -> bool:
    """Whether a Kafka broker answers a metadata request at ``bootstrap_servers``."""
    from confluent_kafka.admin import AdminClient

    host, _, port = bootstrap_servers.rpartition(":")
    if not port_open(host or LOCALHOST, int(port), timeout=0.5):
        return False
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0})
    try:
        return bool(admin.list_topics(timeout=timeout).brokers)
    except Exception:
        # KafkaException while the broker is still starting: not ready yet
        return False
