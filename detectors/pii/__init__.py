"""PII and secret detection and redaction, as a pure library (no I/O).

``PiiDetector`` finds e-mail addresses, phone numbers, card numbers (Luhn), IBANs
(mod-97), US SSNs, IPv4/IPv6 addresses, AWS access keys, GitHub tokens, JWTs and PEM
private keys, resolves overlaps, and redacts by replacement, keyed hash or removal.

Examples
--------
>>> from detectors.pii import PiiDetector
>>> PiiDetector().redact("card 4111 1111 1111 1111, ssn 536-90-4399").text
'card <CREDIT_CARD>, ssn <US_SSN>'
"""

from detectors.pii.detector import DEFAULT_HMAC_KEY, PiiConfig, PiiDetector
from detectors.pii.findings import BatchRedaction, Finding, RedactionResult, count_types
from detectors.pii.recognizers import ENTITY_TYPES
from detectors.pii.redact import REDACTION_MODES, hash_token

__all__ = [
    "DEFAULT_HMAC_KEY",
    "ENTITY_TYPES",
    "REDACTION_MODES",
    "BatchRedaction",
    "Finding",
    "PiiConfig",
    "PiiDetector",
    "RedactionResult",
    "count_types",
    "hash_token",
]
