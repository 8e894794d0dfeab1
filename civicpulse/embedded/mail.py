"""A local mail catcher: an SMTP server (aiosmtpd) that keeps what it receives.

The demo and ``civicpulse up`` send their residents' and officers' emails here when no SMTP server
is configured, so a developer reads what would be sent and nothing leaves the machine. The tests
use it as the real SMTP server they send through.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from civicpulse.embedded.process import free_port


@dataclass
class MailCatcher:
    url: str
    messages: list[EmailMessage] = field(default_factory=list)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


class _Handler:
    def __init__(self, catcher: MailCatcher) -> None:
        self._catcher = catcher

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        # The modern policy unfolds long headers and decodes bodies, as a mail client shows them.
        message = message_from_bytes(envelope.content, policy=policy.default)
        self._catcher.messages.append(message)
        return "250 Message accepted for delivery"


@contextmanager
def mail_catcher(host: str = "127.0.0.1") -> Iterator[MailCatcher]:
    """An SMTP server on a free port of ``host`` for the duration of the block."""
    port = free_port()
    catcher = MailCatcher(url=f"smtp://{host}:{port}")
    controller = Controller(_Handler(catcher), hostname=host, port=port)
    controller.start()
    try:
        yield catcher
    finally:
        controller.stop()
