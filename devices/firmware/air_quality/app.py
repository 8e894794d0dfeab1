"""Air-quality node: PM2.5 and PM10 from a PMS5003, NO2 from an electrochemical sensor.

Always powered (particle counters draw about 100 mA with the fan running): it samples every
``sample_s`` and stays connected (cpfw.mains).
"""

import hal
from cpfw import mains
from cpfw.config import load
from no2 import no2_tenths
from pms5003 import Pms5003Parser

# (name, decimals) in the order values are queued; names are air_quality fields.
FIELDS = (("pm25", 0), ("pm10", 0), ("no2", 1), ("rssi_dbm", 0))

NODE_DEFAULTS = {
    "uart": {"id": 2, "rx": 16, "tx": 17},
    # zero_mv and mv_per_ppb come from the sensor's calibration sheet; these are placeholders.
    "no2": {"pin": 34, "zero_mv": 300.0, "mv_per_ppb": -0.3, "reads": 16},
}


class AirQualityNode:
    FIELDS = FIELDS

    def __init__(self, board, cfg):
        self._board = board
        no2 = cfg["node"]["no2"]
        self._zero_mv = no2["zero_mv"]
        self._mv_per_ppb = no2["mv_per_ppb"]
        self._parser = Pms5003Parser()

    def restore(self, state):
        pass  # nothing beyond the shared state

    def checkpoint(self, state):
        pass

    def sample(self, rssi):
        frames = self._parser.feed(self._board.read_uart())
        frame = frames[-1] if frames else None  # the newest: older ones queued in the UART
        no2 = no2_tenths(self._board.read_no2_mv(), self._zero_mv, self._mv_per_ppb)
        if frame is None:
            return [None, None, no2, rssi]  # no frame this time (fan spinning up, noise)
        return [frame.pm25, frame.pm10, no2, rssi]


def run(config_path="config.json", samples=None, disconnect=True, drain_ms=30000):
    """Run forever; ``samples``, ``disconnect`` and ``drain_ms`` are for tests (cpfw.mains)."""
    cfg = load(config_path, NODE_DEFAULTS)
    board = hal.Board(cfg)
    return mains.run(AirQualityNode(board, cfg), board, cfg, samples, disconnect, drain_ms)
