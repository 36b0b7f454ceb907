"""Every figure in README's Numbers table comes from a results file of the bench it names.

The rule, simple on purpose:

- each row of the table names its bench(es) in code, e.g. `bench_ingest`, and
  ``bench/results/<name>.json`` exists for each;
- every number in the row's cells, except the ``target`` column (requirements, not
  measurements) and text in backticks (names such as `take(10000)`), must equal some
  number in those results files once rounded the way the README prints it: as many decimals
  as the README shows, after scaling by a ``M`` (10^6) or ``k``/``KB`` (10^3) written after
  it. ``40.7 M/s`` matches 40746601.6; ``3.3x`` matches 3.2542; ``25,761`` matches 25760.96.

So a number left over from an older run, or typed by hand, fails `make test`.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
RESULTS = ROOT / "bench" / "results"

BENCH = re.compile(r"`(bench_[a-z_]+)`")
CODE = re.compile(r"`[^`]*`")
NUMBER = re.compile(
    r"(?<![\w.,])(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?(?![\d,]\d)"
    r"(?:\s?(?P<scale>M|KB|k)(?![a-z]))?"
)
SCALES = {None: 1.0, "M": 1e6, "k": 1e3, "KB": 1e3}


def numbers_table(readme: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the first table after the ``## Numbers`` heading."""
    section = readme.split("\n## Numbers", 1)[1].split("\n## ", 1)[0]
    lines = [ln.strip() for ln in section.splitlines() if ln.strip().startswith("|")]
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    header, body = rows[0], [r for r in rows[1:] if not set("".join(r)) <= set("-: ")]
    return header, body


def figures(cell: str) -> list[tuple[str, float, int, float]]:
    """(as printed, value, decimals, scale) of each number in a cell, code spans removed."""
    out = []
    for m in NUMBER.finditer(CODE.sub(" ", cell)):
        frac = m.group("frac") or ""
        value = float(m.group("int").replace(",", "") + ("." + frac if frac else ""))
        out.append((m.group(0), value, len(frac), SCALES[m.group("scale")]))
    return out


def result_values(data: Any) -> list[float]:
    """Every number (not a boolean) anywhere in a results file."""
    if isinstance(data, bool):
        return []
    if isinstance(data, int | float):
        return [float(data)] if math.isfinite(data) else []
    if isinstance(data, dict):
        return [v for item in data.values() for v in result_values(item)]
    if isinstance(data, list):
        return [v for item in data for v in result_values(item)]
    return []


def matches(value: float, decimals: int, scale: float, candidates: list[float]) -> bool:
    return any(math.isclose(round(c / scale, decimals), value, abs_tol=1e-9) for c in candidates)


def stale_figures(readme: str, results_dir: Path) -> tuple[list[str], int]:
    """Problems found, and how many figures were checked."""
    header, rows = numbers_table(readme)
    columns = [i for i, name in enumerate(header) if name.lower() != "target"]
    problems: list[str] = []
    checked = 0
    for row in rows:
        benches = BENCH.findall(row[0])
        if not benches:
            problems.append(f"row names no bench: {row[0]!r}")
            continue
        values: list[float] = []
        for name in benches:
            path = results_dir / f"{name.removeprefix('bench_')}.json"
            if not path.is_file():
                problems.append(f"{name}: no {path.relative_to(results_dir.parents[1])}")
                continue
            values += result_values(json.loads(path.read_text()))
        for i in columns:
            for printed, value, decimals, scale in figures(row[i]):
                checked += 1
                if not matches(value, decimals, scale, values):
                    problems.append(
                        f"{printed!r} in {header[i]!r} of {row[0][:50]!r}... is in no "
                        f"results file of {', '.join(benches)}"
                    )
    return problems, checked


def test_every_number_in_the_table_is_in_a_results_file_of_its_bench() -> None:
    problems, checked = stale_figures(README.read_text(encoding="utf-8"), RESULTS)
    assert checked >= 40, f"only {checked} figures parsed: has the table's layout changed?"
    assert not problems, "README Numbers table:\n" + "\n".join(problems)


def test_a_stale_or_hand_typed_number_fails() -> None:
    text = README.read_text(encoding="utf-8")
    _, rows = numbers_table(text)
    row = next(r for r in rows if figures(r[1]))
    printed = figures(row[1])[0][0]
    # one more in the last printed digit: a number no bench wrote
    digits = [i for i, ch in enumerate(printed) if ch.isdigit()]
    last = digits[-1]
    bumped = printed[:last] + str((int(printed[last]) + 1) % 10) + printed[last + 1 :]
    broken_row = "| " + " | ".join([row[0], row[1].replace(printed, bumped, 1), *row[2:]]) + " |"
    original_row = next(
        ln for ln in text.splitlines() if ln.strip().startswith("|") and row[0] in ln
    )
    problems, _ = stale_figures(text.replace(original_row, broken_row), RESULTS)
    assert any(repr(bumped) in p for p in problems), problems


def test_a_row_without_its_bench_fails(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    _, rows = numbers_table(text)
    name = BENCH.findall(rows[0][0])[0]
    line = next(ln for ln in text.splitlines() if ln.startswith("|") and rows[0][0] in ln)
    problems, _ = stale_figures(text.replace(line, line.replace(f"`{name}`", "")), RESULTS)
    assert any("names no bench" in p for p in problems), problems
    problems, _ = stale_figures(text, tmp_path / "bench" / "results")
    assert any("no bench/results/" in p for p in problems), problems


def test_the_rounding_rule() -> None:
    assert figures("**40.7 M/s** (string keys), 3.3x; `take(10000)` ~1.2 KB") == [
        ("40.7 M", 40.7, 1, 1e6),
        ("3.3", 3.3, 1, 1.0),
        ("1.2 KB", 1.2, 1, 1e3),
    ]
    assert matches(40.7, 1, 1e6, [40_746_601.6])
    assert matches(25_761, 0, 1.0, [25_760.96])
    assert not matches(25_762, 0, 1.0, [25_760.96])
    assert figures("F1 1.000, 2.3 ms") == [("1.000", 1.0, 3, 1.0), ("2.3", 2.3, 1, 1.0)]
