"""The few named errors of CivicPulse. Each carries the data needed to act on it."""

from __future__ import annotations


class CivicPulseError(Exception):
    """Root of every error CivicPulse raises on purpose."""


class ConfigError(CivicPulseError):
    """A setting is missing or invalid."""

    def __init__(self, setting: str, detail: str) -> None:
        super().__init__(f"{setting}: {detail}")
        self.setting = setting
        self.detail = detail


class StorageError(CivicPulseError):
    """The database refused an operation; the psycopg error is the ``__cause__``."""

    def __init__(self, operation: str, detail: str) -> None:
        super().__init__(f"{operation}: {detail}")
        self.operation = operation
        self.detail = detail


class RegistryError(CivicPulseError):
    """A device registry operation was given bad data (unknown type, invalid id, bad CSV row)."""

    def __init__(self, device_id: str, detail: str) -> None:
        super().__init__(f"device {device_id!r}: {detail}")
        self.device_id = device_id
        self.detail = detail
