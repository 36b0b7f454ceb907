"""`tocsin models export-ner` and `tocsin models ner-info`: NER bundles for PII.

``export-ner`` needs the ``[export]`` extra (torch, transformers, onnx). Exit codes: 0 ok,
1 export or verification failed, 2 bad options or missing extra.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(models_app: typer.Typer) -> None:
    """Add ``export-ner`` and ``ner-info`` to the ``tocsin models`` group."""

    @models_app.command("export-ner")
    def export_ner_cmd(
        checkpoint: Path = typer.Option(
            ...,
            "--checkpoint",
            help="Local Hugging Face token-classification checkpoint directory (config.json, "
            "weights, tokenizer.json). Nothing is downloaded.",
        ),
        out: Path = typer.Option(..., "--out", help="Bundle directory to create (new or empty)."),
        fp16: bool = typer.Option(False, "--fp16", help="Also write an fp16 model for CUDA."),
        max_length: int = typer.Option(128, "--max-length", min=8, help="Token budget per text."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Export a BERT/DeBERTa/XLM-R NER checkpoint to an ONNX bundle for `pii.ner_model_dir`.

        Labels are mapped to PERSON/LOCATION from the checkpoint's id2label; the ONNX logits
        are checked against PyTorch (max abs diff <= 1e-3) before anything is written.

        Example: tocsin models export-ner --checkpoint ./bert-base-NER --out bundles/ner-bert --fp16
        """
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401

            from detectors.pii.export_ner import NerExportError, export_ner
        except ImportError as exc:
            typer.echo(
                f"error: {exc.name} is missing; install the export extra: pip install 'tocsin[export]'",
                err=True,
            )
            raise typer.Exit(2) from None
        try:
            result = export_ner(checkpoint, out, fp16=fp16, max_length=max_length)
        except NerExportError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        summary = {
            "out": str(result.out),
            "labels": list(result.labels),
            "entity_map": result.entity_map,
            "parity_max_abs_diff": result.parity_max_abs_diff,
            "fp16_max_abs_diff": result.fp16_max_abs_diff,
        }
        if as_json:
            typer.echo(json.dumps(summary))
        else:
            typer.echo(
                f"wrote {result.out} ({', '.join(sorted(set(result.entity_map.values())))} from "
                f"{len(result.labels)} labels; ONNX vs PyTorch max abs diff "
                f"{result.parity_max_abs_diff:.1e}); use it with TOCSIN_PII__NER_MODEL_DIR={result.out}"
            )

    @models_app.command("ner-info")
    def ner_info(
        directory: Path | None = typer.Argument(
            None, help="NER bundle directory (default: the shipped bundle)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Verify an NER bundle (sha256 of every file) and show its kind, labels and provenance.

        Example: tocsin models ner-info --json
        """
        from detectors.pii.ner import default_ner_bundle_dir, load_ner_bundle
        from detectors.toxicity import BundleError

        try:
            b = load_ner_bundle(directory or default_ner_bundle_dir())
        except BundleError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        summary = {
            "path": str(b.path),
            "name": b.name,
            "version": b.version,
            "kind": b.kind,
            "license": b.manifest.get("license"),
            "labels": list(b.labels),
            "provenance": b.manifest.get("provenance", {}),
            "verified": True,
        }
        if as_json:
            typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        else:
            typer.echo(f"{b.name} {b.version} ({b.kind}, {summary['license']}) {b.path}: verified")
            typer.echo(f"labels: {', '.join(b.labels)}")
