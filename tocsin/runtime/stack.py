"""``tocsin up`` / ``down`` / ``status``: the embedded stack and its state on disk.

Everything lives under ``$TOCSIN_HOME`` (default ``./.tocsin``), so two stacks with different
homes run side by side::

    $TOCSIN_HOME/
      kafka/             noida-db data dir (embedded broker)
      clickhouse/        chdb data dir (embedded store, owned by the store process)
      secrets/           writer.json, analyst.json: the store's generated credentials (0600)
      logs/              broker.log, store.log, worker-0.log, ...
      run/stack.json     bootstrap_servers, topics, pids, clickhouse, store_url, query_url, ports
      run/<name>.pid     one pid file per process
      run/stack.lock     serialises up/down

With the embedded store, ``up`` starts the store as its own process (chdb behind
ClickHouse's HTTP interface, :mod:`tocsin.runtime.store_process`) and hands every worker
its URL with the writer's credentials: workers reach it exactly as they reach a ClickHouse
server, so any number of them can run (``--workers N``).

``up`` is idempotent and repairs: a broker, store or worker that died is started again (the
broker and the store on their old ports with their old data dirs, a worker with its fixed
id, which is its Kafka static group membership id, so it takes its partitions back at once).
``down`` stops the workers first (SIGTERM, so they leave the group and flush), then the
store, then the broker (SIGTERM, it writes its state). A pid whose process is gone, or now
belongs to something else, counts as stale.

Example
-------
>>> from tocsin.settings import Settings
>>> stack = Stack(Settings(home="/tmp/tocsin-doc-stack"))
>>> stack.state_path.name, stack.status()["running"]
('stack.json', False)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sinks.clickhouse.client import redact_url
from streams.topics import broker_ready, ensure_topics
from tocsin.runtime.broker import (
    BrokerError,
    EmbeddedBroker,
    broker_cmdline_tokens,
)
from tocsin.runtime.credentials import ensure_credentials, with_credentials
from tocsin.runtime.otlp_process import OTLP_TOKENS, otlp_command
from tocsin.runtime.processes import (
    LOCALHOST,
    free_port,
    pid_alive,
    port_open,
    stop_pid,
    tail,
)
from tocsin.runtime.store import run_migrations, store_url
from tocsin.runtime.store_process import STORE_TOKENS, store_command
from tocsin.runtime.topics import topic_specs
from tocsin.settings import Settings

Progress = Callable[[str], None]


class StackError(RuntimeError):
    """The stack could not be brought up or down; the message says what to do."""


def worker_ids(count: int) -> list[str]:
    """Fixed worker ids (Kafka static membership): ``worker-0`` ... ``worker-{count-1}``.

    >>> worker_ids(2)
    ['worker-0', 'worker-1']
    """
    return [f"worker-{i}" for i in range(count)]


def worker_command(worker_id: str, web_port: int, bootstrap: str) -> list[str]:
    """The command that starts one worker: the ``tocsin`` CLI's ``worker`` command.

    The worker serves its web server, which includes the ClickHouse-compatible query
    endpoint, on ``127.0.0.1:web_port``.
    """
    return [
        sys.executable,
        "-c",
        "from tocsin.cli import main; main()",
        "worker",
        "--id",
        worker_id,
        "--web-port",
        str(web_port),
        "--bootstrap",
        bootstrap,
    ]


def worker_tokens(worker_id: str) -> tuple[str, ...]:
    """What identifies a worker process in its command line."""
    return ("tocsin.cli", "--id", worker_id)


def worker_available() -> bool:
    """Whether this tocsin has the ``worker`` command (the monitor worker is installed)."""
    import typer.main

    from tocsin.cli import app

    command = typer.main.get_command(app)
    return "worker" in getattr(command, "commands", {})


def ping(url: str, timeout: float = 1.0) -> bool:
    """Whether a ClickHouse-compatible endpoint answers ``/ping`` with ``Ok.``."""
    import httpx

    try:
        r = httpx.get(url.rstrip("/") + "/ping", timeout=timeout)
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and r.text.startswith("Ok.")


def worker_answers(web_url: str, timeout: float = 1.0) -> bool:
    """Whether a worker's web server answers ``/tocsin/status``."""
    import httpx

    try:
        r = httpx.get(web_url.rstrip("/") + "/tocsin/status", timeout=timeout)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


class Stack:
    """The processes of one ``$TOCSIN_HOME``.

    Parameters
    ----------
    settings
        The settings; ``home`` decides where the state lives.
    progress
        Called with a short line for each step (the CLI prints them on stderr).
    """

    def __init__(self, settings: Settings, progress: Progress | None = None) -> None:
        self.settings = settings
        self.home = settings.home_abs
        self.run_dir = settings.run_dir
        self.logs_dir = self.home / "logs"
        self.kafka_dir = self.home / "kafka"
        self.state_path = self.run_dir / "stack.json"
        self._progress = progress or (lambda line: None)
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    # ----------------------------------------------------------------- state files
    def read_state(self) -> dict[str, Any]:
        """The last written ``stack.json`` (empty when there is none)."""
        try:
            data = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StackError(
                f"{self.state_path} is unreadable ({exc}); stop stray processes and delete it"
            ) from exc
        return data if isinstance(data, dict) else {}

    def _write_state(self, state: dict[str, Any]) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.state_path)
        for name, pid in state.get("pids", {}).items():
            path = self.run_dir / f"{name}.pid"
            if pid:
                path.write_text(f"{pid}\n")
            else:
                path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / "stack.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise StackError(
                    f"another `tocsin up/down` is running on {self.home}; wait for it to finish"
                ) from exc
            yield

    def _tokens(self, name: str, state: dict[str, Any]) -> tuple[str, ...]:
        if name == "broker":
            data_dir = state.get("broker", {}).get("data_dir") or str(self.kafka_dir)
            return broker_cmdline_tokens(Path(data_dir))
        if name == "store":
            return STORE_TOKENS
        if name == "otlp":
            return OTLP_TOKENS
        return worker_tokens(name)

    def _alive(self, name: str, state: dict[str, Any]) -> bool:
        pid = state.get("pids", {}).get(name)
        return pid_alive(pid, self._tokens(name, state))

    # ----------------------------------------------------------------- status
    def status(self) -> dict[str, Any]:
        """What runs: the stack.json fields plus ``alive``, ``stale`` and ``running``.

        ``running`` is true when every process of the stack is alive. ``stale`` lists the
        processes with a recorded pid whose process is gone.
        """
        state = self.read_state()
        pids: dict[str, int | None] = dict(state.get("pids", {}))
        alive = {name: self._alive(name, state) for name in pids}
        stale = sorted(name for name, pid in pids.items() if pid and not alive[name])
        recorded = {name: pid for name, pid in pids.items() if pid}
        return {
            "home": str(self.home),
            "running": bool(recorded) and all(alive[name] for name in recorded),
            "bootstrap_servers": state.get("bootstrap_servers"),
            "topics": state.get("topics", self.settings.topics.as_dict()),
            "pids": {name: (pid if alive.get(name) else None) for name, pid in pids.items()},
            "alive": alive,
            "stale": stale,
            "clickhouse": state.get("clickhouse", redact_url(store_url(self.settings))),
            "store_url": state.get("store_url") if alive.get("store") else None,
            "query_url": state.get("store_url") if alive.get("store") else None,
            "credentials": state.get("credentials", {}),
            "otlp_url": state.get("otlp_url") if alive.get("otlp") else None,
            "embedded": state.get(
                "embedded",
                {
                    "broker": self.settings.embedded_broker,
                    "clickhouse": self.settings.embedded_clickhouse,
                },
            ),
            "workers": state.get("workers", {}),
            "logs": str(self.logs_dir),
            "started_at": state.get("started_at"),
        }

    def worker_metrics(self, status: dict[str, Any], timeout: float = 1.0) -> dict[str, Any]:
        """Each live worker's counters from its ``/tocsin/status`` endpoint.

        worker -> the metrics (consumed, written, dead_lettered, lag, batches, commits,
        write_retries, paused, last_error, ...), or ``{"error": why}`` when it does not answer.
        """
        import httpx

        out: dict[str, Any] = {}
        for name, info in (status.get("workers") or {}).items():
            port = (info or {}).get("web_port")
            if not status["alive"].get(name) or not port:
                continue
            try:
                reply = httpx.get(f"http://{LOCALHOST}:{port}/tocsin/status", timeout=timeout)
                reply.raise_for_status()
                body = reply.json()
                out[name] = {**(body.get("metrics") or {}), **(body.get("monitors") or {})}
            except (httpx.HTTPError, ValueError) as exc:
                out[name] = {"error": f"status endpoint did not answer ({exc})"}
        return out

    # ----------------------------------------------------------------- up
    def up(self, workers: int | None = None, *, start_workers: bool = True) -> dict[str, Any]:
        """Bring the stack up, restarting whatever is missing; returns :meth:`status`.

        Raises
        ------
        StackError
            A process failed to start; the message has the tail of its log.
        """
        s = self.settings
        count = workers or s.worker.count
        with self._locked():
            state = self.read_state()
            state.setdefault("pids", {})
            state["home"] = str(self.home)
            state["embedded"] = {"broker": s.embedded_broker, "clickhouse": s.embedded_clickhouse}
            state["topics"] = s.topics.as_dict()
            state["clickhouse"] = redact_url(store_url(s))
            self.logs_dir.mkdir(parents=True, exist_ok=True)

            bootstrap = self._up_broker(state)
            state["bootstrap_servers"] = bootstrap
            self._write_state(state)

            self._progress(f"topics on {bootstrap}")
            try:
                ensure_topics(bootstrap, topic_specs(s.topics))
            except RuntimeError as exc:
                raise StackError(f"cannot create topics: {exc}") from exc

            ids = worker_ids(count)
            writer_url = self._up_store(state)
            self._write_state(state)
            report = run_migrations(self._writer_settings(writer_url))
            names = ", ".join(m.name for m in report.applied) or "none pending"
            self._progress(f"migrations: {names}")
            _ensure_rollback_key(s, self.home)  # issue 10: signed rollbacks work out of the box

            if start_workers and not worker_available():
                self._progress(
                    "worker: the `tocsin worker` command is not installed; broker and store only"
                )
                start_workers = False
            if start_workers:
                for wid in ids:
                    self._up_worker(wid, state, bootstrap, writer_url)
            self._up_otlp(state, bootstrap)
            for stray in [n for n in state["pids"] if n.startswith("worker-") and n not in ids]:
                # a worker beyond --workers: a static member that never returns keeps its
                # partitions (STACK.md), so scaling down stops it and says how to rebalance
                if self._alive(stray, state):
                    self._progress(
                        f"{stray}: stopping (scaled down; restart the broker to rebalance)"
                    )
                    stop_pid(state["pids"][stray], timeout=s.worker.stop_timeout_s)
                state["pids"][stray] = None
                state.get("workers", {}).pop(stray, None)
            state["started_at"] = state.get("started_at") or datetime.now(UTC).isoformat()
            state["state"] = "running"
            self._write_state(state)
        return self.status()

    def _up_broker(self, state: dict[str, Any]) -> str:
        s = self.settings
        if not s.embedded_broker:
            assert s.bootstrap_servers is not None
            state["pids"].pop("broker", None)
            return s.bootstrap_servers
        info = state.setdefault("broker", {})
        data_dir = Path(info.get("data_dir") or self.kafka_dir)
        port = int(info.get("port") or 0)
        if self._alive("broker", state) and port and broker_ready(f"{LOCALHOST}:{port}"):
            self._progress(f"broker: running (pid {state['pids']['broker']}, port {port})")
            return f"{LOCALHOST}:{port}"
        if state["pids"].get("broker"):
            self._progress(f"broker: pid {state['pids']['broker']} is gone, restarting")
        broker = EmbeddedBroker(data_dir, port=port, log_path=self.logs_dir / "broker.log")
        self._progress(f"broker: starting noida-db on {broker.bootstrap_servers}")
        try:
            broker.start()
        except BrokerError as exc:
            raise StackError(str(exc)) from exc
        assert broker.proc is not None
        self._children["broker"] = broker.proc
        state["pids"]["broker"] = broker.pid
        info.update(
            port=broker.port,
            data_dir=str(broker.data_dir),
            log=str(broker.log_path),
        )
        return broker.bootstrap_servers

    def _writer_settings(self, writer_url: str | None) -> Settings:
        """The settings with the store process's writer URL (embedded), else unchanged."""
        if writer_url is None:
            return self.settings
        return self.settings.model_copy(update={"clickhouse_url": writer_url})

    def _up_store(self, state: dict[str, Any]) -> str | None:
        """Start the embedded store process when it is not running; its writer URL.

        None when the store is a ClickHouse server (``clickhouse_url``).
        """
        s = self.settings
        if not s.embedded_clickhouse:
            state["pids"].pop("store", None)
            return None
        creds = ensure_credentials(self.home)
        state["credentials"] = {role: str(self.home / "secrets" / f"{role}.json") for role in creds}
        info = state.setdefault("store", {})
        port = int(info.get("port") or 0)
        url = f"http://{LOCALHOST}:{port}/" if port else ""
        if self._alive("store", state) and port and ping(url):
            self._progress(f"store: running (pid {state['pids']['store']}, {url})")
            return with_credentials(url, creds["writer"])
        if state["pids"].get("store"):
            self._progress(f"store: pid {state['pids']['store']} is gone, restarting")
        if not port or port_open(LOCALHOST, port):
            port = free_port()
        url = f"http://{LOCALHOST}:{port}/"
        self._progress(f"store: starting on {url} (chdb {s.chdb_path})")
        log_path = self._spawn_service("store", store_command(port), url, state)
        info.update(port=port, log=str(log_path), data_dir=str(s.chdb_path))
        state["store_url"] = url
        self._progress(f"store: ready on {url}")
        return with_credentials(url, creds["writer"])

    def _spawn_service(
        self, name: str, command: list[str], url: str, state: dict[str, Any]
    ) -> Path:
        """Start a service process and wait until ``url`` answers ``/ping``; its log."""
        log_path = self.logs_dir / f"{name}.log"
        env = dict(os.environ)
        env.update(TOCSIN_HOME=str(self.home), PYTHONUNBUFFERED="1")
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(self.home),
                start_new_session=True,
            )
        self._children[name] = proc
        state["pids"][name] = proc.pid
        deadline = time.monotonic() + self.settings.worker.ready_timeout_s
        while not ping(url):
            if proc.poll() is not None:
                raise StackError(
                    f"{name} exited with code {proc.returncode} while starting; "
                    f"log {log_path}:\n{tail(log_path)}"
                )
            if time.monotonic() > deadline:
                raise StackError(f"{name} did not answer on {url}; see {log_path}")
            time.sleep(0.1)
        return log_path

    def _up_otlp(self, state: dict[str, Any], bootstrap: str) -> None:
        """Start the OTLP receiver (``otlp.enabled``) when it is not running."""
        if not self.settings.otlp.enabled:
            state["pids"].pop("otlp", None)
            state["otlp_url"] = None
            return
        info = state.setdefault("otlp", {})
        port = int(info.get("port") or 0)
        url = f"http://{LOCALHOST}:{port}/" if port else ""
        if self._alive("otlp", state) and port and ping(url):
            self._progress(f"otlp: running (pid {state['pids']['otlp']}, {url})")
            return
        if state["pids"].get("otlp"):
            self._progress(f"otlp: pid {state['pids']['otlp']} is gone, restarting")
        if not port or port_open(LOCALHOST, port):
            port = free_port()
        url = f"http://{LOCALHOST}:{port}/"
        self._progress(f"otlp: starting the OpenTelemetry receiver on {url}")
        log_path = self._spawn_service("otlp", otlp_command(port, bootstrap), url, state)
        info.update(port=port, log=str(log_path))
        state["otlp_url"] = url.rstrip("/")

    def _up_worker(
        self, wid: str, state: dict[str, Any], bootstrap: str, writer_url: str | None = None
    ) -> None:
        s = self.settings
        workers = state.setdefault("workers", {})
        info = workers.setdefault(wid, {})
        if self._alive(wid, state):
            self._progress(f"{wid}: running (pid {state['pids'][wid]})")
            return
        if state["pids"].get(wid):
            self._progress(f"{wid}: pid {state['pids'][wid]} is gone, restarting")
        web_port = info.get("web_port") or free_port()
        if port_open(LOCALHOST, web_port):
            web_port = free_port()
        log_path = self.logs_dir / f"{wid}.log"
        env = dict(os.environ)
        env.update(TOCSIN_HOME=str(self.home), PYTHONUNBUFFERED="1")
        if s.embedded_broker:
            env["TOCSIN_BOOTSTRAP_SERVERS"] = bootstrap
        if writer_url:
            # the embedded store process, reached like any ClickHouse server; the
            # environment of a process is readable by its owner only
            env["TOCSIN_CLICKHOUSE_URL"] = writer_url
        self._progress(f"{wid}: starting (log {log_path})")
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                worker_command(wid, web_port, bootstrap),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(self.home),
                start_new_session=True,
            )
        self._children[wid] = proc
        state["pids"][wid] = proc.pid
        endpoint = f"http://{LOCALHOST}:{web_port}/"
        info.update(web_port=web_port, web_url=endpoint, log=str(log_path))
        self._write_state(state)
        self._wait_worker(wid, proc, log_path, endpoint)

    def _wait_worker(
        self, wid: str, proc: subprocess.Popen[bytes], log_path: Path, query_url: str
    ) -> None:
        timeout = self.settings.worker.ready_timeout_s
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise StackError(
                    f"{wid} exited with code {proc.returncode} while starting; "
                    f"log {log_path}:\n{tail(log_path)}"
                )
            if worker_answers(query_url):
                self._progress(f"{wid}: ready, web server at {query_url}")
                return
            time.sleep(0.2)
        self._progress(
            f"{wid}: running, but its web server {query_url} did not answer within "
            f"{timeout:.0f} s (see {log_path})"
        )

    # ----------------------------------------------------------------- down
    def down(self) -> dict[str, str]:
        """Stop the workers (all SIGTERMed at once, then waited for), then the store and
        the other services, then the broker.

        Returns process name -> ``terminated`` / ``killed`` / ``not running``.
        """
        timeout = self.settings.worker.stop_timeout_s
        with self._locked():
            state = self.read_state()
            pids: dict[str, int | None] = state.get("pids", {})
            outcome: dict[str, str] = {}
            workers = [n for n, pid in pids.items() if n.startswith("worker-") and pid]
            signalled = set()
            for name in workers:
                if self._alive(name, state):
                    self._progress(f"{name}: stopping")
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pids[name] or 0), signal.SIGTERM)
                        signalled.add(name)
            for name in workers:
                outcome[name] = stop_pid(
                    int(pids[name] or 0),
                    timeout=timeout,
                    cmdline_contains=self._tokens(name, state),
                    proc=self._children.pop(name, None),
                    send_term=name not in signalled,
                )
            for name in [n for n, pid in pids.items() if pid and n not in workers]:
                if name == "broker":
                    continue
                self._progress(f"{name}: stopping")
                outcome[name] = stop_pid(
                    int(pids[name] or 0),
                    timeout=timeout,
                    cmdline_contains=self._tokens(name, state),
                    proc=self._children.pop(name, None),
                )
            if pids.get("broker"):
                self._progress("broker: stopping (it writes its state first)")
                outcome["broker"] = stop_pid(
                    int(pids["broker"] or 0),
                    timeout=max(timeout, 30.0),
                    cmdline_contains=self._tokens("broker", state),
                    proc=self._children.pop("broker", None),
                )
            if state:
                state["pids"] = {name: None for name in pids}
                state["state"] = "stopped"
                state["store_url"] = None
                state["otlp_url"] = None
                state["started_at"] = None
                self._write_state(state)
            return outcome

    # ----------------------------------------------------------------- supervise
    def supervise(
        self,
        should_stop: Callable[[], bool],
        *,
        interval_s: float = 1.0,
        max_restarts: int = 5,
    ) -> None:
        """Keep the stack up until ``should_stop()``: restart a process that dies.

        Gives up (raises :class:`StackError`) after ``max_restarts`` restarts in 5 minutes,
        so a worker that crashes at start does not loop forever.
        """
        restarts: list[float] = []
        while not should_stop():
            time.sleep(interval_s)
            if should_stop():
                return
            status = self.status()
            dead = [name for name, alive in status["alive"].items() if not alive]
            if not dead:
                continue
            now = time.monotonic()
            restarts = [t for t in restarts if now - t < 300] + [now]
            if len(restarts) > max_restarts:
                raise StackError(
                    f"{', '.join(dead)} died {max_restarts} times in 5 minutes; see the logs "
                    f"in {self.logs_dir}"
                )
            self._progress(f"{', '.join(dead)} died; restarting")
            count = len([n for n in status["alive"] if n.startswith("worker-")])
            self.up(count or None, start_workers=count > 0)


def _ensure_rollback_key(settings: Settings, home: Path) -> None:
    """With the embedded broker and no key configured, generate the rollback signing key the
    workers sign with and local agents verify with (``$TOCSIN_HOME/secrets``, 0600)."""
    r = settings.rollback
    if settings.embedded_broker and r.signing_key is None and r.signing_key_file is None:
        from streams.agents.alerter import ensure_local_signing_key

        ensure_local_signing_key(r.local_key_path(home))
