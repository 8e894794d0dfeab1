"""Server-rendered pages: Jinja templates (``api/templates``), the headers every page carries,
and whether a request wants a page at all.

Pages run no scripts and load nothing from elsewhere: the Content-Security-Policy allows the
site's own stylesheet and nothing else, and forms post back to the site only. Pages reached by a
secret link (a household's, a subscription's) are never cached or indexed, and send their
address as a referrer to this site only, so the token in it goes nowhere else.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from api.formats import _quality, _ranges  # the API's own Accept parsing
from api.problems import ApiProblem

HTML = "text/html"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self';"
    " base-uri 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Vary": "Accept",
}
PRIVATE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("api", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["kwh"] = lambda value: f"{value:,.0f} kWh"
    return env


def page(
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    private: bool = True,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    html = environment().get_template(template).render(**context)
    sent = {**_HEADERS, **(PRIVATE if private else {"Cache-Control": "public, max-age=60"})}
    return HTMLResponse(html, status_code=status, headers={**sent, **(headers or {})})


def wants_html(request: Request, *, json_type: str = "application/json") -> bool:
    """Whether the client prefers a page to JSON: browsers say ``text/html`` first; API
    clients say JSON, or nothing. ``not-acceptable`` when it takes neither."""
    accept = request.headers.get("accept")
    if not accept:
        return False
    ranges = _ranges(accept)
    html, json = _quality(HTML, ranges), _quality(json_type, ranges)
    if json_type != "application/json":
        json = max(json, _quality("application/json", ranges))
    if html <= 0 and json <= 0:
        raise ApiProblem("not-acceptable", f"offered: {json_type}, {HTML}")
    # An explicit text/html beats */*; ties go to JSON, the API's default.
    explicit = any(media == HTML for media, q in ranges if q > 0)
    return explicit and (html > json or (html == json and "json" not in accept))


def same_origin(request: Request) -> bool:
    """Whether a form post comes from one of this site's own pages (no cross-site forgery).

    Browsers say so in ``Sec-Fetch-Site``; older ones send ``Origin`` (pages use the
    ``same-origin`` referrer policy, so it is the real origin, not ``null``). A request with
    neither is refused: it is not from a browser form of ours."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return False
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1].rstrip("/") == host
