"""Leaving a consumer group as a static member, so that a clean stop hands partitions over.

A consumer with ``group.instance.id`` (static membership) does not send LeaveGroup when it
closes (KIP-345): Kafka keeps its partitions for ``session.timeout.ms`` so that a restart
under the same id gets them back without a rebalance, and only then gives them to the
others. The embedded broker (noida-db) never evicts a static member at all, so a worker
stopped on purpose would keep its partitions forever. :func:`leave_group` removes the
member explicitly (LeaveGroup with its member id, as ``kafka-consumer-groups
--remove-members`` does), which starts the rebalance at once on either broker.

Example
-------
>>> import asyncio
>>> asyncio.run(leave_group("127.0.0.1:1", "tocsin-monitor", "worker-9", timeout_s=0.5))
0
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("tocsin.membership")


def static_member_ids(
    bootstrap: str, group_id: str, instance_id: str, timeout_s: float
) -> list[str]:
    """Member ids of ``group_id`` whose static instance id is ``instance_id``."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    futures = admin.describe_consumer_groups([group_id], request_timeout=timeout_s)
    description = futures[group_id].result(timeout=timeout_s)
    return [m.member_id for m in description.members if m.group_instance_id == instance_id]


async def leave_group(
    bootstrap: str, group_id: str, instance_id: str, *, timeout_s: float = 10.0
) -> int:
    """Remove the static member ``instance_id`` from ``group_id``; returns how many members
    were removed. Best effort: failures are logged, never raised (a real Kafka evicts the
    member after ``session.timeout.ms`` anyway)."""
    from aiokafka.client import AIOKafkaClient, CoordinationType
    from aiokafka.protocol.group import LeaveGroupRequest

    try:
        members = await asyncio.wait_for(
            asyncio.to_thread(static_member_ids, bootstrap, group_id, instance_id, timeout_s),
            timeout_s,
        )
    except Exception as exc:  # best effort: the broker may be gone already
        log.warning("leave %s: cannot describe the group (%s)", group_id, exc)
        return 0
    if not members:
        return 0
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    removed = 0
    try:
        await asyncio.wait_for(client.bootstrap(), timeout_s)
        node = await asyncio.wait_for(
            client.coordinator_lookup(CoordinationType.GROUP, group_id), timeout_s
        )
        for member_id in members:
            response = await client.send(node, LeaveGroupRequest(group_id, member_id))
            if response.error_code == 0:
                removed += 1
            else:
                log.warning("leave %s: error code %d", group_id, response.error_code)
    except Exception as exc:  # best effort, as above
        log.warning("leave %s: %s", group_id, exc)
    finally:
        await client.close()
    if removed:
        log.warning("%s left consumer group %s", instance_id, group_id)
    return removed
