"""Dates in query strings: ISO 8601 (``2026-10-01``) and nothing else.

pydantic would read a number as a Unix time (``?start=1.5e9`` as a day of 2017); a date that is
not written as one is refused (422), as the OpenAPI document's ``format: date`` says.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

_ISO = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _iso_only(value: Any) -> Any:
    if isinstance(value, str) and not _ISO.fullmatch(value):
        raise ValueError("a date as YYYY-MM-DD")
    if isinstance(value, int | float):
        raise ValueError("a date as YYYY-MM-DD")
    return value


def _in_range(value: date) -> date:
    # Windows reach a year back and days ahead: keep well inside what dates can represent.
    if not 1900 <= value.year <= 9000:
        raise ValueError("a date from 1900 to 9000")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_only), AfterValidator(_in_range)]
"""A date written ``YYYY-MM-DD``, from 1900 to 9000."""
