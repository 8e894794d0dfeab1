"""Who is calling: an API key, an identity provider's token, or nobody (``public``); and
whether they may go ahead (scopes, rate limits).

Credentials come as ``Authorization: Bearer <key or token>`` or ``X-API-Key: <key>``. Sending
bad credentials is an error (401), never a quiet fall back to ``public``. Each request takes a
token from its caller's bucket: the key's, or without a key the client address's. Failed
attempts draw on a bucket of their own per address, checked *before* the key is looked up, so
guessing keys is slow and cannot flood the database.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from api import keys
from api.oidc import looks_like_jwt
from api.problems import ApiProblem
from api.ratelimit import retry_after
from api.runtime import Runtime, runtime
from api.scopes import ANONYMOUS, Principal, Scope
from storage import api_keys

_WWW = {"WWW-Authenticate": 'Bearer realm="civicpulse"'}
_TOUCH_EVERY_S = 60.0


def presented(request: Request) -> str | None:
    """The key or token sent with the request, if any."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, credential = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise ApiProblem(
                "unauthenticated", "send `Authorization: Bearer <key or token>`", headers=_WWW
            )
        return credential.strip()
    key = request.headers.get("x-api-key")
    if key is not None:
        if not key.strip():
            raise ApiProblem("unauthenticated", "empty X-API-Key", headers=_WWW)
        return key.strip()
    return None


def client_address(request: Request) -> str:
    # Behind a proxy, the server puts the forwarded address here (trusted proxies only).
    return request.client.host if request.client else "unknown"


async def authenticate(request: Request, rt: Runtime) -> Principal:
    credential = presented(request)
    if credential is None:
        return ANONYMOUS
    if keys.is_key(credential):
        async with rt.write() as conn:
            found = await api_keys.find(conn, keys.key_hash(credential))
            if found is None:
                raise ApiProblem("unauthenticated", "unknown or revoked API key", headers=_WWW)
            now = time.monotonic()
            if now - rt.touched.get(found.id, -_TOUCH_EVERY_S) >= _TOUCH_EVERY_S:
                rt.touched[found.id] = now
                await api_keys.touch(conn, found.id, at=datetime.now(UTC))
        return Principal(
            Scope(found.scope),
            f"key:{found.id}",
            actor=f"api-key:{found.id}:{found.name}",
            household_id=found.household_id,
            key_id=found.id,
        )
    if rt.oidc is not None and looks_like_jwt(credential):
        return await rt.oidc.principal(credential)
    raise ApiProblem("unauthenticated", "not a CivicPulse API key or accepted token", headers=_WWW)


def _limit(rt: Runtime, bucket: str, rate: int, *, take: bool = True) -> None:
    wait = rt.limiter.take(bucket, rate) if take else rt.limiter.wait(bucket, rate)
    if wait > 0:
        raise ApiProblem(
            "rate-limited",
            f"more than {rate} requests a minute",
            headers={"Retry-After": retry_after(wait)},
        )


async def caller(request: Request) -> Principal:
    """The request's principal, once it has passed the rate limit (a router dependency)."""
    rt = runtime(request)
    address = client_address(request)
    failures = f"failed:{address}"
    public_rate = rt.config.public_rate_per_minute
    _limit(rt, failures, public_rate, take=False)
    try:
        principal = await authenticate(request, rt)
    except ApiProblem as problem:
        if problem.kind.status == 401:
            rt.limiter.take(failures, public_rate)
        raise
    if principal.scope is Scope.PUBLIC:
        _limit(rt, f"ip:{address}", public_rate)
    else:
        _limit(rt, principal.subject, rt.config.rate_per_minute)
    request.state.principal = principal  # for the access log
    return principal


def allow(*scopes: Scope) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting only ``scopes``: 401 without credentials, 403 with others."""
    allowed = frozenset(scopes)
    names = ", ".join(s.value for s in scopes)

    async def check(principal: Annotated[Principal, Depends(caller)]) -> Principal:
        if principal.scope in allowed:
            return principal
        if principal.scope is Scope.PUBLIC:
            raise ApiProblem(
                "unauthenticated", f"this needs a key with scope {names}", headers=_WWW
            )
        raise ApiProblem("forbidden", f"this needs scope {names}, not {principal.scope}")

    return check
