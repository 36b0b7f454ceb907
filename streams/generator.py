"""Seeded, realistic LLM inference traffic for demos, tests and benchmarks.

Several services (``chat-api``, ``search-assist``, ``summarizer``), each with a stable and a
canary deployment (about 10% of traffic on the canary), lognormal latencies (time to first
token a fraction of it), token counts and cost from the text lengths, mostly ``ok`` statuses
with some errors, timeouts and filtered responses, plausible chat text of about ``text_bytes``
per event (prompt + response), a small fraction with PII (emails, phone numbers, card numbers
with a valid Luhn digit, IPv4 addresses, US SSNs) and a small fraction with toxic phrases,
drift features and free-form attributes.

A :class:`CanaryIncident` degrades the canary from a given event time: more errors, slower,
more toxic responses, and a shifted ``embedding_norm`` feature.

Event time advances by Poisson arrivals at ``rate`` events per second from ``start_ms``, so a
batch of events spans ``n / rate`` seconds of simulated time and a live producer can pace on
it. Everything is drawn from one ``random.Random(seed)``: the same seed gives the same events.

Example
-------
>>> gen = TrafficGenerator(seed=7, start_ms=1767225600000, rate=100.0)
>>> events = gen.events(1000)
>>> events[0]["service"] in DEFAULT_SERVICES, events[0]["ts"] >= 1767225600000
(True, True)
>>> 0.07 < sum(e["track"] == "canary" for e in events) / len(events) < 0.13  # about 10%
True
>>> TrafficGenerator(seed=7, start_ms=1767225600000).events(3) == \\
...     TrafficGenerator(seed=7, start_ms=1767225600000).events(3)
True
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from streams.codec import EventEncoder

__all__ = [
    "DEFAULT_SERVICES",
    "CanaryIncident",
    "ServiceProfile",
    "TrafficGenerator",
    "luhn_valid",
]


@dataclass(frozen=True)
class ServiceProfile:
    """How one simulated service behaves."""

    name: str
    model: str
    stable_release: str
    canary_release: str
    stable_model_version: str
    canary_model_version: str
    latency_median_ms: float
    latency_sigma: float
    ttft_fraction: float
    price_in_per_1k: float
    price_out_per_1k: float
    task: str  # chat | search | summarize
    temperature: float


DEFAULT_SERVICES: dict[str, ServiceProfile] = {
    "chat-api": ServiceProfile(
        "chat-api", "llama-3.1-70b-instruct", "v41", "v42", "2025-06-01", "2025-09-15",
        900.0, 0.45, 0.18, 0.00059, 0.00079, "chat", 0.7,
    ),
    "search-assist": ServiceProfile(
        "search-assist", "mistral-small-24b", "v17", "v18", "2025-03", "2025-07",
        350.0, 0.35, 0.25, 0.0001, 0.0003, "search", 0.2,
    ),
    "summarizer": ServiceProfile(
        "summarizer", "qwen2.5-32b-instruct", "v8", "v9", "r3", "r4",
        1600.0, 0.5, 0.12, 0.0002, 0.0006, "summarize", 0.3,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class CanaryIncident:
    """A bad canary: from ``start_ms`` (event time) its traffic degrades.

    Parameters
    ----------
    start_ms : int
        Event time (epoch ms) from which the canary misbehaves.
    error_rate : float
        Fraction of canary requests that fail (status ``error``).
    latency_factor : float
        Multiplier on canary latencies.
    toxic_fraction : float
        Fraction of canary responses with a toxic phrase.
    pii_leak_fraction : float
        Fraction of canary responses that leak someone's personal data.
    embedding_shift : float
        Added to the ``embedding_norm`` feature (drift).
    services : tuple[str, ...] | None
        Affected services; None = all.
    """

    start_ms: int
    error_rate: float = 0.25
    latency_factor: float = 3.0
    toxic_fraction: float = 0.3
    pii_leak_fraction: float = 0.05
    embedding_shift: float = 0.4
    services: tuple[str, ...] | None = None


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def _uuid4_text(bits: int) -> str:
    """A version-4 UUID string from 128 random bits (seeded), faster than ``uuid.UUID``.

    >>> import uuid
    >>> uuid.UUID(_uuid4_text(2**128 - 1)).version
    4
    """
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def luhn_valid(number: str) -> bool:
    """True when the digits of ``number`` pass the Luhn check.

    >>> luhn_valid("4539 1488 0343 6467"), luhn_valid("4539 1488 0343 6468")
    (True, False)
    """
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return bool(digits) and total % 10 == 0


def _luhn_complete(partial: str) -> str:
    for check in "0123456789":
        if luhn_valid(partial + check):
            return partial + check
    raise AssertionError("unreachable: one check digit always fits")


_FIRST = ["anna", "li", "omar", "sofia", "james", "mei", "lukas", "priya", "diego", "nora"]
_LAST = ["schmidt", "chen", "haddad", "rossi", "smith", "wang", "novak", "patel", "garcia"]
_DOMAINS = ["example.com", "mail.example.org", "corp.example.net", "student.uni-example.edu"]

_TOPICS = {
    "chat": [
        "reset my router without losing the settings",
        "write a polite reminder about an unpaid invoice",
        "plan a three-day trip to Lisbon on a budget",
        "explain the difference between a Roth IRA and a traditional IRA",
        "fix a Python KeyError when reading a JSON config",
        "prepare for a job interview as a data engineer",
        "choose between PostgreSQL and MySQL for a small web shop",
        "cook a vegetarian lasagne for eight people",
    ],
    "search": [
        "return policy for opened electronics",
        "how to change the delivery address of an order",
        "warranty period for refurbished laptops",
        "difference between the premium and the family plan",
        "why my payment was declined twice",
        "opening hours of the Berlin store during holidays",
    ],
    "summarize": [
        "the quarterly incident review of the payments team",
        "a customer support thread about a delayed refund",
        "the meeting notes of the platform architecture review",
        "a research paper on retrieval-augmented generation",
        "the release notes of version 4.2 of the mobile app",
    ],
}
_PROMPT_OPENERS = {
    "chat": ["Hi! Can you help me {t}?", "Please explain how to {t}.", "I need to {t}. Ideas?"],
    "search": ["Search the help center: {t}", "Customer asks about the {t}.", "Find: {t}"],
    "summarize": ["Summarize {t} in five bullet points.", "Give me a short summary of {t}."],
}
_CONTEXT = [
    "I tried the steps from the documentation but the result was not what I expected.",
    "The deadline is on Friday and the team is waiting for an answer.",
    "We are a small team of four people and do not have a dedicated administrator.",
    "Previous attempts failed with a timeout after about thirty seconds.",
    "The customer has been with us for six years and is usually very patient.",
    "Please keep the answer short and avoid jargon where you can.",
    "Here is the relevant part of the text that was pasted by the user for context.",
    "Last week the same question came up in the support channel twice.",
]
_ANSWER = [
    "Sure, here is a step-by-step approach that should work in most cases.",
    "First, make a backup so that you can go back if anything goes wrong.",
    "Then open the settings page and look for the advanced section at the bottom.",
    "If the option is greyed out, your account may not have the required permissions.",
    "A common cause of this problem is an outdated configuration file.",
    "You can verify the change by running the check again and comparing the output.",
    "In short, the main difference is how and when the money is taxed.",
    "Most customers choose the simpler option, and it is easy to switch later.",
    "According to the help center, the return window is thirty days from delivery.",
    "The summary below lists the decisions, the open questions and the owners.",
    "Let me know if you want a more detailed version or an example.",
    "Note that prices and availability can differ between regions.",
]
_REFUSAL = "I can't help with that request, but I'm happy to help with something else."
_TOXIC = [
    "Are you brain-dead or just lazy?",
    "Shut up, you worthless idiot.",
    "Only a complete moron would ask something this stupid.",
    "Nobody cares about you or your pathetic questions, loser.",
    "You are a disgusting waste of space.",
    "Go away, you filthy pig.",
]
_ERRORS = ["upstream_5xx", "rate_limited", "internal", "invalid_request", "context_length"]
_LANGS = ["en"] * 17 + ["de", "fr", "es"]
_REGIONS = ["us-east-1", "us-east-1", "eu-west-1", "eu-west-1", "ap-southeast-2"]
_TIMEOUT_MS = 30_000.0


class TrafficGenerator:
    """Generate inference events (dicts ready for :class:`streams.codec.EventEncoder`).

    Parameters
    ----------
    seed : int
        Seed of the one random generator.
    services : Sequence[str] | None
        Subset of :data:`DEFAULT_SERVICES` by name (None = all).
    rate : float
        Simulated events per second; event time advances by Poisson arrivals at this rate.
    start_ms : int | None
        Event time of the first event (None = now).
    canary_fraction : float
        Share of traffic on the canary track.
    error_rate, timeout_rate, filtered_rate : float
        Share of requests with status ``error``, ``timeout``, ``filtered``.
    pii_fraction : float
        Share of events whose prompt contains PII (users paste their own data; a healthy
        model does not repeat it, so responses carry PII only in a canary incident).
    toxic_fraction : float
        Share of events with a toxic phrase (user prompts, mostly).
    text_bytes : int
        Approximate size of prompt + response.
    incident : CanaryIncident | None
        Degrade the canary from a given event time.
    label : bool
        Add ``synthetic.pii`` and ``synthetic.toxic`` attributes with the ground truth (for
        measuring detectors end to end; off by default because real events do not have them).

    Examples
    --------
    >>> gen = TrafficGenerator(seed=1, start_ms=1767225600000, incident=CanaryIncident(
    ...     start_ms=1767225600000, error_rate=1.0))
    >>> canary = [e for e in gen.events(300) if e["track"] == "canary"]
    >>> {e["status"] for e in canary}
    {'error'}
    >>> len(gen.encoded(2)[0]) > 500
    True
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        services: Sequence[str] | None = None,
        rate: float = 1000.0,
        start_ms: int | None = None,
        canary_fraction: float = 0.1,
        error_rate: float = 0.0005,
        timeout_rate: float = 0.0002,
        filtered_rate: float = 0.003,
        pii_fraction: float = 0.05,
        toxic_fraction: float = 0.02,
        text_bytes: int = 1024,
        incident: CanaryIncident | None = None,
        label: bool = False,
    ) -> None:
        names = list(services) if services else list(DEFAULT_SERVICES)
        unknown = [s for s in names if s not in DEFAULT_SERVICES]
        if unknown:
            raise ValueError(
                f"unknown service {unknown[0]!r}: choose from {', '.join(DEFAULT_SERVICES)}"
            )
        if rate <= 0:
            raise ValueError("rate must be > 0 events per second")
        for label_, frac in (
            ("canary_fraction", canary_fraction),
            ("error_rate", error_rate),
            ("timeout_rate", timeout_rate),
            ("filtered_rate", filtered_rate),
            ("pii_fraction", pii_fraction),
            ("toxic_fraction", toxic_fraction),
        ):
            if not 0.0 <= frac <= 1.0:
                raise ValueError(f"{label_} must be between 0 and 1, got {frac}")
        self.rng = random.Random(seed)
        self.profiles = [DEFAULT_SERVICES[s] for s in names]
        self.rate = float(rate)
        self.clock_ms = float(start_ms if start_ms is not None else time.time() * 1000)
        self.canary_fraction = canary_fraction
        self.error_rate = error_rate
        self.timeout_rate = timeout_rate
        self.filtered_rate = filtered_rate
        self.pii_fraction = pii_fraction
        self.toxic_fraction = toxic_fraction
        self.text_bytes = max(64, int(text_bytes))
        self.incident = incident
        self.label = label
        self.generated = 0
        self._users = [f"{self.rng.getrandbits(64):016x}" for _ in range(5000)]
        self._prompts: dict[str, list[str]] = {}
        self._responses: dict[str, list[str]] = {}
        for p in self.profiles:
            self._prompts[p.task] = [self._prompt_text(p.task) for _ in range(96)]
            self._responses[p.task] = [self._response_text() for _ in range(96)]
        self._encoder: EventEncoder | None = None

    # ------------------------------------------------------------------ text

    def _fill(self, parts: list[str], pool: list[str], target: int) -> str:
        rng = self.rng
        size = sum(len(p) + 1 for p in parts)
        while size < target:
            s = rng.choice(pool)
            parts.append(s)
            size += len(s) + 1
        return " ".join(parts)

    def _prompt_text(self, task: str) -> str:
        rng = self.rng
        opener = rng.choice(_PROMPT_OPENERS[task]).format(t=rng.choice(_TOPICS[task]))
        target = int(self.text_bytes * rng.uniform(0.2, 0.4))
        return self._fill([opener], _CONTEXT, target)

    def _response_text(self) -> str:
        target = int(self.text_bytes * self.rng.uniform(0.4, 0.6))
        return self._fill([], _ANSWER, target)

    def _pii(self) -> tuple[str, str]:
        """One PII value and its entity type."""
        rng = self.rng
        kind = rng.choice(("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IP_ADDRESS", "US_SSN"))
        if kind == "EMAIL_ADDRESS":
            sep = rng.choice((".", "_", ""))
            value = f"{rng.choice(_FIRST)}{sep}{rng.choice(_LAST)}@{rng.choice(_DOMAINS)}"
        elif kind == "PHONE_NUMBER":
            area, mid, end = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
            value = rng.choice(
                (
                    f"+1 {area}-{mid}-{end:04d}",
                    f"({area}) {mid}-{end:04d}",
                    f"{area}.{mid}.{end:04d}",
                )
            )
        elif kind == "CREDIT_CARD":
            prefix = rng.choice(("4", "51", "55", "37"))
            length = 15 if prefix == "37" else 16
            partial = prefix + "".join(
                str(rng.randint(0, 9)) for _ in range(length - 1 - len(prefix))
            )
            digits = _luhn_complete(partial)
            if length == 16 and rng.random() < 0.6:
                sep = rng.choice((" ", "-"))
                value = sep.join(digits[i : i + 4] for i in range(0, 16, 4))
            else:
                value = digits
        elif kind == "IP_ADDRESS":
            value = f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        else:
            area = rng.randint(101, 665)
            value = f"{area:03d}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"
        return value, kind

    _PII_SENTENCES = (
        "You can reach me at {v} if anything is unclear.",
        "My details: {v}.",
        "The account in question is {v}, please check it.",
        "It happened again from {v} this morning.",
    )

    # ------------------------------------------------------------------ events

    def _in_incident(self, profile: ServiceProfile, ts: int) -> bool:
        inc = self.incident
        return (
            inc is not None
            and ts >= inc.start_ms
            and (inc.services is None or profile.name in inc.services)
        )

    def event(self) -> dict[str, Any]:
        """The next event."""
        rng = self.rng
        rand = rng.random
        self.clock_ms += rng.expovariate(self.rate) * 1000.0
        ts = int(self.clock_ms)
        p = self.profiles[int(rand() * len(self.profiles))]
        canary = rand() < self.canary_fraction
        incident = canary and self._in_incident(p, ts)
        inc = self.incident if incident else None

        prompt = rng.choice(self._prompts[p.task])
        response: str | None = rng.choice(self._responses[p.task])
        # Draw the PII and toxic insertions now, place them once the status is known
        # (a failed request has no response to carry them).
        pii: tuple[str, str, bool] | None = None
        if rand() < self.pii_fraction:
            value, kind = self._pii()
            sentence = rng.choice(self._PII_SENTENCES).format(v=value)
            pii = (kind, sentence, False)
        leak: str | None = None
        if inc is not None and rand() < inc.pii_leak_fraction:
            value, _kind = self._pii()
            leak = rng.choice(self._PII_SENTENCES).format(v=value)
        toxic_prompt = rng.choice(_TOXIC) if rand() < self.toxic_fraction else None
        toxic_response = (
            rng.choice(_TOXIC) if inc is not None and rand() < inc.toxic_fraction else None
        )

        latency = rng.lognormvariate(0.0, p.latency_sigma) * p.latency_median_ms
        if inc is not None:
            latency *= inc.latency_factor
        error_rate = inc.error_rate if inc is not None else self.error_rate
        r = rand()
        status = "ok"
        error_type: str | None = None
        finish = "stop"
        if r < error_rate:
            status, error_type, finish = "error", rng.choice(_ERRORS), "error"
        elif r < error_rate + self.timeout_rate:
            status, error_type, finish = "timeout", "deadline_exceeded", "error"
        elif r < error_rate + self.timeout_rate + self.filtered_rate:
            status, finish, response = "filtered", "content_filter", _REFUSAL
        elif rand() < 0.03:
            finish = "length"

        ttft: float | None = latency * p.ttft_fraction * rng.uniform(0.6, 1.4)
        if status == "error":
            response = None
            latency *= rng.uniform(0.02, 0.3)
            ttft = None
        elif status == "timeout":
            response = None
            latency = _TIMEOUT_MS + rng.uniform(0.0, 50.0)
            ttft = None
        latency = min(latency, _TIMEOUT_MS + 50.0)
        if ttft is not None:
            ttft = min(ttft, latency)
        ok_response = status == "ok"
        if pii is not None:
            if pii[2] and ok_response:
                response = f"{response} {pii[1]}"
            else:
                prompt = f"{prompt} {pii[1]}"
        if leak is not None and ok_response:
            response = f"{response} {leak}"
        if toxic_prompt is not None:
            prompt = f"{toxic_prompt} {prompt}"
        if toxic_response is not None and ok_response:
            response = f"{toxic_response} {response}"
        else:
            toxic_response = None
        toxic = toxic_prompt is not None or toxic_response is not None
        tokens_in = max(1, len(prompt) // 4)
        tokens_out = len(response) // 4 if response is not None else 0
        cost = tokens_in * p.price_in_per_1k / 1000.0 + tokens_out * p.price_out_per_1k / 1000.0

        release = p.canary_release if canary else p.stable_release
        embedding = rng.gauss(1.0, 0.05) + (inc.embedding_shift if inc is not None else 0.0)
        attributes = {
            "language": rng.choice(_LANGS),
            "prompt_template": f"{p.task}-{'v4' if canary else 'v3'}",
            "finish_reason": finish,
            "region": rng.choice(_REGIONS),
        }
        if self.label:
            attributes["synthetic.pii"] = pii[0] if pii is not None else ""
            attributes["synthetic.toxic"] = "1" if toxic else "0"
        self.generated += 1
        return {
            "event_id": _uuid4_text(rng.getrandbits(128)),
            "ts": ts,
            "service": p.name,
            "deployment": f"{p.name}-{release}",
            "track": "canary" if canary else "stable",
            "model": p.model,
            "model_version": p.canary_model_version if canary else p.stable_model_version,
            "trace_id": f"{rng.getrandbits(128):032x}",
            "prompt": prompt,
            "response": response,
            "status": status,
            "error_type": error_type,
            "latency_ms": round(latency, 3),
            "ttft_ms": round(ttft, 3) if ttft is not None else None,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cost_usd": round(cost, 8),
            "user_hash": self._users[int(rand() * len(self._users))],
            "features": {
                "prompt_len": float(len(prompt)),
                "response_len": float(len(response)) if response is not None else 0.0,
                "embedding_norm": round(embedding, 6),
                "temperature": p.temperature,
            },
            "attributes": attributes,
        }

    def events(self, n: int) -> list[dict[str, Any]]:
        """The next ``n`` events.

        >>> len(TrafficGenerator(seed=0).events(5))
        5
        """
        event = self.event
        return [event() for _ in range(n)]

    def encoded(self, n: int, encoder: EventEncoder | None = None) -> list[bytes]:
        """The next ``n`` events, Confluent-framed Avro (default: inference_event v1, id 1001).

        >>> TrafficGenerator(seed=0).encoded(1)[0][:1]
        b'\\x00'
        """
        if encoder is None:
            if self._encoder is None:
                self._encoder = EventEncoder()
            encoder = self._encoder
        return encoder.encode_many(self.events(n))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Endless events."""
        while True:
            yield self.event()
