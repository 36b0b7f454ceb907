"""Shared fixtures: where the vectors are, and a migrated in-memory ClickHouse store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

REPO = Path(__file__).resolve().parents[1]
VECTORS = (REPO.parent / "shared" / "vectors").resolve()


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    if not VECTORS.is_dir():
        pytest.fail(f"test vectors not found at {VECTORS} (expected ../shared/vectors)")
    return VECTORS


@pytest.fixture
def migrated_store() -> Iterator[Client]:
    """A fresh database with every migration applied, in chdb's in-memory engine."""
    from sinks.clickhouse.client import connect
    from sinks.clickhouse.migrations import migrate

    name = f"t_{uuid.uuid4().hex[:12]}"
    client = connect("chdb://memory", database=name)
    migrate(client, name)
    try:
        yield client
    finally:
        client.command(f"DROP DATABASE IF EXISTS {name}")
        client.close()
