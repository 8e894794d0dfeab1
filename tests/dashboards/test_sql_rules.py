"""The rules the dashboards' SQL repeats, held to the Python that owns them: the DAQI lookup
(``analytics.air_quality.daqi_index``) and k-anonymity (``analytics.privacy``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from analytics import privacy
from analytics.air_quality import BREAKPOINTS, daqi_index
from analytics.air_quality.pollutants import POLLUTANTS
from dashboards.sql import daqi_index as daqi_sql
from storage import dashboard_views


def test_constants_match_the_privacy_rules() -> None:
    assert dashboard_views.MIN_CONTRIBUTORS == privacy.MIN_CONTRIBUTORS
    assert dashboard_views.DOMINANCE_SHARE == privacy.DOMINANCE_SHARE


def test_the_sql_index_is_the_analytics_index(db: str) -> None:
    with psycopg.connect(db) as conn:
        for pollutant in POLLUTANTS:
            values = [-2.0, 0.0, 0.4, 400.0, 5000.0]
            for upper in BREAKPOINTS[pollutant]:
                values += [upper - 0.5, float(upper), upper + 0.49, upper + 0.5, upper + 1.0]
            rows = conn.execute(
                f"SELECT v, {daqi_sql(pollutant, 'v')} FROM unnest(%s::float8[]) v",
                (values,),
            ).fetchall()
            got = {float(v): i for v, i in rows}
            assert got == {v: daqi_index(pollutant, v) for v in values}, pollutant
        assert conn.execute(f"SELECT {daqi_sql('no2', 'NULL::float8')}").fetchone() == (None,)


def _household(
    conn: psycopg.Connection[tuple[object, ...]],
    device: str,
    ward: str,
    consent: str,
    day: datetime,
    kwh: float,
) -> None:
    conn.execute(
        "INSERT INTO devices (device_id, device_type, consent) VALUES (%s, 'smart_meter', %s)",
        (device, consent),
    )
    conn.execute(
        "INSERT INTO device_zones (device_id, zone_id, source) VALUES (%s, %s, 'explicit')",
        (device, ward),
    )
    # The day before ends at a register of 1000 kWh: the day's use is the rise from there.
    for bucket, low, high in ((day - timedelta(days=1), 990.0, 1000.0), (day, 1001.0, 1000 + kwh)):
        conn.execute(
            "INSERT INTO smart_meter_daily_rollup (bucket, device_id, samples,"
            " electricity_import_kwh_n, electricity_import_kwh_sum, electricity_import_kwh_min,"
            " electricity_import_kwh_max) VALUES (%s, %s, 48, 48, 0, %s, %s)",
            (bucket, device, low, high),
        )


@pytest.mark.parametrize("role", ["civicpulse_grafana"])
def test_ward_totals_are_published_only_when_k_anonymous(db: str, role: str) -> None:
    """Plain PostgreSQL mode, rollup rows written directly: 12 households in one ward, 3 in
    another, 10 in a third where one household uses more than the other nine together, and a
    household whose consent is monthly (left out of daily figures)."""
    day = datetime(2026, 11, 2, tzinfo=UTC)
    wards = {"ward-a": [5.0] * 12, "ward-b": [4.0, 6.0, 8.0], "ward-c": [2.0] * 9 + [30.0]}
    with psycopg.connect(db) as conn:
        for ward in wards:
            conn.execute(
                "INSERT INTO zones (zone_id, kind, name) VALUES (%s, 'ward', %s)", (ward, ward)
            )
        for ward, uses in wards.items():
            for i, kwh in enumerate(uses):
                _household(conn, f"{ward}-{i}", ward, ("daily", "half_hourly")[i % 2], day, kwh)
        _household(conn, "monthly-1", "ward-a", "monthly", day, 500.0)
        conn.commit()
        conn.execute(f"SET ROLE {role}")
        rows = conn.execute(
            "SELECT zone_id, households, kwh, withheld FROM dashboard_energy_ward_daily"
            " WHERE bucket = %s ORDER BY zone_id",
            (day,),
        ).fetchall()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM smart_meter_daily_permitted")
    expected = []
    for ward, uses in wards.items():
        reason = privacy.primary_reason(
            len(uses),
            sum(uses),
            max(uses),
            k=privacy.MIN_CONTRIBUTORS,
            dominance=privacy.DOMINANCE_SHARE,
        )
        expected.append((ward, len(uses), None if reason else pytest.approx(sum(uses)), reason))
    assert rows == expected
    assert [r[3] for r in rows] == [None, "few_contributors", "dominance"]


def test_grafana_reads_no_household_and_no_payload(db: str) -> None:
    """What Explore in Grafana could reach is what the role's grants allow."""
    denied = (
        "smart_meter_readings", "smart_meter_hourly", "smart_meter_daily",
        "smart_meter_daily_permitted", "smart_meter_monthly_permitted", "devices", "quarantine",
        "nudges", "energy_assignments", "deliveries", "delivery_preferences",
        "alert_subscriptions", "device_credentials", "api_keys",
    )  # fmt: skip
    readable = (
        "air_quality_readings", "air_quality_hourly", "parking_bay_daily", "zones", "alerts",
        "dashboard_devices", "dashboard_quarantine", "dashboard_energy_ward_daily",
    )  # fmt: skip
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("SET ROLE civicpulse_grafana")
        for relation in readable:
            conn.execute(f"SELECT * FROM {relation} LIMIT 1")
        for relation in denied:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT 1 FROM {relation} LIMIT 1")
        columns = {
            str(r[0])
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'dashboard_quarantine'"
            )
        }
        assert "payload" not in columns and "detail" not in columns
