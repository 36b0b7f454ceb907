"""HTTP delivery of notifications with retries: the transport every receiver shares.

Rules (DESIGN.md convention 6, issue 10):

- 2xx is delivered;
- 429 is retried after the server's ``Retry-After`` (seconds or an HTTP date), else backoff;
- 5xx, timeouts and connection errors are retried with exponential backoff and full jitter;
- any other 4xx is a configuration or payload error: never retried (:class:`sinks.base.PermanentError`);
- every attempt is reported to ``on_attempt`` as an :class:`Attempt` (status, latency,
  error) so that the caller can write one ``notifications`` row per attempt. An attempt never
  carries the URL, the headers or the body: those may hold secrets.

Example
-------
>>> policy = RetryPolicy(max_elapsed_s=1, base_delay_s=0.1, max_delay_s=1)
>>> policy.backoff(1, rng=lambda: 1.0), policy.backoff(3, rng=lambda: 1.0)
(0.1, 0.4)
>>> retry_after_seconds("7"), retry_after_seconds("soon")
(7.0, None)
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from sinks.base import PermanentError, RetryableError, classify_http_status

__all__ = [
    "Attempt",
    "DeliveryResult",
    "HttpDelivery",
    "RetryPolicy",
    "retry_after_seconds",
]


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by a total time budget."""

    max_elapsed_s: float = 120.0
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    timeout_s: float = 10.0

    def backoff(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Wait before attempt ``attempt + 1`` (``attempt`` counts from 1).

        Full jitter: uniform in ``[0, min(max_delay, base * 2**(attempt-1))]``.
        """
        # the exponent is capped: 2**1000 no longer fits a float (many instant failures)
        cap = min(self.max_delay_s, self.base_delay_s * 2.0 ** min(attempt - 1, 60))
        return cap * rng()


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt, as written to the ``notifications`` table (no URL, no secret)."""

    attempt: int
    status_code: int  # 0 = no answer (timeout, connection error)
    latency_ms: float
    outcome: str  # delivered | retrying | failed | rejected
    error: str = ""


@dataclass
class DeliveryResult:
    """How a message ended: ``delivered`` or not, with every attempt."""

    delivered: bool
    attempts: list[Attempt] = field(default_factory=list)
    response_body: str = ""

    @property
    def last_status(self) -> int:
        return self.attempts[-1].status_code if self.attempts else 0


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class HttpDelivery:
    """POST JSON with the retry rules above.

    Parameters
    ----------
    policy : RetryPolicy
        Backoff and time budget.
    sleep : callable
        Waits between attempts (tests pass a recorder).
    transport : httpx.BaseTransport | None
        Only for tests that need one; receivers are tested against real local servers.

    Examples
    --------
    >>> d = HttpDelivery(RetryPolicy(max_elapsed_s=0.2, base_delay_s=0.01))
    >>> r = d.post_json("http://127.0.0.1:9/", {"text": "hi"})
    >>> r.delivered, r.attempts[0].status_code, r.attempts[-1].outcome
    (False, 0, 'failed')
    """

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.rng = rng
        self._client = httpx.Client(
            timeout=self.policy.timeout_s, transport=transport, follow_redirects=False
        )

    def close(self) -> None:
        self._client.close()

    def post_json(
        self,
        url: str,
        payload: Any,
        *,
        headers: dict[str, str] | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
        accept: Callable[[httpx.Response], str | None] | None = None,
    ) -> DeliveryResult:
        """POST ``payload`` as JSON until delivered, permanently refused, or out of time.

        ``accept(response)`` may turn a 2xx answer into an error text (a service that
        answers 200 with an error body); None means accepted.
        """
        policy = self.policy
        start = time.monotonic()
        result = DeliveryResult(delivered=False)
        n = 0
        while True:
            n += 1
            t0 = time.monotonic()
            status = 0
            error = ""
            wait: float | None = None
            retryable = True
            try:
                response = self._client.post(url, json=payload, headers=headers or {})
                status = response.status_code
                body = response.text
                result.response_body = body
                if 200 <= status < 300:
                    problem = accept(response) if accept else None
                    if problem is None:
                        att = Attempt(n, status, (time.monotonic() - t0) * 1000, "delivered")
                        result.attempts.append(att)
                        result.delivered = True
                        if on_attempt:
                            on_attempt(att)
                        return result
                    error, retryable = problem, False
                else:
                    kind = classify_http_status(status)
                    retryable = kind is RetryableError
                    error = f"HTTP {status}: {_short(body)}"
                    if status == 429:
                        wait = retry_after_seconds(response.headers.get("Retry-After"))
            except httpx.TimeoutException as exc:
                error = f"timeout: {type(exc).__name__}"
            except httpx.TransportError as exc:
                error = f"connection error: {type(exc).__name__}"
            latency = (time.monotonic() - t0) * 1000
            if not retryable:
                att = Attempt(n, status, latency, "rejected", error)
                result.attempts.append(att)
                if on_attempt:
                    on_attempt(att)
                return result
            if wait is None:
                wait = policy.backoff(n, self.rng)
            out_of_time = time.monotonic() - start + wait > policy.max_elapsed_s
            att = Attempt(n, status, latency, "failed" if out_of_time else "retrying", error)
            result.attempts.append(att)
            if on_attempt:
                on_attempt(att)
            if out_of_time:
                return result
            self.sleep(wait)

    def post_json_or_raise(self, url: str, payload: Any, **kwargs: Any) -> DeliveryResult:
        """As :meth:`post_json`, raising :class:`PermanentError` / :class:`RetryableError`."""
        result = self.post_json(url, payload, **kwargs)
        if result.delivered:
            return result
        last = result.attempts[-1]
        cls = PermanentError if last.outcome == "rejected" else RetryableError
        raise cls(last.error)
