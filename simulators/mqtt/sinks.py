"""Where a run's messages go: a list (tests, dry runs), a few gateway connections, or one MQTT
session per device with its own credentials and will."""

from __future__ import annotations

import asyncio
import logging
import ssl
import uuid
import zlib
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, Protocol

from civicpulse.mqtt.client import BrokerAddress
from civicpulse.mqtt.packets import Will
from devices.contract import status_topic
from simulators.delivery import Outgoing, Transition
from simulators.errors import BrokerError, ScenarioError
from simulators.model import CityDevice
from simulators.mqtt.flow import Flow
from simulators.mqtt.limits import ensure_open_files
from simulators.mqtt.session import Session

logger = logging.getLogger(__name__)

ONLINE = b"online"
OFFLINE = b"offline"


class Sink(Protocol):
    """What the runner publishes to."""

    sent: int
    """Publishes so far, status messages included."""
    online: int

    @property
    def acked(self) -> int: ...

    async def open(self, devices: Sequence[CityDevice]) -> None: ...

    async def send(self, message: Outgoing) -> None: ...

    async def transition(self, change: Transition) -> None: ...

    async def drain(self) -> None:
        """Return once everything sent (to a connected session) is acknowledged."""
        ...

    async def close(self) -> None: ...


class MemorySink:
    """Keeps every message and transition in memory (tests, ``--dry-run``)."""

    def __init__(self, *, keep: bool = True) -> None:
        self.keep = keep
        self.messages: list[Outgoing] = []
        self.transitions: list[Transition] = []
        self.sent = 0
        self.online = 0

    @property
    def acked(self) -> int:
        return self.sent

    async def open(self, devices: Sequence[CityDevice]) -> None:
        self.online = len(devices)

    async def send(self, message: Outgoing) -> None:
        self.sent += 1
        if self.keep:
            self.messages.append(message)

    async def transition(self, change: Transition) -> None:
        self.online += 1 if change.online else -1
        if self.keep:
            self.transitions.append(change)

    async def drain(self) -> None:
        return None

    async def close(self) -> None:
        return None


def _tls(address: BrokerAddress) -> ssl.SSLContext | None:
    return ssl.create_default_context() if address.tls else None


class _Sessions:
    """Reconnection shared by both broker sinks."""

    def __init__(self, high_water: int) -> None:
        self.flow = Flow()
        self.sent = 0
        self.high_water = high_water
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def acked(self) -> int:
        return self.flow.acked

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _lost(self, session: Session, exc: Exception | None) -> None:
        if self._closing:
            return
        logger.warning("MQTT session %s lost (%r); reconnecting", session.client_id, exc)
        self._spawn(self._reconnect(session))

    async def _reconnect(self, session: Session, *, then: bytes | None = None) -> None:
        delay = 0.5
        while not self._closing:
            try:
                await session.connect()
            except BrokerError as error:
                logger.warning("%s; retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            if then is not None:
                self._status(session, then)
            return

    def _status(self, session: Session, payload: bytes) -> None:
        session.send(status_topic(session.client_id), payload, retain=True)
        self.sent += 1

    async def _push(self, session: Session, message: Outgoing) -> None:
        session.send(message.topic, message.payload)
        self.sent += 1
        if self.flow.outstanding > self.high_water:
            await self.flow.below(self.high_water // 2)

    async def drain(self) -> None:
        """Wait until the connection changes under way are done (a device coming back has
        connected and sent its ``online``) and the broker acknowledged everything sent to a
        connected session."""
        while pending := [t for t in self._tasks if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)
        await self.flow.until(lambda: self.flow.outstanding <= self._parked())

    def _parked(self) -> int:
        """Messages queued on sessions that are offline on purpose (not counted as pending)."""
        return 0

    async def _finish_tasks(self) -> None:
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class GatewaySink(_Sessions):
    """Many devices multiplexed on a few connections (a gateway, or a LoRaWAN network server)."""

    def __init__(
        self,
        mqtt_url: str,
        *,
        connections: int = 4,
        max_inflight: int = 200,
        client_id: str | None = None,
        keepalive: int = 60,
        high_water: int = 50_000,
    ) -> None:
        super().__init__(high_water)
        self.address = BrokerAddress.parse(mqtt_url)
        base = client_id or f"civicpulse-sim-{uuid.uuid4().hex[:8]}"
        self.sessions = [
            Session(
                f"{base}-gw{i}",
                host=self.address.host,
                port=self.address.port,
                flow=self.flow,
                username=self.address.username,
                password=self.address.password,
                keepalive=keepalive,
                max_inflight=max_inflight,
                tls=_tls(self.address),
                on_lost=self._lost,
            )
            for i in range(max(1, connections))
        ]
        self.online = 0

    async def open(self, devices: Sequence[CityDevice]) -> None:
        await asyncio.gather(*(s.connect() for s in self.sessions))
        self.online = len(devices)

    async def send(self, message: Outgoing) -> None:
        index = zlib.crc32(message.device_id.encode()) % len(self.sessions)
        await self._push(self.sessions[index], message)

    async def transition(self, change: Transition) -> None:
        self.online += 1 if change.online else -1

    async def close(self) -> None:
        await self._finish_tasks()
        async with asyncio.timeout(30.0):
            await asyncio.gather(*(s.disconnect() for s in self.sessions), return_exceptions=True)


class DeviceSessionsSink(_Sessions):
    """Each device its own MQTT session: client id and user name = device id, its own secret,
    a retained ``offline`` will on its status topic, and a retained ``online`` on connect."""

    def __init__(
        self,
        mqtt_url: str,
        *,
        credentials: Mapping[str, str] | None = None,
        max_inflight: int = 20,
        keepalive: int = 60,
        connect_rate: float = 500.0,
        high_water: int = 50_000,
    ) -> None:
        super().__init__(high_water)
        self.address = BrokerAddress.parse(mqtt_url)
        self.credentials = credentials
        self.max_inflight = max_inflight
        self.keepalive = keepalive
        self.connect_rate = connect_rate
        self.sessions: dict[str, Session] = {}
        self.offline: set[str] = set()
        self._ops: dict[str, asyncio.Task[None]] = {}
        self.online = 0

    def _session(self, device: CityDevice) -> Session:
        username, password = self.address.username, self.address.password
        if self.credentials is not None:
            secret = self.credentials.get(device.device_id)
            if secret is None:
                raise ScenarioError(device.device_id, "no secret in the credentials file")
            username, password = device.device_id, secret
        return Session(
            device.device_id,
            host=self.address.host,
            port=self.address.port,
            flow=self.flow,
            username=username,
            password=password,
            will=Will(status_topic(device.device_id), OFFLINE, qos=1, retain=True),
            keepalive=self.keepalive,
            max_inflight=self.max_inflight,
            tls=_tls(self.address),
            on_lost=self._lost,
        )

    async def open(self, devices: Sequence[CityDevice]) -> None:
        """Connect every device (at ``connect_rate`` per second) and publish ``online``."""
        ensure_open_files(len(devices))
        self.sessions = {d.device_id: self._session(d) for d in devices}
        gate = asyncio.Semaphore(256)
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def connect(number: int, session: Session) -> None:
            await asyncio.sleep(max(0.0, started + number / self.connect_rate - loop.time()))
            async with gate:
                for attempt in range(5):
                    try:
                        await session.connect()
                        break
                    except BrokerError:
                        if attempt == 4:
                            raise
                        await asyncio.sleep(0.2 * 2**attempt)
            self._status(session, ONLINE)
            self.online += 1

        await asyncio.gather(*(connect(i, s) for i, s in enumerate(self.sessions.values())))

    async def send(self, message: Outgoing) -> None:
        await self._push(self.sessions[message.device_id], message)

    async def transition(self, change: Transition) -> None:
        session = self.sessions[change.device_id]
        if change.online:
            if change.device_id in self.offline:
                self.offline.discard(change.device_id)
                self.online += 1
                self._in_turn(change.device_id, self._reconnect(session, then=ONLINE))
            return
        if change.device_id in self.offline:
            return
        self.offline.add(change.device_id)
        self.online -= 1
        if change.clean:
            self._status(session, OFFLINE)
            self._in_turn(change.device_id, session.disconnect())
        else:
            self._in_turn(change.device_id, self._drop(session))

    def _in_turn(self, device_id: str, step: Coroutine[Any, Any, None]) -> None:
        """Run a device's connection changes one after the other (a return waits for the drop)."""
        previous = self._ops.get(device_id)

        async def run() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            await step

        task = asyncio.ensure_future(run())
        self._ops[device_id] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drop(self, session: Session) -> None:
        """Vanish without DISCONNECT once what was sent before the drop is acknowledged (so a
        run's totals are exact); the broker then publishes the device's will."""
        try:
            async with asyncio.timeout(30.0):
                await self.flow.until(lambda: not session.outstanding)
        finally:
            session.abort()

    def _parked(self) -> int:
        return sum(self.sessions[d].outstanding for d in self.offline)

    async def close(self) -> None:
        """Devices still online say ``offline`` and disconnect cleanly; the rest stay gone."""
        await self._finish_tasks()
        for device_id in self.offline:
            self.sessions[device_id].discard_queue()
        live = [s for d, s in self.sessions.items() if d not in self.offline and s.connected]
        for session in live:
            self._status(session, OFFLINE)
        async with asyncio.timeout(60.0):
            await asyncio.gather(*(s.disconnect() for s in live), return_exceptions=True)
        self.online = 0
