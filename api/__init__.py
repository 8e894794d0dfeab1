"""CivicPulse's REST API (FastAPI): ``create_app(ApiConfig(...))``; ``civicpulse api`` serves it."""

from __future__ import annotations

from api.app import create_app
from api.config import ApiConfig, OidcConfig

__all__ = ["ApiConfig", "OidcConfig", "create_app"]
