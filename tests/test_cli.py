"""The ``civicpulse`` command as a user runs it, against real services."""

from __future__ import annotations

import os
import re
from pathlib import Path

import psycopg
import pytest

from storage.migrations import MIGRATIONS
from tests.analytics.homes import last_month
from tests.cli_harness import civicpulse


def test_migrate_reports_the_mode_and_is_idempotent(empty_db: str) -> None:
    env = {"CIVICPULSE_DATABASE_URL": empty_db, "CIVICPULSE_TIMESCALEDB": "off"}
    first = civicpulse("db", "migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "storage mode: postgres (CIVICPULSE_TIMESCALEDB=off)" in first.stdout
    every = ", ".join(str(m.version) for m in MIGRATIONS)
    assert f"applied now: {every}" in first.stdout
    again = civicpulse("db", "migrate", env=env)
    assert "applied now: none (already up to date)" in again.stdout


def test_devices_add_import_list(db: str, tmp_path: Path, prefix: str) -> None:
    env = {"CIVICPULSE_DATABASE_URL": db}
    added = civicpulse(
        "devices",
        "add",
        f"{prefix}-aq",
        "--type",
        "air_quality",
        "--lat",
        "51.55",
        "--lon",
        "-0.14",
        "--zone",
        "ward-03",
        "--attr",
        "site_type=roadside",
        env=env,
    )
    assert added.returncode == 0, added.stderr
    csv = tmp_path / "devices.csv"
    csv.write_text(
        "device_id,device_type,name,latitude,longitude,zones,restriction,consent\n"
        f"{prefix}-bay,parking_bay,Bay 12 Camden Road,51.541,-0.139,CA-D,residents,\n"
        f"{prefix}-m,smart_meter,,,,,,daily\n"
    )
    imported = civicpulse("devices", "import", str(csv), env=env)
    assert imported.returncode == 0, imported.stderr
    assert "registered 2 devices" in imported.stdout
    listed = civicpulse("devices", "list", env=env).stdout.splitlines()
    assert listed == [
        f"{prefix}-aq\tair_quality\tward-03\t51.55,-0.14\t",
        f"{prefix}-bay\tparking_bay\tCA-D\t51.541,-0.139\tBay 12 Camden Road",
        f"{prefix}-m\tsmart_meter\t-\t-\t",
    ]
    exported = civicpulse("devices", "export", env=env).stdout
    assert f"{prefix}-m,smart_meter,,,,,,,,daily," in exported
    assert "residents" in exported
    # The household withdraws its consent; asked again (or for a device without one), no change.
    withdrawn = civicpulse("devices", "withdraw", f"{prefix}-m", f"{prefix}-bay", env=env)
    assert withdrawn.returncode == 0, withdrawn.stderr
    assert "consent withdrawn for 1 of 2 meters" in withdrawn.stdout
    assert (
        "consent withdrawn for 0 of 1"
        in civicpulse("devices", "withdraw", f"{prefix}-m", env=env).stdout
    )
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT consent FROM devices WHERE device_id = %s", (f"{prefix}-m",))
        assert row.fetchone() == (None,)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("x1,lamp_post,,,,", "unknown type 'lamp_post'"),
        ("x/1,air_quality,,,,", "ids are 1-64 characters"),
        ("x1,air_quality,91,0,,", "latitude 91.0 is out of range"),
        ("x1,air_quality,51.5,,,", "give both latitude and longitude"),
        ("x1,smart_meter,,,always,", "consent must be one of"),
        ("x1,air_quality,,,daily,", "consent applies to smart meters only"),
        ("x1,parking_bay,,,,valet", "attribute restriction must be one of"),
    ],
)
def test_bad_csv_rows_are_refused_with_their_line(
    db: str, tmp_path: Path, row: str, message: str
) -> None:
    csv = tmp_path / "devices.csv"
    csv.write_text(
        "device_id,device_type,latitude,longitude,consent,restriction\n"
        f"ok1,air_quality,,,,\n{row}\n"
    )
    result = civicpulse("devices", "import", str(csv), env={"CIVICPULSE_DATABASE_URL": db})
    assert result.returncode == 2  # the user's file: theirs to fix
    assert "CSV line 3" in result.stderr
    assert message in result.stderr
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM devices").fetchone() == (0,)  # all or nothing


def test_sample_city_loads_with_zones(db: str) -> None:
    env = {"CIVICPULSE_DATABASE_URL": db}
    loaded = civicpulse("city", "load", "--homes", "40", "--bays", "30", "--monitors", "6", env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert "sample city: 14 zones, 77 devices registered" in loaded.stdout
    zones = civicpulse("zones", "list", env=env).stdout.splitlines()
    assert "aqma-camden\taqma\t77\tCamden AQMA" in zones
    ward_total = sum(int(line.split("\t")[2]) for line in zones if "\tward\t" in line)
    assert ward_total == 77  # every device sits in exactly one ward
    in_zone = civicpulse("devices", "list", "--zone", "cpz-ca-n", env=env).stdout.splitlines()
    assert in_zone
    assert all("cpz-ca-n" in line for line in in_zone)


def test_doctor_reports_services(db: str, mqtt_url: str) -> None:
    protocol = os.environ.get("CIVICPULSE_TEST_MQTT_PROTOCOL", "5")
    env = {
        "CIVICPULSE_DATABASE_URL": db,
        "CIVICPULSE_MQTT_URL": mqtt_url,
        "CIVICPULSE_MQTT_PROTOCOL": protocol,
    }
    result = civicpulse("doctor", env=env)
    assert "PostgreSQL 1" in result.stdout
    assert "storage mode: postgres" in result.stdout
    newest = max(m.version for m in MIGRATIONS)
    assert f"schema version {newest} (newest {newest})" in result.stdout
    assert f"connect (MQTT {protocol}): Success" in result.stdout
    # A fresh database has no record of the broker's drops yet: nothing to blame on it. (A
    # shared broker's own count since it started is shown, not judged: see test_drops.py.)
    assert "ingest has not recorded this broker's drop count yet" in result.stdout
    assert result.returncode == 0, result.stdout


def test_doctor_flags_an_unmigrated_database(empty_db: str) -> None:
    result = civicpulse("doctor", env={"CIVICPULSE_DATABASE_URL": empty_db})
    assert result.returncode == 1
    assert "database not migrated: run `civicpulse db migrate`" in result.stdout
    assert "CIVICPULSE_MQTT_URL is not set" in result.stdout


def test_services_need_urls() -> None:
    result = civicpulse("ingest")
    assert result.returncode == 2
    assert "CIVICPULSE_DATABASE_URL: not set" in result.stderr


def test_demo_against_configured_services(db: str, mqtt_url: str) -> None:
    result = civicpulse(
        "demo",
        "--devices",
        "9",
        "--rounds",
        "20",
        env={
            "CIVICPULSE_DATABASE_URL": db,
            "CIVICPULSE_MQTT_URL": mqtt_url,
            "CIVICPULSE_MQTT_PROTOCOL": os.environ.get("CIVICPULSE_TEST_MQTT_PROTOCOL", "5"),
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # 180 readings + 1 backlog batch + 1 SenML pack + 18 repeats + 10 faulty + 5 status = 215
    received = int(out.split("ingest received ")[1].split(",")[0])
    assert received >= 215  # a shared broker may add retained statuses of other devices
    assert f"ingest received {received}, acknowledged {received} after commit" in out
    assert "duplicates ignored: 18" in out
    assert "air_quality_readings           61" in out  # 60 + the SenML pack's one reading
    assert "parking_bay_readings           72" in out  # 60 + the 12-reading backlog batch
    assert "smart_meter_readings           60" in out
    assert "every message committed before its ack" in out
    # The alerts tour: a ward's pollution alert reaches its subscriber once, by SMTP, and clears;
    # a stuck sensor is flagged to an officer instead of alarming residents; an overstay.
    assert "Subject: Air pollution is High (index 7) in Camden Square" in out
    assert "Hampstead Town: no pollution alert; the officer is told about the sensor" in out
    assert "nitrogen dioxide: stuck" in out and "ozone: stuck" in out
    assert "then clears, once: Cleared: ward-camden-square is back to normal" in out
    assert re.search(r"live availability: Demo Street \d{6}: 1 free, 1 occupied, 1 unknown", out)
    assert re.search(
        r"the civil enforcement officer is told, once: Bay D0 on Demo Street \d{6} ", out
    )
    # The energy tour: last month's reports for 2,000 simulated households, one read as its
    # resident reads it (by SMTP), one withheld, a consent withdrawal, the trial's estimate.
    post = last_month()
    assert "home energy reports: 2,000 households of the simulated city" in out
    nudged = re.search(rf"{post.label()} compared: ([\d,]+) of 2,000 households nudged", out)
    assert nudged is not None and 1000 < int(nudged[1].replace(",", "")) < 2000, out
    resident = re.search(r"the report, as (home-demo\d+@example.org) reads it", out)
    assert resident is not None, out
    assert f"    To: {resident[1]}\n    Subject: Your home energy report for {post.label()}" in out
    assert f"    | Your home energy report for {post.label()}\n" in out
    assert "    | Similar homes near you used " in out
    assert re.search(r"withheld for \S+, a .+: too few similar homes: \d within 2 km", out)
    found = re.search(r"\(95% CI ([+-][\d.]+)% to ([+-][\d.]+)%\)", out)
    assert found is not None and float(found[1]) <= -3.0 <= float(found[2]), out
    assert "the interval covers the injected -3.0%, and excludes zero" in out
    assert re.search(
        r"household (\S+) withdraws its consent .+ it was one of the similar homes", out
    )
    assert re.search(
        r"run again: it has no report; those \d+ are each compared with one home fewer, their"
        r" averages exactly the old ones without its [\d,]+ kWh; the other [\d,]+ households'"
        " figures are unchanged",
        out,
    ), out
