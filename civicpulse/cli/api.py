"""``civicpulse api``: serve the REST API; ``api keys create|list|revoke``; ``api openapi``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from typing import TYPE_CHECKING

from civicpulse.errors import ConfigError, UsageError
from civicpulse.settings import Settings, load_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from api.config import ApiConfig

_HOUSEHOLD = re.compile(r"^[A-Za-z0-9_-]{4,64}$")
_PLACEHOLDER_URL = "postgresql://openapi@localhost/unused"  # the document needs no database


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    api = sub.add_parser("api", help="serve the REST API (and manage its keys)")
    api.add_argument("--host", default="127.0.0.1", help="address to listen on")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    api.set_defaults(run=_serve)
    tasks = api.add_subparsers(metavar="task")

    p = tasks.add_parser("openapi", help="print the OpenAPI document (api/openapi.json)")
    p.set_defaults(run=_openapi)

    keys_parser = tasks.add_parser("keys", help="API keys")
    keys_parser.set_defaults(run=_no_action)  # not the server's: `api keys` alone serves nothing
    keys = keys_parser.add_subparsers(metavar="action")
    p = keys.add_parser("create", help="make a key and print it, once")
    p.add_argument("--scope", required=True, choices=("developer", "officer", "resident", "admin"))
    p.add_argument("--name", required=True, help='who holds it ("Camden parking app")')
    p.add_argument("--household", metavar="ID", help="the household a resident key reads")
    p.set_defaults(run=_create)
    p = keys.add_parser("list", help="list keys (never the keys themselves)")
    p.add_argument("--active", action="store_true", help="leave revoked keys out")
    p.set_defaults(run=_list)
    p = keys.add_parser("revoke", help="revoke a key at once")
    p.add_argument("key_id", type=int)
    p.set_defaults(run=_revoke)


def api_config(settings: Settings) -> ApiConfig:
    """The API's configuration from the settings."""
    from api.config import ApiConfig, OidcConfig

    oidc = None
    wanted = (settings.oidc_jwks_url, settings.oidc_issuer, settings.oidc_audience)
    if any(wanted):
        jwks, issuer, audience = wanted
        if not (jwks and issuer and audience):
            raise ConfigError(
                "CIVICPULSE_OIDC_JWKS_URL",
                "set CIVICPULSE_OIDC_JWKS_URL, _ISSUER and _AUDIENCE together (or none)",
            )
        oidc = OidcConfig(
            jwks_url=jwks, issuer=issuer, audience=audience, roles_claim=settings.oidc_roles_claim
        )
    return ApiConfig(
        database_url=settings.require_database_url(),
        reader_url=settings.api_database_url,
        cors_origins=tuple(o.strip() for o in settings.api_cors_origins.split(",") if o.strip()),
        rate_per_minute=settings.api_rate_per_minute,
        public_rate_per_minute=settings.api_public_rate_per_minute,
        oidc=oidc,
        council_name=settings.council_name,
        council_contact=settings.council_contact,
    )


def app_factory() -> FastAPI:
    """What each uvicorn worker process calls: settings read anew from its environment."""
    from api import create_app

    settings = load_settings()
    if not logging.getLogger().handlers:  # a worker process: nothing configured it yet
        from civicpulse.cli.logs import configure

        configure(logging.getLevelName(settings.log_level.upper()), settings.log_format)
    return create_app(api_config(settings))


def _no_action(_settings: Settings, _args: argparse.Namespace) -> int:
    raise UsageError("api keys", "say create, list or revoke (see --help)")


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from civicpulse.cli.metrics import across_workers

    if args.workers < 1:
        raise UsageError("--workers", "at least 1")
    api_config(settings)  # a bad setting stops here, with its name, not in every worker
    with across_workers(args.workers):  # /metrics sums every worker's requests
        uvicorn.run(
            "civicpulse.cli.api:app_factory",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            proxy_headers=True,
            forwarded_allow_ips=settings.api_trusted_proxies,
            access_log=False,  # api.metrics logs requests without tokens in paths
            log_config=None,
            server_header=False,
            # Live streams never end on their own: cut them 10 s into a shutdown (clients
            # reconnect with Last-Event-ID) instead of waiting for them forever.
            timeout_graceful_shutdown=10,
        )
    return 0


def _openapi(_settings: Settings, _args: argparse.Namespace) -> int:
    from api import ApiConfig, create_app
    from api.openapi import snapshot_text

    sys.stdout.write(snapshot_text(create_app(ApiConfig(database_url=_PLACEHOLDER_URL))))
    return 0


def _create(settings: Settings, args: argparse.Namespace) -> int:
    from api.keys import key_hash, new_key
    from storage import api_keys
    from storage.connection import connect

    if (args.scope == "resident") != (args.household is not None):
        raise UsageError("--household", "a resident key needs one; other scopes take none")
    if args.household is not None and not _HOUSEHOLD.match(args.household):
        raise UsageError("--household", "4-64 letters, digits, '-' or '_'")
    if not 1 <= len(args.name) <= 200:
        raise UsageError("--name", "1-200 characters")
    key = new_key()

    async def main() -> api_keys.ApiKey:
        async with await connect(settings.require_database_url(), autocommit=True) as conn:
            return await api_keys.create(
                conn,
                name=args.name,
                scope=args.scope,
                key_hash=key_hash(key),
                household_id=args.household,
            )

    made = asyncio.run(main())
    household = f", household {made.household_id}" if made.household_id else ""
    print(f"key {made.id} ({made.scope}{household}) for {made.name!r}:", file=sys.stderr)
    print(key)
    print("shown once: store it now; only its hash is kept", file=sys.stderr)
    return 0


def _list(settings: Settings, args: argparse.Namespace) -> int:
    from storage import api_keys
    from storage.connection import connect

    async def main() -> list[api_keys.ApiKey]:
        async with await connect(settings.require_database_url(), autocommit=True) as conn:
            return await api_keys.list_keys(conn, include_revoked=not args.active)

    print("id\tscope\thousehold\tname\tcreated\tlast used\trevoked")
    for k in asyncio.run(main()):
        print(
            f"{k.id}\t{k.scope}\t{k.household_id or '-'}\t{k.name}"
            f"\t{k.created_at:%Y-%m-%d %H:%M}Z\t{_when(k.last_used_at)}\t{_when(k.revoked_at)}"
        )
    return 0


def _when(moment: object) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M}Z"


def _revoke(settings: Settings, args: argparse.Namespace) -> int:
    from storage import api_keys
    from storage.connection import connect

    async def main() -> api_keys.ApiKey | None:
        async with await connect(settings.require_database_url(), autocommit=True) as conn:
            return await api_keys.revoke(conn, args.key_id)

    revoked = asyncio.run(main())
    if revoked is None:
        raise UsageError("revoke", f"no key {args.key_id}")
    print(f"key {revoked.id} ({revoked.name!r}) revoked at {revoked.revoked_at:%Y-%m-%d %H:%M}Z")
    return 0
