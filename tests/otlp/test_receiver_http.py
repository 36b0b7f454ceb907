"""The receiver over HTTP: bad requests get a 400 with the reason, the server keeps going."""

from __future__ import annotations

import gzip
import json

import httpx

from tests.otlp.conftest import Receiver


def test_malformed_requests_get_400_with_the_reason(receiver: Receiver) -> None:
    url = receiver.url + "/v1/traces"
    r = httpx.post(url, content=b"\x0a\xff\xff", headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 400 and "not a valid OTLP traces protobuf" in r.json()["error"]
    r = httpx.post(url, content=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 400 and "unsupported Content-Type" in r.json()["error"]
    r = httpx.post(
        url,
        content=b'{"resourceSpans": [{"scopeSpans": "x"}]}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400
    # and a good gzip JSON request right after is taken
    body = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "ab" * 16,
                                "spanId": "cd" * 8,
                                "startTimeUnixNano": "1767225600000000000",
                                "endTimeUnixNano": "1767225600100000000",
                                "attributes": [
                                    {"key": "gen_ai.request.model", "value": {"stringValue": "m"}},
                                    {
                                        "key": "gen_ai.completion.0.content",
                                        "value": {"stringValue": "a"},
                                    },
                                ],
                            }
                        ]
                    }
                ]
            }
        ]
    }
    r = httpx.post(
        url,
        content=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert r.status_code == 200 and r.json() == {}
    assert [e["model"] for e in receiver.events] == ["m"]
    stats = httpx.get(receiver.url + "/tocsin/otlp/status").json()
    assert stats["bad_requests"] == 3 and stats["events"] == 1
