"""One log line per request, with nothing secret or personal in it.

Logged: method, the route's *template* (``/v1/alerts/subscriptions/{token}``, never the path
itself, which may hold a token), status, duration and the caller's safe subject (``key:12``,
``oidc:<digest>``, ``anonymous``). Not logged: query strings, headers (keys, tokens), bodies
(contact details), client addresses. The server's own access log is off (``civicpulse api``).
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("api.access")


class AccessLog:
    def __init__(self, app: ASGIApp, *, prefix: str = "/v1") -> None:
        self.app = app
        self._prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            template = self._template(scope)
            state = scope.get("state") or {}
            principal = state.get("principal") if isinstance(state, dict) else None
            logger.info(
                "%s %s %d %.1fms %s",
                scope.get("method"),
                template,
                status,
                (time.perf_counter() - began) * 1000,
                getattr(principal, "subject", "-"),
            )

    def _template(self, scope: Scope) -> str:
        """The matched route's path template, with the prefix its router was mounted under."""
        route = scope.get("route")
        template = getattr(route, "path_format", None) or getattr(route, "path", None)
        if not isinstance(template, str):
            return "(no route)"
        mounted = str(scope.get("path", "")).startswith(self._prefix)
        if mounted and not template.startswith(self._prefix + "/") and template != self._prefix:
            return self._prefix + template
        return template
