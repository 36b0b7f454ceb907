"""`tocsin models`: inspect, verify and build toxicity model bundles.

``export-detoxify`` needs the ``[export]`` extra (torch, transformers, onnx); the other
commands need only onnxruntime and tokenizers. Exit codes: 0 ok, 1 verification failed,
2 bad options or missing extra.
"""

from __future__ import annotations

import importlib
import json
import time
from pathlib import Path
from typing import Any

import typer


def _bundle_dir(directory: Path | None) -> Path:
    from detectors.toxicity import default_bundle_dir

    return directory if directory is not None else default_bundle_dir()


def register(app: typer.Typer) -> None:
    """Add ``tocsin models info|verify|export-detoxify`` to the main app."""
    models_app = typer.Typer(help="Inspect, verify and build model bundles.", no_args_is_help=True)
    app.add_typer(models_app, name="models")
    importlib.import_module("tocsin.cli.models_ner").register(models_app)

    @models_app.command("info")
    def info(
        directory: Path | None = typer.Argument(
            None, help="Bundle directory (default: the bundled model)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Show a bundle's name, version, licence, labels, members and files (no checksums).

        Example: tocsin models info detectors/toxicity/bundles/default --json
        """
        from detectors.toxicity import BundleError, load_bundle

        try:
            b = load_bundle(_bundle_dir(directory), verify=False)
        except BundleError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        summary: dict[str, Any] = {
            "path": str(b.path),
            "name": b.name,
            "version": b.version,
            "license": b.manifest.get("license"),
            "labels": list(b.labels),
            "members": [
                {
                    "name": m.name,
                    "model": m.model,
                    "model_fp16": m.model_fp16,
                    "max_length": m.max_length,
                    "outputs": list(m.output_labels),
                    "license": m.license,
                    "provenance": dict(m.provenance),
                }
                for m in b.members
            ],
            "combine": {lab: rule.get("method") for lab, rule in b.combine.items()},
            "files": {
                rel: {
                    "sha256": digest,
                    "bytes": (b.path / rel).stat().st_size if (b.path / rel).is_file() else None,
                }
                for rel, digest in b.manifest["files"].items()
            },
        }
        if as_json:
            typer.echo(json.dumps(summary, indent=2))
            return
        typer.echo(
            f"{summary['name']} {summary['version']}  ({summary['license']})  {summary['path']}"
        )
        typer.echo(f"labels: {', '.join(summary['labels'])}")
        for m in summary["members"]:
            typer.echo(
                f"member {m['name']}: {m['model']} max_length={m['max_length']} outputs={m['outputs']}"
            )
            typer.echo(
                f"  license {m['license']}; from {m['provenance'].get('pypi') or m['provenance']}"
            )
        for rel, f in summary["files"].items():
            typer.echo(f"  {rel:40s} {f['bytes'] or 0:>10d} B  sha256 {f['sha256'][:16]}…")

    @models_app.command("verify")
    def verify(
        directory: Path | None = typer.Argument(
            None, help="Bundle directory (default: the bundled model)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Check every file's sha256 and run a smoke inference on a few texts.

        Example: tocsin models verify ./bundles/detoxify-original
        """
        from detectors.toxicity import BundleError, ToxicityScorer, load_bundle

        path = _bundle_dir(directory)
        try:
            bundle = load_bundle(path)
            t0 = time.perf_counter()
            scorer = ToxicityScorer(bundle)
            probes = [
                "Thanks, that fixed it.",
                "You are a worthless idiot.",
                "",
                "\ud800 bad surrogate",
            ]
            scores = scorer.score_batch(probes)
            elapsed = time.perf_counter() - t0
        except (BundleError, ValueError) as exc:
            if as_json:
                typer.echo(json.dumps({"ok": False, "error": str(exc)}))
            else:
                typer.echo(f"FAILED: {exc}", err=True)
            raise typer.Exit(1) from None
        problems = [
            lab
            for lab, v in scores.items()
            if v.shape != (len(probes),) or not bool(((v >= 0) & (v <= 1)).all())
        ]
        result = {
            "ok": not problems,
            "path": str(bundle.path),
            "files_checked": len(bundle.manifest["files"]),
            "providers": scorer.providers,
            "smoke_seconds": round(elapsed, 3),
            "smoke_toxicity": [round(float(x), 4) for x in scores["toxicity"]],
            "bad_labels": problems,
        }
        if as_json:
            typer.echo(json.dumps(result))
        else:
            status = "OK" if result["ok"] else "FAILED"
            typer.echo(
                f"{status}: {result['files_checked']} files match their sha256; smoke inference on "
                f"{len(probes)} texts in {elapsed:.2f}s with {scorer.providers}"
            )
        if problems:
            raise typer.Exit(1)

    @models_app.command("export-detoxify")
    def export_detoxify_cmd(
        checkpoint: Path = typer.Option(..., "--checkpoint", help="Detoxify .ckpt file."),
        out: Path = typer.Option(..., "--out", help="Bundle directory to create (new or empty)."),
        fp16: bool = typer.Option(False, "--fp16", help="Also write an fp16 model for CUDA."),
        tokenizer: Path | None = typer.Option(
            None,
            "--tokenizer",
            help="Local directory with the base model's tokenizer (tokenizer.json or vocab files) "
            "and optionally config.json. Nothing is downloaded.",
        ),
        max_length: int = typer.Option(512, "--max-length", min=8, help="Token budget per text."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Export a Detoxify checkpoint to an ONNX bundle, verified against PyTorch (max abs diff < 1e-3).

        Example: tocsin models export-detoxify --checkpoint toxic_original-c1212f89.ckpt --tokenizer ./bert-base-uncased --out bundles/detoxify-original --fp16
        """
        try:
            from detectors.toxicity.export_detoxify import ExportError, export_detoxify
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            typer.echo(
                f"error: {exc}; install the export extra: pip install 'tocsin[export]'", err=True
            )
            raise typer.Exit(2) from None
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError as exc:
            typer.echo(
                f"error: {exc.name} is missing; install the export extra: pip install 'tocsin[export]' "
                '(CPU torch: pip install "torch==2.13.0")',
                err=True,
            )
            raise typer.Exit(2) from None
        try:
            result = export_detoxify(
                checkpoint, out, tokenizer_dir=tokenizer, fp16=fp16, max_length=max_length
            )
        except ExportError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        summary = {
            "out": str(result.out),
            "labels": list(result.labels),
            "parity_max_abs_diff": result.parity_max_abs_diff,
            "fp16_max_abs_diff": result.fp16_max_abs_diff,
        }
        if as_json:
            typer.echo(json.dumps(summary))
        else:
            typer.echo(
                f"wrote {result.out} (labels {', '.join(result.labels)}; ONNX vs PyTorch max abs diff "
                f"{result.parity_max_abs_diff:.1e})"
            )
