"""PiiDetector API: configuration, overlap resolution, redaction modes, batches."""

from __future__ import annotations

import logging
import re
from itertools import pairwise

import pytest

from detectors.pii import ENTITY_TYPES, Finding, PiiDetector, hash_token
from tocsin.settings import Settings

TEXT = "Mail ana@example.org, card 4111 1111 1111 1111, ip 10.0.0.1."


def test_findings_are_sorted_disjoint_and_typed() -> None:
    found = PiiDetector().analyze(TEXT)
    assert [f.type for f in found] == ["EMAIL_ADDRESS", "CREDIT_CARD", "IP_ADDRESS"]
    assert all(a.end <= b.start for a, b in pairwise(found))
    assert all(0 < f.score <= 1 for f in found)
    assert TEXT[found[1].start : found[1].end] == "4111 1111 1111 1111"


def test_entities_can_be_switched_off() -> None:
    det = PiiDetector(entities=["IP_ADDRESS"])
    assert [f.type for f in det.analyze(TEXT)] == ["IP_ADDRESS"]
    assert det.entities == ("IP_ADDRESS",)


def test_entities_accept_any_case_and_a_comma_separated_string() -> None:
    assert PiiDetector(entities="ip_address, us_ssn").entities == ("US_SSN", "IP_ADDRESS")


def test_unknown_entity_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown PII entity type.*EMAIL_ADRESS.*supported"):
        PiiDetector(entities=["EMAIL_ADRESS"])


def test_bad_mode_and_bad_custom_pattern_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="redaction mode 'mask'"):
        PiiDetector(mode="mask")
    with pytest.raises(ValueError, match="'BROKEN' is not a valid"):
        PiiDetector(custom_patterns={"BROKEN": "(unclosed"})
    with pytest.raises(ValueError, match="upper-case identifier"):
        PiiDetector(custom_patterns={"lower": "x"})


def test_allow_list_suppresses_exact_values_case_insensitively() -> None:
    det = PiiDetector(allow_list=["Support@Example.org"])
    text = "write support@example.org or ana@example.org"
    assert [text[f.start : f.end] for f in det.analyze(text)] == ["ana@example.org"]


def test_custom_patterns_from_config() -> None:
    det = PiiDetector(entities=[], custom_patterns={"EMPLOYEE_ID": r"\bEMP-\d{5}\b"})
    text = "employee EMP-12345 and EMP-1"
    assert det.analyze(text) == [Finding("EMPLOYEE_ID", 9, 18, 0.6)]
    assert det.redact(text).text == "employee <EMPLOYEE_ID> and EMP-1"


def test_longest_span_wins_an_overlap() -> None:
    # The custom pattern matches the middle of the card number; the card is longer.
    det = PiiDetector(custom_patterns={"DIGITS8": r"1111 1111"})
    found = det.analyze("card 4111 1111 1111 1111")
    assert [(f.type, f.start, f.end) for f in found] == [("CREDIT_CARD", 5, 24)]


def test_equal_spans_keep_the_higher_score() -> None:
    det = PiiDetector(custom_patterns={"INTERNAL_IP": r"10\.0\.0\.1"})
    assert [f.type for f in det.analyze("ip 10.0.0.1")] == ["IP_ADDRESS"]


def test_replace_mode_is_the_default() -> None:
    assert PiiDetector().redact(TEXT).text == (
        "Mail <EMAIL_ADDRESS>, card <CREDIT_CARD>, ip <IP_ADDRESS>."
    )


def test_drop_mode_removes_spans() -> None:
    assert PiiDetector(mode="drop").redact(TEXT).text == "Mail , card , ip ."


def test_hash_mode_is_stable_per_key_and_hides_the_value() -> None:
    a = PiiDetector(mode="hash", hmac_key="key-a")
    b = PiiDetector(mode="hash", hmac_key="key-b")
    ra1 = a.redact("to ana@example.org").text
    ra2 = a.redact("cc ANA@example.org").text  # normalised: same address, same token
    rb = b.redact("to ana@example.org").text
    token = re.search(r"<EMAIL_ADDRESS:([0-9a-f]{16})>", ra1)
    assert token is not None
    assert token.group(0) in ra2
    assert token.group(0) not in rb
    assert "ana" not in ra1
    other = a.redact("to bob@example.org").text
    assert token.group(0) not in other


def test_hash_token_normalises_formatting() -> None:
    assert hash_token("CREDIT_CARD", "4111-1111-1111-1111", b"k") == hash_token(
        "CREDIT_CARD", "4111111111111111", b"k"
    )
    assert hash_token("IBAN_CODE", "GB82 WEST 1234 5698 7654 32", b"k") == hash_token(
        "IBAN_CODE", "GB82WEST12345698765432", b"k"
    )


def test_hash_mode_with_default_key_warns_without_leaking(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="detectors.pii.detector"):
        PiiDetector(mode="hash")
    assert "TOCSIN_PII__HMAC_KEY" in caplog.text


def test_batch_entry_points_return_plain_lists_with_counts() -> None:
    det = PiiDetector()
    texts = ["nothing here", TEXT, "a@b.example c@d.example", ""]
    findings = det.analyze_batch(texts)
    assert [len(f) for f in findings] == [0, 3, 2, 0]
    batch = det.redact_batch(texts)
    assert batch.findings == findings
    assert batch.texts[0] == "nothing here"
    assert batch.texts[2] == "<EMAIL_ADDRESS> <EMAIL_ADDRESS>"
    assert batch.counts == [
        {},
        {"EMAIL_ADDRESS": 1, "CREDIT_CARD": 1, "IP_ADDRESS": 1},
        {"EMAIL_ADDRESS": 2},
        {},
    ]
    assert batch.types[1] == ["CREDIT_CARD", "EMAIL_ADDRESS", "IP_ADDRESS"]
    assert batch.truncated == [False] * 4


def test_from_settings_model() -> None:
    settings = Settings(
        pii={
            "entities": ["EMAIL_ADDRESS"],
            "mode": "drop",
            "allow_list": ["ok@example.org"],
            "hmac_key": "s3cret",
        }
    )
    det = PiiDetector.from_config(settings.pii)
    assert det.redact("x@example.org ok@example.org 10.0.0.1").text == " ok@example.org 10.0.0.1"
    hashed = PiiDetector.from_config(settings.pii, mode="hash")
    assert hashed.redact("x@example.org").text == hash_token(
        "EMAIL_ADDRESS", "x@example.org", b"s3cret"
    )


def test_disabled_detector_passes_text_through() -> None:
    det = PiiDetector(enabled=False)
    assert det.analyze(TEXT) == []
    assert det.redact(TEXT).text == TEXT


def test_every_builtin_entity_is_detected_by_default() -> None:
    # the NER types are opt-in (ner=True); every pattern type is on by default
    assert set(PiiDetector().entities) == set(ENTITY_TYPES) - {"PERSON", "LOCATION"}
    assert set(PiiDetector(ner=True).entities) == set(ENTITY_TYPES)
    assert len(ENTITY_TYPES) == 12  # ten pattern types, PERSON and LOCATION (NER)


def test_non_str_input_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match="decode bytes first"):
        PiiDetector().analyze(b"a@b.example")  # type: ignore[arg-type]
