"""Bearer tokens from an identity provider: RSA keys made by the test, their JWKS served by a
local HTTP server, tokens signed with PyJWT. Checked: signature, issuer, audience, expiry,
algorithm, the roles claim, and a provider that cannot be reached."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from api import OidcConfig, create_app
from tests.api.city import City
from tests.api.conftest import config, serving

ISSUER = "https://login.camden.example/tenant"
AUDIENCE = "api://civicpulse"
KID = "test-key-1"


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url(signing_key: rsa.RSAPrivateKey) -> Iterator[str]:
    """The provider's published keys, as a JWKS document on a local server."""
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(signing_key.public_key()))
    document = json.dumps({"keys": [{**jwk, "kid": KID, "alg": "RS256", "use": "sig"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


def token(
    key: rsa.RSAPrivateKey, *, kid: str = KID, algorithm: str = "RS256", **claims: Any
) -> str:
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "officer-7f3a",
        "iat": now,
        "exp": now + 300,
        "roles": ["civicpulse.officer"],
        "preferred_username": "jane.officer",
        **claims,
    }
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})


def oidc(jwks_url: str, **changes: Any) -> OidcConfig:
    return OidcConfig(**{"jwks_url": jwks_url, "issuer": ISSUER, "audience": AUDIENCE, **changes})


async def test_valid_tokens_map_roles_to_scopes(
    city: City, jwks_url: str, signing_key: rsa.RSAPrivateKey
) -> None:
    async with serving(create_app(config(city.url, oidc=oidc(jwks_url)))) as client:
        for roles, scope in (
            (["civicpulse.officer"], "officer"),
            (["civicpulse.developer", "civicpulse.admin"], "admin"),
            (["civicpulse.developer", "other-app.admin"], "developer"),
        ):
            response = await client.get(
                "/v1/me", headers={"Authorization": f"Bearer {token(signing_key, roles=roles)}"}
            )
            assert response.status_code == 200, response.text
            me = response.json()
            assert me["scope"] == scope
            assert me["subject"].startswith("oidc:") and "officer-7f3a" not in me["subject"]
        staff_only = await client.get(
            "/v1/device-health", headers={"Authorization": f"Bearer {token(signing_key)}"}
        )
        assert staff_only.status_code == 200


async def test_bad_tokens_are_refused(
    city: City, jwks_url: str, signing_key: rsa.RSAPrivateKey
) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    body = (
        base64.urlsafe_b64encode(
            json.dumps(
                {
                    "iss": ISSUER,
                    "aud": AUDIENCE,
                    "sub": "x",
                    "exp": now + 60,
                    "roles": ["civicpulse.admin"],
                }
            ).encode()
        )
        .rstrip(b"=")
        .decode()
    )
    refused = {
        "expired": token(signing_key, exp=now - 3600),
        "wrong audience": token(signing_key, aud="api://something-else"),
        "wrong issuer": token(signing_key, iss="https://evil.example"),
        "another key, same kid": token(stranger),
        "unknown kid": token(signing_key, kid="not-published"),
        "shared secret": jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": now + 60},
            "a shared secret, long enough for HS256",
            algorithm="HS256",
        ),
        "unsigned": f"{header}.{body}.",
        "no subject": token(signing_key, sub=None),
        "garbage": "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln",
    }
    async with serving(create_app(config(city.url, oidc=oidc(jwks_url)))) as client:
        for name, value in refused.items():
            response = await client.get("/v1/me", headers={"Authorization": f"Bearer {value}"})
            assert response.status_code == 401, (name, response.text)
            assert response.json()["type"] == "/v1/problems/unauthenticated"
            assert "invalid_token" in response.headers["www-authenticate"]
        no_role = await client.get(
            "/v1/me", headers={"Authorization": f"Bearer {token(signing_key, roles=['staff'])}"}
        )
        assert no_role.status_code == 403
    # Without OIDC configured, a token is just not a key.
    async with serving(create_app(config(city.url))) as client:
        response = await client.get(
            "/v1/me", headers={"Authorization": f"Bearer {token(signing_key)}"}
        )
        assert response.status_code == 401


async def test_roles_from_a_scope_string(
    city: City, jwks_url: str, signing_key: rsa.RSAPrivateKey
) -> None:
    app = create_app(config(city.url, oidc=oidc(jwks_url, roles_claim="scope")))
    async with serving(app) as client:
        value = token(signing_key, scope="openid profile civicpulse.admin")
        me = (await client.get("/v1/me", headers={"Authorization": f"Bearer {value}"})).json()
        assert me["scope"] == "admin"


async def test_an_officer_token_acknowledges_in_its_name(
    fresh_city: City, jwks_url: str, signing_key: rsa.RSAPrivateKey
) -> None:
    alert = fresh_city.alert_ids["zone"]
    async with serving(create_app(config(fresh_city.url, oidc=oidc(jwks_url)))) as client:
        headers = {"Authorization": f"Bearer {token(signing_key)}"}
        acked = await client.post(f"/v1/alerts/{alert}/acknowledge", headers=headers)
        assert acked.status_code == 200, acked.text
        assert acked.json()["acknowledged_by"] == "oidc:jane.officer"
        history = (await client.get(f"/v1/alerts/{alert}", headers=headers)).json()["history"]
        assert history[-1]["action"] == "acknowledged"
        assert history[-1]["actor"] == "oidc:jane.officer"


async def test_an_unreachable_provider_is_a_503(city: City, signing_key: rsa.RSAPrivateKey) -> None:
    closed = oidc("http://127.0.0.1:9/jwks.json")  # discard port: nothing listens
    async with serving(create_app(config(city.url, oidc=closed))) as client:
        response = await client.get(
            "/v1/me", headers={"Authorization": f"Bearer {token(signing_key)}"}
        )
    assert response.status_code == 503
    assert response.json()["type"] == "/v1/problems/identity-provider"
    assert response.headers["retry-after"] == "30"
