"""Sensor faults on demand: a stuck value, drift, spikes and dropouts over a time window.

They change what a healthy model would have reported, as a failing instrument would: values stay
inside the contract's valid ranges (the platform must catch them by analysis, not by validation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulators.signals.noise import Floats, stable_key, uniform


@dataclass(frozen=True, slots=True)
class SensorFault:
    kind: str
    """``stuck``, ``drift``, ``spikes`` or ``dropout``."""
    start: float
    end: float
    fields: tuple[str, ...] = ()
    """Fields affected; empty means every numeric field of the reading."""
    drift_per_day: float = 10.0
    spike_rate: float = 0.05
    spike_factor: float = 6.0


def apply_sensor_faults(
    faults: tuple[SensorFault, ...],
    key: int,
    t: Floats,
    values: dict[str, Floats],
    at: Callable[[float], Mapping[str, Floats]],
    ranges: Mapping[str, tuple[float, float]],
) -> NDArray[np.bool_]:
    """Apply ``faults`` to ``values`` (in place); returns which readings the device still sends.

    ``at(instant)`` evaluates the healthy model at one instant (a stuck sensor repeats the value
    it had when it stuck); ``ranges`` (field -> valid min, max) keeps faulty values valid.
    """
    keep = np.ones(t.shape, dtype=np.bool_)
    for number, fault in enumerate(faults):
        active = (t >= fault.start) & (t < fault.end)
        if not active.any():
            continue
        if fault.kind == "dropout":
            keep &= ~active
            continue
        names = [f for f in (fault.fields or tuple(values)) if f in values]
        frozen = at(fault.start) if fault.kind == "stuck" else {}
        spikes = active & (
            uniform(stable_key(key, "spike", number), t.astype(np.int64)) < fault.spike_rate
        )
        for name in names:
            v = values[name]
            if fault.kind == "stuck":
                v[active] = frozen[name][0]
            elif fault.kind == "drift":
                v += np.where(active, fault.drift_per_day * (t - fault.start) / 86_400.0, 0.0)
            elif fault.kind == "spikes":
                v[spikes] *= fault.spike_factor
            if name in ranges:
                np.clip(v, *ranges[name], out=v)
    return keep
