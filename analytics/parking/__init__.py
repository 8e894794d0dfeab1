"""Parking analytics, the pure core: live bay state, availability, metrics, overstay, forecast.

No database and no network: functions and small state machines over frozen dataclasses and
numpy arrays, for the jobs, the alert service and the API that read and serve them. Instants are
POSIX seconds (UTC floats) throughout; local time (Europe/London by default) only where
controlled hours and weekday profiles need it. Definitions and their sources: each module's
docstring (domain.md §5 and §6.10).
"""

from analytics.parking.availability import Availability, FiwareStatus, availability, fiware_status
from analytics.parking.bays import ALL, ANY_TIME, LONDON, BayInfo, Grouping, group_index, group_of
from analytics.parking.controlled import ControlledTime
from analytics.parking.forecast import Evaluation, Profile, evaluate, fit_profiles, local_week_slot
from analytics.parking.live import BayChange, LiveBays, Update
from analytics.parking.metrics import ParkingMetrics, Peak, peak_occupancy, window_metrics
from analytics.parking.overstay import (
    GRACE_S,
    Overstay,
    limit_s,
    overstay,
    overstay_at,
    session_overstays,
)
from analytics.parking.series import InstantCounts, SlotOccupancy, counts_at, occupancy_slots
from analytics.parking.state import (
    NEVER_SEEN,
    BayState,
    BayTracker,
    Reading,
    StateConfig,
    Status,
    bay_state,
)
from analytics.parking.timeline import (
    STATUS_OF_CODE,
    Fleet,
    Sessions,
    Timeline,
    bay_timeline,
    sessions,
)

__all__ = [
    "ALL",
    "ANY_TIME",
    "GRACE_S",
    "LONDON",
    "NEVER_SEEN",
    "STATUS_OF_CODE",
    "Availability",
    "BayChange",
    "BayInfo",
    "BayState",
    "BayTracker",
    "ControlledTime",
    "Evaluation",
    "FiwareStatus",
    "Fleet",
    "Grouping",
    "InstantCounts",
    "LiveBays",
    "Overstay",
    "ParkingMetrics",
    "Peak",
    "Profile",
    "Reading",
    "Sessions",
    "SlotOccupancy",
    "StateConfig",
    "Status",
    "Timeline",
    "Update",
    "availability",
    "bay_state",
    "bay_timeline",
    "counts_at",
    "evaluate",
    "fit_profiles",
    "fiware_status",
    "group_index",
    "group_of",
    "limit_s",
    "local_week_slot",
    "occupancy_slots",
    "overstay",
    "overstay_at",
    "peak_occupancy",
    "session_overstays",
    "sessions",
    "window_metrics",
]
