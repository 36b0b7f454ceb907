"""The receivers' backoff stays bounded however many attempts fail at once."""

from __future__ import annotations

from sinks.delivery import RetryPolicy


def test_backoff_after_thousands_of_instant_failures_is_capped_not_an_overflow() -> None:
    policy = RetryPolicy(max_elapsed_s=1, base_delay_s=0.1, max_delay_s=2)
    delays = [policy.backoff(n) for n in (1, 2, 10, 1_100, 100_000)]
    assert all(0 <= d <= 2 for d in delays)
