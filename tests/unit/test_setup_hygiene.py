"""The build installs from the default package index only, and `make run` only what
running needs (no torch, transformers or test tools)."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import REPO


def makefile_vars() -> dict[str, str]:
    text = (REPO / "Makefile").read_text()
    return {
        m.group(1): m.group(2).strip() for m in re.finditer(r"^(\w+)\s*\?=\s*(.+)$", text, re.M)
    }


def test_no_build_step_names_its_own_package_index() -> None:
    for path in ("Makefile", ".ci/run", "infra/docker/Dockerfile", "pyproject.toml", "setup.py"):
        text = (REPO / path).read_text()
        assert not re.search(r"--(extra-)?index-url|--find-links|\bpip[^\n]*\s-i\s", text), path
        assert not re.search(
            r"https?://(?!127\.0\.0\.1|localhost)[^\s\"']*(whl|simple|pypi)", text
        ), path


def test_make_run_installs_only_the_runtime_extras() -> None:
    run_extras = set(makefile_vars()["RUN_EXTRAS"].split(","))
    assert run_extras == {"pipeline", "cpu"}
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    runtime = " ".join(d for e in run_extras for d in extras[e]).lower()
    for heavy in ("torch", "transformers", "pytest", "ruff", "mypy", "openai"):
        assert heavy not in runtime, heavy
    makefile = (REPO / "Makefile").read_text()
    run_rule = re.search(r"^run:(.*)$", makefile, re.M)
    assert run_rule and "RUN_STAMP" in run_rule.group(1) and "torch" not in run_rule.group(1)
