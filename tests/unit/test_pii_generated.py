"""Seeded, generated values in varied contexts: the detector implements the semantics,
not the particular vector lines (acceptance uses vectors from other seeds)."""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import string
import uuid
from collections.abc import Callable

import pytest

from detectors.pii import PiiDetector
from detectors.pii.validators import IBAN_LENGTHS

DET = PiiDetector(
    ner=False
)  # the pattern recognizers; NER: test_pii_ner.py, golden/test_pii_people.py
RNG_SEEDS = range(3)
CONTEXTS = (
    ("", ""),
    ("Please contact ", " today."),
    ('{"value": "', '", "ok": true}'),
    ("请联系 ", " 谢谢！"),
    ("कृपया ", " पर भेजें 🙏"),
    ("🙂👍🏽 ", "\n"),
    ("line one\nvalue: ", "\nline three"),
)


def digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def luhn_complete(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def card(rng: random.Random) -> str:
    kind = rng.choice(["visa", "mc", "mc2", "amex"])
    if kind == "amex":
        n = luhn_complete(rng.choice(["34", "37"]) + digits(rng, 12))
        sep = rng.choice([" ", "-", ""])
        return sep.join([n[:4], n[4:10], n[10:]])
    prefix = {"visa": "4", "mc": str(rng.randint(51, 55)), "mc2": str(rng.randint(2221, 2720))}[
        kind
    ]
    n = luhn_complete(prefix + digits(rng, 15 - len(prefix)))
    sep = rng.choice([" ", "-", ""])
    return sep.join(n[i : i + 4] for i in range(0, 16, 4))


def iban(rng: random.Random, valid: bool = True) -> str:
    cc = rng.choice(["DE", "GB", "FR", "NL", "ES", "IT", "CH", "BE", "PL", "AT", "IE", "NO"])
    alnum = cc in ("GB", "NL", "IE", "IT")
    body = "".join(
        rng.choice(string.ascii_uppercase) if alnum and i < 4 else rng.choice(string.digits)
        for i in range(IBAN_LENGTHS[cc] - 4)
    )
    numeric = "".join(str(int(c, 36)) for c in body + cc + "00")
    check = 98 - int(numeric) % 97
    if not valid:
        check = check % 97 + 1 if check != 97 else 2
    compact = f"{cc}{check:02d}{body}"
    if rng.random() < 0.5:
        return compact
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    sep = rng.choice(["-", " "])
    return f"{area:03d}{sep}{rng.randint(1, 99):02d}{sep}{rng.randint(1, 9999):04d}"


def ip(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return ".".join(str(rng.randint(0, 255)) for _ in range(4))
    groups = [rng.randint(1, 0xFFFF) for _ in range(8)]
    if rng.random() < 0.7:  # make a zero run to compress
        start = rng.randint(1, 5)
        for i in range(start, start + rng.randint(2, 3)):
            groups[i] = 0
    text = str(ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups)))
    return text.upper() if rng.random() < 0.2 else text


def email(rng: random.Random) -> str:
    first = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 8)))
    local = first + rng.choice(["", ".", "_", "+", "-"]) + rng.choice(["news", "x1", "llm", "42"])
    local = local.rstrip(".+-_") or "a"
    domain = rng.choice(
        ["example.com", "mail.example.co.uk", "corp-x.example.de", "uni.example.edu"]
    )
    return f"{local}@{domain}"


def phone(rng: random.Random) -> str:
    d = lambda n: digits(rng, n)  # noqa: E731
    nz = lambda: str(rng.randint(2, 9))  # noqa: E731
    return rng.choice(
        [
            f"+1 {nz()}{d(2)} {nz()}{d(2)} {d(4)}",
            f"({nz()}{d(2)}) {nz()}{d(2)}-{d(4)}",
            f"{nz()}{d(2)}-{nz()}{d(2)}-{d(4)}",
            f"+44 (0)20 {d(4)} {d(4)}",
            f"020 {d(4)} {d(4)}",
            f"07{d(3)} {d(6)}",
            f"+49 (0)30 {d(7)}",
            f"0{nz()}{d(2)}/{d(7)}",
            f"+33 {nz()} {d(2)} {d(2)} {d(2)} {d(2)}",
            f"0{nz()}.{d(2)}.{d(2)}.{d(2)}.{d(2)}",
            f"+91-{rng.randint(6, 9)}{d(9)}",
            f"{rng.randint(6, 9)}{d(4)} {d(5)}",
            f"+{rng.choice(['44', '49', '33', '91', '1'])}{nz()}{d(9)}",
        ]
    )


def aws(rng: random.Random) -> str:
    return "AKIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))


def github(rng: random.Random) -> str:
    return rng.choice(["ghp_", "gho_", "ghs_"]) + "".join(
        rng.choice(string.ascii_letters + string.digits) for _ in range(36)
    )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(rng: random.Random) -> str:
    header = {"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}
    payload = {
        "sub": f"user_{rng.randint(1, 10**6)}",
        "iat": rng.randint(1_600_000_000, 1_800_000_000),
    }
    sig = bytes(rng.randrange(256) for _ in range(rng.choice([32, 64])))
    return ".".join(
        [b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode()), b64url(sig)]
    )


def private_key(rng: random.Random) -> str:
    label = rng.choice(["", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED "])
    body = "\n".join(
        base64.b64encode(bytes(rng.randrange(256) for _ in range(48))).decode() for _ in range(4)
    )
    return f"-----BEGIN {label}PRIVATE KEY-----\n{body}\n-----END {label}PRIVATE KEY-----"


GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "CREDIT_CARD": card,
    "IBAN_CODE": iban,
    "US_SSN": ssn,
    "IP_ADDRESS": ip,
    "EMAIL_ADDRESS": email,
    "PHONE_NUMBER": phone,
    "AWS_ACCESS_KEY": aws,
    "GITHUB_TOKEN": github,
    "JWT": jwt,
    "PRIVATE_KEY": private_key,
}


@pytest.mark.parametrize("entity", sorted(GENERATORS))
@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_generated_values_are_found_with_exact_spans(entity: str, seed: int) -> None:
    rng = random.Random(f"{entity}-{seed}")
    for _ in range(40):
        value = GENERATORS[entity](rng)
        prefix, suffix = rng.choice(CONTEXTS)
        text = prefix + value + suffix
        found = [(f.type, text[f.start : f.end]) for f in DET.analyze(text)]
        assert found == [(entity, value)], text


def negatives(rng: random.Random) -> list[str]:
    luhn_bad = luhn_complete("4" + digits(rng, 14))
    luhn_bad = luhn_bad[:-1] + str((int(luhn_bad[-1]) + rng.randint(1, 9)) % 10)
    area = rng.choice(["000", "666", f"9{digits(rng, 2)}"])
    return [
        " ".join(luhn_bad[i : i + 4] for i in range(0, 16, 4)),
        iban(rng, valid=False),
        f"{area}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
        f"{digits(rng, 3)}-00-{digits(rng, 4)}".replace("000-", "123-"),
        f"{rng.randint(256, 999)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}",
        f"v{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 30)}",
        f"python 3.{rng.randint(8, 13)}.{rng.randint(0, 12)}",
        str(uuid.UUID(int=rng.getrandbits(128))),
        "".join(rng.choice("0123456789abcdef") for _ in range(40)),
        f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T1{rng.randint(0, 9)}:3{rng.randint(0, 9)}:00+02:00",
        f"ts={rng.randint(1_600_000_000_000, 1_800_000_000_000)}",
        ":".join(f"{rng.randrange(256):02X}" for _ in range(6)),
        f"order #{digits(rng, 6)} at ${rng.randint(1, 999)}.{digits(rng, 2)}",
        f"{rng.randint(2, 99)} * {rng.randint(2, 99)} = {rng.randint(100, 9999)}",
        f"port {rng.randint(1024, 65535)}, PIN {digits(rng, 4)}",
        "AKIA" + digits(rng, 8),
        "ghp_" + digits(rng, 10),
        b64url(b'{"alg":"HS256"}') + "." + b64url(b'{"sub":"1"}'),
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n-----END PUBLIC KEY-----",
        "follow @someone and email me",
    ]


@pytest.mark.parametrize("seed", range(10))
def test_generated_hard_negatives_do_not_fire(seed: int) -> None:
    rng = random.Random(seed)
    for value in negatives(rng):
        prefix, suffix = rng.choice(CONTEXTS)
        text = prefix + value + suffix
        assert DET.analyze(text) == [], text
