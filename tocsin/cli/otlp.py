"""`tocsin otlp`: the OpenTelemetry (OTLP/HTTP) receiver for GenAI spans."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add ``tocsin otlp`` to the main app."""

    @app.command("otlp")
    def otlp(
        port: int = typer.Option(0, "--port", help="Port (0 = otlp.port, default 4318)."),
        host: str = typer.Option("", "--host", help="Bind address (default otlp.host)."),
        bootstrap: str | None = typer.Option(
            None,
            "--bootstrap",
            help="Kafka bootstrap servers (default: settings, else the running stack).",
        ),
    ) -> None:
        """Receive OTLP/HTTP traces and logs and turn GenAI spans into inference events.

        Serves POST /v1/traces and /v1/logs (protobuf or JSON, gzip) and produces one event
        per GenAI span to the events topic; other spans are counted and ignored. Point an
        instrumented service at it with OTEL_EXPORTER_OTLP_ENDPOINT=http://HOST:PORT.
        `tocsin up` starts one for you (its URL is `otlp_url` in `tocsin status --json`).

        Example: tocsin otlp --port 4318 --bootstrap kafka-1:9092
        """
        from tocsin.runtime.bootstrap import resolve_bootstrap
        from tocsin.runtime.otlp_process import serve_otlp
        from tocsin.settings import load_settings

        try:
            settings = load_settings()
            servers = resolve_bootstrap(bootstrap, settings)
            code = serve_otlp(
                settings, servers, host or settings.otlp.host, port or settings.otlp.port
            )
        except (RuntimeError, ValueError, OSError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        raise typer.Exit(code)
