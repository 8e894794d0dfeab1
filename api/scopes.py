"""Who is calling, and what each scope may do. Pure.

Scopes (a key has exactly one):

- ``public``: no key. Open data: devices that are not in homes, zones, air and parking series,
  alerts, subscribing to an area.
- ``developer``: what the public sees, under a key with its own rate limit, plus device health.
- ``officer``: council staff: everything above, the household meters as devices (never their
  consumption, one household at a time: only aggregates), alerts' audit trails, acknowledging.
- ``resident``: what the public sees, plus the meters of *one* household, bound to the key.
- ``admin``: everything an officer may do. Not one household's consumption either: that is for
  the household alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    PUBLIC = "public"
    DEVELOPER = "developer"
    OFFICER = "officer"
    RESIDENT = "resident"
    ADMIN = "admin"


STAFF = frozenset({Scope.OFFICER, Scope.ADMIN})
"""Scopes that see the council's own view (household meters as devices, audit trails)."""
KEYED = frozenset(Scope) - {Scope.PUBLIC}

ROLE_PREFIX = "civicpulse."
"""Identity-provider roles map to scopes by name: ``civicpulse.officer`` → ``officer``."""
_ROLE_ORDER = (Scope.ADMIN, Scope.OFFICER, Scope.DEVELOPER)
"""Roles a token may carry, strongest first (residents hold keys bound to their household)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request."""

    scope: Scope
    subject: str
    """Stable and safe to log: ``anonymous``, ``key:<id>``, ``oidc:<digest of sub>``."""
    actor: str
    """How audit trails name the caller (``acknowledged_by``)."""
    household_id: str | None = None
    """A ``resident``'s household; ``None`` for every other scope."""
    key_id: int | None = None

    @property
    def is_staff(self) -> bool:
        return self.scope in STAFF

    def owns_household(self, household_id: object) -> bool:
        return (
            self.scope is Scope.RESIDENT
            and self.household_id is not None
            and household_id == self.household_id
        )


ANONYMOUS = Principal(Scope.PUBLIC, "anonymous", "anonymous")


def scope_from_roles(roles: Iterable[str]) -> Scope | None:
    """The strongest scope named by identity-provider roles, or ``None`` when none is ours."""
    held = set(roles)
    for scope in _ROLE_ORDER:
        if ROLE_PREFIX + scope.value in held:
            return scope
    return None
