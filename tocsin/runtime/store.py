"""Open tocsin's ClickHouse store from the settings, and migrate it.

Embedded mode (no ``clickhouse_url``) uses chdb in ``$TOCSIN_HOME/clickhouse``. chdb lets
one process open a directory: while the stack runs, the store process
(:mod:`tocsin.runtime.store_process`) owns it and everyone else goes through its HTTP
interface; :mod:`tocsin.runtime.store_access` finds it. This module does not know about the
running stack (no import of :mod:`tocsin.runtime.stack`, which imports this one).

Example
-------
>>> from tocsin.settings import Settings
>>> store_url(Settings(home="/tmp/tocsin-doc"))
'chdb:///tmp/tocsin-doc/clickhouse'
"""

from __future__ import annotations

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
                "store process, `tocsin sql` or a notebook). While the stack runs, query it "
                "through `tocsin sql` or `tocsin store url`, or stop the stack with `tocsin down`. "
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
