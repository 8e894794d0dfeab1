"""Secret links: the token in a household's report link or an alert subscription's.

A token is 192 random bits (``storage.delivery.new_token``): nobody guesses one. What this module
adds keeps guessing pointless and silent: a malformed token and an unknown one get the same
answer; each unknown token costs the address a token of its failed-attempts bucket (the one bad
API keys draw on), so an address that keeps guessing is held back (``api.auth.caller`` checks
that bucket before every request, with a 429); and look-ups compare digests
(``storage.links``), so their timing tells nothing.
"""

from __future__ import annotations

import re

from fastapi import Request

from api.auth import client_address
from api.runtime import runtime

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def well_formed(token: str) -> bool:
    return _TOKEN.fullmatch(token) is not None


def _bucket(request: Request) -> str:
    return f"failed:{client_address(request)}"


def failed(request: Request) -> None:
    """Count an unknown or malformed token against the address."""
    rt = runtime(request)
    rt.limiter.take(_bucket(request), rt.config.public_rate_per_minute)
