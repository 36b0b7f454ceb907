"""The embedded store as its own process: chdb behind ClickHouse's HTTP interface.

chdb admits one process per data directory (STACK.md), so ``tocsin up`` runs one process
that owns ``$TOCSIN_HOME/clickhouse`` and serves it on ``127.0.0.1:PORT`` with the
query endpoint of :mod:`sinks.clickhouse.query_server` (queries and inserts). Workers,
``tocsin sql``, Grafana and notebooks all reach it with clickhouse-connect over HTTP,
exactly as they reach a ClickHouse server. Every request authenticates with the generated
credentials of :mod:`tocsin.runtime.credentials`; the analyst's engine session is
``readonly = 1``.

Run by ``tocsin up`` as ``tocsin store serve --port PORT``; SIGTERM closes the engine.

Example
-------
>>> store_command(8123)[-4:]
['store', 'serve', '--port', '8123']
"""

from __future__ import annotations

import logging
import sys

from tocsin.runtime.credentials import ensure_credentials
from tocsin.settings import Settings

log = logging.getLogger("tocsin.store")

#: What identifies the store process in its command line.
STORE_TOKENS = ("tocsin.cli", "store", "serve")


def store_command(port: int) -> list[str]:
    """The command ``tocsin up`` starts the store with."""
    return [
        sys.executable,
        "-c",
        "from tocsin.cli import main; main()",
        "store",
        "serve",
        "--port",
        str(port),
    ]


def serve_store(settings: Settings, port: int) -> int:
    """Open the embedded store and serve it until SIGTERM/SIGINT; returns the exit code."""
    from aiohttp import web

    from sinks.clickhouse.client import connect, resolve_url
    from sinks.clickhouse.query_server import (
        LOCALHOST,
        StoreUser,
        build_app,
        password_digest,
        readonly_session,
    )

    if not settings.embedded_clickhouse:
        raise ValueError("clickhouse_url is set: there is no embedded store to serve")
    settings.chdb_path.mkdir(parents=True, exist_ok=True)
    creds = ensure_credentials(settings.home_abs)
    url = resolve_url(None, settings.chdb_path)
    database = settings.clickhouse_database
    writer = connect(url, database)
    # one engine session per user: the analyst's is read-only for good
    analyst = readonly_session(connect(url, database, create_database=False))
    users = [
        StoreUser(c.user, password_digest(c.password), client, readonly=(role == "analyst"))
        for role, c, client in (
            ("writer", creds["writer"], writer),
            ("analyst", creds["analyst"], analyst),
        )
    ]
    print(f"store: {settings.chdb_path} on http://{LOCALHOST}:{port}/", flush=True)
    try:
        web.run_app(
            build_app(writer, users), host=LOCALHOST, port=port, print=None, access_log=None
        )
    finally:
        analyst.close()
        writer.close()
    return 0
