"""The API's request and response bodies (pydantic): what the OpenAPI document describes."""
