"""Test-only crash points on the worker's commit path (fault injection, off by default).

Commit-after-write can only be tested end to end by dying exactly between the two steps: a
kill -9 from outside lands wherever the worker happens to be (usually scoring). The batch
consumer calls :func:`reached` at two places:

``after_insert``
    a batch is in ClickHouse, its offsets are not committed yet: a restart must replay it
    (no loss; the duplicates are removed by ``event_id``);
``after_commit``
    offsets were committed, the next batch is not inserted yet: everything committed must
    already be stored (no loss).

The worker arms one point at start-up from ``settings.faults`` (``TOCSIN_FAULTS__CRASH_AT``,
``TOCSIN_FAULTS__CRASH_AFTER``); when armed, the process sends itself SIGKILL the
``crash_after``-th time the point is reached. Unarmed, :func:`reached` is one comparison.

Examples
--------
>>> arm("")                 # off: nothing happens
>>> reached("after_insert")
>>> arm("after_commit", after=2)
>>> reached("after_insert")  # another point: nothing happens
>>> arm("")
"""

from __future__ import annotations

import os
import signal

__all__ = ["POINTS", "arm", "reached"]

POINTS: tuple[str, ...] = ("after_insert", "after_commit")

_armed: str = ""
_after = 1
_hits = 0


def arm(point: str, after: int = 1) -> None:
    """Kill this process the ``after``-th time ``point`` is reached; ``""`` disarms.

    >>> arm("before_lunch")
    Traceback (most recent call last):
    ...
    ValueError: unknown crash point 'before_lunch': use one of after_insert, after_commit
    """
    global _armed, _after, _hits
    if point and point not in POINTS:
        raise ValueError(f"unknown crash point {point!r}: use one of {', '.join(POINTS)}")
    if after < 1:
        raise ValueError(f"after must be >= 1, got {after}")
    _armed, _after, _hits = point, after, 0


def reached(point: str) -> None:
    """Called by the worker at ``point``; dies there when that point is armed and due."""
    global _hits
    if point != _armed:
        return
    _hits += 1
    if _hits >= _after:
        os.kill(os.getpid(), signal.SIGKILL)
