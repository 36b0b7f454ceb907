"""One recognizer per entity type: a cheap trigger, a pattern, then a validator.

Every recognizer has the signature ``find(text, shape, out)``: it appends
:class:`~detectors.pii.findings.Finding` candidates for ``text`` to ``out``. ``shape`` is
:func:`~detectors.pii.shape.text_shape` of the text, computed once per text. Patterns for
digit-based entities run over the shape and start with a literal, secret patterns start
with their literal prefix (``AKIA``, ``gh``, ``eyJ``, ``-----BEGIN``), e-mail and IPv6 are
anchored on ``@`` and ``:``: so ``re`` skips through a clean text at memchr speed and a
validator (checksum, ranges, JSON header) runs only on the few candidates. Overlaps
between recognizers are resolved later, by the detector.

Patterns are written so that no input makes them backtrack more than linearly: every
repetition is either bounded or separated by a mandatory delimiter.

Examples
--------
>>> from detectors.pii.shape import text_shape
>>> out = []
>>> text = "IBAN GB82 WEST 1234 5698 7654 32, bad GB82 WEST 1234 5698 7654 33"
>>> find_iban(text, text_shape(text), out)
>>> [(f.type, text[f.start:f.end]) for f in out]
[('IBAN_CODE', 'GB82 WEST 1234 5698 7654 32')]
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from detectors.pii.findings import Finding
from detectors.pii.validators import (
    IBAN_LENGTHS,
    card_brand_valid,
    iban_valid,
    ipv4_valid,
    ipv6_valid,
    jwt_valid,
    luhn_valid,
    ssn_valid,
)

__all__ = [
    "ENTITY_TYPES",
    "Recognizer",
    "builtin_recognizers",
    "custom_recognizer",
    "find_aws_access_key",
    "find_email",
    "find_github_token",
    "find_iban",
    "find_ipv6",
    "find_jwt",
    "find_phone_international",
    "find_phone_national",
    "find_private_key",
    "numeric_finder",
]

FindFn = Callable[[str, bytes, list[Finding]], None]


class Recognizer(NamedTuple):
    """An entity type and the function that finds its candidates."""

    entity: str
    find: FindFn


_X = re.VERBOSE

# --- shape patterns (digits are '0', letters 'A'/'a'; see shape.py) ------------------------
# A pattern starts with one literal character, then a look-behind on that character checks
# the left boundary: the literal keeps re's fast skip, the look-behind keeps spans exact.

# Card, SSN, IPv4 and national phone numbers all start with a digit: one scan finds them
# all (one attempt per number in the text instead of four). Their shapes do not collide;
# the named group that matched says which validator to run.
_NUMERIC_SHAPE = re.compile(
    rb"""0(?<![0Aa_]0)
    (?=[0 .\-/]{6})   # every numeric entity has 7+ characters: skip short numbers at once
    (?: (?P<CREDIT_CARD> (?<!0[ \-]0) 000
          (?: (?P<c1>[ \-])0000(?P=c1)0000(?P=c1)0000 (?:(?P=c1)000)?  # 4-4-4-4(-3)
            | (?P<c2>[ \-])000000(?P=c2)0{4,5}                          # Amex 4-6-5, Diners 4-6-4
            | 0{9,15}                                                  # 13-19 digits, no separator
          )(?![0Aa_]) )
      | (?P<US_SSN> (?<!0[ \-]0) 00(?P<s1>[ \-])00(?P=s1)0000 (?![0Aa_])(?![ \-]0) )
      | (?P<IPV4> (?<![.]0) 0{0,2}\.0{1,3}\.0{1,3}\.0{1,3} (?![0Aa_]|\.0) )
      | (?P<PHONE_NUMBER> (?<![+.\-/]0)(?<!0[ ]0)
          (?: (?P<p1>[\-.])000(?P=p1)000(?P=p1)0000      # US 1-AAA-BBB-CCCC
            | 00(?P<p2>[\-.])000(?P=p2)0000              # US AAA-BBB-CCCC
            | 00[ ]000[ ]0000                            # US AAA BBB CCCC
            | 00[ ]0000[ ]0000                           # UK 0AA BBBB CCCC
            | 000[ ]000[ ]0000                           # UK 0AAA BBB CCCC
            | 0000[ ]000[ ]?000                          # UK 0AAAA BBBBBB
            | 0{1,4}[/ ]0{4,8}                           # DE 0AA(AA)/BBBBBBB
            | 0(?P<p3>[ .\-])00(?P=p3)00(?P=p3)00(?P=p3)00  # FR 0A BB CC DD EE
            | 0{4,5}[ \-]0{5}                            # IN (0)AAAAA BBBBB
            | 0{1,4}(?P<p4>[ \-])0{2,5}(?:(?P=p4)0{2,5}){0,2}  # other 0-leading groupings
          )(?![0Aa_])(?![ .\-/]0) )
    )""",
    _X,
)
_IBAN_SHAPE = re.compile(
    rb"A(?<![0Aa_]A)A00(?:[ ]?[0A]{4}){2,7}(?:[ ]?[0A]{1,3})?(?![0Aa_])",
)
_PHONE_INTL_SHAPE = re.compile(
    rb"""\+(?<![0Aa_+]\+)0{1,15}
    (?: (?:[ .\-/]|[ ]?\(0{1,4}\)[ ]?) 0{1,12} ){0,7}
    (?![0Aa_])""",
    _X,
)
_PHONE_PAREN_SHAPE = re.compile(
    rb"\((?<![0Aa_]\()000\)[ ]?000[\-. ]0000(?![0Aa_])(?![ .\-/]0)",
)
# --- exact patterns over the original text, applied to a candidate span --------------------

_PHONE_NATIONAL_EXACT = re.compile(
    r"""1([\-.])[2-9]\d\d\1\d{3}\1\d{4}
      | [2-9]\d\d([\-.])\d{3}\2\d{4}
      | [2-9]\d\d[ ]\d{3}[ ]\d{4}
      | 0[1-9]\d[ ]\d{4}[ ]\d{4}
      | 0[1-9]\d\d[ ]\d{3}[ ]\d{4}
      | 0[1-9]\d{3}[ ]\d{3}[ ]?\d{3}
      | 0[1-9]\d{0,3}[/ ]\d{4,8}
      | 0[1-9]([ .\-])\d\d(?:\3\d\d){3}
      | 0?[6-9]\d{4}[ \-]\d{5}
      | 0[1-9]\d{0,3}([ \-])\d{2,5}(?:\4\d{2,5}){0,2}""",
    _X | re.ASCII,
)
_PHONE_PAREN_EXACT = re.compile(r"\([2-9]\d\d\) ?\d{3}[\-. ]\d{4}", re.ASCII)

_AWS_KEY = re.compile(r"AKIA(?<![A-Za-z0-9]AKIA)[A-Z0-9]{16}(?![A-Za-z0-9])")
_GITHUB_TOKEN = re.compile(
    r"gh(?<![A-Za-z0-9_]gh)(?:[pousr]_[A-Za-z0-9]{36}|ithub_pat_[A-Za-z0-9_]{82})(?![A-Za-z0-9_])"
)
_JWT = re.compile(
    r"""eyJ(?<![A-Za-z0-9_\-.]eyJ)[A-Za-z0-9_\-]+
    \.[A-Za-z0-9_\-]+
    \.[A-Za-z0-9_\-]+
    (?![A-Za-z0-9_\-]|\.[A-Za-z0-9_\-])""",
    _X,
)
_PEM_BEGIN = re.compile(r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----")
_PEM_END = re.compile(r"-----END ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----")
# Body of a PEM block whose END line is missing: base64 lines and "Name: value" headers.
_PEM_BODY = re.compile(r"(?:\r?\n(?:[A-Za-z0-9+/=]+|[A-Za-z\-]+:[^\r\n]*))*")
_PEM_MAX_BODY = 64 * 1024

_EMAIL_DOMAIN = re.compile(
    r"""@([A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?
    (?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*
    \.[A-Za-z]{2,63})
    (?![A-Za-z0-9\-]|\.[A-Za-z0-9])""",
    _X,
)
_EMAIL_LOCAL_REVERSED = re.compile(r"[A-Za-z0-9._%+\-]+")

# Every IPv6 address has "::" or at least six colons between hex groups; this literal-led
# pattern skips times (12:30:45), MACs (5 colons) and "key: value" text at memchr speed.
_COLON_HEX = re.compile(r"::|:(?:[0-9A-Fa-f]{1,4}:){5}")
_IPV6_RUN = re.compile(r"[0-9A-Fa-f:.]+")
_HEX_OR_COLON = frozenset("0123456789abcdefABCDEF:")
_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")

# Confidence per entity: a checksum or a decoded header is near-certain; formats without a
# checksum (SSN, IP, phone) are less so, national phone formats least.
SCORES: dict[str, float] = {
    "PRIVATE_KEY": 1.0,
    "CREDIT_CARD": 1.0,
    "IBAN_CODE": 1.0,
    "JWT": 0.95,
    "AWS_ACCESS_KEY": 0.95,
    "GITHUB_TOKEN": 0.95,
    "EMAIL_ADDRESS": 0.9,
    "IP_ADDRESS": 0.85,
    "US_SSN": 0.85,
    "PHONE_NUMBER": 0.75,
}
_PHONE_NATIONAL_SCORE = 0.6
_PEM_UNTERMINATED_SCORE = 0.7


def _digit_count(s: str) -> int:
    return sum(c.isdigit() for c in s)


_NUMERIC_TYPES = ("CREDIT_CARD", "US_SSN", "IP_ADDRESS", "PHONE_NUMBER")


def numeric_finder(entities: frozenset[str]) -> FindFn:
    """A finder for the digit-shaped entities in ``entities`` in one scan of the shape.

    Credit cards (Luhn-valid, known brand, 13-19 digits with spaces, dashes or none), US
    SSNs (valid area/group/serial), IPv4 addresses (octets 0-255, never the port) and
    national phone numbers (US/UK/DE/FR/IN formats with their usual separators; a
    national number written as one unseparated run is not reported, since it cannot be
    told from an order number or a timestamp).

    >>> from detectors.pii.shape import text_shape
    >>> find = numeric_finder(frozenset(["CREDIT_CARD", "US_SSN", "IP_ADDRESS", "PHONE_NUMBER"]))
    >>> t = "card 4111-1111-1111-1111 (not 4111-1111-1111-1112), ssn 536-90-4399, 10.0.0.7:80"
    >>> out = []; find(t, text_shape(t), out); [(f.type, t[f.start:f.end]) for f in out]
    [('CREDIT_CARD', '4111-1111-1111-1111'), ('US_SSN', '536-90-4399'), ('IP_ADDRESS', '10.0.0.7')]
    """
    want_card = "CREDIT_CARD" in entities
    want_ssn = "US_SSN" in entities
    want_ip = "IP_ADDRESS" in entities
    want_phone = "PHONE_NUMBER" in entities
    card_score, ssn_score, ip_score = (
        SCORES["CREDIT_CARD"],
        SCORES["US_SSN"],
        SCORES["IP_ADDRESS"],
    )

    def find_numeric(text: str, shape: bytes, out: list[Finding]) -> None:
        if b"0" not in shape:
            return
        for m in _NUMERIC_SHAPE.finditer(shape):
            kind = m.lastgroup
            s, e = m.span()
            value = text[s:e]
            if kind == "CREDIT_CARD":
                if want_card and luhn_valid(value) and card_brand_valid(value):
                    out.append(Finding(kind, s, e, card_score))
            elif kind == "US_SSN":
                if want_ssn and ssn_valid(value):
                    out.append(Finding(kind, s, e, ssn_score))
            elif kind == "IPV4":
                if want_ip and ipv4_valid(value):
                    out.append(Finding("IP_ADDRESS", s, e, ip_score))
            elif (
                want_phone
                and _PHONE_NATIONAL_EXACT.fullmatch(value)
                and 9 <= _digit_count(value) <= 13
            ):
                out.append(Finding("PHONE_NUMBER", s, e, _PHONE_NATIONAL_SCORE))

    return find_numeric


def find_iban(text: str, shape: bytes, out: list[Finding]) -> None:
    """IBANs of a registered country and length with a valid mod-97 check.

    Grouping spaces are allowed. When the match runs past the country's length (a
    following upper-case word), the IBAN is cut at the group boundary where it ends.

    >>> from detectors.pii.shape import text_shape
    >>> t = "IBAN GB82 WEST 1234 5698 7654 32 THEN"; out = []
    >>> find_iban(t, text_shape(t), out); [t[f.start:f.end] for f in out]
    ['GB82 WEST 1234 5698 7654 32']
    """
    if b"0" not in shape or b"AA00" not in shape:
        return
    for m in _IBAN_SHAPE.finditer(shape):
        s, e = m.span()
        value = text[s:e]
        expected = IBAN_LENGTHS.get(value[:2])
        if expected is None:
            continue
        compact_len = len(value) - value.count(" ")
        if compact_len < expected:
            continue
        if compact_len > expected:
            # Walk to the end of the expected length; it must fall on a group boundary.
            seen = 0
            cut = 0
            for cut, ch in enumerate(value):  # noqa: B007 - cut is used after the loop
                if ch != " ":
                    seen += 1
                    if seen == expected:
                        break
            cut += 1
            if value[cut] != " ":
                continue
            value = value[:cut]
            e = s + cut
        if iban_valid(value):
            out.append(Finding("IBAN_CODE", s, e, SCORES["IBAN_CODE"]))


def find_ipv6(text: str, shape: bytes, out: list[Finding]) -> None:
    """IPv6 addresses, full, compressed or IPv4-embedded (IPv4 is in :func:`numeric_finder`).

    Never includes a port or the ``[]`` around an IPv6 literal. Anchored on ``:``; each
    character is examined at most twice, whatever the input.

    >>> t = "from [2001:db8::1]:443 or fe80::2ac5, not 12:30:45 or std::map"; out = []
    >>> find_ipv6(t, b"", out); [t[f.start:f.end] for f in out]
    ['2001:db8::1', 'fe80::2ac5']
    """
    if ":" not in text:
        return
    score = SCORES["IP_ADDRESS"]
    covered = 0
    for m in _COLON_HEX.finditer(text):
        colon = m.start()
        if colon < covered:
            continue
        start = colon
        floor = max(covered, colon - 45)
        while start > floor and text[start - 1] in _HEX_OR_COLON:
            start -= 1
        run = _IPV6_RUN.match(text, start)
        if run is None:  # pragma: no cover - the colon itself always matches
            continue
        end = covered = run.end()
        if end - start < 3:
            continue
        # A sentence may end right after the address: drop trailing '.' and a lone ':'.
        while end > start and text[end - 1] == ".":
            end -= 1
        if text[end - 1] == ":" and text[end - 2 : end] != "::":
            end -= 1
        if start > 0 and text[start - 1] in _WORD:
            continue
        if end < len(text) and text[end] in _WORD:
            continue
        if end - start <= 45 and ipv6_valid(text[start:end]):
            out.append(Finding("IP_ADDRESS", start, end, score))


def find_phone_international(text: str, shape: bytes, out: list[Finding]) -> None:
    """Phone numbers with a ``+`` country code (E.164 with separators and an optional
    ``(0)``), and US numbers with the area code in parentheses. National formats are in
    :func:`numeric_finder`.

    >>> from detectors.pii.shape import text_shape
    >>> t = "call +44 (0)20 7946 0958 or (212) 555-0147, PIN 4821, tz +02:00"; out = []
    >>> find_phone_international(t, text_shape(t), out); [t[f.start:f.end] for f in out]
    ['+44 (0)20 7946 0958', '(212) 555-0147']
    """
    if b"+" in shape:
        score = SCORES["PHONE_NUMBER"]
        for m in _PHONE_INTL_SHAPE.finditer(shape):
            s, e = m.span()
            value = text[s:e]
            digits = _digit_count(value.replace("(0)", ""))
            if value[1] != "0" and 8 <= digits <= 15:
                out.append(Finding("PHONE_NUMBER", s, e, score))
    if b"(" in shape:
        for m in _PHONE_PAREN_SHAPE.finditer(shape):
            s, e = m.span()
            if _PHONE_PAREN_EXACT.fullmatch(text, s, e):
                out.append(Finding("PHONE_NUMBER", s, e, _PHONE_NATIONAL_SCORE))


# National numbers as written outside North America: digit groups separated by spaces,
# dots, dashes or a slash, the first group possibly in parentheses, possibly after a
# trunk "8" (Russia), "00" + country code, and an extension ("ext. 204", "x123").
_PHONE_GROUPS_SHAPE = re.compile(
    rb"""(?<![0Aa_+\-./(,])
    (?:0[ ])?                                   # trunk "8 " before an area code
    (?:\(0{1,5}\)[ ]?|0{1,5})                    # first group, maybe "(030)"
    (?:(?:[ ]|[ ]?[.\-/][ ]?)0{1,8}){1,5}        # more groups
    (?:[ ]?(?:aaa\.?|a|Aaa\.?|\#)[ ]?0{1,5})?    # extension
    (?![0Aa_]|[.\-/,]0)""",
    _X,
)
_DIGIT_RUN = re.compile(r"\d+", re.ASCII)
_EXTENSION = re.compile(r"(?:\s*(?:ext\.?|x|Ext\.?|#)\s*\d{1,5})$", re.ASCII)
# Groupings that only phone numbers use (two-digit groups, 4-digit groups after a short
# area code): reported without a cue. The others need a phone word shortly before.
_PHONE_GROUPINGS = frozenset(
    {(3, 2, 2, 2), (2, 3, 2, 2), (3, 3, 2, 2), (2, 2, 2, 2, 2), (2, 4, 4), (3, 4, 4),
     (1, 3, 3, 4), (3, 3, 4), (2, 4, 2, 2), (2, 3, 4)}
)  # fmt: skip
_CUE_GROUPINGS = frozenset({(3, 3, 3), (4, 4), (4, 3, 3), (3, 4), (4, 3, 4), (4, 4, 4)})
_PHONE_CUE = re.compile(
    r"phone|tel\b|tel[:.]|telf|mobile|\bmob\b|\bcell|call|ring |reach|contact|number|\bno\.|"
    r"\bnr\b|whatsapp|\bsms\b|text me|\bfax|hotline|landline|handy|telefon|téléphone|"
    r"portable|numéro|número|numero|nummer|móvil|movil|celular|cellulare|fijo|llám|appel|"
    r"\bruf|zadzwo|puhelin|telefone|電話|电话|전화",
)


def _date_like(groups: list[str], seps: set[str]) -> bool:
    if len(groups) != 3 or not seps <= {".", "/", "-"}:
        return False
    a, b, c = (len(g) for g in groups)
    return (a <= 2 and b <= 2 and c in (2, 4)) or (a == 4 and b <= 2 and c <= 2)


def national_phone_valid(value: str, cue: bool) -> bool:
    """Whether a grouped digit sequence is a national phone number (see ``find_phone_national``).

    >>> [national_phone_valid(v, False) for v in ["06 12 34 56 78", "15.03.2024", "2019-2023"]]
    [True, False, False]
    >>> national_phone_valid("987 654 321", False), national_phone_valid("987 654 321", True)
    (False, True)
    """
    core = _EXTENSION.sub("", value)
    groups = _DIGIT_RUN.findall(core)
    digits = "".join(groups)
    n = len(digits)
    if len(groups) < 2 or not 8 <= n <= 15 or any(len(g) < 2 for g in groups[2:]):
        return False
    seps = set(re.sub(r"[\d()]", "", core).split()) | ({" "} if " " in core else set())
    if _date_like(groups, {x.strip() for x in seps if x.strip()} or {" "}):
        return False
    paren = "(" in core
    first = groups[0]
    if tuple(len(g) for g in groups) == (3, 2, 4) and "-" in core:
        return False  # the shape of a US SSN, valid or not
    if digits.startswith("00"):
        return n >= 11 and digits[2] != "0"
    if n > 13:
        return False
    if first == "8" and (paren or n == 11):  # Russian trunk prefix
        return n == 11
    if digits[0] == "0":
        return n >= 9 or (cue and n >= 8)
    if paren:
        return n >= 9
    lengths = tuple(len(g) for g in groups)
    if lengths in _PHONE_GROUPINGS and "." not in core:  # "746.74.37.71" is not a phone
        return True
    return cue and lengths in _CUE_GROUPINGS


def find_phone_national(text: str, shape: bytes, out: list[Finding]) -> None:
    """National phone numbers of European, Asian, African and Latin American formats.

    Trunk-prefixed numbers (``06 12 34 56 78``, ``030 12345678``, ``(02) 9876 5432``,
    ``8 (912) 345-67-89``), ``00`` + country code, parenthesised area codes
    (``(11) 91234-5678``), groupings only phones use (``612 34 56 78``, ``55 1234 5678``),
    and with a phone word shortly before (``call``, ``tel``, ``móvil``...) also groupings
    that numbers share (``987 654 321``). Extensions are kept in the span. Dates,
    versions, prices and order numbers are refused.

    >>> from detectors.pii.shape import text_shape
    >>> t = "Tel. 030 12345678, (11) 91234-5678, 0044 20 7946 0958 x12; due 15.03.2024, v1.2.3"
    >>> out = []; find_phone_national(t, text_shape(t), out); [t[f.start:f.end] for f in out]
    ['030 12345678', '(11) 91234-5678', '0044 20 7946 0958 x12']
    """
    if b"0" not in shape:
        return
    for m in _PHONE_GROUPS_SHAPE.finditer(shape):
        s, e = m.span()
        value = text[s:e]
        if not value[-1].isdigit() or (
            (not value.isascii() or any(c.isalpha() for c in value))
            and _EXTENSION.search(value) is None
        ):
            continue  # letters other than an extension marker ("ext.", "x")
        before = text[max(0, s - 40) : s]
        words = before.split()
        if words and words[-1][-1].isalnum() and any(c.isdigit() for c in words[-1]):
            continue  # the tail of a longer code ("1Z 999 AA1 01 2345 6784")
        if national_phone_valid(value, False) or (
            _PHONE_CUE.search(before.lower()) is not None and national_phone_valid(value, True)
        ):
            out.append(Finding("PHONE_NUMBER", s, e, _PHONE_NATIONAL_SCORE))


def find_email(text: str, shape: bytes, out: list[Finding]) -> None:
    """E-mail addresses: the address only, without ``<>``, ``mailto:`` or punctuation.

    >>> from detectors.pii.shape import text_shape
    >>> t = "mailto:Ana.B+x@mail.example.co.uk. @handle"; out = []
    >>> find_email(t, text_shape(t), out); [t[f.start:f.end] for f in out]
    ['Ana.B+x@mail.example.co.uk']
    """
    if "@" not in text:
        return
    score = SCORES["EMAIL_ADDRESS"]
    for m in _EMAIL_DOMAIN.finditer(text):
        at = m.start()
        floor = max(0, at - 65)
        # Match the local part backwards from '@': one anchored match on the reversed window.
        local = _EMAIL_LOCAL_REVERSED.match(text[floor:at][::-1])
        if local is None:
            continue
        if local.end() > 64:
            continue  # local part longer than 64 characters: not an address
        s = at - local.end()
        while s < at and text[s] == ".":
            s += 1
        if s == at or text[at - 1] == ".":
            continue
        out.append(Finding("EMAIL_ADDRESS", s, m.end(), score))


def find_aws_access_key(text: str, shape: bytes, out: list[Finding]) -> None:
    """AWS access key ids: ``AKIA`` and 16 upper-case letters or digits.

    >>> out = []; find_aws_access_key("id=AKIAIOSFODNN7EXAMPLE", b"", out); out[0].start
    3
    """
    if "K" not in text or "AKIA" not in text:  # one memchr first: 'K' is rare in prose
        return
    score = SCORES["AWS_ACCESS_KEY"]
    out.extend(Finding("AWS_ACCESS_KEY", *m.span(), score) for m in _AWS_KEY.finditer(text))


def find_github_token(text: str, shape: bytes, out: list[Finding]) -> None:
    """GitHub tokens: ``ghp_``/``gho_``/``ghs_``/``ghu_``/``ghr_`` + 36 letters/digits, and
    fine-grained ``github_pat_`` tokens.

    >>> out = []; find_github_token("t=ghp_" + "a1" * 18, b"", out); out[0].end
    42
    """
    if "_" not in text:
        return
    score = SCORES["GITHUB_TOKEN"]
    out.extend(Finding("GITHUB_TOKEN", *m.span(), score) for m in _GITHUB_TOKEN.finditer(text))


def find_jwt(text: str, shape: bytes, out: list[Finding]) -> None:
    """JSON Web Tokens: three base64url segments whose header decodes to a JSON object.

    >>> out = []; find_jwt("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", b"", out)
    >>> out[0].start, out[0].end
    (7, 48)
    """
    if "J" not in text or "eyJ" not in text:  # one memchr first: 'J' is rare in prose
        return
    score = SCORES["JWT"]
    for m in _JWT.finditer(text):
        if jwt_valid(m.group()):
            out.append(Finding("JWT", *m.span(), score))


def find_private_key(text: str, shape: bytes, out: list[Finding]) -> None:
    """PEM private-key blocks, ``-----BEGIN … PRIVATE KEY-----`` through the matching END line.

    Public keys and certificates are not reported. A block whose END line is missing (a
    truncated paste) is reported through its last base64 line, with a lower score.

    >>> t = "k:\\n-----BEGIN EC PRIVATE KEY-----\\nMHcCAQ==\\n-----END EC PRIVATE KEY-----\\nok"
    >>> out = []; find_private_key(t, b"", out); t[out[0].start:out[0].end].splitlines()[-1]
    '-----END EC PRIVATE KEY-----'
    """
    if "PRIVATE KEY" not in text:
        return
    pos = 0
    while True:
        begin = _PEM_BEGIN.search(text, pos)
        if begin is None:
            return
        label, block = begin.group(1), begin.group(2)
        limit = min(len(text), begin.end() + _PEM_MAX_BODY)
        next_begin = text.find("-----BEGIN ", begin.end(), limit)
        if next_begin != -1:
            limit = next_begin
        end = None
        for m in _PEM_END.finditer(text, begin.end(), limit):
            if m.group(1) == label and m.group(2) == block:
                end = m.end()
                break
        if end is not None:
            out.append(Finding("PRIVATE_KEY", begin.start(), end, SCORES["PRIVATE_KEY"]))
        else:
            body = _PEM_BODY.match(text, begin.end(), limit)
            end = body.end() if body else begin.end()
            while end > begin.end() and text[end - 1].isspace():
                end -= 1
            out.append(Finding("PRIVATE_KEY", begin.start(), end, _PEM_UNTERMINATED_SCORE))
        pos = end


def custom_recognizer(entity: str, pattern: str, score: float = 0.6) -> Recognizer:
    """A recognizer for a user-supplied regular expression (no prefilter, no validator).

    Raises ``ValueError`` naming the entity when the pattern does not compile. Empty
    matches are ignored. The pattern runs over the whole text: keep it linear.

    >>> rec = custom_recognizer("TICKET_ID", r"TCK-\\d{6}")
    >>> out = []; rec.find("see TCK-123456", b"", out); out
    [Finding(type='TICKET_ID', start=4, end=14, score=0.6)]
    """
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(
            f"custom PII pattern {entity!r} is not a valid Python regular expression "
            f"({exc}); fix it in pii.custom_patterns"
        ) from None

    def find(text: str, shape: bytes, out: list[Finding]) -> None:
        for m in compiled.finditer(text):
            s, e = m.span()
            if e > s:
                out.append(Finding(entity, s, e, score))

    return Recognizer(entity, find)


ENTITY_TYPES: tuple[str, ...] = (
    "PRIVATE_KEY",
    "JWT",
    "AWS_ACCESS_KEY",
    "GITHUB_TOKEN",
    "EMAIL_ADDRESS",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
    "PHONE_NUMBER",
    "PERSON",
    "LOCATION",
)

_SINGLE_FINDERS: tuple[tuple[str, FindFn], ...] = (
    ("PRIVATE_KEY", find_private_key),
    ("JWT", find_jwt),
    ("AWS_ACCESS_KEY", find_aws_access_key),
    ("GITHUB_TOKEN", find_github_token),
    ("EMAIL_ADDRESS", find_email),
    ("IBAN_CODE", find_iban),
    ("IP_ADDRESS", find_ipv6),
    ("PHONE_NUMBER", find_phone_international),
    ("PHONE_NUMBER", find_phone_national),
)


def builtin_recognizers(entities: frozenset[str]) -> list[Recognizer]:
    """The recognizers that together find ``entities`` (a subset of :data:`ENTITY_TYPES`).

    The digit-shaped entities share one scan, so their recognizer is labelled ``NUMERIC``.

    >>> [r.entity for r in builtin_recognizers(frozenset(["US_SSN", "JWT"]))]
    ['JWT', 'NUMERIC']
    """
    recognizers = [Recognizer(name, find) for name, find in _SINGLE_FINDERS if name in entities]
    numeric = entities & frozenset(_NUMERIC_TYPES)
    if numeric:
        recognizers.append(Recognizer("NUMERIC", numeric_finder(numeric)))
    return recognizers
