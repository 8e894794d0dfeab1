"""Long-running commands as a newcomer meets them: an unreachable or MQTT 3.1.1-only broker, a
port in use, two ingests with one client id, the demo stopped by a signal or killed outright,
and the demo beside ``services up``. Every process a test starts is stopped whatever happens
(``tests.processes``)."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from civicpulse.embedded import EmbeddedBroker, find_mosquitto, free_port
from civicpulse.proc import alive
from ingest import lease
from tests.cli_harness import CLI, civicpulse, cli_env, one_clear_line
from tests.processes import Processes

pytestmark = pytest.mark.slow
needs_mosquitto = pytest.mark.skipif(find_mosquitto() is None, reason="needs the mosquitto binary")


def _wait_log(log: Path, text: str, count: int = 1, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while True:
        content = log.read_text(errors="replace") if log.exists() else ""
        if content.count(text) >= count:
            return content
        if time.monotonic() > deadline:
            raise TimeoutError(f"{text!r} not logged {count} times in {seconds} s:\n{content}")
        time.sleep(0.05)


def _ingest(
    processes: Processes, log: Path, db: str, mqtt_url: str, **env: str
) -> subprocess.Popen[bytes]:
    settings = {
        "CIVICPULSE_DATABASE_URL": db,
        "CIVICPULSE_MQTT_URL": mqtt_url,
        "CIVICPULSE_INGEST_METRICS_PORT": "0",
        "CIVICPULSE_INGEST_SESSION_EXPIRY_S": "60",
        **env,
    }
    return processes.start([*CLI, "ingest"], env=cli_env(settings), log=log)


def test_ingest_says_why_it_cannot_reach_the_broker(
    db: str, processes: Processes, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "ingest.log"
    process = _ingest(processes, log, db, f"mqtt://127.0.0.1:{port}")
    text = _wait_log(log, "retrying in 2 s", seconds=30)
    assert f"connecting to mqtt://127.0.0.1:{port}" in text
    assert (
        f"cannot reach the broker at mqtt://127.0.0.1:{port}: Connection refused; retrying in 1 s"
        in text
    )
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    unknown = tmp_path / "unknown.log"
    process = _ingest(processes, unknown, db, "mqtt://no-such-broker.invalid:1883")
    _wait_log(
        unknown, "cannot reach the broker at mqtt://no-such-broker.invalid:1883: unknown host"
    )
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0


def test_ingest_names_the_protocol_setting_for_an_mqtt_311_broker(
    db: str, processes: Processes, workdir: Path, tmp_path: Path
) -> None:
    with EmbeddedBroker(data_dir=workdir / "amqtt", prefer="amqtt") as broker:
        log = tmp_path / "ingest.log"
        process = _ingest(processes, log, db, broker.url)
        text = _wait_log(log, "set CIVICPULSE_MQTT_PROTOCOL=3.1.1", seconds=40)
        assert f"no answer from the broker at {broker.url} 10 s after connecting" in text
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


def test_a_second_ingest_on_the_metrics_port_is_told_which_setting(db: str, mqtt_url: str) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {
            "CIVICPULSE_DATABASE_URL": db,
            "CIVICPULSE_MQTT_URL": mqtt_url,
            "CIVICPULSE_INGEST_METRICS_PORT": str(port),
        }
        result = civicpulse("ingest", env=env, timeout=60)
    one_clear_line(result, 2, "CIVICPULSE_INGEST_METRICS_PORT", f"port {port}", "already in use")


@needs_mosquitto
def test_a_second_ingest_with_the_same_client_id_is_refused(
    db: str, processes: Processes, own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    log = tmp_path / "first.log"
    env = {"CIVICPULSE_INGEST_CLIENT_ID": "ingest-twin"}
    first = _ingest(processes, log, db, own_broker.url, **env)
    _wait_log(log, "subscribed to ")
    settings = {
        "CIVICPULSE_DATABASE_URL": db,
        "CIVICPULSE_MQTT_URL": own_broker.url,
        "CIVICPULSE_INGEST_METRICS_PORT": "0",
        **env,
    }
    # Refused before it connects: it never takes the first one's session.
    second = civicpulse("ingest", env=settings, timeout=60)
    one_clear_line(
        second, 2, "CIVICPULSE_INGEST_CLIENT_ID", f"pid {first.pid}", "runs as 'ingest-twin'"
    )
    assert first.poll() is None
    assert log.read_text().count("connected to mqtt://") == 1
    first.send_signal(signal.SIGTERM)
    assert first.wait(30) == 0
    # Stopped, it released the client id: the next process may use it at once.
    _wait_log(log, "ingest stopped")
    again = _ingest(processes, tmp_path / "again.log", db, own_broker.url, **env)
    _wait_log(tmp_path / "again.log", "subscribed to ")
    again.send_signal(signal.SIGTERM)
    assert again.wait(30) == 0


def test_lease_rules() -> None:
    me = lease.Holder("host-a", 100, 1000.0)
    other_here = lease.Holder("host-a", 200, 990.0).to_json()
    other_there = lease.Holder("host-b", 300, 990.0).to_json()
    assert lease.acquire(None, me, lambda _pid: True) == (me.to_json(), None)
    assert lease.acquire(other_here, me, lambda _pid: True)[1] == lease.Holder("host-a", 200, 990.0)
    assert lease.acquire(other_here, me, lambda _pid: False)[1] is None  # dead holder, this host
    assert lease.acquire(other_there, me, lambda _pid: False)[1] is not None  # can't tell: wait
    later = lease.Holder("host-a", 100, 990.0 + lease.TTL_S + 1)
    assert lease.acquire(other_there, later, lambda _pid: True)[1] is None  # lapsed
    assert lease.renew(other_there, me) == (other_there, False)
    assert lease.release(me.to_json(), me) == ({}, None)


def _demo(processes: Processes, data: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    env = cli_env({"CIVICPULSE_DATA_DIR": str(data)})
    return processes.start([*CLI, "demo", *args], env=env, log=log)


def _servers_on(data: Path) -> list[int]:
    """Processes whose command line names ``data`` (the embedded servers keep it there)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(data).encode() in cmdline.read_bytes():
                pid = int(cmdline.parent.name)
                if alive(pid):
                    found.append(pid)
        except (OSError, ValueError):
            continue
    return found


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_the_demo_stopped_by_a_signal_leaves_nothing_running(
    processes: Processes, workdir: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    data, log = workdir / "data", tmp_path / "demo.log"
    demo = _demo(processes, data, log, "--rounds", "2000")
    _wait_log(log, "registered ")
    assert _servers_on(data), "the embedded servers run while the demo does"
    demo.send_signal(sig)
    assert demo.wait(60) == 128 + sig
    text = log.read_text()
    assert f"civicpulse: {sig.name}: stopping what this command started" in text
    assert f"civicpulse: stopped by {sig.name}" in text
    assert "Traceback" not in text
    assert _servers_on(data) == []


def test_a_demo_after_a_killed_one_recovers_by_itself(
    processes: Processes, workdir: Path, tmp_path: Path
) -> None:
    data = workdir / "data"
    killed = _demo(processes, data, tmp_path / "killed.log", "--rounds", "2000")
    _wait_log(tmp_path / "killed.log", "registered ")
    killed.kill()  # no chance to stop its servers
    killed.wait(10)
    assert _servers_on(data), "a SIGKILL leaves the embedded servers behind"
    log = tmp_path / "again.log"
    again = _demo(processes, data, log, "--devices", "6", "--rounds", "5")
    assert again.wait(120) == 0, log.read_text()
    text = log.read_text()
    assert "stopping the server" in text and "an earlier run left" in text
    assert "every message committed before its ack" in text
    assert _servers_on(data) == []


def test_the_demo_points_at_a_running_services_up(
    processes: Processes, workdir: Path, tmp_path: Path
) -> None:
    data, log = workdir / "data", tmp_path / "services.log"
    env = cli_env({"CIVICPULSE_DATA_DIR": str(data), "CIVICPULSE_EMBEDDED_BROKER": "amqtt"})
    up = processes.start([*CLI, "services", "up"], env=env, log=log)
    text = _wait_log(log, "Ctrl-C or SIGTERM stops them")
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in text.splitlines()
        if line.startswith("export ")
    )
    # amqtt speaks MQTT 3.1.1 only: the exports say so, or ingest could not connect.
    assert exports["CIVICPULSE_MQTT_PROTOCOL"] == "3.1.1"
    demo = civicpulse("demo", env={"CIVICPULSE_DATA_DIR": str(data)})
    one_clear_line(
        demo,
        2,
        "`civicpulse services up`",
        "is running them already",
        exports["CIVICPULSE_MQTT_URL"],
    )
    # doctor with the URLs but not the protocol: not healthy, and it names the setting.
    doctor = civicpulse(
        "doctor",
        env={k: v for k, v in exports.items() if k != "CIVICPULSE_MQTT_PROTOCOL"},
    )
    assert doctor.returncode == 1, doctor.stdout
    assert "set CIVICPULSE_MQTT_PROTOCOL=3.1.1" in doctor.stdout
    assert civicpulse("db", "migrate", env=exports).returncode == 0
    healthy = civicpulse("doctor", env=exports)
    assert healthy.returncode == 0, healthy.stdout
    up.send_signal(signal.SIGTERM)
    assert up.wait(60) == 128 + signal.SIGTERM
    assert _servers_on(data) == []
