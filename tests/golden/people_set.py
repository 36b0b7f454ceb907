"""tocsin's own labelled set of people, places and phones (``tests/golden/data/*.txt``).

Texts are written inline with their labels: ``{P|Maria}`` is a PERSON, ``{L|...}`` a
LOCATION, ``{T|...}`` a PHONE_NUMBER (also ``E`` e-mail, ``C`` card, ``I`` IBAN, ``S`` US
SSN, ``IP``); ``\\n`` is a line break; ``#`` starts a comment line. The labelling rules are
in ``tests/golden/LABELLING.md``. Scoring is the same as for the shared vectors: a finding
matches a label of the same type whose span it overlaps, each label at most once.

Used by the golden test and by ``bench/bench_pii_ner.py`` (the same texts for tocsin and
the Presidio baseline).

>>> case = parse_line("Hi {P|Ana}, call {T|06 12 34 56 78}", "x:1")
>>> case["text"], [(e["type"], case["text"][e["start"]:e["end"]]) for e in case["expect"]]
('Hi Ana, call 06 12 34 56 78', [('PERSON', 'Ana'), ('PHONE_NUMBER', '06 12 34 56 78')])
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"
TAGS = {
    "P": "PERSON",
    "L": "LOCATION",
    "T": "PHONE_NUMBER",
    "E": "EMAIL_ADDRESS",
    "C": "CREDIT_CARD",
    "I": "IBAN_CODE",
    "S": "US_SSN",
    "IP": "IP_ADDRESS",
}
_MARK = re.compile(r"\{(P|L|T|E|C|I|S|IP)\|([^{}|]+)\}")


def parse_line(line: str, case_id: str) -> dict[str, Any]:
    """One labelled text: ``{"id", "text", "expect": [{"type", "start", "end"}]}``."""
    line = line.replace("\\n", "\n")
    text: list[str] = []
    expect: list[dict[str, Any]] = []
    pos = n = 0
    for m in _MARK.finditer(line):
        before = line[pos : m.start()]
        text.append(before)
        n += len(before)
        value = m.group(2)
        expect.append({"type": TAGS[m.group(1)], "start": n, "end": n + len(value)})
        text.append(value)
        n += len(value)
        pos = m.end()
    text.append(line[pos:])
    out = "".join(text)
    if "{" in out and "|" in out:
        raise ValueError(f"{case_id}: malformed label in {line!r}")
    return {"id": case_id, "text": out, "expect": expect}


def load_cases(data_dir: Path = DATA) -> list[dict[str, Any]]:
    """Every labelled text of the set, in file order."""
    cases = []
    for path in sorted(data_dir.glob("*.txt")):
        for no, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if raw.strip() and not raw.startswith("#"):
                cases.append(parse_line(raw, f"{path.stem}:{no}"))
    return cases


Found = Sequence[tuple[str, int, int]]


def score(
    cases: Sequence[dict[str, Any]],
    findings: Iterable[Found],
    types: Iterable[str] | None = None,
) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Per-type support, precision, recall, F1 and exact-span share, plus the error list.

    ``findings[i]`` are ``(type, start, end)`` for ``cases[i]``; only ``types`` are scored
    (default: every type labelled or found).
    """
    keep: Callable[[str], bool] = (lambda t: True) if types is None else set(types).__contains__
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    exact: Counter[str] = Counter()
    errors: list[str] = []
    for case, found_all in zip(cases, findings, strict=True):
        found = [f for f in found_all if keep(f[0])]
        used: set[int] = set()
        for exp in case["expect"]:
            if not keep(exp["type"]):
                continue
            hit = next(
                (
                    i
                    for i, (t, s, e) in enumerate(found)
                    if i not in used and t == exp["type"] and s < exp["end"] and exp["start"] < e
                ),
                None,
            )
            value = case["text"][exp["start"] : exp["end"]]
            if hit is None:
                fn[exp["type"]] += 1
                errors.append(f"{case['id']}: missed {exp['type']} {value!r}")
                continue
            used.add(hit)
            tp[exp["type"]] += 1
            if found[hit][1:] == (exp["start"], exp["end"]):
                exact[exp["type"]] += 1
        for i, (t, s, e) in enumerate(found):
            if i not in used:
                fp[t] += 1
                errors.append(f"{case['id']}: false {t} {case['text'][s:e]!r}")
    table: dict[str, dict[str, float]] = {}
    for t in sorted(set(tp) | set(fn) | set(fp)):
        n_pred, n_true = tp[t] + fp[t], tp[t] + fn[t]
        p = tp[t] / n_pred if n_pred else 1.0
        r = tp[t] / n_true if n_true else 1.0
        table[t] = {
            "support": n_true,
            "precision": p,
            "recall": r,
            "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "exact": exact[t] / tp[t] if tp[t] else 1.0,
        }
    return table, errors


def format_table(table: dict[str, dict[str, float]]) -> str:
    """The per-type table as printed by the golden test and the bench."""
    rows = [
        f"{'type':14s} {'support':>7s} {'precision':>9s} {'recall':>7s} {'f1':>6s} {'exact':>6s}"
    ]
    for t, r in table.items():
        rows.append(
            f"{t:14s} {int(r['support']):7d} {r['precision']:9.3f} {r['recall']:7.3f} "
            f"{r['f1']:6.3f} {r['exact']:6.3f}"
        )
    return "\n".join(rows)
