"""Avro schema compatibility by the specification's schema-resolution rules.

``backward_problems(reader, writer)`` lists why data written with ``writer`` cannot be read
with ``reader`` (empty: compatible). BACKWARD compatibility of a new schema version means
the new version reads what the previous one wrote: ``backward_problems(new, old)``.
The rules are Avro's (and the Schema Registry's): fields added to a record need a default,
removed fields are ignored, types may only be promoted (int → long → float → double,
string ↔ bytes), enum symbols may only be added (or the reader needs a default), unions are
resolved branch by branch, named types match by name or alias.

Example
-------
>>> old = {"type": "record", "name": "E", "fields": [{"name": "a", "type": "int"}]}
>>> added = {"type": "record", "name": "E", "fields": [{"name": "a", "type": "long"},
...          {"name": "b", "type": ["null", "string"], "default": None}]}
>>> backward_problems(added, old)
[]
>>> needs_default = {"type": "record", "name": "E", "fields": [{"name": "a", "type": "int"},
...                  {"name": "c", "type": "string"}]}
>>> backward_problems(needs_default, old)
['E.c: field added without a default (old data has no value for it)']
"""

from __future__ import annotations

import itertools
from typing import Any

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
PROMOTIONS = {
    "int": {"int", "long", "float", "double"},
    "long": {"long", "float", "double"},
    "float": {"float", "double"},
    "string": {"string", "bytes"},
    "bytes": {"bytes", "string"},
}
NAMED = frozenset({"record", "enum", "fixed", "error"})

Names = dict[str, dict[str, Any]]


def _full_name(schema: dict[str, Any], namespace: str | None) -> str:
    name = str(schema["name"])
    if "." in name:
        return name
    ns = schema.get("namespace", namespace)
    return f"{ns}.{name}" if ns else name


def _collect(schema: Any, names: Names, namespace: str | None = None) -> None:
    """Record every named type of ``schema`` under its full and short name."""
    if isinstance(schema, list):
        for branch in schema:
            _collect(branch, names, namespace)
        return
    if not isinstance(schema, dict):
        return
    kind = schema.get("type")
    if kind in NAMED:
        full = _full_name(schema, namespace)
        names[full] = schema
        names.setdefault(full.rsplit(".", 1)[-1], schema)
        namespace = full.rsplit(".", 1)[0] if "." in full else namespace
        for f in schema.get("fields", []):
            _collect(f.get("type"), names, namespace)
    elif kind == "array":
        _collect(schema.get("items"), names, namespace)
    elif kind == "map":
        _collect(schema.get("values"), names, namespace)
    elif isinstance(kind, dict | list):
        _collect(kind, names, namespace)


def _resolve(schema: Any, names: Names) -> Any:
    """Follow references to named types and unwrap ``{"type": "int"}``-style primitives."""
    if isinstance(schema, str) and schema not in PRIMITIVES:
        return names.get(schema, schema)
    if isinstance(schema, dict):
        kind = schema.get("type")
        if isinstance(kind, str) and kind in PRIMITIVES:
            return kind
        if isinstance(kind, dict | list) or (
            isinstance(kind, str) and kind not in NAMED | {"array", "map"}
        ):
            return _resolve(kind, names)
    return schema


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, str):
        return schema
    return str(schema.get("type"))


def _short(schema: dict[str, Any]) -> str:
    return str(schema.get("name", "")).rsplit(".", 1)[-1]


def _names_match(reader: dict[str, Any], writer: dict[str, Any]) -> bool:
    aliases = {a.rsplit(".", 1)[-1] for a in reader.get("aliases", [])}
    return _short(reader) == _short(writer) or _short(writer) in aliases


def _check(
    reader: Any,
    writer: Any,
    rnames: Names,
    wnames: Names,
    path: str,
    seen: set[tuple[int, int]],
) -> list[str]:
    reader, writer = _resolve(reader, rnames), _resolve(writer, wnames)
    key = (id(reader), id(writer))
    if key in seen:  # recursive types: assume compatible on the way back
        return []
    rk, wk = _kind(reader), _kind(writer)
    if wk == "union":
        seen = seen | {key}
        problems: list[str] = []
        for branch in writer:
            problems += _check(reader, branch, rnames, wnames, path, seen)
        return problems
    if rk == "union":
        for branch in reader:
            if not _check(branch, writer, rnames, wnames, path, seen):
                return []
        return [f"{path}: no branch of the new union reads the old {wk}"]
    if wk in PRIMITIVES:
        if rk in PRIMITIVES and rk in PROMOTIONS.get(wk, {wk}):
            return []
        return [f"{path}: type changed from {wk} to {rk}, which cannot read it"]
    if rk != wk:
        return [f"{path}: type changed from {wk} to {rk}"]
    seen = seen | {key}
    if wk == "array":
        return _check(reader["items"], writer["items"], rnames, wnames, f"{path}[]", seen)
    if wk == "map":
        return _check(reader["values"], writer["values"], rnames, wnames, f"{path}{{}}", seen)
    if not _names_match(reader, writer):
        where = path or _short(writer)
        return [
            f"{where}: named type {_short(writer)} renamed to {_short(reader)} without an alias"
        ]
    if wk == "fixed":
        if reader.get("size") != writer.get("size"):
            return [f"{path}: fixed size changed from {writer.get('size')} to {reader.get('size')}"]
        return []
    if wk == "enum":
        missing = [s for s in writer.get("symbols", []) if s not in reader.get("symbols", [])]
        if missing and "default" not in reader:
            return [f"{path}: enum symbols removed without a default: {', '.join(missing)}"]
        return []
    problems = []
    written = {f["name"]: f for f in writer.get("fields", [])}
    prefix = path or _short(reader)
    for field in reader.get("fields", []):
        candidates = [field["name"], *field.get("aliases", [])]
        old = next((written[n] for n in candidates if n in written), None)
        where = f"{prefix}.{field['name']}"
        if old is None:
            if "default" not in field:
                problems.append(
                    f"{where}: field added without a default (old data has no value for it)"
                )
            continue
        problems += _check(field["type"], old["type"], rnames, wnames, where, seen)
    return problems


def backward_problems(reader: Any, writer: Any) -> list[str]:
    """Why ``reader`` cannot read data written with ``writer``; empty when it can."""
    rnames: Names = {}
    wnames: Names = {}
    _collect(reader, rnames)
    _collect(writer, wnames)
    return _check(reader, writer, rnames, wnames, "", set())


def check_manifest(manifest: Any) -> list[str]:
    """Problems of every shipped schema version against the one before it (BACKWARD).

    >>> from schemas.loader import Manifest
    >>> check_manifest(Manifest.default())
    []
    """
    problems: list[str] = []
    by_name: dict[str, list[Any]] = {}
    for info in manifest.list():
        by_name.setdefault(info.name, []).append(info)
    for name, infos in sorted(by_name.items()):
        infos.sort(key=lambda i: i.version)
        for old, new in itertools.pairwise(infos):
            for problem in backward_problems(new.raw(), old.raw()):
                problems.append(f"{name} v{new.version} cannot read v{old.version}: {problem}")
    return problems
