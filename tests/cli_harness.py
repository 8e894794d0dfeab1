"""Running the ``civicpulse`` command as a user does: a subprocess with only the given settings."""

from __future__ import annotations

import os
import subprocess
import sys

CLI = [sys.executable, "-m", "civicpulse.cli"]


def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without any CIVICPULSE_ setting, plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CIVICPULSE_")}
    return {**base, **(env or {})}


def civicpulse(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_clear_line(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    """The command failed with ``code`` and said why in one line, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("civicpulse: ")]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
