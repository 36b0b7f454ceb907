"""Idle cost: CPU of the embedded stack over a minute without traffic, per process, against
the embedded broker alone (no clients), measured in the same run.

``tocsin up --detach --workers N`` in a private ``TOCSIN_HOME``, a settling pause, then the
CPU seconds (user + system, from /proc) of each process of the stack over ``--seconds``
(default 60): broker, store, workers, OTLP receiver. The baseline is a bare noida-db broker
with no client over the same time: what the broker costs when nobody polls it. Issue 11's
goal is at most 0.2 core for the whole idle stack.

Run: ``.venv/bin/python bench/bench_idle.py [--workers 2] [--seconds 60]``.
Writes ``bench/results/idle.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def proc_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its reaped children (user + system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks


def sample(pids: dict[str, int], seconds: float) -> dict[str, float]:
    """Cores used by each process over ``seconds`` of wall time."""
    before = {name: proc_cpu_s(pid) for name, pid in pids.items()}
    start = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - start
    return {name: (proc_cpu_s(pid) - before[name]) / wall for name, pid in pids.items()}


def tocsin(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env.update(TOCSIN_HOME=str(home), TOCSIN_LOG_LEVEL="warn")
    return subprocess.run(
        [sys.executable, "-c", "from tocsin.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=15.0)
    args = parser.parse_args()

    from tocsin.runtime.broker import EmbeddedBroker

    work = Path(tempfile.mkdtemp(prefix="tocsin-bench-idle-"))
    results: dict[str, Any] = {
        "bench": "idle",
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_avg_at_start": os.getloadavg(),
        },
        "seconds": args.seconds,
        "workers": args.workers,
    }
    try:
        print("baseline: the embedded broker alone, no clients ...", flush=True)
        broker = EmbeddedBroker(work / "bare-kafka").start()
        try:
            time.sleep(2)
            assert broker.pid is not None
            results["broker_alone_cores"] = sample({"broker": broker.pid}, args.seconds)["broker"]
        finally:
            broker.stop()
        print(f"  {results['broker_alone_cores']:.3f} cores", flush=True)

        home = work / "home"
        home.mkdir()
        print(f"tocsin up --workers {args.workers} ...", flush=True)
        status = json.loads(
            tocsin(home, "up", "--detach", "--workers", str(args.workers), "--json").stdout
        )
        try:
            pids = {name: int(pid) for name, pid in status["pids"].items() if pid}
            time.sleep(args.settle)
            per_process = sample(pids, args.seconds)
        finally:
            tocsin(home, "down")
        results["stack_cores"] = per_process
        results["stack_total_cores"] = sum(per_process.values())
    finally:
        shutil.rmtree(work, ignore_errors=True)

    results["goal_cores"] = 0.2
    results["goal_met"] = results["stack_total_cores"] <= 0.2
    print(f"\nidle CPU over {args.seconds:.0f} s (cores):")
    for name, cores in sorted(results["stack_cores"].items()):
        print(f"  {name:10s} {cores:.3f}")
    print(
        f"  total      {results['stack_total_cores']:.3f}  (goal <= 0.2; the broker alone, no "
        f"clients: {results['broker_alone_cores']:.3f})"
    )
    out = REPO / "bench" / "results" / "idle.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
