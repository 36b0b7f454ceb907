"""The synthetic traffic generator: determinism, realism, incidents, valid events."""

from __future__ import annotations

import re
import statistics
from typing import Any

import pytest

from streams.codec import EventDecoder, EventEncoder, LocalSchemaResolver
from streams.generator import (
    DEFAULT_SERVICES,
    CanaryIncident,
    TrafficGenerator,
    luhn_valid,
)

START = 1_767_225_600_000  # 2026-01-01T00:00:00Z
CARD = re.compile(r"\b(?:\d[ -]?){14,15}\d\b")


@pytest.fixture(scope="module")
def sample() -> list[dict[str, Any]]:
    return TrafficGenerator(seed=11, start_ms=START, rate=500.0, label=True).events(20_000)


def test_same_seed_same_events_other_seed_other_events() -> None:
    a = TrafficGenerator(seed=5, start_ms=START).events(200)
    b = TrafficGenerator(seed=5, start_ms=START).events(200)
    c = TrafficGenerator(seed=6, start_ms=START).events(200)
    assert a == b and a != c


def test_every_event_is_valid_and_round_trips(sample: list[dict[str, Any]]) -> None:
    enc = EventEncoder()
    values = enc.encode_many(sample[:3000])
    dec = EventDecoder(LocalSchemaResolver(), clock=lambda: (START + 86_400_000) / 1000)
    batch = dec.decode_batch(values)
    assert not batch.invalid
    assert batch.columns["event_id"] == [e["event_id"] for e in sample[:3000]]
    assert len(set(batch.columns["event_id"])) == 3000


def test_mix_of_services_tracks_and_statuses(sample: list[dict[str, Any]]) -> None:
    n = len(sample)
    services = {e["service"] for e in sample}
    assert services == set(DEFAULT_SERVICES)
    canary = sum(e["track"] == "canary" for e in sample) / n
    assert 0.08 < canary < 0.12
    ok = sum(e["status"] == "ok" for e in sample) / n
    errors = sum(e["status"] == "error" for e in sample) / n
    # a healthy service: 0.05% errors, 0.02% timeouts, 0.3% filtered
    assert 0.99 < ok < 0.999 and 0.0001 < errors < 0.0015
    assert {e["status"] for e in sample} == {"ok", "error", "timeout", "filtered"}
    for e in sample:
        if e["status"] == "error":
            assert e["error_type"] and e["response"] is None
        if e["track"] == "canary":
            assert e["deployment"] != DEFAULT_SERVICES[e["service"]].name + "-v41"


def test_latencies_are_lognormal_like_and_ttft_smaller(sample: list[dict[str, Any]]) -> None:
    chat = [e for e in sample if e["service"] == "chat-api" and e["status"] == "ok"]
    lat = [e["latency_ms"] for e in chat]
    median = statistics.median(lat)
    assert 700 < median < 1100  # profile median 900 ms
    assert statistics.mean(lat) > median  # right-skewed
    assert all(e["ttft_ms"] is not None and 0 <= e["ttft_ms"] <= e["latency_ms"] for e in chat)
    assert all(e["cost_usd"] > 0 and e["tokens_in"] > 0 for e in chat)


def test_text_is_about_a_kilobyte(sample: list[dict[str, Any]]) -> None:
    sizes = [len(e["prompt"]) + len(e["response"] or "") for e in sample if e["status"] == "ok"]
    assert 800 < statistics.mean(sizes) < 1300


def test_pii_fraction_and_valid_card_numbers(sample: list[dict[str, Any]]) -> None:
    labelled = [e for e in sample if e["attributes"]["synthetic.pii"]]
    assert 0.03 < len(labelled) / len(sample) < 0.07
    cards = [e for e in labelled if e["attributes"]["synthetic.pii"] == "CREDIT_CARD"]
    assert cards
    for e in cards:
        text = f"{e['prompt']} {e['response']}"
        found = CARD.findall(text)
        assert found and all(luhn_valid(f) for f in found)
    emails = [e for e in labelled if e["attributes"]["synthetic.pii"] == "EMAIL_ADDRESS"]
    assert all("@" in f"{e['prompt']} {e['response']}" for e in emails)
    clean = [e for e in sample if not e["attributes"]["synthetic.pii"]][:2000]
    assert not any("@" in e["prompt"] or CARD.search(e["prompt"]) for e in clean)


def test_toxic_fraction(sample: list[dict[str, Any]]) -> None:
    toxic = sum(e["attributes"]["synthetic.toxic"] == "1" for e in sample) / len(sample)
    assert 0.01 < toxic < 0.035


def test_event_time_advances_at_the_rate(sample: list[dict[str, Any]]) -> None:
    ts = [e["ts"] for e in sample]
    assert ts == sorted(ts) and ts[0] >= START
    span_s = (ts[-1] - ts[0]) / 1000
    assert 36 < span_s < 44  # 20k events at 500/s


def test_canary_incident_degrades_only_the_canary_after_its_start() -> None:
    incident = CanaryIncident(start_ms=START + 20_000, error_rate=0.5, latency_factor=4.0)
    events = TrafficGenerator(seed=2, start_ms=START, rate=1000.0, incident=incident).events(40_000)

    def stats(track: str, during: bool) -> tuple[float, float]:
        sel = [
            e
            for e in events
            if e["track"] == track
            and (e["ts"] >= incident.start_ms) == during
            and e["service"] == "chat-api"
        ]
        err = sum(e["status"] == "error" for e in sel) / len(sel)
        lat = statistics.median(e["latency_ms"] for e in sel if e["status"] == "ok")
        return err, lat

    before_err, before_lat = stats("canary", during=False)
    during_err, during_lat = stats("canary", during=True)
    stable_err, stable_lat = stats("stable", during=True)
    assert before_err < 0.05 and during_err > 0.4 and stable_err < 0.05
    assert during_lat > 2.5 * before_lat and stable_lat < 1.3 * before_lat
    norms = [e["features"]["embedding_norm"] for e in events if e["track"] == "canary"]
    assert max(norms) > 1.3  # drifted


def test_encoded_batches() -> None:
    values = TrafficGenerator(seed=1).encoded(50)
    assert len(values) == 50 and all(v[:5] == b"\x00\x00\x00\x03\xe9" for v in values)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"services": ["nope"]}, "unknown service 'nope'"),
        ({"rate": 0}, "rate must be > 0"),
        ({"pii_fraction": 1.5}, "pii_fraction must be between 0 and 1"),
    ],
)
def test_bad_options(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrafficGenerator(**kwargs)


def test_service_subset() -> None:
    events = TrafficGenerator(seed=0, services=["summarizer"]).events(100)
    assert {e["service"] for e in events} == {"summarizer"}


def test_luhn() -> None:
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert not luhn_valid("")
