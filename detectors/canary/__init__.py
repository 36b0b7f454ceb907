"""Canary verdicts: a canary track compared continuously with its stable track, per service.

Pure computation (numpy only). :class:`CanaryJudge` takes batches of events, closes
event-time minutes and returns :class:`CanaryVerdict` changes (``pass`` | ``fail`` |
``inconclusive``) with their evidence; the multiple-testing correction (Bonferroni over
metrics, alpha spending ``alpha * 6 / (pi^2 t^2)`` over looks) is described in
:mod:`detectors.canary.judge`.

Example
-------
>>> judge = CanaryJudge(CanaryParams(min_samples=50))
>>> judge.verdict("chat")
'inconclusive'
"""

from __future__ import annotations

from detectors.canary.judge import METRICS, TRACKS, CanaryJudge
from detectors.canary.statistics import (
    fisher_exact_greater,
    histogram_quantile,
    latency_bins,
    latency_edges,
    mann_whitney_from_histograms,
    proportion_z_test,
    spent_alpha,
)
from detectors.canary.verdict import CanaryParams, CanaryVerdict

__all__ = [
    "METRICS",
    "TRACKS",
    "CanaryJudge",
    "CanaryParams",
    "CanaryVerdict",
    "fisher_exact_greater",
    "histogram_quantile",
    "latency_bins",
    "latency_edges",
    "mann_whitney_from_histograms",
    "proportion_z_test",
    "spent_alpha",
]
