"""`tocsin schemas check`: the shipped versions pass; an incompatible new version, or a
registry holding something the shipped schema cannot read, fails."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from schemas.compatibility import backward_problems
from schemas.loader import Manifest, schema_digest, schema_info
from tocsin.cli import app

runner = CliRunner()


def manifest_with_v2(tmp_path: Path, change: Any) -> Path:
    """The shipped manifest plus an inference_event v2 made by ``change(schema)``."""
    shipped = Manifest.default()
    data = json.loads(shipped.path.read_text())
    for entry in data["schemas"]:
        target = tmp_path / entry["file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((shipped.path.parent / entry["file"]).read_text())
    v2 = copy.deepcopy(schema_info("inference_event", 1).raw())
    change(v2)
    (tmp_path / "avro" / "inference_event.v2.avsc").write_text(json.dumps(v2))
    data["schemas"].append(
        {
            "name": "inference_event",
            "version": 2,
            "id": 1002,
            "subject": "tocsin.events.v1-value",
            "file": "avro/inference_event.v2.avsc",
            "sha256": schema_digest(v2),
        }
    )
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data))
    return path


def field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in schema["fields"] if f["name"] == name)


def test_shipped_schemas_pass() -> None:
    result = runner.invoke(app, ["schemas", "check", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["problems"] == []


def test_a_compatible_new_version_passes(tmp_path: Path) -> None:
    def add_optional(s: dict[str, Any]) -> None:
        s["fields"].append({"name": "region", "type": ["null", "string"], "default": None})
        field(s, "tokens_in")["type"] = ["null", "long"]  # int -> long is a promotion
        field(s, "track")["type"]["symbols"].append("experiment")

    result = runner.invoke(
        app, ["schemas", "check", "--manifest", str(manifest_with_v2(tmp_path, add_optional))]
    )
    assert result.exit_code == 0, result.output


def test_a_deliberately_incompatible_version_fails(tmp_path: Path) -> None:
    def break_it(s: dict[str, Any]) -> None:
        s["fields"].append({"name": "region", "type": "string"})  # required, no default
        field(s, "latency_ms")["type"] = "int"  # double cannot be read as int
        status = field(s, "status")["type"]
        status["symbols"].remove("filtered")  # old data may hold it ...
        del status["default"]  # ... and there is no default to read it as

    result = runner.invoke(
        app, ["schemas", "check", "--manifest", str(manifest_with_v2(tmp_path, break_it))]
    )
    assert result.exit_code == 1
    out = result.output
    assert "inference_event v2 cannot read v1" in out
    assert "region: field added without a default" in out
    assert "latency_ms: type changed from double to int" in out
    assert "enum symbols removed without a default: filtered" in out


def test_unions_records_and_aliases() -> None:
    old = {"type": "record", "name": "R", "fields": [{"name": "a", "type": ["null", "int"]}]}
    assert (
        backward_problems(
            {"type": "record", "name": "R", "fields": [{"name": "a", "type": ["null", "long"]}]},
            old,
        )
        == []
    )
    assert backward_problems(
        {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}, old
    ) == ["R.a: type changed from null to int, which cannot read it"]
    renamed = {
        "type": "record",
        "name": "S",
        "aliases": ["R"],
        "fields": [{"name": "b", "aliases": ["a"], "type": ["null", "int"]}],
    }
    assert backward_problems(renamed, old) == []
    assert backward_problems({**renamed, "aliases": []}, old) == [
        "R: named type R renamed to S without an alias"
    ]


class _Registry(BaseHTTPRequestHandler):
    """Confluent Schema Registry's GET /subjects/{subject}/versions/latest."""

    holds: ClassVar[dict[str, dict[str, Any]]] = {}

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if len(parts) == 4 and parts[0] == "subjects" and parts[2:] == ["versions", "latest"]:
            schema = self.holds.get(parts[1])
            if schema is not None:
                body = {"subject": parts[1], "version": 3, "id": 77, "schema": json.dumps(schema)}
                return self._send(200, body)
            return self._send(
                404, {"error_code": 40401, "message": f"Subject '{parts[1]}' not found."}
            )
        self._send(404, {"error_code": 404, "message": "HTTP 404 Not Found"})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def registry() -> Iterator[tuple[str, dict[str, dict[str, Any]]]]:
    holds: ClassVar[dict[str, dict[str, Any]]] = {}
    handler = type("Handler", (_Registry,), {"holds": holds})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", holds
    finally:
        server.shutdown()
        server.server_close()


def test_checks_against_what_the_registry_holds(
    registry: tuple[str, dict[str, dict[str, Any]]],
) -> None:
    url, holds = registry
    holds["tocsin.events.v1-value"] = schema_info("inference_event", 1).raw()
    assert runner.invoke(app, ["schemas", "check", "--registry", url]).exit_code == 0
    newer = copy.deepcopy(schema_info("inference_event", 1).raw())
    field(newer, "tokens_in")["type"] = ["null", "long"]  # a producer widened the type
    holds["tocsin.events.v1-value"] = newer
    result = runner.invoke(app, ["schemas", "check", "--registry", url])
    assert result.exit_code == 1
    assert "tocsin.events.v1-value holds in the registry" in result.output
    assert "tokens_in" in result.output
