"""Delivery on real channels: email through a real SMTP server started by the test, MQTT through
the suite's broker, and GOV.UK Notify (email, SMS, letter) and webhooks against a local HTTP
server that records the requests (Notify cannot be reached from the test machines)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import itertools
import uuid
from datetime import UTC, datetime, time, timedelta

import aiomqtt
import orjson
import pytest

from civicpulse.errors import ConfigError
from civicpulse.mqtt.client import BrokerAddress
from delivery.channels import (
    MqttSender,
    NotifySender,
    NotifyTemplates,
    SmtpSender,
    WebhookSender,
)
from delivery.dispatch import Dispatcher
from delivery.model import Contact, Message, Preferences, decide, in_quiet_hours
from storage import delivery as records
from storage.connection import Conn
from tests.recording_server import recording_server
from tests.smtp_server import smtp_server

NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
MESSAGE = Message(
    kind="alert",
    key="alert-1/opened",
    subject="Air pollution is High in Camden Town",
    text="Air pollution in Camden Town is High (index 7). Adults and children with lung problems…",
    sms="Camden Town air pollution High (7). Reduce strenuous activity outdoors.",
    letter="Dear resident,\n\nAir pollution in Camden Town is High…",
    document={"zone": "ward-camden-town", "level": "high", "index": 7},
)
FULL = Contact(
    email="resident@example.org",
    phone="+447700900123",
    address=("1 Camden Road", "London", "NW1 9AA"),
    webhook_url=None,
)


def _notify_key() -> str:
    return f"civicpulse_test-{uuid.uuid4()}-{uuid.uuid4()}"


def test_policy_quiet_hours_caps_and_unsubscribe() -> None:
    everything = Preferences(channels=("email", "sms", "letter", "webhook"))
    plain = decide(MESSAGE, everything, FULL, sent_in_window=0, local_now=NOON)
    assert plain.send == ("email", "sms", "letter")
    assert plain.skipped == {"webhook": "no webhook contact on record"}
    night = Preferences(channels=("email",), quiet_start=time(22), quiet_end=time(7))
    late = NOON.replace(hour=23)
    assert in_quiet_hours(night, late) == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    assert in_quiet_hours(night, NOON.replace(hour=6)) == NOON.replace(hour=7)
    assert in_quiet_hours(night, NOON) is None
    held = decide(MESSAGE, night, FULL, sent_in_window=0, local_now=late)
    assert held.send == () and held.hold_until == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    urgent = dataclasses.replace(MESSAGE, urgent=True)  # a Very High band is not held
    assert decide(urgent, night, FULL, sent_in_window=0, local_now=late).send == ("email",)
    capped = decide(MESSAGE, Preferences(("email",), cap=2), FULL, sent_in_window=2, local_now=NOON)
    assert capped.send == () and "frequency cap: 2 in 7 days" in capped.skipped["email"]
    gone = decide(
        MESSAGE, Preferences(("email",), unsubscribed=True), FULL, sent_in_window=0, local_now=NOON
    )
    assert gone.skipped == {"email": "unsubscribed"}
    with pytest.raises(ValueError, match="SMS form has"):
        Message("alert", "k", "s", "t", "x" * 400, "l")


async def test_email_reaches_a_real_smtp_server_once(aconn: Conn) -> None:
    with smtp_server() as inbox:
        dispatcher = Dispatcher(
            {"email": SmtpSender(inbox.url, "CivicPulse <alerts@camden.example>")}
        )
        preferences = Preferences(channels=("email",))
        first = await dispatcher.deliver(aconn, MESSAGE, "sub-1", preferences, FULL, now=NOON)
        again = await dispatcher.deliver(aconn, MESSAGE, "sub-1", preferences, FULL, now=NOON)
    assert first.sent == ("email",) and again.already == ("email",)
    (received,) = inbox.to("resident@example.org")
    assert received["Subject"] == MESSAGE.subject
    body = received.get_payload(decode=True)
    assert isinstance(body, bytes) and "Adults and children with lung problems" in body.decode()
    assert await records.records(aconn, "alert", MESSAGE.key) == [("sub-1", "email", "sent", "")]


async def test_a_refusing_smtp_server_is_recorded_as_failed(aconn: Conn) -> None:
    dispatcher = Dispatcher({"email": SmtpSender("smtp://127.0.0.1:1", "x@y")})
    outcome = await dispatcher.deliver(
        aconn, MESSAGE, "sub-2", Preferences(("email",)), FULL, now=NOON
    )
    assert list(outcome.failed) == ["email"]
    (record,) = await records.records(aconn, "alert", MESSAGE.key)
    assert record[:3] == ("sub-2", "email", "failed") and "127.0.0.1:1" in record[3]


async def test_notify_email_sms_and_letter_go_to_its_api(aconn: Conn) -> None:
    templates = NotifyTemplates(
        email=str(uuid.uuid4()), sms=str(uuid.uuid4()), letter=str(uuid.uuid4())
    )
    with recording_server() as notify:
        key = _notify_key()
        senders = {
            c: NotifySender(c, key, templates, notify.url) for c in ("email", "sms", "letter")
        }
        dispatcher = Dispatcher(senders)  # type: ignore[arg-type]
        outcome = await dispatcher.deliver(
            aconn, MESSAGE, "hh-1", Preferences(("email", "sms", "letter")), FULL, now=NOON
        )
    assert outcome.sent == ("email", "sms", "letter")
    paths = [r.path for r in notify.requests]
    assert paths == ["/v2/notifications/email", "/v2/notifications/sms", "/v2/notifications/letter"]
    email, sms, letter = (r.json() for r in notify.requests)
    assert email["email_address"] == FULL.email and email["template_id"] == templates.email
    assert email["personalisation"] == {"subject": MESSAGE.subject, "body": MESSAGE.text}
    assert sms["phone_number"] == FULL.phone and sms["personalisation"] == {"body": MESSAGE.sms}
    assert letter["personalisation"]["address_line_3"] == "NW1 9AA"
    assert letter["personalisation"]["body"] == MESSAGE.letter
    assert all(r.headers["Authorization"].startswith("Bearer ") for r in notify.requests)


async def test_notify_refusal_and_bad_configuration(aconn: Conn) -> None:
    templates = NotifyTemplates(email=str(uuid.uuid4()))
    with recording_server() as notify:
        notify.status, notify.reply = (
            400,
            {
                "errors": [{"error": "BadRequestError", "message": "Missing personalisation"}],
                "status_code": 400,
            },
        )
        sender = NotifySender("email", _notify_key(), templates, notify.url)
        outcome = await Dispatcher({"email": sender}).deliver(
            aconn, MESSAGE, "hh-2", Preferences(("email",)), FULL, now=NOON
        )
    assert "Missing personalisation" in outcome.failed["email"]
    with pytest.raises(ConfigError, match="CIVICPULSE_NOTIFY_SMS_TEMPLATE"):
        NotifySender("sms", _notify_key(), templates, "http://127.0.0.1")


async def test_webhook_is_signed_and_mqtt_reaches_the_topic(
    aconn: Conn, mqtt_url: str, prefix: str
) -> None:
    topic = f"civicpulse/v1/devices/{prefix}-ihd/commands"
    address = BrokerAddress.parse(mqtt_url)
    received: list[bytes] = []
    async with aiomqtt.Client(
        address.host, address.port, identifier=f"{prefix}-listener"
    ) as listener:
        await listener.subscribe(topic, qos=1)
        with recording_server() as hook:
            contact = Contact(webhook_url=f"{hook.url}/hook", mqtt_topic=topic)
            dispatcher = Dispatcher(
                {"webhook": WebhookSender("s3cret"), "mqtt": MqttSender(mqtt_url)}
            )
            outcome = await dispatcher.deliver(
                aconn, MESSAGE, "sub-3", Preferences(("webhook", "mqtt")), contact, now=NOON
            )

            async def first() -> None:
                async for message in listener.messages:
                    received.append(bytes(message.payload))
                    return

            await asyncio.wait_for(first(), 10)
    assert outcome.sent == ("webhook", "mqtt")
    (request,) = hook.requests
    expected = hmac.new(b"s3cret", request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-CivicPulse-Signature"] == f"sha256={expected}"
    assert request.json()["zone"] == "ward-camden-town"
    document = orjson.loads(received[0])
    assert document["key"] == MESSAGE.key and document["index"] == 7


async def test_preferences_caps_and_quiet_hours_on_the_database(aconn: Conn) -> None:
    prefs = await records.household_preferences(aconn, ["hh-9"])
    assert prefs["hh-9"].channels == ("email",) and len(prefs["hh-9"].token) >= 20
    await records.set_preferences(aconn, "hh-9", channels=["sms"], quiet=(time(21), time(8)))
    by_token = await records.preferences_by_token(aconn, prefs["hh-9"].token)
    assert by_token is not None and by_token.channels == ("sms",)
    await records.set_preferences(aconn, "hh-9", unsubscribed=True)
    again = (await records.household_preferences(aconn, ["hh-9"]))["hh-9"]
    assert again.unsubscribed_at is not None and again.token == prefs["hh-9"].token
    # The cap counts messages actually sent in the window.
    with smtp_server() as inbox:
        dispatcher = Dispatcher({"email": SmtpSender(inbox.url, "x@y")})
        capped = Preferences(("email",), cap=1, cap_window=timedelta(days=7))
        first = await dispatcher.deliver(aconn, MESSAGE, "hh-10", capped, FULL, now=NOON)
        second_message = dataclasses.replace(MESSAGE, key="alert-2/opened")
        second = await dispatcher.deliver(
            aconn, second_message, "hh-10", capped, FULL, now=datetime.now(UTC)
        )
    assert first.sent == ("email",) and "frequency cap" in second.skipped["email"]
    assert len(inbox.messages) == 1


async def test_a_passing_failure_is_retried_from_its_time_and_a_lasting_one_is_not(
    aconn: Conn,
) -> None:
    """A webhook answering 503 is tried again from its retry time (and only then), at most
    five times; a 400 is final. The receiver is a local recording server."""
    prefs = Preferences(("webhook",), cap=100)
    with recording_server() as hook:
        dispatcher = Dispatcher({"webhook": WebhookSender()})
        contact = Contact(webhook_url=f"{hook.url}/hook")
        hook.status = 503
        first = await dispatcher.deliver(aconn, MESSAGE, "sub-9", prefs, contact, now=NOON)
        assert list(first.failed) == ["webhook"]
        assert first.retry_at == NOON + timedelta(minutes=5)
        early = await dispatcher.deliver(
            aconn, MESSAGE, "sub-9", prefs, contact, now=NOON + timedelta(minutes=4)
        )
        assert early.already == ("webhook",) and len(hook.requests) == 1
        hook.status = 201
        retried = await dispatcher.deliver(
            aconn, MESSAGE, "sub-9", prefs, contact, now=first.retry_at
        )
        assert retried.sent == ("webhook",) and retried.retry_at is None
        assert len(hook.requests) == 2
        again = await dispatcher.deliver(
            aconn, MESSAGE, "sub-9", prefs, contact, now=NOON + timedelta(days=1)
        )
        assert again.already == ("webhook",) and len(hook.requests) == 2
        cur = await aconn.execute(
            "SELECT status, attempts, retry_after FROM deliveries WHERE recipient = 'sub-9'"
        )
        assert await cur.fetchall() == [("sent", 2, None)]

        # A refusal no retry can cure stays final.
        hook.status = 400
        refused = dataclasses.replace(MESSAGE, key="alert-2/opened")
        lasting = await dispatcher.deliver(aconn, refused, "sub-9", prefs, contact, now=NOON)
        assert list(lasting.failed) == ["webhook"] and lasting.retry_at is None
        await dispatcher.deliver(
            aconn, refused, "sub-9", prefs, contact, now=NOON + timedelta(days=2)
        )
        assert len(hook.requests) == 3

        # A receiver that stays down: five attempts, 5, 15, 45 and 135 minutes apart.
        hook.status = 503
        down = dataclasses.replace(MESSAGE, key="alert-3/opened")
        at: datetime | None = NOON
        times = []
        while at is not None:
            times.append(at)
            at = (await dispatcher.deliver(aconn, down, "sub-9", prefs, contact, now=at)).retry_at
        gaps = [int((b - a).total_seconds() // 60) for a, b in itertools.pairwise(times)]
        assert gaps == [5, 15, 45, 135] and len(hook.requests) == 3 + 5
