"""The firing rule at equality: an alert fires when ``burn >= factor`` (../shared/vectors/README.md).

The golden vectors keep every burn rate at least 1% away from its factor, so they cannot tell
``>=`` from ``>``. These cases make a burn rate equal its factor exactly in binary floating
point: objective 0.75 (budget 0.25), period 2h and a 30m long window with alert budget 0.5
give ``factor = 0.5 * 7200 / 1800 = 2.0``; minutes of 4 events with 2 bad give an error ratio
of 0.5 and ``burn = 0.5 / 0.25 = 2.0``. All these values are exact binary fractions.

After 10 clean minutes the traffic turns half bad: the long window holds only bad minutes
(burn exactly 2.0) for the first time at minute 10 + 30 - 1 = 39, so the page fires at 39 and
not before (at 38 the long burn is 58/120 / 0.25 = 1.93). With ``>`` it would never fire.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from detectors.slo import (
    BurnRateEvaluator,
    SloEvaluator,
    Transition,
    evaluate_series,
    parse_slo,
    parse_spec_document,
)

ALERTS = [{"long": "30m", "short": "5m", "budget": 0.5, "severity": "page"}]
SLO: dict[str, Any] = {"name": "eq", "objective": 0.75, "period": "2h", "alerts": ALERTS}
CLEAN, HALF = 10, 60  # minutes of [4, 0], then minutes of [4, 2]
FIRES_AT = CLEAN + 30 - 1


def spec() -> Any:
    return parse_slo(SLO)


def series(extra_good: int = 0) -> np.ndarray:
    rows = [[4, 0]] * CLEAN + [[4, 2]] * HALF + [[4, 0]] * extra_good
    return np.array(rows, dtype=np.int64)


def states(ts: list[Transition]) -> list[tuple[int, str]]:
    return [(t.minute, t.state) for t in ts]


def feed(ev: BurnRateEvaluator, data: np.ndarray, lo: int, hi: int) -> list[Transition]:
    """Minute by minute, closing each minute as it is fed (lateness 0)."""
    out: list[Transition] = []
    for m in range(lo, hi):
        out += ev.observe_counts([m], ["k"], [data[m, 0]], [data[m, 1]])
        out += ev.advance(m)
    return out


def test_the_case_is_exact_in_floating_point() -> None:
    s = spec()
    assert s.factor(s.alerts[0]) == 2.0
    assert s.error_budget == 0.25
    assert (2 / 4) / s.error_budget == 2.0


def test_reference_evaluator_fires_when_burn_equals_factor() -> None:
    got = evaluate_series(spec(), series(extra_good=10))
    assert states(got)[0] == (FIRES_AT, "firing")
    assert got[0].burn_long == 2.0 and got[0].burn_short == 2.0
    # one good minute after the bad ones drops the short burn to 8/20 / 0.25 = 1.6
    assert states(got)[1] == (CLEAN + HALF, "resolved")
    assert len(got) == 2


def test_streaming_evaluator_fires_when_burn_equals_factor() -> None:
    data = series(extra_good=10)
    ev = BurnRateEvaluator(spec(), lateness_minutes=0)
    got = feed(ev, data, 0, len(data))
    assert states(got) == [(FIRES_AT, "firing"), (CLEAN + HALF, "resolved")]
    assert got[0].burn_long == 2.0 and got[0].burn_short == 2.0
    assert states(got) == states(evaluate_series(spec(), data))


@pytest.mark.parametrize("cut", [FIRES_AT - 1, FIRES_AT, FIRES_AT + 1])
def test_checkpoint_around_the_equal_minute_keeps_the_verdict(cut: int) -> None:
    """Restored just before, at, or just after the minute whose burn equals the factor."""
    data = series(extra_good=10)
    s = spec()
    first = BurnRateEvaluator(s, lateness_minutes=0)
    got = feed(first, data, 0, cut)
    second = BurnRateEvaluator.from_bytes(first.to_bytes(), s)
    assert second.firing == first.firing
    if cut > FIRES_AT:
        assert second.firing == {("k", "30m/5m")}
    got += feed(second, data, cut, len(data))
    assert states(got) == [(FIRES_AT, "firing"), (CLEAN + HALF, "resolved")]


def test_a_restored_evaluator_stays_firing_while_burn_equals_factor() -> None:
    """Equal burn after a restore must neither resolve nor re-fire the page."""
    data = series()
    s = spec()
    first = BurnRateEvaluator(s, lateness_minutes=0)
    assert states(feed(first, data, 0, FIRES_AT + 1)) == [(FIRES_AT, "firing")]
    second = BurnRateEvaluator.from_bytes(first.to_bytes(), s)
    assert feed(second, data, FIRES_AT + 1, len(data)) == []
    assert second.firing == {("k", "30m/5m")}


def test_event_level_evaluator_and_its_checkpoint_fire_at_equality() -> None:
    doc = {"version": 1, "slos": [dict(SLO, name="eq")]}
    spec_file = parse_spec_document(doc)
    data = series(extra_good=10)

    def batch(m: int) -> dict[str, Any]:
        total, bad = int(data[m, 0]), int(data[m, 1])
        return {
            "ts": np.full(total, m * 60_000 + 1_000, dtype=np.int64),
            "service": np.array(["chat-api"] * total, dtype=object),
            "status": np.array(["error"] * bad + ["ok"] * (total - bad), dtype=object),
        }

    ev = SloEvaluator(spec_file, lateness_minutes=0)
    got: list[Transition] = []
    for m in range(FIRES_AT - 3):
        got += ev.observe_events(batch(m))
    ev = SloEvaluator.from_bytes(ev.to_bytes(), spec_file)
    for m in range(FIRES_AT - 3, len(data)):
        got += ev.observe_events(batch(m))
    got += ev.advance(len(data) - 1)
    # lateness 0: a minute closes when the next minute's events arrive
    assert states(got) == [(FIRES_AT, "firing"), (CLEAN + HALF, "resolved")]
    assert got[0].burn_long == 2.0
