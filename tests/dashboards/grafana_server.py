"""A local HTTP server that records every request and keeps folders, dashboards and data sources
the way Grafana's HTTP API answers for them (the few endpoints ``civicpulse dashboards push``
uses). No Grafana server can be installed on the test machines; this one stands in for it, and
the tests that use it say so."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.recording_server import Recorded


@dataclass
class FakeGrafana:
    url: str = ""
    token: str = "glsa_test"
    requests: list[Recorded] = field(default_factory=list)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    """uid → {"dashboard": …, "folderUid": …, "version": n}"""
    datasources: set[str] = field(default_factory=set)

    def saves(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/api/dashboards/db"]

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path.startswith("/api/folders/"):
            found = self.folders.get(path.rsplit("/", 1)[1])
            return (200, found) if found else (404, {"message": "folder not found"})
        if method == "POST" and path == "/api/folders":
            self.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"]}
            return 200, self.folders[body["uid"]]
        if method == "PUT" and path.startswith("/api/folders/"):
            uid = path.rsplit("/", 1)[1]
            self.folders[uid] = {"uid": uid, "title": body["title"]}
            return 200, self.folders[uid]
        if method == "GET" and path.startswith("/api/dashboards/uid/"):
            stored = self.dashboards.get(path.rsplit("/", 1)[1])
            if stored is None:
                return 404, {"message": "Dashboard not found"}
            meta = {"folderUid": stored["folderUid"], "url": f"/d/{stored['dashboard']['uid']}"}
            return 200, {"dashboard": stored["dashboard"], "meta": meta}
        if method == "POST" and path == "/api/dashboards/db":
            model = dict(body["dashboard"])
            if body.get("folderUid") not in self.folders:
                return 400, {"message": "folder not found"}
            version = self.dashboards.get(model["uid"], {}).get("version", 0) + 1
            model.update(id=len(self.dashboards) + 1, version=version)
            self.dashboards[model["uid"]] = {
                "dashboard": model,
                "folderUid": body["folderUid"],
                "version": version,
            }
            return 200, {"uid": model["uid"], "url": f"/d/{model['uid']}", "version": version}
        if method == "GET" and path.startswith("/api/datasources/uid/"):
            uid = path.rsplit("/", 1)[1]
            return (200, {"uid": uid}) if uid in self.datasources else (404, {"message": "no"})
        return 404, {"message": "not found"}


@contextmanager
def fake_grafana() -> Iterator[FakeGrafana]:
    state = FakeGrafana()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            state.requests.append(
                Recorded(self.command, self.path, dict(self.headers.items()), raw)
            )
            if self.headers.get("Authorization") != f"Bearer {state.token}":
                status, reply = 401, {"message": "Unauthorized"}
            else:
                status, reply = state.answer(self.command, self.path, json.loads(raw or b"null"))
            payload = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

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
