"""`tocsin worker` (placeholder until the monitor worker lands)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    return None
