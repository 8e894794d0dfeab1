"""The device log: lines on the USB serial console (``mpremote connect … repl`` shows them).

MicroPython has no ``logging`` unless micropython-lib's is installed; a print keeps the firmware
small. Tests may replace :data:`sink` to collect lines.
"""

sink = print


def log(*parts):
    sink("[cpfw]", *parts)
