"""`tocsin drift calibrate|backtest|evaluate` end to end through typer's runner."""

from __future__ import annotations

import json

import numpy as np
import yaml
from typer.testing import CliRunner

from detectors.drift import CusumParams
from tocsin.cli import app
from tocsin.cli.drift import monitor_from_settings, parse_values
from tocsin.settings import DriftSettings

runner = CliRunner()


def _series(tmp_path, n=30_000, shift_at=20_000, garbage=True):
    x = np.random.default_rng(0).normal(100, 10, n)
    x[shift_at:] += 10
    lines = [f"{v:.4f}" for v in x]
    if garbage:
        lines.insert(100, "not-a-number")
        lines.insert(5000, "12,5")
        lines.insert(7000, "")
    p = tmp_path / "series.txt"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_backtest_default_detector_jsonl_and_malformed_lines(tmp_path):
    p = _series(tmp_path)
    r = runner.invoke(app, ["drift", "backtest", str(p), "--json"])
    assert r.exit_code == 0, r.output
    recs = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert recs and {"index", "detector", "signal", "statistic"} <= set(recs[0])
    assert recs[0]["detector"] == "cusum" and 20_000 <= recs[0]["index"] < 20_300
    assert ":101: skipped" in r.stderr and ":5001: skipped" in r.stderr
    assert "2 malformed lines skipped" in r.stderr


def test_backtest_river_detectors_from_stdin():
    x = "\n".join(["0"] * 500 + ["10"] * 500)
    for name in ("adwin", "page_hinkley", "kswin"):
        r = runner.invoke(app, ["drift", "backtest", "-", "--detector", name, "--json"], input=x)
        assert r.exit_code == 0, r.output
        recs = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
        assert recs and recs[0]["detector"] == name and recs[0]["index"] >= 500


def test_backtest_unknown_detector_and_missing_file(tmp_path):
    r = runner.invoke(app, ["drift", "backtest", "-", "--detector", "ewma"], input="1\n")
    assert r.exit_code == 2 and "choose one of auto, cusum" in r.stderr
    r = runner.invoke(app, ["drift", "backtest", str(tmp_path / "nope.txt")])
    assert r.exit_code == 2 and "cannot read" in r.stderr


def test_calibrate_writes_a_config_block_and_skips_garbage(tmp_path):
    x = np.random.default_rng(1).gamma(2.0, 50.0, 60_000)
    hist = tmp_path / "h.csv"
    hist.write_text("ts,value\n" + "\n".join(f"{i},{v:.3f}" for i, v in enumerate(x)) + "\nx,y\n")
    out = tmp_path / "drift.yaml"
    r = runner.invoke(
        app,
        ["drift", "calibrate", "--history", str(hist), "--signal", "latency_ms", "--replays",
         "10", "--out", str(out), "--json"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    th = res["config"]["drift"]["signal_thresholds"]["latency_ms"]
    assert 15 < th < 150 and res["fa_per_100k"] <= 1.0 and res["skipped_lines"] == 1
    assert yaml.safe_load(out.read_text()) == res["config"]
    # the block loads back into the settings model
    assert DriftSettings(**res["config"]["drift"]).signal_thresholds["latency_ms"] == th


def test_calibrate_refuses_a_useless_history(tmp_path):
    hist = tmp_path / "h.txt"
    hist.write_text("garbage\n" * 10 + "1\n2\n")
    r = runner.invoke(app, ["drift", "calibrate", "--history", str(hist)])
    assert r.exit_code == 1 and "need at least" in r.stderr


def test_evaluate_prints_the_table():
    r = runner.invoke(app, ["drift", "evaluate", "--seeds", "2", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert [s["kind"] for s in res["streams"]] == ["normal", "lognormal", "bernoulli"]


def test_parse_values_jsonl_and_csv_column():
    p = parse_values(['{"value": 1}', "{bad", '{"value": "2"}', '{"value": null}'])
    assert p.values.tolist() == [1.0, 2.0] and [b[0] for b in p.bad] == [2, 4]
    p = parse_values(["a,b", "1,2", "3"], column="b")
    assert p.values.tolist() == [2.0] and p.bad[0][0] == 3


def test_settings_defaults_match_the_calibrated_detector():
    d = DriftSettings()
    assert monitor_from_settings(d).cusum == CusumParams()


def test_every_drift_setting_reaches_the_monitor():
    s = DriftSettings(
        detector="cusum", idle_evict_s=10, max_keys=7, threshold=61, allowance=0.08,
        block_size=16, warmup=2000, reference_size=9000, signal_thresholds={"t": 99},
        categorical_reference_size=300, categorical_window_size=200, categorical_alpha=1e-4,
        categorical_min_psi=0.2, categorical_buckets=32,
    )  # fmt: skip
    mon = monitor_from_settings(s)
    assert (mon.detector, mon.idle_evict_s, mon.max_keys) == ("cusum", 10, 7)
    assert mon.cusum == CusumParams(61, 0.08, 16, 2000, 9000)
    assert mon.signal_params["t"] == CusumParams(99, 0.08, 16, 2000, 9000)
    c = mon.categorical
    assert (c.reference_size, c.window_size, c.alpha, c.min_psi, c.n_buckets) == (
        300, 200, 1e-4, 0.2, 32
    )  # fmt: skip
    assert set(DriftSettings.model_fields) == {
        "enabled",
        "detector",
        "idle_evict_s",
        "max_keys",
        "threshold",
        "allowance",
        "block_size",
        "warmup",
        "reference_size",
        "signal_thresholds",
        "categorical_reference_size",
        "categorical_window_size",
        "categorical_alpha",
        "categorical_min_psi",
        "categorical_buckets",
    }  # fmt: skip  (a new field must be wired into KeyedDriftMonitor.from_config)


def test_backtest_prints_json_lines_by_default_and_a_table_on_request(tmp_path):
    p = _series(tmp_path)
    plain = runner.invoke(app, ["drift", "backtest", str(p)])
    assert plain.exit_code == 0, plain.output
    lines = plain.stdout.strip().splitlines()
    assert lines and all(json.loads(line)["detector"] == "cusum" for line in lines)
    table = runner.invoke(app, ["drift", "backtest", str(p), "--table"])
    assert table.exit_code == 0 and "statistic" in table.stdout and "{" not in table.stdout
