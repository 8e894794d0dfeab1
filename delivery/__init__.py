"""Delivery: email (SMTP), GOV.UK Notify (email, SMS, letter), webhooks and MQTT, with each
recipient's channels, frequency caps and quiet hours."""
