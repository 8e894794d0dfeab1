"""Backfill: a year of half-hourly meter data, in batches the platform accepts (no broker)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime

import orjson

from devices.contract import Limits
from simulators.delivery import Outgoing
from simulators.engine import Simulation
from simulators.runner import prepare
from tests.simulators.payloads import decode_all

NOW = datetime(2026, 6, 1, 0, 0, tzinfo=UTC).timestamp()


def test_a_year_of_half_hourly_meter_data() -> None:
    plan = prepare(
        "meter-year",
        now=NOW,
        overrides={
            "fleet": {"counts": {"smart_meter": 3, "weather": 1}},
            "reporting": {"register_reset_rate": 2.0},
        },
    )
    sim = Simulation(plan)
    assert plan.end is not None
    window = sim.backfill_window()
    items: list[Outgoing] = []
    t = plan.start
    while t < plan.end:
        items += [i for i in sim.window(t, min(plan.end, t + window)) if isinstance(i, Outgoing)]
        t += window
    limits = Limits()
    assert all(len(m.payload) <= limits.max_payload_bytes for m in items)
    assert all(m.readings <= limits.max_batch_items for m in items)
    decoded = decode_all(plan.devices, items, datetime.fromtimestamp(NOW, UTC))
    assert all(not result.rejections for _, result in decoded)

    series: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for _, result in decoded:
        for r in result.readings:
            if r.device_type == "smart_meter":
                series[r.device_id].append((r.ts, float(r.values["electricity_import_kwh"])))
    resets = sim.resets()
    assert sum(len(v) for v in resets.values()) > 0
    for device_id, points in series.items():
        points.sort()
        assert len(points) == 365 * 48
        assert all(ts.minute in (0, 30) and ts.second == 0 for ts, _ in points)
        drops = {int(b[0].timestamp()) for a, b in itertools.pairwise(points) if b[1] < a[1]}
        # The register only ever goes down where a reset was injected.
        assert drops <= set(resets.get(device_id, []))
        assert drops == set(resets.get(device_id, [])) - {int(points[0][0].timestamp())}
    first = orjson.loads(items[0].payload)
    assert isinstance(first, list) and len(first) > 100  # batched
