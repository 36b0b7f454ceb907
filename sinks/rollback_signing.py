"""Signed rollback commands: the canonical encoding, HMAC-SHA256 signing and verification.

Canonical encoding (version 1) of a ``rollback_command`` record: the UTF-8 bytes of

    ``tocsin-rollback-command-v1\\n`` + JSON of every field except ``signature``

where the JSON has its keys sorted, no whitespace (``separators=(",", ":")``), non-ASCII
characters kept as UTF-8 (``ensure_ascii=False``), ``ts`` and ``expires_at`` as integer epoch
milliseconds, absent optional fields as ``null``, and ``labels`` as an object. ``key_id`` is
inside the signed bytes, so a signature cannot be moved to another key. The signature is
the raw 32-byte HMAC-SHA256 of those bytes under the key named by ``key_id``.

An agent accepts a command only when its ``key_id`` is one it knows (several keys may be
accepted at once, for rotation), the signature matches in constant time, and
``expires_at`` has not passed.

Example
-------
>>> cmd = {"command_id": "c1", "ts": 1000, "expires_at": 2000, "incident_id": "i1",
...        "action": "rollback", "service": "chat-api", "deployment": "chat-api-v42",
...        "target_deployment": "chat-api-v41", "reason": "page", "issued_by": "worker-0",
...        "labels": {}}
>>> signed = sign_command(cmd, b"k" * 32, "k1")
>>> signed["key_id"], len(signed["signature"])
('k1', 32)
>>> verify_command(signed, {"k1": b"k" * 32}, now_ms=1500)
>>> verify_command({**signed, "deployment": "chat-api-v1"}, {"k1": b"k" * 32}, now_ms=1500)
Traceback (most recent call last):
...
sinks.rollback_signing.CommandRejected: bad signature
>>> verify_command(signed, {"k1": b"k" * 32}, now_ms=2001)
Traceback (most recent call last):
...
sinks.rollback_signing.CommandRejected: expired at 2000 (now 2001)
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

DOMAIN = b"tocsin-rollback-command-v1\n"
#: The fields a command carries (schemas/avro/rollback_command.v1.avsc), signature excepted.
SIGNED_FIELDS = (
    "command_id",
    "ts",
    "expires_at",
    "incident_id",
    "action",
    "service",
    "deployment",
    "target_deployment",
    "reason",
    "issued_by",
    "key_id",
    "labels",
)
#: Keys shorter than this are refused: an HMAC key should carry at least 128 bits.
MIN_KEY_BYTES = 16


class CommandRejected(ValueError):
    """A command that must not be executed; ``reason`` is safe to log and to ack."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def canonical_bytes(command: Mapping[str, Any]) -> bytes:
    """The bytes that are signed (see the module docstring).

    >>> canonical_bytes({"command_id": "c", "ts": 1, "labels": {"b": "2", "a": "1"}})[-47:]
    b'"service":null,"target_deployment":null,"ts":1}'
    >>> b'"labels":{"a":"1","b":"2"}' in canonical_bytes({"labels": {"b": "2", "a": "1"}})
    True
    """
    doc: dict[str, Any] = {}
    for name in SIGNED_FIELDS:
        value = command.get(name)
        if name in ("ts", "expires_at") and value is not None:
            value = int(value)
        if name == "labels":
            value = {str(k): str(v) for k, v in (value or {}).items()}
        doc[name] = value
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return DOMAIN + text.encode("utf-8")


def _check_key(key: bytes) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"rollback signing keys need at least {MIN_KEY_BYTES} bytes")
    return key


def signature_of(command: Mapping[str, Any], key: bytes) -> bytes:
    """HMAC-SHA256 of the canonical bytes."""
    return hmac.new(_check_key(key), canonical_bytes(command), hashlib.sha256).digest()


def sign_command(command: Mapping[str, Any], key: bytes, key_id: str) -> dict[str, Any]:
    """A copy of ``command`` with ``key_id`` set and ``signature`` filled in."""
    signed = {**command, "key_id": key_id}
    signed["signature"] = signature_of(signed, key)
    return signed


def verify_command(command: Mapping[str, Any], keys: Mapping[str, bytes], *, now_ms: int) -> None:
    """Raise :class:`CommandRejected` unless ``command`` is signed by a known key and unexpired."""
    key_id = command.get("key_id")
    signature = command.get("signature")
    if not key_id or not signature:
        raise CommandRejected("unsigned command")
    key = keys.get(str(key_id))
    if key is None:
        raise CommandRejected(f"unknown key_id {key_id!r}")
    expected = signature_of(command, key)
    if not hmac.compare_digest(expected, bytes(signature)):
        raise CommandRejected("bad signature")
    expires_at = int(command.get("expires_at") or 0)
    if now_ms > expires_at:
        raise CommandRejected(f"expired at {expires_at} (now {now_ms})")
