"""What Grafana may read: the ``civicpulse_grafana`` role's grants and the aggregate views made
for it. Pure: SQL text, no I/O; ``storage.migrate`` applies it after every migration, like the
consent views, because the views stand on relations that a plugin change makes again.

Grafana gets a role of its own rather than ``civicpulse_reader`` because anyone with the Editor
role in Grafana can type SQL into Explore: the role's grants, not the dashboards, are the privacy
boundary. The API's reader may read households' data through the consent views (a resident reads
their own); Grafana's role reads no household's data at all, only

- the non-personal types' readings and rollups, the registry without households' locations and
  attributes (``dashboard_devices``), device state, zones, alerts and programmes;
- counts of the quarantine without payloads (``dashboard_quarantine``), and how many readings
  each device sent an hour (``dashboard_samples_hourly``, meters included: when a meter reported
  says nothing of how much was used);
- energy aggregates that pass k-anonymity in the database itself (``dashboard_energy_*``, the
  primary rules of ``analytics.privacy``: at least ``MIN_CONTRIBUTORS`` households, none holding
  more than ``DOMINANCE_SHARE`` of the total); a withheld cell keeps its household count and the
  reason, never its kWh. No total of the cells is published beside them, so nothing can be
  recovered by subtraction (the secondary rule has nothing to protect);
- counts of nudges, deliveries and trial arms, never one household's row; trial effects only
  where each arm has at least ``MIN_CONTRIBUTORS`` households.

Household use comes only from households whose consent covers the grain shown: daily cells from
``daily`` and ``half_hourly`` households, hourly ones from ``half_hourly`` households.
"""

from __future__ import annotations

from collections.abc import Iterable

from devices.model import DeviceType
from storage.schema import role_grants

ROLE = "civicpulse_grafana"
MIN_CONTRIBUTORS = 10
"""Must equal ``analytics.privacy.MIN_CONTRIBUTORS`` (storage cannot import analytics; a test
holds them together)."""
DOMINANCE_SHARE = 0.5
"""Must equal ``analytics.privacy.DOMINANCE_SHARE``."""

# Platform tables Grafana reads as they are: no personal data beyond pseudonymous device ids.
PLATFORM_TABLES = (
    "zones",
    "device_zones",
    "device_status",
    "device_last_seen",
    "alerts",
    "alert_rules",
    "energy_programmes",
    "civicpulse_meta",
    "schema_migrations",
)
_METER = "smart_meter"
_REGISTER = "electricity_import_kwh"


def _withheld(households: str, total: str, largest: str) -> str:
    """The reason a cell is withheld (``analytics.privacy.primary_reason``), or NULL."""
    return (
        f"CASE WHEN {households} < {MIN_CONTRIBUTORS} THEN 'few_contributors'"
        f" WHEN {total} > 0 AND {largest} > {DOMINANCE_SHARE} * {total} THEN 'dominance' END"
    )


def _use(source: str, step: str, consent: str) -> str:
    """Each household's use per bucket: the register's rise since the previous bucket's last
    reading (its own first and last reading when the previous bucket is missing)."""
    return (
        f"SELECT r.device_id, r.bucket, CASE WHEN p.bucket IS NOT NULL"
        f" THEN r.{_REGISTER}_max - p.{_REGISTER}_max"
        f" ELSE r.{_REGISTER}_max - r.{_REGISTER}_min END AS kwh"
        f" FROM {source} r JOIN devices d ON d.device_id = r.device_id AND {consent}"
        f" LEFT JOIN {source} p ON p.device_id = r.device_id"
        f" AND p.bucket = r.bucket - INTERVAL '{step}' AND p.{_REGISTER}_n > 0"
        f" WHERE r.{_REGISTER}_n > 0"
    )


def _energy_views() -> list[str]:
    ward_daily = (
        "CREATE VIEW dashboard_energy_ward_daily AS\n"
        "WITH use AS ("
        + _use(f"{_METER}_daily", "1 day", "d.consent IN ('daily', 'half_hourly')")
        + "),\n"
        "cells AS (SELECT z.zone_id, z.name AS zone_name, u.bucket, count(*) AS households,"
        " sum(u.kwh) AS total, max(u.kwh) AS largest"
        " FROM use u JOIN device_zones m ON m.device_id = u.device_id"
        " JOIN zones z ON z.zone_id = m.zone_id AND z.kind = 'ward'"
        " WHERE u.kwh >= 0 GROUP BY z.zone_id, z.name, u.bucket)\n"
        "SELECT zone_id, zone_name, bucket, households,"
        f" CASE WHEN ({_withheld('households', 'total', 'largest')}) IS NULL THEN total END"
        f" AS kwh, {_withheld('households', 'total', 'largest')} AS withheld FROM cells"
    )
    city_hourly = (
        "CREATE VIEW dashboard_energy_city_hourly AS\n"
        "WITH use AS (" + _use(f"{_METER}_hourly", "1 hour", "d.consent = 'half_hourly'") + "),\n"
        "cells AS (SELECT u.bucket, count(*) AS households, sum(u.kwh) AS total,"
        " max(u.kwh) AS largest FROM use u WHERE u.kwh >= 0 GROUP BY u.bucket)\n"
        "SELECT bucket, households,"
        f" CASE WHEN ({_withheld('households', 'total', 'largest')}) IS NULL THEN total END"
        f" AS kwh, {_withheld('households', 'total', 'largest')} AS withheld FROM cells"
    )
    return [ward_daily, city_hourly]


def _views(types: Iterable[DeviceType]) -> dict[str, str]:
    types = list(types)
    personal = ", ".join(f"'{t.name}'" for t in types if t.personal) or "NULL"
    views = {
        # A household's place and characteristics stay out; devices of other types keep theirs.
        "dashboard_devices": (
            "CREATE VIEW dashboard_devices AS SELECT device_id, device_type, name, firmware_version,"
            f" installed_on, device_type IN ({personal}) AS personal,"
            f" CASE WHEN device_type IN ({personal}) THEN NULL ELSE latitude END AS latitude,"
            f" CASE WHEN device_type IN ({personal}) THEN NULL ELSE longitude END AS longitude,"
            f" CASE WHEN device_type IN ({personal}) THEN '{{}}'::jsonb ELSE attributes END"
            " AS attributes FROM devices"
        ),
        # What was refused and why; the payloads and their excerpts stay out.
        "dashboard_quarantine": (
            "CREATE VIEW dashboard_quarantine AS SELECT q.id, q.received_at, q.last_received_at,"
            " q.deliveries, q.device_id, d.device_type, q.reason, q.replayed_at, q.replay_outcome,"
            " q.replay_reason FROM quarantine q LEFT JOIN devices d ON d.device_id = q.device_id"
        ),
        "dashboard_nudges": (
            "CREATE VIEW dashboard_nudges AS SELECT programme_id, period_start, period_end,"
            " status, coalesce(rating, withheld_reason) AS outcome, count(*) AS households,"
            " max(computed_at) AS computed_at FROM nudges GROUP BY 1, 2, 3, 4, 5"
        ),
        "dashboard_deliveries": (
            "CREATE VIEW dashboard_deliveries AS SELECT kind, channel, status,"
            " date_trunc('day', attempted_at) AS day, count(*) AS messages"
            " FROM deliveries GROUP BY 1, 2, 3, 4"
        ),
        "dashboard_trial_arms": (
            "CREATE VIEW dashboard_trial_arms AS SELECT programme_id, arm, count(*) AS households,"
            " min(assigned_at) AS first_assigned FROM energy_assignments GROUP BY 1, 2"
        ),
    }
    # When each device reported (how many readings an hour), for completeness: counts only.
    views["dashboard_samples_hourly"] = "CREATE VIEW dashboard_samples_hourly AS " + (
        " UNION ALL ".join(
            f"SELECT '{t.name}'::text AS device_type, device_id, bucket, samples"
            f" FROM {t.prefix}_hourly"
            for t in types
        )
        or "SELECT NULL::text AS device_type, NULL::text AS device_id,"
        " NULL::timestamptz AS bucket, NULL::bigint AS samples WHERE false"
    )
    meter = next((t for t in types if t.name == _METER), None)
    if meter is not None and _REGISTER in meter.by_name:
        ward, city = _energy_views()
        views["dashboard_energy_ward_daily"] = ward
        views["dashboard_energy_city_hourly"] = city
    return views


# Trial estimates are stored by migration 8 (``storage.trials``); made only where that table is.
_TRIAL_EFFECTS = "dashboard_trial_effects"
_TRIAL_SQL = (
    f"CREATE VIEW {_TRIAL_EFFECTS} AS SELECT f.programme_id, e.pre_start, e.pre_end,"
    " e.post_start, e.post_end, e.estimated_at, f.area, f.treated, f.control, f.confidence,"
    " " + ", ".join(
        f"CASE WHEN f.treated >= {MIN_CONTRIBUTORS} AND f.control >= {MIN_CONTRIBUTORS}"
        f" THEN f.{c} END AS {c}"
        for c in (
            "relative", "relative_low", "relative_high", "absolute", "absolute_low",
            "absolute_high", "p_value",
        )
    )
    + f", CASE WHEN coalesce(least(f.treated, f.control), 0) < {MIN_CONTRIBUTORS}"
    " THEN 'few_contributors' END AS withheld"
    " FROM trial_effects f JOIN trial_estimates e USING (programme_id, pre_start, post_start)"
)  # fmt: skip


def readable(types: Iterable[DeviceType]) -> tuple[str, ...]:
    """Every relation the role may read."""
    types = list(types)
    relations: list[str] = []
    for t in types:
        if not t.personal:
            relations += [t.table, f"{t.prefix}_hourly", f"{t.prefix}_daily"]
    return (*relations, *PLATFORM_TABLES, *_views(types), _TRIAL_EFFECTS)


def statements(types: Iterable[DeviceType]) -> list[str]:
    """The views made anew, then the role's grants: SELECT on :func:`readable`, nothing else."""
    types = list(types)
    views = _views(types)
    out = [f"DROP VIEW IF EXISTS {name}" for name in (*views, _TRIAL_EFFECTS)]
    out.extend(views.values())
    trial = _TRIAL_SQL.replace("'", "''")
    out.append(
        f"DO $$ BEGIN IF to_regclass('trial_effects') IS NOT NULL THEN EXECUTE '{trial}';"
        " END IF; END $$"
    )
    out.append(role_grants(ROLE, readable(types), listed_readable=True))
    return out
