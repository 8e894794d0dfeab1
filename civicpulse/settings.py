"""Settings, read once at an entry point from ``CIVICPULSE_*`` environment variables.

Libraries below the entry points never read the environment: they receive these values.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from civicpulse.errors import ConfigError


def _default_data_dir() -> Path:
    """Where embedded services keep their data.

    Under root they run as a service account, which must own its data without CivicPulse
    opening up root's home: ``/var/lib/civicpulse``. Otherwise the user's own data directory.
    """
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/civicpulse")
    return Path.home() / ".local" / "share" / "civicpulse"


class Settings(BaseSettings):
    """All of CivicPulse's configuration. Unset service URLs mean: start embedded services."""

    model_config = SettingsConfigDict(
        env_prefix="CIVICPULSE_", frozen=True, secrets_dir=None, extra="ignore"
    )

    database_url: str | None = Field(
        default=None, description="PostgreSQL/TimescaleDB URL; unset starts an embedded PostgreSQL"
    )
    mqtt_url: str | None = Field(
        default=None, description="mqtt://user:pass@host:port or mqtts://…; unset starts a broker"
    )
    mqtt_protocol: Literal["5", "3.1.1"] = Field(
        default="5", description="MQTT 5 (Receive Maximum flow control) or 3.1.1 for older brokers"
    )
    embedded_broker: Literal["auto", "mosquitto", "amqtt"] = Field(
        default="auto", description="which broker to embed when CIVICPULSE_MQTT_URL is unset"
    )
    broker_config_dir: Path = Field(
        default=Path("deploy/mosquitto"),
        description="where provisioning writes Mosquitto's passwd and acl files",
    )
    data_dir: Path = Field(default_factory=_default_data_dir)

    timescaledb: Literal["auto", "on", "off"] = "auto"
    chunk_interval_days: int = 7
    compress_after_days: int = 7
    raw_retention_days: int = 395
    hourly_retention_days: int = 3650
    daily_retention_days: int = 0
    """0 keeps daily aggregates for ever."""

    ingest_client_id: str = "civicpulse-ingest"
    ingest_share_group: str | None = None
    ingest_workers: int = Field(default=1, ge=1, le=64, description="ingest processes to run")
    ingest_batch_max_rows: int = 5000
    ingest_batch_max_delay_ms: int = 50
    ingest_receive_maximum: int = 20_000
    ingest_mqtt_client: Literal["asyncio", "paho"] = Field(
        default="asyncio",
        description="ingest's MQTT receive path: asyncio (batched reads and acknowledgements) or"
        " paho (the earlier client, kept as a fallback and for comparison)",
    )
    ingest_session_expiry_s: int = 7 * 24 * 3600
    ingest_metrics_port: int = 9464
    ingest_metrics_host: str = "127.0.0.1"

    max_payload_bytes: int = 65_536
    max_batch_items: int = 1_000
    max_future_skew_s: int = 300
    max_age_days: int = 400

    # Delivery of nudges and alerts (docs/notifications.md).
    smtp_url: str | None = Field(
        default=None, description="smtp://user:pass@host:587?starttls=true, or smtps://…"
    )
    smtp_from: str = "CivicPulse <civicpulse@localhost>"
    email_via: Literal["smtp", "notify"] = "smtp"
    notify_api_key: str | None = None
    notify_base_url: str = "https://api.notifications.service.gov.uk"
    notify_email_template: str | None = None
    notify_sms_template: str | None = None
    notify_letter_template: str | None = None
    webhook_secret: str | None = None
    contacts_file: Path | None = Field(
        default=None, description="the council's export of households' contact details (CSV)"
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000", description="where residents reach the API and pages"
    )
    council_name: str = Field(default="The council", description="publisher of the open data")
    council_contact: str = Field(
        default="the council's energy team",
        description="who residents contact to change their meter's consent (the resident's page)",
    )

    # The REST API (docs/api.md).
    api_database_url: str | None = Field(
        default=None,
        description="login role for the API's reads (a member of civicpulse_reader);"
        " unset: CIVICPULSE_DATABASE_URL",
    )
    api_cors_origins: str = Field(
        default="", description="browser origins allowed to call the API, comma-separated; *: any"
    )
    api_rate_per_minute: int = Field(
        default=600, ge=0, description="requests a minute per API key or token; 0: no limit"
    )
    api_public_rate_per_minute: int = Field(
        default=120, ge=0, description="requests a minute per client address without a key"
    )
    api_trusted_proxies: str = Field(
        default="127.0.0.1",
        description="proxies whose X-Forwarded-For gives the client address, comma-separated",
    )
    oidc_jwks_url: str | None = Field(
        default=None, description="the identity provider's JWKS URL; unset: API keys only"
    )
    oidc_issuer: str | None = Field(default=None, description="the tokens' expected issuer (iss)")
    oidc_audience: str | None = Field(
        default=None, description="the tokens' expected audience (aud)"
    )
    oidc_roles_claim: str = Field(
        default="roles", description="the claim listing civicpulse.* roles (list or spaced string)"
    )

    # The Grafana dashboards (docs/dashboards.md): `civicpulse dashboards push`.
    grafana_url: str | None = Field(default=None, description="Grafana's address, http://…:3000")
    grafana_token: str | None = Field(
        default=None, repr=False, description="a Grafana service account token (role Editor)"
    )

    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field(
        default="text", description="text, or json: one JSON object per log line"
    )
    alerts_metrics_port: int = Field(default=9463, ge=0, le=65535, description="0: off")
    analytics_metrics_port: int = Field(default=9462, ge=0, le=65535, description="0: off")
    metrics_host: str = Field(
        default="127.0.0.1",
        description="where the alert service's and the scheduler's metrics endpoints listen",
    )
    metrics_urls: str = Field(
        default="",
        description="services' metrics endpoints `civicpulse doctor` checks: name=url,…",
    )

    def require_database_url(self) -> str:
        """The database URL for commands that need one configured (only the demo embeds)."""
        if self.database_url is None:
            raise ConfigError(
                "CIVICPULSE_DATABASE_URL",
                "not set (or run `civicpulse services up` and export its URLs)",
            )
        check_database_url(self.database_url)
        return self.database_url

    def require_services(self) -> tuple[str, str]:
        """Database and broker URLs; long-running services never start embedded ones."""
        database_url = self.require_database_url()
        if self.mqtt_url is None:
            raise ConfigError(
                "CIVICPULSE_MQTT_URL",
                "not set (or run `civicpulse services up` and export its URLs)",
            )
        return database_url, self.mqtt_url


def load_settings() -> Settings:
    """Read the settings from the environment; a bad value is a :class:`ConfigError`."""
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        name = "CIVICPULSE_" + "_".join(str(p) for p in first["loc"]).upper()
        raise ConfigError(name, f"{first['msg']} (got {first.get('input')!r})") from None


def check_database_url(url: str) -> None:
    """A :class:`ConfigError` unless ``url`` is a PostgreSQL URL or connection string."""
    from psycopg import ProgrammingError, conninfo

    try:
        conninfo.conninfo_to_dict(url)
    except ProgrammingError as error:
        raise ConfigError(
            "CIVICPULSE_DATABASE_URL",
            f"not a PostgreSQL URL ({str(error).strip().splitlines()[0]});"
            " expected postgresql://user@host:5432/database",
        ) from None
