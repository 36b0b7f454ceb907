"""A small endpoint that speaks ClickHouse's HTTP interface in front of one client.

The embedded store (chdb) can be opened by one process only, and while the stack runs that
process is the worker. The worker serves this endpoint so that ``tocsin sql``, ``curl``,
Grafana or ``clickhouse_connect.get_client(host="127.0.0.1", port=P)`` can read the same
data. It implements the part of the HTTP interface those clients use:

- ``GET|POST /?query=...``; a POST body is the query, or appended to ``query``; an
  ``INSERT ... FORMAT F`` in ``query`` takes its data from the body (gzip, deflate, br, lz4, zstd; every frame);
- ``default_format`` (else ``TabSeparated``) for result queries without a ``FORMAT``
  clause; the query's own ``FORMAT`` wins;
- ``database``, ``param_<name>`` (server-side parameters) and other parameters as settings;
- ``GET /ping`` and ``GET /`` -> ``Ok.``;
- errors: HTTP 500, ``X-ClickHouse-Exception-Code``, body the ClickHouse exception text.

It binds to 127.0.0.1 only. Without ``users`` it has no authentication (the worker's
in-process endpoint for tests and notebooks). With ``users`` (the embedded store process of
``tocsin up``, :mod:`tocsin.runtime.store_process`) every request must authenticate as
ClickHouse's HTTP interface does (HTTP basic auth, ``X-ClickHouse-User`` /
``X-ClickHouse-Key`` headers, or ``user`` / ``password`` parameters), and each user runs on
its own engine session: a read-only user's session has ClickHouse's ``readonly = 1``, so
writes, DDL and setting changes fail with ``Code: 164 (READONLY)`` as on a server.

Mount it on an existing aiohttp application (for instance the faust worker's web server)
with :meth:`QueryService.routes`, run it next to one with :class:`QueryServer` (own port,
same event loop), or standalone with ``python -m sinks.clickhouse.query_server``.

Example
-------
>>> import asyncio, httpx
>>> from sinks.clickhouse.client import connect
>>> async def demo():
...     server = QueryServer(connect("chdb://memory", database="doc_qs"), port=0)
...     await server.start()
...     async with httpx.AsyncClient() as http:
...         r = await http.get(server.url, params={"query": "SELECT 1 + 1"})
...     await server.stop()
...     return r.status_code, r.text
>>> asyncio.run(demo())
(200, '2\\n')
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import hashlib
import hmac
import re
import sys
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aiohttp import web
from clickhouse_connect.driver.client import Client

LOCALHOST = "127.0.0.1"
DEFAULT_FORMAT = "TabSeparated"

# Parameters of the HTTP interface that are not settings.
_TRANSPORT_PARAMS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "user",
        "password",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "compress",
        "decompress",
        "client_protocol_version",
        "quota_key",
        "buffer_size",
        "wait_end_of_query",
        "enable_http_compression",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
    }
)
_FORMAT_RE = re.compile(r"\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$", re.IGNORECASE)
# Leading comments (`-- ...` lines, `/* ... */` blocks) are skipped: a query file with a header
# comment (docs/sql/) is still a query.
_RESULT_QUERY_RE = re.compile(
    r"^\s*(?:(?:--[^\n]*(?:\n|$)|/\*.*?\*/)\s*)*(?:\(\s*)*"
    r"(SELECT|WITH|SHOW|DESC|DESCRIBE|EXISTS|EXPLAIN|CHECK)\b",
    re.IGNORECASE | re.DOTALL,
)
# An INSERT whose data follows its FORMAT clause (in the body, after a newline).
_INSERT_RE = re.compile(
    rb"^\s*INSERT\s+INTO\s+(?:TABLE\s+)?(?P<table>[`\w.]+)\s*(?:\((?P<cols>[^)]*)\))?\s*"
    rb"FORMAT\s+(?P<fmt>\w+)[ \t]*(?:\r?\n|$)",
    re.IGNORECASE,
)
_ESCAPES = {"b": "\b", "f": "\f", "r": "\r", "n": "\n", "t": "\t", "0": "\0", "\\": "\\"}
_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)
_CODE_RE = re.compile(r"Code:\s*(\d+)")
_CONTENT_TYPES = {
    "JSON": "application/json; charset=UTF-8",
    "JSONCompact": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
    "CSVWithNames": "text/csv; charset=UTF-8; header=present",
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
    "TabSeparatedWithNames": "text/tab-separated-values; charset=UTF-8",
    "Pretty": "text/plain; charset=UTF-8",
    "PrettyCompact": "text/plain; charset=UTF-8",
}


class QueryError(Exception):
    """A query failed; ``code`` is the ClickHouse error code (0 when unknown)."""

    def __init__(self, text: str, code: int = 0) -> None:
        super().__init__(text)
        self.code = code


def is_result_query(query: str) -> bool:
    """Whether ``query`` returns rows (SELECT, WITH, SHOW, DESCRIBE, EXISTS, EXPLAIN...).

    >>> is_result_query("  select 1"), is_result_query("CREATE TABLE t (a UInt8) ENGINE = Log")
    (True, False)
    >>> is_result_query("-- what it answers\\n/* how */ WITH 1 AS x SELECT x")
    True
    >>> is_result_query("-- SELECT in a comment\\nDROP TABLE t")
    False
    """
    return bool(_RESULT_QUERY_RE.match(query))


def has_format_clause(query: str) -> bool:
    """Whether ``query`` ends with its own ``FORMAT`` clause.

    >>> has_format_clause("SELECT 1 FORMAT JSONEachRow;"), has_format_clause("SELECT 'FORMAT'")
    (True, False)
    """
    return bool(_FORMAT_RE.search(query))


def result_format(query: str, default_format: str | None) -> tuple[str | None, str]:
    """The format to append (or None) and the format the response will be in.

    >>> result_format("SELECT 1", None)
    ('TabSeparated', 'TabSeparated')
    >>> result_format("SELECT 1 FORMAT JSON", "CSV")
    (None, 'JSON')
    >>> result_format("CREATE TABLE t (a UInt8) ENGINE = Memory", "JSON")
    (None, 'TabSeparated')
    """
    own = _FORMAT_RE.search(query)
    if own:
        return None, own.group(1)
    if _RESULT_QUERY_RE.match(query):
        fmt = default_format or DEFAULT_FORMAT
        return fmt, fmt
    return None, DEFAULT_FORMAT


def error_text(exc: BaseException) -> tuple[str, int]:
    """The ClickHouse exception text of ``exc`` (from ``Code:`` on) and its code.

    >>> error_text(ValueError("HTTPDriver received error\\nCode: 62. DB::Exception: Syntax error"))
    ('Code: 62. DB::Exception: Syntax error', 62)
    """
    text = str(exc)
    match = _CODE_RE.search(text)
    if match:
        return text[match.start() :].strip(), int(match.group(1))
    return f"Code: 0. DB::Exception: {type(exc).__name__}: {text}".strip(), 0


def unescape_param(value: str) -> str:
    """Undo the escaping of a ``param_<name>`` value (ClickHouse's TSV escaping).

    >>> unescape_param("it\\\\'s\\\\tok")
    "it's\\tok"
    """
    return _ESCAPE_RE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), value)


def _lz4_frames(body: bytes) -> bytes:
    """Every LZ4 frame of ``body``: clickhouse-connect sends one frame per block."""
    try:
        import lz4.frame
    except ImportError as exc:
        raise QueryError("Code: 0. lz4 request bodies need the lz4 package") from exc
    out = bytearray()
    rest = body
    while rest:
        decompressor = lz4.frame.LZ4FrameDecompressor()
        out += decompressor.decompress(rest)
        if not decompressor.eof:
            raise QueryError("Code: 0. DB::Exception: truncated lz4 request body")
        rest = decompressor.unused_data
    return bytes(out)


def _zstd_frames(body: bytes) -> bytes:
    """Every zstd frame of ``body``."""
    try:
        import zstandard
    except ImportError as exc:
        raise QueryError("Code: 0. zstd request bodies need the zstandard package") from exc
    reader = zstandard.ZstdDecompressor().stream_reader(body, read_across_frames=True)
    return bytes(reader.read())


def _decode_body(body: bytes, encoding: str) -> bytes:
    """The plain request body for a ``Content-Encoding``.

    aiohttp already inflates gzip/deflate (and br) bodies of requests it parses, so for
    those encodings a body that is not a valid compressed stream is taken as plain; a valid
    gzip/zlib stream cannot arise by accident (both carry checksums). Concatenated
    members/frames (one per block, as clickhouse-connect sends) are all decoded.

    >>> import gzip
    >>> _decode_body(gzip.compress(b"a") + gzip.compress(b"b"), "gzip")
    b'ab'
    >>> _decode_body(b"already inflated", "gzip")
    b'already inflated'
    """
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        try:
            return gzip.decompress(body)
        except (OSError, EOFError, zlib.error):
            return body
    if encoding == "deflate":
        try:
            out = bytearray()
            rest = body
            while rest:
                inflater = zlib.decompressobj()
                out += inflater.decompress(rest) + inflater.flush()
                if not inflater.eof:
                    return body
                rest = inflater.unused_data
            return bytes(out)
        except zlib.error:
            return body
    if encoding == "br":
        return body  # aiohttp inflates br when brotli is installed, and refuses it otherwise
    if encoding == "lz4":
        return _lz4_frames(body)
    if encoding == "zstd":
        return _zstd_frames(body)
    raise QueryError(
        f"Code: 0. DB::Exception: unsupported Content-Encoding {encoding!r} "
        "(use identity, gzip, deflate, br, lz4 or zstd)"
    )


def password_digest(password: str) -> str:
    """The sha256 hex digest under which a store user's password is kept in memory.

    >>> password_digest("secret")[:12]
    '2bb80d537b1d'
    """
    return hashlib.sha256(password.encode()).hexdigest()


@dataclass
class StoreUser:
    """A user of the endpoint: its password digest and the client its queries run on.

    Give every user its own client (its own engine session): a read-only user's client has
    ``readonly = 1`` set for its whole session (:func:`readonly_session`).
    """

    name: str
    password_sha256: str
    client: Client
    readonly: bool = False


def readonly_session(client: Client) -> Client:
    """Make ``client``'s session read-only (ClickHouse's ``readonly = 1``) and return it.

    The setting cannot be changed back in that session, so the user's queries cannot
    lift it.

    >>> from sinks.clickhouse.client import connect
    >>> ro = readonly_session(connect("chdb://memory", database="doc_ro"))
    >>> ro.command("SELECT getSetting('readonly')")
    1
    >>> ro.close()
    """
    client.command("SET readonly = 1")
    return client


def request_credentials(
    headers: Mapping[str, str], params: Mapping[str, str]
) -> tuple[str, str] | None:
    """The (user, password) a request carries, the ways ClickHouse's HTTP interface reads
    them: ``X-ClickHouse-User``/``X-ClickHouse-Key``, basic auth, ``user``/``password``.

    >>> request_credentials({"Authorization": "Basic " + base64.b64encode(b"a:b c").decode()}, {})
    ('a', 'b c')
    >>> request_credentials({}, {"user": "u", "password": "p"})
    ('u', 'p')
    >>> request_credentials({}, {}) is None
    True
    """
    user = headers.get("X-ClickHouse-User")
    if user is not None:
        return user, headers.get("X-ClickHouse-Key", "")
    auth = headers.get("Authorization", "")
    if auth[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(auth[6:].strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        name, _, password = decoded.partition(":")
        return name, password
    if "user" in params:
        return params["user"], params.get("password", "")
    return None


_AUTH_FAILED = (
    "Code: 516. DB::Exception: {user}: Authentication failed: password is incorrect, or "
    "there is no user with such name. (AUTHENTICATION_FAILED)"
)


class RawParam:
    """A ``param_<name>`` value passed on exactly as the HTTP client sent it.

    The text is in ClickHouse's escaped format for the parameter's type (``['a', 'b']`` for
    an ``Array(String)``, ``it\\'s`` for a ``String``); clickhouse-connect formats objects it
    does not know with ``str()``, so the engine parses the very text a server would.

    >>> str(RawParam("['a', 'b']"))
    "['a', 'b']"
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class QueryResult:
    """An HTTP answer: status, body and headers."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class QueryService:
    """The request handlers, bound to one clickhouse-connect client.

    Queries run one at a time in a worker thread (chdb calls block), so the event loop that
    hosts the handlers (faust's) keeps running while a query executes.
    """

    def __init__(self, client: Client, users: Sequence[StoreUser] | None = None) -> None:
        self.client = client
        self.default_database = client.database
        self.users = {u.name: u for u in users} if users else None
        self._lock = asyncio.Lock()

    def authenticate(self, headers: Mapping[str, str], params: Mapping[str, str]) -> Client:
        """The client to run a request on: the shared one without ``users``, else the
        authenticated user's. Raises :class:`QueryError` (code 516) on bad credentials."""
        if self.users is None:
            return self.client
        given = request_credentials(headers, params)
        name, password = given if given else ("default", "")
        user = self.users.get(name)
        if user is None or not hmac.compare_digest(password_digest(password), user.password_sha256):
            raise QueryError(_AUTH_FAILED.format(user=name or "default"), 516)
        return user.client

    def routes(self, prefix: str = "") -> list[web.RouteDef]:
        """Routes for ``app.add_routes(...)``: ``{prefix}/`` and ``{prefix}/ping``."""
        return [
            web.get(f"{prefix}/ping", self.ping),
            web.get(f"{prefix}/", self.handle),
            web.post(f"{prefix}/", self.handle),
        ]

    async def ping(self, request: web.Request) -> web.Response:
        """``GET /ping`` -> ``Ok.``, as ClickHouse answers."""
        return web.Response(text="Ok.\n")

    async def handle(self, request: web.Request) -> web.Response:
        """Run the request's query and return its raw output in the requested format."""
        try:
            client = self.authenticate(request.headers, request.query)
        except QueryError as exc:
            # ClickHouse answers 516 with 403; the body never repeats the password
            return web.Response(
                status=403,
                text=str(exc) + "\n",
                headers={"X-ClickHouse-Exception-Code": str(exc.code)},
            )
        result = await self.execute(
            request.query,
            await request.read(),
            request.headers.get("Content-Encoding", ""),
            client=client,
        )
        return web.Response(status=result.status, body=result.body, headers=result.headers)

    async def execute(
        self,
        params: Mapping[str, str],
        body: bytes = b"",
        content_encoding: str = "",
        *,
        client: Client | None = None,
    ) -> QueryResult:
        """Run one HTTP-interface request given as its URL parameters and body, on
        ``client`` (default: the shared client).

        Never raises: a failure is a 500 result with the ClickHouse exception text.
        """
        client = client or self.client
        try:
            body = _decode_body(body, content_encoding)
            query_param = params.get("query", "").encode()
            full = query_param + b"\n" + body if (query_param and body) else query_param or body
            insert = _INSERT_RE.match(full)
            data = full[insert.end() :] if insert else b""
            if insert and not data:
                insert = None  # INSERT ... FORMAT Values (...) inline: a plain query
            query = "" if insert else full.decode()
            if not insert and not query.strip():
                return QueryResult(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"})
            settings = {
                k: v
                for k, v in params.items()
                if k not in _TRANSPORT_PARAMS and not k.startswith("param_")
            }
            bind = {
                k[len("param_") :]: RawParam(v) for k, v in params.items() if k.startswith("param_")
            }
            database = params.get("database") or self.default_database
            async with self._lock:
                if insert:
                    out = await asyncio.to_thread(
                        self._insert, client, insert, data, database, settings
                    )
                    fmt = DEFAULT_FORMAT
                else:
                    append, fmt = result_format(query, params.get("default_format"))
                    out = await asyncio.to_thread(
                        self._query, client, query, append, database, settings, bind
                    )
        except Exception as exc:
            # every failure becomes ClickHouse's error response; nothing escapes the handler
            text, code = error_text(exc)
            if isinstance(exc, QueryError) and exc.code:
                code = exc.code
            return QueryResult(
                500,
                (text + "\n").encode(),
                {
                    "Content-Type": "text/plain; charset=UTF-8",
                    "X-ClickHouse-Exception-Code": str(code),
                },
            )
        return QueryResult(
            200,
            out,
            {
                "Content-Type": _CONTENT_TYPES.get(fmt, "application/octet-stream"),
                "X-ClickHouse-Format": fmt,
                "X-ClickHouse-Timezone": "UTC",
            },
        )

    @staticmethod
    def _with_database(client: Client, database: str | None) -> None:
        if database != client.database:
            client.database = database

    def _query(
        self,
        client: Client,
        query: str,
        append_format: str | None,
        database: str | None,
        settings: Mapping[str, str],
        bind: Mapping[str, RawParam],
    ) -> bytes:
        self._with_database(client, database)
        try:
            return client.raw_query(
                query,
                parameters=dict(bind) or None,
                settings=dict(settings) or None,
                fmt=append_format,
            )
        finally:
            self._with_database(client, self.default_database)

    def _insert(
        self,
        client: Client,
        insert: re.Match[bytes],
        body: bytes,
        database: str | None,
        settings: Mapping[str, str],
    ) -> bytes:
        table = insert.group("table").decode().replace("`", "")
        cols: Sequence[str] | None = None
        if insert.group("cols"):
            names = insert.group("cols").decode().split(",")
            cols = [c.strip().strip("`") for c in names if c.strip()]
        self._with_database(client, database)
        try:
            client.raw_insert(
                table, cols, body, settings=dict(settings) or None, fmt=insert.group("fmt").decode()
            )
        finally:
            self._with_database(client, self.default_database)
        return b""


def build_app(client: Client, users: Sequence[StoreUser] | None = None) -> web.Application:
    """An aiohttp application serving the query endpoint at ``/`` (authenticated when
    ``users`` are given)."""
    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.add_routes(QueryService(client, users).routes())
    return app


class QueryServer:
    """The endpoint on its own port, in the running event loop.

    The worker starts one next to faust's web server (faust owns ``/`` there), so that
    clients can use the plain ClickHouse URL ``http://127.0.0.1:PORT``.

    Parameters
    ----------
    client
        The client queries run on (the worker's chdb client, or a server client).
    port
        0 picks a free port; :attr:`port` tells which after :meth:`start`.
    """

    def __init__(
        self,
        client: Client,
        *,
        host: str = LOCALHOST,
        port: int = 0,
        users: Sequence[StoreUser] | None = None,
    ) -> None:
        if host not in (LOCALHOST, "localhost", "::1"):
            raise ValueError(f"the query endpoint binds to 127.0.0.1 only, not {host!r}")
        self.client = client
        self.users = users
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/``."""
        return f"http://{self.host}:{self.port}/"

    async def start(self) -> int:
        """Start listening; returns the port."""
        self._runner = web.AppRunner(build_app(self.client, self.users), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Stop listening (queries in flight finish first)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a store standalone: ``python -m sinks.clickhouse.query_server --url chdb:///dir``."""
    from sinks.clickhouse.client import connect

    parser = argparse.ArgumentParser(
        prog="python -m sinks.clickhouse.query_server",
        description="Serve ClickHouse's HTTP interface on 127.0.0.1 in front of chdb or a server."
        " Example: --url chdb:///var/lib/tocsin/clickhouse --port 8123",
    )
    parser.add_argument("--url", required=True, help="chdb:///abs/dir or http(s)://host:port")
    parser.add_argument("--database", default="tocsin")
    parser.add_argument("--port", type=int, default=8123)
    args = parser.parse_args(argv)
    client = connect(args.url, database=args.database)
    try:
        web.run_app(build_app(client), host=LOCALHOST, port=args.port, print=None)
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
