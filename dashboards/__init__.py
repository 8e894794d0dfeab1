"""The officers' Grafana dashboards, as code (docs/dashboards.md).

Each module defines one dashboard as data (``dashboards.model``); ``civicpulse dashboards build``
renders them with Grafana's foundation SDK into ``dashboards/json/`` (committed, generated: do
not edit), which Grafana provisions from files, and ``civicpulse dashboards push`` sends them to
an existing Grafana. Panels read the database through the ``civicpulse_grafana`` role and ingest's
metrics through Prometheus.
"""

from __future__ import annotations

from dashboards import air_quality, city, energy, fleet, parking, pipeline
from dashboards.model import Board

BOARDS = (city, air_quality, parking, energy, fleet, pipeline)


def boards() -> list[Board]:
    """Every dashboard, in the order of the folder."""
    return [module.board() for module in BOARDS]


__all__ = ["Board", "boards"]
