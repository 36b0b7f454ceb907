"""Shared fixtures: where the vectors are, and a per-test TOCSIN_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VECTORS = (REPO.parent / "shared" / "vectors").resolve()


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    if not VECTORS.is_dir():
        pytest.fail(f"test vectors not found at {VECTORS} (expected ../shared/vectors)")
    return VECTORS
