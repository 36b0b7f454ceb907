"""Numbered, forward-only ClickHouse migrations (DESIGN.md convention 4).

Files are ``infra/clickhouse/migrations/NNNN_what.sql``; each holds one or more statements
separated by a ``;`` at the end of a line. Applied migrations are recorded in
``schema_migrations`` with the sha256 of the file: a file changed after it was applied is
refused, because the database no longer matches what the repository says it is.

The same files serve a single node and a cluster. Placeholders:

- ``{database}``: the target database, back-quoted;
- ``{on_cluster}``: ``ON CLUSTER `c``` in cluster mode, empty otherwise;
- ``{engine_prefix}``: ``Replicated`` in cluster mode (``ReplacingMergeTree`` becomes
  ``ReplicatedReplacingMergeTree`` with the server's default replica path), empty otherwise;
- ``{if_cluster}`` at the start of a line: the line exists in cluster mode only (it renders
  as a comment on a single node); ``{cluster_literal}`` / ``{database_literal}``: the names
  as string literals, for ``Distributed(...)`` engines;
- ``{events_ttl}``: ``TTL toDateTime(ts) + INTERVAL N DAY`` when ``events_ttl_days`` is
  given, else empty (keep forever); ``{dead_letters_ttl_days}`` (default 30). Both are read
  when the table is created: change them later with ``ALTER TABLE ... MODIFY TTL`` in a new
  migration. A TTL also drops expired rows at insert time, so a backfill of old events would
  vanish silently: that is why the events TTL is opt-in.

Example
-------
>>> from sinks.clickhouse.client import connect
>>> client = connect("chdb://memory", database="doc_migrations")
>>> [m.name for m in migrate(client, "doc_migrations").applied][:2]
['0001_events', '0002_dead_letters']
>>> migrate(client, "doc_migrations").applied
[]
>>> client.close()
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from clickhouse_connect.driver.client import Client

from sinks.clickhouse.client import quote_ident

MIGRATION_TABLE = "schema_migrations"
DEFAULT_PARAMS: Mapping[str, object] = {"events_ttl_days": None, "dead_letters_ttl_days": 30}

_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")
_STATEMENT_END_RE = re.compile(r";[ \t]*(?:\n|$)")


class MigrationError(RuntimeError):
    """The migrations on disk and in the database disagree; the message says how to fix it."""


@dataclass(frozen=True)
class Migration:
    """One migration file.

    >>> m = Migration.from_text("0007_x.sql", "SELECT 1;\\n-- c\\nSELECT 2;")
    >>> m.version, m.name, len(m.checksum)
    (7, '0007_x', 64)
    """

    version: int
    name: str
    sql: str
    checksum: str

    @classmethod
    def from_text(cls, filename: str, text: str) -> Migration:
        match = _FILE_RE.match(filename)
        if not match:
            raise MigrationError(
                f"migration file name {filename!r} must look like 0003_add_column.sql "
                "(four digits, underscore, lowercase name)"
            )
        return cls(
            version=int(match.group(1)),
            name=filename[: -len(".sql")],
            sql=text,
            checksum=hashlib.sha256(text.encode()).hexdigest(),
        )

    def statements(self, values: Mapping[str, str]) -> list[str]:
        """The rendered statements, comments and empty chunks dropped.

        >>> m = Migration.from_text("0001_t.sql", "CREATE TABLE {database}.t {on_cluster} (a UInt8)"
        ...     " ENGINE = {engine_prefix}MergeTree ORDER BY a;")
        >>> m.statements(render_values("db", None))
        ['CREATE TABLE `db`.t  (a UInt8) ENGINE = MergeTree ORDER BY a']
        >>> m.statements(render_values("db", "main"))[0]
        'CREATE TABLE `db`.t ON CLUSTER `main` (a UInt8) ENGINE = ReplicatedMergeTree ORDER BY a'
        """
        unknown = sorted(set(_PLACEHOLDER_RE.findall(self.sql)) - set(values))
        if unknown:
            raise MigrationError(
                f"{self.name}.sql uses unknown placeholder(s) {unknown}; known: {sorted(values)}"
            )
        rendered = _PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], self.sql)
        out = []
        for chunk in _STATEMENT_END_RE.split(rendered):
            code = "\n".join(
                line for line in chunk.splitlines() if not line.strip().startswith("--")
            ).strip()
            if code:
                out.append(code)
        return out


@dataclass
class MigrationReport:
    """What :func:`migrate` did."""

    applied: list[Migration] = field(default_factory=list)
    already_applied: list[Migration] = field(default_factory=list)


def default_migrations_dir() -> Path:
    """The repository's ``infra/clickhouse/migrations`` (source checkout or Docker image).

    >>> default_migrations_dir().name
    'migrations'
    """
    candidates = [
        Path(__file__).resolve().parents[2] / "infra" / "clickhouse" / "migrations",
        Path.cwd() / "infra" / "clickhouse" / "migrations",
    ]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise MigrationError(
        "no migrations directory found (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); set TOCSIN_CLICKHOUSE_MIGRATIONS_DIR"
    )


def discover(directory: Path | None = None) -> list[Migration]:
    """Read the migration files of ``directory`` in version order.

    >>> [m.version for m in discover()][:2]
    [1, 2]
    """
    directory = directory or default_migrations_dir()
    migrations = [
        Migration.from_text(path.name, path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.sql"))
    ]
    seen: dict[int, str] = {}
    for m in migrations:
        if m.version in seen:
            raise MigrationError(
                f"two migrations share version {m.version:04d}: {seen[m.version]} and {m.name}; "
                "renumber the newer one"
            )
        seen[m.version] = m.name
    return migrations


def render_values(
    database: str, cluster: str | None, params: Mapping[str, object] | None = None
) -> dict[str, str]:
    """Placeholder values for ``database`` on a single node or on ``cluster``.

    >>> render_values("tocsin", "main")["engine_prefix"]
    'Replicated'
    >>> render_values("tocsin", None, {"events_ttl_days": 90})["events_ttl"]
    'TTL toDateTime(ts) + INTERVAL 90 DAY'
    """
    merged = {**DEFAULT_PARAMS, **(params or {})}
    ttl_days = merged.pop("events_ttl_days", None)
    values = {k: str(v) for k, v in merged.items()}
    values["events_ttl"] = (
        f"TTL toDateTime(ts) + INTERVAL {int(str(ttl_days))} DAY" if ttl_days else ""
    )
    values.update(
        database=quote_ident(database),
        on_cluster=f"ON CLUSTER {quote_ident(cluster)}" if cluster else "",
        engine_prefix="Replicated" if cluster else "",
        # a line that starts with {if_cluster} exists only in cluster mode (else it renders
        # as a comment); {cluster_literal} and {database_literal} are for Distributed(...)
        if_cluster="" if cluster else "-- ",
        cluster_literal=f"'{quote_ident(cluster)[1:-1]}'" if cluster else "''",
        database_literal=f"'{quote_ident(database)[1:-1]}'",
    )
    return values


def _ensure_migration_table(client: Client, values: Mapping[str, str]) -> None:
    client.command(f"CREATE DATABASE IF NOT EXISTS {values['database']} {values['on_cluster']}")
    client.command(
        f"CREATE TABLE IF NOT EXISTS {values['database']}.{MIGRATION_TABLE} {values['on_cluster']}"
        " (version UInt32, name String, checksum String,"
        " applied_at DateTime64(3, 'UTC') DEFAULT now64(3))"
        f" ENGINE = {values['engine_prefix']}ReplacingMergeTree(applied_at) ORDER BY version"
    )


def applied_migrations(client: Client, database: str) -> dict[int, tuple[str, str]]:
    """Version -> (name, checksum) of what ``schema_migrations`` records (empty if none)."""
    exists = client.command(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        parameters={"db": database, "t": MIGRATION_TABLE},
    )
    if not int(str(exists)):
        return {}
    rows = client.query(
        f"SELECT version, argMax(name, applied_at), argMax(checksum, applied_at) "
        f"FROM {quote_ident(database)}.{MIGRATION_TABLE} GROUP BY version ORDER BY version"
    ).result_rows
    return {int(v): (str(n), str(c)) for v, n, c in rows}


def check(migrations: Sequence[Migration], recorded: Mapping[int, tuple[str, str]]) -> None:
    """Refuse changed, renamed or unknown applied migrations.

    >>> m = Migration.from_text("0001_a.sql", "SELECT 1;")
    >>> check([m], {1: ("0001_a", m.checksum)})
    >>> check([m], {1: ("0001_a", "0" * 64)})
    Traceback (most recent call last):
    ...
    sinks.clickhouse.migrations.MigrationError: migration 0001_a.sql was changed after it was applied ...
    """
    by_version = {m.version: m for m in migrations}
    for version, (name, checksum) in sorted(recorded.items()):
        m = by_version.get(version)
        if m is None:
            raise MigrationError(
                f"the database records migration {name} that is not on disk; it was applied by "
                "a newer tocsin or the file was deleted: restore the file or upgrade tocsin"
            )
        if m.checksum != checksum:
            raise MigrationError(
                f"migration {m.name}.sql was changed after it was applied "
                f"(recorded sha256 {checksum[:12]}..., file {m.checksum[:12]}...). Migrations are "
                "forward-only: restore the file and put the change in a new numbered migration"
            )


def migrate(
    client: Client,
    database: str,
    *,
    cluster: str | None = None,
    directory: Path | None = None,
    params: Mapping[str, object] | None = None,
) -> MigrationReport:
    """Apply the migrations missing from ``database``, in order, and record each one.

    Idempotent: a second run applies nothing. Every statement uses ``IF NOT EXISTS``, so a
    run interrupted between a statement and its record is safe to repeat.

    Raises
    ------
    MigrationError
        When an applied file changed, or the database knows a migration the disk does not.
    """
    migrations = discover(directory)
    values = render_values(database, cluster, params)
    _ensure_migration_table(client, values)
    recorded = applied_migrations(client, database)
    check(migrations, recorded)
    report = MigrationReport()
    for m in migrations:
        if m.version in recorded:
            report.already_applied.append(m)
            continue
        for statement in m.statements(values):
            client.command(statement)
        client.insert(
            MIGRATION_TABLE,
            [[m.version, m.name, m.checksum]],
            column_names=["version", "name", "checksum"],
            database=database,
        )
        report.applied.append(m)
    return report
