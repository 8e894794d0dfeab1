"""Broker addresses from URLs, and paho clients configured for them."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from civicpulse.errors import ConfigError


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """``mqtt://[user[:password]@]host[:port]`` or ``mqtts://…`` (TLS, default port 8883)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
            raise ConfigError("CIVICPULSE_MQTT_URL", f"expected mqtt://host:port, got {url!r}")
        tls = parts.scheme in ("mqtts", "ssl")
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
        )

    @property
    def url(self) -> str:
        """Where the broker is, without credentials: for logs and messages."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def make_client(
    address: BrokerAddress,
    client_id: str,
    *,
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
    manual_ack: bool = False,
    clean_session: bool | None = None,
) -> mqtt.Client:
    """A paho client configured for ``address`` (credentials, TLS); not yet connected."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        manual_ack=manual_ack,
        clean_session=clean_session,
    )
    if address.username is not None:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set_context(ssl.create_default_context())
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def stop_loop(client: mqtt.Client) -> None:
    """Stop a client's network thread and close the socket pair ``loop_start`` made to wake it.

    paho 2.2 leaves that pair open after ``loop_stop``; clients held in reference cycles (our
    callbacks) may then be collected socket first, two sockets leaked per stopped client.
    """
    client.loop_stop()
    for name in ("_sockpairR", "_sockpairW"):
        sock = getattr(client, name, None)
        if sock is not None:
            sock.close()
            setattr(client, name, None)
