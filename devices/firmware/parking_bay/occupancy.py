"""Is a car over the sensor? Deviation of the magnetic field from the empty bay's baseline.

A car's steel bends the Earth's field by a few to tens of µT. Two thresholds give hysteresis
(above ``on_ut`` means a car, below ``off_ut`` means none, in between keeps the state), and a
change counts only after ``debounce`` consecutive samples agree, so a passing car or a person
with a trolley does not flip the bay. While clearly empty, the baseline follows slow drift
(temperature, a new manhole cover) with weight ``drift`` per sample.
"""

import math


def mean(vectors):
    n = len(vectors)
    return [sum(v[i] for v in vectors) / n for i in range(3)]


class OccupancyDetector:
    def __init__(self, baseline, on_ut, off_ut, debounce, drift=0.0, occupied=False, streak=0):
        if not 0 < off_ut < on_ut:
            raise ValueError("need 0 < off_ut < on_ut")
        if debounce < 1:
            raise ValueError("debounce must be >= 1")
        self.baseline = [float(c) for c in baseline]
        self.on_ut = on_ut
        self.off_ut = off_ut
        self.debounce = debounce
        self.drift = drift
        self.occupied = occupied
        self.streak = streak  # consecutive samples that disagree with ``occupied``

    def deviation(self, field):
        b = self.baseline
        return math.sqrt((field[0] - b[0]) ** 2 + (field[1] - b[1]) ** 2 + (field[2] - b[2]) ** 2)

    def update(self, field):
        """Take one sample ``(x, y, z)`` in µT; returns True when the debounced state flips."""
        deviation = self.deviation(field)
        if self.occupied:
            disagrees = deviation < self.off_ut
        else:
            disagrees = deviation > self.on_ut
            if deviation < self.off_ut and self.drift:
                for i in range(3):
                    self.baseline[i] += self.drift * (field[i] - self.baseline[i])
        self.streak = self.streak + 1 if disagrees else 0
        if self.streak >= self.debounce:
            self.occupied = not self.occupied
            self.streak = 0
            return True
        return False

    def state(self):
        """Compact state for RTC memory: ``[occupied, streak, bx, by, bz]``."""
        return [self.occupied, self.streak] + [round(c, 2) for c in self.baseline]
