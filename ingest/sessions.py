"""Retiring broker sessions that ingest no longer uses, so that no queued message is stranded.

Mosquitto queues a shared subscription's messages for offline members too (round-robin), and a
plain persistent subscription queues everything while its client is away. So when ingest moves
from one process to several workers, or to fewer workers, the sessions it stops using still hold
messages. Ingest records the client ids it runs under; at start it drains every id it no longer
uses: connect to that session, unsubscribe so nothing new is routed to it, store and acknowledge
what it holds, then end the session.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from ingest.service import Ingest, IngestConfig
from storage import meta
from storage.connection import connect

logger = logging.getLogger(__name__)


def _key(base: str) -> str:
    return f"ingest.sessions.{base}"


async def used_sessions(database_url: str, base: str) -> tuple[list[str], str | None]:
    """The client ids (and shared group) recorded for ``base``."""
    async with await connect(database_url) as conn:
        recorded = await meta.get(conn, _key(base))
    if not isinstance(recorded, dict):
        return [], None
    return list(recorded["client_ids"]), recorded.get("share_group")


async def record_sessions(
    database_url: str, base: str, client_ids: list[str], share_group: str | None
) -> None:
    async with await connect(database_url) as conn:
        await meta.put(conn, _key(base), {"client_ids": client_ids, "share_group": share_group})


async def retire_unused(
    template: IngestConfig, base: str, client_ids: list[str], share_group: str | None
) -> int:
    """Drain and end the sessions recorded for ``base`` that are not in ``client_ids``, then
    record ``client_ids``. Returns the number of messages the retired sessions held."""
    previous, previous_group = await used_sessions(template.database_url, base)
    stale = [cid for cid in previous if cid not in client_ids]
    drained = 0
    if stale:
        if template.protocol != "5":
            logger.error(
                "sessions %s are no longer used but can only be retired over MQTT 5; their"
                " queued messages wait until they expire",
                ", ".join(stale),
            )
        else:
            logger.info("retiring unused ingest sessions %s", ", ".join(stale))
            results = await asyncio.gather(
                *(_drain(template, cid, previous_group) for cid in stale)
            )
            drained = sum(results)
            logger.info("retired %d sessions holding %d messages", len(stale), drained)
    await record_sessions(template.database_url, base, client_ids, share_group)
    return drained


async def _drain(template: IngestConfig, client_id: str, share_group: str | None) -> int:
    config = dataclasses.replace(
        template, client_id=client_id, share_group=share_group, drain=True, metrics_port=0
    )
    ingest = Ingest(config)
    await ingest.run()
    return ingest.metrics.messages_acked
