"""docs/api.md's tutorial works as written: its shell commands and Python clients, run in order
against ``civicpulse api`` serving the sample city (``civicpulse city load``), with a key made
by ``civicpulse api keys create``, find free bays near Camden Town station and the air
quality near it."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from civicpulse.embedded import free_port
from devices.types import DEVICE_TYPES
from storage.batch import Prepared
from storage.connection import Mode, connect
from storage.migrate import migrate
from storage.registry import list_devices
from storage.writer import Store
from tests.api.test_serve import _wait_for
from tests.cli_harness import civicpulse, cli_env
from tests.conftest import create_database, drop_database
from tests.processes import Processes

DOC = Path(__file__).parents[2] / "docs" / "api.md"
SECTION = "## Tutorial: find a parking space, check the air near you"


def tutorial_blocks() -> list[tuple[str, str]]:
    """``(language, code)`` of each fenced block of the tutorial, in order."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    return re.findall(r"```(sh|python)\n(.*?)```", text[start:end], flags=re.S)


async def _readings(url: str) -> None:
    """Every bay free for the last half hour; every monitor at NO2 250 µg/m³ (index 4) for a
    day and more."""
    async with await connect(url, autocommit=True) as conn:
        devices = await list_devices(conn)
    now = datetime.now(UTC).replace(microsecond=0)
    prepared = Prepared()
    bay_columns = DEVICE_TYPES["parking_bay"].columns
    prepared.rows["parking_bay"] = [
        (
            d.device_id,
            now - timedelta(minutes=30),
            1,
            now,
            *[False if c == "occupied" else None for c in bay_columns],
        )
        for d in devices
        if d.device_type == "parking_bay"
    ]
    aq_columns = DEVICE_TYPES["air_quality"].columns
    start = now.replace(minute=0, second=0) - timedelta(hours=26)
    rows = prepared.rows.setdefault("air_quality", [])
    for d in devices:
        if d.device_type != "air_quality":
            continue
        for i in range(26 * 12 + 1):
            ts = start + timedelta(minutes=5 * i)
            values = {"no2": 250.0 + (1.0 if i % 2 else -1.0)}
            rows.append((d.device_id, ts, i, ts, *[values.get(c) for c in aq_columns]))
    store = await Store.open(url, Mode.POSTGRES, DEVICE_TYPES)
    try:
        await store.write(prepared)
    finally:
        await store.close()


@pytest.fixture
def sample_city(pg_server: str) -> Iterator[str]:
    url = create_database(pg_server)
    try:
        asyncio.run(migrate(url, timescaledb="off"))
        loaded = civicpulse("city", "load", "--homes", "0", env={"CIVICPULSE_DATABASE_URL": url})
        assert loaded.returncode == 0, loaded.stderr
        asyncio.run(_readings(url))
        yield url
    finally:
        drop_database(pg_server, url)


def test_the_tutorial_runs_as_written(
    sample_city: str, processes: Processes, tmp_path: Path
) -> None:
    blocks = tutorial_blocks()
    assert [language for language, _ in blocks] == ["sh", "sh", "python", "sh", "python"]
    port = free_port()
    env = cli_env({"CIVICPULSE_DATABASE_URL": sample_city})
    processes.start(
        [sys.executable, "-m", "civicpulse.cli", "api", "--port", str(port)],
        env=env,
        log=tmp_path / "api.log",
    )
    base = f"http://127.0.0.1:{port}"
    assert _wait_for(f"{base}/v1").status_code == 200
    # The shell blocks run in one shell, as a reader would type them; `civicpulse` is the CLI.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "civicpulse"  # this checkout's command, whatever the venv's script points at
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m civicpulse.cli "$@"\n')
    shim.chmod(0o755)
    repo = str(Path(__file__).parents[2])
    shell = {
        **env,
        "PATH": f"{bin_dir}:{env['PATH']}",
        "PYTHONPATH": repo,
        "CIVICPULSE_API": base,
    }
    commands = "\n".join(code for lang, code in blocks if lang == "sh").replace("\\\n", "")
    commands = commands.replace("https://api.camden.example", base)  # "your council's API"
    # curl prints a body without a final newline: end each answer's line, to read them apart.
    script = "set -eu\n" + "\n".join(
        f"{line}; echo" if line.startswith("curl") else line for line in commands.splitlines()
    )
    script += '\necho "KEY=$CIVICPULSE_KEY"\n'
    ran = subprocess.run(
        ["bash", "-c", script], env=shell, capture_output=True, text=True, timeout=120, check=False
    )
    assert ran.returncode == 0, ran.stderr
    out = ran.stdout
    key = re.search(r"^KEY=(cpk_\S+)$", out, flags=re.M)
    assert key is not None, out
    documents = [json.loads(line) for line in out.splitlines() if line.startswith(("{", "["))]
    me, bays, zone, forecast, monitors, aqma = documents
    assert me["scope"] == "developer"
    assert len(bays["features"]) == 3
    assert all(f["properties"]["status"] == "free" for f in bays["features"])
    assert all(f["properties"]["distance_m"] <= 300 for f in bays["features"])
    assert zone["zone_id"] == "cpz-ca-e" and zone["free"] == zone["total"] > 0
    assert forecast["expected_free"] == zone["free"]  # no history: today's occupancy holds
    assert "event: reset" in out  # five seconds of the stream
    nearest = monitors["features"][0]["properties"]
    assert (nearest["index"], nearest["band"]) == (4, "Moderate")
    assert (aqma["zone_id"], aqma["index"]) == ("aqma-camden", 4)
    # The Python clients, each on its own, with the key the shell made.
    python = {**shell, "CIVICPULSE_KEY": key.group(1)}
    outputs = []
    for code in (code for lang, code in blocks if lang == "python"):
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=python,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout.splitlines())
    parking, air = outputs
    free = [line for line in parking if " m, free since " in line]
    assert 3 <= len(free) <= 5
    assert parking[len(free)] == (
        f"CPZ CA-E: {zone['free']} of {zone['total']} bays free,"
        f" {float(zone['free'])} expected in an hour"
    )
    assert parking[-1] == f"live: {zone['free']} free, 0 occupied, 0 unknown"
    assert air[0].startswith(f"{nearest['name']}, ") and air[0].endswith("DAQI 4 (Moderate)")
    assert air[1] == "Everyone: Enjoy your usual outdoor activities."
    assert air[2].startswith("At risk: Adults and children with lung problems")
    assert httpx.get(f"{base}/v1/me", headers={"X-API-Key": key.group(1)}).json()["scope"] == (
        "developer"
    )
