"""The tests behind a canary verdict: proportions, ranks on a latency histogram, alpha spending.

All functions are pure and work on aggregates (counts, sums, histograms), so a verdict is
computed from a window of per-minute aggregates without touching individual events.

* :func:`proportion_z_test` — one-sided two-proportion z-test (canary worse), pooled
  variance; with Kish effective sample sizes it is the weighted version used for sampled
  toxicity scores. Its ``z`` is the reported statistic.
* :func:`fisher_exact_greater` — the p-value actually used for the proportions: the exact
  one-sided conditional (Fisher) test on the same counts. The normal approximation of the
  z-test is far too optimistic for rare events, and canary errors and PII leaks are rare:
  1 leak in 210 canary events against 0 in 2,100 stable ones gives z = 3.16, p = 0.0008,
  while the exact probability that the only leak lands in the canary is 210/2310 = 0.09.
* :func:`mann_whitney_from_histograms` — one-sided Mann-Whitney U (canary slower) on two
  histograms over the same bins: values in one bin are ties, the variance is tie-corrected.
* :func:`histogram_quantile` — p50/p95 read from a histogram (log-linear inside a bin).
* :func:`spent_alpha` — the per-look, per-metric significance level of the correction:
  ``alpha * 6 / (pi**2 * t**2) / k`` at look ``t`` (1-based) over ``k`` metrics. Summed over
  all looks and metrics it is exactly ``alpha`` (``sum 1/t**2 = pi**2/6``), so by the union
  bound the probability that any metric fails at any look of a healthy canary is at most
  ``alpha``, however long it runs.

Example
-------
>>> round(spent_alpha(0.01, 1, 4), 6)
0.00152
>>> z, p = proportion_z_test(50, 1000, 5, 10000)
>>> round(z, 1), p < 1e-9
(21.2, True)
>>> round(proportion_z_test(1, 210, 0, 2100)[1], 4), round(fisher_exact_greater(1, 210, 0, 2100), 4)
(0.0008, 0.0909)
>>> edges = latency_edges()
>>> len(edges), round(float(edges[0]), 6), round(float(edges[-1]), 3)
(129, 1.0, 600000.0)
"""

from __future__ import annotations

import math

import numpy as np

N_LATENCY_BINS = 128
LATENCY_MIN_MS = 1.0
LATENCY_MAX_MS = 600_000.0  # 10 minutes
_LOG_MIN = math.log(LATENCY_MIN_MS)
_LOG_SPAN = math.log(LATENCY_MAX_MS) - _LOG_MIN


def latency_edges() -> np.ndarray:
    """Edges (ms) of the fixed log-spaced latency bins: 128 bins from 1 ms to 10 minutes.

    Each bin is about 11% wide; latencies below 1 ms count in the first bin, above
    10 minutes in the last.

    Examples
    --------
    >>> e = latency_edges()
    >>> round(float(e[1] / e[0]), 3)
    1.11
    """
    return np.exp(np.linspace(_LOG_MIN, _LOG_MIN + _LOG_SPAN, N_LATENCY_BINS + 1))


def latency_bins(latency_ms: np.ndarray) -> np.ndarray:
    """Bin index (0..127) of each latency; callers drop non-finite values first.

    Examples
    --------
    >>> latency_bins(np.array([0.5, 1.0, 100.0, 1e9])).tolist()
    [0, 0, 44, 127]
    """
    x = np.maximum(np.asarray(latency_ms, dtype=np.float64), LATENCY_MIN_MS)
    b = ((np.log(x) - _LOG_MIN) * (N_LATENCY_BINS / _LOG_SPAN)).astype(np.int64)
    return np.clip(b, 0, N_LATENCY_BINS - 1)


def normal_sf(z: float) -> float:
    """Upper tail of the standard normal, ``P(Z > z)``, accurate far into the tail.

    Examples
    --------
    >>> round(normal_sf(1.6448536), 4), normal_sf(8.0) > 0
    (0.05, True)
    """
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def spent_alpha(alpha: float, look: int, n_metrics: int) -> float:
    """Significance level of one metric at look ``look`` (1-based) of one comparison.

    ``alpha * 6 / (pi**2 * look**2) / n_metrics``: Bonferroni over the metrics, and an
    alpha-spending sequence over looks whose sum over all looks is ``alpha``.

    Examples
    --------
    >>> total = sum(spent_alpha(0.01, t, 4) * 4 for t in range(1, 200_000))
    >>> 0.00999 < total < 0.01
    True
    """
    if look < 1 or n_metrics < 1:
        raise ValueError(f"look and n_metrics must be >= 1, got look={look}, n={n_metrics}")
    return alpha * 6.0 / (math.pi**2 * look * look) / n_metrics


def proportion_z_test(
    x_canary: float, n_canary: float, x_stable: float, n_stable: float
) -> tuple[float, float]:
    """One-sided pooled two-proportion z-test of ``p_canary > p_stable``.

    ``x`` are successes ("bad" events) and ``n`` sample sizes; both may be effective
    (weighted) values. Returns ``(z, p_value)``; ``(0.0, 1.0)`` when either sample is empty
    or the pooled proportion is 0 or 1 (no evidence either way).

    Examples
    --------
    >>> z, p = proportion_z_test(10, 100, 10, 100)
    >>> z, p
    (0.0, 0.5)
    >>> proportion_z_test(0, 100, 50, 100)[1] > 0.99   # canary better: never significant
    True
    """
    if n_canary <= 0 or n_stable <= 0:
        return 0.0, 1.0
    pooled = (x_canary + x_stable) / (n_canary + n_stable)
    var = pooled * (1.0 - pooled) * (1.0 / n_canary + 1.0 / n_stable)
    if var <= 0.0:
        return 0.0, 1.0
    z = (x_canary / n_canary - x_stable / n_stable) / math.sqrt(var)
    return z, normal_sf(z)


def fisher_exact_greater(x_canary: int, n_canary: int, x_stable: int, n_stable: int) -> float:
    """Exact one-sided p-value of "canary proportion greater" (Fisher's test, conditional).

    Given the ``K = x_canary + x_stable`` bad events among ``N = n_canary + n_stable``, the
    canary's share is hypergeometric under equal proportions; the p-value is
    ``P(H >= x_canary)``, summed in log space from a ratio recurrence (no scipy needed).

    Examples
    --------
    >>> round(fisher_exact_greater(1, 210, 0, 2100), 4)     # 210 / 2310
    0.0909
    >>> fisher_exact_greater(0, 100, 5, 100)                 # canary better: p = 1
    1.0
    >>> fisher_exact_greater(50, 1000, 5, 10000) < 1e-30
    True
    """
    x_c, n_c, x_s, n_s = int(x_canary), int(n_canary), int(x_stable), int(n_stable)
    if n_c <= 0 or n_s <= 0:
        return 1.0
    if not (0 <= x_c <= n_c and 0 <= x_s <= n_s):
        raise ValueError(f"counts out of range: {x_c}/{n_c} vs {x_s}/{n_s}")
    k_total, n_total = x_c + x_s, n_c + n_s
    if x_c == 0 or k_total == n_total:
        return 1.0
    hi = min(k_total, n_c)

    def log_choose(n: int, k: int) -> float:
        return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)

    log_first = (
        log_choose(k_total, x_c)
        + log_choose(n_total - k_total, n_c - x_c)
        - log_choose(n_total, n_c)
    )
    k = np.arange(x_c, hi, dtype=np.float64)
    log_ratio = np.log((k_total - k) * (n_c - k)) - np.log((k + 1) * (n_s - k_total + k + 1))
    log_terms = log_first + np.concatenate(([0.0], np.cumsum(log_ratio)))
    return float(min(1.0, np.exp(log_terms).sum()))


def mann_whitney_from_histograms(canary: np.ndarray, stable: np.ndarray) -> tuple[float, float]:
    """One-sided Mann-Whitney U test of "canary tends to be larger" from two histograms.

    Values in one bin are ties (mid-rank, counted as 1/2 in U); the normal approximation
    uses the tie-corrected variance ``n1 n2 / 12 * (N + 1 - sum(t^3 - t) / (N (N - 1)))``.
    Returns ``(z, p_value)``; ``(0.0, 1.0)`` when a histogram is empty or every value is tied.

    Examples
    --------
    >>> a = np.zeros(128, dtype=np.int64); b = a.copy()
    >>> a[60] = 100; b[50] = 100                     # canary entirely slower
    >>> z, p = mann_whitney_from_histograms(a, b)
    >>> round(z, 2), p < 1e-20
    (14.11, True)
    >>> mann_whitney_from_histograms(b, a)[1] > 0.999  # canary faster: not significant
    True
    """
    c = np.asarray(canary, dtype=np.float64)
    s = np.asarray(stable, dtype=np.float64)
    n1 = float(c.sum())
    n2 = float(s.sum())
    if n1 <= 0 or n2 <= 0:
        return 0.0, 1.0
    stable_below = np.cumsum(s) - s  # stable values in strictly lower bins
    u = float(np.dot(c, stable_below + 0.5 * s))
    n = n1 + n2
    t = c + s
    ties = float(np.dot(t, t * t - 1.0))
    var = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)))
    if var <= 0.0:
        return 0.0, 1.0
    z = (u - n1 * n2 / 2.0) / math.sqrt(var)
    return z, normal_sf(z)


def histogram_quantile(hist: np.ndarray, q: float) -> float:
    """Quantile ``q`` (0..1) of the latencies in ``hist``, log-linear inside the bin; NaN if empty.

    Examples
    --------
    >>> h = np.zeros(128, dtype=np.int64); h[44] = 10
    >>> edges = latency_edges()
    >>> bool(edges[44] <= histogram_quantile(h, 0.5) <= edges[45])
    True
    """
    h = np.asarray(hist, dtype=np.float64)
    total = float(h.sum())
    if total <= 0:
        return math.nan
    cum = np.cumsum(h)
    target = q * total
    b = int(np.searchsorted(cum, target, side="left"))
    b = min(b, N_LATENCY_BINS - 1)
    below = float(cum[b] - h[b])
    frac = 0.0 if h[b] <= 0 else min(max((target - below) / float(h[b]), 0.0), 1.0)
    lo = _LOG_MIN + _LOG_SPAN * b / N_LATENCY_BINS
    return math.exp(lo + frac * _LOG_SPAN / N_LATENCY_BINS)
