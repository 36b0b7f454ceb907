"""Edges of the command line: an SDK-only install, workers that do not answer `status`."""

from __future__ import annotations

import http.server
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tocsin.runtime.stack import Stack
from tocsin.settings import Settings


def test_the_console_script_names_the_missing_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tocsin import entry

    monkeypatch.setitem(sys.modules, "tocsin.cli", None)  # as if typer were not installed
    with pytest.raises(SystemExit) as info:
        entry.main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "needs the pipeline extra" in err and "pip install 'tocsin[pipeline,cpu]'" in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def garbage_server() -> Iterator[int]:
    class Garbage(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"\x00not json")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()


def test_status_reports_workers_that_do_not_answer_instead_of_failing(
    tmp_path: Path, garbage_server: int
) -> None:
    stack = Stack(Settings(home=tmp_path / "home"))
    status = {
        "workers": {
            "worker-0": {"web_port": _free_port()},  # nothing listens
            "worker-1": {"web_port": garbage_server},  # answers, but not JSON
            "worker-2": {"web_port": _free_port()},  # dead: not asked at all
        },
        "alive": {"worker-0": True, "worker-1": True, "worker-2": False},
    }
    metrics = stack.worker_metrics(status, timeout=0.5)
    assert set(metrics) == {"worker-0", "worker-1"}
    assert all("status endpoint did not answer" in m["error"] for m in metrics.values())
