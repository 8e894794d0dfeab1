"""Air-quality node hardware: PMS5003 on UART2, the NO2 board's output on an ADC pin.

Wiring is in docs/firmware.md. The UART is read without blocking: in active mode the PMS5003
streams a frame about every second and the parser keeps the newest.
"""

from cpfw.board import Board as Esp32Board
from machine import ADC, UART, Pin


class Board(Esp32Board):
    def __init__(self, cfg):
        super().__init__(cfg)
        node = cfg["node"]
        uart = node["uart"]
        # 512 bytes of receive buffer hold 16 frames: room for a slow main loop.
        self._uart = UART(uart["id"], baudrate=9600, rx=uart["rx"], tx=uart["tx"], rxbuf=512)
        no2 = node["no2"]
        self._adc = ADC(Pin(no2["pin"]))
        self._adc.atten(ADC.ATTN_11DB)  # 0.15-2.45 V usable: the conditioned output sits inside
        self._reads = no2["reads"]

    def read_uart(self):
        """Bytes received since the last call (possibly none)."""
        return self._uart.read() or b""

    def read_no2_mv(self):
        """The NO2 board's output in mV, averaged over several conversions (the ESP32 ADC is
        noisy); ``read_uv`` applies the chip's eFuse calibration."""
        total = 0
        for _ in range(self._reads):
            total += self._adc.read_uv()
        return total / self._reads / 1000
