"""Device simulators: seeded city-scale fleets that publish the device contract.

``run_simulation`` runs a scenario (bundled name or TOML file) against a broker; ``simulate`` is
the same loop for callers with their own event loop and sink. The signal models live in
``simulators.signals``, the MQTT sessions in ``simulators.mqtt``. The small ``Fleet`` of
``simulators.fleet`` remains the demo's and the ingest tests' data source.
"""

from simulators.errors import BrokerError, ResourceLimitError, ScenarioError, SimulationError
from simulators.model import CityDevice, device_from_record
from simulators.options import apply_options
from simulators.plan import Plan, build_plan
from simulators.runner import SimulationReport, prepare, run_simulation, simulate
from simulators.scenario import Scenario, bundled_scenarios, load_scenario

__all__ = [
    "BrokerError",
    "CityDevice",
    "Plan",
    "ResourceLimitError",
    "Scenario",
    "ScenarioError",
    "SimulationError",
    "SimulationReport",
    "apply_options",
    "build_plan",
    "bundled_scenarios",
    "device_from_record",
    "load_scenario",
    "prepare",
    "run_simulation",
    "simulate",
]
