"""Where the store is right now, for the CLI: a server, the running store process, or chdb.

- ``clickhouse_url`` set: that server, always.
- Embedded and the stack's store process runs: its HTTP interface, as the analyst
  (read-only) for queries or as the writer for migrations, with the generated credentials.
- Embedded and nothing runs: chdb opened directly on ``$TOCSIN_HOME/clickhouse``.

This module sits above :mod:`tocsin.runtime.stack` and :mod:`tocsin.runtime.store`, so
neither imports the other's way around.

Example
-------
>>> from tocsin.settings import Settings
>>> running_store_url(Settings(home="/nonexistent")) is None
True
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from sinks.base import SinkError
from sinks.clickhouse.client import connect, redact_url
from tocsin.runtime.credentials import CredentialsError, Role, load_credentials, with_credentials
from tocsin.runtime.stack import Stack
from tocsin.runtime.store import StoreError, open_store
from tocsin.settings import Settings


def running_store_url(settings: Settings, role: Role = "analyst") -> str | None:
    """The running embedded store's URL with ``role``'s credentials, or None when the store
    process does not run (or the store is a server)."""
    if not settings.embedded_clickhouse:
        return None
    status = Stack(settings).status()
    base = status.get("store_url")
    if not base:
        return None
    try:
        creds = load_credentials(settings.home_abs, role)
    except CredentialsError as exc:
        raise StoreError(str(exc)) from exc
    return with_credentials(base, creds)


def store_settings(settings: Settings, role: Role = "writer") -> Settings:
    """``settings`` pointed at the running store process when there is one (as ``role``),
    else unchanged: what ``tocsin migrate`` and other writers use."""
    url = running_store_url(settings, role)
    return settings if url is None else settings.model_copy(update={"clickhouse_url": url})


def query_client(settings: Settings, role: Role = "analyst") -> tuple[Client, str]:
    """A client for reading the store wherever it is, and a note saying where.

    Raises
    ------
    StoreError
        The store cannot be opened or reached; the message says what to do.
    """
    if not settings.embedded_clickhouse:
        return open_store(settings), "server"
    url = running_store_url(settings, role)
    if url is None:
        return open_store(settings), f"chdb {settings.chdb_path}"
    try:
        client = connect(url, settings.clickhouse_database, create_database=False)
    except SinkError as exc:
        raise StoreError(
            f"the stack's store {redact_url(url)} does not answer ({exc}); check "
            "`tocsin status` and $TOCSIN_HOME/logs/store.log"
        ) from exc
    return client, f"store {redact_url(url)} as {role}"
