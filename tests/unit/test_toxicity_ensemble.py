"""Combination rules of the manifest: member, mean, calibrated_mean."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.toxicity.ensemble import apply_table, combine_outputs, ecdf_table


def test_ecdf_table_is_monotone_and_merges_ties() -> None:
    values = np.concatenate([np.zeros(50), np.linspace(0.1, 1.0, 50)])
    t = ecdf_table(values, knots=33)
    assert np.all(np.diff(t["x"]) > 0) and np.all(np.diff(t["y"]) >= 0)
    assert t["x"][0] == 0.0 and t["y"][-1] == 1.0
    with pytest.raises(ValueError):
        ecdf_table(np.array([]))


def test_calibrated_mean_is_a_rank_average_on_the_anchor_scale() -> None:
    rng = np.random.default_rng(3)
    ref_a = rng.beta(0.5, 3, 2000)  # anchor: probability-like
    ref_b = rng.normal(0, 5, 2000)  # another member on an arbitrary scale
    rule = {
        "method": "calibrated_mean",
        "members": [
            {"member": "a", "output": "toxicity", "calibration": ecdf_table(ref_a)},
            {"member": "b", "output": "toxicity", "calibration": ecdf_table(ref_b)},
        ],
        "output_map": {
            "x": np.linspace(0, 1, 257).tolist(),
            "y": np.quantile(ref_a, np.linspace(0, 1, 257)).tolist(),
        },
    }
    outs = {
        "a": {"toxicity": np.array([0.01, 0.5, 0.9])},
        "b": {"toxicity": np.array([-8.0, 0.0, 9.0])},
    }
    got = combine_outputs(["toxicity"], {"toxicity": rule}, outs)["toxicity"]
    assert np.all(np.diff(got) > 0)
    assert np.all((got >= ref_a.min()) & (got <= ref_a.max()))


def test_member_rule_mean_weights_and_errors() -> None:
    outs = {
        "a": {"toxicity": np.array([0.2]), "insult": np.array([0.7])},
        "b": {"toxicity": np.array([0.6])},
    }
    rules = {
        "toxicity": {
            "method": "mean",
            "members": [
                {"member": "a", "output": "toxicity", "weight": 1},
                {"member": "b", "output": "toxicity", "weight": 3},
            ],
        },
        "insult": {"method": "member", "member": "a", "output": "insult"},
    }
    got = combine_outputs(["toxicity", "insult"], rules, outs)
    assert got["toxicity"][0] == pytest.approx(0.5) and got["insult"][0] == pytest.approx(0.7)
    with pytest.raises(ValueError, match="unknown combine method"):
        combine_outputs(["toxicity"], {"toxicity": {"method": "vote"}}, outs)
    with pytest.raises(KeyError, match="threat"):
        combine_outputs(["threat"], {}, outs)
    assert apply_table(np.array([5.0]), {"x": [0.0, 1.0], "y": [0.0, 0.5]})[0] == 0.5
