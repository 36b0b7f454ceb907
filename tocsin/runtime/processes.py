"""Small process tools for the supervisor: free ports, liveness that sees through zombies
and reused pids, and a stop that escalates from SIGTERM to SIGKILL.

Example
-------
>>> port = free_port()
>>> 1024 < port < 65536
True
>>> pid_alive(os.getpid()), pid_alive(0)
(True, False)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from streams.localhost import LOCALHOST, free_port, port_open

__all__ = ["LOCALHOST", "free_port", "pid_alive", "port_open", "stop_pid", "tail"]


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the state letter follows the parenthesised command name
    return stat.rsplit(")", 1)[1].split()[0]


def pid_alive(pid: int | None, cmdline_contains: Sequence[str] = ()) -> bool:
    """Whether ``pid`` runs (zombies count as gone) and its command line has every token.

    The tokens guard against a pid reused by an unrelated process after a crash.
    """
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    state = _proc_state(pid)
    if state in ("Z", "X"):
        return False
    if cmdline_contains:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return state is not None
        return all(token in cmdline for token in cmdline_contains)
    return True


def stop_pid(
    pid: int,
    *,
    timeout: float = 10.0,
    cmdline_contains: Sequence[str] = (),
    proc: subprocess.Popen[bytes] | None = None,
    send_term: bool = True,
) -> str:
    """SIGTERM ``pid``, wait up to ``timeout`` seconds, then SIGKILL.

    Returns ``"not running"``, ``"terminated"`` or ``"killed"``. Pass ``proc`` when the
    process is our child so that it is reaped, and ``send_term=False`` when SIGTERM was
    already sent (a second one makes some programs skip their clean shutdown).
    """
    if not pid_alive(pid, cmdline_contains):
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(0.1)
        return "not running"
    if send_term:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout, proc):
        return "terminated"
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _wait_gone(pid, 5.0, proc)
    return "killed"


def _wait_gone(pid: int, timeout: float, proc: subprocess.Popen[bytes] | None) -> bool:
    if proc is not None:
        try:
            proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file, without the broker's harmless glibc warning."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [line for line in text.splitlines() if "GLIBC_" not in line]
    return "\n".join(kept[-lines:])
