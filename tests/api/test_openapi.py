"""The OpenAPI document: 3.1, complete (descriptions, examples, problem details, security),
served with interactive docs, and equal to the committed snapshot ``api/openapi.json``."""

from __future__ import annotations

import json
from typing import Any

import httpx

from api import ApiConfig, create_app
from api.openapi import GENERATED, SNAPSHOT, snapshot_text
from tests.cli_harness import civicpulse

PLACEHOLDER = ApiConfig(database_url="postgresql://unused@localhost/unused")
FIX = "regenerate it: civicpulse api openapi > api/openapi.json"


def _document() -> dict[str, Any]:
    return create_app(PLACEHOLDER).openapi()


def test_snapshot_is_current() -> None:
    assert SNAPSHOT.read_text(encoding="utf-8") == snapshot_text(create_app(PLACEHOLDER)), FIX


def test_the_command_prints_the_snapshot() -> None:
    result = civicpulse("api", "openapi")
    assert result.returncode == 0, result.stderr
    assert result.stdout == SNAPSHOT.read_text(encoding="utf-8"), FIX
    assert json.loads(result.stdout)["info"]["x-generated"] == GENERATED


def test_document_does_not_depend_on_configuration() -> None:
    other = ApiConfig(database_url="postgresql://x@y/z", cors_origins=("*",), rate_per_minute=1)
    assert create_app(other).openapi() == _document()


def test_every_operation_is_described_and_secured() -> None:
    document = _document()
    assert document["openapi"] == "3.1.0"
    assert set(document["components"]["securitySchemes"]) == {"bearerAuth", "apiKeyHeader"}
    missing = []
    for path, item in document["paths"].items():
        assert path.startswith("/v1"), path
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            if not op.get("summary") or "Who may call it" not in op.get("description", ""):
                missing.append(f"{where}: summary or description")
            if not op.get("security"):
                missing.append(f"{where}: security")
            for parameter in op.get("parameters", []):
                described = parameter.get("description") or parameter["schema"].get("description")
                example = any(
                    "example" in x or "examples" in x for x in (parameter, parameter["schema"])
                )
                if not described or not example:
                    missing.append(f"{where}: parameter {parameter['name']}")
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")):
                    content = response.get("content", {})
                    if list(content) != ["application/problem+json"]:
                        missing.append(f"{where}: {status} is not problem details")
            success = next(r for s, r in op["responses"].items() if s.startswith("2"))
            if success.get("content"):
                schemas = [c["schema"] for c in success["content"].values()]
                if not any(
                    "$ref" in s or "example" in c
                    for s, c in zip(schemas, success["content"].values(), strict=True)
                ):
                    missing.append(f"{where}: success body undescribed")
    assert not missing, missing


def test_every_model_has_examples() -> None:
    schemas = _document()["components"]["schemas"]
    bare = [name for name, s in schemas.items() if "examples" not in s and "enum" not in s]
    assert not bare


def test_public_routes_take_optional_credentials() -> None:
    paths = _document()["paths"]
    assert {} in paths["/v1/devices"]["get"]["security"]
    assert {} not in paths["/v1/device-health"]["get"]["security"]
    assert {} not in paths["/v1/alerts/{alert_id}/acknowledge"]["post"]["security"]


async def test_docs_and_document_are_served(api_client: httpx.AsyncClient) -> None:
    served = await api_client.get("/v1/openapi.json")
    assert served.status_code == 200 and served.json() == _document()
    docs = await api_client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert "/v1/openapi.json" in docs.text
