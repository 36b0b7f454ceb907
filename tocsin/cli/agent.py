"""`tocsin agent`: the deployment agent that executes signed rollback commands."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import typer

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def register(app: typer.Typer) -> None:
    """Add ``tocsin agent`` to the main app."""

    @app.command("agent")
    def agent(
        deployment: str = typer.Option(
            ..., "--deployment", help="The deployment this agent acts on."
        ),
        exec_: str | None = typer.Option(
            None,
            "--exec",
            help="Shell command to run for a rollback; its environment has TOCSIN_DEPLOYMENT, "
            "TOCSIN_TARGET_DEPLOYMENT, TOCSIN_SERVICE, TOCSIN_REASON, TOCSIN_COMMAND_ID, "
            "TOCSIN_INCIDENT_ID, TOCSIN_ACTION.",
        ),
        http: str | None = typer.Option(None, "--http", help="Webhook URL to POST the command to."),
        kubernetes: str | None = typer.Option(
            None,
            "--kubernetes",
            help="NAMESPACE/NAME of a Deployment to undo (like `kubectl rollout undo`), or "
            "rollout/NAMESPACE/NAME of an Argo Rollout to abort; API server from "
            "TOCSIN_ROLLBACK__KUBERNETES_URL.",
        ),
        agent_id: str | None = typer.Option(
            None,
            "--id",
            help="Fixed agent id (ledger file, consumer member); default agent-DEPLOYMENT.",
        ),
        bootstrap: str | None = typer.Option(None, "--bootstrap", help="Kafka bootstrap servers."),
        timeout: float | None = typer.Option(None, "--timeout", help="Hook timeout in seconds."),
    ) -> None:
        """Execute signed rollback commands for one deployment, at most once each.

        Verifies each command's HMAC signature and expiry, persists its id before acting,
        runs the hook with a timeout and acknowledges on the acks topic (succeeded, failed,
        rejected). Forged or expired commands are rejected and raise an alert.

        Example: tocsin agent --deployment chat-api-canary --exec "./rollback.sh"
        """
        from streams.agents.deployment_agent import (
            DeploymentAgent,
            Executor,
            HttpExecutor,
            Ledger,
            ShellExecutor,
            run_agent,
        )
        from tocsin.runtime.bootstrap import NoBrokerError, resolve_bootstrap
        from tocsin.settings import load_settings

        chosen = [x for x in (exec_, http, kubernetes) if x]
        if len(chosen) != 1:
            typer.echo("error: give exactly one of --exec, --http or --kubernetes", err=True)
            raise typer.Exit(2)
        settings = load_settings()
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
        try:
            servers = resolve_bootstrap(bootstrap, settings)
        except NoBrokerError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        keyring = settings.rollback.keyring(settings.home_abs)
        if not keyring:
            typer.echo(
                "error: no rollback verification key: set TOCSIN_ROLLBACK__SIGNING_KEY (or "
                "TOCSIN_ROLLBACK__VERIFY_KEYS) to the key the alerter signs with",
                err=True,
            )
            raise typer.Exit(1)
        executor: Executor
        if exec_:
            executor = ShellExecutor(exec_)
        elif http:
            executor = HttpExecutor(http)
        else:
            from streams.agents.kubernetes import KubernetesExecutor

            if not settings.rollback.kubernetes_url:
                typer.echo("error: --kubernetes needs TOCSIN_ROLLBACK__KUBERNETES_URL", err=True)
                raise typer.Exit(2)
            token = None
            if settings.rollback.kubernetes_token_file:
                token = Path(settings.rollback.kubernetes_token_file).read_text().strip()
            try:
                executor = KubernetesExecutor.from_target(
                    str(kubernetes), settings.rollback.kubernetes_url, token
                )
            except ValueError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from exc
        aid = agent_id or f"agent-{_SAFE.sub('_', deployment)}"
        state_dir = settings.rollback.agent_state_dir or settings.home_abs / "agents"
        ledger = Ledger(Path(state_dir) / f"{_SAFE.sub('_', aid)}.sqlite")
        agent_obj = DeploymentAgent(
            deployment,
            aid,
            executor,
            keyring,
            ledger,
            send_ack=lambda ack: None,
            send_alert=lambda alert: None,
            timeout_s=timeout or settings.rollback.agent_timeout_s,
        )
        t = settings.topics
        code = run_agent(agent_obj, servers, t.rollback, t.rollback_acks, t.alerts)
        raise typer.Exit(code)
