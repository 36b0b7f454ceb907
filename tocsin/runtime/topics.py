"""tocsin's topics from the settings, with retention capped on every one.

The embedded broker keeps its whole state in one JSON snapshot, so uncapped topics make it
grow without end. ``retention.bytes`` only drops whole segments, so it needs a small
``segment.bytes`` next to it (STACK.md). The worker-state topic is compacted. Creating them
is :func:`streams.topics.ensure_topics`.

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

from streams.topics import TopicSpec
from tocsin.settings import TopicSettings


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
