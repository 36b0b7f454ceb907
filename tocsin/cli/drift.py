"""`tocsin drift ...`: calibrate, backtest and evaluate the drift detectors.

Commands
--------
``tocsin drift calibrate --history FILE [--target-fa-per-100k 1] [--signal NAME]``
    Fit the default detector's threshold to a false-alarm target by replaying a history.
``tocsin drift backtest [FILE|-] [--detector NAME] [--table]``
    Run a detector over one number per line; print one record per detected change.
``tocsin drift evaluate [--seeds N]``
    Measure false alarms and delays of the default detector on seeded synthetic streams.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
import yaml
from rich.console import Console
from rich.table import Table

from detectors.drift import (
    NUMERIC_DETECTORS,
    CusumParams,
    KeyedDriftMonitor,
    calibrate_threshold,
    evaluate,
)
from detectors.drift.calibration import STREAM_KINDS
from tocsin.settings import DriftSettings, load_settings

drift_app = typer.Typer(
    name="drift",
    help="Online drift detection: calibrate thresholds, backtest detectors on a series.",
    no_args_is_help=True,
)
err = Console(stderr=True, soft_wrap=True)


def _say(msg: str) -> None:
    """A plain line on stderr (user text may contain [brackets]: no rich markup)."""
    typer.echo(msg, err=True)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(drift_app, name="drift")


def monitor_from_settings(settings: DriftSettings) -> KeyedDriftMonitor:
    """The worker's drift monitor, built from the ``drift:`` settings.

    >>> mon = monitor_from_settings(DriftSettings(threshold=50, signal_thresholds={"x": 70}))
    >>> mon.cusum.threshold, mon.signal_params["x"].threshold
    (50.0, 70.0)
    """
    return KeyedDriftMonitor.from_config(settings.model_dump())


# ------------------------------------------------------------------------ input files


@dataclass
class ParsedValues:
    """Numbers read from a file, the 1-based line of each, and the lines skipped."""

    values: np.ndarray
    lines: np.ndarray
    bad: list[tuple[int, str]] = field(default_factory=list)


def _number(text: Any) -> float:
    if isinstance(text, bool) or text is None:
        raise ValueError(f"not a number: {text!r}")
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"not a finite number: {text!r}")
    return v


def parse_values(lines: Iterable[str], column: str | None = None) -> ParsedValues:
    """Read one number per line, CSV with a header, or JSONL objects.

    CSV and JSONL take ``column`` (default ``value``, or the only column of a CSV).
    Blank lines and ``#`` comments are ignored; anything else that is not a finite number
    is reported with its line number and skipped.

    >>> p = parse_values(["1.5", "oops", "", "nan", "2"])
    >>> p.values.tolist(), p.lines.tolist(), p.bad
    ([1.5, 2.0], [1, 5], [(2, "not a number: 'oops'"), (4, "not a finite number: 'nan'")])
    >>> parse_values(['{"value": 3}', '{"v": 1}']).bad
    [(2, "no 'value' field")]
    """
    vals: list[float] = []
    nums: list[int] = []
    bad: list[tuple[int, str]] = []
    mode: str | None = None
    header: list[str] | None = None
    col_idx = 0
    col = column
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if mode is None:
            if line.startswith("{"):
                mode = "jsonl"
                col = column or "value"
            else:
                try:
                    _number(line)
                    mode = "plain"
                except ValueError:
                    if "," in line or column is not None:
                        mode = "csv"
                        header = next(csv.reader([line]))
                        header = [h.strip() for h in header]
                        want = column or ("value" if "value" in header else None)
                        if want is None and len(header) == 1:
                            want = header[0]
                        if want not in header:
                            raise ValueError(
                                f"line {lineno}: CSV header {header} has no column "
                                f"{want or 'value'!r}: pass --column NAME"
                            ) from None
                        col_idx = header.index(want)
                        continue
                    mode = "plain"
        try:
            if mode == "plain":
                v = _number(line)
            elif mode == "jsonl":
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    raise ValueError("not a JSON object") from None
                if not isinstance(obj, dict) or col not in obj:
                    raise ValueError(f"no {col!r} field")
                v = _number(obj[col])
            else:
                assert header is not None
                row = next(csv.reader([line]))
                if len(row) != len(header):
                    raise ValueError(f"{len(row)} fields, header has {len(header)}")
                v = _number(row[col_idx].strip())
        except ValueError as e:
            msg = str(e)
            if msg.startswith("could not convert"):
                msg = f"not a number: {line[:40]!r}"
            bad.append((lineno, msg))
            continue
        vals.append(v)
        nums.append(lineno)
    return ParsedValues(np.array(vals, dtype=np.float64), np.array(nums, dtype=np.int64), bad)


def _read(path: str, column: str | None) -> ParsedValues:
    try:
        if path == "-":
            return parse_values(io.TextIOWrapper(sys.stdin.buffer, errors="replace"), column)
        with open(path, encoding="utf-8", errors="replace") as f:
            return parse_values(f, column)
    except OSError as e:
        _say(f"error: cannot read {path}: {e.strerror} (give an existing file or -)")
        raise typer.Exit(2) from None
    except ValueError as e:
        _say(f"error: {path}: {e}")
        raise typer.Exit(2) from None


def _report_bad(path: str, parsed: ParsedValues, show: int = 5) -> None:
    for lineno, why in parsed.bad[:show]:
        _say(f"{path}:{lineno}: skipped ({why})")
    if len(parsed.bad) > show:
        _say(f"... and {len(parsed.bad) - show} more malformed lines")


# -------------------------------------------------------------------------- calibrate


@drift_app.command("calibrate")
def calibrate(
    history: Annotated[
        Path,
        typer.Option(
            "--history",
            help="Stationary history: one number per line, CSV with a header, or JSONL.",
        ),
    ],
    target: Annotated[
        float,
        typer.Option("--target-fa-per-100k", help="Target false alarms per 100,000 samples."),
    ] = 1.0,
    signal: Annotated[
        str | None,
        typer.Option("--signal", help="Write a per-signal threshold (signal_thresholds.NAME)."),
    ] = None,
    column: Annotated[
        str | None, typer.Option("--column", help="CSV/JSONL column (default: value).")
    ] = None,
    replays: Annotated[int, typer.Option(help="Bootstrap replays (100k samples each).")] = 40,
    block_len: Annotated[int, typer.Option(help="Bootstrap block length (samples).")] = 1024,
    seed: Annotated[int, typer.Option(help="Resampling seed.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the config block here (.json = JSON, else YAML)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Fit the default detector's threshold to a false-alarm target on a history.

    The history is resampled (circular block bootstrap, which keeps short-range autocorrelation) into replays of 100,000 samples, each run from a fresh start; the threshold is the smallest whose measured false-alarm rate meets the target. Give a quiet stretch: incidents in the history inflate the threshold.

    Reading the history straight from ClickHouse is not implemented yet: export the column to a file first.

    Example: tocsin drift calibrate --history latency.txt --signal latency_ms --out drift.yaml
    """
    if replays < 1:
        _say("error: --replays must be >= 1")
        raise typer.Exit(2)
    parsed = _read(str(history), column)
    _report_bad(str(history), parsed)
    s = load_settings().drift
    base = CusumParams(
        threshold=s.signal_thresholds.get(signal or "", s.threshold),
        allowance=s.allowance,
        block_size=s.block_size,
        warmup=s.warmup,
        reference_size=s.reference_size,
    )
    try:
        with err.status(f"replaying {replays} x 100k samples ..."):
            cal = calibrate_threshold(
                parsed.values, target, base, replays=replays, block_len=block_len, seed=seed
            )
    except ValueError as e:
        _say(f"error: cannot calibrate: {e}")
        raise typer.Exit(1) from None
    th = cal.params.threshold
    block: dict[str, Any] = (
        {"drift": {"signal_thresholds": {signal: th}}} if signal else {"drift": {"threshold": th}}
    )
    result = {
        "config": block,
        **cal.to_dict(),
        "skipped_lines": len(parsed.bad),
        "signal": signal,
    }
    if out is not None:
        text = (
            json.dumps(block, indent=2) + "\n"
            if out.suffix == ".json"
            else yaml.safe_dump(block, sort_keys=False)
        )
        out.write_text(text)
    if as_json:
        print(json.dumps(result, default=float))
        return
    for note in cal.notes:
        _say(f"note: {note}")
    print(f"# calibrated on {cal.history_samples} values of {history}", end="")
    print(f" ({len(parsed.bad)} malformed lines skipped)" if parsed.bad else "")
    print(
        f"# false alarms per 100k: {cal.fa_per_100k:.3f} (target {target}; "
        f"{cal.detections} in {cal.replays} replays); median delay for a 1-sd shift: "
        f"{cal.median_delay_1sd:.0f} samples"
    )
    print(yaml.safe_dump(block, sort_keys=False), end="")
    if out is not None:
        _say(f"wrote {out}")


# --------------------------------------------------------------------------- backtest


@drift_app.command("backtest")
def backtest(
    file: Annotated[str, typer.Argument(help="One number per line; - for stdin.")] = "-",
    detector: Annotated[
        str | None,
        typer.Option(
            "--detector",
            help=f"One of {', '.join(NUMERIC_DETECTORS)}; default: the calibrated default "
            "from the settings.",
        ),
    ] = None,
    signal: Annotated[str, typer.Option(help="Signal name for the output.")] = "value",
    column: Annotated[
        str | None, typer.Option("--column", help="CSV/JSONL column (default: value).")
    ] = None,
    table_out: Annotated[
        bool, typer.Option("--table", help="A table for people instead of JSON lines.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON lines (the default; kept for scripts).")
    ] = False,
) -> None:
    """Run a drift detector over a series and print every detected change.

    Output: one JSON line per detection, {"index", "detector", "signal", "statistic", "line", ...}; index counts accepted values from 0, line is the 1-based input line. Malformed lines are reported on stderr with their line number and skipped, and counted at the end.

    Example: seq 1 1000 | tocsin drift backtest - --detector adwin
    """
    s = load_settings().drift
    if detector is not None:
        if detector not in NUMERIC_DETECTORS:
            _say(
                f"error: unknown detector {detector!r}: choose one of "
                f"{', '.join(NUMERIC_DETECTORS)}"
            )
            raise typer.Exit(2)
        s = s.model_copy(update={"detector": detector})
    parsed = _read(file, column)
    _report_bad(file, parsed)
    mon = monitor_from_settings(s)
    n = parsed.values.size
    verdicts = mon.update_batch(np.zeros(n, dtype=np.int64), signal, parsed.values, kind="numeric")
    rows = [
        {
            "index": v.index,
            "detector": v.detector,
            "signal": v.signal,
            "statistic": v.statistic,
            "line": int(parsed.lines[v.row]),
            "direction": v.direction,
            "threshold": None if math.isnan(v.threshold) else v.threshold,
        }
        for v in verdicts
    ]
    if as_json or not table_out:
        for r in rows:
            print(json.dumps(r))
    else:
        table = Table("index", "line", "detector", "direction", "statistic", "threshold")
        for r in rows:
            table.add_row(
                str(r["index"]),
                str(r["line"]),
                str(r["detector"]),
                str(r["direction"]),
                f"{r['statistic']:.4g}",
                "-" if r["threshold"] is None else f"{r['threshold']:.4g}",
            )
        Console().print(table)
    _say(f"{n} values, {len(rows)} detections, {len(parsed.bad)} malformed lines skipped")


# --------------------------------------------------------------------------- evaluate


@drift_app.command("evaluate")
def evaluate_cmd(
    seeds: Annotated[int, typer.Option(help="Seeds per stream kind.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Measure the configured default detector on seeded synthetic streams.

    False alarms per 100k on N(0,1), lognormal latencies (mean 800 ms, sd 426 ms) and Bernoulli(0.02); median delay after a change at sample 50,000 (+1 sd, +1 sd, p x2).

    Example: tocsin drift evaluate --seeds 20
    """
    if seeds < 1:
        _say("error: --seeds must be >= 1")
        raise typer.Exit(2)
    s = load_settings().drift
    params = monitor_from_settings(s).cusum
    results = []
    with err.status("simulating ..."):
        for kind in STREAM_KINDS:
            results.append(evaluate(params, kind, seeds=range(seeds)))
    if as_json:
        print(json.dumps({"params": params.to_dict(), "streams": [r.to_dict() for r in results]}))
        return
    table = Table("stream", "FA per 100k", "median delay", "misses", "seeds")
    for r in results:
        table.add_row(
            r.kind, f"{r.fa_per_100k:.2f}", f"{r.median_delay:.0f}", str(r.misses), str(r.seeds)
        )
    Console().print(table)
