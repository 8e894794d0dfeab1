"""The channels: thin adapters around an SMTP server, GOV.UK Notify (its official client), HTTP
webhooks (httpx) and MQTT (aiomqtt). Each carries one form of a :class:`Message` to one contact
and returns the provider's reference, or raises :class:`DeliveryError`."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiomqtt
import httpx
import orjson
from notifications_python_client.errors import APIError
from notifications_python_client.notifications import NotificationsAPIClient

from civicpulse.errors import ConfigError, DeliveryError
from civicpulse.mqtt.client import BrokerAddress
from delivery.model import Channel, Contact, Message

NOTIFY_LIVE_URL = "https://api.notifications.service.gov.uk"


class Sender(Protocol):
    @property
    def channel(self) -> Channel: ...

    async def send(self, message: Message, contact: Contact) -> str | None: ...


@dataclass(frozen=True, slots=True)
class SmtpSender:
    """Email through an SMTP server: ``smtp://[user:pass@]host[:port][?starttls=true]`` or
    ``smtps://…`` (TLS from the start)."""

    url: str
    sender: str
    channel: Channel = "email"

    def __post_init__(self) -> None:
        if urlsplit(self.url).scheme not in ("smtp", "smtps") or not urlsplit(self.url).hostname:
            raise ConfigError("CIVICPULSE_SMTP_URL", f"expected smtp://host:port, got {self.url!r}")

    async def send(self, message: Message, contact: Contact) -> str | None:
        if contact.email is None:
            raise DeliveryError("email", "no address")
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = contact.email
        email["Subject"] = message.subject
        email["Message-ID"] = f"<{_digest(message.key + contact.email)}@civicpulse>"
        email.set_content(message.text)
        await asyncio.to_thread(self._send, email)
        return str(email["Message-ID"])

    def _send(self, email: EmailMessage) -> None:
        parts = urlsplit(self.url)
        host, tls = parts.hostname or "", parts.scheme == "smtps"
        port = parts.port or (465 if tls else 25)
        starttls = parse_qs(parts.query).get("starttls", ["false"])[0].lower() == "true"
        try:
            smtp: smtplib.SMTP = (
                smtplib.SMTP_SSL(host, port, timeout=30, context=ssl.create_default_context())
                if tls
                else smtplib.SMTP(host, port, timeout=30)
            )
            with smtp:
                if starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if parts.username:
                    smtp.login(unquote(parts.username), unquote(parts.password or ""))
                smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as error:
            raise DeliveryError("email", f"the server refused the address: {error}") from None
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryError("email", f"{host}:{port}: {error}", retryable=True) from None


@dataclass(frozen=True, slots=True)
class NotifyTemplates:
    """GOV.UK Notify template ids; each template shows ((subject)) and ((body))."""

    email: str | None = None
    sms: str | None = None
    letter: str | None = None


class NotifySender:
    """Email, SMS and letters through GOV.UK Notify, with its official Python client.

    Letters reach residents without internet. Notify sends what a template says, filled with
    personalisation: the templates hold ((subject)) and ((body)) (SMS: ((body))).
    """

    def __init__(
        self, channel: Channel, api_key: str, templates: NotifyTemplates, base_url: str
    ) -> None:
        template = getattr(templates, channel, None)
        if template is None:
            raise ConfigError(
                f"CIVICPULSE_NOTIFY_{channel.upper()}_TEMPLATE",
                f"not set: GOV.UK Notify needs a template id to send a {channel}",
            )
        self.channel: Channel = channel
        self._template = template
        try:
            self._client = NotificationsAPIClient(api_key, base_url=base_url)  # type: ignore[no-untyped-call]
        except (AssertionError, ValueError, IndexError) as error:
            raise ConfigError(
                "CIVICPULSE_NOTIFY_API_KEY", f"not a Notify API key ({error})"
            ) from None

    async def send(self, message: Message, contact: Contact) -> str | None:
        reference = _digest(message.key)
        try:
            if self.channel == "email":
                if contact.email is None:
                    raise DeliveryError("email", "no address")
                response = await asyncio.to_thread(
                    self._client.send_email_notification,
                    email_address=contact.email,
                    template_id=self._template,
                    personalisation={"subject": message.subject, "body": message.text},
                    reference=reference,
                )
            elif self.channel == "sms":
                if contact.phone is None:
                    raise DeliveryError("sms", "no phone number")
                response = await asyncio.to_thread(
                    self._client.send_sms_notification,
                    phone_number=contact.phone,
                    template_id=self._template,
                    personalisation={"body": message.sms},
                    reference=reference,
                )
            else:
                lines = contact.address
                if len(lines) < 3:
                    raise DeliveryError("letter", "a postal address needs at least 3 lines")
                address = {f"address_line_{i + 1}": line for i, line in enumerate(lines[:7])}
                response = await asyncio.to_thread(
                    self._client.send_letter_notification,
                    template_id=self._template,
                    personalisation={**address, "subject": message.subject, "body": message.letter},
                    reference=reference,
                )
        except APIError as error:
            status = getattr(error, "status_code", 0) or 0
            raise DeliveryError(
                f"notify {self.channel}", str(error)[:300], retryable=status >= 500 or status == 429
            ) from None
        except OSError as error:
            raise DeliveryError(f"notify {self.channel}", str(error), retryable=True) from None
        return str(response.get("id")) if isinstance(response, dict) else None


@dataclass(frozen=True, slots=True)
class WebhookSender:
    """An HTTP POST of the message's JSON document, signed with HMAC-SHA256 when a secret is
    set (header ``X-CivicPulse-Signature: sha256=<hex>``), so receivers can trust it."""

    secret: str | None = None
    channel: Channel = "webhook"

    async def send(self, message: Message, contact: Contact) -> str | None:
        if contact.webhook_url is None:
            raise DeliveryError("webhook", "no URL")
        body = orjson.dumps({"kind": message.kind, "key": message.key, **message.document})
        headers = {"Content-Type": "application/json"}
        if self.secret:
            signature = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-CivicPulse-Signature"] = f"sha256={signature}"
        try:
            async with httpx.AsyncClient(timeout=15) as client:
                response = await client.post(contact.webhook_url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise DeliveryError(
                "webhook", f"{contact.webhook_url}: {error}", retryable=True
            ) from None
        if response.status_code >= 300:
            raise DeliveryError(
                "webhook",
                f"{contact.webhook_url} answered {response.status_code}",
                retryable=response.status_code >= 500,
            )
        reference = response.headers.get("X-Request-Id")
        return None if reference is None else str(reference)


@dataclass(frozen=True, slots=True)
class MqttSender:
    """The message's JSON document on an MQTT topic at QoS 1: a household's in-home display
    (its meter's command topic), or a topic an alert subscriber gave."""

    mqtt_url: str
    client_id: str = "civicpulse-delivery"
    channel: Channel = "mqtt"

    async def send(self, message: Message, contact: Contact) -> str | None:
        if contact.mqtt_topic is None:
            raise DeliveryError("mqtt", "no topic")
        address = BrokerAddress.parse(self.mqtt_url)
        payload = orjson.dumps(
            {"kind": message.kind, "key": message.key, "text": message.sms, **message.document}
        )
        try:
            async with aiomqtt.Client(
                address.host,
                address.port,
                username=address.username,
                password=address.password,
                identifier=f"{self.client_id}-{_digest(message.key)[:8]}",
                tls_context=ssl.create_default_context() if address.tls else None,
                timeout=15,
            ) as client:
                await client.publish(contact.mqtt_topic, payload, qos=1)
        except aiomqtt.MqttError as error:
            raise DeliveryError("mqtt", f"{contact.mqtt_topic}: {error}", retryable=True) from None
        return None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]
