"""A real SMTP server for tests that send email: the mail catcher the demo uses."""

from civicpulse.embedded.mail import MailCatcher as Inbox
from civicpulse.embedded.mail import mail_catcher as smtp_server

__all__ = ["Inbox", "smtp_server"]
