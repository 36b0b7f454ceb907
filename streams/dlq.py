"""Dead letters: what the monitor worker could not read, kept with its original bytes.

A message that cannot be decoded is not dropped and does not stop the stream
(DESIGN.md convention 2). It becomes a :class:`DeadLetter`, which is written twice:

* to the DLQ topic, as the **original** key, value and headers, plus ``tocsin.dlq.*``
  headers saying why and where it came from, so it can be inspected or replayed with
  any Kafka tool;
* to the ``dead_letters`` table, as one row, so ``tocsin sql`` shows it next to the events.

A range of offsets the worker never read (deleted by retention while the worker was
behind) is recorded the same way with reason ``skipped_range``, so data is never lost
quietly (STACK.md, "Live rates and retention").

Example
-------
>>> dl = DeadLetter.from_message(
...     topic="tocsin.events.v1", partition=2, offset=41, key=b"k", value=b"\\x07junk",
...     headers=[("trace", b"abc")], reason="bad_magic_byte", detail="first byte 0x07",
...     now_ms=1_700_000_000_000)
>>> [name for name, _ in dl.kafka_headers()][1:]
['tocsin.dlq.reason', 'tocsin.dlq.detail', 'tocsin.dlq.topic', 'tocsin.dlq.partition', 'tocsin.dlq.offset', 'tocsin.dlq.ts']
>>> dl.row()["reason"], dl.row()["kafka_offset"]
('bad_magic_byte', 41)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Prefix of the headers the DLQ adds to the original ones.
DLQ_HEADER_PREFIX = "tocsin.dlq."

#: Reason used for offsets that retention deleted before the worker read them.
SKIPPED_RANGE = "skipped_range"

#: Longest ``detail`` kept; details come from decoders and may quote parts of the input.
MAX_DETAIL_CHARS = 1000

Headers = list[tuple[str, bytes]]


def normalize_headers(headers: Iterable[tuple[str, Any]] | None) -> Headers:
    """Return Kafka headers as a list of ``(str, bytes)`` pairs.

    confluent-kafka gives ``None`` when a record has no headers and ``None`` values for
    headers without a value; both are kept as empty bytes so the DLQ record is well formed.

    >>> normalize_headers([("a", b"1"), ("b", None), ("c", "x")])
    [('a', b'1'), ('b', b''), ('c', b'x')]
    >>> normalize_headers(None)
    []
    """
    out: Headers = []
    for name, value in headers or ():
        if value is None:
            out.append((name, b""))
        elif isinstance(value, str):
            out.append((name, value.encode()))
        else:
            out.append((name, bytes(value)))
    return out


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record (or one skipped range) the worker could not turn into an event.

    Parameters
    ----------
    topic, partition, offset
        Where the record was read from. For a skipped range, ``offset`` is the first
        missing offset and ``detail`` names the range.
    key, value
        The original bytes, unchanged (``value`` is empty for a skipped range).
    headers
        The original headers, unchanged.
    reason
        A short machine-readable reason (``bad_magic_byte``, ``unknown_schema_id``,
        ``too_large``, ``skipped_range``, ...).
    detail
        A human-readable explanation, capped at :data:`MAX_DETAIL_CHARS`.
    ts_ms
        When the worker dead-lettered it (milliseconds since the epoch, UTC).

    Examples
    --------
    >>> DeadLetter.skipped_range("t", 0, 100, 250, now_ms=0).detail
    'offsets 100..249 (150 messages) of t[0] were deleted by retention before the worker read them'
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Headers
    reason: str
    detail: str
    ts_ms: int
    message_ts_ms: int | None = None
    schema_id: int | None = None
    worker_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_message(
        cls,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: Iterable[tuple[str, Any]] | None,
        reason: str,
        detail: str,
        message_ts_ms: int | None = None,
        schema_id: int | None = None,
        worker_id: str | None = None,
        now_ms: int | None = None,
    ) -> DeadLetter:
        """Build a dead letter from the parts of a consumed record."""
        return cls(
            topic=topic,
            partition=partition,
            offset=offset,
            key=key,
            value=value if value is not None else b"",
            headers=normalize_headers(headers),
            reason=reason,
            detail=detail[:MAX_DETAIL_CHARS],
            ts_ms=int(time.time() * 1000) if now_ms is None else now_ms,
            message_ts_ms=message_ts_ms,
            schema_id=schema_id,
            worker_id=worker_id,
        )

    @classmethod
    def skipped_range(
        cls,
        topic: str,
        partition: int,
        first: int,
        end: int,
        *,
        worker_id: str | None = None,
        now_ms: int | None = None,
    ) -> DeadLetter:
        """A dead letter for offsets ``first .. end-1`` that were deleted before being read."""
        count = end - first
        detail = (
            f"offsets {first}..{end - 1} ({count} messages) of {topic}[{partition}] "
            "were deleted by retention before the worker read them"
        )
        return cls(
            topic=topic,
            partition=partition,
            offset=first,
            key=None,
            value=b"",
            headers=[],
            reason=SKIPPED_RANGE,
            detail=detail,
            ts_ms=int(time.time() * 1000) if now_ms is None else now_ms,
            worker_id=worker_id,
            extra={"skipped_end": str(end)},
        )

    def kafka_headers(self) -> Headers:
        """The original headers followed by the ``tocsin.dlq.*`` ones."""
        p = DLQ_HEADER_PREFIX
        added: Headers = [
            (p + "reason", self.reason.encode()),
            (p + "detail", self.detail.encode()),
            (p + "topic", self.topic.encode()),
            (p + "partition", str(self.partition).encode()),
            (p + "offset", str(self.offset).encode()),
            (p + "ts", str(self.ts_ms).encode()),
        ]
        if self.schema_id is not None:
            added.append((p + "schema_id", str(self.schema_id).encode()))
        if self.worker_id:
            added.append((p + "worker_id", self.worker_id.encode()))
        added.extend((p + k, v.encode()) for k, v in self.extra.items())
        return [*self.headers, *added]

    def row(self) -> dict[str, Any]:
        """The ``dead_letters`` table row for this dead letter (column name -> value).

        ``key``/``value`` and the original header values stay raw bytes (ClickHouse
        ``String`` holds bytes); a header name repeated in the record keeps its last value.
        Reason, detail and position have their own columns.
        """
        return {
            "topic": self.topic,
            "kafka_partition": self.partition,
            "kafka_offset": self.offset,
            "key": self.key,
            "value": self.value,
            "headers": dict(self.headers),
            "reason": self.reason,
            "detail": self.detail,
            "schema_id": self.schema_id,
        }


def dlq_rows(
    letters: Sequence[DeadLetter], mask: Callable[[bytes], bytes] | None = None
) -> list[dict[str, Any]]:
    """Rows for ``EventWriter.insert_dead_letters``.

    ``mask`` (the worker passes the PII detector's byte masking unless ``pii.store_raw``)
    is applied to the key, the value and the header values: the table is for analysts, the
    DLQ topic keeps the original bytes for replays.

    >>> dlq_rows([DeadLetter.skipped_range("t", 1, 5, 6, now_ms=0)])[0]["reason"]
    'skipped_range'
    >>> dl = DeadLetter("t", 0, 1, b"k", b"x@y.example", [], "bad_magic", "", 0)
    >>> row = dlq_rows([dl], lambda b: b.replace(b"x", b"*"))[0]
    >>> row["value"], row["key"]
    (b'*@y.e*ample', b'k')
    """
    rows = [dl.row() for dl in letters]
    if mask is not None:
        for row in rows:
            if row["key"] is not None:
                row["key"] = mask(row["key"])
            row["value"] = mask(row["value"])
            row["headers"] = {name: mask(value) for name, value in row["headers"].items()}
    return rows
