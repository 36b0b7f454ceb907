"""SLO spec model: durations, defaults, derived factors, SLIs, selectors, validation errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detectors.slo import (
    DurationError,
    Selector,
    SliSpec,
    SpecError,
    load_spec_file,
    parse_duration,
    parse_slo,
    parse_spec_document,
)

REPO = Path(__file__).resolve().parents[2]


def slo(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "chat", "objective": 0.999, "period": "30d"}
    base.update(over)
    return base


def doc(*slos: dict[str, Any], version: Any = 1) -> dict[str, Any]:
    return {"version": version, "slos": list(slos)}


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "seconds"), [("300s", 300), ("5m", 300), ("6h", 21600), ("28d", 2419200)]
)
def test_durations(text: str, seconds: int) -> None:
    d = parse_duration(text)
    assert d.seconds == seconds
    assert d.text == text


@pytest.mark.parametrize("text", ["5", "5 m", "5min", "-5m", "0m", "1.5h", "", "m", 5])
def test_bad_durations(text: object) -> None:
    with pytest.raises(DurationError, match="bad duration"):
        parse_duration(text)


# --------------------------------------------------------------------------- factors


def test_default_alerts_and_derived_factors_30d() -> None:
    spec = parse_slo(slo())
    assert [a.window for a in spec.alerts] == ["1h/5m", "6h/30m", "1d/2h", "3d/6h"]
    assert [a.severity for a in spec.alerts] == ["page", "page", "ticket", "ticket"]
    assert spec.factors == pytest.approx((14.4, 6.0, 3.0, 1.0))


def test_derived_factors_28d() -> None:
    assert parse_slo(slo(period="28d")).factors == pytest.approx((13.44, 5.6, 2.8, 0.93333333))


def test_window_label_keeps_the_text_as_written() -> None:
    spec = parse_slo(
        slo(alerts=[{"long": "5400s", "short": "300s", "budget": 0.02, "severity": "page"}])
    )
    assert spec.alerts[0].window == "5400s/300s"
    assert spec.alerts[0].long_minutes == 90
    assert spec.factor(spec.alerts[0]) == pytest.approx(0.02 * 30 * 1440 / 90)


def test_factor_cannot_be_typed() -> None:
    with pytest.raises(SpecError, match="unknown field 'factor'"):
        parse_slo(
            slo(
                alerts=[
                    {
                        "long": "1h",
                        "short": "5m",
                        "budget": 0.02,
                        "severity": "page",
                        "factor": 14.4,
                    }
                ]
            )
        )


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("objective", [0, 1, 1.5, -0.1, 0.0, 1.0])
def test_objective_outside_open_unit_interval(objective: float) -> None:
    with pytest.raises(SpecError, match=r"slo 'chat': objective: must be strictly between 0 and 1"):
        parse_slo(slo(objective=objective))


def test_objective_must_be_a_number() -> None:
    with pytest.raises(SpecError, match="objective: expected a number"):
        parse_slo(slo(objective="99.9%"))


@pytest.mark.parametrize(("long", "short"), [("5m", "5m"), ("5m", "1h"), ("300s", "5m")])
def test_short_window_not_shorter_than_long(long: str, short: str) -> None:
    with pytest.raises(SpecError, match=r"'chat': alerts\[0\]: short window .* must be shorter"):
        parse_slo(slo(alerts=[{"long": long, "short": short, "budget": 0.02, "severity": "page"}]))


def test_unknown_sli_kind() -> None:
    with pytest.raises(SpecError, match=r"'chat': sli: kind: unknown SLI kind 'throughput'"):
        parse_slo(slo(sli={"kind": "throughput"}))


def test_bad_duration_names_slo_and_field() -> None:
    with pytest.raises(SpecError, match=r"slo 'chat': period: bad duration '30 days'"):
        parse_slo(slo(period="30 days"))
    with pytest.raises(SpecError, match=r"'chat': alerts\[1\]: long: bad duration '6x'"):
        parse_slo(
            slo(
                alerts=[
                    {"long": "1h", "short": "5m", "budget": 0.02, "severity": "page"},
                    {"long": "6x", "short": "30m", "budget": 0.05, "severity": "page"},
                ]
            )
        )


def test_windows_must_be_whole_minutes() -> None:
    with pytest.raises(SpecError, match="'90s' is not a whole number of minutes"):
        parse_slo(slo(alerts=[{"long": "1h", "short": "90s", "budget": 0.02, "severity": "page"}]))


def test_duplicate_names() -> None:
    with pytest.raises(SpecError, match=r"slos\[1\] 'chat': name: duplicate SLO name"):
        parse_spec_document(doc(slo(), slo(objective=0.99)), "slos.yaml")


@pytest.mark.parametrize("version", [2, "1", 0, True])
def test_unknown_version(version: Any) -> None:
    with pytest.raises(SpecError, match="version: unknown spec version"):
        parse_spec_document(doc(slo(), version=version))


def test_missing_version() -> None:
    with pytest.raises(SpecError, match="add 'version: 1'"):
        parse_spec_document({"slos": [slo()]})


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"min_events": -1}, "min_events: expected a non-negative integer"),
        ({"min_events": 2.5}, "min_events: expected a non-negative integer"),
        ({"alerts": []}, "alerts: expected a non-empty list"),
        ({"name": "has space"}, "name: expected a name"),
        ({"objetive": 0.9}, "unknown field 'objetive'"),
        ({"group_by": ["region"]}, "group_by: expected a list of"),
        ({"selector": {"region": "eu"}}, "selector: unknown field 'region'"),
        ({"selector": {"service": []}}, "selector: service: expected a non-empty string"),
        ({"sli": {"kind": "latency"}}, "threshold: kind latency needs a threshold"),
        ({"sli": {"kind": "quality"}}, "field: kind quality needs the verdict field"),
        ({"sli": {"kind": "error_ratio", "threshold": 3}}, "not used by kind error_ratio"),
    ],
)
def test_other_invalid_fields(over: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_slo(slo(**over))


@pytest.mark.parametrize(
    ("alert", "message"),
    [
        ({"long": "1h", "short": "5m", "budget": 0, "severity": "page"}, "budget must be in"),
        ({"long": "1h", "short": "5m", "budget": 1.5, "severity": "page"}, "budget must be in"),
        (
            {"long": "1h", "short": "5m", "budget": 0.02, "severity": "page now!"},
            "severity must be",
        ),
        ({"long": "1h", "short": "5m", "budget": 0.02, "severity": ""}, "severity must be"),
        ({"long": "1h", "short": "5m", "budget": 0.02}, "missing field 'severity'"),
    ],
)
def test_invalid_alerts(alert: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_slo(slo(alerts=[alert]))


def test_duplicate_alert() -> None:
    a = {"long": "1h", "short": "5m", "budget": 0.02, "severity": "page"}
    with pytest.raises(SpecError, match=r"alerts\[1\]: the same alert is listed twice"):
        parse_slo(slo(alerts=[a, dict(a)]))
    # Same windows with another budget or severity is a different alert.
    assert len(parse_slo(slo(alerts=[a, dict(a, severity="ticket")])).alerts) == 2


# --------------------------------------------------------------------------- files


def test_yaml_and_json_files_load_the_same(tmp_path: Path) -> None:
    data = doc(slo(min_events=10, sli={"kind": "latency", "field": "ttft_ms", "threshold": 900}))
    (tmp_path / "s.json").write_text(json.dumps(data))
    import yaml

    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    a = load_spec_file(tmp_path / "s.json")
    b = load_spec_file(tmp_path / "s.yaml")
    assert a.slos == b.slos
    assert a.slos[0].sli == SliSpec("latency", "ttft_ms", 900.0, ())


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such spec file"):
        load_spec_file(tmp_path / "nope.yaml")
    (tmp_path / "bad.json").write_text("{version: 1")
    with pytest.raises(SpecError, match="not valid JSON"):
        load_spec_file(tmp_path / "bad.json")
    (tmp_path / "bad.yaml").write_text("version: 1\nslos: [\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec_file(tmp_path / "bad.yaml")


def test_example_spec_file_is_valid() -> None:
    f = load_spec_file(REPO / "infra" / "config" / "slos.yaml")
    kinds = {s.sli.kind for s in f.slos}
    assert kinds == {"error_ratio", "latency", "quality"}
    assert f.get("chat-api-ttft").factors == pytest.approx((13.44, 5.6))
    with pytest.raises(SpecError, match="no SLO named 'x'"):
        f.get("x")


# --------------------------------------------------------------------------- SLIs


def test_error_ratio_sli_default() -> None:
    sli = SliSpec.parse(None)
    eligible, bad = sli.classify({"status": ["ok", "error", "timeout", "filtered"]}, 4)
    assert eligible.all()
    assert bad.tolist() == [False, True, True, False]


def test_latency_sli_strictly_greater_and_missing_not_counted() -> None:
    sli = SliSpec.parse({"kind": "latency", "threshold": 500})
    assert sli.field == "latency_ms"
    eligible, bad = sli.classify({"latency_ms": np.array([499.0, 500.0, 501.0, np.nan])}, 4)
    assert eligible.tolist() == [True, True, True, False]
    assert bad.tolist() == [False, False, True, False]


def test_quality_sli_score_and_boolean() -> None:
    tox = SliSpec.parse({"kind": "quality", "field": "toxicity", "threshold": 0.8})
    assert tox.classify({"toxicity": [0.1, 0.95, None]}, 3)[1].tolist() == [False, True, False]
    pii = SliSpec.parse({"kind": "quality", "field": "pii_found"})
    eligible, bad = pii.classify({"pii_found": [True, False, None]}, 3)
    assert eligible.tolist() == [True, True, False]
    assert bad.tolist() == [True, False, False]
    assert pii.is_bad({}) is None


def test_selector_globs_exact_and_lists() -> None:
    sel = Selector.parse({"service": "chat-*", "model": ["gpt-4o", "llama-3*"]})
    cols = {
        "service": ["chat-api", "chat-api", "search", "chat-bot", None],
        "model": ["gpt-4o", "gpt-4", "gpt-4o", "llama-3.1", "gpt-4o"],
    }
    assert sel.mask(cols, 5).tolist() == [True, False, False, True, False]
    assert Selector.parse({"service": "chat"}).matches({"service": "chat-api"}) is False
    assert Selector.parse(None).mask({}, 2).tolist() == [True, True]
    # A selector on a field the batch does not carry matches nothing.
    assert Selector.parse({"track": "canary"}).mask({"service": ["a"]}, 1).tolist() == [False]


def test_quality_sli_rejects_non_numeric_values() -> None:
    tox = SliSpec.parse({"kind": "quality", "field": "toxicity", "threshold": 0.8})
    with pytest.raises(ValueError, match="'toxicity' must hold numbers or booleans"):
        tox.classify({"toxicity": ["high", "low"]}, 2)
