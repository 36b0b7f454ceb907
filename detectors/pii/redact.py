"""Turn a text and its (non-overlapping, sorted) findings into a redacted text.

Modes:

``replace``
    each span becomes ``<TYPE>``.
``hash``
    each span becomes ``<TYPE:h>`` where ``h`` is the first 16 hex digits of
    HMAC-SHA256(key, type + normalised value). The same value under the same key always
    gives the same token, so analysts can count distinct values without seeing them; the
    value is normalised first (e-mail lower-cased, digits only for phone/card/SSN,
    upper-case without spaces for IBAN, canonical form for IPs) so that formatting
    variants of one value count once.
``drop``
    each span is removed.

Lone surrogates (which cannot be encoded as UTF-8 and would break any downstream
encoder) are replaced by U+FFFD in the output; the output is not used for offsets.

Examples
--------
>>> from detectors.pii.findings import Finding
>>> f = [Finding("EMAIL_ADDRESS", 5, 16, 0.9)]
>>> redact_text("mail a@b.example now", f, "replace", b"k")
'mail <EMAIL_ADDRESS> now'
>>> redact_text("mail a@b.example now", f, "drop", b"k")
'mail  now'
>>> redact_text("mail a@b.example now", f, "hash", b"k")
'mail <EMAIL_ADDRESS:...> now'
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from typing import Literal

from detectors.pii.findings import Finding

__all__ = ["REDACTION_MODES", "RedactionMode", "hash_token", "normalise_value", "redact_text"]

RedactionMode = Literal["replace", "hash", "drop"]
REDACTION_MODES: tuple[str, ...] = ("replace", "hash", "drop")

_SURROGATE = re.compile("[\ud800-\udfff]")
_NON_DIGIT = re.compile(r"[^0-9]")


def normalise_value(entity: str, value: str) -> str:
    """The form of a value that is hashed, so formatting variants hash alike.

    >>> normalise_value("PHONE_NUMBER", "+44 (0)20 7946-0958")
    '+442079460958'
    >>> normalise_value("IP_ADDRESS", "2001:DB8:0::1")
    '2001:db8::1'
    >>> normalise_value("PERSON", "Maria  GÓMEZ")
    'maria gómez'
    """
    if entity == "EMAIL_ADDRESS":
        return value.lower()
    if entity == "PHONE_NUMBER":
        # "+44 (0)20 ..." and "+44 20 ...": the "(0)" trunk prefix is not part of the number.
        return ("+" if value.startswith("+") else "") + _NON_DIGIT.sub("", value.replace("(0)", ""))
    if entity in ("CREDIT_CARD", "US_SSN"):
        return _NON_DIGIT.sub("", value)
    if entity == "IBAN_CODE":
        return value.replace(" ", "").upper()
    if entity in ("PERSON", "LOCATION"):
        # "Maria  Gómez" and "maria gómez" are one person: case and spacing do not count.
        return " ".join(value.split()).casefold()
    if entity == "IP_ADDRESS":
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            return value
    return value


def hash_token(entity: str, value: str, key: bytes) -> str:
    """The ``<TYPE:h>`` token for ``value`` under ``key`` (see the module docstring).

    >>> hash_token("US_SSN", "536-90-4399", b"k") == hash_token("US_SSN", "536 90 4399", b"k")
    True
    >>> len(hash_token("JWT", "x", b"k")) == len("<JWT:>") + 16
    True
    """
    message = f"{entity}\x1f{normalise_value(entity, value)}".encode("utf-8", "surrogatepass")
    digest = hmac.new(key, message, hashlib.sha256).hexdigest()[:16]
    return f"<{entity}:{digest}>"


def redact_text(text: str, findings: list[Finding], mode: RedactionMode, key: bytes) -> str:
    """Redact ``text`` given sorted, non-overlapping ``findings`` (see the module docstring).

    >>> from detectors.pii.findings import Finding
    >>> redact_text("ip 10.0.0.1", [Finding("IP_ADDRESS", 3, 11, 0.9)], "replace", b"")
    'ip <IP_ADDRESS>'
    """
    if findings:
        parts: list[str] = []
        pos = 0
        for f in findings:
            parts.append(text[pos : f.start])
            if mode == "replace":
                parts.append(f"<{f.type}>")
            elif mode == "hash":
                parts.append(hash_token(f.type, text[f.start : f.end], key))
            elif mode != "drop":
                raise ValueError(f"unknown redaction mode {mode!r}: use one of {REDACTION_MODES}")
            pos = f.end
        parts.append(text[pos:])
        text = "".join(parts)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = _SURROGATE.sub("\ufffd", text)
    return text
