"""A local fake of OpenAI's chat completions API that checks what real clients send.

``POST /v1/chat/completions`` requires a bearer token, a JSON body with ``model`` and a
non-empty ``messages`` list whose items have a ``role`` among OpenAI's and a ``content``;
it answers like the real API (``chat.completion`` with ``usage``). The model ``broken``
answers 500 as an overloaded server does; a malformed request gets OpenAI's 400 error body.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ROLES = {"system", "developer", "user", "assistant", "tool"}
ANSWER = "Sure. I have noted your address jane.doe@example.com and will write back."


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI  # type: ignore[assignment]

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str) -> None:
        self._reply(
            status, {"error": {"message": message, "type": kind, "param": None, "code": None}}
        )

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self._error(
                404, f"Unknown request URL: POST {self.path}", "invalid_request_error"
            )
        if not self.headers.get("Authorization", "").startswith("Bearer "):
            return self._error(401, "You didn't provide an API key.", "invalid_request_error")
        try:
            body = json.loads(raw)
        except ValueError:
            return self._error(
                400, "We could not parse the JSON body of your request.", "invalid_request_error"
            )
        messages = body.get("messages")
        if not isinstance(body.get("model"), str) or not isinstance(messages, list) or not messages:
            return self._error(
                400, "'model' and a non-empty 'messages' are required", "invalid_request_error"
            )
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in ROLES or "content" not in m:
                return self._error(400, f"Invalid message: {m!r}", "invalid_request_error")
        self.server.requests.append(body)
        if body["model"] == "broken":
            return self._error(500, "The server is overloaded.", "server_error")
        prompt_tokens = sum(len(str(m["content"]).split()) for m in messages)
        completion_tokens = len(ANSWER.split())
        self._reply(
            200,
            {
                "id": f"chatcmpl-{len(self.server.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": f"{body['model']}-2024-07-18",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": ANSWER, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
        )


class FakeOpenAI(ThreadingHTTPServer):
    """The fake API on a free 127.0.0.1 port; ``base_url`` is what clients use."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
