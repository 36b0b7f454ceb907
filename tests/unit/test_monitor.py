"""Pure parts of the batch consumer: DLQ window, offsets, backoff, and the loop's ordering.

The loop tests drive :class:`BatchMonitor` with in-memory stand-ins for the consumer, the
decoder and the writer; the real broker and chdb are exercised in
``tests/integration/test_ingest*.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from streams.monitor import (
    Backoff,
    BatchMonitor,
    DlqLimitExceeded,
    DlqRatioWindow,
    MonitorConfig,
    OffsetTracker,
    Pipeline,
    SinkFailed,
    consumer_config,
)

# ----------------------------------------------------------------------------- window


def test_window_waits_for_min_messages() -> None:
    w = DlqRatioWindow(max_ratio=0.5, min_messages=10)
    w.update(np.ones(9, dtype=bool))
    assert not w.exceeded and not w.full
    w.update(np.zeros(1, dtype=bool))
    assert w.full and w.exceeded  # 9 of 10


def test_window_is_sliding_not_cumulative() -> None:
    w = DlqRatioWindow(max_ratio=0.5, min_messages=10)
    w.update(np.ones(10, dtype=bool))
    assert w.exceeded
    w.update(np.zeros(6, dtype=bool))  # window: 4 bad, 6 good
    assert w.ratio == pytest.approx(0.4)
    assert not w.exceeded


def test_window_wraps_around_the_ring() -> None:
    w = DlqRatioWindow(max_ratio=0.5, min_messages=5)
    w.update(np.array([0, 0, 0], dtype=bool))
    w.update(np.array([1, 1, 1, 1], dtype=bool))  # wraps: window = [0, 1, 1, 1, 1]
    assert w.ratio == pytest.approx(0.8)
    assert w.exceeded


def test_exactly_at_limit_is_not_exceeded() -> None:
    w = DlqRatioWindow(max_ratio=0.5, min_messages=4)
    w.update(np.array([1, 0, 1, 0], dtype=bool))
    assert w.ratio == 0.5 and not w.exceeded


def test_a_large_batch_mostly_bad_trips_even_if_its_tail_is_good() -> None:
    w = DlqRatioWindow(max_ratio=0.5, min_messages=4)
    flags = np.array([1] * 90 + [0] * 10, dtype=bool)
    assert w.update(flags).exceeded
    assert w.ratio == 0.0  # the window itself holds the good tail


@pytest.mark.parametrize("ratio,n", [(0.0, 10), (1.5, 10), (0.5, 0)])
def test_window_rejects_bad_parameters(ratio: float, n: int) -> None:
    with pytest.raises(ValueError):
        DlqRatioWindow(ratio, n)


# ----------------------------------------------------------------------------- offsets


def test_offsets_advance_to_max_plus_one_per_partition() -> None:
    t = OffsetTracker()
    t.advance([("e", 0, 5), ("e", 0, 3), ("e", 2, 9)])
    assert t.pending() == {("e", 0): 6, ("e", 2): 10}
    assert t.uncommitted_messages == 3
    assert t.pending(only={("e", 2)}) == {("e", 2): 10}


def test_offsets_committed_then_advanced_again() -> None:
    t = OffsetTracker()
    t.advance([("e", 0, 5)])
    t.mark_committed({("e", 0): 6})
    assert t.pending() == {} and t.uncommitted_messages == 0
    t.advance([("e", 0, 6)])
    assert t.pending() == {("e", 0): 7}


def test_backoff_is_capped() -> None:
    assert list(Backoff(1.0, 5.0).delays(5)) == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_consumer_config_has_the_pitfall_settings() -> None:
    c = consumer_config("127.0.0.1:1", "grp", "worker-3")
    assert c["group.instance.id"] == "worker-3"
    assert c["enable.auto.commit"] is False
    assert c["auto.offset.reset"] == "earliest"
    assert c["receive.message.max.bytes"] == 2147483647


# ----------------------------------------------------------------------------- the loop


@dataclass
class Msg:
    _value: bytes
    _offset: int
    _partition: int = 0
    _topic: str = "ev"

    def error(self) -> None:
        return None

    def value(self) -> bytes:
        return self._value

    def key(self) -> bytes | None:
        return None

    def headers(self) -> list[tuple[str, bytes]]:
        return [("h", b"1")]

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (1, 1000)


@dataclass
class Stub:
    """A consumer + producer stand-in recording calls; batches are handed out in order."""

    batches: list[list[Msg]]
    commits: list[dict[tuple[str, int], int]] = field(default_factory=list)
    produced: list[tuple[bytes, list[tuple[str, bytes]]]] = field(default_factory=list)
    paused: int = 0
    resumed: int = 0
    consume_calls: list[int] = field(default_factory=list)
    _linger_next: bool = False  # the next call is the linger after a batch's first record
    _done: bool = False  # the first call took the whole batch

    def consume(self, num_messages: int, timeout: float) -> list[Msg]:
        """Up to ``num_messages`` of the current batch; a batch never runs into the next
        (the worker's linger call after a batch's first record gets only that batch)."""
        self.consume_calls.append(num_messages)
        linger, self._linger_next = self._linger_next, False
        if linger and self._done:
            self._done = False
            return []
        if not self.batches:
            return []
        head = self.batches.pop(0)
        out, rest = head[:num_messages], head[num_messages:]
        if rest:
            self.batches.insert(0, rest)
        self._done = not rest
        self._linger_next = not linger and bool(out)
        return out

    def commit(self, offsets: list[Any], asynchronous: bool) -> list[Any]:
        self.commits.append({(tp.topic, tp.partition): tp.offset for tp in offsets})
        return offsets

    def assignment(self) -> list[str]:
        return ["p0"]

    def pause(self, parts: list[Any]) -> None:
        self.paused += 1

    def resume(self, parts: list[Any]) -> None:
        self.resumed += 1

    def get_watermark_offsets(self, tp: Any, **kw: Any) -> tuple[int, int]:
        return (0, 100)

    def produce(self, topic: str, value: bytes, key: Any, headers: Any, on_delivery: Any) -> None:
        self.produced.append((value, headers))

    def flush(self, timeout: float) -> int:
        return 0


@dataclass
class Decoded:
    columns: dict[str, list[Any]]
    good_index: list[int]
    invalid: list[tuple[int, Any]]


@dataclass
class Bad:
    reason: str
    detail: str


class BytesDecoder:
    """Values starting with b'ok' are events; anything else is invalid."""

    def decode_batch(self, raw: Sequence[bytes | None]) -> Decoded:
        values = [v or b"" for v in raw]
        good = [i for i, v in enumerate(values) if v.startswith(b"ok")]
        bad = [(i, Bad("bad_magic_byte", "x")) for i, v in enumerate(values) if i not in good]
        return Decoded({"event_id": [values[i].decode() for i in good]}, good, bad)


class Down(Exception):
    pass


@dataclass
class Writer:
    fail_first: int = 0
    fatal: bool = False
    events: list[str] = field(default_factory=list)
    letters: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[str | None] = field(default_factory=list)

    def insert_events(
        self, columns: dict[str, list[Any]], *, dedup_token: str | None = None
    ) -> int:
        self.tokens.append(dedup_token)
        if self.fatal:
            raise ValueError("Code: 60. Unknown table")
        if self.fail_first:
            self.fail_first -= 1
            raise Down("connection refused")
        self.events.extend(columns["event_id"])
        return len(columns["event_id"])

    def insert_dead_letters(self, rows: list[dict[str, Any]]) -> int:
        self.letters.extend(rows)
        return len(rows)


def _monitor(stub: Stub, writer: Writer, **cfg: Any) -> BatchMonitor:
    config = MonitorConfig(
        events_topic="ev",
        dlq_topic="dlq",
        commit_interval_s=0,
        insert_retry_initial_s=0.001,
        insert_retry_max_s=0.002,
        **cfg,
    )
    mon = BatchMonitor(stub, stub, BytesDecoder(), writer, config, retryable=(Down,))
    mon._assigned = {("ev", 0), ("ev", 1)}
    return mon


def test_the_first_batch_knows_the_backlog_behind_it_before_its_stages_run() -> None:
    # The toxicity sampler's cold start needs the backlog behind the first batch; later
    # batches use the lag measured after the previous one (what arrived meanwhile).
    seen: list[int] = []

    class LagProbe:
        name = "probe"

        def process(self, batch: Any) -> Any:
            seen.append(mon.metrics.lag)
            return batch

    stub = Stub([[Msg(b"ok-1", 0), Msg(b"ok-2", 1)], [Msg(b"ok-3", 2)]])
    mon = _monitor(stub, Writer())
    mon.pipeline = Pipeline([LagProbe()])
    mon.step()
    mon.step()
    assert seen == [98, 98]  # high watermark 100, last offset 1; then from the first batch
    assert mon.metrics.lag == 97


def test_good_and_bad_are_written_then_committed() -> None:
    stub = Stub([[Msg(b"ok-1", 0), Msg(b"\x07junk", 1), Msg(b"ok-2", 2, 1)]])
    writer = Writer()
    mon = _monitor(stub, writer, dlq_min_messages=100)
    assert mon.step() == 3
    assert writer.events == ["ok-1", "ok-2"]
    assert [r["kafka_offset"] for r in writer.letters] == [1]
    assert stub.produced[0][0] == b"\x07junk"
    assert ("h", b"1") in stub.produced[0][1]
    assert stub.commits == [{("ev", 0): 2, ("ev", 1): 3}]
    assert mon.metrics.snapshot()["dead_lettered"] == 1


def test_a_batch_starts_at_its_first_record_and_lingers_for_the_rest() -> None:
    # The first record is awaited with the poll timeout; the rest (up to batch_size) only
    # within the linger: a batch below batch_size must not wait the whole poll timeout.
    stub = Stub([[Msg(b"ok-1", 0), Msg(b"ok-2", 1), Msg(b"ok-3", 2)], [Msg(b"ok-4", 3)]])
    writer = Writer()
    mon = _monitor(stub, writer, batch_size=10, poll_timeout_s=0.5, linger_s=0.05)
    assert mon.step() == 3
    assert mon.step() == 1
    assert mon.step() == 0  # nothing: no linger call after an empty wait
    assert stub.consume_calls == [1, 9, 1, 9, 1]
    assert writer.events == ["ok-1", "ok-2", "ok-3", "ok-4"]


def test_retryable_write_is_retried_until_it_lands_without_loss() -> None:
    stub = Stub([[Msg(b"ok-1", 0), Msg(b"ok-2", 1)]])
    writer = Writer(fail_first=3)
    mon = _monitor(stub, writer)
    mon.step()
    assert writer.events == ["ok-1", "ok-2"]
    assert mon.metrics.write_retries == 3 and not mon.metrics.paused
    assert stub.commits == [{("ev", 0): 2}]


def test_stop_during_retries_abandons_the_batch_without_commit() -> None:
    stub = Stub([[Msg(b"ok-1", 0)]])
    writer = Writer(fail_first=10**6)
    mon = _monitor(stub, writer)
    stub.close = lambda: None  # type: ignore[attr-defined]
    stub.subscribe = lambda *a, **k: None  # type: ignore[attr-defined]
    threading.Timer(0.05, mon.stop).start()
    mon.run()
    assert writer.events == [] and stub.commits == []
    assert mon.metrics.write_retries >= 1


def test_permanent_write_error_stops_without_commit() -> None:
    stub = Stub([[Msg(b"ok-1", 0)]])
    mon = _monitor(stub, Writer(fatal=True))
    with pytest.raises(SinkFailed) as err:
        mon.step()
    assert err.value.exit_code == 4
    assert "Unknown table" in str(err.value)
    assert stub.commits == []


def test_dlq_limit_stops_before_writing_and_committing() -> None:
    stub = Stub([[Msg(b"ok", 0)] + [Msg(b"bad", i) for i in range(1, 10)]])
    writer = Writer()
    mon = _monitor(stub, writer, dlq_min_messages=5, dlq_max_ratio=0.5)
    with pytest.raises(DlqLimitExceeded, match="DLQ limit exceeded"):
        mon.step()
    assert writer.events == [] and writer.letters == [] and stub.commits == []


def test_commit_skips_partitions_no_longer_assigned() -> None:
    stub = Stub([[Msg(b"ok-a", 0, 0), Msg(b"ok-b", 0, 1)]])
    mon = _monitor(stub, Writer())
    mon._assigned = {("ev", 1)}
    mon.step()
    assert stub.commits == [{("ev", 1): 1}]


def test_pipeline_stage_sees_the_batch_before_the_write() -> None:
    class Redact:
        name = "redact"

        def process(self, batch: Decoded) -> Decoded:
            batch.columns["event_id"] = ["<redacted>" for _ in batch.columns["event_id"]]
            return batch

    stub = Stub([[Msg(b"ok-secret", 0)]])
    writer = Writer()
    mon = _monitor(stub, writer)
    mon.pipeline = Pipeline([Redact()])
    mon.step()
    assert writer.events == ["<redacted>"]


def test_pii_stage_redacts_with_the_real_detector_and_fills_verdict_columns() -> None:
    from detectors.pii import PiiDetector
    from streams.monitor import PiiRedactionStage

    batch = Decoded(
        {
            "event_id": ["a", "b", "c"],
            "prompt": ["write to jane.doe@example.com", None, "nothing here"],
            "response": ["ssn 536-90-4399 and ip 10.0.0.1", "fine", None],
        },
        [0, 1, 2],
        [],
    )
    cols = PiiRedactionStage(PiiDetector()).process(batch).columns
    assert "jane.doe@example.com" not in cols["prompt"][0]
    assert "536-90-4399" not in cols["response"][0]
    assert cols["prompt"][1] is None and cols["response"][2] is None
    assert cols["pii_types"] == [["EMAIL_ADDRESS", "IP_ADDRESS", "US_SSN"], [], []]
    assert cols["pii_count"] == [3, 0, 0]
    assert cols["response_pii_count"] == [2, 0, 0]  # the e-mail was in the prompt


def test_pii_stage_store_raw_keeps_text_but_counts() -> None:
    from detectors.pii import PiiDetector
    from streams.monitor import PiiRedactionStage

    batch = Decoded({"prompt": ["mail jane.doe@example.com"], "response": [None]}, [0], [])
    cols = PiiRedactionStage(PiiDetector(), redact=False).process(batch).columns
    assert cols["prompt"] == ["mail jane.doe@example.com"]
    assert cols["pii_types"] == [["EMAIL_ADDRESS"]]


def test_toxicity_stage_scores_responses_with_the_default_bundle() -> None:
    from detectors.toxicity import ToxicityScorer
    from streams.monitor import ToxicityStage

    batch = Decoded(
        {
            "event_id": ["a", "b", "c", "d"],
            "response": [
                "You are a worthless idiot and I hope you die.",
                None,
                "Here is the summary of the quarterly report you asked for.",
                "",
            ],
        },
        [0, 1, 2, 3],
        [],
    )
    cols = ToxicityStage(ToxicityScorer(), batch_size=2).process(batch).columns
    toxic, missing, benign, empty = cols["toxicity"]
    assert missing is None and empty is None
    assert toxic is not None and benign is not None
    assert toxic > 0.5 > benign


def test_default_pipeline_scores_before_redacting() -> None:
    from streams.app import default_pipeline
    from tocsin.settings import Settings

    assert default_pipeline(Settings()).names == ["toxicity", "pii", "judging"]
    assert default_pipeline(Settings(toxicity={"enabled": False})).names == ["pii", "judging"]
