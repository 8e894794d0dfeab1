"""The API's configuration: plain values, built by the command line from ``Settings``.

Nothing in ``api`` reads the environment; tests build an :class:`ApiConfig` directly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OidcConfig:
    """Bearer tokens (JWTs) from a council identity provider, checked against its JWKS."""

    jwks_url: str
    issuer: str
    audience: str
    roles_claim: str = "roles"
    """The claim listing the caller's roles: a list, or a space-separated string (``scope``).
    Roles ``civicpulse.developer``, ``civicpulse.officer`` and ``civicpulse.admin`` map to the
    API's scopes; the highest one wins."""
    algorithms: tuple[str, ...] = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384")
    """Asymmetric algorithms only: a shared-secret (HS*) or unsigned token is never accepted."""
    leeway_s: int = 30
    """Clock skew tolerated on ``exp`` and ``nbf``."""


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """Everything :func:`api.create_app` needs."""

    database_url: str
    """The owner's URL: the small pool for the writes the API makes (API keys' last use,
    acknowledgements, subscriptions) and for looking keys up."""
    reader_url: str | None = None
    """The login role for reads (a member of ``reader_role``); ``None``: ``database_url``."""
    reader_role: str = "civicpulse_reader"
    """Every read connection runs ``SET ROLE`` to this role, so the database itself keeps the
    API away from raw meter data, credentials and quarantined payloads."""
    cors_origins: tuple[str, ...] = ()
    """Browser origins allowed to call the API (``*`` for any); empty: no CORS headers."""
    rate_per_minute: int = 600
    """Requests a minute per API key or token (token bucket; bursts up to this many)."""
    public_rate_per_minute: int = 120
    """Requests a minute per client address without a key."""
    oidc: OidcConfig | None = None
    reader_pool_size: int = 10
    writer_pool_size: int = 3
    statement_timeout_ms: int = 15_000
    """A read that takes longer is cancelled and answered 503 (ask for a shorter range)."""
    cache_max_age_s: int = 60
    """``Cache-Control: max-age`` of public (no-key) responses."""
    retry_after_s: int = 5
    """``Retry-After`` when the database is briefly unavailable."""
    council_name: str = "The council"
    """Who publishes the open data (its catalogue's publisher)."""
    council_contact: str = "the council's energy team"
    """Whom residents contact to change what their meter shares (the resident's page)."""

    @property
    def read_url(self) -> str:
        return self.reader_url or self.database_url
