"""Bad and hostile input: empty, huge, pathological, broken Unicode, binary, non-English."""

from __future__ import annotations

import random
import time

import pytest

from detectors.pii import PiiDetector

DET = PiiDetector(
    ner=False
)  # the pattern recognizers; NER: test_pii_ner.py, golden/test_pii_people.py


def timed(text: str) -> tuple[list[tuple[str, int, int]], float]:
    t0 = time.perf_counter()
    found = DET.analyze(text)
    return [(f.type, f.start, f.end) for f in found], time.perf_counter() - t0


def test_empty_text() -> None:
    assert DET.analyze("") == []
    r = DET.redact("")
    assert (r.text, r.findings, r.truncated) == ("", [], False)
    assert DET.redact_batch([]).texts == []


def test_one_megabyte_text_is_scanned_in_full_and_fast() -> None:
    filler = "The assistant replied with a long answer about deployment options. " * 15_000
    text = filler + " contact ana@example.org"
    assert len(text) > 1_000_000
    det = PiiDetector(max_chars=len(text), ner=False)
    t0 = time.perf_counter()
    found = det.analyze(text)
    elapsed = time.perf_counter() - t0
    assert [(f.type, text[f.start : f.end]) for f in found] == [
        ("EMAIL_ADDRESS", "ana@example.org")
    ]
    assert elapsed < 2.0  # ~10 ms on a quiet machine


def test_text_beyond_max_chars_is_not_scanned_and_cut_from_the_output() -> None:
    det = PiiDetector(max_chars=20)
    text = "ip 10.0.0.1 and then a@b.example"
    assert [f.type for f in det.analyze(text)] == ["IP_ADDRESS"]
    r = det.redact(text)
    assert r.truncated
    assert r.text == "ip <IP_ADDRESS> and then"
    assert "a@b.example" not in r.text


@pytest.mark.parametrize(
    "text",
    [
        "1" * 100_000,
        "1 " * 100_000,
        "1-" * 100_000,
        "1." * 100_000,
        "+" + "1" * 100_000,
        "+1 " * 100_000,
        "(" * 100_000,
        "a" * 1_000_000 + "@",
        "@" + "a" * 1_000_000,
        "a@" * 300_000,
        "@a." * 300_000,
        "@" * 1_000_000,
        ":" * 1_000_000,
        "a:" * 300_000,
        "f" * 500_000 + "::" + "f" * 500_000,
        "eyJ" + "a" * 1_000_000,
        "eyJa." * 200_000,
        "AKIA" * 250_000,
        "ghp_" * 250_000,
        "-----BEGIN PRIVATE KEY-----" * 30_000,
        "-----BEGIN PRIVATE KEY-----\n" + "A" * 1_000_000,
        "GB82 " * 200_000,
        "GB82" + "A" * 1_000_000,
    ],
    ids=lambda t: f"{t[:8]!r}x{len(t)}",
)
def test_pathological_inputs_complete_quickly(text: str) -> None:
    _, elapsed = timed(text)
    assert elapsed < 3.0, f"{elapsed:.2f}s: some pattern backtracks"


def test_lone_surrogates_do_not_break_detection_or_encoding() -> None:
    text = "bad \ud800 then a@b.example \udfff end"
    found, _ = timed(text)
    assert found == [("EMAIL_ADDRESS", 11, 22)]
    redacted = DET.redact(text).text
    assert redacted == "bad \ufffd then <EMAIL_ADDRESS> \ufffd end"
    redacted.encode("utf-8")  # no surrogates left


def test_binary_garbage_and_control_characters() -> None:
    garbage = bytes(range(256)) * 40 + random.Random(0).randbytes(10_000)
    text = garbage.decode("utf-8", errors="replace")
    for f in DET.analyze(text):  # no exception; findings, if any, are within bounds
        assert 0 <= f.start < f.end <= len(text)
    assert "\ufffd" in DET.redact(text).text
    with_controls = "\x00\x07ip\x0b10.0.0.1\x1b[0m\x00 mail\x0ca@b.example\x7f"
    found, _ = timed(with_controls)
    assert [(t, with_controls[s:e]) for t, s, e in found] == [
        ("IP_ADDRESS", "10.0.0.1"),
        ("EMAIL_ADDRESS", "a@b.example"),
    ]


@pytest.mark.parametrize(
    ("prefix", "value", "suffix"),
    [
        ("请把发票寄到 ", "inovak@acme-widgets.io", "，谢谢！"),
        ("कृपया मुझे ", "+91-6204870140", " पर कॉल करें 🙏"),
        ("メールは 😀👍🏽 ", "garcia@corp.example.de", " までお願いします"),
        ("🙂🙂 IBAN ", "DE89 3704 0044 0532 0130 00", " 谢谢"),
        ("Мой номер ", "0176/66302563", ", пиши в WhatsApp 👋"),
        ("IP 地址", "192.168.0.1", "。"),
    ],
)
def test_offsets_are_code_points_in_non_english_text(prefix: str, value: str, suffix: str) -> None:
    text = prefix + value + suffix
    found = DET.analyze(text)
    assert len(found) == 1
    f = found[0]
    assert (f.start, f.end) == (len(prefix), len(prefix) + len(value))
    assert text[f.start : f.end] == value
    assert DET.redact(text).text == f"{prefix}<{f.type}>{suffix}"


def test_non_ascii_digits_are_not_treated_as_numbers() -> None:
    assert DET.analyze("फ़ोन ९८७६५ ४३२१० और ٤١١١١١١١١١١١١١١١") == []


@pytest.mark.parametrize(
    "data",
    [b"", b"\xff\xfe\x00\x01" * 1000, bytes(range(256)), b"\xed\xa0\x80 a@b.example \xc3"],
)
def test_mask_bytes_keeps_length_and_non_text_bytes(data: bytes) -> None:
    masked, n = DET.mask_bytes(data)
    assert len(masked) == len(data)
    if b"a@b.example" in data:
        assert n == 1 and b"a@b.example" not in masked
        assert masked == data.replace(b"a@b.example", b"*" * 11)
    else:
        assert masked == data
