"""Supervise the embedded noida-db Kafka broker.

We run the broker binary shipped in the ``noida-db`` wheel, never its Python launcher: the
launcher does not pass signals on, so stopping it orphans the broker (STACK.md). The binary
gets its own session (it outlives a crashed parent, which is what ``tocsin up --detach``
wants), listens on 127.0.0.1 only, keeps its state in ``data_dir`` and stops cleanly on
SIGTERM (it writes its state first; allow seconds when much is retained).

Durability caveat: the broker snapshots its state after a short debounce, so a SIGKILL of the
broker can lose the last ~2 s of acknowledged messages. A clean stop loses nothing.

Example
-------
>>> import tempfile
>>> with EmbeddedBroker(Path(tempfile.mkdtemp())) as broker:   # doctest: +SKIP
...     print(broker.bootstrap_servers)
127.0.0.1:...
"""

from __future__ import annotations

import subprocess
import time
from importlib.resources import files
from pathlib import Path
from types import TracebackType

from streams.topics import broker_ready
from tocsin.runtime.processes import LOCALHOST, free_port, pid_alive, port_open, stop_pid, tail

BROKER_TOKEN = "noida-db"


class BrokerError(RuntimeError):
    """The broker did not start or answer; the message says why and where its log is."""


def noida_binary() -> Path:
    """Path of the noida-db broker binary inside the installed wheel.

    >>> noida_binary().name
    'noida-db'
    """
    path = Path(str(files("noida_db") / "noida-db"))
    if not path.is_file():
        raise BrokerError(
            f"noida-db binary not found at {path}: install it with `pip install 'noida-db>=0.2.3'`"
        )
    return path


def broker_cmdline_tokens(data_dir: Path) -> tuple[str, ...]:
    """Tokens that identify our broker process in ``/proc/<pid>/cmdline``."""
    return (BROKER_TOKEN, str(data_dir))


class EmbeddedBroker:
    """One noida-db broker process (Kafka protocol only) on 127.0.0.1.

    Parameters
    ----------
    data_dir
        Where the broker keeps its state (``kafka.json``); reuse it to keep topics and
        offsets across restarts.
    port
        Kafka port; 0 picks a free one. Reuse the old port on restart so clients that
        cached the address reconnect.
    log_path
        Where the broker's stdout and stderr go (default ``data_dir/broker.log``).
    """

    def __init__(self, data_dir: Path, port: int = 0, log_path: Path | None = None) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.port = port or free_port()
        self.log_path = log_path or self.data_dir / "broker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"{LOCALHOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's pid once started."""
        return self.proc.pid if self.proc else None

    def command(self) -> list[str]:
        """The command line that starts the broker binary in the foreground."""
        return [
            str(noida_binary()),
            "start",
            "--only",
            "kafka",
            "--host",
            LOCALHOST,
            "--kafka-port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]

    def start(self, timeout: float = 30.0) -> EmbeddedBroker:
        """Start the broker and wait until it answers metadata requests.

        Raises
        ------
        BrokerError
            The port is taken, the process exited, or it did not answer within ``timeout``.
        """
        if port_open(LOCALHOST, self.port):
            raise BrokerError(
                f"port {self.port} on 127.0.0.1 is already in use: stop what listens there "
                "or remove run/stack.json under TOCSIN_HOME to pick a new port"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll every 50 ms until the broker answers, or raise :class:`BrokerError`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise BrokerError(
                    f"noida-db exited with code {self.proc.returncode} while starting; "
                    f"log {self.log_path}:\n{tail(self.log_path)}"
                )
            if broker_ready(self.bootstrap_servers, timeout=2.0):
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerError(
            f"noida-db did not answer on {self.bootstrap_servers} within {timeout:.0f} s; "
            f"log {self.log_path}:\n{tail(self.log_path)}"
        )

    def alive(self) -> bool:
        """Whether the broker process runs."""
        return self.pid is not None and pid_alive(self.pid, broker_cmdline_tokens(self.data_dir))

    def stop(self, timeout: float = 30.0) -> str:
        """SIGTERM (the broker writes its state), wait ``timeout`` s, then SIGKILL."""
        if self.proc is None:
            return "not running"
        outcome = stop_pid(
            self.proc.pid,
            timeout=timeout,
            cmdline_contains=broker_cmdline_tokens(self.data_dir),
            proc=self.proc,
        )
        self.proc = None
        return outcome

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
