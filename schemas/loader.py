"""Load tocsin's Avro schemas by name, version or schema id.

The manifest (``schemas/manifest.json``) fixes one schema id per ``(name, version)``: the id
is what goes into the 4-byte Confluent frame header when no schema registry is configured.
Ids and files are immutable once released; a schema changes by adding a new version with a
new id. Each entry records the SHA-256 of the schema's normalized JSON (:func:`schema_digest`)
so that an edit in place is caught by the tests.

Schema conventions (``schemas/avro/*.avsc``, namespace ``io.tocsin.v1``):

- Closed vocabularies (``track``, ``status``, severities, actions) are Avro **enums with a
  ``default`` symbol**: compact on the wire, validated by Avro itself, and a reader on an
  older version maps a symbol added later to a safe default instead of failing (an unknown
  ``track`` reads as ``shadow``: monitored but never judged as stable or canary; an unknown
  ``status`` reads as ``error``: conservative for SLOs; an unknown rollback ``action`` reads
  as ``pause``: the least destructive).
- Optional values are ``["null", T]`` with ``"default": null``; maps default to ``{}``; so a
  producer sends only what it knows, and fields can be added in later versions.
- Times are ``long`` with ``logicalType: timestamp-millis`` (epoch milliseconds, UTC).

This module imports only the standard library and fastavro, so a producing service can use it
with the base install.

Example
-------
>>> info = schema_info("inference_event")
>>> info.id, info.version, info.subject
(1001, 1, 'tocsin.events.v1-value')
>>> load_schema_by_id(1001)["name"]
'io.tocsin.v1.InferenceEvent'
>>> [s.name for s in list_schemas()][:2]
['inference_event', 'alert']
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema

SCHEMAS_DIR = Path(__file__).resolve().parent
MANIFEST_PATH = SCHEMAS_DIR / "manifest.json"


class UnknownSchemaError(KeyError):
    """No schema with that name, version or id in the manifest."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown schema"


@dataclass(frozen=True)
class SchemaInfo:
    """One manifest entry.

    Attributes
    ----------
    name : str
        Logical name, e.g. ``inference_event``.
    version : int
        Version number, starting at 1.
    id : int
        Schema id written in the Confluent frame header.
    subject : str
        Schema-registry subject (TopicNameStrategy, ``<topic>-value``).
    path : Path
        The ``.avsc`` file.
    sha256 : str
        Digest of the normalized schema JSON (see :func:`schema_digest`).
    """

    name: str
    version: int
    id: int
    subject: str
    path: Path
    sha256: str

    def raw(self) -> dict[str, Any]:
        """The schema as JSON (unparsed), a fresh copy.

        >>> schema_info("alert").raw()["name"]
        'Alert'
        """
        data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        return data

    def text(self) -> str:
        """The schema as compact JSON text, as registered in a schema registry.

        >>> schema_info("alert").text().startswith('{"type":"record"')
        True
        """
        return json.dumps(self.raw(), separators=(",", ":"))


def schema_digest(raw: dict[str, Any]) -> str:
    """SHA-256 of a schema's normalized JSON (sorted keys, no whitespace).

    Unlike the Avro parsing canonical form, this covers defaults and docs, which matter for
    schema resolution, while ignoring formatting.

    >>> schema_digest({"type": "string"}) == schema_digest({ "type" : "string" })
    True
    """
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Manifest:
    """A set of versioned schemas with fixed ids, read from a ``manifest.json``.

    Parameters
    ----------
    path : Path
        The manifest file; schema ``file`` entries are relative to its directory.

    Examples
    --------
    >>> m = Manifest.default()
    >>> m.info(name="inference_event", version=1).id
    1001
    >>> m.info(schema_id=2001).name
    'alert'
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        data = json.loads(self.path.read_text(encoding="utf-8"))
        entries = data.get("schemas")
        if not isinstance(entries, list):
            raise ValueError(f"{self.path}: expected a 'schemas' list")
        base = self.path.parent
        self._by_id: dict[int, SchemaInfo] = {}
        self._by_name: dict[str, dict[int, SchemaInfo]] = {}
        for entry in entries:
            info = SchemaInfo(
                name=str(entry["name"]),
                version=int(entry["version"]),
                id=int(entry["id"]),
                subject=str(entry.get("subject", f"{entry['name']}-value")),
                path=base / str(entry["file"]),
                sha256=str(entry.get("sha256", "")),
            )
            if info.id in self._by_id:
                raise ValueError(f"{self.path}: schema id {info.id} is used twice")
            versions = self._by_name.setdefault(info.name, {})
            if info.version in versions:
                raise ValueError(f"{self.path}: {info.name} v{info.version} is listed twice")
            self._by_id[info.id] = info
            versions[info.version] = info
        self._parsed: dict[int, dict[str, Any]] = {}

    @classmethod
    def default(cls) -> Manifest:
        """The manifest shipped with tocsin (cached)."""
        return _default_manifest()

    def list(self) -> list[SchemaInfo]:
        """All entries, in manifest order."""
        return list(self._by_id.values())

    def info(
        self,
        name: str | None = None,
        version: int | None = None,
        *,
        schema_id: int | None = None,
    ) -> SchemaInfo:
        """Find an entry by ``schema_id``, or by ``name`` and ``version`` (None = latest).

        Raises
        ------
        UnknownSchemaError
            When nothing matches; the message lists what exists.
        """
        if schema_id is not None:
            try:
                return self._by_id[int(schema_id)]
            except KeyError:
                known = ", ".join(str(i) for i in sorted(self._by_id))
                raise UnknownSchemaError(
                    f"schema id {schema_id} is not in {self.path.name} (known ids: {known})"
                ) from None
        if name is None:
            raise ValueError("give a schema name or a schema_id")
        versions = self._by_name.get(name)
        if not versions:
            known = ", ".join(sorted(self._by_name))
            raise UnknownSchemaError(f"no schema named {name!r} (known: {known})")
        if version is None:
            return versions[max(versions)]
        try:
            return versions[int(version)]
        except KeyError:
            have = ", ".join(f"v{v}" for v in sorted(versions))
            raise UnknownSchemaError(f"{name} has no v{version} (have {have})") from None

    def parsed(self, schema_id: int) -> dict[str, Any]:
        """The fastavro-parsed schema for an id (parsed once, then cached)."""
        cached = self._parsed.get(schema_id)
        if cached is not None:
            return cached
        parsed: dict[str, Any] = parse_schema(self.info(schema_id=schema_id).raw())  # type: ignore[assignment]
        self._parsed[schema_id] = parsed
        return parsed


@cache
def _default_manifest() -> Manifest:
    return Manifest(MANIFEST_PATH)


def list_schemas() -> list[SchemaInfo]:
    """All schemas shipped with tocsin, in manifest order.

    >>> len(list_schemas()) >= 5
    True
    """
    return Manifest.default().list()


def schema_info(name: str, version: int | None = None) -> SchemaInfo:
    """Manifest entry for ``name`` and ``version`` (None = latest).

    >>> schema_info("dead_letter", 1).id
    5001
    """
    return Manifest.default().info(name, version)


def schema_info_by_id(schema_id: int) -> SchemaInfo:
    """Manifest entry for a schema id.

    >>> schema_info_by_id(1001).name
    'inference_event'
    """
    return Manifest.default().info(schema_id=schema_id)


def load_schema(name: str, version: int | None = None) -> dict[str, Any]:
    """The fastavro-parsed schema for ``name`` and ``version`` (None = latest).

    >>> load_schema("rollback_ack")["name"]
    'io.tocsin.v1.RollbackAck'
    """
    return Manifest.default().parsed(schema_info(name, version).id)


def load_schema_by_id(schema_id: int) -> dict[str, Any]:
    """The fastavro-parsed schema for a schema id.

    >>> sorted(f["name"] for f in load_schema_by_id(1001)["fields"])[:3]
    ['attributes', 'cost_usd', 'deployment']
    """
    return Manifest.default().parsed(schema_id)
