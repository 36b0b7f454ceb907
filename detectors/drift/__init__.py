"""Online drift detection per key (service, deployment, model_version): pure computation.

Numeric signals use the calibrated, vectorised :class:`KeyedCusum` by default (river's
ADWIN, PageHinkley and KSWIN are available by name); categorical signals use a windowed
chi-square + PSI comparison against a reference window. :class:`KeyedDriftMonitor` is the
batch entry point; every detection is a :class:`DriftVerdict` with its evidence.

Example
-------
>>> import numpy as np
>>> det = StandardizedCusum()
>>> rng = np.random.default_rng(0)
>>> any(det.update(x).drift_detected for x in rng.normal(0, 1, 20_000))
False
"""

from __future__ import annotations

from detectors.drift.calibration import Calibration, Evaluation, calibrate_threshold, evaluate
from detectors.drift.categorical import CategoricalDrift, CategoricalParams, KeyedCategorical
from detectors.drift.cusum import CusumParams, KeyedCusum, StandardizedCusum
from detectors.drift.monitor import NUMERIC_DETECTORS, KeyedDriftMonitor, check_detector_name
from detectors.drift.prompt import (
    describe_signature,
    embedding_projections,
    prompt_signals,
    signature_codes,
)
from detectors.drift.registry import KeyRegistry
from detectors.drift.river_detectors import KeyedRiver, make_river_detector
from detectors.drift.verdict import DriftVerdict

__all__ = [
    "NUMERIC_DETECTORS",
    "Calibration",
    "CategoricalDrift",
    "CategoricalParams",
    "CusumParams",
    "DriftVerdict",
    "Evaluation",
    "KeyRegistry",
    "KeyedCategorical",
    "KeyedCusum",
    "KeyedDriftMonitor",
    "KeyedRiver",
    "StandardizedCusum",
    "calibrate_threshold",
    "check_detector_name",
    "describe_signature",
    "embedding_projections",
    "evaluate",
    "make_river_detector",
    "prompt_signals",
    "signature_codes",
]
