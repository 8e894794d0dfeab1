"""A household's stored reports (``nudges`` rows) as the API and the resident's page show them.

The words are the letter's: :func:`delivery.nudges.nudge_message` writes every form of a report
(email, SMS, letter), and both the API's ``message`` and the resident's page take the letter's
text from it, so a household reads the same thing on paper and on screen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.models.energy import Report, ReportDetail, Tip
from delivery.nudges import nudge_message


def period_label(row: Mapping[str, Any]) -> str:
    figures = row.get("figures") or {}
    return str(figures.get("period") or f"{row['period_start']:%B %Y}")


def report(row: Mapping[str, Any]) -> Report:
    return Report(
        programme_id=row["programme_id"],
        period=period_label(row),
        period_start=row["period_start"],
        period_end=row["period_end"],
        status=row["status"],
        rating=row["rating"],
        usage_kwh=row["usage_kwh"],
        average_kwh=row["average_kwh"],
        efficient_kwh=row["efficient_kwh"],
        peers=row["peers"],
        withheld_reason=row["withheld_reason"],
        computed_at=row["computed_at"],
    )


def letter(row: Mapping[str, Any], *, page_url: str) -> str | None:
    """The report's letter text; ``None`` for a period without a comparison."""
    if row["status"] != "ready" or row["rating"] is None:
        return None
    return nudge_message(row, page_url=page_url).letter


def _tips(row: Mapping[str, Any], name: str) -> list[Tip]:
    figures = row.get("figures") or {}
    return [Tip(name=str(t.get("name", "")), text=str(t["text"])) for t in figures.get(name, [])]


def detail(row: Mapping[str, Any], *, page_url: str) -> ReportDetail:
    return ReportDetail(
        **report(row).model_dump(),
        suggestions=_tips(row, "suggestions"),
        insights=_tips(row, "insights"),
        message=letter(row, page_url=page_url),
    )
