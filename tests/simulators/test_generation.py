"""Whole-fleet generation: every payload decodes, faults are exactly those requested (no broker)."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from datetime import UTC, datetime

import orjson
import pytest

from devices.contract import Limits
from devices.model import Reason
from simulators.delivery import Outgoing, Transition
from simulators.engine import Simulation
from simulators.plan import Plan
from simulators.runner import prepare
from tests.simulators.payloads import decode_all

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC).timestamp()

CLEAN = {
    "faults": {
        "duplicate_rate": 0.0,
        "out_of_order_rate": 0.0,
        "late_rate": 0.0,
        "malformed_rate": 0.0,
        "clock_skew_fraction": 0.0,
    }
}


def generate(plan: Plan) -> list[Outgoing | Transition]:
    sim = Simulation(plan)
    return [*sim.window(plan.start, plan.end or plan.start), *sim.finish()]


def messages(items: list[Outgoing | Transition]) -> list[Outgoing]:
    return [i for i in items if isinstance(i, Outgoing)]


def test_same_seed_same_payloads_and_another_seed_differs() -> None:
    first = [m.payload for m in messages(generate(prepare("smoke", now=NOW)))]
    again = [m.payload for m in messages(generate(prepare("smoke", now=NOW)))]
    other = [
        m.payload for m in messages(generate(prepare("smoke", now=NOW, overrides={"seed": 8})))
    ]
    assert first == again
    assert first != other


def test_windowing_does_not_change_the_readings() -> None:
    plan = prepare("smoke", now=NOW, overrides=CLEAN)
    whole = sorted(m.payload for m in messages(generate(plan)))
    sim = Simulation(plan)
    assert plan.end is not None
    steps = [plan.start + k * 600.0 for k in range(13)]
    stepped: list[Outgoing | Transition] = [
        i for a, b in itertools.pairwise(steps) for i in sim.window(a, b)
    ]
    assert sorted(m.payload for m in messages([*stepped, *sim.finish()])) == whole


def test_every_payload_is_valid_except_the_injected_malformed_ones() -> None:
    plan = prepare("smoke", now=NOW)
    items = generate(plan)
    decoded = decode_all(plan.devices, messages(items), datetime.fromtimestamp(NOW, UTC))
    malformed = 0
    readings = 0
    for message, result in decoded:
        if message.fault == "malformed":
            malformed += 1
            assert [r.reason.value for r in result.rejections] == [message.expect]
            assert not result.readings
        else:
            assert result.rejections == (), (message.payload, result.rejections)
            assert len(result.readings) == message.readings
            readings += len(result.readings)
    assert malformed == Simulation(plan).tally.malformed or malformed > 0


@pytest.mark.parametrize("scenario", ["pollution-episode", "match-day-parking"])
def test_bundled_scenarios_produce_only_valid_payloads(scenario: str) -> None:
    plan = prepare(scenario, now=NOW)
    items = generate(plan)
    decoded = decode_all(plan.devices, messages(items), datetime.fromtimestamp(NOW, UTC))
    assert all(not result.rejections for _, result in decoded)
    assert all(len(m.payload) <= Limits().max_payload_bytes for m in messages(items))
    per_device: dict[str, list[int]] = defaultdict(list)
    for _, result in decoded:
        for reading in result.readings:
            per_device[reading.device_id].append(reading.seq or 0)
    # A device's readings carry strictly increasing sequence numbers (backlogs included).
    assert all(seqs == sorted(set(seqs)) for seqs in per_device.values())


def test_faults_are_exactly_the_requested_ones() -> None:
    plan = prepare(
        "smoke",
        now=NOW,
        overrides={
            "faults": {
                "duplicate_rate": 0.05,
                "out_of_order_rate": 0.05,
                "late_rate": 0.05,
                "malformed_rate": 0.05,
                "clock_skew_fraction": 0.2,
                "clock_skew_max": 60.0,
            }
        },
    )
    sim = Simulation(plan)
    assert plan.end is not None
    items = [*sim.window(plan.start, plan.end), *sim.finish()]
    out = messages(items)
    tally = sim.tally
    kinds = Counter(m.fault for m in out)
    assert kinds["duplicate"] == tally.duplicate > 0
    assert kinds["out_of_order"] == tally.out_of_order > 0
    assert kinds["late"] == tally.late > 0
    assert kinds["malformed"] == tally.malformed > 0
    assert kinds["backlog"] == tally.backlog > 0
    # Duplicates repeat the payload just sent by the same device.
    payloads = Counter((m.device_id, m.payload) for m in out if m.fault != "malformed")
    assert sum(n - 1 for n in payloads.values() if n > 1) == tally.duplicate
    # Out of order: the device's sequence number goes backwards exactly once per reordering.
    last: dict[str, int] = {}
    backwards = 0
    for m in out:
        if m.fault in ("malformed", "late", "duplicate", "backlog"):
            continue
        seq = orjson.loads(m.payload)["seq"]
        backwards += seq < last.get(m.device_id, 0)
        last[m.device_id] = max(seq, last.get(m.device_id, 0))
    assert backwards == tally.out_of_order
    # Late messages are sent late_by after their reading.
    for m in out:
        if m.fault == "late":
            body = orjson.loads(m.payload)
            taken = datetime.fromisoformat(body["ts"]).timestamp() - plan.skews.get(m.device_id, 0)
            assert m.at == pytest.approx(taken + plan.scenario.faults.late_by, abs=1)
    # Clock skew: exactly the chosen devices, within the bound.
    assert tally.skewed_devices == len(plan.skews) == round(0.2 * len(plan.devices))
    assert all(abs(s) <= 60 for s in plan.skews.values())


def test_outage_sends_the_backlog_as_batches_when_the_device_returns() -> None:
    plan = prepare("smoke", now=NOW, overrides=CLEAN)
    items = generate(plan)
    for device_id, outages in plan.outages.items():
        (outage,) = outages
        assert outage.end is not None
        changes = [i for i in items if isinstance(i, Transition) and i.device_id == device_id]
        assert [(c.online, c.at) for c in changes] == [(False, outage.start), (True, outage.end)]
        sent = [m for m in messages(items) if m.device_id == device_id]
        during = [m for m in sent if outage.start <= m.at < outage.end]
        assert during == []
        backlog = [m for m in sent if m.fault == "backlog"]
        assert len(backlog) == 1 and backlog[0].at == outage.end
        stamps = [
            datetime.fromisoformat(r["ts"]).timestamp() for r in orjson.loads(backlog[0].payload)
        ]
        assert all(outage.start <= s < outage.end for s in stamps) and stamps == sorted(stamps)


def test_sensor_faults_stick_drift_spike_and_drop() -> None:
    base = prepare("smoke", now=NOW, overrides=CLEAN)
    aq = next(d for d in base.devices if d.device_type == "air_quality")
    from simulators.scenario import Event, Selector

    def run(fault: str, **params: object) -> list[dict[str, float]]:
        event = Event(
            "sensor_fault",
            Selector(devices=(aq.device_id,)),
            "+30m",
            3600.0,
            {"fault": fault, **params},
        )
        plan = prepare(base.scenario.replace(events=(event,)), now=NOW)
        return [
            orjson.loads(m.payload) for m in messages(generate(plan)) if m.device_id == aq.device_id
        ]

    healthy = run("drift", drift_per_day=0.0)
    window = slice(7, 18)  # 5-minute readings from +35m to +1h25m
    stuck = run("stuck")
    assert len({r["no2"] for r in stuck[window]}) == 1
    drift = run("drift", drift_per_day=240.0, fields=["no2"])
    assert drift[17]["no2"] > healthy[17]["no2"] + 5
    spikes = run("spikes", spike_rate=1.0, spike_factor=4.0)
    assert all(
        s["pm25"] >= 3 * h["pm25"] for s, h in zip(spikes[window], healthy[window], strict=True)
    )
    dropout = run("dropout")
    assert len(dropout) == len(healthy) - 12


def test_reason_values_match_the_codec() -> None:
    from simulators.delivery import _MALFORMED

    assert {reason for _, reason in _MALFORMED} <= {r.value for r in Reason}
