"""Checksums and value checks that turn a pattern match into a finding.

A pattern only says a span *looks like* an entity; these functions say whether the value
is one (Luhn for cards, ISO 7064 mod-97 for IBANs, SSA rules for SSNs, octet ranges for
IPv4, RFC 4291 syntax for IPv6, a JSON header for JWTs). They take the matched text and
return a bool, so they are cheap to call on the few candidates a text has.

Examples
--------
>>> luhn_valid("4111 1111 1111 1111"), luhn_valid("4111 1111 1111 1112")
(True, False)
>>> iban_valid("GB82 WEST 1234 5698 7654 32")
True
>>> ssn_valid("078-05-1120"), ssn_valid("666-12-3456")
(True, False)
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json

__all__ = [
    "IBAN_LENGTHS",
    "card_brand_valid",
    "iban_valid",
    "ipv4_valid",
    "ipv6_valid",
    "jwt_valid",
    "luhn_valid",
    "ssn_valid",
]

# ISO 13616 registry: country code -> total IBAN length (SWIFT IBAN registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

_DIGIT_CHARS = "0123456789"
# str.translate tables: drop every non-digit ASCII character; map a digit d to the digit
# sum of 2*d (the Luhn "doubling" step), so the checksum needs no Python-level loop.
_KEEP_DIGITS = {c: None for c in range(128) if chr(c) not in _DIGIT_CHARS}
_LUHN_DOUBLE = str.maketrans(_DIGIT_CHARS, "0246813579")


def _digits_of(value: str) -> str:
    digits = value.translate(_KEEP_DIGITS)
    return digits if digits.isascii() else "".join(c for c in digits if c in _DIGIT_CHARS)


def luhn_valid(value: str) -> bool:
    """Whether the digits of ``value`` pass the Luhn (mod 10) check.

    Separators are ignored; a value with fewer than two digits is not valid.

    >>> luhn_valid("3782-822463-10005")
    True
    """
    digits = _digits_of(value)
    if len(digits) < 2:
        return False
    kept = digits[-1::-2]
    doubled = digits[-2::-2].translate(_LUHN_DOUBLE)
    return (sum(map(int, kept)) + sum(map(int, doubled))) % 10 == 0


def card_brand_valid(value: str) -> bool:
    """Whether the digits of ``value`` have a known card issuer prefix and length.

    Visa (4; 13, 16, 19 digits), Mastercard (51-55, 2221-2720; 16), Amex (34, 37; 15),
    Discover (6011, 644-649, 65; 16-19), JCB (3528-3589; 16-19), Diners (300-305, 36,
    38, 39; 14-19), UnionPay (62; 16-19). Random Luhn-valid digit runs (1 in 10 of all
    runs) are mostly rejected by this check.

    >>> card_brand_valid("4111111111111111"), card_brand_valid("9111111111111111")
    (True, False)
    """
    d = _digits_of(value)
    n = len(d)
    if d[0] == "4":
        return n in (13, 16, 19)
    p2 = int(d[:2])
    p4 = int(d[:4])
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16
    if p2 in (34, 37):
        return n == 15
    if p4 == 6011 or p2 == 65 or 644 <= int(d[:3]) <= 649:
        return 16 <= n <= 19
    if 3528 <= p4 <= 3589:
        return 16 <= n <= 19
    if 300 <= int(d[:3]) <= 305 or p2 in (36, 38, 39):
        return 14 <= n <= 19
    if p2 == 62:
        return 16 <= n <= 19
    return False


def iban_valid(value: str) -> bool:
    """Whether ``value`` (spaces allowed) is an IBAN of the right length with mod-97 == 1.

    >>> iban_valid("DE89370400440532013000"), iban_valid("DE89370400440532013001")
    (True, False)
    """
    compact = value.replace(" ", "")
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    if not compact[2:4].isdigit() or not compact.isascii():
        return False
    rearranged = compact[4:] + compact[:4]
    # int(c, 36) maps 0-9 to 0-9 and A-Z to 10-35, exactly the ISO 7064 letter values.
    numeric = "".join(str(int(c, 36)) for c in rearranged)
    return int(numeric) % 97 == 1


def ssn_valid(value: str) -> bool:
    """Whether ``AAA-GG-SSSS`` (dashes or spaces) has a valid area, group and serial.

    Area 000, 666 and 900-999, group 00 and serial 0000 are never issued.

    >>> ssn_valid("900-12-3456"), ssn_valid("123-00-4567"), ssn_valid("123-45-0000")
    (False, False, False)
    """
    d = _digits_of(value)
    if len(d) != 9:
        return False
    area, group, serial = d[:3], d[3:5], d[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def ipv4_valid(value: str) -> bool:
    """Whether a dotted quad has four octets in 0-255.

    >>> ipv4_valid("192.168.0.1"), ipv4_valid("256.1.1.1")
    (True, False)
    """
    parts = value.split(".")
    return len(parts) == 4 and all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts)


def ipv6_valid(value: str) -> bool:
    """Whether ``value`` is an IPv6 address in full, compressed or IPv4-embedded form.

    >>> ipv6_valid("fe80::1"), ipv6_valid("2001:db8::1::2"), ipv6_valid("12:30:45")
    (True, False, False)
    """
    if value.count(":") < 2:
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def jwt_valid(token: str) -> bool:
    """Whether ``token`` has three base64url segments and a header that decodes to a JSON object.

    >>> jwt_valid("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln")
    True
    >>> jwt_valid("eyJub3QganNvbg.eyJzdWIiOiIxIn0.c2ln")
    False
    """
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return False
    if len(parts[1]) % 4 == 1:
        return False
    try:
        header = json.loads(_b64url_decode(parts[0]))
    except (binascii.Error, ValueError):
        return False
    return isinstance(header, dict)
