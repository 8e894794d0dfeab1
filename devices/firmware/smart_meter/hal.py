"""Meter-reader hardware: a photodiode or phototransistor module over the meter's pulse LED,
its digital output on a GPIO with a falling-edge interrupt.
"""

import machine
from cpfw.board import Board as Esp32Board
from cpfw.compat import ticks_ms
from machine import Pin


class Board(Esp32Board):
    def __init__(self, cfg):
        super().__init__(cfg)
        self._pin = Pin(cfg["node"]["pin"], Pin.IN, Pin.PULL_UP)
        self._counter = None

    def count_pulses(self, counter):
        """Route every falling edge (LED on: the module pulls its output low) to ``counter``."""
        self._counter = counter
        self._pin.irq(trigger=Pin.IRQ_FALLING, handler=self._on_edge)

    def _on_edge(self, _pin):
        self._counter.edge(ticks_ms())

    def snapshot(self):
        """``(count, last_ms, interval_ms)`` read with interrupts off, so the three agree."""
        irq = machine.disable_irq()
        try:
            counter = self._counter
            return counter.count, counter.last_ms, counter.interval_ms
        finally:
            machine.enable_irq(irq)
