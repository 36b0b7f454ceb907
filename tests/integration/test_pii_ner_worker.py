"""The worker stores ``<PERSON>`` and ``<LOCATION>`` instead of names and addresses (real
embedded broker and chdb; NER through the detector's existing call in the PII stage)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.codec import encode_event
from streams.generator import TrafficGenerator
from tests.integration.test_ingest import (  # the broker fixture and the helpers
    broker,  # noqa: F401
    counts,
    make_settings,
    produce,
    running_monitor,
    wait_until,
)
from tocsin.runtime.broker import EmbeddedBroker

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(180)]


def test_names_and_addresses_are_redacted_before_they_are_stored(
    broker: EmbeddedBroker,  # noqa: F811
    tmp_path: Path,
) -> None:
    events = TrafficGenerator(seed=23).events(40)
    for e in events:
        e["prompt"] = "Hi, I'm Maria José Gómez Ruiz, I live at 14 Rue des Lilas, 69003 Lyon."
        e["response"] = "Thanks Maria, I have noted your address."
    produce(broker.bootstrap_servers, [encode_event(e) for e in events])
    settings = make_settings(tmp_path / "home", broker.bootstrap_servers)
    with running_monitor(settings, broker.bootstrap_servers) as run:
        wait_until(lambda: counts(run.scalar) == (40, 40), 60, "40 events")
        leaked = run.scalar(
            "SELECT count() FROM events WHERE position(prompt, 'Gómez') > 0 "
            "OR position(prompt, 'Lilas') > 0 OR position(response, 'Maria') > 0"
        )
        flagged = run.scalar(
            "SELECT count() FROM events FINAL WHERE has(pii_types, 'PERSON') "
            "AND has(pii_types, 'LOCATION')"
        )
        prompt = run.scalar("SELECT any(prompt) FROM events")
    assert int(leaked) == 0
    assert int(flagged) == 40
    assert prompt.startswith("Hi, I'm <PERSON>, I live at <LOCATION>")
