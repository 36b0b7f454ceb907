"""Each entity: the formats it must find (exact spans) and the look-alikes it must not."""

from __future__ import annotations

import pytest

from detectors.pii import PiiDetector

DET = PiiDetector(
    ner=False
)  # the pattern recognizers; NER: test_pii_ner.py, golden/test_pii_people.py


def spans(text: str) -> list[tuple[str, str]]:
    return [(f.type, text[f.start : f.end]) for f in DET.analyze(text)]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("write to ana.silva@example.com today", "ana.silva@example.com"),
        ("<Ana.Silva+llm@mail.example.co.uk>", "Ana.Silva+llm@mail.example.co.uk"),
        ("mailto:no-reply@northwind.example.", "no-reply@northwind.example"),
        ("请把发票寄到 inovak@acme-widgets.io，谢谢！", "inovak@acme-widgets.io"),
        ('{"email": "o_k%1@sub.domain-x.org"}', "o_k%1@sub.domain-x.org"),
    ],
)
def test_email_span_is_the_address_only(text: str, value: str) -> None:
    assert spans(text) == [("EMAIL_ADDRESS", value)]


@pytest.mark.parametrize(
    "text", ["follow @handle on social", "email me later", "a@b", "x@localhost", "user@.com"]
)
def test_email_look_alikes_do_not_fire(text: str) -> None:
    assert spans(text) == []


@pytest.mark.parametrize(
    "value",
    [
        "+33 6 40 36 31 73",
        "+44 (0)20 8687 7291",
        "+44 (0)7508 157 190",
        "+49 (0)89 6569041",
        "+91-6204870140",
        "+12026460948",
        "+1 (212) 555-0147",
        "1-213-472-2220",
        "917-904-9618",
        "617.708.6800",
        "212 555 0147",
        "(206) 297-0802",
        "020 3302 0279",
        "0161 870 1080",
        "07700 900123",
        "040/7152252",
        "0176/66302563",
        "0171 70969992",
        "030 8357290",
        "0176 1234 5678",
        "05-87-24-54-61",
        "06.33.26.44.00",
        "04 73 80 63 74",
        "096085 50965",
        "88615 46864",
    ],
)
def test_phone_formats_have_exact_spans(value: str) -> None:
    assert spans(f"call {value}, thanks") == [("PHONE_NUMBER", value)]
    assert spans(value) == [("PHONE_NUMBER", value)]


@pytest.mark.parametrize(
    "text",
    [
        "ext. 5698",
        "PIN 4821 and port 58807",
        "order ORD-4895-4436 shipped",
        "Invoice INV-2023-15529 for you",
        "ts_ms=1737238216343 event=end",
        "2^37 = 137438953472",
        "Total: USD 86550.00",
        "2023-12-08T15:48:58+02:00 INFO ok",
        "created 2023-07-06 12:30:10.876",
        "tz offset +02:00 and +0530",
        "MAC 15:10:E7:E4:91:17",
        "What is 206/26 ≈ 7.9?",
        "dated 01-02-2023",
    ],
)
def test_other_digit_strings_are_not_phones(text: str) -> None:
    assert spans(text) == []


@pytest.mark.parametrize(
    "value",
    [
        "4111 1111 1111 1111",
        "4572-6794-9658-2421",
        "4111417870296708",
        "5500 0000 0000 0004",
        "2221 0000 0000 0009",
        "3782 822463 10005",
        "3752-330818-79037",
        "378282246310005",
        "6011 1111 1111 1117",
    ],
)
def test_cards(value: str) -> None:
    assert spans(f"card {value}.") == [("CREDIT_CARD", value)]


@pytest.mark.parametrize(
    "text",
    [
        "The number 3503 3237 5514 2125 failed",  # Luhn-invalid
        "Is 5417-8816-9577-2905 a valid card?",  # Luhn-invalid
        "I tried the card number 4242 but it was too short",
        "ref 41111111111111112",  # 17 digits, Luhn-invalid
        "id 9111111111111111",  # Luhn-valid but no issuer starts with 9
        "id 123456789012345678901234",  # too long to be a card
    ],
)
def test_card_look_alikes_do_not_fire(text: str) -> None:
    assert spans(text) == []


@pytest.mark.parametrize(
    "value",
    [
        "GB82 WEST 1234 5698 7654 32",
        "GB82WEST12345698765432",
        "DE89 3704 0044 0532 0130 00",
        "NO93 8601 1117 947",
        "BE68 5390 0754 7034",
        "CH93 0076 2011 6238 5295 7",
        "FR14 2004 1010 0505 0001 3M02 606",
        "IT60X0542811101000000123456",
        "NL91ABNA0417164300",
        "AT611904300234573201",
        "PL61 1090 1014 0000 0712 1981 2874",
        "ES91 2100 0418 4502 0005 1332",
        "IE29 AIBK 9311 5212 3456 78",
    ],
)
def test_ibans(value: str) -> None:
    assert spans(f"IBAN {value}, thanks") == [("IBAN_CODE", value)]


def test_iban_followed_by_an_uppercase_word_is_cut_at_its_length() -> None:
    assert spans("to GB82 WEST 1234 5698 7654 32 ASAP") == [
        ("IBAN_CODE", "GB82 WEST 1234 5698 7654 32")
    ]


@pytest.mark.parametrize(
    "text",
    [
        "IBAN GB82 WEST 1234 5698 7654 33",  # wrong check digits
        "IBAN GB28GFFJ19027115676856",
        "IBAN XX82 WEST 1234 5698 7654 32",  # no such country
        "IBAN DE89 3704 0044 0532 0130",  # too short for DE
    ],
)
def test_iban_look_alikes_do_not_fire(text: str) -> None:
    assert spans(text) == []


@pytest.mark.parametrize("value", ["536-90-4399", "227 51 4910", "074 29 9656", "770-12-0001"])
def test_ssn(value: str) -> None:
    assert spans(f"SSN {value}, ok") == [("US_SSN", value)]


@pytest.mark.parametrize(
    "value", ["000-70-4989", "666-12-3456", "912-34-5678", "123-00-4567", "123-45-0000"]
)
def test_invalid_ssn_does_not_fire(value: str) -> None:
    assert spans(f"SSN {value} is a test") == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("From 192.168.48.132 we saw", "192.168.48.132"),
        ("curl http://172.31.167.73:58807/v1/models", "172.31.167.73"),
        ("upstream=[2001:db8::1]:443", "2001:db8::1"),
        ("later from 2001:db8:c3e7::5eb0:c46c:6e81.", "2001:db8:c3e7::5eb0:c46c:6e81"),
        (
            "Is 1F17:FE17:E481:FD9F:E43:E5BD:899C:1405 a link",
            "1F17:FE17:E481:FD9F:E43:E5BD:899C:1405",
        ),
        ("client=fe80::2ac5 status=429", "fe80::2ac5"),
        ("mapped ::ffff:192.0.2.1 here", "::ffff:192.0.2.1"),
        ("loopback ::1 only", "::1"),
    ],
)
def test_ip_addresses_never_include_port_or_brackets(text: str, value: str) -> None:
    assert spans(text) == [("IP_ADDRESS", value)]


@pytest.mark.parametrize(
    "text",
    [
        "Why does ping 256.93.214.146 say unknown host?",
        "192.168.332.80 is not valid",
        "upgraded from v3.29.14 to python 3.10.4",
        "node 18.16.1 and release-2024.2.8",
        "the IP 1.2.3.4.5 is a version",
        "MAC 15:10:E7:E4:91:17 and F4-87-4B-47-46-6F",
        "at 12:30:45 use std::map and a::b::c",
        "uuid 1789a6c5-2cf6-4c03-b78e-c16c03888ad3",
        "commit 0b03dd475c5a6cd981f939451e0f1a365b67f7e5",
    ],
)
def test_ip_look_alikes_do_not_fire(text: str) -> None:
    assert spans(text) == []


def test_secrets() -> None:
    text = (
        "keys AKIAR4T5UOZPFXXBXZYM and gho_ZyIj1LKllfWD42sZboHdIkKs9bP1ZBeLItYI, "
        "ghp_" + "a" * 36 + " and AKIA12345 and ghp_short"
    )
    assert spans(text) == [
        ("AWS_ACCESS_KEY", "AKIAR4T5UOZPFXXBXZYM"),
        ("GITHUB_TOKEN", "gho_ZyIj1LKllfWD42sZboHdIkKs9bP1ZBeLItYI"),
        ("GITHUB_TOKEN", "ghp_" + "a" * 36),
    ]


JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


def test_jwt_span_is_the_three_segments() -> None:
    text = f"Authorization: Bearer {JWT}' http://x"
    assert spans(text) == [("JWT", JWT)]


@pytest.mark.parametrize(
    "text",
    [
        "fragment eyJhbGciOiJIUzI1NiJ9 only",
        "two eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0. end",
        "bad header eyJub3QganNvbg.eyJzdWIiOiIxIn0.c2ln",
    ],
)
def test_jwt_look_alikes_do_not_fire(text: str) -> None:
    assert spans(text) == []


PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"


@pytest.mark.parametrize("label", ["", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED "])
def test_private_key_block_through_end_line(label: str) -> None:
    block = f"-----BEGIN {label}PRIVATE KEY-----\n{PEM_BODY}-----END {label}PRIVATE KEY-----"
    text = f"my key:\n{block}\nand more"
    assert spans(text) == [("PRIVATE_KEY", block)]


def test_public_keys_and_certificates_do_not_fire() -> None:
    for kind in ("PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE"):
        text = f"-----BEGIN {kind}-----\n{PEM_BODY}-----END {kind}-----\n"
        assert spans(text) == []


def test_truncated_private_key_is_still_reported() -> None:
    text = f"oops -----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}"
    found = DET.analyze(text)
    assert [(f.type, f.start) for f in found] == [("PRIVATE_KEY", 5)]
    assert found[0].end == len(text.rstrip())
    assert found[0].score < 1.0


def test_key_body_is_one_finding_even_if_it_contains_token_shapes() -> None:
    body = "AKIAR4T5UOZPFXXBXZYM\nghp_" + "b" * 36 + "\n"
    block = f"-----BEGIN PRIVATE KEY-----\n{body}-----END PRIVATE KEY-----"
    assert spans(block) == [("PRIVATE_KEY", block)]


def test_several_entities_at_start_and_end() -> None:
    text = "10.0.0.1 sent 536-90-4399 to a@b.example"
    assert spans(text) == [
        ("IP_ADDRESS", "10.0.0.1"),
        ("US_SSN", "536-90-4399"),
        ("EMAIL_ADDRESS", "a@b.example"),
    ]
