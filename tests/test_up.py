"""``civicpulse up`` as a user runs it: everything starts, readings arrive, the API answers,
``doctor`` finds the running platform, and one signal stops it all, leaving no process behind.

One run uses the suite's PostgreSQL and broker (as CI does), one starts the embedded services
(their start takes about a second here); both are small cities, so each test takes seconds.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import psycopg
import pytest

from civicpulse.embedded import find_mosquitto, free_port
from civicpulse.proc import alive
from tests.cli_harness import CLI, civicpulse, cli_env, one_clear_line
from tests.processes import Processes

pytestmark = pytest.mark.slow

STOP_BOUND_S = 30.0
"""up's own grace is 10 s a process, in parallel; anything near this bound is a hang."""


def _wait(what: str, condition: Callable[[], bool], seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {seconds:.0f} s")
        time.sleep(0.2)


def _text(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""


def _session(sid: int) -> dict[int, str]:
    """Live processes of session ``sid`` (zombies do not count), with their command lines."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid and fields[0] != "Z":  # state, ppid, pgrp, session
                cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
                found[int(stat.parent.name)] = cmdline.decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
    return found


def _servers_on(data: Path) -> list[int]:
    """Live processes whose command line names ``data`` (the embedded servers keep it there)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(data).encode() in cmdline.read_bytes() and alive(int(cmdline.parent.name)):
                found.append(int(cmdline.parent.name))
        except (OSError, ValueError):
            continue
    return found


def _readings(url: str, prefix: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM air_quality_readings WHERE device_id LIKE %(p)s)"
            " + (SELECT count(*) FROM parking_bay_readings WHERE device_id LIKE %(p)s)"
            " + (SELECT count(*) FROM smart_meter_readings WHERE device_id LIKE %(p)s)",
            {"p": f"{prefix}%"},
        ).fetchone()
    return int(str(row[0])) if row else 0


def _last_status(log: Path) -> int:
    """Readings stored, from the newest status line (-1 before the first)."""
    counts = re.findall(r"status: readings stored ([\d,]+)", _text(log))
    return int(counts[-1].replace(",", "")) if counts else -1


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _start_up(
    processes: Processes, log: Path, data: Path, prefix: str, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], int, dict[str, int]]:
    ports = {
        "CIVICPULSE_INGEST_METRICS_PORT": free_port(),
        "CIVICPULSE_ALERTS_METRICS_PORT": free_port(),
        "CIVICPULSE_ANALYTICS_METRICS_PORT": free_port(),
    }
    api_port = free_port()
    settings = {
        "CIVICPULSE_DATA_DIR": str(data),
        # A unique session that the shared broker forgets soon after the test.
        "CIVICPULSE_INGEST_CLIENT_ID": f"{prefix}-ingest",
        "CIVICPULSE_INGEST_SESSION_EXPIRY_S": "60",
        **{k: str(v) for k, v in ports.items()},
        **env,
    }
    args = [
        *CLI,
        "up",
        "--port",
        str(api_port),
        "--homes",
        "6",
        "--bays",
        "6",
        "--monitors",
        "2",
        "--prefix",
        f"{prefix}-",
        "--status-every",
        "1",
    ]
    return processes.start(args, env=cli_env(settings), log=log), api_port, ports


def _stop_and_check(up: subprocess.Popen[bytes], log: Path, sig: signal.Signals) -> None:
    """``sig`` stops everything within the bound, exit 0, and nothing of the session remains."""
    while_running = _session(up.pid)
    children = {pid: cmd for pid, cmd in while_running.items() if pid != up.pid}
    for name in ("ingest", "alerts run", "analytics schedule", "api --host", "simulate"):
        assert any(name in cmd for cmd in children.values()), (name, while_running)
    began = time.monotonic()
    up.send_signal(sig)
    code = up.wait(STOP_BOUND_S)
    took = time.monotonic() - began
    text = _text(log)
    assert code == 0, text[-3000:]
    assert took < STOP_BOUND_S
    assert f"civicpulse up: {sig.name}: stopping everything" in text
    assert "5 processes stopped in" in text
    assert "killed after" not in text, "a process had to be killed"
    assert "Traceback" not in text, text[-3000:]
    _wait("the session to empty", lambda: not _session(up.pid), 10)
    assert not [pid for pid in children if alive(pid)]


def test_up_on_the_suites_services(
    processes: Processes, db: str, mqtt_url: str, prefix: str, workdir: Path, tmp_path: Path
) -> None:
    log, data = tmp_path / "up.log", workdir / "data"
    env = {"CIVICPULSE_DATABASE_URL": db, "CIVICPULSE_MQTT_URL": mqtt_url}
    if os.environ.get("CIVICPULSE_TEST_MQTT_PROTOCOL"):
        env["CIVICPULSE_MQTT_PROTOCOL"] = os.environ["CIVICPULSE_TEST_MQTT_PROTOCOL"]
    up, api_port, ports = _start_up(processes, log, data, prefix, env)
    _wait("up's banner", lambda: "CivicPulse is up" in _text(log) or up.poll() is not None)
    text = _text(log)
    assert up.poll() is None, text
    api = f"http://127.0.0.1:{api_port}"
    assert f"API docs        {api}/docs" in text
    assert f"http://127.0.0.1:{ports['CIVICPULSE_INGEST_METRICS_PORT']}/metrics  (ingest)" in text
    resident = re.search(rf"resident's page ({re.escape(api)}/residents/\S+)", text)
    assert resident, text
    assert (data / "logs" / "ingest.log").exists()

    _wait("readings stored", lambda: _readings(db, prefix) > 0, 60)
    _wait("a status line counting readings", lambda: _last_status(log) > 0, 30)
    # The first sample household's own page, through the token its reports will link to.
    page = httpx.get(resident.group(1), timeout=10)
    assert page.status_code == 200, page.text[:2000]
    assert page.headers["content-type"].startswith("text/html")
    zones = httpx.get(f"{api}/v1/zones", timeout=10)
    assert zones.status_code == 200, zones.text
    assert len(zones.json()["features"]) == 14  # the sample city's wards, CPZs and AQMA
    metrics = httpx.get(f"{api}/metrics", timeout=10).text
    assert 'civicpulse_api_requests_total{method="GET",route="/v1/zones",status="200"}' in metrics
    for name in ("ALERTS", "ANALYTICS"):
        assert _answers(f"http://127.0.0.1:{ports[f'CIVICPULSE_{name}_METRICS_PORT']}/metrics")

    # A crashed process is restarted (SIGKILL: it could not even commit), and the city goes on.
    ingest = next(pid for pid, cmd in _session(up.pid).items() if cmd.endswith("cli ingest "))
    os.kill(ingest, signal.SIGKILL)
    _wait("ingest restarted", lambda: "ingest exited with status -9" in _text(log), 30)
    _wait(
        "a new ingest",
        lambda: any(
            cmd.endswith("cli ingest ") and pid != ingest for pid, cmd in _session(up.pid).items()
        ),
        30,
    )
    stored = _readings(db, prefix)
    _wait("readings after the restart", lambda: _readings(db, prefix) > stored, 60)

    record = orjson.loads((data / "up.json").read_bytes())
    assert record["pid"] == up.pid and record["api"] == api
    # doctor with no URLs finds the running platform through its record.
    doctor = civicpulse("doctor", env={"CIVICPULSE_DATA_DIR": str(data)})
    assert f"checking the platform `civicpulse up` (pid {up.pid}) runs" in doctor.stdout
    for service in ("ingest", "alerts", "analytics", "api"):
        assert any(
            line.split()[:1] == [service] and ": up;" in line for line in doctor.stdout.splitlines()
        ), (service, doctor.stdout)
    # A second `up` on the same data directory says where the first one is.
    again = civicpulse("up", env={"CIVICPULSE_DATA_DIR": str(data)})
    one_clear_line(again, 2, "up:", f"(pid {up.pid}) is already running", api)

    _stop_and_check(up, log, signal.SIGTERM)
    assert not (data / "up.json").exists()


@pytest.mark.skipif(find_mosquitto() is None, reason="needs the mosquitto binary")
def test_up_with_embedded_services(
    processes: Processes, prefix: str, workdir: Path, tmp_path: Path
) -> None:
    log, data = tmp_path / "up.log", workdir / "data"
    up, api_port, _ports = _start_up(
        processes, log, data, prefix, {"CIVICPULSE_EMBEDDED_BROKER": "mosquitto"}
    )
    _wait("up's banner", lambda: "CivicPulse is up" in _text(log) or up.poll() is not None)
    text = _text(log)
    assert up.poll() is None, text
    assert "(embedded services started here: postgres, mosquitto)" in text
    found = re.search(r"^database: (\S+)$", text, flags=re.MULTILINE)
    assert found, text
    _wait("readings stored", lambda: _readings(found.group(1), prefix) > 0, 60)
    assert _answers(f"http://127.0.0.1:{api_port}/v1/zones")
    assert _servers_on(data), "the embedded servers run while up does"
    _stop_and_check(up, log, signal.SIGHUP)
    assert _servers_on(data) == []


def test_a_port_in_use_is_one_clear_line(db: str, mqtt_url: str, workdir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            "CIVICPULSE_DATABASE_URL": db,
            "CIVICPULSE_MQTT_URL": mqtt_url,
            "CIVICPULSE_DATA_DIR": str(workdir),
        }
        api = civicpulse("up", "--port", str(port), env=env)
        one_clear_line(api, 2, "--port:", f"port {port} on 127.0.0.1 is in use")
        metrics = civicpulse(
            "up",
            "--port",
            str(free_port()),
            env={**env, "CIVICPULSE_ALERTS_METRICS_PORT": str(port)},
        )
        one_clear_line(metrics, 2, "CIVICPULSE_ALERTS_METRICS_PORT:", "is in use")
    # Nothing was started: no embedded server, no record.
    assert not (workdir / "up.json").exists()
