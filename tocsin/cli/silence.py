"""`tocsin silence add | list | expire`: hold back notifications for a while."""

from __future__ import annotations

import getpass
import json
import time
from typing import Any

import typer


def _store() -> tuple[Any, Any]:
    from sinks.clickhouse.control_plane import ControlStore
    from tocsin.runtime.store import StoreError, run_migrations
    from tocsin.runtime.store_access import query_client
    from tocsin.settings import load_settings

    settings = load_settings()
    try:
        # silences are written: the writer's credentials, not the read-only analyst's
        client, where = query_client(settings, role="writer")
        if where.startswith("chdb"):  # the stack is down: the store may be brand new
            run_migrations(settings, client)
    except StoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    return client, ControlStore(client)


def _fmt_ms(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def register(app: typer.Typer) -> None:
    """Add ``tocsin silence`` to the main app."""
    silence = typer.Typer(
        help="Silences: hold back notifications of matching alerts.", no_args_is_help=True
    )
    app.add_typer(silence, name="silence")

    @silence.command("add")
    def add(
        match: list[str] = typer.Option(
            ...,
            "--match",
            help="name=value (repeat): service, deployment, rule, severity, kind, track or any label.",
        ),
        duration: str = typer.Option("2h", "--for", help="How long: 30m, 2h, 1d."),
        comment: str = typer.Option(..., "--comment", help="Why (shown in `tocsin silence list`)."),
        as_json: bool = typer.Option(False, "--json", help="Print the silence as JSON."),
    ) -> None:
        """Silence alerts whose labels match every --match.

        Example: tocsin silence add --match service=chat-api --for 2h --comment "migration"
        """
        from detectors.slo.durations import parse_duration
        from streams.agents.routing import parse_matchers

        try:
            matchers = parse_matchers(match)
            seconds = parse_duration(duration).seconds
        except ValueError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        client, store = _store()
        try:
            now = int(time.time() * 1000)
            ends = now + int(seconds * 1000)
            sid = store.add_silence(matchers, now, ends, comment, getpass.getuser())
        finally:
            client.close()
        if as_json:
            typer.echo(
                json.dumps({"silence_id": sid, "matchers": matchers, "ends_at": _fmt_ms(ends)})
            )
        else:
            typer.echo(f"silence {sid} until {_fmt_ms(ends)}: {matchers}")

    @silence.command("list")
    def list_(
        all_: bool = typer.Option(False, "--all", help="Include expired silences."),
        as_json: bool = typer.Option(False, "--json", help="JSON lines."),
    ) -> None:
        """Active silences (with --all, expired ones too).

        Example: tocsin silence list --json
        """
        client, store = _store()
        try:
            now = int(time.time() * 1000)
            rows = store.silences(now, include_expired=all_)
        finally:
            client.close()
        for s in rows:
            if as_json:
                typer.echo(json.dumps({**s, "active": s["starts_ms"] <= now < s["ends_ms"]}))
            else:
                m = ",".join(f"{k}={v}" for k, v in sorted(s["matchers"].items()))
                typer.echo(
                    f"{s['silence_id']}  until {_fmt_ms(s['ends_ms'])}  {m}  by {s['created_by']}: {s['comment']}"
                )
        if not rows and not as_json:
            typer.echo("no silences")

    @silence.command("expire")
    def expire(
        silence_id: str = typer.Argument(..., help="Id from `tocsin silence list`."),
    ) -> None:
        """End a silence now.

        Example: tocsin silence expire 3f2a9c1d0b7e
        """
        client, store = _store()
        try:
            found = store.expire_silence(silence_id, int(time.time() * 1000))
        finally:
            client.close()
        if not found:
            typer.echo(
                f"error: no silence {silence_id!r}; see `tocsin silence list --all`", err=True
            )
            raise typer.Exit(1)
        typer.echo(f"silence {silence_id} expired")
