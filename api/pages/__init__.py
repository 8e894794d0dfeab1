"""Pages for people, outside ``/v1``: the resident's energy page (``/residents/{token}``) and
the stylesheet every page uses (``/static``). Pages under ``/v1`` (an alert subscription's,
the open data catalogue's) are the API's resources answering browsers in HTML.

``create_app`` mounts :data:`router` (with the caller's rate limit) and :func:`static_files`.
"""

from __future__ import annotations

from pathlib import Path

from starlette.staticfiles import StaticFiles

from api.pages.residents import router

STATIC = Path(__file__).resolve().parent.parent / "static"


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC)


__all__ = ["STATIC", "router", "static_files"]
