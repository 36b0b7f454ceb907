"""docs/configuration.md is generated from the settings model and must be current."""

from __future__ import annotations

from tocsin.config_reference import DOC_PATH, reference_rows, render
from tocsin.settings import Settings


def test_reference_is_current() -> None:
    assert DOC_PATH.read_text() == render(), (
        "docs/configuration.md is stale: run `python -m tocsin.config_reference --write`"
    )


def test_every_setting_has_a_meaning_and_its_env_var_works(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    rows = reference_rows()
    missing = [r.key for r in rows if not r.meaning]
    assert not missing, f"settings without a description (add Field(description=...)): {missing}"
    assert len({r.key for r in rows}) == len(rows)
    # the documented variable really sets the documented key
    monkeypatch.setenv("TOCSIN_WORKER__BATCH_SIZE", "123")
    monkeypatch.setenv("TOCSIN_OTLP__TRACK_ATTRIBUTE", "x.track")
    s = Settings()
    assert s.worker.batch_size == 123 and s.otlp.track_attribute == "x.track"
    assert {"TOCSIN_WORKER__BATCH_SIZE", "TOCSIN_OTLP__TRACK_ATTRIBUTE"} <= {r.env for r in rows}
