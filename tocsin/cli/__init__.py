"""The `tocsin` command: one entry point, one sub-command group per area.

Each area owns its module under ``tocsin/cli/`` and exposes ``register(app)``.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="tocsin",
    help="Monitor LLM services in production: PII, toxicity, drift, SLO burn, canary rollbacks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Order here is the order in `tocsin --help`.
_AREAS = (
    "stack",
    "store",
    "worker",
    "otlp",
    "schemas",
    "produce",
    "pii",
    "toxicity",
    "models",
    "slo",
    "drift",
)

for _name in _AREAS:
    importlib.import_module(f"tocsin.cli.{_name}").register(app)
for _name in ("silence", "agent"):  # issue 10: alert silences, the deployment agent
    importlib.import_module(f"tocsin.cli.{_name}").register(app)


def main() -> None:
    """Console-script entry point."""
    app()
