"""What routes ask for: the caller, and a connection to read (as the reader role) or write."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from api.auth import caller
from api.runtime import runtime
from api.scopes import Principal
from storage.connection import Conn


async def read_connection(request: Request) -> AsyncIterator[Conn]:
    async with runtime(request).read() as conn:
        yield conn


async def write_connection(request: Request) -> AsyncIterator[Conn]:
    async with runtime(request).write() as conn:
        yield conn


Caller = Annotated[Principal, Depends(caller)]
ReadConn = Annotated[Conn, Depends(read_connection)]
WriteConn = Annotated[Conn, Depends(write_connection)]
