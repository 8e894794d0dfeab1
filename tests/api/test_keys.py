"""API keys from the command line: made and shown once, kept as a hash, listed without ever
showing a key, revoked at once; and no answer of the API ever contains a key."""

from __future__ import annotations

import re

from api import create_app
from api.keys import is_key, key_hash, new_key
from storage.connection import connect
from tests.api.city import City
from tests.api.conftest import bearer, config, serving
from tests.cli_harness import civicpulse, one_clear_line

KEY_LINE = re.compile(r"^cpk_[A-Za-z0-9_-]{43}$")


def test_keys_are_random_and_hashed() -> None:
    keys = {new_key() for _ in range(100)}
    assert len(keys) == 100 and all(is_key(k) for k in keys)
    key = next(iter(keys))
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", key_hash(key))
    assert key_hash(key) == key_hash(key) and key not in key_hash(key)
    assert not is_key("cpk_short") and not is_key("eyJhbGciOi.x.y")


async def test_create_list_revoke(fresh_city: City) -> None:
    env = {"CIVICPULSE_DATABASE_URL": fresh_city.url}
    made = civicpulse(
        "api", "keys", "create", "--scope", "developer", "--name", "Camden parking app", env=env
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert KEY_LINE.match(key), made.stdout  # the key alone on stdout, for scripts
    assert "shown once" in made.stderr
    key_id = int(re.search(r"key (\d+)", made.stderr).group(1))  # type: ignore[union-attr]

    async with await connect(fresh_city.url, autocommit=True) as conn:
        cur = await conn.execute("SELECT api_keys::text FROM api_keys WHERE id = %s", (key_id,))
        row = await cur.fetchone()
    assert row is not None
    assert key not in str(row[0]) and key_hash(key) in str(row[0])

    async with serving(create_app(config(fresh_city.url))) as client:
        me = (await client.get("/v1/me", headers=bearer(key))).json()
        assert me == {"scope": "developer", "subject": f"key:{key_id}", "household_id": None}
        # Whatever the API answers to its holder, the key is not in it.
        for path in (
            "/v1",
            "/v1/me",
            "/v1/devices",
            "/v1/device-health",
            "/v1/alerts",
            "/v1/nowhere",
            "/v1/devices/aq-1/readings?cursor=bad",
        ):
            for headers in (bearer(key), {"X-API-Key": key}):
                response = await client.get(path, headers=headers)
                assert key not in response.text and key not in str(response.headers)

        listed = civicpulse("api", "keys", "list", env=env)
        assert listed.returncode == 0
        assert "Camden parking app" in listed.stdout
        assert "cpk_" not in listed.stdout + listed.stderr and "sha256" not in listed.stdout
        line = next(li for li in listed.stdout.splitlines() if li.startswith(f"{key_id}\t"))
        assert line.split("\t")[5] != "-"  # last used: just now
        assert line.split("\t")[6] == "-"  # not revoked

        revoked = civicpulse("api", "keys", "revoke", str(key_id), env=env)
        assert revoked.returncode == 0, revoked.stderr
        refused = await client.get("/v1/me", headers=bearer(key))
        assert refused.status_code == 401  # at once: keys are looked up on every request
        assert refused.headers["www-authenticate"].startswith("Bearer")
    listed = civicpulse("api", "keys", "list", "--active", env=env)
    assert f"{key_id}\t" not in listed.stdout
    one_clear_line(civicpulse("api", "keys", "revoke", "999999", env=env), 2, "no key 999999")


async def test_resident_keys_name_their_household(fresh_city: City) -> None:
    env = {"CIVICPULSE_DATABASE_URL": fresh_city.url}
    one_clear_line(
        civicpulse("api", "keys", "create", "--scope", "resident", "--name", "Flat 3", env=env),
        2,
        "--household",
    )
    one_clear_line(
        civicpulse(
            "api",
            "keys",
            "create",
            "--scope",
            "officer",
            "--name",
            "x",
            "--household",
            "hh-0042",
            env=env,
        ),
        2,
        "--household",
    )
    made = civicpulse(
        "api",
        "keys",
        "create",
        "--scope",
        "resident",
        "--name",
        "Flat 3",
        "--household",
        "hh-0042",
        env=env,
    )
    assert made.returncode == 0, made.stderr
    async with serving(create_app(config(fresh_city.url))) as client:
        me = (await client.get("/v1/me", headers=bearer(made.stdout.strip()))).json()
    assert me["scope"] == "resident" and me["household_id"] == "hh-0042"


def test_key_commands_need_a_database_and_an_action() -> None:
    one_clear_line(civicpulse("api", "keys", "list"), 2, "CIVICPULSE_DATABASE_URL")
    one_clear_line(civicpulse("api", "keys"), 2, "create, list or revoke")
