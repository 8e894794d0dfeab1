"""The senders a deployment has, from its settings."""

from __future__ import annotations

from civicpulse.settings import Settings
from delivery.channels import (
    MqttSender,
    NotifySender,
    NotifyTemplates,
    Sender,
    SmtpSender,
    WebhookSender,
)
from delivery.model import Channel


def senders_from(settings: Settings) -> dict[Channel, Sender]:
    """Email through SMTP or GOV.UK Notify (``CIVICPULSE_EMAIL_VIA``), SMS and letters through
    Notify, webhooks always, MQTT when a broker is configured. A channel without its settings
    is absent: messages for it are recorded as skipped, saying so."""
    senders: dict[Channel, Sender] = {"webhook": WebhookSender(settings.webhook_secret)}
    templates = NotifyTemplates(
        email=settings.notify_email_template,
        sms=settings.notify_sms_template,
        letter=settings.notify_letter_template,
    )
    key = settings.notify_api_key
    if settings.email_via == "notify" and key and templates.email:
        senders["email"] = NotifySender("email", key, templates, settings.notify_base_url)
    elif settings.smtp_url:
        senders["email"] = SmtpSender(settings.smtp_url, settings.smtp_from)
    if key and templates.sms:
        senders["sms"] = NotifySender("sms", key, templates, settings.notify_base_url)
    if key and templates.letter:
        senders["letter"] = NotifySender("letter", key, templates, settings.notify_base_url)
    if settings.mqtt_url:
        senders["mqtt"] = MqttSender(settings.mqtt_url)
    return senders
