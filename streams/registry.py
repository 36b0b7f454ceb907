"""Where writer schemas come from: the local manifest, or a Confluent Schema Registry.

A :class:`SchemaResolver` answers two questions: "which Avro schema has id N?" (decoding) and
"which id do I frame my records with?" (encoding). Two implementations:

- :class:`LocalSchemaResolver`: the fixed ids of ``schemas/manifest.json`` (the default, and
  what the embedded stack uses).
- :class:`RegistrySchemaResolver`: a Confluent Schema Registry over HTTP (httpx), used when
  ``schema_registry_url`` is set. Schemas by id are cached forever (ids are immutable in a
  registry); ids by subject and schema are cached after the first lookup or registration.

Errors: an id that does not exist raises :class:`schemas.loader.UnknownSchemaError` (permanent:
the message is invalid), a registry that cannot be reached or answers 5xx raises
:class:`SchemaRegistryError` with ``retryable=True`` (transient: do not dead-letter, retry).

httpx is imported only when a registry client is created, so the base SDK install
(confluent-kafka, fastavro, orjson) works without it.

Example
-------
>>> r = make_resolver(None)
>>> r.schema_id("inference_event")
1001
>>> r.writer_schema(1001)["name"]
'InferenceEvent'
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from schemas.loader import Manifest, UnknownSchemaError, schema_digest

if TYPE_CHECKING:
    import httpx

__all__ = [
    "LocalSchemaResolver",
    "RegistrySchemaResolver",
    "SchemaRegistryClient",
    "SchemaRegistryError",
    "SchemaResolver",
    "UnknownSchemaError",
    "make_resolver",
]

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


@runtime_checkable
class SchemaResolver(Protocol):
    """What the codec needs to know about schemas."""

    def writer_schema(self, schema_id: int) -> dict[str, Any]:
        """The schema (JSON, unparsed) registered under ``schema_id``.

        Raises ``UnknownSchemaError`` when the id does not exist, ``SchemaRegistryError``
        when it cannot be known right now.
        """
        ...

    def schema_id(self, name: str, version: int | None = None, subject: str | None = None) -> int:
        """The id to frame records of the local schema ``name`` / ``version`` with."""
        ...


class SchemaRegistryError(RuntimeError):
    """A schema registry request failed.

    Attributes
    ----------
    status : int | None
        HTTP status, or None when no answer came (connection error, timeout).
    error_code : int | None
        Confluent error code from the body (e.g. 40401 subject not found), when given.
    retryable : bool
        True for timeouts, connection errors and 5xx/429: retry later, do not dead-letter.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: int | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.retryable = retryable


class LocalSchemaResolver:
    """Schemas and ids from a local manifest (default: the one shipped with tocsin).

    Parameters
    ----------
    manifest : Manifest | None
        The manifest to read; None = ``schemas/manifest.json``.

    Examples
    --------
    >>> r = LocalSchemaResolver()
    >>> r.schema_id("alert", 1)
    2001
    >>> r.writer_schema(2001)["name"]
    'Alert'
    """

    def __init__(self, manifest: Manifest | None = None) -> None:
        self.manifest = manifest if manifest is not None else Manifest.default()

    def writer_schema(self, schema_id: int) -> dict[str, Any]:
        return self.manifest.info(schema_id=schema_id).raw()

    def schema_id(self, name: str, version: int | None = None, subject: str | None = None) -> int:
        return self.manifest.info(name, version).id

    def __repr__(self) -> str:
        return f"LocalSchemaResolver({self.manifest.path})"


class SchemaRegistryClient:
    """A small, caching client for the Confluent Schema Registry REST API.

    Parameters
    ----------
    url : str
        Base URL, e.g. ``http://registry:8081``. Credentials may be given as
        ``https://user:secret@host``; they are sent as HTTP basic auth and never logged.
    timeout_s : float
        Per-request timeout.
    transport : httpx.BaseTransport | None
        For tests: an ``httpx.MockTransport`` standing in for the registry.

    Examples
    --------
    >>> import httpx
    >>> def registry(request):
    ...     return httpx.Response(200, json={"schema": '{"type": "string"}'})
    >>> c = SchemaRegistryClient("http://registry.test", transport=httpx.MockTransport(registry))
    >>> c.get_schema(7)
    {'type': 'string'}
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "schema_registry_url needs httpx: pip install httpx (or tocsin[pipeline])"
            ) from exc
        self._httpx = httpx
        parsed = httpx.URL(url)
        auth = None
        if parsed.username or parsed.password:
            auth = httpx.BasicAuth(parsed.username, parsed.password)
            parsed = parsed.copy_with(username=None, password=None)
        self.url = str(parsed).rstrip("/")
        self._client = httpx.Client(
            base_url=self.url,
            timeout=timeout_s,
            auth=auth,
            transport=transport,
            headers={"Accept": _CONTENT_TYPE},
        )
        self._lock = threading.Lock()
        self._by_id: dict[int, dict[str, Any]] = {}
        self._ids: dict[tuple[str, str], int] = {}

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def __repr__(self) -> str:
        return f"SchemaRegistryClient({self.url!r})"

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        httpx = self._httpx
        try:
            if body is None:
                resp = self._client.request(method, path)
            else:
                resp = self._client.request(
                    method,
                    path,
                    content=json.dumps(body).encode(),
                    headers={"Content-Type": _CONTENT_TYPE},
                )
        except httpx.TransportError as exc:
            raise SchemaRegistryError(
                f"schema registry {self.url} unreachable ({type(exc).__name__}): "
                "check schema_registry_url and that the registry is up",
                retryable=True,
            ) from exc
        if resp.status_code < 300:
            return resp.json()
        error_code = None
        message = resp.reason_phrase
        try:
            err = resp.json()
            error_code = int(err.get("error_code")) if err.get("error_code") else None
            message = str(err.get("message") or message)
        except (ValueError, TypeError, AttributeError):
            pass
        raise SchemaRegistryError(
            f"schema registry {method} {path}: HTTP {resp.status_code}: {message}",
            status=resp.status_code,
            error_code=error_code,
            retryable=resp.status_code >= 500 or resp.status_code == 429,
        )

    def get_schema(self, schema_id: int) -> dict[str, Any]:
        """The schema registered under ``schema_id`` (cached; ids are immutable).

        Raises
        ------
        UnknownSchemaError
            The registry does not know the id (HTTP 404).
        SchemaRegistryError
            Any other failure.
        """
        cached = self._by_id.get(schema_id)
        if cached is not None:
            return cached
        try:
            body = self._request("GET", f"/schemas/ids/{int(schema_id)}")
        except SchemaRegistryError as exc:
            if exc.status == 404:
                raise UnknownSchemaError(
                    f"schema id {schema_id} is not registered in {self.url}"
                ) from None
            raise
        schema_type = body.get("schemaType", "AVRO")
        if schema_type != "AVRO":
            raise UnknownSchemaError(f"schema id {schema_id} is {schema_type}, not AVRO")
        schema: dict[str, Any] = json.loads(body["schema"])
        with self._lock:
            self._by_id[schema_id] = schema
        return schema

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        """Register ``schema`` under ``subject`` (idempotent) and return its id (cached)."""
        key = (subject, schema_digest(schema))
        cached = self._ids.get(key)
        if cached is not None:
            return cached
        body = self._request(
            "POST", f"/subjects/{subject}/versions", {"schema": json.dumps(schema)}
        )
        schema_id = int(body["id"])
        with self._lock:
            self._ids[key] = schema_id
            self._by_id.setdefault(schema_id, schema)
        return schema_id

    def lookup(self, subject: str, schema: dict[str, Any]) -> int | None:
        """The id of ``schema`` under ``subject``, or None when it is not registered there."""
        key = (subject, schema_digest(schema))
        cached = self._ids.get(key)
        if cached is not None:
            return cached
        try:
            body = self._request("POST", f"/subjects/{subject}", {"schema": json.dumps(schema)})
        except SchemaRegistryError as exc:
            if exc.status == 404:
                return None
            raise
        schema_id = int(body["id"])
        with self._lock:
            self._ids[key] = schema_id
        return schema_id

    def latest(self, subject: str) -> dict[str, Any] | None:
        """The latest Avro schema registered under ``subject``, or None when there is none
        (not cached: it changes)."""
        try:
            body = self._request("GET", f"/subjects/{subject}/versions/latest")
        except SchemaRegistryError as exc:
            if exc.status == 404:
                return None
            raise
        if body.get("schemaType", "AVRO") != "AVRO":
            return None
        latest: dict[str, Any] = json.loads(body["schema"])
        return latest


class RegistrySchemaResolver:
    """Writer schemas from a Confluent Schema Registry; local schemas registered on demand.

    Parameters
    ----------
    client : SchemaRegistryClient
        The registry.
    manifest : Manifest | None
        Where the local schemas (what this process writes) come from.
    auto_register : bool
        Register a local schema when its subject lacks it (Confluent's default). When False,
        a missing schema is an error telling you to register it.
    negative_ttl_s : float
        How long an unknown id is remembered before asking the registry again, so a stream of
        records with a bogus id does not become a stream of HTTP requests.
    """

    def __init__(
        self,
        client: SchemaRegistryClient,
        manifest: Manifest | None = None,
        *,
        auto_register: bool = True,
        negative_ttl_s: float = 60.0,
    ) -> None:
        self.client = client
        self.manifest = manifest if manifest is not None else Manifest.default()
        self.auto_register = auto_register
        self.negative_ttl_s = negative_ttl_s
        self._unknown: dict[int, float] = {}

    def writer_schema(self, schema_id: int) -> dict[str, Any]:
        seen = self._unknown.get(schema_id)
        if seen is not None and time.monotonic() - seen < self.negative_ttl_s:
            raise UnknownSchemaError(f"schema id {schema_id} is not registered in the registry")
        try:
            return self.client.get_schema(schema_id)
        except UnknownSchemaError:
            self._unknown[schema_id] = time.monotonic()
            raise

    def schema_id(self, name: str, version: int | None = None, subject: str | None = None) -> int:
        info = self.manifest.info(name, version)
        subject = subject or info.subject
        schema = info.raw()
        if self.auto_register:
            return self.client.register(subject, schema)
        found = self.client.lookup(subject, schema)
        if found is None:
            raise SchemaRegistryError(
                f"{info.name} v{info.version} is not registered under subject {subject!r}: "
                "register it, or enable auto_register"
            )
        return found

    def __repr__(self) -> str:
        return f"RegistrySchemaResolver({self.client.url!r})"


def make_resolver(
    schema_registry_url: str | None, *, manifest: Manifest | None = None
) -> SchemaResolver:
    """The resolver for a configuration: a registry when a URL is given, else the manifest.

    >>> make_resolver(None)
    LocalSchemaResolver(...manifest.json)
    """
    if schema_registry_url:
        return RegistrySchemaResolver(SchemaRegistryClient(schema_registry_url), manifest)
    return LocalSchemaResolver(manifest)
