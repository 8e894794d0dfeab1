"""The app under a real uvicorn server in this event loop (streams need a real connection: the
in-process client buffers whole bodies), and a reader of Server-Sent Events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import orjson
import uvicorn
from fastapi import FastAPI


@contextlib.asynccontextmanager
async def live_server(app: FastAPI) -> AsyncIterator[str]:
    """The server's base URL; stopped on exit (streams still open are cut after a second)."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + 30
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the server stopped while starting")
        assert asyncio.get_running_loop().time() < deadline, "the server did not start"
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@dataclass(frozen=True, slots=True)
class Received:
    id: str | None
    event: str
    data: object


class EventReader:
    """Events from a streaming response, one at a time, with the comments seen on the way."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()
        self.comments: list[str] = []
        self.retry: int | None = None

    async def comment(self, seconds: float = 20) -> str:
        """Read on until a comment line (a heartbeat) arrives; events on the way are dropped."""
        seen = len(self.comments)

        async def wait() -> str:
            async for line in self._lines:
                if line.startswith(":"):
                    self.comments.append(line)
                if len(self.comments) > seen:
                    return self.comments[-1]
            raise EOFError("the stream ended")

        return await asyncio.wait_for(wait(), seconds)

    async def next(self, seconds: float = 20) -> Received:
        return await asyncio.wait_for(self._next(), seconds)

    async def _next(self) -> Received:
        fields: dict[str, str] = {}
        async for line in self._lines:
            if not line:
                if "data" in fields:
                    return Received(
                        fields.get("id"),
                        fields.get("event", "message"),
                        orjson.loads(fields["data"]),
                    )
                continue
            if line.startswith(":"):
                self.comments.append(line)
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "retry":
                self.retry = int(value)
            else:
                fields[name] = value
        raise EOFError("the stream ended")
