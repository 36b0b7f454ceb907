"""`tocsin slo ...`: check SLO specs and replay per-minute traffic against them.

Commands
--------
``tocsin slo validate --spec FILE [--json]``
    Validate a spec file and print the burn factor derived for every alert.
``tocsin slo backtest --spec FILE --series FILE [--slo NAME]``
    Replay per-minute ``(total, bad)`` counts and print the alert transitions as JSONL.
``tocsin slo backtest --from T --to T``
    Replay the stored events through the SLOs the worker applies.
``tocsin slo list``
    The SLOs in force (configured per deployment, zero-config defaults) and their source.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from detectors.slo import SloSpec, SpecError, SpecFile, evaluate_series, load_spec_file
from detectors.slo.in_force import SlosInForce
from tocsin.settings import load_settings

slo_app = typer.Typer(
    name="slo",
    help="SLO burn-rate alerts: validate spec files, backtest them on per-minute counts.",
    no_args_is_help=True,
)

SpecOption = Annotated[
    Path | None,
    typer.Option(
        "--spec",
        help="SLO spec file (YAML or JSON, `version: 1`). Default: settings slo.spec_file, "
        "else infra/config/slos.yaml.",
    ),
]


class SeriesError(ValueError):
    """A per-minute series file that cannot be read; the message names the line."""


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(slo_app, name="slo")


# --------------------------------------------------------------------------- validate


@slo_app.command("validate")
def validate(
    spec: SpecOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Validate a spec file and show the burn factors it derives.

    Example:  tocsin slo validate --spec infra/config/slos.yaml --json
    """
    spec_file = _load(spec)
    rows = [_describe(slo) for slo in spec_file.slos]
    if as_json:
        typer.echo(
            json.dumps(
                {"file": spec_file.source, "version": spec_file.version, "slos": rows}, indent=2
            )
        )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{spec_file.source}: {len(rows)} SLO(s), version {spec_file.version}")
    for col in ("slo", "objective", "period", "sli", "window", "budget", "severity", "factor"):
        table.add_column(col)
    for row in rows:
        for i, alert in enumerate(row["alerts"]):
            table.add_row(
                row["name"] if i == 0 else "",
                str(row["objective"]) if i == 0 else "",
                row["period"] if i == 0 else "",
                _sli_text(row["sli"]) if i == 0 else "",
                alert["window"],
                f"{alert['budget']:g}",
                alert["severity"],
                f"{alert['factor']:.4g}",
            )
    Console().print(table)


def _describe(slo: SloSpec) -> dict[str, Any]:
    return {
        "name": slo.name,
        "objective": slo.objective,
        "period": slo.period.text,
        "min_events": slo.min_events,
        "selector": slo.selector.as_dict(),
        "group_by": list(slo.group_by),
        "sli": slo.sli.as_dict(),
        "alerts": [
            {
                "window": a.window,
                "long": a.long.text,
                "short": a.short.text,
                "budget": a.budget,
                "severity": a.severity,
                "factor": slo.factor(a),
            }
            for a in slo.alerts
        ],
    }


def _sli_text(sli: dict[str, Any]) -> str:
    if sli["kind"] == "error_ratio":
        return f"{sli['field']} in {{{', '.join(sli['bad_values'])}}}"
    if "threshold" in sli:
        return f"{sli['kind']}: {sli['field']} > {sli['threshold']:g}"
    return f"{sli['kind']}: {sli['field']} is true"


# --------------------------------------------------------------------------- backtest


@slo_app.command("backtest")
def backtest(
    spec: SpecOption = None,
    series: Annotated[
        Path | None,
        typer.Option(
            "--series",
            help="Per-minute counts, minute 0 first: CSV (`total,bad`, header optional) or "
            'JSONL (`{"total": .., "bad": ..}` or `\\[total, bad]`); `-` reads stdin.',
        ),
    ] = None,
    slo: Annotated[
        str | None,
        typer.Option("--slo", help="SLO to replay (required when the file has several)."),
    ] = None,
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Start (ISO 8601, UTC) of a backtest on the stored events (every SLO of the "
            "spec unless --slo).",
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="End (ISO 8601, UTC, exclusive) of a ClickHouse backtest."),
    ] = None,
) -> None:
    """Replay per-minute counts, or the stored events, against SLOs; print transitions as JSONL.

    One JSON object per transition: minute, slo, window, severity, state, burn_long,
    burn_short. With --series, minute counts from 0 (the first row); with --from/--to the
    events stored in ClickHouse are replayed through the same evaluator the worker uses, and
    each line also has `at` (the end of that minute, UTC), `key` (the group_by values) and
    minute counts from --from. The exit code is 0 whether or not alerts fire.

    Example:  tocsin slo backtest --spec infra/config/slos.yaml --slo chat-api-availability --series counts.csv

    Example:  tocsin slo backtest --spec infra/config/slos.yaml --from 2026-12-05T10:00 --to 2026-12-05T12:00
    """
    if (from_ is None) != (to is None):
        _fail(
            "--from and --to go together: give both (e.g. --from 2026-11-01T00:00 --to 2026-11-02T00:00)",
            2,
        )
    if from_ is not None and to is not None:
        start, end = _parse_time(from_, "--from"), _parse_time(to, "--to")
        if end <= start:
            _fail(f"--to ({to}) must be after --from ({from_})", 2)
        if series is not None:
            _fail("use either --series or --from/--to, not both", 2)
        in_force = _in_force(spec)
        names = [s.name for s in in_force.all]
        if slo is not None and slo not in names:
            _fail(f"no SLO named {slo!r} in force; the SLOs are {', '.join(names)}", 2)
        _backtest_store(in_force, start, end, only=slo)
        return
    if series is None:
        _fail("give --series FILE (per-minute `total,bad` counts) or --from/--to", 2)
    assert series is not None
    spec_file = _load(spec)
    target = _pick(spec_file, slo)
    try:
        counts = read_series(series)
    except SeriesError as exc:
        _fail(str(exc), 1)
    for t in evaluate_series(target, counts):
        typer.echo(
            json.dumps(
                {
                    "minute": t.minute,
                    "slo": t.slo,
                    "window": t.window,
                    "severity": t.severity,
                    "state": t.state,
                    "burn_long": t.burn_long,
                    "burn_short": t.burn_short,
                }
            )
        )


def _backtest_store(
    slos: SlosInForce, start: datetime, end: datetime, *, only: str | None = None
) -> None:
    """Replay the stored events of ``[start, end)`` through the SLOs the worker applies
    (configured ones per deployment, zero-config defaults) and print the transitions."""
    from rich.console import Console
    from rich.progress import Progress

    from tocsin.runtime.slo_history import HistoryError, replay_events
    from tocsin.runtime.store import StoreError
    from tocsin.runtime.store_access import query_client

    try:
        client, via = query_client(load_settings())
    except (StoreError, ValueError, FileNotFoundError) as exc:
        _fail(f"cannot read the store: {exc}", 1)
    typer.echo(f"replaying stored events via {via}", err=True)
    base = int(start.timestamp() // 60)
    total = (end - start).total_seconds()
    try:
        with Progress(transient=True, console=Console(stderr=True)) as progress:
            task = progress.add_task("minutes replayed", total=total)

            def advance(t: datetime) -> None:
                progress.update(task, completed=(t - start).total_seconds())

            for t in replay_events(client, slos, start, end, on_progress=advance):
                if only is not None and t.slo != only:
                    continue
                at = datetime.fromtimestamp((t.minute + 1) * 60, UTC)
                row = {
                    "minute": t.minute - base,
                    "at": at.isoformat().replace("+00:00", "Z"),
                    "slo": t.slo,
                    "key": t.key,
                    "window": t.window,
                    "severity": t.severity,
                    "state": t.state,
                    "burn_long": t.burn_long,
                    "burn_short": t.burn_short,
                }
                typer.echo(json.dumps(row))
    except HistoryError as exc:
        _fail(str(exc), 1)
    except Exception as exc:  # the store's error text says what failed
        _fail(f"backtest query failed: {exc}", 1)
    finally:
        client.close()


def read_series(path: Path) -> np.ndarray:
    """Read a per-minute ``(total, bad)`` series from CSV or JSONL.

    Raises
    ------
    SeriesError
        Naming the file and line of the first bad row.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.csv"
    >>> _ = p.write_text("total,bad\\n10,1\\n0,0\\n")
    >>> read_series(p).tolist()
    [[10, 1], [0, 0]]
    """
    name = "<stdin>" if str(path) == "-" else str(path)
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SeriesError(f"{name}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SeriesError(f"{name}: cannot read: {exc}") from None
    lines = text.splitlines()
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson", ".json") or first[:1] in ("{", "[")
    rows = _parse_jsonl(lines, name) if jsonl else _parse_csv(lines, name)
    if not rows:
        raise SeriesError(f"{name}: no rows; expected one `total,bad` row per minute")
    return np.asarray(rows, dtype=np.int64)


def _parse_csv(lines: list[str], name: str) -> list[tuple[int, int]]:
    rows: list[tuple[int, int]] = []
    for lineno, fields in enumerate(csv.reader(io.StringIO("\n".join(lines))), start=1):
        cells = [f.strip() for f in fields]
        if lineno == 1 and cells and not _is_int(cells[0]):
            if [c.lower() for c in cells] != ["total", "bad"]:
                raise SeriesError(
                    f"{name}:1: header must be `total,bad` (or no header), got {','.join(cells)!r}"
                )
            continue
        if len(cells) != 2:
            raise SeriesError(
                f"{name}:{lineno}: expected 2 columns `total,bad`, got {len(cells)}"
                + (" (empty line; every line is one minute)" if not any(cells) else "")
            )
        rows.append(_check(cells[0], cells[1], name, lineno))
    return rows


def _parse_jsonl(lines: list[str], name: str) -> list[tuple[int, int]]:
    rows: list[tuple[int, int]] = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            raise SeriesError(f"{name}:{lineno}: empty line; every line is one minute")
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SeriesError(f"{name}:{lineno}: not valid JSON ({exc.msg})") from None
        if isinstance(obj, dict):
            if "total" not in obj or "bad" not in obj:
                raise SeriesError(f'{name}:{lineno}: expected {{"total": .., "bad": ..}}')
            rows.append(_check(obj["total"], obj["bad"], name, lineno))
        elif isinstance(obj, list) and len(obj) == 2:
            rows.append(_check(obj[0], obj[1], name, lineno))
        else:
            raise SeriesError(
                f'{name}:{lineno}: expected {{"total": .., "bad": ..}} or [total, bad]'
            )
    return rows


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _check(total: object, bad: object, name: str, lineno: int) -> tuple[int, int]:
    values = []
    for label, v in (("total", total), ("bad", bad)):
        if isinstance(v, bool):
            raise SeriesError(f"{name}:{lineno}: {label} must be an integer, got {v!r}")
        if isinstance(v, str):
            if not _is_int(v.strip()):
                raise SeriesError(f"{name}:{lineno}: {label} must be an integer, got {v!r}")
            v = int(v.strip())
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if not isinstance(v, int):
            raise SeriesError(f"{name}:{lineno}: {label} must be an integer, got {v!r}")
        values.append(v)
    t, b = values
    if t < 0 or b < 0 or b > t:
        raise SeriesError(f"{name}:{lineno}: need 0 <= bad <= total, got total={t} bad={b}")
    return t, b


# --------------------------------------------------------------------------- list


@slo_app.command("list")
def list_cmd(
    spec: SpecOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show the SLOs in force in the worker and where each comes from.

    The configured spec file's SLOs are judged per service, deployment and track; events
    that no configured SLO selects (all of them without a spec file) get the zero-config
    defaults: availability 99.9% over 30 days and toxicity 99.5%.

    Example:  tocsin slo list --json
    """
    rows = _in_force(spec).describe()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} SLO(s) in force")
    for col in ("name", "source", "objective", "period", "selects", "grouped by", "alerts"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"],
            r["source"],
            f"{r['objective']:.4%}",
            r["period"],
            ", ".join(f"{k}={'|'.join(v)}" for k, v in r["selector"].items()) or "all events",
            ", ".join(r["group_by"]),
            ", ".join(f"{a['window']} {a['severity']} x{a['factor']:g}" for a in r["alerts"]),
        )
    Console().print(table)


# --------------------------------------------------------------------------- helpers


def _in_force(spec: Path | None) -> SlosInForce:
    """The SLOs in force: those of ``spec`` (else the worker's), plus the defaults."""
    from detectors.slo.in_force import slos_in_force

    if spec is not None:
        return slos_in_force(_load(spec))
    path = load_settings().slo.spec_path()
    return slos_in_force(None if path is None else _load(path))


def _load(spec: Path | None) -> SpecFile:
    path = spec if spec is not None else load_settings().slo.resolved_spec_file()
    try:
        return load_spec_file(path)
    except SpecError as exc:
        _fail(f"invalid SLO spec: {exc}", 1)
    raise AssertionError("unreachable")


def _pick(spec_file: SpecFile, name: str | None) -> SloSpec:
    if name is not None:
        try:
            return spec_file.get(name)
        except SpecError as exc:
            _fail(str(exc), 2)
    if len(spec_file.slos) > 1:
        _fail(
            f"{spec_file.source} has {len(spec_file.slos)} SLOs; choose one with --slo "
            f"({', '.join(spec_file.names())})",
            2,
        )
    return spec_file.slos[0]


def _parse_time(text: str, option: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        _fail(f"{option}: {text!r} is not an ISO 8601 time (e.g. 2026-11-01T00:00:00Z)", 2)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _fail(message: str, code: int) -> Any:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)
