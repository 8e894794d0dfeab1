"""The deployment files: docker-compose.yml, the Dockerfile and the broker configuration.

No Docker engine runs in CI, so compose is tested by parsing it and checking what must hold for
`docker compose up` to work and stay safe. Where a mosquitto binary exists, the shipped
mosquitto.conf and ACL also run for real, with their listeners moved to free loopback ports.
"""

from __future__ import annotations

import fnmatch
import os
import pwd
import queue
import re
import shutil
import subprocess
import tempfile
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import generate_latest

from civicpulse.cli import build_parser
from civicpulse.embedded import find_mosquitto, free_port
from civicpulse.mqtt.client import stop_loop
from civicpulse.settings import Settings
from devices.contract import STATUS_FILTER, TELEMETRY_FILTER, status_topic, telemetry_topic
from devices.credentials import DOCTOR_ACCOUNT, INGEST_STOPPING_TOPIC, PROBE_ROOT, UPTIME_TOPIC
from devices.model import Reason
from devices.types import DEVICE_TYPES
from ingest.metrics import Metrics, MetricsCollector, registry_for
from ingest.mqtt import DROPPED_TOPIC

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
MOSQUITTO_DIR = ROOT / "deploy" / "mosquitto"

# Files the operator creates (they hold secrets, so they are not in git). The docs must say how.
# The broker account ingest logs in with (service accounts start with "svc-"; device ids cannot).
INGEST_ACCOUNT = "svc-ingest"
USER_CREATED = {"deploy/mosquitto/passwd", "deploy/secrets/postgres_password"}
SETUP_DOCS = (MOSQUITTO_DIR / "README.md", ROOT / "docs" / "deploy.md")

_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}")
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PASSPHRASE|KEY", re.IGNORECASE)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def _strings(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def _bind_sources(compose: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None]]:
    """``(service, host path, long-syntax entry or None)`` for every bind mount and secret file."""
    found: list[tuple[str, str, dict[str, Any] | None]] = []
    for name, service in compose["services"].items():
        for volume in service.get("volumes") or []:
            if isinstance(volume, str):
                source = volume.split(":", 1)[0]
                if source.startswith((".", "/", "~")):
                    found.append((name, source, None))
            elif volume.get("type") == "bind":
                found.append((name, volume["source"], volume))
    for name, secret in (compose.get("secrets") or {}).items():
        if "file" in secret:
            found.append((f"secret {name}", secret["file"], None))
    return found


def _relative(source: str) -> str:
    return os.path.normpath(source).removeprefix("./")


# ---------------------------------------------------------------------------
# docker-compose.yml
# ---------------------------------------------------------------------------


def test_the_pipeline_services_are_there(services: dict[str, dict[str, Any]]) -> None:
    assert {"mosquitto", "timescaledb", "migrate", "ingest"} <= set(services)


def test_healthy_dependencies_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for target, condition in _depends_on(service).items():
            assert target in services, f"{name} depends on unknown service {target}"
            if condition == "service_healthy":
                check = services[target].get("healthcheck") or {}
                message = f"{name} waits for {target} to be healthy; {target} has no healthcheck"
                assert check.get("test"), message
                assert not check.get("disable"), message


def test_one_shot_dependencies_do_not_restart(services: dict[str, dict[str, Any]]) -> None:
    for service in services.values():
        for target, condition in _depends_on(service).items():
            if condition == "service_completed_successfully":
                assert services[target].get("restart", "no") in ("no", "on-failure")


def test_ingest_waits_for_broker_database_and_schema(
    services: dict[str, dict[str, Any]],
) -> None:
    ingest = services["ingest"]
    assert _depends_on(ingest) == {
        "mosquitto": "service_healthy",
        "timescaledb": "service_healthy",
        "migrate": "service_completed_successfully",
    }
    assert _depends_on(services["migrate"]) == {"timescaledb": "service_healthy"}
    assert ingest["restart"] == "unless-stopped"


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service.get("image")
        if image is None:
            assert "build" in service, f"{name} has neither an image nor a build"
            continue
        reference = image.split("@", 1)[0]
        repository, _, tag = reference.rpartition(":")
        assert repository, f"{name}: {image} has no tag"
        assert "/" not in tag, f"{name}: {image} has no tag"
        assert "latest" not in tag, f"{name}: {image} is not pinned"
        assert re.search(r"\d+\.\d+", tag), f"{name}: {image} has no version in its tag"


def test_timescaledb_image_supports_current_postgresql(
    services: dict[str, dict[str, Any]],
) -> None:
    # TimescaleDB releases after June 2026 no longer support PostgreSQL 15.
    image = services["timescaledb"]["image"]
    match = re.search(r"-pg(\d+)", image)
    assert match, image
    assert int(match.group(1)) >= 16, image


def test_bind_mounts_exist_or_are_documented(compose: dict[str, Any]) -> None:
    docs = "\n".join(path.read_text(encoding="utf-8") for path in SETUP_DOCS)
    for owner, source, _entry in _bind_sources(compose):
        path = _relative(source)
        assert not os.path.isabs(path), f"{owner}: {source} points outside the repository"
        assert not path.startswith(".."), f"{owner}: {source} points outside the repository"
        if path in USER_CREATED:
            assert path in docs, f"{path} is created by the operator but no setup doc says how"
        else:
            assert (ROOT / path).exists(), f"{owner}: {source} is not in the repository"


def test_file_mounts_fail_instead_of_creating_directories(compose: dict[str, Any]) -> None:
    # With the short syntax, Docker creates a missing host path as an empty directory, and
    # Mosquitto then fails on a "passwd" directory with a confusing error.
    for owner, source, entry in _bind_sources(compose):
        if owner.startswith("secret "):
            continue  # compose itself refuses a missing secret file
        assert entry is not None, f"{owner}: use the long syntax for {source}"
        assert entry.get("bind", {}).get("create_host_path") is False, (
            f"{owner}: {source} needs bind.create_host_path: false"
        )


def test_user_created_files_stay_out_of_the_image() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def excluded(path: str) -> bool:
        candidates = [path, *(str(p) for p in Path(path).parents if str(p) != ".")]
        verdict = False
        for pattern in patterns:
            negated = pattern.startswith("!")
            pattern = pattern.removeprefix("!").rstrip("/")
            if any(fnmatch.fnmatchcase(c, pattern) for c in candidates):
                verdict = not negated
        return verdict

    for secret in (*USER_CREATED, ".env", ".venv/bin/python", ".git/config"):
        assert excluded(secret), f"{secret} would be sent to the Docker build"
    for needed in ("pyproject.toml", "README.md", "civicpulse/cli.py", "ingest/service.py"):
        assert not excluded(needed), f"{needed} is missing from the Docker build context"


def test_civicpulse_variables_are_settings(services: dict[str, dict[str, Any]]) -> None:
    known = {f"CIVICPULSE_{name.upper()}" for name in Settings.model_fields}
    used = {
        key for service in services.values() for key in _environment(service) if "CIVICPULSE" in key
    }
    assert used, "compose sets no CIVICPULSE_* variables"
    assert used <= known, f"not settings: {sorted(used - known)}"


def test_service_urls_point_at_compose_services(services: dict[str, dict[str, Any]]) -> None:
    ingest = _environment(services["ingest"])
    url = ingest["CIVICPULSE_MQTT_URL"]
    assert re.fullmatch(rf"mqtt://{INGEST_ACCOUNT}:\$\{{[^}}]+\}}@mosquitto:1883", url)
    timescaledb = _environment(services["timescaledb"])
    for name in ("ingest", "migrate"):
        url = _environment(services[name])["CIVICPULSE_DATABASE_URL"]
        user, database = timescaledb["POSTGRES_USER"], timescaledb["POSTGRES_DB"]
        assert re.fullmatch(rf"postgresql://{user}:\$\{{[^}}]+\}}@timescaledb:5432/{database}", url)
    # Metrics must be reachable from other containers (Prometheus), not only from loopback.
    assert ingest["CIVICPULSE_INGEST_METRICS_HOST"] == "0.0.0.0"  # noqa: S104


def test_commands_are_civicpulse_commands(services: dict[str, dict[str, Any]]) -> None:
    parser = build_parser()
    assert services["migrate"]["command"] == ["db", "migrate"]
    assert services["ingest"]["command"] == ["ingest"]
    for name in ("migrate", "ingest"):
        args = parser.parse_args(services[name]["command"])
        assert hasattr(args, "run"), f"{name}: {services[name]['command']} is not a command"


def test_no_default_passwords(compose: dict[str, Any]) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for match in _INTERPOLATION.finditer(text):
        name, modifier = match.groups()
        # Every variable is required: `${X:?message}` stops compose; `${X:-default}` would not.
        assert modifier.startswith(":?"), f"${{{name}}} must be required (:?), not {modifier!r}"
    urls = 0
    for value in _strings(compose):
        for password in re.findall(r"://[^/:@\s]+:(\$\{[^}]*\}|[^@\s]*)@", value):
            urls += 1
            assert _INTERPOLATION.fullmatch(password), f"literal password in {value!r}"
    assert urls >= 2, "expected the database and broker URLs to carry interpolated passwords"
    for service in compose["services"].values():
        for key, value in _environment(service).items():
            if _SECRET_NAME.search(key) and not key.endswith("_FILE"):
                assert _INTERPOLATION.fullmatch(value), f"{key} has a literal value"


def test_password_variables_are_documented() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    docs = "\n".join(path.read_text(encoding="utf-8") for path in SETUP_DOCS)
    names = {m.group(1) for m in _INTERPOLATION.finditer(text)}
    assert names
    for name in names:
        assert name in docs, f"{name} is needed by compose but not explained in the setup docs"


def test_database_password_comes_from_a_secret(services: dict[str, dict[str, Any]]) -> None:
    timescaledb = services["timescaledb"]
    env = _environment(timescaledb)
    assert env["POSTGRES_DB"] == "civicpulse"
    assert env["POSTGRES_USER"] == "civicpulse"
    assert "POSTGRES_PASSWORD" not in env
    secret = env["POSTGRES_PASSWORD_FILE"].removeprefix("/run/secrets/")
    assert secret in timescaledb["secrets"]
    assert "pg_isready" in " ".join(timescaledb["healthcheck"]["test"])
    assert any(str(v).endswith(":/var/lib/postgresql/data") for v in timescaledb["volumes"])


# ---------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_dockerfile_runs_as_an_unprivileged_user() -> None:
    users = [rest for keyword, rest in _instructions() if keyword == "USER"]
    assert users, "the Dockerfile never leaves root"
    user = users[-1].split(":", 1)[0]
    assert user not in ("root", "0"), users[-1]


def test_dockerfile_installs_the_project() -> None:
    instructions = _instructions()
    base = next(rest for keyword, rest in instructions if keyword == "FROM")
    assert ":" in base, base
    assert "latest" not in base, base
    assert any(
        keyword == "RUN" and re.search(r"pip install (\S+ )*\.(\s|$|&)", rest)
        for keyword, rest in instructions
    )
    assert ("ENTRYPOINT", '["civicpulse"]') in instructions
    copied = " ".join(rest for keyword, rest in instructions if keyword == "COPY")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for include in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = include.rstrip("*")
        assert f"{package}/" in copied, f"the image does not get the {package} package"
    assert "pyproject.toml" in copied
    assert "README.md" in copied


# ---------------------------------------------------------------------------
# Mosquitto: mosquitto.conf and acl
# ---------------------------------------------------------------------------


def _listeners() -> dict[str, dict[str, list[str]]]:
    """Options per listener (``"1883"``, ``"1880 127.0.0.1"``); ``""`` holds the global ones."""
    sections: dict[str, dict[str, list[str]]] = {"": {}}
    current = ""
    for line in (MOSQUITTO_DIR / "mosquitto.conf").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        option, _, value = line.partition(" ")
        if option == "listener":
            current = value.strip()
            sections[current] = {}
            continue
        sections[current].setdefault(option, []).append(value.strip())
    return sections


def _everywhere() -> dict[str, list[str]]:
    """All options whatever their section (global options may follow any listener line)."""
    options: dict[str, list[str]] = {}
    for section in _listeners().values():
        for key, values in section.items():
            options.setdefault(key, []).extend(values)
    return options


def _option(options: dict[str, list[str]], name: str) -> str:
    values = options.get(name)
    assert values, f"{name} is not set"
    assert len(values) == 1, f"{name} must be set once, got {values}"
    return values[0]


def test_device_listener_refuses_anonymous_clients() -> None:
    listeners = _listeners()
    assert _option(listeners[""], "per_listener_settings") == "true"
    main = listeners["1883"]
    assert _option(main, "allow_anonymous") == "false"
    assert _option(main, "password_file") == "/mosquitto/config/passwd"
    assert _option(main, "acl_file") == "/mosquitto/config/acl"


def test_broker_keeps_and_queues_enough() -> None:
    options = _everywhere()
    assert _option(options, "persistence") == "true"
    # Mosquitto's default of 1000 silently drops the backlog of an offline ingest session.
    assert int(_option(options, "max_queued_messages")) > 1000


def test_healthcheck_uses_the_loopback_listener(services: dict[str, dict[str, Any]]) -> None:
    test = services["mosquitto"]["healthcheck"]["test"]
    assert "mosquitto_sub" in test
    port = test[test.index("-p") + 1]
    host = test[test.index("-h") + 1]
    listener = _listeners()[f"{port} {host}"]
    assert host == "127.0.0.1"
    assert _option(listener, "allow_anonymous") == "true"
    published = " ".join(str(p) for p in services["mosquitto"].get("ports", []))
    assert port not in re.findall(r"\d+", published), "never publish the healthcheck listener"


def test_broker_files_are_mounted_where_the_config_expects_them(
    services: dict[str, dict[str, Any]],
) -> None:
    listeners = _listeners()
    targets = set()
    for volume in services["mosquitto"]["volumes"]:
        target = volume.split(":")[1] if isinstance(volume, str) else volume["target"]
        targets.add(target.rstrip("/"))
    assert "/mosquitto/config/mosquitto.conf" in targets
    for path in (
        _option(listeners["1883"], "password_file"),
        _option(listeners["1883"], "acl_file"),
        _option(_everywhere(), "persistence_location").rstrip("/"),
    ):
        assert path in targets, f"mosquitto.conf uses {path}, which compose does not mount"


def _acl() -> dict[str, set[tuple[str, str]]]:
    """``{user or "%pattern": {(access, topic)}}`` from deploy/mosquitto/acl."""
    rules: dict[str, set[tuple[str, str]]] = {}
    user = ""
    for line in (MOSQUITTO_DIR / "acl").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if keyword == "user":
            user = rest.strip()
        elif keyword in ("topic", "pattern"):
            access, _, topic = rest.strip().partition(" ")
            owner = "%pattern" if keyword == "pattern" else user
            rules.setdefault(owner, set()).add((access, topic.strip()))
        else:
            pytest.fail(f"unexpected ACL line: {line}")
    return rules


def test_acl_lets_ingest_read_and_devices_write_only_their_own_topics() -> None:
    rules = _acl()
    assert set(rules) == {INGEST_ACCOUNT, DOCTOR_ACCOUNT, "%pattern"}, "no anonymous accounts"
    assert rules[INGEST_ACCOUNT] == {
        ("read", TELEMETRY_FILTER),
        ("read", STATUS_FILTER),
        ("read", DROPPED_TOPIC),
        ("read", UPTIME_TOPIC),
        # The barrier before DISCONNECT: its PUBACK says the broker read every acknowledgement.
        ("write", INGEST_STOPPING_TOPIC),
    }
    # The queue probe writes only under its own root, never a device topic.
    assert rules[DOCTOR_ACCOUNT] == {("read", "$SYS/#"), ("readwrite", f"{PROBE_ROOT}/#")}
    writes = {topic for access, topic in rules["%pattern"] if access != "read"}
    assert writes == {telemetry_topic("%u"), status_topic("%u")}
    assert all(access in ("read", "write") for access, _ in rules["%pattern"])
    for _, topic in rules["%pattern"]:
        assert topic.startswith(telemetry_topic("%u").rsplit("/", 1)[0] + "/"), topic
        assert "#" not in topic
        assert "+" not in topic


# ---------------------------------------------------------------------------
# Docs that must follow the code
# ---------------------------------------------------------------------------


def _doc(name: str) -> str:
    return (ROOT / "docs" / name).read_text(encoding="utf-8")


def test_every_setting_is_documented() -> None:
    text = _doc("operations.md")
    names = [f"CIVICPULSE_{field.upper()}" for field in Settings.model_fields]
    missing = [name for name in names if f"`{name}`" not in text]
    assert not missing, f"add to the settings table in docs/operations.md: {missing}"


def test_every_metric_is_documented() -> None:
    text = _doc("operations.md")
    metrics = Metrics(broker_dropped=0)
    exposition = generate_latest(registry_for(MetricsCollector(metrics))).decode()
    names = set(re.findall(r"^# TYPE (\S+)", exposition, flags=re.MULTILINE))
    assert "civicpulse_broker_dropped_messages" in names
    missing = sorted(name for name in names if f"`{name}" not in text)
    assert not missing, f"add to the metrics table in docs/operations.md: {missing}"


def test_contract_lists_every_reason_type_and_field() -> None:
    text = _doc("device-contract.md")
    missing = [f"reason {r.value}" for r in Reason if f"`{r.value}`" not in text]
    for device_type in DEVICE_TYPES.values():
        if f"### `{device_type.name}`" not in text:
            missing.append(f"type {device_type.name}")
        section = text.split(f"### `{device_type.name}`", 1)[-1].split("\n### ", 1)[0]
        missing += [
            f"{device_type.name}.{f.name}"
            for f in device_type.fields
            if f"`{f.name}`" not in section
        ]
    assert not missing, f"docs/device-contract.md does not cover: {missing}"


# ---------------------------------------------------------------------------
# The same files on a real Mosquitto
# ---------------------------------------------------------------------------


class _Client:
    def __init__(self, port: int, username: str | None = None, password: str | None = None) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.refused: str | None = None
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:10]}"
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.on_message = lambda _c, _u, m: self.messages.put((m.topic, bytes(m.payload)))
        self._client.on_connect = self._on_connect
        self._subscribed: queue.Queue[bool] = queue.Queue()
        self._client.on_subscribe = lambda _c, _u, _m, rcs, _p: self._subscribed.put(
            not any(rc.is_failure for rc in rcs)
        )
        self._client.connect("127.0.0.1", port, keepalive=10)
        self._client.loop_start()
        self._connected = self._wait_connected()

    def _on_connect(self, _c: object, _u: object, _f: object, reason: Any, _p: object) -> None:
        self.refused = str(reason) if reason.is_failure else None

    def _wait_connected(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._client.is_connected():
                return True
            if self.refused is not None:
                return False
            time.sleep(0.02)
        return False

    @property
    def connected(self) -> bool:
        return self._connected

    def subscribe(self, topic: str) -> bool:
        self._client.subscribe(topic, qos=1)
        return self._subscribed.get(timeout=10)

    def publish(self, topic: str, payload: bytes) -> None:
        self._client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self._client.disconnect()
        stop_loop(self._client)


@pytest.fixture
def shipped_broker() -> Iterator[int]:
    """deploy/mosquitto/{mosquitto.conf,acl} on Mosquitto, listeners moved to free ports."""
    mosquitto = find_mosquitto()
    passwd_tool = shutil.which("mosquitto_passwd")
    if mosquitto is None or passwd_tool is None:
        pytest.skip("needs the mosquitto and mosquitto_passwd binaries")
    account = None
    if os.geteuid() == 0:  # Mosquitto drops to the "mosquitto" user, which must read the files
        try:
            account = pwd.getpwnam("mosquitto")
        except KeyError:
            pytest.skip("running as root without a 'mosquitto' user")
    work = Path(tempfile.mkdtemp(prefix="civicpulse-broker-"))
    port, health = free_port(), free_port()
    config = (MOSQUITTO_DIR / "mosquitto.conf").read_text(encoding="utf-8")
    config = re.sub(r"(?m)^listener 1883$", f"listener {port} 127.0.0.1", config)
    config = re.sub(r"(?m)^listener 1880 127.0.0.1$", f"listener {health} 127.0.0.1", config)
    config = config.replace("/mosquitto/config/", f"{work}/").replace(
        "/mosquitto/data/", f"{work}/data/"
    )
    config = re.sub(r"(?m)^log_dest stdout$", f"log_dest file {work}/mosquitto.log", config)
    (work / "mosquitto.conf").write_text(config, encoding="utf-8")
    (work / "data").mkdir()
    shutil.copy(MOSQUITTO_DIR / "acl", work / "acl")
    (work / "passwd").touch()
    for user in (INGEST_ACCOUNT, "bay-1", "bay-10"):
        subprocess.run(
            [passwd_tool, "-b", str(work / "passwd"), user, f"pw-{user}"],
            check=True,
            capture_output=True,
        )
    for path in (work, *work.iterdir()):
        if account is not None:
            os.chown(path, account.pw_uid, account.pw_gid)
        path.chmod(0o700 if path.is_dir() else 0o600)
    process = subprocess.Popen(
        [mosquitto, "-c", str(work / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while not (work / "mosquitto.log").exists() or f"port {health}" not in (
            work / "mosquitto.log"
        ).read_text(errors="replace"):
            assert process.poll() is None, (work / "mosquitto.log").read_text(errors="replace")
            assert time.monotonic() < deadline, "mosquitto did not open its listeners"
            time.sleep(0.05)
        time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def test_shipped_acl_on_a_real_broker(shipped_broker: int) -> None:
    port = shipped_broker
    anonymous = _Client(port)
    assert not anonymous.connected
    anonymous.close()
    ingest = _Client(port, INGEST_ACCOUNT, f"pw-{INGEST_ACCOUNT}")
    bay1 = _Client(port, "bay-1", "pw-bay-1")
    try:
        assert ingest.connected, ingest.refused
        assert bay1.connected, bay1.refused
        assert ingest.subscribe(TELEMETRY_FILTER)
        assert ingest.subscribe(f"$share/ingest/{STATUS_FILTER}")
        bay1.subscribe("#")  # refused or not, nothing may arrive (checked below)

        bay1.publish(telemetry_topic("bay-10"), b"spoofed")  # another device's topic: dropped
        bay1.publish(telemetry_topic("bay-1"), b'{"occupied": true}')
        bay1.publish(status_topic("bay-1"), b"online")
        received = {ingest.messages.get(timeout=10) for _ in range(2)}
        assert received == {
            (telemetry_topic("bay-1"), b'{"occupied": true}'),
            (status_topic("bay-1"), b"online"),
        }
        time.sleep(0.5)
        assert ingest.messages.empty(), "a device published to another device's topic"
        assert bay1.messages.empty(), "a device read other devices' messages"
    finally:
        ingest.close()
        bay1.close()
