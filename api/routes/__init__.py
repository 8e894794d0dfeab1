"""The API's resources, one router each, all mounted under ``/v1`` by :func:`api.create_app`.

A new resource (parking, air quality, energy, open data, the resident's page) is a module here
with a ``router = APIRouter(tags=[...])``, added to :data:`ROUTERS`. Its routes take their
caller and connections from :mod:`api.dependencies` (``Caller``, ``ReadConn``, ``WriteConn``),
restrict scopes with :func:`api.auth.allow`, answer reads through
:func:`api.representation.represent` (JSON or GeoJSON, CSV, ETag, caching), page with
:mod:`api.pagination`, describe themselves with :func:`api.operations.operation`, and raise
:class:`api.problems.ApiProblem` or the platform's named errors. Every router gets the caller's
authentication and rate limit from ``create_app``.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import (
    air_quality,
    alerts,
    devices,
    energy,
    live,
    meta,
    ngsi_ld,
    open_data,
    parking,
    readings,
    subscription_page,
    subscriptions,
    zones,
)

ROUTERS: tuple[APIRouter, ...] = (
    meta.router,
    parking.router,  # early: its zone availability is the API's hottest route
    devices.router,
    readings.router,
    zones.router,
    subscriptions.router,
    subscription_page.router,
    alerts.router,
    energy.router,
    open_data.router,
    live.router,
    air_quality.router,
    ngsi_ld.router,
)
