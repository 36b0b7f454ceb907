"""`tocsin demo --headless --report` tells the whole story, in order, on the real worker.

Degradation → the worker's monitor pages (issue 9) → the alerter notifies the local
Slack/PagerDuty stand-ins → a signed rollback → the demo's own deployment agent shifts the
canary's traffic to stable and acks → the paging alert resolves. Toxicity scoring is off
and the rate low so that a loaded CI machine keeps up; event time runs 60x.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tocsin.runtime.demo_story import STORY

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(420)]

CLI = [sys.executable, "-c", "from tocsin.cli import main; main()"]


def test_headless_demo_report_has_the_story_in_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env.update(TOCSIN_HOME=str(home), TOCSIN_LOG_LEVEL="warn", TOCSIN_TOXICITY__ENABLED="false")
    proc = subprocess.run(
        [*CLI, "demo", "--headless", "--duration", "110", "--incident-after", "15",
         "--rate", "200", "--refresh", "1", "--time-scale", "60", "--report", str(report)],
        env=env, capture_output=True, text=True, timeout=360,
        cwd=str(Path(__file__).resolve().parents[2]),  # the checkout: infra/config/slos.yaml
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(report.read_text())
    events = [e["event"] for e in doc["timeline"]]
    assert [e for e in events if e in STORY] == list(STORY), (events, proc.stderr[-3000:])
    times = [e["t"] for e in doc["timeline"]]
    assert times == sorted(times)
    assert doc["complete"] and doc["summary"]["agent_executions"] == 1
    assert doc["summary"]["rollback_command"]
    assert any("events_dedup" in q for q in doc["queries"])
    out = proc.stderr
    assert "[pagerduty] trigger" in out and "[pagerduty] resolve" in out and "[slack]" in out
    assert "story: degradation_started" in out
