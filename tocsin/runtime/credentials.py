"""Generated credentials of the embedded store: a writer and a read-only analyst.

``tocsin up`` creates them once per ``$TOCSIN_HOME`` (``secrets/`` is mode 0700, each file
0600 and owned by the user who ran it) and keeps them across restarts::

    $TOCSIN_HOME/secrets/writer.json    {"user": "tocsin_writer", "password": "..."}
    $TOCSIN_HOME/secrets/analyst.json   {"user": "tocsin_analyst", "password": "..."}

The writer is what workers and migrations use; the analyst is ClickHouse-``readonly``
(``tocsin sql``, Grafana, notebooks). Nothing here is ever logged.

Example
-------
>>> import tempfile
>>> home = Path(tempfile.mkdtemp())
>>> creds = ensure_credentials(home)
>>> sorted(creds), creds["analyst"].user
(['analyst', 'writer'], 'tocsin_analyst')
>>> oct((home / "secrets" / "writer.json").stat().st_mode & 0o777)
'0o600'
>>> ensure_credentials(home)["writer"] == creds["writer"]
True
>>> with_credentials("http://127.0.0.1:8123/", creds["analyst"]).startswith("http://tocsin_analyst:")
True
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit

Role = Literal["writer", "analyst"]
ROLES: tuple[Role, ...] = ("writer", "analyst")
USERS: dict[Role, str] = {"writer": "tocsin_writer", "analyst": "tocsin_analyst"}


class CredentialsError(RuntimeError):
    """A credentials file is missing, unreadable or too open; the message says what to do."""


@dataclass(frozen=True)
class StoreCredentials:
    """One user of the embedded store."""

    role: Role
    user: str
    password: str

    def __repr__(self) -> str:  # never print a password by accident
        return f"StoreCredentials(role={self.role!r}, user={self.user!r}, password='***')"


def secrets_dir(home: Path) -> Path:
    """``$TOCSIN_HOME/secrets``."""
    return home / "secrets"


def credentials_path(home: Path, role: Role) -> Path:
    """Where one role's credentials live."""
    return secrets_dir(home) / f"{role}.json"


def _write_private(path: Path, data: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)


def load_credentials(home: Path, role: Role) -> StoreCredentials:
    """Read one role's credentials.

    Raises
    ------
    CredentialsError
        The file is missing (run ``tocsin up``), unreadable, or readable by others.
    """
    path = credentials_path(home, role)
    try:
        mode = path.stat().st_mode & 0o777
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise CredentialsError(
            f"{path} is missing: `tocsin up` creates the store's credentials"
        ) from exc
    except (OSError, ValueError) as exc:
        raise CredentialsError(
            f"{path} is unreadable ({exc}); delete it and run `tocsin up`"
        ) from exc
    if mode & 0o077:
        raise CredentialsError(f"{path} is readable by others (mode {oct(mode)}): chmod 600 it")
    if not isinstance(data, dict) or not data.get("user") or not data.get("password"):
        raise CredentialsError(f"{path} lacks user/password; delete it and run `tocsin up`")
    return StoreCredentials(role, str(data["user"]), str(data["password"]))


def ensure_credentials(home: Path) -> dict[Role, StoreCredentials]:
    """Load the writer and analyst credentials, generating those that are missing."""
    out: dict[Role, StoreCredentials] = {}
    for role in ROLES:
        path = credentials_path(home, role)
        if not path.exists():
            _write_private(path, {"user": USERS[role], "password": secrets.token_urlsafe(24)})
        out[role] = load_credentials(home, role)
    return out


def with_credentials(url: str, creds: StoreCredentials) -> str:
    """``url`` with ``creds`` as its user info (for clickhouse-connect and the settings).

    >>> with_credentials("http://127.0.0.1:9/", StoreCredentials("writer", "w", "p/q"))
    'http://w:p%2Fq@127.0.0.1:9/'
    """
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(creds.user, safe='')}:{quote(creds.password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return parts._replace(netloc=netloc).geturl()
