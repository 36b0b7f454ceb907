"""The schema manifest, the .avsc files, the loader and the examples."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.validation import validate

from schemas.loader import (
    MANIFEST_PATH,
    SCHEMAS_DIR,
    Manifest,
    UnknownSchemaError,
    list_schemas,
    load_schema,
    load_schema_by_id,
    schema_digest,
    schema_info,
    schema_info_by_id,
)
from streams.codec import EVENT_COLUMNS, to_epoch_ms

EXAMPLES = sorted((SCHEMAS_DIR / "examples").glob("*.json"))


def test_manifest_lists_every_avsc_file_once() -> None:
    listed = {info.path.resolve() for info in list_schemas()}
    on_disk = {p.resolve() for p in (SCHEMAS_DIR / "avro").glob("*.avsc")}
    assert listed == on_disk


def test_fixed_ids() -> None:
    assert schema_info("inference_event", 1).id == 1001
    assert {s.name: s.id for s in list_schemas()} == {
        "inference_event": 1001,
        "alert": 2001,
        "rollback_command": 3001,
        "rollback_ack": 4001,
        "dead_letter": 5001,
    }


@pytest.mark.parametrize("info", list_schemas(), ids=lambda i: f"{i.name}.v{i.version}")
def test_released_schema_files_are_unchanged(info: Any) -> None:
    # An id is forever: change a schema by adding a version, never by editing in place.
    assert schema_digest(info.raw()) == info.sha256, (
        f"{info.path.name} changed after release: add {info.name} v{info.version + 1} "
        "with a new id instead (or, before release, update sha256 in manifest.json)"
    )


@pytest.mark.parametrize("info", list_schemas(), ids=lambda i: i.name)
def test_every_schema_parses_and_enums_have_defaults(info: Any) -> None:
    raw = info.raw()
    parse_schema(raw)
    assert raw["namespace"] == "io.tocsin.v1"

    def enums(t: Any) -> list[dict[str, Any]]:
        if isinstance(t, dict):
            found = [t] if t.get("type") == "enum" else []
            for v in t.values():
                found += enums(v)
            return found
        if isinstance(t, list):
            return [e for v in t for e in enums(v)]
        return []

    for enum in enums(raw):
        assert enum.get("default") in enum["symbols"], f"{enum['name']} needs a default symbol"


def test_event_schema_fields_are_the_event_columns() -> None:
    names = [f["name"] for f in schema_info("inference_event").raw()["fields"]]
    assert names == [c for c in EVENT_COLUMNS if c != "schema_id"]


def test_loader_by_name_version_and_id() -> None:
    assert load_schema("inference_event")["name"] == "io.tocsin.v1.InferenceEvent"
    assert load_schema_by_id(2001) is load_schema("alert", 1)  # parsed once, cached
    assert schema_info_by_id(5001).subject == "tocsin.dlq.v1-value"


def test_unknown_schema_errors_say_what_exists() -> None:
    with pytest.raises(UnknownSchemaError, match="known ids: 1001, 2001"):
        schema_info_by_id(9999)
    with pytest.raises(UnknownSchemaError, match="no schema named 'nope'"):
        schema_info("nope")
    with pytest.raises(UnknownSchemaError, match=r"has no v7 \(have v1\)"):
        schema_info("alert", 7)


def test_manifest_rejects_duplicate_ids(tmp_path: Path) -> None:
    entries = json.loads(MANIFEST_PATH.read_text())["schemas"]
    dup = dict(entries[1], id=entries[0]["id"])
    (tmp_path / "manifest.json").write_text(json.dumps({"schemas": [entries[0], dup]}))
    with pytest.raises(ValueError, match="used twice"):
        Manifest(tmp_path / "manifest.json")


def test_manifest_latest_version(tmp_path: Path) -> None:
    (tmp_path / "a.v1.avsc").write_text('{"type": "string"}')
    (tmp_path / "a.v2.avsc").write_text('{"type": "long"}')
    (tmp_path / "manifest.json").write_text(
        json.dumps(
            {
                "schemas": [
                    {"name": "a", "version": 2, "id": 12, "file": "a.v2.avsc"},
                    {"name": "a", "version": 1, "id": 11, "file": "a.v1.avsc"},
                ]
            }
        )
    )
    m = Manifest(tmp_path / "manifest.json")
    assert m.info("a").id == 12
    assert m.info("a", 1).raw() == {"type": "string"}


def _bytes_fields_to_bytes(value: Any, avro_type: Any) -> Any:
    """Avro's JSON encoding writes bytes as ISO-8859-1 strings."""
    if isinstance(avro_type, list):
        if value is None:
            return None
        branch = next(b for b in avro_type if b != "null")
        return _bytes_fields_to_bytes(value, branch)
    if avro_type == "bytes" and isinstance(value, str):
        return value.encode("latin-1")
    if isinstance(avro_type, dict) and avro_type.get("type") == "array":
        return [_bytes_fields_to_bytes(v, avro_type["items"]) for v in value]
    if isinstance(avro_type, dict) and avro_type.get("type") == "record":
        return {
            f["name"]: _bytes_fields_to_bytes(value.get(f["name"]), f["type"])
            for f in avro_type["fields"]
        }
    return value


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_fit_their_schema(path: Path) -> None:
    name = path.name.split(".")[0]
    raw = schema_info(name).raw()
    example = json.loads(path.read_text())
    if name == "inference_event":
        from streams.codec import EventEncoder

        record = EventEncoder().normalize(example)  # the SDK path: fills ids, converts ts
    else:
        record = _bytes_fields_to_bytes(example, raw)
        record["ts"] = to_epoch_ms(record["ts"])
    parsed = load_schema(name)
    assert validate(record, parsed, raise_errors=True)
    buf = io.BytesIO()
    schemaless_writer(buf, parsed, record)
    buf.seek(0)
    assert schemaless_reader(buf, parsed) is not None


def test_there_are_examples_for_every_schema() -> None:
    covered = {p.name.split(".")[0] for p in EXAMPLES}
    assert covered == {s.name for s in list_schemas()}
