"""The inference event's columns and field rules: event time in epoch milliseconds,
UUID event ids, value ranges (:func:`field_problem`). Shared by the decoder and the encoder.

Example
-------
>>> to_epoch_ms("2026-01-01T00:00:00Z")
1767225600000
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

EVENT_SCHEMA_NAME = "inference_event"
EVENT_SCHEMA_ID = 1001  # inference_event v1 in schemas/manifest.json

#: Columns of a decoded batch, in the order of the ClickHouse ``events`` table.
EVENT_COLUMNS: tuple[str, ...] = (
    "event_id",
    "ts",
    "service",
    "deployment",
    "track",
    "model",
    "model_version",
    "trace_id",
    "prompt",
    "response",
    "status",
    "error_type",
    "latency_ms",
    "ttft_ms",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "user_hash",
    "features",
    "attributes",
    "schema_id",
)

#: Earliest accepted event time (2000-01-01T00:00:00Z): catches seconds passed as ms.
MIN_TS_MS = 946_684_800_000
#: Latest accepted event time relative to the wall clock: producer clock skew allowance.
DEFAULT_MAX_FUTURE_MS = 24 * 3600 * 1000
#: Latencies above a day are not requests but bugs (units mix-ups).
MAX_LATENCY_MS = 24 * 3600 * 1000.0
#: Longest accepted service / deployment / model name.
MAX_NAME_CHARS = 256

_UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_uuid_match = _UUID_RE.fullmatch
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_INF = math.inf


def to_epoch_ms(value: Any, field_name: str = "ts") -> int:
    """Epoch milliseconds from an int (ms), a datetime or an ISO-8601 string.

    Naive datetimes and ISO strings without an offset are taken as UTC.

    >>> to_epoch_ms(1767225600000)
    1767225600000
    >>> to_epoch_ms("2026-01-01T00:00:00Z"), to_epoch_ms("2026-01-01T01:00:00+01:00")
    (1767225600000, 1767225600000)
    >>> to_epoch_ms(datetime(2026, 1, 1, tzinfo=UTC))
    1767225600000
    >>> to_epoch_ms("yesterday")
    Traceback (most recent call last):
    ...
    ValueError: ts: 'yesterday' is not ISO-8601 (e.g. 2026-01-01T12:00:00Z) nor epoch milliseconds
    """
    if isinstance(value, bool):
        raise ValueError(f"{field_name}: expected epoch milliseconds, a datetime or ISO-8601")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{field_name}: {value} is not a finite time")
        return round(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return (value - _EPOCH) // _MS
    if isinstance(value, date):
        return (datetime(value.year, value.month, value.day, tzinfo=UTC) - _EPOCH) // _MS
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            shown = text if len(text) <= 40 else text[:40] + "..."
            raise ValueError(
                f"{field_name}: {shown!r} is not ISO-8601 (e.g. 2026-01-01T12:00:00Z) "
                "nor epoch milliseconds"
            ) from None
        return to_epoch_ms(parsed, field_name)
    raise ValueError(
        f"{field_name}: expected epoch milliseconds, a datetime or ISO-8601, "
        f"got {type(value).__name__}"
    )


def random_uuid4() -> str:
    """A random (version 4) UUID as text; ~3x faster than ``str(uuid.uuid4())``.

    >>> import uuid
    >>> u = uuid.UUID(random_uuid4())
    >>> u.version, u.variant == uuid.RFC_4122
    (4, True)
    """
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def _ms_to_iso(ms: int) -> str:
    try:
        return (_EPOCH + ms * _MS).strftime("%Y-%m-%dT%H:%M:%SZ")
    except OverflowError:
        return "out of range"


def field_problem(rec: Mapping[str, Any], now_ms: int, max_future_ms: int) -> str | None:
    """Semantic check of one inference event; ``"field: why"`` or None when it is fine.

    Shared by the encoder and the decoder so both accept exactly the same events. Types are
    Avro's job; this checks values.

    >>> field_problem({"event_id": "nope"}, 0, 0)
    "event_id: 'nope' is not a UUID (e.g. 2b1f8a9e-3c4d-4e5f-8a6b-7c8d9e0f1a2b)"
    """
    eid = rec["event_id"]
    if type(eid) is not str or _uuid_match(eid) is None:
        shown = repr(eid) if type(eid) is not str or len(eid) <= 40 else repr(eid[:40] + "...")
        return f"event_id: {shown} is not a UUID (e.g. 2b1f8a9e-3c4d-4e5f-8a6b-7c8d9e0f1a2b)"
    ts = rec["ts"]
    if not MIN_TS_MS <= ts <= now_ms + max_future_ms:
        if ts < MIN_TS_MS:
            hint = " (did you pass seconds instead of milliseconds?)" if ts > 0 else ""
            return f"ts: {ts} ({_ms_to_iso(ts)}) is before 2000-01-01{hint}"
        return f"ts: {ts} ({_ms_to_iso(ts)}) is more than {max_future_ms} ms in the future"
    for name in ("service", "deployment", "model"):
        v = rec[name]
        if not v or len(v) > MAX_NAME_CHARS or v.isspace():
            return f"{name}: must be a non-blank string of at most {MAX_NAME_CHARS} characters"
    lat = rec["latency_ms"]
    if not 0.0 <= lat <= MAX_LATENCY_MS:
        return f"latency_ms: {lat} is not between 0 and {MAX_LATENCY_MS:.0f} (one day)"
    v = rec["ttft_ms"]
    if v is not None and not 0.0 <= v <= MAX_LATENCY_MS:
        return f"ttft_ms: {v} is not between 0 and {MAX_LATENCY_MS:.0f} (one day)"
    v = rec["tokens_in"]
    if v is not None and v < 0:
        return f"tokens_in: {v} is negative"
    v = rec["tokens_out"]
    if v is not None and v < 0:
        return f"tokens_out: {v} is negative"
    v = rec["cost_usd"]
    if v is not None and not 0.0 <= v < _INF:
        return f"cost_usd: {v} is not a finite amount >= 0"
    return None
