"""Every panel's SQL, as Grafana sends it, against a real database in both storage modes.

One simulated city run per mode (``city_run``) serves every query. Each query is expanded as
Grafana would expand it (``dashboards.macros``: the variables for All and for one zone, the time
range of the run, ``$__timeGroup`` as ``time_bucket`` on TimescaleDB and epoch arithmetic on plain
PostgreSQL), then run as ``civicpulse_grafana`` in a read-only transaction: the columns must be
the panel's, a time series sorted by time, and a query that the run must feed must return rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

import psycopg
import pytest

from dashboards import boards
from dashboards.macros import expand, seconds
from dashboards.model import Board, Panel, Sql
from storage.connection import Mode
from tests.dashboards.city_run import TIMESCALE_SERVER, CityRun, city_run

MODES = [
    pytest.param(Mode.POSTGRES, id="postgres"),
    pytest.param(
        Mode.TIMESCALEDB,
        id="timescaledb",
        marks=[
            pytest.mark.timescaledb,
            pytest.mark.skipif(
                not TIMESCALE_SERVER,
                reason="CIVICPULSE_TEST_TIMESCALEDB_URL is not set (a server with TimescaleDB)",
            ),
        ],
    ),
]


@pytest.fixture(scope="module", params=MODES)
def run(request: pytest.FixtureRequest, pg_server: str, mqtt_url: str) -> Iterator[CityRun]:
    mode: Mode = request.param
    server = TIMESCALE_SERVER if mode is Mode.TIMESCALEDB else pg_server
    assert server is not None
    with city_run(server, mode, mqtt_url) as city:
        yield city


def _start(board: Board, run: CityRun) -> datetime:
    """The start of the board's default range (``now-30d``), the run's end being now."""
    return run.end - timedelta(seconds=seconds(board.time_from.removeprefix("now-")))


def _values(board: Board, zone: str | None) -> dict[str, Sequence[str] | None]:
    values: dict[str, Sequence[str] | None] = {v.name: None for v in board.variables}
    if zone is not None and "zone" in values:
        values["zone"] = [zone]
    return values


def _check(
    conn: psycopg.Connection[tuple[object, ...]],
    run: CityRun,
    board: Board,
    panel: Panel,
    query: Sql,
    zone: str | None,
) -> list[str]:
    sql = expand(
        query.sql,
        start=_start(board, run),
        end=run.end,
        timescaledb=run.mode is Mode.TIMESCALEDB,
        values=_values(board, zone),
        interval=query.interval or "1h",
    )
    where = f"{board.title} / {panel.title} (zone {zone or 'All'})"
    try:
        with conn.transaction():
            conn.execute("SET LOCAL ROLE civicpulse_grafana")
            cur = conn.execute(sql.encode())
            rows = cur.fetchall()
            names = tuple(c.name for c in cur.description or ())
    except psycopg.Error as error:
        return [f"{where}: {type(error).__name__}: {str(error).splitlines()[0]}"]
    problems = []
    if names != query.columns:
        problems.append(f"{where}: columns {names}, the panel expects {query.columns}")
    if query.format == "time_series" and rows:
        times = [row[0] for row in rows]
        if any(t is None for t in times):
            problems.append(f"{where}: a time series with a NULL time")
        elif times != sorted(times):  # type: ignore[type-var]
            problems.append(f"{where}: a time series not sorted by time")
    if query.rows == "some" and zone is None and not rows:
        problems.append(f"{where}: no rows from a run that should feed it")
    return problems


def test_every_panel_query_runs_as_grafana_would_send_it(run: CityRun) -> None:
    problems: list[str] = []
    checked = 0
    with psycopg.connect(run.url) as conn:
        # As Grafana's role would be: read-only transactions.
        conn.execute("SET default_transaction_read_only = on")
        conn.commit()
        for board in boards():
            for panel, query in board.sql():
                for zone in (None, run.zone):
                    problems += _check(conn, run, board, panel, query, zone)
                    checked += 1
    assert checked >= 60
    assert not problems, "\n".join(problems)


def test_the_run_fed_the_dashboards_exact_figures(run: CityRun) -> None:
    """A few panels whose figures the database says exactly: the overview's device count and
    the open alerts the run recorded."""
    city = next(b for b in boards() if b.uid == "civicpulse-city")
    devices = next(p for p in city.panels() if p.title == "Devices online").queries[0]
    alerts = next(p for p in city.panels() if p.title == "Alerts open").queries[0]
    assert isinstance(devices, Sql) and isinstance(alerts, Sql)
    with psycopg.connect(run.url) as conn:
        registered = conn.execute("SELECT count(*) FROM devices").fetchone()
        conn.execute("SET ROLE civicpulse_grafana")
        values = _values(city, None)
        args = {"start": _start(city, run), "end": run.end, "values": values}
        ts = run.mode is Mode.TIMESCALEDB
        online, offline, total = conn.execute(
            expand(devices.sql, timescaledb=ts, **args).encode()  # type: ignore[arg-type]
        ).fetchone() or (0, 0, 0)
        opened = conn.execute(
            expand(alerts.sql, timescaledb=ts, **args).encode()  # type: ignore[arg-type]
        ).fetchone()
    assert registered is not None and total == registered[0] == 39  # the smoke fleet
    assert online + offline == total and online > 0
    assert opened == (2, 0)
