"""SLO specs: the versioned spec file, its validation, and what each SLO counts as bad.

A spec file is YAML (or JSON) with ``version: 1`` and a list ``slos``::

    version: 1
    slos:
      - name: chat-api-availability
        objective: 0.999          # target good ratio, strictly between 0 and 1
        period: 30d               # SLO period
        min_events: 100           # optional, default 0: events the long window must hold
        selector: {service: chat-api, track: "*"}   # optional, globs or exact values
        group_by: [track]         # optional: one alert state per distinct value
        sli: {kind: error_ratio}  # optional, default: bad = status in {error, timeout}
        alerts:                   # optional, default: the four alerts below
          - {long: 1h, short: 5m, budget: 0.02, severity: page}

Burn factors are derived, never typed: ``factor = budget * period / long``. With a 30d
period the default alerts (``1h/5m 0.02 page``, ``6h/30m 0.05 page``, ``1d/2h 0.10
ticket``, ``3d/6h 0.10 ticket``) give 14.4, 6, 3 and 1 (Sloth and the Google SRE workbook
use the same multi-window, multi-burn-rate scheme).

SLI kinds:

``error_ratio``
    bad when ``field`` (default ``status``) is one of ``bad_values`` (default
    ``[error, timeout]``). Every selected event counts.
``latency``
    bad when ``field`` (default ``latency_ms``; ``ttft_ms`` for time to first token) is
    strictly greater than ``threshold`` (milliseconds). Events without the field do not count.
``quality``
    bad when a detector verdict is positive: ``field`` names a score (bad when strictly
    greater than ``threshold``) or, without ``threshold``, a boolean (bad when true), e.g.
    ``{kind: quality, field: toxicity, threshold: 0.8}`` or ``{kind: quality, field:
    pii_found}``. Events without the field do not count.

Example
-------
>>> spec = parse_slo({"name": "api", "objective": 0.999, "period": "30d"})
>>> [(a.window, a.severity, round(spec.factor(a), 4)) for a in spec.alerts]
[('1h/5m', 'page', 14.4), ('6h/30m', 'page', 6.0), ('1d/2h', 'ticket', 3.0), ('3d/6h', 'ticket', 1.0)]
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from detectors.slo.columns import EventColumns
from detectors.slo.durations import Duration, DurationError, parse_duration

__all__ = [
    "DEFAULT_ALERTS",
    "SPEC_VERSION",
    "AlertSpec",
    "Selector",
    "SliSpec",
    "SloSpec",
    "SpecError",
    "SpecFile",
    "load_spec_file",
    "parse_slo",
    "parse_spec_document",
]

SPEC_VERSION = 1
SELECTOR_FIELDS = ("service", "deployment", "track", "model")
SliKind = Literal["error_ratio", "latency", "quality"]
SLI_KINDS: tuple[str, ...] = ("error_ratio", "latency", "quality")

#: Alerts used when an SLO has no ``alerts`` key, in this order.
DEFAULT_ALERTS: tuple[Mapping[str, Any], ...] = (
    {"long": "1h", "short": "5m", "budget": 0.02, "severity": "page"},
    {"long": "6h", "short": "30m", "budget": 0.05, "severity": "page"},
    {"long": "1d", "short": "2h", "budget": 0.10, "severity": "ticket"},
    {"long": "3d", "short": "6h", "budget": 0.10, "severity": "ticket"},
)

_SLO_KEYS = {
    "name",
    "description",
    "objective",
    "period",
    "min_events",
    "alerts",
    "selector",
    "group_by",
    "sli",
}
_ALERT_KEYS = {"long", "short", "budget", "severity"}
_SLI_KEYS = {"kind", "field", "threshold", "bad_values"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
_SEVERITY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SpecError(ValueError):
    """An SLO spec that cannot be used; the message names the file, SLO and field."""


# --------------------------------------------------------------------------- models


@dataclass(frozen=True, slots=True)
class AlertSpec:
    """One multi-window alert: fires when both windows burn at least the derived factor.

    Examples
    --------
    >>> a = AlertSpec.parse({"long": "1h", "short": "5m", "budget": 0.02, "severity": "page"})
    >>> a.window, a.long_minutes, a.short_minutes
    ('1h/5m', 60, 5)
    """

    long: Duration
    short: Duration
    budget: float
    severity: str

    @property
    def window(self) -> str:
        """The label ``"<long>/<short>"`` with both durations as written."""
        return f"{self.long.text}/{self.short.text}"

    @property
    def long_minutes(self) -> int:
        return self.long.minutes

    @property
    def short_minutes(self) -> int:
        return self.short.minutes

    @classmethod
    def parse(cls, data: object, where: str = "alert") -> AlertSpec:
        """Validate one alert mapping; ``where`` prefixes error messages."""
        if not isinstance(data, Mapping):
            raise SpecError(f"{where}: expected a mapping with long, short, budget, severity")
        _reject_unknown(data, _ALERT_KEYS, where)
        for key in ("long", "short", "budget", "severity"):
            if key not in data:
                raise SpecError(f"{where}: missing field {key!r}")
        long = _duration(data["long"], f"{where}: long")
        short = _duration(data["short"], f"{where}: short")
        for name, dur in (("long", long), ("short", short)):
            if not dur.whole_minutes:
                raise SpecError(
                    f"{where}: {name}: window {dur.text!r} is not a whole number of minutes "
                    "(alert windows are evaluated on 1-minute buckets; use e.g. '5m' or '300s')"
                )
        if short.seconds >= long.seconds:
            raise SpecError(
                f"{where}: short window {short.text!r} must be shorter than long window "
                f"{long.text!r}"
            )
        budget = _number(data["budget"], f"{where}: budget")
        if not 0 < budget <= 1:
            raise SpecError(
                f"{where}: budget must be in (0, 1] (fraction of the period's error budget), "
                f"got {budget!r}"
            )
        severity = data["severity"]
        if not isinstance(severity, str) or not _SEVERITY.match(severity):
            raise SpecError(
                f"{where}: severity must be a word such as 'page' or 'ticket', got {severity!r}"
            )
        return cls(long=long, short=short, budget=budget, severity=severity)


@dataclass(frozen=True, slots=True)
class Selector:
    """Which events an SLO counts: exact values or globs on service/deployment/track/model.

    A field that is not given matches everything; a list matches when any pattern does.

    Examples
    --------
    >>> s = Selector.parse({"service": "chat-*", "track": ["stable", "canary"]})
    >>> s.matches({"service": "chat-api", "track": "canary"})
    True
    >>> s.matches({"service": "search", "track": "canary"})
    False
    """

    patterns: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def parse(cls, data: object, where: str = "selector") -> Selector:
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise SpecError(f"{where}: expected a mapping of {', '.join(SELECTOR_FIELDS)}")
        _reject_unknown(data, set(SELECTOR_FIELDS), where)
        out: list[tuple[str, tuple[str, ...]]] = []
        for key in SELECTOR_FIELDS:
            if key not in data:
                continue
            value = data[key]
            values = [value] if isinstance(value, str) else value
            if (
                not isinstance(values, list)
                or not values
                or not all(isinstance(v, str) and v for v in values)
            ):
                raise SpecError(
                    f"{where}: {key}: expected a non-empty string or list of strings, got {value!r}"
                )
            out.append((key, tuple(values)))
        return cls(patterns=tuple(out))

    def matches(self, event: Mapping[str, Any]) -> bool:
        """True when the event's fields match every given pattern."""
        for key, pats in self.patterns:
            value = event.get(key)
            if value is None or not any(fnmatch.fnmatchcase(str(value), p) for p in pats):
                return False
        return True

    def mask(self, columns: Mapping[str, Any] | EventColumns, n: int) -> np.ndarray:
        """Vectorised :meth:`matches` over a batch of ``n`` events given as columns.

        Patterns are matched once per distinct value, so this is cheap for the usual
        handful of services and models in a batch.

        >>> Selector.parse({"track": "canary"}).mask({"track": ["stable", "canary"]}, 2)
        array([False,  True])
        """
        cols = columns if isinstance(columns, EventColumns) else EventColumns(columns, n)
        out = np.ones(n, dtype=bool)
        for key, pats in self.patterns:
            if key not in cols:
                return np.zeros(n, dtype=bool)
            uniques, codes = cols.factorized(key)
            ok = np.array(
                [
                    u is not None and any(fnmatch.fnmatchcase(str(u), p) for p in pats)
                    for u in uniques
                ],
                dtype=bool,
            )
            out &= ok[codes]
        return out

    def as_dict(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.patterns}


@dataclass(frozen=True, slots=True)
class SliSpec:
    """What makes an event bad (and whether it counts at all) for one SLO.

    Examples
    --------
    >>> sli = SliSpec.parse({"kind": "latency", "field": "ttft_ms", "threshold": 800})
    >>> eligible, bad = sli.classify({"ttft_ms": [120.0, 950.0, None]}, 3)
    >>> eligible.tolist(), bad.tolist()
    ([True, True, False], [False, True, False])
    >>> SliSpec.parse(None).is_bad({"status": "timeout"})
    True
    """

    kind: SliKind = "error_ratio"
    field: str = "status"
    threshold: float | None = None
    bad_values: tuple[str, ...] = ("error", "timeout")

    @classmethod
    def parse(cls, data: object, where: str = "sli") -> SliSpec:
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise SpecError(f"{where}: expected a mapping with 'kind'")
        _reject_unknown(data, _SLI_KEYS, where)
        kind = data.get("kind", "error_ratio")
        if kind not in SLI_KINDS:
            raise SpecError(
                f"{where}: kind: unknown SLI kind {kind!r}; use one of {', '.join(SLI_KINDS)}"
            )
        fld = data.get("field")
        if fld is not None and (not isinstance(fld, str) or not fld):
            raise SpecError(f"{where}: field: expected a field name, got {fld!r}")
        threshold = data.get("threshold")
        if threshold is not None:
            threshold = _number(threshold, f"{where}: threshold")
        if kind == "error_ratio":
            if threshold is not None:
                raise SpecError(
                    f"{where}: threshold: not used by kind error_ratio (use bad_values)"
                )
            bad_values = data.get("bad_values", ["error", "timeout"])
            if (
                not isinstance(bad_values, list)
                or not bad_values
                or not all(isinstance(v, str) for v in bad_values)
            ):
                raise SpecError(
                    f"{where}: bad_values: expected a non-empty list of status strings, "
                    f"got {bad_values!r}"
                )
            return cls("error_ratio", fld or "status", None, tuple(bad_values))
        if "bad_values" in data:
            raise SpecError(f"{where}: bad_values: only used by kind error_ratio")
        if kind == "latency":
            if threshold is None:
                raise SpecError(
                    f"{where}: threshold: kind latency needs a threshold in milliseconds "
                    "(bad when the latency is greater)"
                )
            if threshold <= 0:
                raise SpecError(f"{where}: threshold: must be positive, got {threshold!r}")
            return cls("latency", fld or "latency_ms", threshold, ())
        if fld is None:
            raise SpecError(
                f"{where}: field: kind quality needs the verdict field, e.g. 'toxicity' "
                "(score, with threshold) or 'pii_found' (boolean)"
            )
        return cls("quality", fld, threshold, ())

    def is_bad(self, event: Mapping[str, Any]) -> bool | None:
        """Classify one event: True bad, False good, None when it does not count."""
        eligible, bad = self.classify({self.field: [event.get(self.field)]}, 1)
        return bool(bad[0]) if eligible[0] else None

    def classify(
        self, columns: Mapping[str, Any] | EventColumns, n: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised classification of ``n`` events given as columns.

        Returns
        -------
        (eligible, bad)
            Two boolean arrays of length ``n``; ``bad`` implies ``eligible``.
        """
        cols = columns if isinstance(columns, EventColumns) else EventColumns(columns, n)
        if self.field not in cols:
            return np.full(n, self.kind == "error_ratio"), np.zeros(n, dtype=bool)
        if self.kind == "error_ratio":
            uniques, codes = cols.factorized(self.field)
            bad_values = set(self.bad_values)
            lut = np.array([u is not None and str(u) in bad_values for u in uniques], dtype=bool)
            return np.ones(n, dtype=bool), lut[codes]
        arr = np.asarray(cols.get(self.field))
        try:
            # None becomes NaN in an object -> float64 cast: "no verdict", not counted.
            arr = arr.astype(np.float64, copy=False)
        except (TypeError, ValueError):
            raise ValueError(
                f"SLI field {self.field!r} must hold numbers or booleans (or null); "
                f"got values of type {arr.dtype}"
            ) from None
        eligible = ~np.isnan(arr)
        verdict = (arr != 0) if self.threshold is None else (arr > self.threshold)
        return eligible, eligible & verdict

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "field": self.field}
        if self.threshold is not None:
            out["threshold"] = self.threshold
        if self.kind == "error_ratio":
            out["bad_values"] = list(self.bad_values)
        return out


@dataclass(frozen=True, slots=True)
class SloSpec:
    """One validated SLO.

    Examples
    --------
    >>> s = parse_slo({"name": "rag", "objective": 0.999, "period": "28d",
    ...                "alerts": [{"long": "1h", "short": "5m", "budget": 0.02, "severity": "page"}]})
    >>> round(s.factor(s.alerts[0]), 2), s.longest_window_minutes
    (13.44, 60)
    """

    name: str
    objective: float
    period: Duration
    alerts: tuple[AlertSpec, ...]
    min_events: int = 0
    selector: Selector = field(default_factory=Selector)
    group_by: tuple[str, ...] = ()
    sli: SliSpec = field(default_factory=SliSpec)
    description: str = ""

    @property
    def error_budget(self) -> float:
        """``1 - objective``: the bad ratio the SLO allows."""
        return 1.0 - self.objective

    def factor(self, alert: AlertSpec) -> float:
        """Burn factor of an alert: ``budget * period / long``."""
        return alert.budget * self.period.seconds / alert.long.seconds

    @property
    def factors(self) -> tuple[float, ...]:
        return tuple(self.factor(a) for a in self.alerts)

    @property
    def longest_window_minutes(self) -> int:
        return max(a.long_minutes for a in self.alerts)

    def fingerprint(self) -> str:
        """Stable text of everything that shapes the evaluator's state (for checkpoints)."""
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "objective": self.objective,
            "period": self.period.text,
            "min_events": self.min_events,
            "alerts": [
                {
                    "long": a.long.text,
                    "short": a.short.text,
                    "budget": a.budget,
                    "severity": a.severity,
                }
                for a in self.alerts
            ],
            "selector": self.selector.as_dict(),
            "group_by": list(self.group_by),
            "sli": self.sli.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class SpecFile:
    """A validated spec file: its version and SLOs in file order.

    Examples
    --------
    >>> f = parse_spec_document({"version": 1, "slos": [
    ...     {"name": "a", "objective": 0.99, "period": "7d"}]})
    >>> f.names()
    ['a']
    """

    version: int
    slos: tuple[SloSpec, ...]
    source: str = "<spec>"

    def names(self) -> list[str]:
        return [s.name for s in self.slos]

    def get(self, name: str) -> SloSpec:
        """The SLO called ``name``; :class:`SpecError` listing the names otherwise."""
        for slo in self.slos:
            if slo.name == name:
                return slo
        raise SpecError(
            f"{self.source}: no SLO named {name!r}; the file has: {', '.join(self.names())}"
        )


# --------------------------------------------------------------------------- parsing


def parse_slo(data: object, where: str = "slo") -> SloSpec:
    """Validate one SLO mapping (the ``spec`` of a vector case or an entry of ``slos``).

    Parameters
    ----------
    data
        The mapping as loaded from YAML/JSON.
    where
        Prefix for error messages (file and position); the SLO name is added to it.

    Raises
    ------
    SpecError
        Naming the SLO and the field.

    Examples
    --------
    >>> parse_slo({"name": "x", "objective": 1.5, "period": "30d"})
    Traceback (most recent call last):
    ...
    detectors.slo.spec.SpecError: slo 'x': objective: must be strictly between 0 and 1 (e.g. 0.999), got 1.5
    """
    if not isinstance(data, Mapping):
        raise SpecError(f"{where}: expected a mapping with name, objective, period")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise SpecError(
            f"{where}: name: expected a name of letters, digits, '-', '_', '.' or ':', got {name!r}"
        )
    where = f"{where} {name!r}"
    _reject_unknown(data, _SLO_KEYS, where)
    if "objective" not in data:
        raise SpecError(f"{where}: missing field 'objective' (e.g. 0.999)")
    objective = _number(data["objective"], f"{where}: objective")
    if not 0 < objective < 1:
        raise SpecError(
            f"{where}: objective: must be strictly between 0 and 1 (e.g. 0.999), got {objective!r}"
        )
    if "period" not in data:
        raise SpecError(f"{where}: missing field 'period' (e.g. '30d')")
    period = _duration(data["period"], f"{where}: period")
    min_events = data.get("min_events", 0)
    if isinstance(min_events, float) and min_events.is_integer():
        min_events = int(min_events)
    if isinstance(min_events, bool) or not isinstance(min_events, int) or min_events < 0:
        raise SpecError(f"{where}: min_events: expected a non-negative integer, got {min_events!r}")
    raw_alerts = data.get("alerts", list(DEFAULT_ALERTS))
    if not isinstance(raw_alerts, list) or not raw_alerts:
        raise SpecError(
            f"{where}: alerts: expected a non-empty list (omit the key for the defaults)"
        )
    alerts = tuple(AlertSpec.parse(a, f"{where}: alerts[{i}]") for i, a in enumerate(raw_alerts))
    seen: set[AlertSpec] = set()
    for i, a in enumerate(alerts):
        if a in seen:
            raise SpecError(f"{where}: alerts[{i}]: the same alert is listed twice")
        seen.add(a)
    group_by = data.get("group_by", [])
    if isinstance(group_by, str):
        group_by = [group_by]
    if not isinstance(group_by, list) or not all(g in SELECTOR_FIELDS for g in group_by):
        raise SpecError(
            f"{where}: group_by: expected a list of {', '.join(SELECTOR_FIELDS)}, got {group_by!r}"
        )
    description = data.get("description", "")
    if not isinstance(description, str):
        raise SpecError(f"{where}: description: expected a string")
    return SloSpec(
        name=name,
        objective=objective,
        period=period,
        alerts=alerts,
        min_events=min_events,
        selector=Selector.parse(data.get("selector"), f"{where}: selector"),
        group_by=tuple(group_by),
        sli=SliSpec.parse(data.get("sli"), f"{where}: sli"),
        description=description,
    )


def parse_spec_document(data: object, source: str = "<spec>") -> SpecFile:
    """Validate a whole spec document (``version`` and ``slos``).

    Examples
    --------
    >>> parse_spec_document({"version": 2, "slos": []}, "slos.yaml")
    Traceback (most recent call last):
    ...
    detectors.slo.spec.SpecError: slos.yaml: version: unknown spec version 2; this tocsin reads version 1
    """
    if not isinstance(data, Mapping):
        raise SpecError(f"{source}: expected a mapping with 'version: 1' and 'slos:'")
    if "version" not in data:
        raise SpecError(f"{source}: version: missing; add 'version: {SPEC_VERSION}' at the top")
    version = data["version"]
    if version != SPEC_VERSION or isinstance(version, bool):
        raise SpecError(
            f"{source}: version: unknown spec version {version!r}; this tocsin reads "
            f"version {SPEC_VERSION}"
        )
    _reject_unknown(data, {"version", "slos"}, source)
    raw = data.get("slos")
    if not isinstance(raw, list) or not raw:
        raise SpecError(f"{source}: slos: expected a non-empty list of SLOs")
    slos: list[SloSpec] = []
    names: set[str] = set()
    for i, item in enumerate(raw):
        slo = parse_slo(item, f"{source}: slos[{i}]")
        if slo.name in names:
            raise SpecError(
                f"{source}: slos[{i}] {slo.name!r}: name: duplicate SLO name; names must be unique"
            )
        names.add(slo.name)
        slos.append(slo)
    return SpecFile(version=SPEC_VERSION, slos=tuple(slos), source=source)


def load_spec_file(path: str | Path) -> SpecFile:
    """Read and validate a YAML or JSON spec file (JSON when the name ends in ``.json``).

    Raises
    ------
    SpecError
        When the file is missing, unreadable as YAML/JSON, or invalid.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "slos.yaml"
    >>> _ = p.write_text("version: 1\\nslos:\\n  - {name: api, objective: 0.99, period: 7d}\\n")
    >>> [round(f, 3) for f in load_spec_file(p).get("api").factors]
    [3.36, 1.4, 0.7, 0.233]
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{p}: no such spec file") from None
    except OSError as exc:
        raise SpecError(f"{p}: cannot read spec file: {exc.strerror}") from None
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SpecError(
            f"{p}: not valid {'JSON' if p.suffix == '.json' else 'YAML'}: {exc}"
        ) from None
    return parse_spec_document(data, str(p))


# --------------------------------------------------------------------------- helpers


def _reject_unknown(data: Mapping[Any, Any], known: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        raise SpecError(
            f"{where}: unknown field {unknown[0]!r}; known fields: {', '.join(sorted(known))}"
        )


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{where}: expected a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise SpecError(f"{where}: expected a finite number, got {value!r}")
    return out


def _duration(value: object, where: str) -> Duration:
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise SpecError(f"{where}: {exc}") from None
