"""The naive baseline: the subscriber a council might write by hand, run as its own process.

paho-mqtt 2.x with its defaults (MQTT 3.1.1, acknowledgement on receipt), subscribed at QoS 1;
``on_message`` parses the JSON with the standard library and runs one ``INSERT`` per message on
an autocommit connection. It writes the same readings tables as CivicPulse (``ON CONFLICT DO
NOTHING`` so a redelivery cannot fail it), looking each device's type up in a dict loaded once.
It prints ``subscribed`` when the broker has granted the subscription, and runs until SIGTERM.

    python -m bench.naive --port 18830 --database-url postgresql://… --client-id naive-1
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from psycopg import sql

from devices.contract import TELEMETRY_FILTER
from devices.types import DEVICE_TYPES


def _insert_statements() -> dict[str, tuple[sql.Composed, tuple[str, ...]]]:
    """Per device type: the INSERT and the payload keys in column order."""
    out = {}
    for name, t in DEVICE_TYPES.items():
        columns = ("device_id", "ts", "seq", "received_at", *t.columns)
        statement = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING").format(
            sql.Identifier(t.table),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        )
        out[name] = (statement, t.columns)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--client-id", required=True)
    args = parser.parse_args(argv)

    db = psycopg.connect(args.database_url, autocommit=True)
    rows = db.execute("SELECT device_id, device_type FROM devices").fetchall()
    device_types: dict[str, str] = {str(d): str(t) for d, t in rows}
    statements = _insert_statements()

    def on_message(_client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        device_id = message.topic.split("/")[3]
        body = json.loads(message.payload)
        statement, columns = statements[device_types[device_id]]
        values = [body.get(c) for c in columns]
        db.execute(
            statement,
            (device_id, body["ts"], body.get("seq"), datetime.now(UTC), *values),
        )

    def on_subscribe(*_args: Any) -> None:
        print("subscribed", flush=True)

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=args.client_id)
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.on_connect = lambda c, *_: c.subscribe(TELEMETRY_FILTER, qos=1)
    signal.signal(signal.SIGTERM, lambda *_: client.disconnect())
    client.connect(args.host, args.port)
    client.loop_forever()
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
