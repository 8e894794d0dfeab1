"""Fixtures: real PostgreSQL and Mosquitto, never mocks.

``CIVICPULSE_TEST_DATABASE_URL`` (a server URL whose user may create databases) and
``CIVICPULSE_TEST_MQTT_URL`` point the suite at running services, as CI does; without them the suite
starts embedded ones (a pip-installed PostgreSQL, Mosquitto or amqtt). Each test that needs a
database gets a fresh, migrated one; each test uses its own device ids and MQTT client ids.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg import sql

from civicpulse.embedded import EmbeddedBroker, EmbeddedPostgres, find_mosquitto
from storage.migrate import migrate

# Fixtures in their own modules, available to every test.
pytest_plugins = ["tests.processes"]


def _replace_database(url: str, name: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(url)
    params["dbname"] = name
    return psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def services_root() -> Iterator[Path]:
    """A directory for embedded servers' data that their service account can reach.

    Under root the servers run as an unprivileged account, and pytest's own temporary
    directories are closed to other users; CivicPulse never opens a directory it did not create,
    so the suite makes its own (in /tmp, open to all) and removes it at the end.
    """
    root = Path(tempfile.mkdtemp(prefix="civicpulse-tests-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def workdir(services_root: Path) -> Path:
    """A fresh directory under :func:`services_root` for one test's servers."""
    path = services_root / uuid.uuid4().hex[:12]
    path.mkdir(mode=0o755)
    return path


@pytest.fixture(scope="session")
def pg_server(services_root: Path) -> Iterator[str]:
    """A PostgreSQL server URL (maintenance database) on which tests create databases."""
    url = os.environ.get("CIVICPULSE_TEST_DATABASE_URL")
    if url:
        yield url
        return
    with EmbeddedPostgres(data_dir=services_root / "pg") as server:
        yield server.url


@pytest.fixture(scope="session")
def mqtt_url(services_root: Path) -> Iterator[str]:
    """The broker shared by the suite (the machine's Mosquitto in CI)."""
    url = os.environ.get("CIVICPULSE_TEST_MQTT_URL")
    if url:
        yield url
        return
    prefer = os.environ.get("CIVICPULSE_EMBEDDED_BROKER", "auto")
    with EmbeddedBroker(data_dir=services_root / "broker", prefer=prefer) as broker:  # type: ignore[arg-type]
        if broker.kind == "amqtt":  # it speaks MQTT 3.1.1 only; see tests/ingest_harness.py
            os.environ.setdefault("CIVICPULSE_TEST_MQTT_PROTOCOL", "3.1.1")
            os.environ["CIVICPULSE_TEST_BROKER_KIND"] = "amqtt"
        yield broker.url


@pytest.fixture(autouse=True)
def _mosquitto_semantics(request: pytest.FixtureRequest) -> None:
    """Tests marked ``mosquitto_only`` rely on what amqtt (the fallback broker on machines
    without Mosquitto) does not do: shared subscriptions, Mosquitto's will and retain timing,
    $SYS topics. They skip, saying so, when the suite's broker is amqtt."""
    if request.node.get_closest_marker("mosquitto_only") is None:
        return
    if "mqtt_url" in request.fixturenames:
        request.getfixturevalue("mqtt_url")
    if os.environ.get("CIVICPULSE_TEST_BROKER_KIND") == "amqtt":
        pytest.skip(
            "needs Mosquitto's semantics; the suite's broker is amqtt (no mosquitto binary)"
        )


@pytest.fixture(scope="session", autouse=True)
def clear_retained_statuses(mqtt_url: str) -> Iterator[None]:
    """After the suite, clear retained statuses it left on a shared broker (test device ids
    start with ``t`` + 10 hex digits, see ``prefix``), so later runs start from a clean slate."""
    yield
    import re
    import time

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from civicpulse.mqtt.client import BrokerAddress, stop_loop

    address = BrokerAddress.parse(mqtt_url)
    pattern = re.compile(r"^civicpulse/v1/devices/t[0-9a-f]{10}[^/]*/status$")
    topics: list[str] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"cleanup-{uuid.uuid4().hex[:8]}")
    client.on_message = lambda _c, _u, m: topics.append(m.topic) if m.retain else None
    client.connect(address.host, address.port)
    client.loop_start()
    client.subscribe("civicpulse/v1/devices/+/status")
    time.sleep(1.0)
    for topic in topics:
        if pattern.match(topic):
            client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
    client.disconnect()
    stop_loop(client)


@pytest.fixture
def own_broker(workdir: Path) -> Iterator[EmbeddedBroker]:
    """A Mosquitto owned by one test, so that the test may restart it (skips without Mosquitto)."""
    if find_mosquitto() is None:
        pytest.skip("needs the mosquitto binary (amqtt keeps no sessions across restarts)")
    broker = EmbeddedBroker(data_dir=workdir / "broker", prefer="mosquitto")
    with broker:
        yield broker


@pytest.fixture
def own_postgres(workdir: Path) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL owned by one test, so that the test may restart or crash it."""
    with EmbeddedPostgres(data_dir=workdir / "pg") as server:
        yield server


def create_database(server_url: str) -> str:
    name = f"cp_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _replace_database(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(name)))
        )


TIMESCALEDB_SERVER = os.environ.get("CIVICPULSE_TEST_TIMESCALEDB_URL")
"""A server with TimescaleDB preloaded (CI starts one); its tests skip, saying why, without."""
NEEDS_TIMESCALEDB = [
    pytest.mark.timescaledb,
    pytest.mark.skipif(
        not TIMESCALEDB_SERVER,
        reason="CIVICPULSE_TEST_TIMESCALEDB_URL is not set (a server with TimescaleDB preloaded)",
    ),
]
STORAGE_MODES = ["postgres", pytest.param("timescaledb", marks=NEEDS_TIMESCALEDB)]
"""Parameters of a fixture that builds its database in each storage mode."""
Test = TypeVar("Test", bound=Callable[..., object])


def needs_timescaledb(test: Test) -> Test:
    """Marks a test as needing TimescaleDB (:data:`TIMESCALEDB_SERVER`)."""
    for mark in NEEDS_TIMESCALEDB:
        test = mark(test)
    return test


def database_in_mode(
    mode: str, pg_server: str, load: Callable[[str, str], Coroutine[Any, Any, None]]
) -> Iterator[str]:
    """A fresh database on the server of ``mode`` (a :data:`STORAGE_MODES` value), filled by
    ``load(url, timescaledb)`` (``"on"`` or ``"off"``), dropped afterwards."""
    server = TIMESCALEDB_SERVER if mode == "timescaledb" else pg_server
    assert server is not None
    url = create_database(server)
    try:
        asyncio.run(load(url, "on" if mode == "timescaledb" else "off"))
        yield url
    finally:
        drop_database(server, url)


@pytest.fixture
def empty_db(pg_server: str) -> Iterator[str]:
    """A fresh database with nothing in it."""
    url = create_database(pg_server)
    yield url
    drop_database(pg_server, url)


@pytest.fixture
def db(empty_db: str) -> str:
    """A fresh database migrated in plain PostgreSQL mode (the mode CI can run)."""
    asyncio.run(migrate(empty_db, timescaledb="off"))
    return empty_db


@pytest.fixture
def prefix() -> str:
    """A device-id prefix unique to this test."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def aconn(db: str) -> AsyncIterator[psycopg.AsyncConnection[tuple[object, ...]]]:
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        yield conn
