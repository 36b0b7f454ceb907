"""One factory for ClickHouse clients: embedded chdb or a real server, same code after it.

``chdb:///abs/path`` opens the embedded engine in that directory through clickhouse-connect's
chdb backend (one process per directory: see STACK.md); ``http(s)://user:pass@host:port``
talks to a ClickHouse server. Both return a synchronous ``clickhouse_connect`` client whose
current database exists.

Example
-------
>>> client = connect("chdb://memory", database="doc_db")
>>> client.command("SELECT currentDatabase()")
'doc_db'
>>> client.close()
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from sinks.base import wrap

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def resolve_url(clickhouse_url: str | None, chdb_path: Path | str) -> str:
    """The URL to open: ``clickhouse_url`` when set, else the embedded chdb directory.

    >>> resolve_url(None, "/var/lib/tocsin/clickhouse")
    'chdb:///var/lib/tocsin/clickhouse'
    >>> resolve_url("http://ch:8123", "/ignored")
    'http://ch:8123'
    """
    if clickhouse_url:
        return clickhouse_url
    return f"chdb://{Path(chdb_path).expanduser().resolve()}"


def is_embedded(url: str) -> bool:
    """Whether ``url`` names the embedded chdb engine.

    >>> is_embedded("chdb:///tmp/x"), is_embedded("https://ch:8443")
    (True, False)
    """
    return url.startswith("chdb:")


def quote_ident(name: str) -> str:
    """Check a database or table name and back-quote it.

    >>> quote_ident("tocsin")
    '`tocsin`'
    >>> quote_ident("x; DROP")
    Traceback (most recent call last):
    ...
    ValueError: invalid ClickHouse identifier 'x; DROP': use letters, digits and _
    """
    if not _IDENT.match(name):
        raise ValueError(f"invalid ClickHouse identifier {name!r}: use letters, digits and _")
    return f"`{name}`"


def redact_url(url: str) -> str:
    """``url`` with its password replaced, safe for logs and status output.

    >>> redact_url("https://tocsin:s3cret@ch.example:8443/db")
    'https://tocsin:***@ch.example:8443/db'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def connect(
    url: str,
    database: str | None = "tocsin",
    *,
    create_database: bool = True,
    **client_kwargs: Any,
) -> Client:
    """Open a client on ``url`` and make ``database`` its current database.

    Parameters
    ----------
    url
        ``chdb:///absolute/dir``, ``chdb://memory`` or ``http(s)://[user[:password]@]host[:port]``.
    database
        Created when missing (``create_database``) and used for unqualified names.
    client_kwargs
        Passed to ``clickhouse_connect.get_client`` (``settings``, ``tz_mode``...).

    Raises
    ------
    sinks.base.RetryableError, sinks.base.PermanentError
        When the server cannot be reached or the engine cannot be opened; the message says
        which URL (password hidden).
    """
    parts = urlsplit(url)
    try:
        if parts.scheme == "chdb":
            location = url[len("chdb://") :]
            if location in ("", "memory", ":memory:"):
                client = clickhouse_connect.get_client(interface="chdb", **client_kwargs)
            elif location.startswith("/"):
                client = clickhouse_connect.get_client(
                    interface="chdb", path=location, **client_kwargs
                )
            else:
                raise ValueError(
                    f"chdb URL {url!r} needs an absolute directory, like chdb:///var/lib/tocsin/ch"
                )
        elif parts.scheme in ("http", "https"):
            if parts.hostname in _LOOPBACK:
                # on one machine compressing the batches only costs CPU on both ends
                client_kwargs.setdefault("compress", False)
            client = clickhouse_connect.get_client(
                interface=parts.scheme,
                host=parts.hostname or "localhost",
                port=parts.port or (8443 if parts.scheme == "https" else 8123),
                username=unquote(parts.username) if parts.username else "default",
                password=unquote(parts.password) if parts.password else "",
                **client_kwargs,
            )
        else:
            raise ValueError(
                f"unsupported ClickHouse URL {redact_url(url)!r}: use chdb:///dir or http(s)://host:port"
            )
        if database:
            if create_database:
                client.command(f"CREATE DATABASE IF NOT EXISTS {quote_ident(database)}")
            client.database = database
    except ValueError:
        raise
    except Exception as exc:
        raise wrap(exc, f"cannot open ClickHouse at {redact_url(url)}") from exc
    return client
