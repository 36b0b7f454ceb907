"""How member outputs combine into a bundle's labels (the manifest's ``combine`` section).

Rules, per label:

``{"method": "member", "member": NAME, "output": LABEL}``
    Take one member's column as is.
``{"method": "mean", "members": [{"member", "output", "weight"}, ...]}``
    Weighted mean of member probabilities (soft voting).
``{"method": "calibrated_mean", "members": [{"member", "output", "calibration": {"x", "y"}}, ...],
"mean_calibration": {"x", "y"}, "output_map": {"x", "y"}}``
    Map each member's raw score through its empirical CDF on a reference corpus
    (a monotone table: raw score → percentile), average the percentiles, map the average
    through its own CDF on the same corpus, then onto the anchor model's score quantiles,
    so the result keeps a probability-like scale (a threshold of 0.5 means what it means
    for the anchor). Each step is monotone, so ranking equals a rank average of members.

A label without a rule takes the first member that outputs it.

Example
-------
>>> import numpy as np
>>> t = ecdf_table(np.array([0.1, 0.2, 0.3, 0.4]), knots=5)
>>> apply_table(np.array([0.1, 0.25, 0.4]), t).round(3).tolist()
[0.0, 0.5, 1.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["apply_table", "combine_outputs", "ecdf_table"]


def ecdf_table(values: np.ndarray, knots: int = 257) -> dict[str, list[float]]:
    """A monotone table ``{"x": scores, "y": percentiles}`` from a sample (ties merged).

    >>> ecdf_table(np.array([1.0, 1.0, 2.0]), knots=3)
    {'x': [1.0, 2.0], 'y': [0.25, 1.0]}
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("ecdf_table needs at least one value")
    q = np.linspace(0.0, 1.0, knots)
    x = np.quantile(v, q)
    xs, inverse = np.unique(x, return_inverse=True)
    ys = np.bincount(inverse, weights=q) / np.bincount(inverse)
    return {"x": xs.tolist(), "y": ys.tolist()}


def apply_table(values: np.ndarray, table: Mapping[str, Sequence[float]]) -> np.ndarray:
    """Piecewise-linear monotone map; values outside the table clamp to its ends.

    >>> apply_table(np.array([-1.0, 0.5, 9.0]), {"x": [0.0, 1.0], "y": [0.0, 1.0]}).tolist()
    [0.0, 0.5, 1.0]
    """
    return np.interp(np.asarray(values, dtype=np.float64), table["x"], table["y"])


def combine_outputs(
    labels: Sequence[str],
    rules: Mapping[str, Any],
    outputs: Mapping[str, Mapping[str, np.ndarray]],
) -> dict[str, np.ndarray]:
    """Apply the bundle's rules to member outputs.

    Parameters
    ----------
    labels
        Labels to report.
    rules
        The manifest's ``combine`` section.
    outputs
        member name → label → scores ``[n]``.

    Returns
    -------
    dict
        label → float32 scores ``[n]`` in ``[0, 1]``.

    Examples
    --------
    >>> outs = {"a": {"toxicity": np.array([0.2, 0.9])}}
    >>> [round(float(x), 3) for x in combine_outputs(["toxicity"], {}, outs)["toxicity"]]
    [0.2, 0.9]
    >>> outs["b"] = {"toxicity": np.array([0.4, 0.5])}
    >>> rule = {"method": "mean", "members": [{"member": "a", "output": "toxicity"},
    ...                                        {"member": "b", "output": "toxicity", "weight": 3}]}
    >>> [round(float(x), 3) for x in combine_outputs(["toxicity"], {"toxicity": rule}, outs)["toxicity"]]
    [0.35, 0.6]
    """
    result: dict[str, np.ndarray] = {}
    for label in labels:
        rule = rules.get(label)
        if rule is None:
            for member_out in outputs.values():
                if label in member_out:
                    result[label] = np.asarray(member_out[label], dtype=np.float32)
                    break
            else:
                raise KeyError(f"no member outputs {label!r}")
            continue
        method = rule.get("method")
        if method == "member":
            result[label] = np.asarray(outputs[rule["member"]][rule["output"]], dtype=np.float32)
        elif method == "mean":
            parts = rule["members"]
            weights = np.array([float(m.get("weight", 1.0)) for m in parts])
            stacked = np.stack(
                [np.asarray(outputs[m["member"]][m["output"]], dtype=np.float64) for m in parts]
            )
            mean = (weights[:, None] * stacked).sum(axis=0) / weights.sum()
            result[label] = np.clip(mean, 0.0, 1.0).astype(np.float32)
        elif method == "calibrated_mean":
            pct = [
                apply_table(outputs[m["member"]][m["output"]], m["calibration"])
                for m in rule["members"]
            ]
            mean = np.mean(pct, axis=0)
            if "mean_calibration" in rule:
                mean = apply_table(mean, rule["mean_calibration"])
            if "output_map" in rule:
                mean = apply_table(mean, rule["output_map"])
            result[label] = np.clip(mean, 0.0, 1.0).astype(np.float32)
        else:
            raise ValueError(f"label {label!r}: unknown combine method {method!r}")
    return result
