"""Receive only: how fast each of ingest's MQTT sources drains a persistent session's backlog.

No database: the receive path's own rate, so its ratio to the end-to-end figure shows what is
left for decoding and storage. The child process creates its persistent session with the source
under test (``asyncio``: ingest.mqtt_asyncio; ``paho``: ingest.mqtt), closes it, says ``ready``
and waits; the parent fills the session with N messages from the lean publisher and says ``go``;
the child reconnects and takes the backlog as ingest does (batches of up to 5,000), JSON-decodes
every payload, acknowledges each batch, and prints one JSON object: ``seconds`` from connecting
until the last batch was acknowledged and the process's ``cpu_seconds`` (all threads) meanwhile.

    python -m bench.receive --port 18830 --client asyncio --count 200000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.broker import BenchBroker
from bench.procs import REPO, Publisher
from civicpulse.mqtt.client import BrokerAddress
from ingest.mqtt import MqttSource
from ingest.mqtt_asyncio import AsyncioSource

BATCH = 5_000
RECEIVE_MAXIMUM = 20_000


@dataclass(frozen=True, slots=True)
class DrainResult:
    client: str
    messages: int
    seconds: float
    cpu_seconds: float
    publish_rate: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_per_message_us(self) -> float:
        return self.cpu_seconds / self.messages * 1e6 if self.messages else 0.0


def _source(kind: str, port: int, client_id: str) -> AsyncioSource | MqttSource:
    source_class = AsyncioSource if kind == "asyncio" else MqttSource
    return source_class(
        BrokerAddress.parse(f"mqtt://127.0.0.1:{port}"),
        client_id=client_id,
        share_group=None,
        receive_maximum=RECEIVE_MAXIMUM,
        session_expiry=600,
    )


async def _child(kind: str, port: int, count: int, client_id: str) -> dict[str, float]:
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()

    def wakeup() -> None:
        loop.call_soon_threadsafe(wake.set)

    first = _source(kind, port, client_id)
    first.start(wakeup)
    if not await first.wait_subscribed(30):
        raise TimeoutError("no SUBACK within 30 s")
    await first.close()
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    started, cpu_started = time.perf_counter(), time.process_time()
    source = _source(kind, port, client_id)
    source.start(wakeup)
    taken = 0
    loads = json.loads
    while taken < count:
        batch = source.drain(BATCH)
        if not batch:
            wake.clear()
            if not source.pending():
                await wake.wait()
            continue
        for message in batch:
            loads(message.payload)
        source.ack(batch)
        taken += len(batch)
        await asyncio.sleep(0)  # as ingest: the loop runs between batches
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    await source.close(end_session=True)
    return {"messages": taken, "seconds": seconds, "cpu_seconds": cpu}


def drain_rate(
    workdir: Path, *, kind: str, messages: Path, count: int, window: int, timeout: float
) -> DrainResult:
    """Fill a fresh broker's session with ``count`` messages, then time ``kind`` draining it."""
    workdir.mkdir(parents=True, exist_ok=True)
    with BenchBroker(workdir / "broker") as broker:
        client_id = f"bench-receive-{os.getpid()}-{kind}"
        command = [sys.executable, "-m", "bench.receive", "--port", str(broker.port)]
        command += ["--client", kind, "--count", str(count), "--client-id", client_id]
        child = subprocess.Popen(
            command, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        try:
            assert child.stdin is not None
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError(f"bench.receive ({kind}) did not start")
            publisher = Publisher(
                port=broker.port, messages=messages, client_id=f"{client_id}-pub", window=window
            )
            publisher.go()
            published = publisher.result(timeout)
            child.stdin.write("go\n")
            child.stdin.flush()
            out, _ = child.communicate(timeout=timeout)
            if child.returncode != 0:
                raise RuntimeError(f"bench.receive ({kind}) exited with {child.returncode}")
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    found = json.loads(out.strip().splitlines()[-1])
    return DrainResult(
        client=kind,
        messages=int(found["messages"]),
        seconds=float(found["seconds"]),
        cpu_seconds=float(found["cpu_seconds"]),
        publish_rate=published.rate,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.receive")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client", choices=["asyncio", "paho"], required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--client-id", required=True)
    args = parser.parse_args(argv)
    result = asyncio.run(_child(args.client, args.port, args.count, args.client_id))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
