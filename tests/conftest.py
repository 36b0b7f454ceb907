"""Shared fixtures: where the vectors are, and a migrated in-memory ClickHouse store."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

REPO = Path(__file__).resolve().parents[1]


def find_vectors() -> Path:
    """The labelled vectors: $TOCSIN_VECTORS_DIR, else the nearest ``shared/vectors`` above
    the checkout (``../shared/vectors`` in the team's layout, wherever CI clones it)."""
    explicit = os.environ.get("TOCSIN_VECTORS_DIR")
    if explicit:
        return Path(explicit).resolve()
    candidates = [parent / "shared" / "vectors" for parent in REPO.parents]
    candidates.append(Path("/work/shared/vectors"))  # the team machines' layout, for CI clones
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    return (REPO.parent / "shared" / "vectors").resolve()


VECTORS = find_vectors()


#: Tables the golden tests measure (per-type P/R, AUC, false alarms), shown after the run.
_REPORTS: list[tuple[str, str]] = []


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record a measured table: printed in the terminal summary of every run (`make test`)."""

    def add(text: str) -> None:
        _REPORTS.append((request.node.nodeid, text.strip("\n")))

    return add


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _REPORTS:
        return
    terminalreporter.section("measured by the golden tests")
    for nodeid, text in _REPORTS:
        terminalreporter.write_line(nodeid)
        terminalreporter.write_line(text)


def pytest_configure(config: pytest.Config) -> None:
    # Test modules that parametrize from the vectors read the location from here.
    os.environ["TOCSIN_VECTORS_DIR"] = str(VECTORS)


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    if not VECTORS.is_dir():
        pytest.fail(
            f"test vectors not found at {VECTORS}: expected ../shared/vectors next to the "
            "checkout, or set TOCSIN_VECTORS_DIR"
        )
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


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own TOCSIN_HOME, so nothing touches ./.tocsin or a user's stack."""
    monkeypatch.setenv("TOCSIN_HOME", str(tmp_path / "tocsin-home"))
