"""`tocsin up | down | status | migrate | sql | demo`: the embedded stack and its store."""

from __future__ import annotations

import csv
import json
import signal
import sys
import threading
import time
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


class OutputFormat(StrEnum):
    """Output formats of `tocsin sql`."""

    table = "table"
    json = "json"
    csv = "csv"


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _progress(line: str) -> None:
    err.print(f"[dim]·[/dim] {line}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, Decimal | UUID | IPv4Address | IPv6Address):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    return value


def _settings() -> Any:
    from tocsin.settings import load_settings

    try:
        return load_settings()
    except (ValueError, FileNotFoundError) as exc:
        raise _fail(f"invalid settings: {exc}") from exc


def run_sql(
    settings: Any, query: str, role: str = "analyst"
) -> tuple[str, list[str] | None, list[tuple[Any, ...]] | bytes]:
    """Run ``query`` where the store is: the running store process (as the read-only
    analyst unless ``role`` is ``writer``), chdb when the stack is stopped, or the server.

    Returns ``(via, column_names, rows)``; ``rows`` is the raw output when the query has its
    own ``FORMAT`` clause, and ``column_names`` is None for statements without a result.
    """
    from sinks.clickhouse.query_server import has_format_clause, is_result_query
    from tocsin.runtime.store_access import query_client

    client, via = query_client(settings, "writer" if role == "writer" else "analyst")
    try:
        if has_format_clause(query):
            return via, None, client.raw_query(query)
        if is_result_query(query):
            result = client.query(query)
            return via, list(result.column_names), [tuple(r) for r in result.result_rows]
        client.command(query)
        return via, None, []
    finally:
        client.close()


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""

    @app.command("up")
    def up(
        detach: bool = typer.Option(
            False, "--detach", "-d", help="Return once everything runs; stop with `tocsin down`."
        ),
        workers: int = typer.Option(
            0, "--workers", "-w", min=0, help="Workers to run (default: worker.count)."
        ),
        no_workers: bool = typer.Option(
            False, "--no-workers", help="Only the broker, the topics and the store."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
    ) -> None:
        """Start the embedded broker, create topics, migrate the store, start the workers.

        Everything lives under $TOCSIN_HOME (default ./.tocsin). Running `up` again on a
        stack whose broker or worker died restarts what is missing. Without --detach, `up`
        stays in the foreground, restarts what dies, and stops everything on Ctrl-C.

        Example: TOCSIN_HOME=/tmp/t1 tocsin up --detach && tocsin status
        """
        from tocsin.runtime.stack import Stack, StackError
        from tocsin.runtime.store import StoreError

        stack = Stack(_settings(), progress=_progress)
        try:
            status = stack.up(workers or None, start_workers=not no_workers)
        except (StackError, StoreError, RuntimeError) as exc:
            raise _fail(f"{exc}\n(see `tocsin status`; `tocsin down` stops what started)") from exc
        _print_status(status, as_json)
        if detach:
            return
        _foreground(stack, workers or None)

    @app.command("down")
    def down(
        as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
    ) -> None:
        """Stop the workers (SIGTERM, they leave the group and flush), then the broker.

        Example: tocsin down
        """
        from tocsin.runtime.stack import Stack, StackError

        try:
            outcome = Stack(_settings(), progress=_progress).down()
        except StackError as exc:
            raise _fail(str(exc)) from exc
        if as_json:
            out.print_json(data=outcome)
        elif not outcome:
            err.print("nothing was running")
        else:
            for name, what in outcome.items():
                err.print(f"{name}: {what}")

    @app.command("status")
    def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Show what runs: broker, workers (with their counters and lag), topics, store.

        Exit code 0 when the stack runs, 3 when it is stopped or partly down.

        Example: tocsin status --json | jq .pids
        """
        from tocsin.runtime.stack import Stack, StackError

        try:
            stack = Stack(_settings())
            st = stack.status()
            st["metrics"] = stack.worker_metrics(st)
        except StackError as exc:
            raise _fail(str(exc)) from exc
        _print_status(st, as_json)
        if not st["running"]:
            raise typer.Exit(3)

    @app.command("migrate")
    def migrate(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Apply the missing ClickHouse migrations (numbered, forward-only).

        With the embedded store it goes through the running store process as the writer,
        or opens chdb when the stack is stopped (`tocsin up` migrates too). A migration
        file changed after it was applied is refused.

        Example: TOCSIN_CLICKHOUSE_URL=http://default:@localhost:8123 tocsin migrate
        """
        from sinks.clickhouse.migrations import MigrationError
        from tocsin.runtime.store import StoreError, run_migrations
        from tocsin.runtime.store_access import store_settings

        try:
            report = run_migrations(store_settings(_settings(), "writer"))
        except (MigrationError, StoreError) as exc:
            raise _fail(str(exc)) from exc
        result = {
            "applied": [m.name for m in report.applied],
            "already_applied": [m.name for m in report.already_applied],
        }
        if as_json:
            out.print_json(data=result)
        else:
            for name in result["applied"]:
                err.print(f"applied {name}")
            err.print(
                f"{len(result['applied'])} applied, {len(result['already_applied'])} already there"
            )

    @app.command("sql")
    def sql(
        query: str = typer.Argument(..., help="The SQL to run."),
        fmt: OutputFormat = typer.Option(
            OutputFormat.table,
            "--format",
            "-f",
            help="table (rich), json (a list of objects) or csv (with a header).",
        ),
        as_writer: bool = typer.Option(
            False,
            "--writer",
            help="Run as the store's writer (DDL, inserts); default: the read-only analyst.",
        ),
    ) -> None:
        """Run SQL on the store: through the running store process, else on chdb/server.

        With the embedded stack up, queries run as the read-only analyst (ClickHouse's
        readonly = 1) unless --writer is given. A query with its own FORMAT clause prints
        ClickHouse's output as is.

        Example: tocsin sql "SELECT service, count() FROM events_dedup GROUP BY service" -f json
        """
        try:
            via, columns, rows = run_sql(_settings(), query, "writer" if as_writer else "analyst")
        except Exception as exc:
            # any failure of the query: print it like ClickHouse does and exit non-zero
            from sinks.clickhouse.query_server import error_text

            text = str(exc) if "Code:" not in str(exc) else error_text(exc)[0]
            raise _fail(text) from exc
        err.print(f"[dim]via {via}[/dim]")
        if isinstance(rows, bytes):
            sys.stdout.write(rows.decode("utf-8", errors="replace"))
            return
        if columns is None:
            err.print("Ok.")
            return
        if fmt is OutputFormat.json:
            data = [dict(zip(columns, map(_jsonable, row), strict=True)) for row in rows]
            sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        elif fmt is OutputFormat.csv:
            writer = csv.writer(sys.stdout)
            writer.writerow(columns)
            for row in rows:
                writer.writerow([_jsonable(v) for v in row])
        else:
            table = Table(*columns, show_lines=False)
            for row in rows:
                table.add_row(*(str(_jsonable(v)) for v in row))
            out.print(table)
            err.print(f"[dim]{len(rows)} rows[/dim]")

    @app.command("demo")
    def demo(
        rate: float = typer.Option(500.0, "--rate", min=1.0, help="Events per second."),
        seed: int = typer.Option(7, "--seed", help="Seed of the traffic generator."),
        duration: float = typer.Option(
            0.0,
            "--duration",
            min=0.0,
            help="Stop after this many seconds of traffic (0 = until Ctrl-C).",
        ),
        refresh: float = typer.Option(2.0, "--refresh", min=0.2, help="Seconds between views."),
        incident_after: float = typer.Option(
            30.0,
            "--incident-after",
            min=-1.0,
            help="Seconds until chat-api's canary goes bad (errors, latency, toxic answers); "
            "-1 = never.",
        ),
        headless: bool = typer.Option(
            False, "--headless", help="No live view: print the story as it happens."
        ),
        report: Path | None = typer.Option(
            None, "--report", help="Write a JSON report (timeline, summary, queries) here."
        ),
        time_scale: float = typer.Option(
            60.0,
            "--time-scale",
            min=1.0,
            help="Event time runs this many times faster than wall time until it reaches the "
            "present (the story takes minutes, not an hour); 1 = real time.",
        ),
    ) -> None:
        """Bring the stack up, send synthetic LLM traffic and watch it land in ClickHouse.

        Shows, every few seconds, events per service and deployment, p50/p95/p99 latency,
        error ratio, PII and toxic answers, and dead letters, until Ctrl-C; then stops
        everything cleanly. After 30 s chat-api's canary misbehaves, so the table shows what
        a bad canary looks like.
        This is what `make run` runs.

        Then tocsin pages, notifies (a local receiver prints what Slack and PagerDuty would
        get, unless the environment configures them), issues a signed rollback, the demo's
        agent shifts chat-api's canary traffic back to stable and the alert resolves.

        Example: tocsin demo --rate 2000 --duration 60
        Example: tocsin demo --headless --duration 180 --report report.json
        """
        from tocsin.runtime.demo import run_demo

        try:
            run_demo(
                _settings(),
                rate=rate,
                seed=seed,
                duration=duration,
                refresh=refresh,
                incident_after_s=None if incident_after < 0 else incident_after,
                headless=headless,
                report=report,
                time_scale=time_scale,
            )
        except KeyboardInterrupt:
            pass
        except RuntimeError as exc:
            raise _fail(str(exc)) from exc


def _print_status(status: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out.print_json(data=status)
        return
    table = Table(show_header=False, box=None)
    state = "[green]running[/green]" if status["running"] else "[yellow]stopped[/yellow]"
    table.add_row("state", state)
    table.add_row("home", status["home"])
    table.add_row("kafka", str(status["bootstrap_servers"] or "-"))
    table.add_row("clickhouse", str(status["clickhouse"]))
    table.add_row("store_url", str(status.get("store_url") or status["query_url"] or "-"))
    if status.get("store_url"):
        table.add_row("credentials", "`tocsin store url` (analyst), $TOCSIN_HOME/secrets/")
    table.add_row("otlp_url", str(status.get("otlp_url") or "-"))
    metrics = status.get("metrics") or {}
    for name, pid in status["pids"].items():
        line = f"pid {pid}" if pid else "[red]not running[/red]"
        m = metrics.get(name)
        if m and "error" in m:
            line += f"  [yellow]{m['error']}[/yellow]"
        elif m:
            line += (
                f"  written {m.get('written', 0):,}  dead letters {m.get('dead_lettered', 0):,}"
                f"  lag {m.get('lag', 0):,}  batches {m.get('batches', 0):,}"
            )
            if "toxicity_sampling_ratio" in m:
                line += (
                    f"  toxicity scored {m['toxicity_sampling_ratio']:.0%}"
                    f" ({m.get('toxicity_texts_per_s', 0):,.0f}/s)"
                )
            if m.get("alerts_emitted"):
                line += f"  alerts {m['alerts_emitted']:,}  late events {m.get('late_events', 0):,}"
            if m.get("paused"):
                line += "  [yellow]paused: the store is not accepting writes[/yellow]"
            if m.get("last_error"):
                line += f"  [red]last error: {m['last_error']}[/red]"
        table.add_row(name, line)
    if status["stale"]:
        table.add_row("stale", ", ".join(status["stale"]))
    table.add_row("logs", status["logs"])
    err.print(table)


def _foreground(stack: Any, workers: int | None) -> None:
    """Supervise until Ctrl-C or SIGTERM, then stop everything."""
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    err.print("[bold]stack up[/bold]; Ctrl-C stops it")
    try:
        stack.supervise(stop.is_set)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        err.print("stopping...")
        for name, what in stack.down().items():
            err.print(f"{name}: {what}")
    time.sleep(0)
