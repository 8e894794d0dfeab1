"""Smart-meter reader: counts the electricity meter's pulse LED and reports the import register
and the instantaneous power.

The register is ``base_kwh`` (read off the meter's display when the reader is fitted, given as a
string so that no 32-bit float rounds it) plus the pulses counted since. The count survives
resets in RTC memory and power cuts in flash (saved every ``flash_every`` samples, so a power cut
can lose the pulses since the last save: re-read the display and update ``base_kwh`` then).
"""

import hal
from cpfw import mains
from cpfw.compat import ticks_diff, ticks_ms
from cpfw.config import load
from pulses import PulseCounter, parse_kwh, power_w, register_wh

FIELDS = (("electricity_import_kwh", 3), ("power_w", 0), ("rssi_dbm", 0))

NODE_DEFAULTS = {"pin": 27, "imp_per_kwh": 1000, "min_gap_ms": 20, "flash_every": 60}


class MeterNode:
    FIELDS = FIELDS

    def __init__(self, board, cfg):
        node = cfg["node"]
        self._board = board
        self._imp = node["imp_per_kwh"]
        self._base_wh = parse_kwh(node["base_kwh"])
        self._flash_every = node["flash_every"]
        self._since_flash = 0
        self.counter = PulseCounter(node["min_gap_ms"])

    def restore(self, state):
        # RTC memory is newer than flash; either counts only if taken against the same base
        # (a new base_kwh in config.json means the display was re-read: start from zero).
        for saved in (state.extra.get("meter"), state.flash.data.get("meter")):
            if saved and saved[0] == self._base_wh:
                self.counter.count = saved[1]
                break
        self._board.count_pulses(self.counter)

    def sample(self, rssi):
        count, last_ms, interval_ms = self._board.snapshot()
        since = ticks_diff(ticks_ms(), last_ms) if last_ms is not None else None
        return [
            register_wh(self._base_wh, count, self._imp),
            power_w(interval_ms, since, self._imp),
            rssi,
        ]

    def checkpoint(self, state):
        saved = [self._base_wh, self.counter.count]
        state.extra["meter"] = saved
        self._since_flash += 1
        if self._since_flash >= self._flash_every or "meter" not in state.flash.data:
            self._since_flash = 0
            state.flash.data["meter"] = saved
            state.flash.save()


def run(config_path="config.json", samples=None, disconnect=True, drain_ms=30000):
    """Run forever; ``samples``, ``disconnect`` and ``drain_ms`` are for tests (cpfw.mains)."""
    cfg = load(config_path, NODE_DEFAULTS)
    if "base_kwh" not in cfg["node"]:
        raise ValueError("node.base_kwh is missing: read it off the meter's display")
    board = hal.Board(cfg)
    return mains.run(MeterNode(board, cfg), board, cfg, samples, disconnect, drain_ms)
