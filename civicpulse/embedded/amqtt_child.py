"""The amqtt broker's child process, for machines without a Mosquitto binary.

Run as ``python -m civicpulse.embedded.amqtt_child CONFIG``; it serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

import yaml
from amqtt.broker import Broker
from amqtt.plugins.authentication import AnonymousAuthPlugin


class OpenAuthPlugin(AnonymousAuthPlugin):  # type: ignore[misc]
    """Accepts every client without marking its session anonymous.

    amqtt's AnonymousAuthPlugin marks sessions anonymous, and amqtt then keeps no queue for an
    offline clean_session=False client. Without that mark persistent sessions behave as in
    Mosquitto (in memory only: amqtt has no persistence here).
    """

    async def authenticate(self, *, session: object) -> bool:
        return True


async def _serve(config: dict[str, object]) -> None:
    broker = Broker(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await broker.start()
    await stop.wait()
    await broker.shutdown()


def main(config_path: str) -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    logging.getLogger("transitions").setLevel(logging.WARNING)
    asyncio.run(_serve(yaml.safe_load(Path(config_path).read_text())))


if __name__ == "__main__":
    main(sys.argv[1])
