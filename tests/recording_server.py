"""A local HTTP server that records every request and answers with a fixed JSON document.

It stands in for services that cannot be reached from the test machines (GOV.UK Notify) and for
the receivers of webhooks. Tests that use it say so.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class RecordingServer:
    url: str
    requests: list[Recorded] = field(default_factory=list)
    status: int = 201
    reply: dict[str, Any] = field(
        default_factory=lambda: {"id": "00000000-0000-0000-0000-000000000001"}
    )


@contextmanager
def recording_server() -> Iterator[RecordingServer]:
    state = RecordingServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.requests.append(
                Recorded(self.command, self.path, {k: v for k, v in self.headers.items()}, body)
            )
            payload = json.dumps(state.reply).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_POST = do_PUT = do_GET = do_DELETE = _record

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the test reads the recorded requests instead

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
