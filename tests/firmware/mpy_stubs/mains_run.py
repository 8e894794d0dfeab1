"""Runs an always-powered firmware (``app.run`` with the test's sample count) and reports what
its runtime holds: ``micropython -m mains_run SAMPLES DRAIN_MS`` in the device's flash directory.

The counterpart of ``main.py`` for tests: the node stops after SAMPLES readings are delivered
(or DRAIN_MS passed) and disconnects cleanly, instead of running forever.
"""

import json
import sys

import app
from world import world

samples, drain_ms = int(sys.argv[1]), int(sys.argv[2])
rt = app.run("config.json", samples=samples, drain_ms=drain_ms)
world.report()
print(
    "@node",
    json.dumps(
        {
            "samples": rt.samples,
            "delivered": rt.uplink.delivered,
            "batches": rt.uplink.batches,
            "dropped": rt.state.buffer.dropped,
            "queued": len(rt.state.buffer),
        }
    ),
)
