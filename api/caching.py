"""Validators and freshness: ``ETag`` on every read, ``304`` for a matching ``If-None-Match``,
and ``Cache-Control`` by who asked. Pure.

Public answers (no key) may be cached by anyone for ``max-age`` seconds. Answers to a key are
``private``: they may hold what only that key sees, so no shared cache keeps them. Every read
varies by ``Accept`` (JSON or CSV) and by the credentials headers.
"""

from __future__ import annotations

import hashlib

from api.scopes import Principal, Scope

VARY = "Accept, Authorization, X-API-Key"


def etag(body: bytes) -> str:
    """A strong validator: the digest of the exact bytes sent."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """Whether ``If-None-Match`` names ``tag`` (weak comparison, as RFC 9110 asks for GET)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = tag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == wanted for t in if_none_match.split(","))


def cache_control(principal: Principal, max_age_s: int) -> str:
    if principal.scope is Scope.PUBLIC:
        return f"public, max-age={max_age_s}"
    return "private, no-cache"
