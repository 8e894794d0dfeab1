"""Energy programme: k-anonymous aggregates only.

Every figure here comes from the ``dashboard_*`` views that Grafana's database role reads
(``storage.dashboard_views``): ward totals withheld when fewer than 10 households contribute or
one holds more than half, counts of nudges and messages, and trial effects only where each arm
has 10 households or more. No panel can show one household, and neither can Explore: the role
cannot read the meter tables.
"""

from __future__ import annotations

from dashboards.model import Board, Panel, Row, Sql
from dashboards.sql import WARD, zone_chosen

NOTE = """**Aggregates only.** A ward's daily use is shown when at least 10 households with daily
(or half-hourly) consent contribute and none holds more than half of the total; otherwise the ward
and day are listed as withheld, with the reason, and no figure. No city total is shown beside the
wards, so a withheld ward cannot be recovered by subtraction.

**Trial effect.** The effect and its confidence interval come from `civicpulse analytics trial
estimate`, which stores each estimate; zones with fewer than 10 households in an arm are
withheld. Until an estimate is stored the trial panels show the arms only."""

WARD_USE = f"""SELECT bucket AS "time", zone_name AS metric, kwh
FROM dashboard_energy_ward_daily
WHERE $__timeFilter(bucket) AND kwh IS NOT NULL AND {zone_chosen("zone_id")}
ORDER BY 1, 2"""

WITHHELD = f"""SELECT bucket AS "time", zone_name AS ward, households, withheld
FROM dashboard_energy_ward_daily
WHERE $__timeFilter(bucket) AND withheld IS NOT NULL AND {zone_chosen("zone_id")}
ORDER BY 1 DESC, 2"""

NUDGES = """SELECT n.period_start AS "time", p.name AS programme, n.status, n.outcome,
  n.households
FROM dashboard_nudges n JOIN energy_programmes p ON p.programme_id = n.programme_id
WHERE n.period_start <= $__timeTo()::timestamptz AND n.period_end >= $__timeFrom()::timestamptz
ORDER BY n.period_start DESC, p.name, n.status, n.outcome"""

MESSAGES = """SELECT $__timeGroupAlias(day, '1d'), channel || ' ' || status AS metric,
  sum(messages) AS messages
FROM dashboard_deliveries WHERE kind = 'nudge' AND $__timeFilter(day)
GROUP BY 1, 2 ORDER BY 1, 2"""

EFFECTS = """SELECT e.estimated_at AS "time", p.name AS programme,
  CASE WHEN e.area = '*' THEN 'programme' ELSE coalesce(z.name, e.area) END AS area,
  e.pre_start, e.post_start, e.post_end,
  round((100 * e.relative)::numeric, 1) AS effect_pct,
  round((100 * e.relative_low)::numeric, 1) AS ci_low_pct,
  round((100 * e.relative_high)::numeric, 1) AS ci_high_pct,
  round(e.p_value::numeric, 3) AS p_value, e.confidence, e.treated, e.control, e.withheld
FROM dashboard_trial_effects e JOIN energy_programmes p ON p.programme_id = e.programme_id
LEFT JOIN zones z ON z.zone_id = e.area
ORDER BY e.estimated_at DESC, e.area = '*' DESC, area"""

ARMS = """SELECT p.name AS programme, a.arm, a.households, a.first_assigned
FROM dashboard_trial_arms a JOIN energy_programmes p ON p.programme_id = a.programme_id
ORDER BY p.name, a.arm"""


def board() -> Board:
    return Board(
        uid="civicpulse-energy",
        title="CivicPulse · Energy programme",
        description="Household electricity by ward, the home energy reports sent, and the"
        " trial's effect: k-anonymous aggregates only.",
        source="dashboards/energy.py",
        variables=(WARD,),
        time_from="now-30d",
        refresh="1h",
        items=(
            Panel("About these figures", "text", text=NOTE, width=24, height=6),
            Row("Consumption"),
            Panel(
                "Daily electricity use by ward",
                "timeseries",
                (Sql(WARD_USE, ("time", "metric", "kwh"), "time_series", "any", "1d"),),
                description="Total kWh of the ward's households per UTC day, where publishable."
                " Empty while no ward has 10 households with daily consent.",
                unit="kwatth",
                width=16,
            ),
            Panel(
                "Withheld wards and days",
                "table",
                (Sql(WITHHELD, ("time", "ward", "households", "withheld")),),
                description="few_contributors: under 10 households; dominance: one household"
                " holds more than half the total.",
                width=8,
            ),
            Row("Reports"),
            Panel(
                "Nudges by period",
                "table",
                (Sql(NUDGES, ("time", "programme", "status", "outcome", "households")),),
                description="Households per report outcome (rating, or why the report was"
                " withheld) for each programme and period overlapping the time range.",
            ),
            Panel(
                "Reports delivered",
                "timeseries",
                (Sql(MESSAGES, ("time", "metric", "messages"), "time_series", interval="1d"),),
                description="Report messages per day by channel and outcome.",
            ),
            Row("Trial"),
            Panel(
                "Trial effect with its confidence interval",
                "table",
                (
                    Sql(
                        EFFECTS,
                        (
                            "time",
                            "programme",
                            "area",
                            "pre_start",
                            "post_start",
                            "post_end",
                            "effect_pct",
                            "ci_low_pct",
                            "ci_high_pct",
                            "p_value",
                            "confidence",
                            "treated",
                            "control",
                            "withheld",
                        ),
                        rows="any",
                    ),
                ),
                description="Change in weather-normalised use of treated households against"
                " control, in per cent (negative: they used less), by difference in"
                " differences. Empty until `civicpulse analytics trial estimate` stores one.",
                width=16,
            ),
            Panel(
                "Trial arms",
                "table",
                (Sql(ARMS, ("programme", "arm", "households", "first_assigned")),),
                width=8,
            ),
        ),
    )
