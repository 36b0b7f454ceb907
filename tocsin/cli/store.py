"""`tocsin store serve | url`: the embedded store process and how to reach it."""

from __future__ import annotations

import typer

store_app = typer.Typer(
    help="The embedded ClickHouse store (chdb behind ClickHouse's HTTP interface).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``tocsin store ...`` to the main app."""
    app.add_typer(store_app, name="store")


@store_app.command("serve")
def serve(
    port: int = typer.Option(8123, "--port", help="Port on 127.0.0.1."),
) -> None:
    """Serve $TOCSIN_HOME/clickhouse over HTTP with the generated credentials.

    `tocsin up` runs this for you; it owns the chdb directory while it runs.

    Example: TOCSIN_HOME=/tmp/t1 tocsin store serve --port 18123
    """
    from tocsin.runtime.store_process import serve_store
    from tocsin.settings import load_settings

    try:
        code = serve_store(load_settings(), port)
    except (RuntimeError, ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    raise typer.Exit(code)


@store_app.command("url")
def url(
    writer: bool = typer.Option(
        False, "--writer", help="The writer's URL instead of the analyst's."
    ),
) -> None:
    """Print the running store's URL with the analyst's (read-only) credentials.

    For clickhouse-connect, Grafana or curl. The URL carries a password: treat it as one.

    Example: curl "$(tocsin store url)?query=SELECT+count()+FROM+events_dedup"
    """
    from tocsin.runtime.store_access import running_store_url
    from tocsin.settings import load_settings

    found = running_store_url(load_settings(), "writer" if writer else "analyst")
    if found is None:
        typer.echo("error: the embedded store is not running: start it with `tocsin up`", err=True)
        raise typer.Exit(3)
    typer.echo(found)
