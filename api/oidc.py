"""Bearer tokens from the council's identity provider (OAuth 2 / OpenID Connect JWTs).

A token is accepted when its signature checks out against the provider's published keys
(JWKS, fetched and cached by PyJWT's ``PyJWKClient``), it names the configured issuer and
audience, and it has not expired. Its roles claim maps to a scope (``civicpulse.officer`` →
``officer``; the strongest wins). Only asymmetric algorithms are accepted, so a token signed
with the public key as an HMAC secret, or not signed at all, is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import jwt

from api.config import OidcConfig
from api.problems import ApiProblem
from api.scopes import Principal, scope_from_roles

_WWW = {"WWW-Authenticate": 'Bearer realm="civicpulse", error="invalid_token"'}


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


def _roles(claim: Any) -> list[str]:
    if isinstance(claim, str):
        return claim.split()
    if isinstance(claim, list):
        return [r for r in claim if isinstance(r, str)]
    return []


class OidcVerifier:
    def __init__(self, config: OidcConfig) -> None:
        self._config = config
        self._jwks = jwt.PyJWKClient(config.jwks_url, cache_keys=True, lifespan=300, timeout=5)

    async def principal(self, token: str) -> Principal:
        """The caller a token names, or ``unauthenticated`` (401) saying why not."""
        config = self._config
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise ApiProblem("unauthenticated", "malformed token", headers=_WWW) from None
        if header.get("alg") not in config.algorithms:
            raise ApiProblem("unauthenticated", "token algorithm not accepted", headers=_WWW)
        try:
            # PyJWKClient fetches with urllib: off the event loop.
            signing = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError:
            raise ApiProblem(
                "identity-provider",
                "could not fetch the identity provider's keys",
                headers={"Retry-After": "30"},
            ) from None
        except (jwt.PyJWKClientError, jwt.InvalidTokenError):
            raise ApiProblem(
                "unauthenticated", "token signed by an unknown key", headers=_WWW
            ) from None
        try:
            claims = jwt.decode(
                token,
                signing.key,
                algorithms=list(config.algorithms),
                audience=config.audience,
                issuer=config.issuer,
                leeway=config.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise ApiProblem("unauthenticated", "token expired", headers=_WWW) from None
        except jwt.InvalidTokenError as error:
            raise ApiProblem(
                "unauthenticated", f"token refused ({type(error).__name__})", headers=_WWW
            ) from None
        scope = scope_from_roles(_roles(claims.get(config.roles_claim)))
        if scope is None:
            raise ApiProblem(
                "forbidden",
                f"the token's {config.roles_claim!r} claim names no CivicPulse role"
                " (civicpulse.developer, civicpulse.officer, civicpulse.admin)",
            )
        sub = str(claims["sub"])
        # The subject may be an email address: logs get a digest, audit trails the username.
        digest = hashlib.sha256(sub.encode()).hexdigest()[:16]
        actor = claims.get("preferred_username") or sub
        return Principal(scope, f"oidc:{digest}", actor=f"oidc:{actor}")
