"""Air-quality analytics: the pure core (no database, no network).

- :mod:`.daqi`, :mod:`.daqi_levels`: the UK Daily Air Quality Index of one concentration, its
  band, health advice and colour; :mod:`.daqi_monitor` a monitor's and a zone's current index;
  :mod:`.daqi_daily` the historical index per local day.
- :mod:`.us_aqi`: the US EPA AQI (2024 PM2.5 breakpoints) and NowCast.
- :mod:`.limits`, :mod:`.compliance`: a year against the UK limits and the WHO 2021 guidelines.
- :mod:`.qc`, :mod:`.drift`: sensor quality control before anything is indexed or alerted.
- :mod:`.series`, :mod:`.averaging`: the time series and the averaging periods underneath.

Typical use on a monitor's recent window (timestamps UTC)::

    cleaned, flags = clean_monitor(monitor, neighbours=nearby)
    now = monitor_daqi(cleaned, at=datetime.now(UTC))
    now.index, now.pollutant, now.level.advice.at_risk
"""

from analytics.air_quality.averaging import (
    Daily,
    Means,
    daily,
    hourly_means,
    local_dates,
    means_from_rollup,
    period_means,
    quarter_hour_means,
    running_means,
)
from analytics.air_quality.compliance import (
    Outcome,
    Result,
    YearCompliance,
    assess_monitor_year,
    assess_year,
)
from analytics.air_quality.daqi import AVERAGING, BREAKPOINTS, NO_INDEX, daqi_index, daqi_indices
from analytics.air_quality.daqi_daily import DailyDaqi, daily_daqi
from analytics.air_quality.daqi_levels import Advice, Band, DaqiLevel, daqi_band, daqi_level
from analytics.air_quality.daqi_monitor import (
    MonitorDaqi,
    NoIndex,
    SubIndex,
    ZoneDaqi,
    monitor_daqi,
    zone_daqi,
)
from analytics.air_quality.drift import DriftReport, drift
from analytics.air_quality.limits import OBJECTIVES, Framework, Metric, Objective, objectives_for
from analytics.air_quality.pollutants import (
    POLLUTANTS,
    Pollutant,
    UnknownPollutantError,
    pollutant,
)
from analytics.air_quality.qc import (
    PLAUSIBLE,
    Cleaned,
    QcConfig,
    QcFlag,
    clean,
    clean_monitor,
    reasons,
)
from analytics.air_quality.series import Monitor, Series, same_site_type, utc_datetime64
from analytics.air_quality.us_aqi import (
    CATEGORIES,
    Category,
    nowcast,
    nowcast_aqi,
    nowcast_series,
    us_aqi,
    us_aqi_category,
)

__all__ = [
    "AVERAGING",
    "BREAKPOINTS",
    "CATEGORIES",
    "NO_INDEX",
    "OBJECTIVES",
    "PLAUSIBLE",
    "POLLUTANTS",
    "Advice",
    "Band",
    "Category",
    "Cleaned",
    "Daily",
    "DailyDaqi",
    "DaqiLevel",
    "DriftReport",
    "Framework",
    "Means",
    "Metric",
    "Monitor",
    "MonitorDaqi",
    "NoIndex",
    "Objective",
    "Outcome",
    "Pollutant",
    "QcConfig",
    "QcFlag",
    "Result",
    "Series",
    "SubIndex",
    "UnknownPollutantError",
    "YearCompliance",
    "ZoneDaqi",
    "assess_monitor_year",
    "assess_year",
    "clean",
    "clean_monitor",
    "daily",
    "daily_daqi",
    "daqi_band",
    "daqi_index",
    "daqi_indices",
    "daqi_level",
    "drift",
    "hourly_means",
    "local_dates",
    "means_from_rollup",
    "monitor_daqi",
    "nowcast",
    "nowcast_aqi",
    "nowcast_series",
    "objectives_for",
    "period_means",
    "pollutant",
    "quarter_hour_means",
    "reasons",
    "running_means",
    "same_site_type",
    "us_aqi",
    "us_aqi_category",
    "utc_datetime64",
    "zone_daqi",
]
