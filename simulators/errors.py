"""The simulator's errors: a bad scenario, a broker that refuses or fails, a limit too low."""

from __future__ import annotations

from civicpulse.errors import CivicPulseError


class SimulationError(CivicPulseError):
    """Root of the simulator's errors."""


class ScenarioError(SimulationError):
    """A scenario file, device list or option is invalid; ``where`` names the file or device."""

    def __init__(self, where: str, detail: str) -> None:
        super().__init__(f"{where}: {detail}")
        self.where = where
        self.detail = detail


class BrokerError(SimulationError):
    """The broker refused a connection or a session failed; ``client_id`` names the session."""

    def __init__(self, client_id: str, detail: str) -> None:
        super().__init__(f"MQTT client {client_id!r}: {detail}")
        self.client_id = client_id
        self.detail = detail


class ResourceLimitError(SimulationError):
    """An operating-system limit (open files) is too low for the requested run."""
