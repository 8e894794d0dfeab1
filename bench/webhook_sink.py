"""A local webhook receiver that notes when each alert arrives (the benchmark's end of the line).

The alert service POSTs each message's JSON document to a subscriber's URL (``WebhookSender``);
this server stamps every request with ``time.time()`` on arrival, on the same clock the
benchmark's publisher stamps its messages with, and answers 204 at once.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


class WebhookSink:
    """``with WebhookSink() as sink:`` an HTTP server on a free port; ``sink.received`` holds
    ``(arrival time, document)`` per POST."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict[str, Any]]] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(204)
                self.end_headers()
                try:
                    document = json.loads(body)
                except ValueError:
                    document = {"unreadable": body[:200].decode(errors="replace")}
                with sink._lock:
                    sink.received.append((at, document))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/alerts"

    def snapshot(self) -> list[tuple[float, dict[str, Any]]]:
        with self._lock:
            return list(self.received)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
