"""`tocsin slo validate` and `tocsin slo backtest`."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from tocsin.cli import slo as slo_cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "infra" / "config" / "slos.yaml"
VECTORS = Path(os.environ["TOCSIN_VECTORS_DIR"]) / "burn_rate.json"  # set by conftest.py


Invoke = Callable[..., Result]


@pytest.fixture
def run() -> Invoke:
    app = typer.Typer()
    slo_cli.register(app)
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None) -> Result:
        return runner.invoke(app, ["slo", *args], input=stdin)

    return invoke


@pytest.fixture
def one_slo(tmp_path: Path) -> Path:
    p = tmp_path / "one.yaml"
    p.write_text("version: 1\nslos:\n  - {name: api, objective: 0.999, period: 30d}\n")
    return p


def test_validate_json_prints_derived_factors(run: Invoke) -> None:
    res = run("validate", "--spec", str(EXAMPLE), "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    avail = next(s for s in data["slos"] if s["name"] == "chat-api-availability")
    assert [a["factor"] for a in avail["alerts"]] == pytest.approx([14.4, 6, 3, 1])
    assert [a["window"] for a in avail["alerts"]] == ["1h/5m", "6h/30m", "1d/2h", "3d/6h"]


def test_validate_table(run: Invoke) -> None:
    res = run("validate", "--spec", str(EXAMPLE))
    assert res.exit_code == 0
    assert "13.44" in res.output


def test_validate_invalid_spec_fails_with_the_field(run: Invoke, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nslos:\n  - {name: api, objective: 99.9, period: 30d}\n")
    res = run("validate", "--spec", str(bad))
    assert res.exit_code == 1
    assert "slos[0] 'api': objective: must be strictly between 0 and 1" in res.output


def _vector_case(name: str) -> dict[str, Any]:
    cases = json.loads(VECTORS.read_text())["cases"]
    return next(c for c in cases if c["name"] == name)


@pytest.mark.parametrize("fmt", ["csv", "csv-noheader", "jsonl-obj", "jsonl-list"])
def test_backtest_formats_reproduce_a_vector_case(run: Invoke, tmp_path: Path, fmt: str) -> None:
    case = _vector_case("flapping_bursts")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"version": 1, "slos": [case["spec"]]}))
    rows = [(s["total"], s["bad"]) for s in case["segments"] for _ in range(s["minutes"])]
    if fmt == "csv":
        text, suffix = "total,bad\n" + "".join(f"{t},{b}\n" for t, b in rows), ".csv"
    elif fmt == "csv-noheader":
        text, suffix = "".join(f"{t},{b}\n" for t, b in rows), ".txt"
    elif fmt == "jsonl-obj":
        text, suffix = "".join(json.dumps({"total": t, "bad": b}) + "\n" for t, b in rows), ".jsonl"
    else:
        text, suffix = "".join(json.dumps([t, b]) + "\n" for t, b in rows), ".data"
    series = tmp_path / f"series{suffix}"
    series.write_text(text)
    res = run("backtest", "--spec", str(spec), "--series", str(series))
    assert res.exit_code == 0, res.output
    out = [json.loads(line) for line in res.output.splitlines()]
    keys = ("minute", "slo", "window", "severity", "state")
    assert [{k: o[k] for k in keys} for o in out] == case["expect"]
    assert set(out[0]) == {*keys, "burn_long", "burn_short"}


def test_backtest_reads_stdin(run: Invoke, one_slo: Path) -> None:
    res = run("backtest", "--spec", str(one_slo), "--series", "-", stdin="100,0\n100,100\n")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.splitlines()[0])["minute"] == 1


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("total,bad\n10,1\n10,x\n", ".csv", ":3: bad must be an integer"),
        ("10,1\n10,11\n", ".csv", ":2: need 0 <= bad <= total"),
        ("10,1\n-1,0\n", ".csv", ":2: need 0 <= bad <= total"),
        ("10,1\n10,1,3\n", ".csv", ":2: expected 2 columns"),
        ("10,1\n\n10,1\n", ".csv", ":2: expected 2 columns `total,bad`, got 0 (empty line"),
        ("minutes,errors\n1,0\n", ".csv", ":1: header must be `total,bad`"),
        ('{"total": 1, "bad": 0}\n{"total": 1}\n', ".jsonl", ':2: expected {"total"'),
        ("[1, 0]\n[1, 0, 0]\n", ".jsonl", ":2: expected"),
        ("[1, 0]\n{oops\n", ".jsonl", ":2: not valid JSON"),
        ("[1, 0]\n[1.5, 0]\n", ".jsonl", ":2: total must be an integer"),
        ("", ".csv", "no rows"),
    ],
)
def test_backtest_malformed_rows(
    run, one_slo: Path, tmp_path: Path, content: str, suffix: str, message: str
) -> None:
    series = tmp_path / f"s{suffix}"
    series.write_text(content)
    res = run("backtest", "--spec", str(one_slo), "--series", str(series))
    assert res.exit_code == 1
    assert message in res.output


def test_backtest_needs_slo_when_several(run: Invoke, tmp_path: Path) -> None:
    series = tmp_path / "s.csv"
    series.write_text("1,0\n")
    res = run("backtest", "--spec", str(EXAMPLE), "--series", str(series))
    assert res.exit_code == 2
    assert "choose one with --slo" in res.output
    res = run("backtest", "--spec", str(EXAMPLE), "--series", str(series), "--slo", "nope")
    assert res.exit_code == 2 and "no SLO named 'nope'" in res.output
    res = run("backtest", "--spec", str(EXAMPLE), "--series", str(series), "--slo", "chat-api-ttft")
    assert res.exit_code == 0 and res.output == ""


def test_backtest_missing_series_file(run: Invoke, one_slo: Path, tmp_path: Path) -> None:
    res = run("backtest", "--spec", str(one_slo), "--series", str(tmp_path / "none.csv"))
    assert res.exit_code == 1 and "no such file" in res.output


def test_backtest_from_to_arguments_are_checked(run: Invoke, one_slo: Path) -> None:
    # the replay itself runs against a real store in tests/integration/test_slo_history.py
    res = run("backtest", "--spec", str(one_slo), "--from", "yesterday", "--to", "2026-11-02")
    assert res.exit_code == 2 and "not an ISO 8601 time" in res.output
    res = run("backtest", "--spec", str(one_slo), "--from", "2026-11-02", "--to", "2026-11-01")
    assert res.exit_code == 2 and "must be after --from" in res.output
    res = run("backtest", "--spec", str(one_slo), "--from", "2026-11-02")
    assert res.exit_code == 2 and "go together" in res.output
    res = run("backtest", "--spec", str(one_slo))
    assert res.exit_code == 2 and "give --series" in res.output
