"""What must survive: a small flash file (rarely written) and sequence numbers.

Flash endures on the order of 10,000 erase cycles per sector; LittleFS (the ESP32 port's default
filesystem) spreads writes over free blocks, but every write still costs, so the flash file is
written only when a block of sequence numbers is reserved, at calibration, and on request.
"""

import json
import os

from cpfw.log import log


class FlashState:
    """A JSON dict in one file, replaced atomically (write a temporary file, then rename)."""

    def __init__(self, path):
        self.path = path
        self.data = {}
        try:
            with open(path) as f:
                data = json.load(f)
            if isinstance(data, dict):
                self.data = data
        except OSError:
            pass  # first boot: no file yet
        except ValueError:
            log("flash state", path, "is corrupt; starting afresh")

    def save(self):
        temporary = self.path + ".tmp"
        with open(temporary, "w") as f:
            json.dump(self.data, f)
        os.rename(temporary, self.path)  # LittleFS and POSIX replace the old file


class SeqCounter:
    """Monotonic per-device sequence numbers (the contract's ``seq``), never repeated.

    The last number used travels in RTC memory, which survives deep sleep and resets. Flash
    holds a reservation ``block`` numbers ahead, written once per block: after a power loss
    (RTC memory gone) counting resumes above the reservation, skipping at most ``block``
    numbers. A gap is harmless; a repeated number would not be.
    """

    def __init__(self, flash, last, block):
        self._flash = flash
        self._block = block
        reserved = flash.data.get("seq_reserved", 0)
        self.last = last if isinstance(last, int) else reserved

    def next(self):
        self.last += 1
        if self.last > self._flash.data.get("seq_reserved", 0):
            self._flash.data["seq_reserved"] = self.last + self._block - 1
            self._flash.save()
        return self.last
