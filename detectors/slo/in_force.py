"""The SLOs in force: the configured ones judged per deployment, plus zero-config defaults.

A live monitor must say *which deployment* burns its budget, and a canary must not be
diluted by its stable traffic. So every SLO is evaluated per ``service``, ``deployment``
and ``track`` (added in front of its own ``group_by``; an alert key reads
``service/deployment/track[/...]``). Events that no configured SLO selects (all of them
when there is no spec file) fall to two default SLOs, so a new user sees alerts without
writing config:

* ``default-availability``: 99.9 % of requests succeed over 30 days, the four standard
  alert tiers (status ``error``/``timeout`` is bad);
* ``default-toxicity``: 99.5 % of scored answers score at most 0.8 toxicity over 30 days.

The worker and ``tocsin slo backtest --from/--to`` build their evaluators from the same
:class:`SlosInForce`, so a backtest applies exactly what the worker applied.

Example
-------
>>> from detectors.slo.spec import parse_spec_document
>>> f = parse_spec_document({"version": 1, "slos": [{"name": "a", "objective": 0.99,
...     "period": "30d", "selector": {"service": "chat"}, "group_by": ["model"]}]},
...     source="slos.yaml")
>>> live = slos_in_force(f)
>>> [(s.name, s.group_by) for s in live.slos]
[('a', ('service', 'deployment', 'track', 'model'))]
>>> [s.name for s in live.defaults]
['default-availability', 'default-toxicity']
>>> [row["source"] for row in live.describe()]
['slos.yaml', 'zero-config default', 'zero-config default']
>>> split_key("chat/chat-v2/canary/gpt%2F4")
['chat', 'chat-v2', 'canary', 'gpt/4']
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from detectors.slo.spec import SloSpec, SpecFile, parse_slo

__all__ = [
    "DEFAULT_SLOS",
    "SCOPE_FIELDS",
    "SlosInForce",
    "scope_per_deployment",
    "slos_in_force",
    "split_key",
]

#: Fields every live SLO is grouped by, in this order, before its own ``group_by``.
SCOPE_FIELDS: tuple[str, ...] = ("service", "deployment", "track")

#: The zero-config SLOs (Sloth-style mappings; burn factors derived as usual).
DEFAULT_SLOS: tuple[dict[str, Any], ...] = (
    {
        "name": "default-availability",
        "description": "Zero-config: 99.9% of requests succeed (status not error/timeout).",
        "objective": 0.999,
        "period": "30d",
        "min_events": 100,
        "sli": {"kind": "error_ratio", "bad_values": ["error", "timeout"]},
    },
    {
        "name": "default-toxicity",
        "description": "Zero-config: 99.5% of scored answers score at most 0.8 toxicity.",
        "objective": 0.995,
        "period": "30d",
        "min_events": 200,
        "sli": {"kind": "quality", "field": "toxicity", "threshold": 0.8},
        "alerts": [
            {"long": "1h", "short": "5m", "budget": 0.02, "severity": "page"},
            {"long": "1d", "short": "2h", "budget": 0.10, "severity": "ticket"},
        ],
    },
)


def scope_per_deployment(spec: SloSpec) -> SloSpec:
    """``spec`` grouped by service, deployment and track first, then by its own group_by.

    >>> s = scope_per_deployment(parse_slo({"name": "x", "objective": 0.9, "period": "1d",
    ...                                     "group_by": ["track", "model"]}))
    >>> s.group_by
    ('service', 'deployment', 'track', 'model')
    """
    extra = tuple(f for f in spec.group_by if f not in SCOPE_FIELDS)
    return replace(spec, group_by=(*SCOPE_FIELDS, *extra))


def split_key(key: str) -> list[str]:
    """The group values of an alert key (values had ``%`` and ``/`` escaped)."""
    return [p.replace("%2F", "/").replace("%25", "%") for p in key.split("/")]


@dataclass(frozen=True)
class SlosInForce:
    """What the worker evaluates: configured SLOs (scoped) and the defaults.

    Attributes
    ----------
    slos
        The configured SLOs, scoped per deployment.
    defaults
        Zero-config SLOs, fed only the events no configured SLO selects.
    source
        Where the configured SLOs come from (a path, or ``""`` when there is none).
    """

    slos: tuple[SloSpec, ...]
    defaults: tuple[SloSpec, ...]
    source: str = ""

    @property
    def all(self) -> tuple[SloSpec, ...]:
        """Configured then default SLOs."""
        return (*self.slos, *self.defaults)

    def describe(self) -> list[dict[str, Any]]:
        """One row per SLO in force, with where it comes from (``tocsin slo list``)."""
        rows = []
        for spec in self.all:
            is_default = spec in self.defaults
            rows.append(
                {
                    "name": spec.name,
                    "source": "zero-config default" if is_default else (self.source or "spec"),
                    "objective": spec.objective,
                    "period": str(spec.period),
                    "selector": spec.selector.as_dict()
                    or ({"(unselected events)": ["*"]} if is_default else {}),
                    "group_by": list(spec.group_by),
                    "sli": spec.sli.as_dict(),
                    "alerts": [
                        {"window": a.window, "severity": a.severity, "factor": spec.factor(a)}
                        for a in spec.alerts
                    ],
                }
            )
        return rows


def slos_in_force(spec_file: SpecFile | None, *, defaults: bool = True) -> SlosInForce:
    """The live SLO set from an optional spec file (see the module docstring)."""
    slos = () if spec_file is None else tuple(scope_per_deployment(s) for s in spec_file.slos)
    names = {s.name for s in slos}
    extra: tuple[SloSpec, ...] = ()
    if defaults:
        extra = tuple(
            scope_per_deployment(parse_slo(d, "default slo"))
            for d in DEFAULT_SLOS
            if d["name"] not in names
        )
    source = "" if spec_file is None else spec_file.source
    return SlosInForce(slos=slos, defaults=extra, source=source)
