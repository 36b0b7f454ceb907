"""Create and verify tocsin's Kafka topics, with retention capped on every one.

The embedded broker keeps its whole state in one JSON snapshot, so uncapped topics make it
grow without end. ``retention.bytes`` only drops whole segments, so it needs a small
``segment.bytes`` next to it (STACK.md). The worker-state topic is compacted.

Example
-------
>>> from tocsin.settings import TopicSettings
>>> specs = topic_specs(TopicSettings(partitions=2))
>>> [s.name for s in specs][:2], specs[0].partitions
(['tocsin.events.v1', 'tocsin.dlq.v1'], 2)
>>> specs[0].config["cleanup.policy"], specs[-1].config["cleanup.policy"]
('delete', 'compact')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tocsin.settings import TopicSettings


class TopicError(RuntimeError):
    """A topic could not be created or does not match what tocsin needs."""


@dataclass(frozen=True)
class TopicSpec:
    """One topic: name, partitions, replication and configuration."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


def topic_specs(topics: TopicSettings) -> list[TopicSpec]:
    """The topics tocsin uses, from the settings."""
    capped = {
        "cleanup.policy": "delete",
        "retention.ms": str(topics.retention_ms),
        "retention.bytes": str(topics.retention_bytes),
        "segment.bytes": str(topics.segment_bytes),
    }
    specs = [
        TopicSpec(name, topics.partitions, topics.replication_factor, dict(capped))
        for name in topics.as_dict().values()
    ]
    specs.append(
        TopicSpec(
            topics.state,
            topics.partitions,
            topics.replication_factor,
            {"cleanup.policy": "compact", "segment.bytes": str(topics.segment_bytes)},
        )
    )
    return specs


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
