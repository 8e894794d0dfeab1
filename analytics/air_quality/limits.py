"""The air-quality standards a monitor's year is judged against, one row each.

Sources (domain.md §3): UK Air Quality Standards Regulations 2010 (AQSR) and the Local Air
Quality Management (LAQM) objectives, londonair site-statistics page [V] for NO2 and PM10,
Defra objectives quoted in code [V2] for O3; the Environmental Targets (Fine Particulate Matter)
(England) Regulations 2023, SI 2023/96 [V]; WHO Global Air Quality Guidelines 2021 [V]. The
SO2 objectives are from the UK Air Quality Strategy, [M] in domain.md: shown, but not verified.

WHO's 24-hour and 8-hour guidelines are 99th percentiles, "3-4 exceedance days per year"; they
are judged with :attr:`Metric.DAILY_P99` and :attr:`Metric.MAX_DAILY_8H_P99`. EU limit values
(Directive 2024/2881) are not listed: EU law no longer applies in the UK.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from analytics.air_quality.pollutants import Pollutant


class Framework(Enum):
    UK_LIMIT = "UK limit value / LAQM objective"
    UK_TARGET = "UK long-term target"
    WHO_2021 = "WHO 2021 air quality guideline"


class Metric(Enum):
    """The statistic of a year compared with an objective's level."""

    ANNUAL_MEAN = "annual mean"
    HOURLY_EXCEEDANCES = "hours with a 1-hour mean above the level"
    QUARTER_HOUR_EXCEEDANCES = "15-minute means above the level"
    DAILY_EXCEEDANCES = "days with a 24-hour mean above the level"
    MAX_DAILY_8H_EXCEEDANCES = "days with a maximum running 8-hour mean above the level"
    DAILY_P99 = "99th percentile of the daily means"
    MAX_DAILY_8H_P99 = "99th percentile of the daily maximum 8-hour means"
    PEAK_SEASON = "peak-season mean of the daily maximum 8-hour means"

    @property
    def counts(self) -> bool:
        """Whether the metric counts exceedances against a number allowed."""
        return self.name.endswith("EXCEEDANCES")


@dataclass(frozen=True, slots=True)
class Objective:
    key: str
    pollutant: Pollutant
    framework: Framework
    metric: Metric
    level_ugm3: float
    allowed: int = 0
    """Exceedances allowed per year (for the counting metrics)."""
    source: str = ""

    @property
    def description(self) -> str:
        allowed = f", more than {self.allowed} a year" if self.metric.counts else ""
        return f"{self.pollutant} {self.metric.value} {self.level_ugm3:g} µg/m³{allowed}"


_AQSR = "Air Quality Standards Regulations 2010 / LAQM objective"
_WHO = "WHO global air quality guidelines 2021"
_WHO_P99 = _WHO + " (99th percentile: 3-4 exceedance days a year)"

OBJECTIVES: tuple[Objective, ...] = (
    # NO2: 40 annual; 200 as a 1-hour mean, 18 hours a year allowed.
    Objective("uk_no2_annual", "no2", Framework.UK_LIMIT, Metric.ANNUAL_MEAN, 40, source=_AQSR),
    Objective("uk_no2_1h", "no2", Framework.UK_LIMIT, Metric.HOURLY_EXCEEDANCES, 200, 18, _AQSR),
    # PM10: 40 annual; 50 as a 24-hour mean, 35 days a year allowed.
    Objective("uk_pm10_annual", "pm10", Framework.UK_LIMIT, Metric.ANNUAL_MEAN, 40, source=_AQSR),
    Objective("uk_pm10_24h", "pm10", Framework.UK_LIMIT, Metric.DAILY_EXCEEDANCES, 50, 35, _AQSR),
    # PM2.5: AQSR 2010 limit for England 20 annual; Environment Act target 10 by 31 Dec 2040.
    Objective(
        "uk_pm25_annual",
        "pm25",
        Framework.UK_LIMIT,
        Metric.ANNUAL_MEAN,
        20,
        source="Air Quality Standards Regulations 2010 (England)",
    ),
    Objective(
        "uk_pm25_2040",
        "pm25",
        Framework.UK_TARGET,
        Metric.ANNUAL_MEAN,
        10,
        source="Environmental Targets (Fine Particulate Matter) (England) Regulations 2023",
    ),
    # O3: 100 as the maximum daily running 8-hour mean, 10 days a year allowed.
    Objective(
        "uk_o3_8h",
        "o3",
        Framework.UK_LIMIT,
        Metric.MAX_DAILY_8H_EXCEEDANCES,
        100,
        10,
        "LAQM objective (Air Quality Strategy)",
    ),
    # SO2 [M]: 266 as 15-minute means (35 allowed), 350 as 1-hour (24), 125 as 24-hour (3).
    Objective(
        "uk_so2_15min",
        "so2",
        Framework.UK_LIMIT,
        Metric.QUARTER_HOUR_EXCEEDANCES,
        266,
        35,
        "LAQM objective (Air Quality Strategy) [unverified]",
    ),
    Objective(
        "uk_so2_1h",
        "so2",
        Framework.UK_LIMIT,
        Metric.HOURLY_EXCEEDANCES,
        350,
        24,
        "Air Quality Standards Regulations 2010 [unverified]",
    ),
    Objective(
        "uk_so2_24h",
        "so2",
        Framework.UK_LIMIT,
        Metric.DAILY_EXCEEDANCES,
        125,
        3,
        "Air Quality Standards Regulations 2010 [unverified]",
    ),
    # WHO 2021 AQG levels (the final guideline, not the interim targets).
    Objective("who_pm25_annual", "pm25", Framework.WHO_2021, Metric.ANNUAL_MEAN, 5, source=_WHO),
    Objective("who_pm25_24h", "pm25", Framework.WHO_2021, Metric.DAILY_P99, 15, source=_WHO_P99),
    Objective("who_pm10_annual", "pm10", Framework.WHO_2021, Metric.ANNUAL_MEAN, 15, source=_WHO),
    Objective("who_pm10_24h", "pm10", Framework.WHO_2021, Metric.DAILY_P99, 45, source=_WHO_P99),
    Objective("who_no2_annual", "no2", Framework.WHO_2021, Metric.ANNUAL_MEAN, 10, source=_WHO),
    Objective("who_no2_24h", "no2", Framework.WHO_2021, Metric.DAILY_P99, 25, source=_WHO_P99),
    Objective("who_o3_8h", "o3", Framework.WHO_2021, Metric.MAX_DAILY_8H_P99, 100, source=_WHO_P99),
    Objective(
        "who_o3_peak_season",
        "o3",
        Framework.WHO_2021,
        Metric.PEAK_SEASON,
        60,
        source=_WHO + " (six consecutive months with the highest running mean)",
    ),
    Objective("who_so2_24h", "so2", Framework.WHO_2021, Metric.DAILY_P99, 40, source=_WHO_P99),
)


def objectives_for(pollutant: Pollutant) -> tuple[Objective, ...]:
    return tuple(o for o in OBJECTIVES if o.pollutant == pollutant)
