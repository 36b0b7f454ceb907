"""Local stand-ins for Slack, PagerDuty and a webhook: for tests and for `tocsin demo`.

One threaded HTTP server on 127.0.0.1 serves three paths, each applying the real service's
payload rules and answering as it does:

- ``POST /slack/<token>``: Slack incoming webhook. ``200 ok``; ``400 invalid_payload``
  (or ``no_text``) when the Block Kit limits are broken (:func:`sinks.slack.check_message`);
  ``404 no_service`` for a wrong token.
- ``POST /pagerduty/v2/enqueue``: PagerDuty Events API v2. ``202 {"status": "success",
  "message": "Event processed", "dedup_key": ...}``; ``400 {"status": "invalid event",
  "errors": [...]}`` (:func:`sinks.pagerduty.check_event`).
- ``POST /webhook``: any JSON object, ``200``.

``fail_first`` makes the first N requests of a path answer ``429`` (with ``Retry-After``) or
``500``, as the issue's acceptance test asks. Every request, accepted or not, is kept in
``requests`` for assertions; ``on_request`` sees accepted ones (the demo prints them).

Example
-------
>>> import httpx
>>> with FakeReceivers() as fake:
...     r = httpx.post(fake.slack_url, json={"text": "hello"})
...     r.status_code, r.text, len(fake.accepted("slack"))
(200, 'ok', 1)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sinks.pagerduty import check_event
from sinks.slack import check_message

SLACK_TOKEN = "T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"


@dataclass
class Received:
    """One request the fake answered."""

    service: str  # slack | pagerduty | webhook
    status: int
    body: Any
    headers: dict[str, str]
    problems: list[str] = field(default_factory=list)


class FakeReceivers:
    """Fake Slack + PagerDuty + webhook on one local port (see the module docstring).

    Parameters
    ----------
    fail_first : dict[str, tuple[int, ...]]
        Per service, the statuses of its first requests (``{"pagerduty": (429,),
        "slack": (500,)}``): then it answers normally.
    retry_after_s : int
        ``Retry-After`` of a 429.
    on_request : callable | None
        Called with each accepted :class:`Received` (in the server's thread).
    """

    def __init__(
        self,
        fail_first: dict[str, tuple[int, ...]] | None = None,
        retry_after_s: int = 1,
        on_request: Callable[[Received], None] | None = None,
    ) -> None:
        self.fail_first = {k: list(v) for k, v in (fail_first or {}).items()}
        self.retry_after_s = retry_after_s
        self.on_request = on_request
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="tocsin-fake-receivers", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def slack_url(self) -> str:
        return f"{self.base_url}/slack/{SLACK_TOKEN}"

    @property
    def pagerduty_url(self) -> str:
        return f"{self.base_url}/pagerduty/v2/enqueue"

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/webhook"

    def accepted(self, service: str) -> list[Received]:
        """Requests of ``service`` that were answered with success."""
        with self._lock:
            return [r for r in self.requests if r.service == service and r.status < 300]

    def start(self) -> FakeReceivers:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeReceivers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(
        self, service: str, body: Any, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            scripted = self.fail_first.get(service)
            forced = scripted.pop(0) if scripted else None
        if forced is not None:
            extra = {"Retry-After": str(self.retry_after_s)} if forced == 429 else {}
            text = {"slack": b"rate_limited", "pagerduty": b'{"status":"throttle event"}'}
            return forced, extra, text.get(service, b"busy") if forced == 429 else b"server error"
        if service == "slack":
            problems = check_message(body)
            if problems:
                msg = b"no_text" if problems == ["no_text"] else b"invalid_payload"
                return 400, {}, msg
            return 200, {}, b"ok"
        if service == "pagerduty":
            problems = check_event(body)
            if problems:
                doc = {
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": problems,
                }
                return 400, {}, json.dumps(doc).encode()
            doc = {
                "status": "success",
                "message": "Event processed",
                "dedup_key": body.get("dedup_key"),
            }
            return 202, {}, json.dumps(doc).encode()
        return 200, {}, b"{}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: tests and the demo print what they need

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                path = self.path
                if path.startswith("/slack/"):
                    service = "slack"
                elif path == "/pagerduty/v2/enqueue":
                    service = "pagerduty"
                elif path == "/webhook":
                    service = "webhook"
                else:
                    self._send(404, {}, b"no_service")
                    return
                if service == "slack" and path != f"/slack/{SLACK_TOKEN}":
                    with fake._lock:
                        fake.requests.append(Received(service, 404, None, dict(self.headers)))
                    self._send(404, {}, b"no_service")
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    status, out = 400, b"invalid_payload"
                    extra: dict[str, str] = {}
                    body = None
                else:
                    status, extra, out = fake._answer(service, body, dict(self.headers))
                rec = Received(service, status, body, dict(self.headers))
                if status == 400:
                    rec.problems = [out.decode(errors="replace")]
                with fake._lock:
                    fake.requests.append(rec)
                self._send(status, extra, out)
                if status < 300 and fake.on_request is not None:
                    fake.on_request(rec)

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                ctype = "application/json" if body[:1] in (b"{", b"[") else "text/plain"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
