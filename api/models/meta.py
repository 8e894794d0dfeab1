"""About the API itself: its index, the caller, and the kinds of problem it answers."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.models.common import frozen


class Index(BaseModel):
    model_config = frozen(
        {
            "name": "CivicPulse API",
            "version": "1",
            "scope": "public",
            "links": {
                "devices": "/v1/devices",
                "zones": "/v1/zones",
                "alerts": "/v1/alerts",
                "docs": "/docs",
                "openapi": "/v1/openapi.json",
            },
        }
    )
    name: str
    version: str
    scope: str = Field(description="The caller's scope")
    links: dict[str, str] = Field(description="Where each resource is")


class CallerInfo(BaseModel):
    """Who the API takes the caller to be."""

    model_config = frozen({"scope": "resident", "subject": "key:17", "household_id": "hh-0042"})
    scope: str
    subject: str = Field(description="`anonymous`, `key:<id>` or `oidc:<digest>`")
    household_id: str | None = Field(description="A resident key's household")


_PROBLEM_TYPE = {
    "type": "/v1/problems/rate-limited",
    "title": "Too many requests",
    "status": 429,
    "description": "The key has used its allowance; wait `Retry-After` seconds.",
}


class ProblemTypeInfo(BaseModel):
    """A kind of problem the API answers with."""

    model_config = frozen(_PROBLEM_TYPE)
    type: str
    title: str
    status: int
    description: str


class ProblemTypeList(BaseModel):
    model_config = frozen({"items": [_PROBLEM_TYPE]})
    items: list[ProblemTypeInfo]
