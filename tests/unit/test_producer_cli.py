"""Broker resolution and line validation of `tocsin produce`, without a broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from tocsin.cli.produce import NoBrokerError, _send_line, resolve_bootstrap
from tocsin.settings import Settings


def test_explicit_beats_settings_beats_stack_file(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "stack.json").write_text('{"bootstrap_servers": "127.0.0.1:5555"}')
    assert resolve_bootstrap("x:1", Settings(home=tmp_path, bootstrap_servers="y:2")) == "x:1"
    assert resolve_bootstrap(None, Settings(home=tmp_path, bootstrap_servers="y:2")) == "y:2"
    assert resolve_bootstrap(None, Settings(home=tmp_path)) == "127.0.0.1:5555"


def test_no_broker_anywhere(tmp_path: Path) -> None:
    with pytest.raises(NoBrokerError, match="run `tocsin up` or set TOCSIN_BOOTSTRAP_SERVERS"):
        resolve_bootstrap(None, Settings(home=tmp_path))


@pytest.mark.parametrize("content", ["{broken", '{"other": 1}', "[]"])
def test_unusable_stack_file(tmp_path: Path, content: str) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "stack.json").write_text(content)
    with pytest.raises(NoBrokerError, match="tocsin up"):
        resolve_bootstrap(None, Settings(home=tmp_path))


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []

    def send(self, event: dict[str, object]) -> str:
        from streams.codec import EventEncoder

        EventEncoder().normalize(event)
        self.sent.append(event)
        return "id"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"{nope", "invalid JSON"),
        (b'"a string"', "expected a JSON object, got str"),
        (b'{"service": "s"}', "deployment: required field is missing"),
    ],
)
def test_line_rejections(line: bytes, reason: str) -> None:
    rec = _Recorder()
    got = _send_line(rec, line)
    assert got is not None and got.startswith(reason)
    assert rec.sent == []


def test_good_line_is_sent() -> None:
    rec = _Recorder()
    line = (
        b'{"service": "s", "deployment": "d", "track": "stable", "model": "m",'
        b' "model_version": "1", "status": "ok", "latency_ms": 3, "ts": "2026-01-01T00:00:00Z"}'
    )
    assert _send_line(rec, line) is None and len(rec.sent) == 1


def test_generate_rejects_unknown_services_before_anything_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from tocsin.cli import app

    monkeypatch.setenv("TOCSIN_HOME", str(tmp_path))
    monkeypatch.delenv("TOCSIN_BOOTSTRAP_SERVERS", raising=False)
    result = CliRunner().invoke(app, ["generate", "--count", "5", "--services", "chat-api,nope"])
    assert result.exit_code == 2
    assert "unknown service 'nope': choose from chat-api" in result.stderr


def test_generate_to_file_needs_no_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from tocsin.cli import app

    monkeypatch.setenv("TOCSIN_HOME", str(tmp_path))
    monkeypatch.delenv("TOCSIN_BOOTSTRAP_SERVERS", raising=False)
    out = tmp_path / "e.jsonl"
    result = CliRunner().invoke(
        app, ["generate", "--count", "7", "--services", "summarizer", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(events) == 7 and {e["service"] for e in events} == {"summarizer"}
