"""Retryable vs permanent: the one place where sinks classify their errors.

Every sink (ClickHouse, Slack, PagerDuty, webhooks) raises :class:`RetryableError` for
failures that may pass on their own (network, timeouts, overload, HTTP 429/5xx) and
:class:`PermanentError` for those that will fail the same way again (bad SQL, schema
mismatch, HTTP 4xx). Callers retry the first kind with :func:`retry_call` and stop,
dead-letter or page on the second.

Example
-------
>>> classify(TimeoutError("read timed out")).__name__
'RetryableError'
>>> classify(ValueError("Code: 60. DB::Exception: Unknown table")).__name__
'PermanentError'
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# ClickHouse server error codes that describe a transient state of the server or the link.
RETRYABLE_CLICKHOUSE_CODES: frozenset[int] = frozenset(
    {
        3,  # UNEXPECTED_END_OF_FILE
        32,  # ATTEMPT_TO_READ_AFTER_EOF
        159,  # TIMEOUT_EXCEEDED
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        236,  # ABORTED
        241,  # MEMORY_LIMIT_EXCEEDED
        242,  # TABLE_IS_READ_ONLY (replica lost its Keeper session)
        252,  # TOO_MANY_PARTS
        285,  # TOO_FEW_LIVE_REPLICAS
        319,  # UNKNOWN_STATUS_OF_INSERT
        394,  # QUERY_WAS_CANCELLED
        425,  # SYSTEM_ERROR
        999,  # KEEPER_EXCEPTION
    }
)
RETRYABLE_HTTP_STATUS: frozenset[int] = frozenset({408, 425, 429, 500, 502, 503, 504})

_CODE_RE = re.compile(r"\bCode:\s*(\d+)")
_STATUS_RE = re.compile(r"\bHTTP(?: status)?(?: code)?[:\s]+(\d{3})\b", re.IGNORECASE)


class SinkError(Exception):
    """Base of the sink errors; ``__cause__`` holds the original exception."""


class RetryableError(SinkError):
    """A failure that may pass on its own: retry with backoff."""


class PermanentError(SinkError):
    """A failure that will repeat: do not retry, dead-letter or stop loudly."""


def clickhouse_error_code(text: str) -> int | None:
    """The ClickHouse error code in an exception text, if any.

    >>> clickhouse_error_code("Code: 252. DB::Exception: Too many parts")
    252
    >>> clickhouse_error_code("connection refused") is None
    True
    """
    match = _CODE_RE.search(text)
    return int(match.group(1)) if match else None


def classify_http_status(status: int) -> type[SinkError]:
    """Classify an HTTP status code returned by a sink's server.

    >>> classify_http_status(503).__name__, classify_http_status(400).__name__
    ('RetryableError', 'PermanentError')
    """
    return RetryableError if status in RETRYABLE_HTTP_STATUS else PermanentError


def classify(exc: BaseException) -> type[SinkError]:
    """Decide whether ``exc`` is worth retrying.

    Already classified errors keep their class; socket, timeout and connection errors are
    retryable; a ClickHouse ``Code: N`` or an HTTP status in the message decides next; all
    else (programming errors, bad data) is permanent.

    >>> classify(ConnectionRefusedError()).__name__
    'RetryableError'
    >>> classify(RuntimeError("Code: 241. DB::Exception: Memory limit exceeded")).__name__
    'RetryableError'
    """
    if isinstance(exc, SinkError):
        return type(exc) if type(exc) is not SinkError else PermanentError
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return RetryableError
    text = str(exc)
    code = clickhouse_error_code(text)
    if code is not None:
        return RetryableError if code in RETRYABLE_CLICKHOUSE_CODES else PermanentError
    status = _STATUS_RE.search(text)
    if status:
        return classify_http_status(int(status.group(1)))
    if type(exc).__name__ == "OperationalError" or isinstance(exc, OSError):
        # clickhouse-connect raises OperationalError for network failures
        return RetryableError
    return PermanentError


def wrap(exc: BaseException, what: str) -> SinkError:
    """Wrap ``exc`` in its class with a message naming the operation.

    >>> err = wrap(TimeoutError("slow"), "insert into events")
    >>> type(err).__name__, str(err)
    ('RetryableError', 'insert into events: TimeoutError: slow')
    """
    if isinstance(exc, SinkError):
        return exc
    err = classify(exc)(f"{what}: {type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


def retry_call(
    fn: Callable[[], T],
    *,
    max_elapsed_s: float = 30.0,
    base_delay_s: float = 0.1,
    max_delay_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[BaseException, float], None] | None = None,
) -> T:
    """Call ``fn`` until it succeeds, retrying :class:`RetryableError` with jittered backoff.

    A :class:`PermanentError` (or any non-:class:`SinkError`) is raised at once; a retryable
    one is raised when the next wait would pass ``max_elapsed_s``.

    >>> calls = []
    >>> def flaky():
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise RetryableError("busy")
    ...     return "done"
    >>> retry_call(flaky, sleep=lambda s: None), len(calls)
    ('done', 3)
    """
    start = time.monotonic()
    delay = base_delay_s
    while True:
        try:
            return fn()
        except RetryableError as exc:
            wait = min(max_delay_s, delay) * (0.5 + random.random() / 2)
            if time.monotonic() - start + wait > max_elapsed_s:
                raise
            if on_retry is not None:
                on_retry(exc, wait)
            sleep(wait)
            delay *= 2
