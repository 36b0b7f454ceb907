"""Rollback command signatures: every field is covered, keys rotate, expiry holds."""

from __future__ import annotations

from typing import Any

import pytest

from sinks.rollback_signing import (
    SIGNED_FIELDS,
    CommandRejected,
    canonical_bytes,
    sign_command,
    verify_command,
)
from streams.control_records import command_codec

KEY = b"0123456789abcdef0123456789abcdef"
OLD = b"fedcba9876543210fedcba9876543210"


def command(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "command_id": "6c1b5f7e-0000-5000-8000-000000000001",
        "ts": 1_767_225_600_000,
        "expires_at": 1_767_226_500_000,
        "incident_id": "w1",
        "action": "rollback",
        "service": "chat-api",
        "deployment": "chat-api-v42",
        "target_deployment": "chat-api-v41",
        "reason": "page: réponse lente",
        "issued_by": "worker-0",
        "key_id": None,
        "signature": None,
        "labels": {"rule": "avail"},
    }
    base.update(kw)
    return base


NOW = 1_767_225_700_000


def test_signature_survives_the_avro_round_trip() -> None:
    signed = sign_command(command(), KEY, "k1")
    decoded = command_codec().decode(command_codec().encode(signed))
    verify_command(decoded, {"k1": KEY}, now_ms=NOW)


@pytest.mark.parametrize("name", [f for f in SIGNED_FIELDS if f != "key_id"])
def test_changing_any_signed_field_breaks_the_signature(name: str) -> None:
    signed = sign_command(command(), KEY, "k1")
    value = signed[name]
    if name == "labels":
        forged = {**signed, "labels": {"rule": "other"}}
    elif isinstance(value, int):
        forged = {**signed, name: value - 1}
    else:
        forged = {**signed, name: f"{value}x"}
    with pytest.raises(CommandRejected, match="bad signature"):
        verify_command(forged, {"k1": KEY}, now_ms=NOW - 10_000)


def test_key_rotation_unknown_keys_and_moved_signatures() -> None:
    old_signed = sign_command(command(), OLD, "k0")
    verify_command(old_signed, {"k0": OLD, "k1": KEY}, now_ms=NOW)
    with pytest.raises(CommandRejected, match="unknown key_id 'k0'"):
        verify_command(old_signed, {"k1": KEY}, now_ms=NOW)
    # the key id is signed: relabelling a signature as another key fails
    with pytest.raises(CommandRejected, match="bad signature"):
        verify_command({**old_signed, "key_id": "k1"}, {"k1": OLD}, now_ms=NOW)
    with pytest.raises(CommandRejected, match="unsigned"):
        verify_command(command(), {"k1": KEY}, now_ms=NOW)


def test_expiry_and_short_keys() -> None:
    signed = sign_command(command(), KEY, "k1")
    verify_command(signed, {"k1": KEY}, now_ms=signed["expires_at"])
    with pytest.raises(CommandRejected, match="expired"):
        verify_command(signed, {"k1": KEY}, now_ms=signed["expires_at"] + 1)
    with pytest.raises(ValueError, match="16 bytes"):
        sign_command(command(), b"short", "k1")


def test_canonical_encoding_is_documented_json() -> None:
    raw = canonical_bytes(command())
    assert raw.startswith(b"tocsin-rollback-command-v1\n{")
    assert "réponse".encode() in raw and b"signature" not in raw
