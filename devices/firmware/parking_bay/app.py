"""Parking-bay node: a magnetometer under the bay, battery powered, asleep between samples.

Each wake (every ``sample_s``): read the field, update the debounced detector, and queue a
reading when the state changed or every ``heartbeat_every`` wakes (the platform marks a silent
bay unknown after two heartbeats). The radio is switched on only when there is something to
send; if that fails, later wakes retry after a jittered, growing number of wakes, so an outage
does not flatten the battery. Everything to remember rides in RTC memory across deep sleep.
"""

import sys

import hal
from cpfw import clock
from cpfw.backoff import delay
from cpfw.compat import sleep_ms
from cpfw.config import load
from cpfw.log import log
from cpfw.state import DeviceState
from cpfw.uplink import Uplink
from occupancy import OccupancyDetector, mean

FIELDS = (("occupied", None), ("battery_pct", 0))

NODE_DEFAULTS = {
    "i2c": {"id": 0, "scl": 22, "sda": 21},
    "battery": {"pin": 35, "divider": 2.0, "empty_mv": 3300, "full_mv": 4150},
    "on_ut": 8.0,
    "off_ut": 4.0,
    "debounce": 3,
    "calibrate": 16,
    "drift": 0.01,
    "heartbeat_every": 180,
    "awake_s": 20,
    "retry_max_wakes": 60,
}


def run(config_path="config.json"):
    """One wake, then deep sleep (which on a device never returns)."""
    cfg = load(config_path, NODE_DEFAULTS)
    board = hal.Board(cfg)
    wdt = board.watchdog(cfg["watchdog_ms"])
    state = None
    try:
        state = DeviceState(cfg, board)
        wake(cfg, board, state, wdt.feed)
    except Exception as error:  # a bad wake must not end the node: log it, sleep, try again
        log("wake failed:", repr(error))
        print_exception = getattr(sys, "print_exception", None)  # MicroPython's traceback
        if print_exception is not None:
            print_exception(error)
    if state is not None:
        state.save()
    board.deepsleep(cfg["sample_ms"])


def wake(cfg, board, state, feed):
    node = cfg["node"]
    memo = state.extra
    detector = _detector(node, board, state)
    changed = detector.update(board.magnetic_field())
    wake_no = memo.get("wake", 0) + 1
    memo["wake"] = wake_no
    since = memo.get("since", 0) + 1
    due = changed or memo.get("due", True) or since >= node["heartbeat_every"]
    now = clock.unix_ms()
    if due and clock.valid(now):
        state.record([detector.occupied, board.battery_pct()], now)
        due, since = False, 0
    memo["due"], memo["since"] = due, since
    memo["det"] = detector.state()
    # Connect only with something to send, or to set the clock; and not while backing off.
    if (len(state.buffer) or not clock.valid(now)) and wake_no >= memo.get("retry", 0):
        uplink = Uplink(cfg, board, state, FIELDS)
        uplink.last_sync_ms = memo.get("ntp", 0)
        delivered = uplink.flush(node["awake_s"] * 1000, feed)
        memo["ntp"] = uplink.last_sync_ms
        uplink.disconnect()
        uplink.wifi.off()
        if delivered:
            memo["fails"] = 0
            memo["retry"] = 0
        else:
            fails = memo.get("fails", 0) + 1
            memo["fails"] = fails
            memo["retry"] = wake_no + delay(fails, 1, node["retry_max_wakes"])
            log("delivery failed", fails, "times;", len(state.buffer), "readings kept")


def _detector(node, board, state):
    saved = state.extra.get("det")
    if saved:
        occupied, streak, baseline = saved[0], saved[1], saved[2:]
    else:
        # After power-on: the baseline from installation (flash), or calibrate now; the bay
        # must be empty while the node is installed.
        occupied, streak = False, 0
        baseline = state.flash.data.get("baseline")
        if not baseline:
            samples = []
            for _ in range(node["calibrate"]):
                samples.append(board.magnetic_field())
                sleep_ms(10)
            baseline = [round(c, 2) for c in mean(samples)]
            state.flash.data["baseline"] = baseline
            state.flash.save()
            log("calibrated: empty-bay field", baseline, "µT")
    return OccupancyDetector(
        baseline,
        node["on_ut"],
        node["off_ut"],
        node["debounce"],
        node["drift"],
        occupied,
        streak,
    )
