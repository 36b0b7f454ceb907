"""`tocsin silence add | list | expire` on a store (the stack down: chdb opened directly)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import run_cli

pytestmark = pytest.mark.integration


def test_add_list_expire(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    added = run_cli(
        home,
        "silence",
        "add",
        "--match",
        "service=chat-api",
        "--match",
        "track=canary",
        "--for",
        "2h",
        "--comment",
        "migration window",
        "--json",
    )
    sid = json.loads(added.stdout)["silence_id"]
    listed = [json.loads(x) for x in run_cli(home, "silence", "list", "--json").stdout.splitlines()]
    assert [(s["silence_id"], s["matchers"], s["active"]) for s in listed] == [
        (sid, {"service": "chat-api", "track": "canary"}, True)
    ]
    assert listed[0]["ends_ms"] - listed[0]["starts_ms"] == 2 * 3600 * 1000
    assert "expired" in run_cli(home, "silence", "expire", sid).stdout
    assert run_cli(home, "silence", "list").stdout.strip() == "no silences"
    everything = run_cli(home, "silence", "list", "--all", "--json").stdout.splitlines()
    assert [json.loads(x)["active"] for x in everything] == [False]
    missing = run_cli(home, "silence", "expire", "nope", check=False)
    assert missing.returncode == 1 and "no silence" in missing.stderr
    bad = run_cli(home, "silence", "add", "--match", "service", "--comment", "x", check=False)
    assert bad.returncode == 2 and "name=value" in bad.stderr
