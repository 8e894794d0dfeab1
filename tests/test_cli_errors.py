"""A newcomer never sees a traceback: mistakes a user can fix get one clear line and exit code 2,
a service that failed gets one line and exit code 1. Each case runs the real command."""

from __future__ import annotations

import stat
from pathlib import Path

import psycopg
import pytest

from tests.cli_harness import civicpulse, one_clear_line


@pytest.mark.parametrize(
    "args",
    [
        ("devices", "list"),
        ("zones", "list"),
        ("devices", "health"),
        ("city", "load", "--homes", "3", "--bays", "3", "--monitors", "1"),
        ("devices", "add", "aq-1", "--type", "air_quality"),
    ],
)
def test_commands_before_migrate_say_to_migrate(empty_db: str, args: tuple[str, ...]) -> None:
    result = civicpulse(*args, env={"CIVICPULSE_DATABASE_URL": empty_db})
    one_clear_line(result, 2, "run `civicpulse db migrate`")


@pytest.mark.parametrize(
    ("url", "code", "needle"),
    [
        ("notaurl", 2, "CIVICPULSE_DATABASE_URL: not a PostgreSQL URL"),
        ("postgresql://postgres@127.0.0.1:1/x", 1, "cannot reach the database"),
        ("postgresql://postgres@no-such-host.invalid/x", 2, "unknown database host"),
        ("postgresql://nobody@127.0.0.1:5432/postgres", 2, 'role "nobody" does not exist'),
    ],
)
def test_migrate_with_a_bad_url(url: str, code: int, needle: str) -> None:
    one_clear_line(civicpulse("db", "migrate", env={"CIVICPULSE_DATABASE_URL": url}), code, needle)


def test_migrate_into_a_missing_database(pg_server: str) -> None:
    params = psycopg.conninfo.conninfo_to_dict(pg_server)
    params["dbname"] = "cp_no_such_database"
    url = psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]
    result = civicpulse("db", "migrate", env={"CIVICPULSE_DATABASE_URL": url})
    one_clear_line(result, 2, 'database "cp_no_such_database" does not exist')


def test_a_bad_setting_is_one_line(db: str) -> None:
    env = {"CIVICPULSE_DATABASE_URL": db, "CIVICPULSE_INGEST_WORKERS": "many"}
    one_clear_line(civicpulse("devices", "list", env=env), 2, "CIVICPULSE_INGEST_WORKERS")


def test_importing_files_a_user_may_get_wrong(db: str, tmp_path: Path) -> None:
    env = {"CIVICPULSE_DATABASE_URL": db}
    missing = tmp_path / "nowhere.csv"
    one_clear_line(civicpulse("devices", "import", str(missing), env=env), 2, "no such file")
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("device_id,device_type,name\nb1,parking_bay,Caf\xe9 Row\n".encode("latin-1"))
    one_clear_line(civicpulse("devices", "import", str(latin), env=env), 2, "line 2 is not UTF-8")
    quote = tmp_path / "quote.csv"
    quote.write_text('device_id,device_type,name\nb1,parking_bay,"Bay 12\nb2,parking_bay,x\n')
    one_clear_line(
        civicpulse("devices", "import", str(quote), env=env), 2, "a quoted value is never closed"
    )
    sheet = tmp_path / "devices.xlsx"
    sheet.write_bytes(b"PK\x03\x04")
    one_clear_line(civicpulse("devices", "import", str(sheet), env=env), 2, "a .csv, .geojson")
    one_clear_line(civicpulse("zones", "import", str(tmp_path), env=env), 2, "is a directory")


def test_csv_from_excel_with_bom_and_capitalised_headers(db: str, tmp_path: Path) -> None:
    excel = tmp_path / "devices.csv"
    excel.write_bytes(
        b"\xef\xbb\xbfDevice_ID,Device_Type,Name,Restriction\r\n"
        b"bay-1,parking_bay,Bay 1 Camden Road,residents\r\n\r\n"
    )
    result = civicpulse("devices", "import", str(excel), env={"CIVICPULSE_DATABASE_URL": db})
    assert result.returncode == 0, result.stderr
    assert "registered 1 devices" in result.stdout
    listed = civicpulse("devices", "list", env={"CIVICPULSE_DATABASE_URL": db}).stdout
    assert listed.startswith("bay-1\tparking_bay\t")


def test_revoking_twice_and_a_missing_pid_file(db: str, tmp_path: Path) -> None:
    env = {"CIVICPULSE_DATABASE_URL": db}
    broker = ("--broker-dir", str(tmp_path / "broker"))
    assert civicpulse("devices", "add", "bay-9", "--type", "parking_bay", env=env).returncode == 0
    one_clear_line(
        civicpulse("devices", "revoke", "bay-9", *broker, env=env), 2, "was never provisioned"
    )
    provisioned = civicpulse(
        "devices", "provision", "bay-9", *broker, "--secrets-out", str(tmp_path / "s.csv"), env=env
    )
    assert provisioned.returncode == 0, provisioned.stderr
    pid_file = tmp_path / "mosquitto.pid"
    revoked = civicpulse(
        "devices", "revoke", "bay-9", *broker, "--reload-pid", str(pid_file), env=env
    )
    # The revocation itself happened; only the reload could not: the user is told both.
    one_clear_line(revoked, 2, f"{pid_file} does not exist", "files are updated")
    assert "bay-9" not in (tmp_path / "broker" / "passwd").read_text()
    again = civicpulse("devices", "revoke", "bay-9", *broker, env=env)
    one_clear_line(again, 2, "already revoked on", "nothing to do")
    one_clear_line(civicpulse("devices", "revoke", "bay-0", *broker, env=env), 2, "not registered")


def test_a_service_secret_goes_to_a_private_file(db: str, tmp_path: Path) -> None:
    env = {"CIVICPULSE_DATABASE_URL": db}
    secret = tmp_path / "ingest-secret.csv"
    options = ("--broker-dir", str(tmp_path / "broker"), "--secret-out", str(secret))
    made = civicpulse("broker", "account", "svc-ingest", *options, env=env)
    assert made.returncode == 0, made.stderr
    assert "svc-ingest" not in made.stdout  # nothing secret on the terminal
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    username, _, value = secret.read_text().strip().partition(",")
    assert username == "svc-ingest" and len(value) >= 20
    one_clear_line(civicpulse("broker", "account", "svc-ingest", *options, env=env), 2, "exists")
