"""API keys: made at random, shown once, kept only as a hash. Pure.

Why SHA-256 and not a password hash (argon2, bcrypt): a key is 256 random bits, so nobody can
guess it or search for it from a stolen hash, however fast the hash is; slowness protects
*low-entropy* secrets (passwords) and would cost every request tens of milliseconds of CPU, a
gift to anyone flooding the API. A plain digest is also deterministic, so a key is found by an
index lookup of its hash instead of trying every stored salt.
"""

from __future__ import annotations

import hashlib
import re
import secrets

PREFIX = "cpk_"
"""Every key starts so: secret scanners can spot a leaked one, and the API tells keys from
identity-provider tokens (JWTs) at a glance."""
_SHAPE = re.compile(r"^cpk_[A-Za-z0-9_-]{43}$")


def new_key() -> str:
    """A fresh key: the prefix and 32 random bytes, base64url (47 characters)."""
    return PREFIX + secrets.token_urlsafe(32)


def is_key(text: str) -> bool:
    """Whether ``text`` has the shape of a CivicPulse key (not whether the key exists)."""
    return _SHAPE.match(text) is not None


def key_hash(key: str) -> str:
    """What the database keeps of a key: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(key.encode("ascii")).hexdigest()
