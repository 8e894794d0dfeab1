"""The dashboards as data: boards, rows, panels and their queries. Pure: no Grafana library, no I/O.

Each dashboard module (``city``, ``air_quality``, …) returns a :class:`Board`; ``dashboards.render``
turns it into Grafana's JSON with the foundation SDK, and the tests run every :class:`Sql` against
a real database with Grafana's macros expanded (``dashboards.macros``). A query says which columns
it returns, so a test can hold the SQL to the shape its panel needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DATABASE_UID = "civicpulse-db"
"""The PostgreSQL/TimescaleDB data source's fixed uid (dashboards/provisioning/datasources)."""
DATABASE_TYPE = "grafana-postgresql-datasource"
PROMETHEUS_UID = "civicpulse-prometheus"
PROMETHEUS_TYPE = "prometheus"
FOLDER_UID = "civicpulse"
FOLDER_TITLE = "CivicPulse"
ALL = "'__all'"
"""The value a variable takes for "All": raw SQL, so that ``'__all' IN ($zone)`` is true and a
filter needs no list of every zone (and works when there is none)."""

PanelKind = Literal["timeseries", "stat", "table", "geomap", "bargauge", "text"]


@dataclass(frozen=True, slots=True)
class Sql:
    """A query to the PostgreSQL data source."""

    sql: str
    columns: tuple[str, ...]
    """The columns it returns, in order (a time series' first is ``time``)."""
    format: Literal["time_series", "table"] = "table"
    rows: Literal["some", "any"] = "some"
    """``some``: the tests' simulated run must give rows; ``any``: none may be right (say why in
    the panel's description)."""
    interval: str | None = None
    """The panel's minimum interval (``$__interval`` never below it): a rollup's grain."""


@dataclass(frozen=True, slots=True)
class Prom:
    """A query to the Prometheus data source (ingest's /metrics)."""

    expr: str
    legend: str = ""


Query = Sql | Prom


@dataclass(frozen=True, slots=True)
class Threshold:
    value: float | None
    """``None``: the base step."""
    colour: str


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    kind: PanelKind
    queries: tuple[Query, ...] = ()
    description: str = ""
    unit: str | None = None
    width: int = 12
    height: int = 8
    thresholds: tuple[Threshold, ...] = ()
    text: str = ""
    """Markdown of a text panel."""
    colour_cells: bool = False
    """Tables: colour each cell by :attr:`thresholds` (the weekday-by-hour heatmap)."""
    map_colour: str | None = None
    """Geomaps: the column that colours the markers (by :attr:`thresholds`)."""
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True, slots=True)
class Row:
    title: str


@dataclass(frozen=True, slots=True)
class Variable:
    """A query variable on the database (multi-select, with All as :data:`ALL`)."""

    name: str
    label: str
    sql: str
    """Returns ``__value`` and ``__text`` (or one column)."""


@dataclass(frozen=True, slots=True)
class Board:
    uid: str
    title: str
    description: str
    items: tuple[Panel | Row, ...]
    variables: tuple[Variable, ...] = ()
    time_from: str = "now-24h"
    refresh: str = "1m"
    source: str = ""
    """The module that defines it, named in the generated file's banner."""

    def panels(self) -> list[Panel]:
        return [item for item in self.items if isinstance(item, Panel)]

    def sql(self) -> list[tuple[Panel, Sql]]:
        return [(p, q) for p in self.panels() for q in p.queries if isinstance(q, Sql)]

    def prom(self) -> list[tuple[Panel, Prom]]:
        return [(p, q) for p in self.panels() for q in p.queries if isinstance(q, Prom)]
