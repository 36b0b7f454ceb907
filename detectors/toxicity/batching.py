"""Length bucketing, padding, and a micro-batcher for callers that send one text at a time.

Length bucketing sorts a batch by token length and cuts it into runs of ``batch_size``,
each padded only to its own longest text, so short texts do not pay for long ones.

Example
-------
>>> import numpy as np
>>> buckets = length_buckets(np.array([5, 1, 9, 2]), batch_size=2)
>>> [b.tolist() for b in buckets]
[[1, 3], [0, 2]]
>>> pad_batch([np.array([7, 8]), np.array([9])], pad_id=0, side="right")[0].tolist()
[[7, 8], [9, 0]]
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Literal

import numpy as np

__all__ = ["MicroBatcher", "length_buckets", "pad_batch"]


def length_buckets(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Indices grouped into batches of similar length (stable sort, then runs of ``batch_size``).

    >>> [b.tolist() for b in length_buckets(np.array([3, 3, 1]), batch_size=8)]
    [[2, 0, 1]]
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, order.shape[0], batch_size)]


def pad_batch(
    seqs: Sequence[np.ndarray],
    *,
    pad_id: int,
    side: Literal["left", "right"],
    length: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pad id arrays into ``ids [b, L]`` and ``attention_mask [b, L]`` (int64).

    ``L`` is ``length`` when given, else the longest sequence (at least 1, so an all-empty
    batch still has a well-formed shape).

    >>> ids, mask = pad_batch([np.array([4, 5, 6]), np.array([], dtype=np.int64)], pad_id=0, side="left")
    >>> ids.tolist(), mask.tolist()
    ([[4, 5, 6], [0, 0, 0]], [[1, 1, 1], [0, 0, 0]])
    """
    longest = max((s.shape[0] for s in seqs), default=0)
    width = max(1, length if length is not None else longest)
    ids = np.full((len(seqs), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=np.int64)
    for row, s in enumerate(seqs):
        n = min(s.shape[0], width)
        if n == 0:
            continue
        if side == "left":
            ids[row, width - n :] = s[-n:]
            mask[row, width - n :] = 1
        else:
            ids[row, :n] = s[:n]
            mask[row, :n] = 1
    return ids, mask


_Scores = dict[str, float]
_BatchFn = Callable[[Sequence[str]], Mapping[str, np.ndarray]]


class MicroBatcher:
    """Collects single texts into batches of up to ``batch_size`` or ``max_wait_ms``.

    One background thread calls ``score_batch`` (the ONNX session releases the GIL, so an
    asyncio loop in the caller keeps running). :meth:`submit` returns a
    ``concurrent.futures.Future``; :meth:`score` awaits one from asyncio.

    Parameters
    ----------
    score_batch
        ``texts -> {label: scores}``, e.g. :meth:`ToxicityScorer.score_batch`.
    batch_size
        Largest batch handed to ``score_batch``.
    max_wait_ms
        How long the first text of a batch may wait for company.

    Examples
    --------
    >>> def fake(texts):
    ...     return {"toxicity": np.array([len(t) / 10 for t in texts])}
    >>> with MicroBatcher(fake, batch_size=4, max_wait_ms=1) as mb:
    ...     futures = [mb.submit(t) for t in ["a", "bbbbb"]]
    ...     [f.result(timeout=5)["toxicity"] for f in futures]
    [0.1, 0.5]
    """

    def __init__(
        self, score_batch: _BatchFn, *, batch_size: int = 64, max_wait_ms: float = 5.0
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self._score_batch = score_batch
        self.batch_size = batch_size
        self.max_wait_s = max(0.0, max_wait_ms) / 1000.0
        self._queue: queue.Queue[tuple[str, Future[_Scores]] | None] = queue.Queue()
        self._closed = False
        self.batches = 0
        self._thread = threading.Thread(
            target=self._loop, name="toxicity-microbatcher", daemon=True
        )
        self._thread.start()

    def submit(self, text: str) -> Future[_Scores]:
        """Queue one text; the future resolves to ``{label: probability}``."""
        if self._closed:
            raise RuntimeError("MicroBatcher is closed")
        fut: Future[_Scores] = Future()
        self._queue.put((text, fut))
        return fut

    async def score(self, text: str) -> _Scores:
        """Await the scores of one text from asyncio code."""
        return await asyncio.wrap_future(self.submit(text))

    def close(self, timeout: float = 10.0) -> None:
        """Finish queued texts, then stop the thread."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join(timeout)

    def __enter__(self) -> MicroBatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _loop(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            pending = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(pending) < self.batch_size:
                remaining = deadline - time.monotonic()
                try:
                    item = (
                        self._queue.get(timeout=remaining)
                        if remaining > 0
                        else self._queue.get_nowait()
                    )
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                pending.append(item)
            self._run(pending)

    def _run(self, pending: list[tuple[str, Future[_Scores]]]) -> None:
        live = [(t, f) for t, f in pending if f.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            scores = self._score_batch([t for t, _ in live])
        except Exception as e:  # handed to every caller of this batch, not swallowed
            for _, f in live:
                f.set_exception(e)
            return
        self.batches += 1
        for i, (_, f) in enumerate(live):
            f.set_result({label: float(v[i]) for label, v in scores.items()})
