"""The ``tocsin`` console script: the CLI, or a clear message when its extra is missing.

A producing service installs plain ``tocsin`` (the SDK: confluent-kafka + fastavro); the
command line needs the ``[pipeline]`` extra.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Run the CLI; without its dependencies, say which extra to install and exit 2."""
    try:
        from tocsin.cli import main as cli_main
    except ModuleNotFoundError as exc:
        sys.stderr.write(
            f"error: the tocsin command needs the pipeline extra (missing module {exc.name!r}):\n"
            "  pip install 'tocsin[pipeline,cpu]'   (or [pipeline,gpu] on a CUDA machine)\n"
        )
        raise SystemExit(2) from None
    cli_main()
