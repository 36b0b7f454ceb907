"""`tocsin pii`: scan and redact JSONL or plain-text lines from a file or stdin.

Input, one record per line: a JSON object ``{"id": ..., "text": "..."}`` (``id``
optional, default the line number) or, for a line that does not start with ``{``, the
line itself as the text with the line number as id. Bytes that are not UTF-8 are
decoded with U+FFFD replacement, so offsets refer to the decoded text.

Output on stdout, one JSON object per input record:
``{"id": ..., "findings": [{"type", "start", "end", "score"}], "redacted": "..."}``.
A malformed line is reported on stderr by line number only (never its content: it may
hold PII) and skipped; the rest go through. The summary goes to stderr. Exit code 0 when
every line was read, 1 when some were skipped, 2 on bad options.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import orjson
import typer

from tocsin.cli.text_records import MAX_REPORTED_BAD_LINES, process_text_records

_BATCH = 1000


def register(app: typer.Typer) -> None:
    """Add ``tocsin pii scan`` and ``tocsin pii entities`` to the main app."""
    pii_app = typer.Typer(
        help="Detect and redact PII and secrets (names, addresses, e-mail, phone, cards, IBAN, "
        "SSN, IP, keys).",
        no_args_is_help=True,
    )
    app.add_typer(pii_app, name="pii")

    @pii_app.command("scan")
    def scan(
        file: str = typer.Argument("-", help="JSONL or plain-text file; '-' reads stdin."),
        mode: str | None = typer.Option(
            None,
            "--mode",
            help="replace (<TYPE>), hash (<TYPE:hmac>, key from TOCSIN_PII__HMAC_KEY) or "
            "drop. Default: pii.mode from the settings (replace).",
        ),
        entities: str | None = typer.Option(
            None,
            "--entities",
            help="Comma-separated entity types to detect (see `tocsin pii entities`). "
            "Default: pii.entities from the settings (all).",
        ),
        summary_json: bool = typer.Option(
            False, "--json", help="Write the summary on stderr as one JSON object."
        ),
        ner: bool | None = typer.Option(
            None,
            "--ner/--no-ner",
            help="PERSON and LOCATION through the ONNX NER bundle. Default: on, unless "
            "pii.ner is set in the settings (the worker's default is off: see README).",
        ),
    ) -> None:
        """Scan JSONL {"id","text"} records (or plain lines) and write findings + redacted text.

        Writes {"id", "findings": [{"type","start","end","score"}], "redacted"} per record to stdout (offsets in code points) and a summary to stderr.

        Malformed lines are reported by line number (never their content) and skipped; the others go through, and the exit code is then 1.

        Example: tocsin pii scan chats.jsonl --mode hash --entities EMAIL_ADDRESS,PHONE_NUMBER
        """

        from detectors.pii import PiiDetector
        from tocsin.settings import load_settings

        settings = load_settings().pii
        overrides: dict[str, Any] = {"enabled": True}
        if mode is not None:
            overrides["mode"] = mode
        if entities is not None:
            overrides["entities"] = [e.strip().upper() for e in entities.split(",") if e.strip()]
        if ner is not None:
            overrides["ner"] = ner
        elif "ner" not in settings.model_fields_set:
            # A scan of a file is not the worker's hot path: find names and addresses too,
            # unless the settings say otherwise (pii.ner / TOCSIN_PII__NER).
            overrides["ner"] = True
        try:
            detector = PiiDetector.from_config(settings, **overrides)
        except ValueError as exc:
            msg = str(exc)
            hint = (
                "--mode"
                if "redaction mode" in msg
                else "--entities"
                if "entity type" in msg
                else "pii settings (TOCSIN_PII__* or the YAML file)"
            )
            raise typer.BadParameter(msg, param_hint=hint) from None

        per_type: Counter[str] = Counter()
        truncated = 0

        def scan_batch(ids: list[Any], texts: list[str]) -> list[str]:
            nonlocal truncated
            result = detector.redact_batch(texts)
            lines = []
            for ident, findings, redacted, counts, cut in zip(
                ids, result.findings, result.texts, result.counts, result.truncated, strict=True
            ):
                per_type.update(counts)
                truncated += cut
                record = {
                    "id": ident,
                    "findings": [f._asdict() for f in findings],
                    "redacted": redacted,
                }
                lines.append(orjson.dumps(record).decode())
            return lines

        records, bad = process_text_records(
            file, _BATCH, scan_batch, plain_text=True, verb="scanning"
        )
        found = dict(sorted(per_type.items()))
        summary = {
            "records": records,
            "skipped": len(bad),
            "skipped_lines": [n for n, _ in bad[:MAX_REPORTED_BAD_LINES]],
            "truncated": truncated,
            "findings": found,
        }
        if summary_json:
            typer.echo(json.dumps(summary), err=True)
        else:
            listing = ", ".join(f"{k}={v}" for k, v in found.items()) or "none"
            typer.echo(
                f"{records} records, {len(bad)} skipped, {truncated} truncated; findings: {listing}",
                err=True,
            )
        if bad:
            typer.echo(
                "some lines were skipped: each line must be a JSON object with a string "
                '"text" field, or plain text not starting with "{"',
                err=True,
            )
            raise typer.Exit(1)

    @pii_app.command("entities")
    def list_entities(
        as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
    ) -> None:
        """List the built-in entity types.

        Example: tocsin pii entities --json
        """
        from detectors.pii import ENTITY_TYPES

        if as_json:
            typer.echo(json.dumps(list(ENTITY_TYPES)))
        else:
            typer.echo("\n".join(ENTITY_TYPES))
