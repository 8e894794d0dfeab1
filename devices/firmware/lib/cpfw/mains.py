"""The main loop of an always-powered node (air quality, meter reader).

Sample on a fixed schedule, queue every reading, checkpoint to RTC memory, and between samples
let the uplink connect and drain. The watchdog is fed once per pass; every pass is bounded by the
sample interval (at most 1 s) plus one connection attempt, so ``watchdog_s`` must exceed the
Wi-Fi and socket timeouts.
"""

from cpfw import clock
from cpfw.compat import ticks_add, ticks_diff, ticks_ms
from cpfw.log import log
from cpfw.state import DeviceState
from cpfw.uplink import Uplink


class Runtime:
    """What a run leaves behind, for the caller (and tests) to inspect."""

    def __init__(self, board, state, uplink, wdt):
        self.board = board
        self.state = state
        self.uplink = uplink
        self.wdt = wdt
        self.samples = 0


def run(node, board, cfg, samples=None, disconnect=True, drain_ms=30000):
    """Run ``node`` forever; with ``samples`` (tests), stop after that many readings once they are
    delivered (or ``drain_ms`` passed), then disconnect cleanly unless ``disconnect`` is False.

    ``node`` has ``FIELDS``, ``restore(state)``, ``sample(rssi)`` returning the values in field
    order (or None to skip), and ``checkpoint(state)``.
    """
    wdt = board.watchdog(cfg["watchdog_ms"])
    state = DeviceState(cfg, board)
    node.restore(state)
    uplink = Uplink(cfg, board, state, node.FIELDS)
    uplink.last_sync_ms = state.extra.get("ntp", 0)
    rt = Runtime(board, state, uplink, wdt)
    interval = cfg["sample_ms"]
    next_at = ticks_ms()
    drain_until = None
    warned = False
    while True:
        wdt.feed()
        sampling = samples is None or rt.samples < samples
        if sampling and ticks_diff(ticks_ms(), next_at) >= 0:
            now = clock.unix_ms()
            if clock.valid(now):
                values = node.sample(uplink.wifi.rssi())
                if values is not None:
                    state.record(values, now)
                    rt.samples += 1
            elif not warned:
                warned = True
                log("clock not set yet (no NTP): readings wait for it")
            node.checkpoint(state)
            state.extra["ntp"] = uplink.last_sync_ms
            state.save()
            next_at = ticks_add(next_at, interval)
            if ticks_diff(ticks_ms(), next_at) > interval:
                next_at = ticks_ms()  # fell behind (a long connect): skip, do not burst
        elif not sampling:
            if drain_until is None:
                drain_until = ticks_add(ticks_ms(), drain_ms)
            if uplink.idle() or ticks_diff(ticks_ms(), drain_until) >= 0:
                break
        wait = max(0, min(ticks_diff(next_at, ticks_ms()), 1000)) if sampling else 50
        uplink.service(wait)
    state.save()
    if disconnect:
        uplink.disconnect()
    return rt
