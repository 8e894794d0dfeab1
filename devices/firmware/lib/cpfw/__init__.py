"""CivicPulse device library for MicroPython on ESP32 (also runs under CPython for tests).

Only ``cpfw.board`` and each firmware's ``hal.py`` touch hardware (``machine``, ``network``,
``ntptime``); every other module uses ``json``, ``socket``, ``select``, ``struct``, ``time``, ``os``
and ``random``, which both interpreters have. No type annotations and no ``typing``: MicroPython
would carry them as dead weight.
"""

VERSION = "0.1.0"
