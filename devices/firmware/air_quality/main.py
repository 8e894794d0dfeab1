"""Boot entry point: MicroPython runs main.py after boot.py."""

import app

app.run()
