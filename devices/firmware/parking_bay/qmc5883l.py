"""QMC5883L 3-axis magnetometer over I2C (QST datasheet, rev. 1.0).

Kept in standby between samples (about 3 µA) and switched to continuous mode only long enough
for one measurement. Range ±2 G (12000 LSB/G, i.e. 120 LSB/µT) suits the Earth's field (~50 µT)
plus a car's disturbance; output data rate 200 Hz makes the first sample ready in ~5 ms.
"""

import struct

from cpfw.compat import sleep_ms

ADDRESS = 0x0D
LSB_PER_UT = 120
_DATA = 0x00
_STATUS = 0x06
_CONTROL1 = 0x09
_CONTROL2 = 0x0A
_SET_RESET_PERIOD = 0x0B
_DATA_READY = 0x01
_OVERFLOW = 0x02
_STANDBY = b"\x00"
# Oversampling 512 (bits 7-6 = 00), range 2 G (5-4 = 00), 200 Hz (3-2 = 11), continuous (01).
_CONTINUOUS = b"\x0d"


class QMC5883L:
    def __init__(self, i2c, address=ADDRESS):
        self._i2c = i2c
        self._address = address
        i2c.writeto_mem(address, _CONTROL2, b"\x80")  # soft reset
        i2c.writeto_mem(address, _SET_RESET_PERIOD, b"\x01")  # the datasheet's recommended value

    def read_ut(self, timeout_ms=100):
        """One measurement ``(x, y, z)`` in µT; raises OSError if none comes or it saturated."""
        i2c, address = self._i2c, self._address
        i2c.writeto_mem(address, _CONTROL1, _CONTINUOUS)
        try:
            waited = 0
            while True:
                status = i2c.readfrom_mem(address, _STATUS, 1)[0]
                if status & _DATA_READY:
                    break
                if waited >= timeout_ms:
                    raise OSError("QMC5883L: no data")
                sleep_ms(2)
                waited += 2
            raw = i2c.readfrom_mem(address, _DATA, 6)
        finally:
            i2c.writeto_mem(address, _CONTROL1, _STANDBY)
        if status & _OVERFLOW:
            raise OSError("QMC5883L: field beyond ±2 G (a magnet on the sensor?)")
        x, y, z = struct.unpack("<hhh", raw)
        return (x / LSB_PER_UT, y / LSB_PER_UT, z / LSB_PER_UT)
