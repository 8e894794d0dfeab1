"""``civicpulse up``'s one-line status: readings stored, alerts open, processes up.

Readings come from ingest's own metrics endpoint (what Prometheus would scrape), so the line costs
the database nothing however large the readings tables grow; open alerts come from the alerts
table, which stays small. On a terminal the line rewrites itself every second; otherwise (a log
file, a service manager) it is logged every ``--status-every`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import psycopg
from prometheus_client.parser import text_string_to_metric_families

from civicpulse.errors import CivicPulseError
from storage.connection import Conn, connect

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Status:
    readings: int | None
    quarantined: int | None
    alerts_open: int | None
    processes: str

    def line(self) -> str:
        def number(value: int | None) -> str:
            return "?" if value is None else f"{value:,}"

        return (
            f"readings stored {number(self.readings)} · quarantined {number(self.quarantined)}"
            f" · alerts open {number(self.alerts_open)} · processes {self.processes}"
        )


def ingest_counts(text: str) -> tuple[int, int]:
    """Rows written and messages or items quarantined, from ingest's metrics exposition."""
    rows = quarantined = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "civicpulse_ingest_rows_written_total":
                rows += sample.value
            elif sample.name == "civicpulse_ingest_quarantined_total":
                quarantined += sample.value
    return int(rows), int(quarantined)


class Counts:
    """Ingest's counters across its restarts: a counter that went down belongs to a new process,
    so what the old one had counted is kept as a base."""

    def __init__(self) -> None:
        self._base = (0, 0)
        self._last = (0, 0)

    def update(self, rows: int, quarantined: int) -> tuple[int, int]:
        if rows < self._last[0] or quarantined < self._last[1]:
            self._base = (self._base[0] + self._last[0], self._base[1] + self._last[1])
        self._last = (rows, quarantined)
        return self._base[0] + rows, self._base[1] + quarantined


class StatusReader:
    def __init__(self, *, database_url: str, ingest_metrics_url: str) -> None:
        self._database_url = database_url
        self._metrics_url = ingest_metrics_url
        self._counts = Counts()
        self._conn: Conn | None = None

    async def read(self, processes: str) -> Status:
        readings = quarantined = None
        with contextlib.suppress(OSError, ValueError):
            text = await asyncio.to_thread(self._scrape)
            readings, quarantined = self._counts.update(*ingest_counts(text))
        return Status(readings, quarantined, await self._alerts_open(), processes)

    def _scrape(self) -> str:
        with urllib.request.urlopen(self._metrics_url, timeout=2) as response:  # noqa: S310 (our own http URL)
            return str(response.read().decode())

    async def _alerts_open(self) -> int | None:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = await connect(self._database_url, autocommit=True)
            cur = await self._conn.execute("SELECT count(*) FROM alerts WHERE state <> 'resolved'")
            row = await cur.fetchone()
            return int(str(row[0])) if row else 0
        except (CivicPulseError, psycopg.Error, OSError) as error:
            logger.debug("status: alerts not read (%s)", error)
            await self.close()
            return None

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None


async def report(
    reader: StatusReader,
    processes: Callable[[], str],
    *,
    every: float,
    stream: TextIO | None = None,
) -> None:
    """Show the status until cancelled: a line rewritten in place on a terminal, else logged."""
    out = stream or sys.stderr
    live = out.isatty()
    try:
        while True:
            status = await reader.read(processes())
            if live:
                out.write("\r\x1b[2K" + status.line())
                out.flush()
            else:
                logger.info("status: %s", status.line())
            await asyncio.sleep(1.0 if live else every)
    finally:
        if live:
            out.write("\n")
            out.flush()
        await reader.close()
