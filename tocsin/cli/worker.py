"""`tocsin worker`: run one monitor worker in the foreground.

`tocsin up` starts the workers itself (`tocsin worker --id worker-N`, a fixed id each, which
keeps their consumer-group membership static); run it by hand to debug one, or under your
own process supervisor in production.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add ``tocsin worker`` to the main app."""

    @app.command("worker")
    def worker(
        worker_id: str = typer.Option(
            "worker-0",
            "--id",
            help="Fixed worker id: its consumer-group instance id, run file and data dir. "
            "Reuse the same id after a crash so it takes its partitions back at once.",
        ),
        bootstrap: str | None = typer.Option(
            None,
            "--bootstrap",
            help="Kafka bootstrap servers (default: TOCSIN_BOOTSTRAP_SERVERS, else the "
            "embedded broker recorded in $TOCSIN_HOME/run/stack.json).",
        ),
        web_port: int = typer.Option(
            0, "--web-port", help="Port of the web/query endpoint on 127.0.0.1 (0 = free port)."
        ),
    ) -> None:
        """Consume the events topic in batches into ClickHouse until stopped.

        Decodes, redacts and writes each batch, dead-letters what cannot be read, commits
        after the write, and serves the query endpoint used by `tocsin sql`.
        Exit codes: 0 stopped, 3 DLQ limit exceeded, 4 ClickHouse refused the data.

        Example: tocsin worker --id worker-0 --bootstrap 127.0.0.1:9092
        """
        from streams import crash_points
        from streams.app import run_worker
        from tocsin.runtime.bootstrap import resolve_bootstrap
        from tocsin.settings import load_settings

        try:
            settings = load_settings()
            crash_points.arm(settings.faults.crash_at, settings.faults.crash_after)  # tests only
            servers = resolve_bootstrap(bootstrap, settings)
            code = run_worker(settings, worker_id, servers, web_port=web_port or None)
        except (RuntimeError, ValueError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        raise typer.Exit(code)
