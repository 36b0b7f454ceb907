"""Which Kafka broker to talk to: an explicit address, the settings, or the running stack.

The embedded stack records its broker in ``$TOCSIN_HOME/run/stack.json``.
"""

from __future__ import annotations

import json

from tocsin.settings import Settings

__all__ = ["NoBrokerError", "resolve_bootstrap"]


class NoBrokerError(RuntimeError):
    """No broker address is configured and the embedded stack is not up."""


def resolve_bootstrap(explicit: str | None, settings: Settings) -> str:
    """The broker to produce to: explicit, then settings, then the running embedded stack.

    >>> resolve_bootstrap("k:9092", Settings(home="/nonexistent"))
    'k:9092'
    >>> resolve_bootstrap(None, Settings(home="/nonexistent"))
    Traceback (most recent call last):
    ...
    tocsin.runtime.bootstrap.NoBrokerError: no broker: run `tocsin up` or set TOCSIN_BOOTSTRAP_SERVERS
    """
    if explicit:
        return explicit
    if settings.bootstrap_servers:
        return settings.bootstrap_servers
    stack_file = settings.run_dir / "stack.json"
    if stack_file.is_file():
        try:
            data = json.loads(stack_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise NoBrokerError(
                f"{stack_file} is unreadable ({exc}): run `tocsin up` again "
                "or set TOCSIN_BOOTSTRAP_SERVERS"
            ) from None
        bootstrap = data.get("bootstrap_servers") if isinstance(data, dict) else None
        if bootstrap:
            return str(bootstrap)
    raise NoBrokerError("no broker: run `tocsin up` or set TOCSIN_BOOTSTRAP_SERVERS")
