"""`tocsin schemas check`: every shipped schema version reads what the one before wrote."""

from __future__ import annotations

import json
from pathlib import Path

import typer

schemas_app = typer.Typer(help="The Avro schemas of tocsin's records.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``tocsin schemas ...`` to the main app."""
    app.add_typer(schemas_app, name="schemas")


@schemas_app.command("check")
def check(
    registry: str | None = typer.Option(
        None,
        "--registry",
        help="Also check each schema's latest version against what this Schema Registry "
        "holds under its subject (default: schema_registry_url when set).",
    ),
    manifest: Path | None = typer.Option(
        None, "--manifest", help="A manifest.json to check (default: the shipped one)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check BACKWARD compatibility: each version reads data written with the previous one
    (Avro's schema-resolution rules, as the Schema Registry applies them).

    Exit code 1 when a change breaks compatibility (CI runs this through the tests).

    Example: tocsin schemas check --registry http://schema-registry:8081
    """
    from schemas.compatibility import backward_problems, check_manifest
    from schemas.loader import Manifest, SchemaInfo
    from streams.registry import SchemaRegistryClient, SchemaRegistryError
    from tocsin.settings import load_settings

    shipped = Manifest(manifest) if manifest else Manifest.default()
    problems = check_manifest(shipped)
    checked = [f"{i.name} v{i.version}" for i in shipped.list()]
    url = registry or load_settings().schema_registry_url
    if url:
        client = SchemaRegistryClient(url)
        try:
            latest_versions: dict[str, SchemaInfo] = {}
            for info in shipped.list():
                current = latest_versions.get(info.name)
                if current is None or info.version > current.version:
                    latest_versions[info.name] = info
            for info in latest_versions.values():
                held = client.latest(info.subject)
                if held is None:
                    continue
                for problem in backward_problems(info.raw(), held):
                    problems.append(
                        f"{info.name} v{info.version} cannot read what "
                        f"{info.subject} holds in the registry: {problem}"
                    )
        except SchemaRegistryError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        finally:
            client.close()
    if as_json:
        typer.echo(json.dumps({"checked": checked, "problems": problems}, indent=2))
    else:
        for problem in problems:
            typer.echo(f"incompatible: {problem}", err=True)
        typer.echo(
            f"{len(checked)} schema versions checked, "
            f"{'no problems' if not problems else f'{len(problems)} problems'}",
            err=True,
        )
    if problems:
        raise typer.Exit(1)
