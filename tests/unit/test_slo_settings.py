"""SloSettings: defaults, environment overrides, bounds."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tocsin.settings import EXAMPLE_SLO_SPEC, Settings, SloSettings


def test_defaults() -> None:
    s = SloSettings()
    assert s.enabled and s.lateness_minutes == 1
    # the example of the checkout tocsin runs from, wherever the command is started
    assert s.resolved_spec_file() == EXAMPLE_SLO_SPEC
    assert EXAMPLE_SLO_SPEC.is_absolute() and EXAMPLE_SLO_SPEC.parts[-3:] == (
        "infra",
        "config",
        "slos.yaml",
    )
    assert SloSettings(spec_file=Path("/etc/slos.yaml")).resolved_spec_file() == Path(
        "/etc/slos.yaml"
    )


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TOCSIN_HOME", str(tmp_path))
    monkeypatch.setenv("TOCSIN_SLO__LATENESS_MINUTES", "3")
    monkeypatch.setenv("TOCSIN_SLO__SPEC_FILE", "/srv/slos.yaml")
    s = Settings()
    assert s.slo.lateness_minutes == 3
    assert s.slo.spec_file == Path("/srv/slos.yaml")


def test_bounds() -> None:
    with pytest.raises(ValidationError):
        SloSettings(lateness_minutes=-1)
    with pytest.raises(ValidationError):
        SloSettings(idle_advance_s=0)
