"""A device's memory: sequence numbers, unsent readings and node extras.

RTC memory (about 2 KiB on ESP32) keeps them across deep sleep, watchdog and soft resets, but
not across power loss; it is plain RAM, so it is rewritten after every sample at no cost. When
the readings do not all fit, the checkpoint keeps the newest and counts the rest as dropped if
the device ever restarts from it.
"""

import json

from cpfw.clock import unix_ms
from cpfw.log import log
from cpfw.persist import FlashState, SeqCounter
from cpfw.ringbuf import RingBuffer

_VERSION = 1


class DeviceState:
    def __init__(self, cfg, board):
        buf = cfg["buffer"]
        self._board = board
        self._budget = buf["rtc_bytes"]
        self.flash = FlashState(cfg["root"] + "state.json")
        saved = self._load_rtc()
        self.restored = saved is not None
        saved = saved or {}
        self.extra = saved.get("x") or {}  # the node's own fields
        self.seq = SeqCounter(self.flash, saved.get("seq"), buf["seq_block"])
        self.buffer = RingBuffer(buf["capacity"])
        for item in saved.get("buf") or ():
            self.buffer.push(item)
        self.buffer.dropped += saved.get("dropped", 0)  # plus any a smaller capacity cost
        self._last_ts = self.buffer.peek(len(self.buffer) - 1)[1] if len(self.buffer) else 0

    def record(self, values, ts_ms=None):
        """Queue a reading ``values`` (in the node's field order) under the next seq.

        Timestamps strictly increase, by a millisecond if need be: the platform keeps one
        reading per device and ``ts`` and takes a second as a repeat, so two samples in the same
        millisecond (the main loop catching up after a slow pass) or a clock that NTP set back
        would otherwise lose readings that the broker acknowledged.
        """
        ts = unix_ms() if ts_ms is None else ts_ms
        if ts <= self._last_ts:
            ts = self._last_ts + 1
        self._last_ts = ts
        item = [self.seq.next(), ts]
        item.extend(values)
        if self.buffer.push(item):
            log("buffer full: dropped the oldest reading;", self.buffer.dropped, "dropped so far")
        return item

    def save(self):
        """Checkpoint into RTC memory, keeping as many of the newest readings as fit."""
        buffer = self.buffer
        head = '{"v":' + str(_VERSION) + ',"seq":' + str(self.seq.last)
        head += ',"x":' + json.dumps(self.extra) + ',"dropped":'
        room = self._budget - len(head) - 16  # the dropped count and closing brackets
        parts = []
        for index in range(len(buffer) - 1, -1, -1):  # by index: no copy of a full buffer
            text = json.dumps(buffer.peek(index))
            if room - len(text) - 1 < 0:
                break
            room -= len(text) + 1
            parts.append(text)
        parts.reverse()
        dropped = buffer.dropped + len(buffer) - len(parts)
        data = (head + str(dropped) + ',"buf":[' + ",".join(parts) + "]}").encode()
        self._board.rtc_memory(data)

    def _load_rtc(self):
        raw = self._board.rtc_memory()
        if not raw:
            return None  # power-on: RTC memory is empty
        try:
            saved = json.loads(bytes(raw).decode())
        except ValueError:  # also UnicodeError: power-on garbage
            log("RTC memory does not hold a checkpoint; ignoring it")
            return None
        if not isinstance(saved, dict) or saved.get("v") != _VERSION:
            return None
        return saved
