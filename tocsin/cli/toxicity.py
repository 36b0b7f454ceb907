"""`tocsin toxicity score`: score JSONL ``{"id","text"}`` records with a toxicity bundle.

Output on stdout, one JSON object per input record: ``{"id": ..., "scores": {label: prob}}``.
A malformed line (not a JSON object with a string ``text``) is reported on stderr by line
number only (never its content) and skipped. Exit code 0 when every line was read,
1 when some were skipped, 2 on bad options or an unusable bundle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import typer

from tocsin.cli.text_records import MAX_REPORTED_BAD_LINES, process_text_records


def register(app: typer.Typer) -> None:
    """Add ``tocsin toxicity score`` to the main app."""
    tox_app = typer.Typer(
        help="Score texts for toxicity with an ONNX model bundle.", no_args_is_help=True
    )
    app.add_typer(tox_app, name="toxicity")

    @tox_app.command("score")
    def score(
        file: str = typer.Argument(
            "-", help='JSONL file of {"id","text"} records; \'-\' reads stdin.'
        ),
        model: Path | None = typer.Option(
            None,
            "--model",
            help="Bundle directory. Default: toxicity.model_dir, else the bundled model.",
        ),
        batch_size: int | None = typer.Option(
            None,
            "--batch-size",
            min=1,
            help="Texts per ONNX run. Default: toxicity.batch_size (64).",
        ),
        chunk: int = typer.Option(2048, "--chunk", min=1, help="Records read per scoring call."),
        summary_json: bool = typer.Option(
            False, "--json", help="Write the summary on stderr as JSON."
        ),
    ) -> None:
        """Score JSONL {"id","text"} records; write {"id","scores":{label: prob}} per record.

        Malformed lines are reported by line number and skipped (exit code 1).

        Example: tocsin toxicity score chats.jsonl --batch-size 128 > scores.jsonl
        """

        from detectors.toxicity import BundleError, ToxicityScorer
        from tocsin.settings import load_settings

        settings = load_settings().toxicity
        kwargs = settings.scorer_kwargs()
        if batch_size is not None:
            kwargs["batch_size"] = batch_size
        try:
            scorer = ToxicityScorer(model or settings.model_dir, **kwargs)
        except BundleError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None

        flagged = 0

        def score_batch(ids: list[Any], texts: list[str]) -> list[str]:
            nonlocal flagged
            scores = scorer.score_batch(texts)
            labels = list(scores)
            cols = [scores[lab].tolist() for lab in labels]
            lines = []
            for i, ident in enumerate(ids):
                row = {lab: round(col[i], 6) for lab, col in zip(labels, cols, strict=True)}
                lines.append(orjson.dumps({"id": ident, "scores": row}).decode())
            flagged += int((scores["toxicity"] >= settings.threshold).sum())
            return lines

        records, bad = process_text_records(
            file, chunk, score_batch, plain_text=False, verb="scoring"
        )
        summary = {
            "records": records,
            "skipped": len(bad),
            "skipped_lines": [n for n, _ in bad[:MAX_REPORTED_BAD_LINES]],
            "flagged": flagged,
            "threshold": settings.threshold,
            "bundle": scorer.bundle.name,
            "providers": scorer.providers,
        }
        if summary_json:
            typer.echo(json.dumps(summary), err=True)
        else:
            typer.echo(
                f"{records} records, {len(bad)} skipped, {flagged} at toxicity >= {settings.threshold} "
                f"({scorer.bundle.name})",
                err=True,
            )
        if bad:
            typer.echo('each line must be a JSON object with a string "text" field', err=True)
            raise typer.Exit(1)
