from pathlib import Path

import pytest

from tocsin.settings import Settings


def test_env_overrides_yaml_and_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "tocsin.yaml"
    cfg.write_text("topics:\n  partitions: 8\nbootstrap_servers: kafka:9092\n")
    monkeypatch.setenv("TOCSIN_CONFIG", str(cfg))
    monkeypatch.setenv("TOCSIN_TOPICS__PARTITIONS", "6")
    s = Settings()
    assert s.topics.partitions == 6
    assert s.bootstrap_servers == "kafka:9092"
    assert not s.embedded_broker


def test_missing_config_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOCSIN_CONFIG", "/nonexistent/tocsin.yaml")
    with pytest.raises(FileNotFoundError, match="TOCSIN_CONFIG"):
        Settings()
