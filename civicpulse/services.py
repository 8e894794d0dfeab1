"""Where the broker and database are: configured URLs, or embedded services started here."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from civicpulse.embedded import EmbeddedBroker, EmbeddedPostgres
from civicpulse.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Services:
    database_url: str
    mqtt_url: str
    embedded: tuple[str, ...]
    """Which services were started here (``postgres``, ``mosquitto`` or ``amqtt``)."""
    mqtt_protocol: Literal["5", "3.1.1"]


@contextlib.contextmanager
def services(settings: Settings) -> Iterator[Services]:
    """Yield service URLs; start embedded ones for URLs that are not configured."""
    with contextlib.ExitStack() as stack:
        embedded: list[str] = []
        database_url, mqtt_url = settings.database_url, settings.mqtt_url
        if database_url is None:
            postgres = EmbeddedPostgres(data_dir=settings.data_dir / "postgres")
            stack.enter_context(postgres)
            database_url = postgres.create_database("civicpulse")
            embedded.append("postgres")
            logger.info("embedded PostgreSQL at %s", database_url)
        if mqtt_url is None:
            broker = EmbeddedBroker(
                data_dir=settings.data_dir / "broker", prefer=settings.embedded_broker
            )
            stack.enter_context(broker)
            mqtt_url = broker.url
            embedded.append(broker.kind)
            logger.info("embedded %s broker at %s", broker.kind, mqtt_url)
        # amqtt speaks MQTT 3.1.1 only.
        protocol: Literal["5", "3.1.1"] = "3.1.1" if "amqtt" in embedded else settings.mqtt_protocol
        yield Services(database_url, mqtt_url, tuple(embedded), protocol)
