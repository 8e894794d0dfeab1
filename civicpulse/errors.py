"""The few named errors of CivicPulse. Each carries the data needed to act on it.

``exit_code`` says who can fix it: 2 for the person running the command (a setting, an argument,
a file, a step not taken yet), 1 for a service that failed (a database or broker down). The
command line prints ``str(error)`` as one line; nothing below the command line prints.
"""

from __future__ import annotations


class CivicPulseError(Exception):
    """Root of every error CivicPulse raises on purpose."""

    exit_code = 1


class UsageError(CivicPulseError):
    """Something the user asked for cannot be done as asked: a bad argument, file or step."""

    exit_code = 2

    def __init__(self, subject: str, detail: str) -> None:
        super().__init__(f"{subject}: {detail}")
        self.subject = subject
        self.detail = detail


class ConfigError(UsageError):
    """A setting is missing or invalid."""

    def __init__(self, setting: str, detail: str) -> None:
        super().__init__(setting, detail)
        self.setting = setting


class RegistryError(UsageError):
    """A device registry operation was given bad data (unknown type, invalid id, bad CSV row)."""

    def __init__(self, device_id: str, detail: str) -> None:
        super().__init__(f"device {device_id!r}", detail)
        self.device_id = device_id


class StorageError(CivicPulseError):
    """The database refused or failed an operation; the psycopg error is the ``__cause__``.

    ``sqlstate`` is PostgreSQL's five-character code when the server sent one. ``retryable`` says
    whether trying again later can succeed (a lost connection, a deadlock, a server starting up);
    ``rejected`` whether the server refused the data itself (a value out of a column's range, a
    constraint), which no retry changes.
    """

    def __init__(
        self,
        operation: str,
        detail: str,
        *,
        sqlstate: str | None = None,
        retryable: bool = False,
        hint: str | None = None,
        user_fixable: bool = False,
    ) -> None:
        message = f"{operation}: {detail}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)
        self.operation = operation
        self.detail = detail
        self.sqlstate = sqlstate
        self.retryable = retryable
        self.hint = hint
        if user_fixable:  # e.g. a wrong password in the URL: a setting, not a service, to fix
            self.exit_code = 2

    @property
    def rejected(self) -> bool:
        # Class 22: data exception; class 23: integrity constraint violation.
        return self.sqlstate is not None and self.sqlstate[:2] in ("22", "23")


class SchemaError(StorageError):
    """The database is not migrated, or behind the code: the user runs ``civicpulse db migrate``."""

    exit_code = 2


class BrokerError(CivicPulseError):
    """The MQTT broker cannot be reached or refused us; ``retryable`` as for storage."""

    def __init__(self, broker: str, detail: str, *, retryable: bool = True) -> None:
        super().__init__(f"broker {broker}: {detail}")
        self.broker = broker
        self.detail = detail
        self.retryable = retryable


class EmbeddedServiceError(CivicPulseError):
    """An embedded (laptop) service could not be found, started or stopped."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"embedded {service}: {detail}")
        self.service = service
        self.detail = detail


class DeliveryError(CivicPulseError):
    """A channel could not deliver a message (an SMTP server refusing, Notify returning an
    error, a webhook down). ``retryable``: a later attempt may succeed."""

    def __init__(self, channel: str, detail: str, *, retryable: bool = False) -> None:
        super().__init__(f"{channel}: {detail}")
        self.channel = channel
        self.detail = detail
        self.retryable = retryable
