"""`tocsin pii scan` / `tocsin pii entities` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tocsin.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOCSIN_CONFIG", raising=False)
    monkeypatch.setenv("TOCSIN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TOCSIN_PII__HMAC_KEY", "cli-test-key")


def records(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_scan_jsonl_from_stdin() -> None:
    lines = [
        {"id": "a", "text": "mail ana@example.org, ip 10.0.0.1"},
        {"id": 7, "text": "nothing to see"},
    ]
    stdin = "\n".join(json.dumps(x) for x in lines) + "\n"
    result = runner.invoke(app, ["pii", "scan", "-"], input=stdin)
    assert result.exit_code == 0, result.stderr
    out = records(result.stdout)
    assert out[0] == {
        "id": "a",
        "findings": [
            {"type": "EMAIL_ADDRESS", "start": 5, "end": 20, "score": 0.9},
            {"type": "IP_ADDRESS", "start": 25, "end": 33, "score": 0.85},
        ],
        "redacted": "mail <EMAIL_ADDRESS>, ip <IP_ADDRESS>",
    }
    assert out[1] == {"id": 7, "findings": [], "redacted": "nothing to see"}
    assert "2 records, 0 skipped" in result.stderr
    assert "EMAIL_ADDRESS=1" in result.stderr


def test_plain_text_lines_get_line_numbers_as_ids(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("first line 536-90-4399\n\nthird a@b.example\n", encoding="utf-8")
    result = runner.invoke(app, ["pii", "scan", str(src)])
    assert result.exit_code == 0, result.stderr
    out = records(result.stdout)
    assert [(r["id"], r["redacted"]) for r in out] == [
        (1, "first line <US_SSN>"),
        (3, "third <EMAIL_ADDRESS>"),
    ]


def test_malformed_lines_are_reported_by_number_skipped_and_exit_1() -> None:
    stdin = (
        '{"id": 1, "text": "ok 10.0.0.1"}\n'
        '{"id": 2, "text": "secret ana@example.org"\n'  # broken JSON holding PII
        '{"id": 3, "body": "no text field"}\n'
        '{"id": 4, "text": 12}\n'
        '{"id": 5, "text": "ok a@b.example"}\n'
    )
    result = runner.invoke(app, ["pii", "scan", "--json"], input=stdin)
    assert result.exit_code == 1
    assert [r["id"] for r in records(result.stdout)] == [1, 5]
    assert "line 2: not valid JSON; skipped" in result.stderr
    assert 'line 3: no string "text" field; skipped' in result.stderr
    assert "ana@example.org" not in result.stderr  # never echo raw input
    summary = json.loads(next(line for line in result.stderr.splitlines() if line.startswith("{")))
    assert summary["skipped"] == 3
    assert summary["skipped_lines"] == [2, 3, 4]
    assert summary["findings"] == {"EMAIL_ADDRESS": 1, "IP_ADDRESS": 1}


def test_mode_and_entities_options() -> None:
    stdin = json.dumps({"id": "x", "text": "a@b.example 10.0.0.1"}) + "\n"
    result = runner.invoke(
        app, ["pii", "scan", "--mode", "hash", "--entities", "email_address"], input=stdin
    )
    assert result.exit_code == 0, result.stderr
    (rec,) = records(result.stdout)
    assert rec["redacted"].startswith("<EMAIL_ADDRESS:")
    assert rec["redacted"].endswith(" 10.0.0.1")
    drop = runner.invoke(app, ["pii", "scan", "--mode", "drop"], input=stdin)
    assert records(drop.stdout)[0]["redacted"] == " "


def test_bad_options_exit_2_with_a_hint(tmp_path: Path) -> None:
    result = runner.invoke(app, ["pii", "scan", "--entities", "NOPE"], input="")
    assert result.exit_code == 2
    assert "NOPE" in result.output and "supported" in result.output
    result = runner.invoke(app, ["pii", "scan", "--mode", "mask"], input="")
    assert result.exit_code == 2
    missing = runner.invoke(app, ["pii", "scan", str(tmp_path / "missing.jsonl")])
    assert missing.exit_code == 2
    assert "no such file" in missing.output


def test_invalid_utf8_and_surrogate_escapes_in_input() -> None:
    stdin = b'{"id": 1, "text": "bad \\ud800 a@b.example"}\n\xff\xfe raw 10.0.0.1\n'
    result = runner.invoke(app, ["pii", "scan"], input=stdin)
    assert result.exit_code == 0, result.stderr
    out = records(result.stdout)
    assert out[0]["redacted"] == "bad \ufffd <EMAIL_ADDRESS>"
    assert out[1]["redacted"] == "\ufffd\ufffd raw <IP_ADDRESS>"


def test_entities_lists_supported_types() -> None:
    result = runner.invoke(app, ["pii", "entities", "--json"])
    assert result.exit_code == 0
    assert "CREDIT_CARD" in json.loads(result.stdout)


def test_help_has_an_example() -> None:
    result = runner.invoke(app, ["pii", "scan", "--help"])
    assert result.exit_code == 0
    assert "Example: tocsin pii scan" in result.stdout


def test_custom_patterns_and_allow_list_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOCSIN_PII__CUSTOM_PATTERNS", '{"TICKET_ID": "TCK-[0-9]{6}"}')
    monkeypatch.setenv("TOCSIN_PII__ALLOW_LIST", '["help@example.org"]')
    stdin = json.dumps({"id": 1, "text": "TCK-123456 from help@example.org"}) + "\n"
    result = runner.invoke(app, ["pii", "scan"], input=stdin)
    assert result.exit_code == 0, result.stderr
    assert records(result.stdout)[0]["redacted"] == "<TICKET_ID> from help@example.org"
    monkeypatch.setenv("TOCSIN_PII__CUSTOM_PATTERNS", '{"BAD": "("}')
    bad = runner.invoke(app, ["pii", "scan"], input=stdin)
    assert bad.exit_code == 2
    assert "custom_patterns" in bad.output


def test_an_id_with_a_lone_surrogate_is_written_back_as_valid_json() -> None:
    # regression: orjson refused the echoed id and the scan crashed with a traceback
    stdin = '{"id": "x\\ud800", "text": "mail jane.doe@example.com"}\n'
    result = runner.invoke(app, ["pii", "scan", "-"], input=stdin)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.splitlines()[0])
    assert out["id"].startswith("x\ufffd") and out["redacted"] == "mail <EMAIL_ADDRESS>"


DONE_WHEN = (
    '{"id":1,"text":"Hi, I am Maria José Gómez Ruiz, call me on 06 12 34 56 78 or visit '
    '14 Rue des Lilas, 69003 Lyon"}\n'
)


def test_scan_finds_the_person_the_phone_and_the_address_by_default() -> None:
    # Issue 13's "done when": a file scan finds names and addresses (NER) unless the
    # settings turn it off; the worker's own default (pii.ner) stays off.
    result = runner.invoke(app, ["pii", "scan", "-"], input=DONE_WHEN)
    assert result.exit_code == 0, result.stderr
    (out,) = records(result.stdout)
    assert out["redacted"] == "Hi, I am <PERSON>, call me on <PHONE_NUMBER> or visit <LOCATION>"
    assert [f["type"] for f in out["findings"]] == ["PERSON", "PHONE_NUMBER", "LOCATION"]


def test_scan_follows_pii_ner_when_the_settings_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOCSIN_PII__NER", "false")
    result = runner.invoke(app, ["pii", "scan", "-"], input=DONE_WHEN)
    (out,) = records(result.stdout)
    assert [f["type"] for f in out["findings"]] == ["PHONE_NUMBER"]
    forced = runner.invoke(app, ["pii", "scan", "--ner", "-"], input=DONE_WHEN)
    assert "PERSON" in [f["type"] for f in records(forced.stdout)[0]["findings"]]
