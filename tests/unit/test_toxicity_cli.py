"""`tocsin toxicity score` and `tocsin models info|verify` through the real CLI app."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from typer.testing import CliRunner

from detectors.toxicity import default_bundle_dir
from tocsin.cli import app

runner = CliRunner()


def test_score_jsonl_reports_malformed_lines_and_keeps_going(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(
        b'{"id": "a", "text": "You are a worthless idiot."}\n'
        b"this is not json\n"
        b'{"id": "b", "text": "Thanks for the help!"}\n'
        b'{"id": 3}\n'
        b"\n"
        b'{"id": "c", "text": "bad \\ud800 surrogate"}\n'
        b"[1, 2]\n"
    )
    result = runner.invoke(app, ["toxicity", "score", str(src), "--batch-size", "2", "--json"])
    assert result.exit_code == 1, result.output
    out = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [o["id"] for o in out] == ["a", "b", "c"]
    assert out[0]["scores"]["toxicity"] > 0.5 > out[1]["scores"]["toxicity"]
    assert set(out[0]["scores"]) == {
        "toxicity",
        "severe_toxicity",
        "obscene",
        "threat",
        "insult",
        "identity_attack",
    }
    assert "line 2: not valid JSON; skipped" in result.stderr
    assert 'line 4: no string "text" field; skipped' in result.stderr
    assert "line 7: not a JSON object; skipped" in result.stderr
    summary = json.loads(next(line for line in result.stderr.splitlines() if line.startswith("{")))
    assert summary["records"] == 3 and summary["skipped_lines"] == [2, 4, 7]


def test_score_stdin_all_good_exits_zero() -> None:
    result = runner.invoke(app, ["toxicity", "score", "-"], input='{"id": 1, "text": "hello"}\n')
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[0])["id"] == 1


def test_score_missing_file_and_bad_bundle(tmp_path: Path) -> None:
    result = runner.invoke(app, ["toxicity", "score", str(tmp_path / "nope.jsonl")])
    flat = re.sub(r"[\s│╭╮╰╯─]+", " ", result.output)  # rich boxes and wraps the message
    assert result.exit_code == 2 and "no such file" in flat
    result = runner.invoke(app, ["toxicity", "score", "-", "--model", str(tmp_path)], input="")
    assert result.exit_code == 2 and "manifest.json is missing" in result.stderr


def test_models_info_and_verify(tmp_path: Path) -> None:
    result = runner.invoke(app, ["models", "info", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["license"] == "MIT" and len(info["members"]) == 3
    assert all(len(f["sha256"]) == 64 for f in info["files"].values())
    result = runner.invoke(app, ["models", "verify", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True

    bundle = tmp_path / "b"
    shutil.copytree(default_bundle_dir(), bundle)
    with (bundle / "jigsaw_bilstm.tokenizer.json").open("a") as f:
        f.write(" ")
    result = runner.invoke(app, ["models", "verify", str(bundle)])
    assert result.exit_code == 1
    assert "jigsaw_bilstm.tokenizer.json" in result.stderr


def test_export_detoxify_cli_errors_clearly(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "models",
            "export-detoxify",
            "--checkpoint",
            str(tmp_path / "x.ckpt"),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code in (1, 2)
    assert "x.ckpt" in result.stderr or "export extra" in result.stderr
