"""The minute rollup (events_1m, migration 0005) and the analyst queries of docs/sql/.

A store in chdb gets 40 minutes of generated traffic, ending ten minutes ago, the way the
worker writes it (encode -> decode -> PII redaction with the real detector -> columns ->
insert), with chat-api's canary going bad after 15 minutes (errors, slow, toxic and
PII-leaking answers). Toxicity comes from the generator's own toxic phrases (the model is
not under test here) and is sampled on the stable track (every other answer scored, weight
2) as the worker does under load, never on the canary. A few alerts and detections rows
(the 0004 columns) are inserted as the worker would. Every docs/sql/*.sql file runs against
that store and its answer is checked against what was generated.

Duplicates: a retried insert with the same insert_deduplication_token does not inflate
events_1m; an event inserted again in a new batch (same event_id, no token) does: that is
the documented limitation, shown by docs/sql/rollup_check.sql.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from sinks.clickhouse.client import connect
from sinks.clickhouse.migrations import Migration, default_migrations_dir, migrate, render_values
from sinks.clickhouse.writer import EventWriter
from streams.generator import _TOXIC, CanaryIncident, TrafficGenerator
from tests.integration.conftest import run_cli, tocsin_env

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SQL_DIR = REPO / "docs" / "sql"
SQL_FILES = sorted(p.name for p in SQL_DIR.glob("*.sql"))

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
START = NOW - timedelta(minutes=50)
INCIDENT = START + timedelta(minutes=15)
RATE = 4.0  # events per second of event time
N_EVENTS = int(40 * 60 * RATE)  # 40 minutes: ends about ten minutes before NOW
CANARY = "chat-api-v42"


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def sql_file(name: str) -> str:
    return (SQL_DIR / name).read_text(encoding="utf-8")


def rows_of(client: Client, query: str) -> list[dict[str, Any]]:
    result = client.query(query)
    return [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]


def generated_events(
    n: int = N_EVENTS, seed: int = 11, incident_at: datetime = INCIDENT
) -> list[dict[str, Any]]:
    incident = CanaryIncident(
        ms(incident_at), services=("chat-api",), error_rate=0.3, pii_leak_fraction=0.2
    )
    gen = TrafficGenerator(
        seed=seed, rate=RATE, start_ms=ms(START), incident=incident, error_rate=0.005
    )
    return gen.events(n)


def toxicity_of(event: dict[str, Any], i: int) -> tuple[float | None, float | None]:
    """(toxicity, sample_weight) as the worker would store them: stable answers sampled
    one in two (weight 2), canary answers always scored, no answer no score."""
    response = event["response"]
    if response is None:
        return None, None
    if event["track"] == "stable" and i % 2:
        return None, None
    score = 0.93 if any(phrase in response for phrase in _TOXIC) else 0.04
    return score, (2.0 if event["track"] == "stable" else 1.0)


def store_columns(events: list[dict[str, Any]], first_offset: int = 0) -> dict[str, list[Any]]:
    """The ``events`` columns the worker writes for these events (PII redacted)."""
    from detectors.pii import PiiDetector
    from streams.codec import EventDecoder, EventEncoder
    from streams.monitor import PiiRedactionStage, events_table_columns
    from streams.registry import make_resolver

    encoder, decoder = EventEncoder(), EventDecoder(make_resolver(None))
    batch = decoder.decode_batch([encoder.encode(e, ms(NOW) + 10**10) for e in events])
    assert len(batch.good_index) == len(events), batch.invalid[:3]
    batch = PiiRedactionStage(PiiDetector()).process(batch)
    scores = [toxicity_of(e, i) for i, e in enumerate(events)]
    batch.columns["toxicity"] = [s for s, _ in scores]
    batch.columns["sample_weight"] = [w for _, w in scores]
    m = len(events)
    return events_table_columns(batch.columns, [0] * m, list(range(first_offset, first_offset + m)))


# ------------------------------------------------------------------ alerts and detections

ALERT_COLUMNS = [
    "alert_id", "incident_id", "ts", "kind", "rule", "severity", "state", "service",
    "deployment", "track", "model", "window", "value", "threshold", "summary", "labels",
    "annotations", "worker_id",
]  # fmt: skip
DETECTION_COLUMNS = [
    "alert_id", "ts", "detector", "detector_version", "rule", "params", "key", "service",
    "deployment", "track", "verdict", "statistic", "threshold", "window", "window_start",
    "window_end", "evidence",
]  # fmt: skip

SLO_FIRED = INCIDENT + timedelta(minutes=5)
SLO_WINDOW = (SLO_FIRED - timedelta(hours=1), SLO_FIRED)
CANARY_AT = INCIDENT + timedelta(minutes=10)
CANARY_WINDOW = (CANARY_AT - timedelta(minutes=5), CANARY_AT)  # under the LIMIT of 1000
DRIFT_AT = [INCIDENT + timedelta(minutes=3), INCIDENT + timedelta(minutes=3, seconds=20)]


def alert_rows() -> tuple[list[list[Any]], list[list[Any]]]:
    """What the worker would have written for the canary incident, plus an old incident."""
    alerts: list[list[Any]] = []
    detections: list[list[Any]] = []

    def add(
        alert_id: str,
        incident: str,
        ts: datetime,
        kind: str,
        rule: str,
        severity: str,
        state: str,
        key: tuple[str, str, str],
        window: str,
        span: tuple[datetime, datetime],
        detector: str,
        verdict: str,
        labels: dict[str, str] | None = None,
    ) -> None:
        service, deployment, track = key
        alerts.append(
            [alert_id, incident, ts, kind, rule, severity, state, service, deployment, track,
             "llama-3.1-70b-instruct", window, 14.4, 14.4, f"{rule} {state}", labels or {},
             {"sql": "SELECT ..."}, "worker-0"]
        )  # fmt: skip
        detections.append(
            [alert_id, ts, detector, "1", rule, "{}", "|".join(key), service, deployment,
             track, verdict, 20.0, 14.4, window, span[0], span[1], "{}"]
        )  # fmt: skip

    canary_key = ("chat-api", CANARY, "canary")
    add("slo-page-1", "inc-1", SLO_FIRED, "slo", "chat-api-availability", "page", "firing",
        canary_key, "1h/5m", SLO_WINDOW, "burn_rate", "firing")  # fmt: skip
    add("slo-page-1-resolved", "inc-1", SLO_FIRED + timedelta(minutes=20), "slo",
        "chat-api-availability", "page", "resolved", canary_key, "1h/5m",
        (SLO_FIRED - timedelta(minutes=40), SLO_FIRED + timedelta(minutes=20)), "burn_rate",
        "resolved")  # fmt: skip
    add("canary-1", "inc-2", CANARY_AT, "canary", "canary-verdict", "page", "firing",
        ("chat-api", "", ""), "20m", CANARY_WINDOW, "canary", "fail",
        {"verdict": "fail"})  # fmt: skip
    for i, at in enumerate(DRIFT_AT):
        add(f"drift-{i}", f"inc-d{i}", at, "drift", "drift-embedding_norm", "ticket", "firing",
            canary_key, "", (at - timedelta(minutes=5), at), "cusum", "drift")  # fmt: skip
    old = NOW - timedelta(days=40)  # outside every 30-day and 7-day range
    add("slo-page-old", "inc-old", old, "slo", "chat-api-availability", "page", "firing",
        canary_key, "1h/5m", (old - timedelta(hours=1), old), "burn_rate", "firing")  # fmt: skip
    return alerts, detections


# ------------------------------------------------------------------ the populated store


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return generated_events()


@pytest.fixture(scope="module")
def store(events: list[dict[str, Any]]) -> Iterator[Client]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    client = connect("chdb://memory", database=name)
    migrate(client, name)
    try:
        writer = EventWriter(client)
        for lo in range(0, len(events), 3000):
            writer.insert_events(store_columns(events[lo : lo + 3000], first_offset=lo))
        alerts, detections = alert_rows()
        client.insert("alerts", alerts, column_names=ALERT_COLUMNS)
        client.insert("detections", detections, column_names=DETECTION_COLUMNS)
        client.insert("alerts", alerts[:1], column_names=ALERT_COLUMNS)  # a replayed alert
        yield client
    finally:
        client.command(f"DROP DATABASE IF EXISTS {name}")
        client.close()


def test_every_docs_sql_file_has_a_header_and_is_listed_in_the_readme() -> None:
    readme = (SQL_DIR / "README.md").read_text(encoding="utf-8")
    assert len(SQL_FILES) >= 6
    for name in SQL_FILES:
        text = sql_file(name)
        # a block comment: `tocsin sql "$(cat f)"` would take a leading `--` for an option
        assert text.startswith("/*\n"), name
        assert f'tocsin sql "$(cat docs/sql/{name})"' in text, name
        assert f"({name})" in readme, f"{name} is not listed in docs/sql/README.md"
        assert not text.rstrip().endswith(";"), f"{name}: the query endpoint appends FORMAT"


@pytest.mark.parametrize("name", SQL_FILES)
def test_every_docs_sql_file_runs_on_the_populated_store(store: Client, name: str) -> None:
    rows = rows_of(store, sql_file(name))
    if name == "rollup_check.sql":
        assert rows == []  # nothing was inserted twice
    else:
        assert rows, f"{name} returned no rows"


def test_events_1m_adds_up_to_the_events_per_deployment(
    store: Client, events: list[dict[str, Any]]
) -> None:
    result = store.query("SELECT deployment, sum(events) FROM events_1m GROUP BY deployment")
    got = {str(d): int(n) for d, n in result.result_rows}
    assert got == dict(Counter(e["deployment"] for e in events))
    totals = store.query(
        "SELECT sum(errors), sum(timeouts), sum(tokens_in), sum(tokens_out), sum(cost_usd),"
        " sum(scored), sum(response_pii_events) FROM events_1m"
    ).result_rows[0]
    assert totals[0] == sum(e["status"] == "error" for e in events)
    assert totals[1] == sum(e["status"] == "timeout" for e in events)
    assert totals[2] == sum(e["tokens_in"] for e in events)
    assert totals[3] == sum(e["tokens_out"] for e in events)
    assert totals[4] == pytest.approx(sum(e["cost_usd"] for e in events), rel=1e-9)
    assert totals[5] == sum(toxicity_of(e, i)[0] is not None for i, e in enumerate(events))
    stored = store.query("SELECT countIf(response_pii_count > 0) FROM events_dedup")
    assert totals[6] == stored.result_rows[0][0] > 0
    # the same from events_dedup, minute by minute: docs/sql/rollup_check.sql is empty
    assert rows_of(store, sql_file("rollup_check.sql")) == []


def test_summary_view_merges_quantiles_and_computes_ratios(store: Client) -> None:
    rows = rows_of(
        store,
        "SELECT * FROM events_1m_summary WHERE deployment = 'chat-api-v42' ORDER BY minute",
    )
    assert rows and sum(r["events"] for r in rows) > 0
    for r in rows:
        assert r["latency_p50"] <= r["latency_p90"] <= r["latency_p95"] <= r["latency_p99"]
        assert r["error_ratio"] == pytest.approx(r["errors"] / r["events"])
    late = [r for r in rows if r["minute"] >= INCIDENT.replace(tzinfo=None)]
    assert sum(r["errors"] for r in late) / sum(r["events"] for r in late) > 0.2


def test_canary_vs_stable_shows_the_bad_canary_side_by_side(
    store: Client, events: list[dict[str, Any]]
) -> None:
    rows = {r["service"]: r for r in rows_of(store, sql_file("canary_vs_stable.sql"))}
    assert set(rows) == {"chat-api", "search-assist", "summarizer"}
    chat = rows["chat-api"]
    canary = [e for e in events if e["service"] == "chat-api" and e["track"] == "canary"]
    stable = [e for e in events if e["service"] == "chat-api" and e["track"] == "stable"]
    assert (chat["canary_events"], chat["stable_events"]) == (len(canary), len(stable))
    errors = sum(e["status"] == "error" for e in canary)
    assert chat["canary_error_ratio"] == pytest.approx(errors / len(canary), abs=1e-4)
    assert chat["canary_error_ratio"] > 0.15 > 0.02 > chat["stable_error_ratio"]
    assert chat["canary_p95_ms"] > 1.5 * chat["stable_p95_ms"]
    assert chat["canary_toxicity_ratio"] > 0.1 > chat["stable_toxicity_ratio"]
    assert chat["canary_pii_leak_ratio"] > 0.05 and chat["stable_pii_leak_ratio"] == 0
    healthy = rows["search-assist"]
    assert healthy["canary_error_ratio"] < 0.05 and healthy["stable_error_ratio"] < 0.05


def test_toxicity_ratio_is_weighted_for_sampled_stable_answers(
    store: Client, events: list[dict[str, Any]]
) -> None:
    stable: list[tuple[float, float]] = []  # (toxicity, weight) of scored stable answers
    for i, e in enumerate(events):
        score, weight = toxicity_of(e, i)
        if e["track"] == "stable" and score is not None and weight is not None:
            stable.append((score, weight))
    toxic_w = sum(w for s, w in stable if s > 0.5)
    scored_w = sum(w for _, w in stable)
    got = store.query(
        "SELECT sum(toxic), sum(scored), sum(toxic_weighted), sum(scored_weighted)"
        " FROM events_1m WHERE track = 'stable'"
    ).result_rows[0]
    assert got[0] == sum(s > 0.5 for s, _ in stable) and got[1] == len(stable)
    assert (got[2], got[3]) == (pytest.approx(toxic_w), pytest.approx(scored_w))
    # the weights stand for the unscored half: scored_weighted estimates the answers
    answers = sum(e["track"] == "stable" and e["response"] is not None for e in events)
    assert got[3] == pytest.approx(answers, rel=0.05)


def test_error_budget_per_deployment(store: Client, events: list[dict[str, Any]]) -> None:
    rows = {r["deployment"]: r for r in rows_of(store, sql_file("error_budget.sql"))}
    assert set(rows) == {e["deployment"] for e in events}
    canary = rows[CANARY]
    n = sum(e["deployment"] == CANARY for e in events)
    bad = sum(e["deployment"] == CANARY and e["status"] in ("error", "timeout") for e in events)
    assert (canary["events"], canary["bad"]) == (n, bad)
    assert canary["availability"] == pytest.approx(1 - bad / n, abs=1e-6)
    assert canary["budget_remaining"] == pytest.approx(1 - bad / (0.001 * n), abs=1e-3)
    assert canary["budget_remaining"] < 0  # overspent
    assert canary["page_incidents"] == 1  # inc-1; the 40-day-old incident is out of range
    assert rows["chat-api-v41"]["page_incidents"] == 0
    # ordered by what is left: the overspent canary comes first
    assert next(iter(rows)) == CANARY


def evidence_of(
    events: list[dict[str, Any]], span: tuple[datetime, datetime], deployment: str
) -> list[dict[str, Any]]:
    lo, hi = ms(span[0]), ms(span[1])
    return [
        e
        for e in events
        if e["service"] == "chat-api"
        and lo <= e["ts"] < hi
        and (not deployment or e["deployment"] == deployment)
    ]


def test_incidents_list_firing_alerts_with_their_evidence(
    store: Client, events: list[dict[str, Any]]
) -> None:
    rows = {r["alert_id"]: r for r in rows_of(store, sql_file("incidents.sql"))}
    # firing only, last 7 days, each alert once (the replayed row collapsed)
    assert set(rows) == {"slo-page-1", "canary-1", "drift-0", "drift-1"}
    slo = rows["slo-page-1"]
    expected = evidence_of(events, SLO_WINDOW, CANARY)
    assert slo["evidence_events"] == len(expected) > 0
    assert slo["bad_events"] == sum(e["status"] in ("error", "timeout") for e in expected)
    assert slo["some_event_ids"] and set(slo["some_event_ids"]) <= {e["event_id"] for e in expected}
    canary = rows["canary-1"]  # a per-service verdict: both tracks are its evidence
    assert canary["evidence_events"] == len(evidence_of(events, CANARY_WINDOW, ""))


def test_alert_events_follows_an_alert_to_its_events(
    store: Client, events: list[dict[str, Any]]
) -> None:
    # left as shipped, the query follows the latest page alert that fired: the canary verdict
    rows = rows_of(store, sql_file("alert_events.sql"))
    expected = evidence_of(events, CANARY_WINDOW, "")
    assert {r["alert_id"] for r in rows} == {"canary-1"}
    assert sorted(r["event_id"] for r in rows) == sorted(e["event_id"] for e in expected)
    statuses = [r["status"] in ("error", "timeout") for r in rows]
    assert statuses == sorted(statuses, reverse=True)  # bad events first
    # with an alert id pasted in, as the header says
    text = sql_file("alert_events.sql").replace("'' AS wanted", "'slo-page-1' AS wanted")
    rows = rows_of(store, text)
    assert {r["alert_id"] for r in rows} == {"slo-page-1"}
    assert len(rows) == len(evidence_of(events, SLO_WINDOW, CANARY))
    assert {r["deployment"] for r in rows} == {CANARY}


def test_top_pii_types_by_service_come_from_the_detector(store: Client) -> None:
    rows = rows_of(store, sql_file("top_pii_types.sql"))
    by_service: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_service.setdefault(r["service"], []).append(r)
    assert set(by_service) == {"chat-api", "search-assist", "summarizer"}
    expected = store.query(
        "SELECT service, t, count() FROM events_dedup ARRAY JOIN pii_types AS t GROUP BY service, t"
    ).result_rows
    assert {(r["service"], r["pii_type"]): r["events"] for r in rows} == {
        (s, t): c for s, t, c in expected
    }
    for service_rows in by_service.values():
        counts = [r["events"] for r in service_rows]
        assert counts == sorted(counts, reverse=True)
    assert {r["pii_type"] for r in rows} >= {"EMAIL_ADDRESS", "PHONE_NUMBER"}
    # only chat-api's canary leaked PII in its answers
    leaks = {r["service"] for r in rows if r["events_with_pii_in_answer"] > 0}
    assert leaks == {"chat-api"}


def test_drift_timeline_shows_drift_detections_by_minute(store: Client) -> None:
    rows = rows_of(store, sql_file("drift_timeline.sql"))
    assert [r["detector"] for r in rows] == ["cusum"]  # only drift: SLO and canary rows left out
    (row,) = rows
    assert row["minute"] == DRIFT_AT[0].replace(tzinfo=None)
    assert row["detections"] == 2 and row["key"] == f"chat-api|{CANARY}|canary"


def test_cost_per_model_version(store: Client, events: list[dict[str, Any]]) -> None:
    rows = rows_of(store, sql_file("cost_per_model_version.sql"))
    got = {(r["service"], r["model_version"]): r for r in rows}
    expected: dict[tuple[str, str], list[float]] = {}
    for e in events:
        acc = expected.setdefault((e["service"], e["model_version"]), [0, 0.0])
        acc[0] += 1
        acc[1] += e["cost_usd"]
    assert set(got) == set(expected)
    for key, (n, cost) in expected.items():
        assert got[key]["events"] == n
        assert got[key]["cost_usd"] == pytest.approx(cost, abs=1e-4)
        assert got[key]["usd_per_1k_requests"] == pytest.approx(1000 * cost / n, abs=1e-4)


# ------------------------------------------------------------------ duplicates


def _insert(client: Client, columns: dict[str, list[Any]], token: str | None) -> None:
    settings: dict[str, Any] = {"deduplicate_blocks_in_dependent_materialized_views": 1}
    if token:
        settings["insert_deduplication_token"] = token
    client.insert(
        "events",
        [list(v) for v in columns.values()],
        column_names=list(columns),
        column_oriented=True,
        settings=settings,
    )


def _counts(client: Client) -> tuple[int, int, int]:
    row = client.query(
        "SELECT (SELECT count() FROM events), (SELECT count() FROM events_dedup),"
        " (SELECT sum(events) FROM events_1m)"
    ).result_rows[0]
    return int(row[0]), int(row[1]), int(row[2])


@pytest.fixture
def small_batches() -> list[dict[str, list[Any]]]:
    events = generated_events(600, seed=5)
    return [store_columns(events[:300]), store_columns(events[300:], first_offset=300)]


def test_a_retried_insert_with_the_same_token_does_not_inflate_events_1m(
    migrated_store: Client, small_batches: list[dict[str, list[Any]]]
) -> None:
    first, second = small_batches
    _insert(migrated_store, first, "worker-0:events:0:0-299")
    _insert(migrated_store, first, "worker-0:events:0:0-299")  # the store timed out: retry
    assert _counts(migrated_store) == (300, 300, 300)
    _insert(migrated_store, second, "worker-0:events:0:300-599")
    _insert(migrated_store, second, "worker-0:events:0:300-599")
    assert _counts(migrated_store) == (600, 600, 600)
    assert rows_of(migrated_store, sql_file("rollup_check.sql")) == []


def test_without_its_own_dedup_window_events_1m_would_count_the_retry(
    migrated_store: Client, small_batches: list[dict[str, list[Any]]]
) -> None:
    """Why 0005 sets non_replicated_deduplication_window on events_1m (checked on chdb)."""
    migrated_store.command(
        "ALTER TABLE events_1m MODIFY SETTING non_replicated_deduplication_window = 0"
    )
    first = small_batches[0]
    _insert(migrated_store, first, "t-1")
    _insert(migrated_store, first, "t-1")
    assert _counts(migrated_store) == (300, 300, 600)  # events dropped it, the view did not


def test_an_event_inserted_again_in_a_new_batch_is_counted_twice_by_events_1m_limitation(
    migrated_store: Client, small_batches: list[dict[str, list[Any]]]
) -> None:
    """The documented limitation: a second insert of the same events without the token
    (e.g. a message the producer wrote twice to Kafka, stored at another offset) collapses
    in events_dedup but counts again in events_1m; rollup_check.sql shows those minutes."""
    first = small_batches[0]
    _insert(migrated_store, first, "t-1")
    again = {k: v[:50] for k, v in first.items()}
    again["kafka_offset"] = list(range(1000, 1050))  # another position on the topic
    _insert(migrated_store, again, None)
    assert _counts(migrated_store) == (350, 300, 350)
    check = rows_of(migrated_store, sql_file("rollup_check.sql"))
    assert sum(r["difference"] for r in check) == 50
    assert all(r["rollup_events"] > r["stored_events"] for r in check)
    # the repair that the header of 0005 describes: rebuild those minutes from events FINAL
    lo = min(r["minute"] for r in check)
    hi = max(r["minute"] for r in check) + timedelta(minutes=1)
    bounds = {"lo": lo, "hi": hi}
    migrated_store.command(
        "ALTER TABLE events_1m DELETE WHERE minute >= {lo:DateTime} AND minute < {hi:DateTime}"
        " SETTINGS mutations_sync = 2",
        parameters=bounds,
    )
    (backfill,) = [st for st in _migration_0005(migrated_store) if st.startswith("INSERT")]
    rebuild, replaced = re.subn(
        r"WHERE \(SELECT count\(\) FROM \S+\.events_1m\) = 0",
        "WHERE ts >= {lo:DateTime} AND ts < {hi:DateTime}",
        backfill,
    )
    assert replaced == 1
    migrated_store.command(rebuild, parameters=bounds)
    assert _counts(migrated_store) == (350, 300, 300)
    assert rows_of(migrated_store, sql_file("rollup_check.sql")) == []


def _migration_0005(client: Client) -> list[str]:
    path = default_migrations_dir() / "0005_events_1m.sql"
    migration = Migration.from_text(path.name, path.read_text(encoding="utf-8"))
    return migration.statements(render_values(str(client.database), None))


def test_backfill_fills_events_1m_once_from_events_already_stored(
    tmp_path: Path, small_batches: list[dict[str, list[Any]]]
) -> None:
    older = tmp_path / "migrations"
    older.mkdir()
    for path in sorted(default_migrations_dir().glob("000[1-4]_*.sql")):
        shutil.copy(path, older / path.name)
    name = f"t_{uuid.uuid4().hex[:12]}"
    client = connect("chdb://memory", database=name)
    try:
        migrate(client, name, directory=older)  # a store from before 0005
        first, second = small_batches
        _insert(client, first, None)
        _insert(client, {k: v[:40] for k, v in first.items()}, None)  # replayed: 40 twice
        assert client.query("SELECT count() FROM events").result_rows[0][0] == 340
        applied = migrate(client, name).applied
        assert applied[0].name == "0005_events_1m"  # later ones may follow
        assert _counts(client)[1:] == (300, 300)  # backfilled from events FINAL
        _insert(client, second, None)  # new inserts go through the view
        assert _counts(client)[1:] == (600, 600)
        # an interrupted migration run again: the guarded backfill adds nothing
        for statement in _migration_0005(client):
            client.command(statement)
        assert _counts(client)[1:] == (600, 600)
        assert rows_of(client, sql_file("rollup_check.sql")) == []
    finally:
        client.command(f"DROP DATABASE IF EXISTS {name}")
        client.close()


# ------------------------------------------------------------------ through `tocsin sql`

FILL = textwrap.dedent(
    """
    import sys
    from tests.integration.test_analyst_sql import START, generated_events, store_columns
    from sinks.clickhouse.writer import EventWriter
    from tocsin.runtime.store import open_store, run_migrations
    from tocsin.settings import load_settings

    settings = load_settings()
    client = open_store(settings)
    run_migrations(settings, client)
    events = generated_events(int(sys.argv[1]), incident_at=START)  # a bad canary throughout
    EventWriter(client).insert_events(store_columns(events))
    client.close()
    """
)


@pytest.mark.slow
def test_docs_sql_files_run_as_written_through_tocsin_sql(tmp_path: Path) -> None:
    home = tmp_path / "home"
    filled = subprocess.run(
        [sys.executable, "-c", FILL, "2000"],
        env=tocsin_env(home),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(REPO),
    )
    assert filled.returncode == 0, filled.stderr
    out = run_cli(home, "sql", sql_file("canary_vs_stable.sql"), "-f", "json").stdout
    rows = {r["service"]: r for r in json.loads(out)}
    assert set(rows) == {"chat-api", "search-assist", "summarizer"}
    assert rows["chat-api"]["canary_error_ratio"] > rows["chat-api"]["stable_error_ratio"]
    out = run_cli(home, "sql", sql_file("cost_per_model_version.sql"), "-f", "csv").stdout
    assert re.search(r"^chat-api,llama-3.1-70b-instruct,2025-09-15,\d+,", out, re.MULTILINE)
