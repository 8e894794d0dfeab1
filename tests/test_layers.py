"""The floors of the code (docs/architecture.md), checked on every run of the suite.

The rule lives in pyproject.toml (``[tool.importlinter]``): the command line on top; ingest and
the simulators; storage; the device contract; embedded services; the ground (settings, errors,
MQTT plumbing). A package imports only floors below it, and the device contract imports no
database, broker client or web framework.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_imports_point_down_the_floors() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports;"
            " sys.exit(lint_imports(no_cache=True, no_logo=True))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
