"""Open tocsin's ClickHouse store from the settings, and migrate it.

Embedded mode (no ``clickhouse_url``) uses chdb in ``$TOCSIN_HOME/clickhouse``. chdb lets
one process open a directory: while the stack runs, the worker owns it and other readers go
through the worker's query endpoint (``query_url`` in ``run/stack.json``).

Example
-------
>>> from tocsin.settings import Settings
>>> store_url(Settings(home="/tmp/tocsin-doc"))
'chdb:///tmp/tocsin-doc/clickhouse'
"""

from __future__ import annotations

from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from sinks.base import SinkError
from sinks.clickhouse.client import connect, resolve_url
from sinks.clickhouse.migrations import MigrationReport, migrate
from tocsin.settings import Settings


class StoreError(RuntimeError):
    """The store cannot be opened; the message says what to do."""


def store_url(settings: Settings) -> str:
    """``clickhouse_url``, or ``chdb://`` + the embedded directory."""
    return resolve_url(settings.clickhouse_url, settings.chdb_path)


def open_store(settings: Settings) -> Client:
    """A client on the store with ``clickhouse_database`` current (created when missing).

    Raises
    ------
    StoreError
        The embedded directory is held by another process, or the server is unreachable.
    """
    url = store_url(settings)
    if settings.embedded_clickhouse:
        settings.chdb_path.mkdir(parents=True, exist_ok=True)
    try:
        return connect(
            url,
            database=settings.clickhouse_database,
            create_database=not settings.clickhouse_cluster,
        )
    except SinkError as exc:
        text = str(exc)
        if settings.embedded_clickhouse and (
            "Unable to open the chdb engine" in text or "Cannot lock file" in text
        ):
            raise StoreError(
                f"the embedded store {settings.chdb_path} is open in another process (a running "
                "worker, `tocsin sql` or a notebook). While the stack runs, query it through "
                "`tocsin sql` (it goes through the worker), or stop the stack with `tocsin down`. "
                f"({text})"
            ) from exc
        raise StoreError(str(exc)) from exc


def run_migrations(settings: Settings, client: Client | None = None) -> MigrationReport:
    """Apply the missing migrations to the store (see ``sinks.clickhouse.migrations``)."""
    own = client is None
    client = client or open_store(settings)
    try:
        return migrate(
            client,
            settings.clickhouse_database,
            cluster=settings.clickhouse_cluster,
            directory=settings.clickhouse_migrations_dir,
            params={"events_ttl_days": settings.clickhouse_ttl_days},
        )
    finally:
        if own:
            client.close()


def endpoint_client(query_url: str, database: str) -> Client:
    """A clickhouse-connect HTTP client on a worker's query endpoint."""
    parts = urlsplit(query_url)
    try:
        return clickhouse_connect.get_client(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 8123,
            database=database,
            compress=False,
            connect_timeout=5,
            send_receive_timeout=300,
        )
    except Exception as exc:
        raise StoreError(
            f"the stack's query endpoint {query_url} does not answer ({exc}); check "
            "`tocsin status` and the worker log under $TOCSIN_HOME/logs/"
        ) from exc


def query_client(settings: Settings) -> tuple[Client, str]:
    """A client for reading the store wherever it is, and a note saying where.

    Embedded: the running worker's query endpoint (the worker owns the chdb directory), else
    chdb directly when the stack is stopped. Server mode: the server.

    Raises
    ------
    StoreError
        The worker runs but has no endpoint yet, or the store cannot be opened.
    """
    from tocsin.runtime.stack import Stack

    if not settings.embedded_clickhouse:
        return open_store(settings), "server"
    status = Stack(settings).status()
    if status["query_url"]:
        client = endpoint_client(status["query_url"], settings.clickhouse_database)
        return client, f"worker endpoint {status['query_url']}"
    if status["alive"].get("worker-0"):
        raise StoreError(
            "worker-0 runs and owns the embedded store but has no query endpoint yet; "
            "wait for it to start (`tocsin status`) or stop the stack"
        )
    return open_store(settings), f"chdb {settings.chdb_path}"
