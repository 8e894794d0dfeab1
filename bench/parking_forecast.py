"""How good is the next-hour parking forecast? The sample city's bays, simulated for four weeks,
trained on the first three and scored on the fourth, per controlled parking zone.

    .venv/bin/python -m bench.parking_forecast [--bays 200] [--weeks 4] [--seed 11]

It prints, per zone, the mean absolute error in free bays of the model (weekly profile plus
persistence), of the profile alone and of "as many free as now", with the share by which the
model beats "as many free as now". The bays and their behaviour come from the simulator
(``simulators.signals.parking``), the forecast from ``analytics.parking.forecast``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from analytics.parking import (
    LONDON,
    BayInfo,
    Evaluation,
    Fleet,
    Profile,
    bay_timeline,
    evaluate,
    fit_profiles,
)
from devices.sample_city import build
from simulators.model import Bay, device_from_record
from simulators.signals.calendar import ScalarClock
from simulators.signals.parking import BayModel

WEEK = 7 * 86_400.0


def held_out(
    bays: Sequence[Bay], *, start: float, weeks: int, seed: int
) -> dict[str, tuple[Profile, Evaluation]]:
    """Per zone: the profile fitted on all weeks but the last, and its score on the last."""
    clock = ScalarClock(LONDON)
    end = start + weeks * WEEK
    split = end - WEEK
    infos, timelines = [], {}
    for bay in bays:
        events = BayModel(bay.bay_id, bay, seed, clock, heartbeat_s=3600).events(start, end)
        info = BayInfo.from_attributes(
            bay.bay_id,
            {
                "parking_zone": bay.parking_zone,
                "street": bay.street,
                "max_stay_minutes": bay.max_stay_minutes,
                "controlled_hours": bay.controlled_hours,
            },
        )
        infos.append(info)
        timelines[bay.bay_id] = bay_timeline(
            [e.ts for e in events], [e.occupied for e in events], until=end
        )
    fleet = Fleet.of(infos, timelines)
    profiles = fit_profiles(fleet, start, split, by="zone")
    return {
        zone: (profile, evaluate(profile, fleet, split, end, group=zone))
        for zone, profile in sorted(profiles.items())
    }


def sample_bays(count: int) -> list[Bay]:
    """The sample city's parking bays, as the simulator models them."""
    bays = []
    for device in build(homes=1, bays=count, monitors=1).devices:
        if device.device_type != "parking_bay":
            continue
        record = {
            "device_id": device.device_id,
            "device_type": device.device_type,
            "latitude": device.latitude,
            "longitude": device.longitude,
            "attributes": {"bay_id": device.device_id, **device.attributes},
        }
        attributes = device_from_record(record).attributes
        assert isinstance(attributes, Bay)
        bays.append(attributes)
    return bays


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bays", type=int, default=200)
    parser.add_argument("--weeks", type=int, default=4, help="the last is held out (at least 2)")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    if args.weeks < 2:
        parser.error("--weeks must be at least 2")
    monday = datetime.now(UTC).date() - timedelta(days=datetime.now(UTC).weekday() + 7 * args.weeks)
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC).timestamp()
    bays = sample_bays(args.bays)
    began = time.perf_counter()
    results = held_out(bays, start=start, weeks=args.weeks, seed=args.seed)
    seconds = time.perf_counter() - began
    print(
        f"next-hour free bays: {len(bays)} sample-city bays, {args.weeks - 1} weeks of training"
        f" from {monday}, scored on week {args.weeks} every 15 minutes ({seconds:.1f} s)"
    )
    print(
        f"{'zone':8} {'bays':>5} {'free':>6} {'model':>7} {'profile':>8} {'as now':>7} {'better':>7}"
    )
    for zone, (profile, result) in results.items():
        zone_bays = sum(1 for b in bays if b.parking_zone == zone)
        gain = 1.0 - result.mae_model / result.mae_naive if result.mae_naive else float("nan")
        print(
            f"{zone:8} {zone_bays:>5} {result.mean_free:>6.1f} {result.mae_model:>7.2f}"
            f" {result.mae_profile:>8.2f} {result.mae_naive:>7.2f} {gain:>7.0%}"
            f"   (persistence {profile.persistence:.2f}, {result.origins} forecasts)"
        )
    print("(mean absolute error in free bays; 'better': the model's error below 'as now')")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
