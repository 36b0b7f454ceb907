"""Reading ``{"id", "text"}`` JSON lines (or plain text lines) for the detector CLIs.

Shared by ``tocsin pii scan`` and ``tocsin toxicity score``. A malformed line is reported
by its number only (never its content: it may hold PII) and skipped.

>>> import io
>>> bad = []
>>> data = b'{"id": "a", "text": "hi"}\\n\\n{"text": 1}\\nplain words\\n'
>>> list(read_text_batches(io.BytesIO(data), 10, bad, plain_text=True))
[(['a', 4], ['hi', 'plain words'], 51)]
>>> bad
[(3, 'no string "text" field')]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson
import typer


def open_text_input(file: str) -> tuple[IO[bytes], int | None]:
    """The byte stream to read (``-`` = stdin) and its size when known (for progress).

    Raises ``typer.BadParameter`` naming the file when it does not exist.
    """
    if file == "-":
        return sys.stdin.buffer, None
    path = Path(file)
    if not path.is_file():
        raise typer.BadParameter(
            f"{file}: no such file (give a JSONL file, or '-' to read stdin)", param_hint="FILE"
        )
    return path.open("rb"), path.stat().st_size


#: How many malformed lines are named one by one on stderr; the rest are counted.
MAX_REPORTED_BAD_LINES = 20


def report_skipped_lines(bad: list[tuple[int, str]]) -> None:
    """Name the first malformed lines (number and reason only) on stderr, count the rest."""
    for lineno, why in bad[:MAX_REPORTED_BAD_LINES]:
        typer.echo(f"line {lineno}: {why}; skipped", err=True)
    if len(bad) > MAX_REPORTED_BAD_LINES:
        typer.echo(f"... and {len(bad) - MAX_REPORTED_BAD_LINES} more malformed lines", err=True)


def parse_text_line(raw: bytes, lineno: int, *, plain_text: bool) -> tuple[Any, str] | None:
    """(id, text) of one input line, None for a blank line; raises ValueError if malformed.

    With ``plain_text``, a line that does not start with ``{`` is the text itself, with the
    line number as its id. Bytes that are not UTF-8 become U+FFFD; so do lone surrogates in
    the id, which is written back out as JSON (the text keeps them: detectors handle them).

    >>> ident, text = parse_text_line(b'{"id": "a\\\\ud800", "text": "t"}', 1, plain_text=False)
    >>> ident.startswith("a\\ufffd"), text
    (True, 't')
    """
    line = raw.rstrip(b"\r\n")
    if not line.strip():
        return None
    if plain_text and not line.lstrip().startswith(b"{"):
        return lineno, line.decode("utf-8", "replace")
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        # orjson rejects lone surrogate escapes ("\ud800") that the json module accepts.
        try:
            obj = json.loads(line.decode("utf-8", "replace"))
        except json.JSONDecodeError:
            raise ValueError("not valid JSON") from None
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    text = obj.get("text")
    if not isinstance(text, str):
        raise ValueError('no string "text" field')
    ident = obj.get("id", lineno)
    if isinstance(ident, dict | list):
        raise ValueError('"id" must be a string or a number')
    if isinstance(ident, str) and not ident.isascii():
        # echoed back in JSON output: a lone surrogate ("\\ud800") becomes U+FFFD
        ident = ident.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return ident, text


def read_text_batches(
    stream: IO[bytes], size: int, bad: list[tuple[int, str]], *, plain_text: bool
) -> Iterator[tuple[list[Any], list[str], int]]:
    """Yield (ids, texts, bytes read) in batches of ``size``; malformed lines go to ``bad``."""
    ids: list[Any] = []
    texts: list[str] = []
    nbytes = 0
    for lineno, raw in enumerate(stream, start=1):
        nbytes += len(raw)
        try:
            parsed = parse_text_line(raw, lineno, plain_text=plain_text)
        except ValueError as exc:
            bad.append((lineno, str(exc)))
            continue
        if parsed is None:
            continue
        ids.append(parsed[0])
        texts.append(parsed[1])
        if len(texts) >= size:
            yield ids, texts, nbytes
            ids, texts, nbytes = [], [], 0
    if texts or nbytes:
        yield ids, texts, nbytes


def process_text_records(
    file: str,
    batch_size: int,
    handle: Callable[[list[Any], list[str]], list[str]],
    *,
    plain_text: bool,
    verb: str,
) -> tuple[int, list[tuple[int, str]]]:
    """Run ``handle(ids, texts)`` over FILE (``-`` = stdin) in batches; print its JSON lines.

    ``handle`` returns one output line per input record. A progress bar (``verb``) runs on
    stderr when reading a file in a terminal; malformed lines are skipped and reported by
    number. Returns the number of records handled and the skipped ``(line, reason)`` pairs.
    """
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    stream, total = open_text_input(file)
    err = Console(stderr=True)
    bad: list[tuple[int, str]] = []
    records = 0
    progress = Progress(
        TextColumn(verb),
        BarColumn(),
        DownloadColumn(),
        console=err,
        transient=True,
        disable=total is None or not err.is_terminal,
    )
    out = sys.stdout
    try:
        with progress:
            task = progress.add_task(verb, total=total)
            batches = read_text_batches(stream, batch_size, bad, plain_text=plain_text)
            for ids, texts, nbytes in batches:
                if texts:
                    out.write("\n".join(handle(ids, texts)) + "\n")
                    records += len(texts)
                progress.advance(task, nbytes)
    finally:
        if file != "-":
            stream.close()
    out.flush()
    report_skipped_lines(bad)
    return records, bad
