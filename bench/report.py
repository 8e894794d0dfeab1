"""The benchmark's verdict: the figures side by side, their ratios and the targets, as text and JSON.

Pure: it formats what the phases measured and decides PASS/MISS with the thresholds printed next
to each target, so a reader can check every verdict by hand.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bench.ceilings import Timed
from bench.pipelines import PhaseResult
from bench.receive import DrainResult

TARGET_RATE = 20_000.0
"""Messages per second, end to end."""
TARGET_VS_NAIVE = 5.0
RSS_FLAT_LIMIT = 1.25
"""peak RSS(N) / peak RSS(N/4) at most this: "flat" although N is four times N/4."""

VS_BROKER_WORKERS = 0.3
"""End to end with several workers, as a share of the broker ceiling of the same run (issue 11)."""
VS_BROKER_SINGLE = 0.2
INGEST_CPU_US = 30.0
"""Ingest CPU per message over all its threads, at most."""
POSTGRES_CPU_US = 25.0
"""PostgreSQL CPU per message on plain PostgreSQL, at most."""
PUBLISHER_HEADROOM = 1.2
"""The publisher must publish at least this many times faster than the pipeline drains, or the
run measured the publisher: the run then fails."""

_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Figure:
    figure: str
    unit: str
    value: float


@dataclass(frozen=True, slots=True)
class Target:
    target: str
    measured: str
    passed: bool

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "MISS"


@dataclass(frozen=True, slots=True)
class Results:
    """Everything one run measured."""

    messages: int
    devices: int
    broker: Timed
    database: Timed
    naive: PhaseResult
    quarter: PhaseResult
    full: PhaseResult
    single: PhaseResult | None = None
    """The full run again with one ingest process, when the main runs use several workers."""
    workers: int = 1
    old: PhaseResult | None = None
    """The N run through the earlier receive path (paho), same workers."""
    write_paths: dict[str, Timed] = field(default_factory=dict)
    """Direct COPY against staging + INSERT … ON CONFLICT, in ingest-sized transactions."""
    receive: tuple[DrainResult, ...] = ()
    """Receive only: each MQTT source draining a backlog of N (no database)."""
    context: dict[str, Any] = field(default_factory=dict)

    def figures(self) -> list[Figure]:
        n, q, full = self.messages, self.quarter.messages, self.full
        cpu = full.cpu
        return [
            Figure(f"broker ceiling: mosquitto_pub -l -> mosquitto_sub, QoS 0, {n:,} msgs", "msg/s", self.broker.rate),
            Figure(f"database ceiling: binary COPY, PK (device_id, ts), {n:,} rows", "rows/s", self.database.rate),
            *[Figure(f"database, {path}, 5,000-row transactions, no key stored yet", "rows/s", t.rate)
              for path, t in self.write_paths.items()],
            Figure(f"naive baseline: paho + json + INSERT/autocommit, QoS 1, {self.naive.messages:,} msgs", "msg/s", self.naive.rate),
            Figure(f"CivicPulse end to end, QoS 1, {n:,} msgs, {self.devices:,} devices, {self._workers}", "msg/s", full.rate),
            Figure(f"CivicPulse end to end, QoS 1, {q:,} msgs (N/4), {self._workers}", "msg/s", self.quarter.rate),
            *([Figure(f"CivicPulse end to end, QoS 1, {n:,} msgs, 1 ingest process", "msg/s", self.single.rate),
               Figure("rows stored, 1-process run (must equal N)", "rows", self.single.rows)]
              if self.single else []),
            *([Figure(f"old path (paho receive), end to end, {n:,} msgs, {self._workers}", "msg/s", self.old.rate),
               Figure("old path: ingest CPU per message (all threads)", "us", self.old.subscriber_cpu / n * 1e6),
               Figure("old path: PostgreSQL CPU per message", "us", self.old.cpu["postgresql"] / n * 1e6),
               Figure("old path: ingest peak RSS", "MiB", self.old.peak_rss / _MIB),
               Figure("rows stored, old-path run (must equal N)", "rows", self.old.rows)]
              if self.old else []),
            *[f for r in self.receive for f in (
                Figure(f"receive only: {r.client} source drains a {r.messages:,}-message backlog (json + ack)", "msg/s", r.rate),
                Figure(f"receive only: {r.client} source CPU per message (all threads)", "us", r.cpu_per_message_us),
                Figure(f"receive only: lean publisher filling the {r.client} backlog", "msg/s", r.publish_rate),
            )],
            Figure("lean publisher into the broker during the N run", "msg/s", full.publish.rate),
            Figure("lean publisher, slowest of all runs", "msg/s", self._slowest_publisher()),
            Figure("ingest peak RSS, N/4 run", "MiB", self.quarter.peak_rss / _MIB),
            Figure("ingest peak RSS, N run", "MiB", full.peak_rss / _MIB),
            Figure("ingest RSS before publishing (N run)", "MiB", full.idle_rss / _MIB),
            Figure("rows stored, N run (must equal N)", "rows", full.rows),
            Figure("rows stored, N/4 run (must equal N/4)", "rows", self.quarter.rows),
            Figure("rows stored, naive run (must equal its N)", "rows", self.naive.rows),
            Figure("naive subscriber CPU per message", "us", self.naive.subscriber_cpu / self.naive.messages * 1e6),
            Figure("ingest CPU per message, N run (all threads)", "us", full.subscriber_cpu / n * 1e6),
            Figure("N run CPU: ingest main thread (asyncio: decode, COPY)", "s", cpu["subscriber main thread"]),
            Figure("N run CPU: ingest other threads (paho network loop)", "s", cpu["subscriber other threads"]),
            Figure("N run CPU: broker (mosquitto)", "s", cpu["broker"]),
            Figure("N run CPU: PostgreSQL server processes", "s", cpu["postgresql"]),
            Figure("PostgreSQL CPU per message, N run", "us", cpu["postgresql"] / n * 1e6),
            Figure("N run CPU: publisher", "s", cpu["publisher"]),
            Figure("N run CPU: whole machine busy (every process, ours or not)", "s", cpu["machine"]),
            Figure("N run CPU: available (elapsed x cores)", "s", cpu["capacity"]),
            Figure("N run: ingest batches committed", "count", full.batches),
            Figure("N run: ingest mean time to write + commit a batch", "ms", 1000 * full.batch_seconds / max(full.batches, 1)),
        ]  # fmt: skip

    def _phases(self) -> list[PhaseResult]:
        optional = (self.single, self.old)
        return [self.naive, self.quarter, self.full, *[p for p in optional if p is not None]]

    def _slowest_publisher(self) -> float:
        return min(p.publish.rate for p in self._phases())

    def publisher_bound(self) -> list[str]:
        """Runs whose publisher was not clearly faster than the pipeline it fed."""
        out = [
            f"{p.label}: publisher {p.publish.rate:,.0f} msg/s vs pipeline {p.rate:,.0f} msg/s"
            for p in self._phases()
            if p.publish.rate < PUBLISHER_HEADROOM * p.rate
        ]
        out += [
            f"receive {r.client}: publisher {r.publish_rate:,.0f} msg/s"
            for r in self.receive
            if r.publish_rate <= 0
        ]
        return out

    @property
    def _workers(self) -> str:
        return f"{self.workers} ingest workers" if self.workers > 1 else "1 ingest process"

    def ratios(self) -> dict[str, float]:
        def ratio(a: float, b: float) -> float:
            return a / b if b else float("nan")

        return {
            "CivicPulse / naive baseline": ratio(self.full.rate, self.naive.rate),
            "CivicPulse / broker ceiling": ratio(self.full.rate, self.broker.rate),
            "CivicPulse / database ceiling": ratio(self.full.rate, self.database.rate),
            "peak RSS(N) / peak RSS(N/4)": ratio(self.full.peak_rss, self.quarter.peak_rss),
            **(
                {
                    "CivicPulse 1 process / naive baseline": ratio(
                        self.single.rate, self.naive.rate
                    ),
                    f"CivicPulse {self.workers} workers / 1 process": ratio(
                        self.full.rate, self.single.rate
                    ),
                }
                if self.single
                else {}
            ),
            **(
                {
                    "end to end: new path / old path (paho)": ratio(self.full.rate, self.old.rate),
                    "ingest CPU per message: old / new": ratio(
                        self.old.subscriber_cpu, self.full.subscriber_cpu
                    ),
                }
                if self.old
                else {}
            ),
            **self._receive_ratios(),
            **(
                {
                    "database: direct COPY / staging + INSERT ON CONFLICT": ratio(
                        self.write_paths["direct COPY"].rate,
                        self.write_paths["staging COPY + INSERT ON CONFLICT"].rate,
                    )
                }
                if len(self.write_paths) == 2
                else {}
            ),
        }

    def _receive_ratios(self) -> dict[str, float]:
        found = {r.client: r for r in self.receive}
        new, old = found.get("asyncio"), found.get("paho")
        if new is None or old is None or not old.rate:
            return {}
        return {
            "receive only: asyncio / paho drain rate": new.rate / old.rate,
            "receive only: paho / asyncio CPU per message": (
                old.cpu_per_message_us / new.cpu_per_message_us
                if new.cpu_per_message_us
                else float("nan")
            ),
            "receive only (asyncio) / end to end": new.rate / self.full.rate,
        }

    def targets(self) -> list[Target]:
        ratios = self.ratios()
        phases = self._phases()
        exact = all(p.exact for p in phases)
        n = self.messages
        ingest_us = self.full.subscriber_cpu / n * 1e6
        postgres_us = self.full.cpu["postgresql"] / n * 1e6
        bound = self.publisher_bound()
        single = self.single or (self.full if self.workers == 1 else None)
        return [
            Target(
                f"the publisher is never the bottleneck (>= {PUBLISHER_HEADROOM:g}x each"
                " pipeline's rate)",
                "; ".join(bound) or f"slowest publisher {self._slowest_publisher():,.0f} msg/s",
                not bound,
            ),
            Target(
                f"end to end ({self._workers}) >= {VS_BROKER_WORKERS:g}x broker ceiling",
                f"{self.full.rate / self.broker.rate:.3f}x",
                self.full.rate >= VS_BROKER_WORKERS * self.broker.rate,
            ),
            *(
                [
                    Target(
                        f"end to end (1 process) >= {VS_BROKER_SINGLE:g}x broker ceiling",
                        f"{single.rate / self.broker.rate:.3f}x",
                        single.rate >= VS_BROKER_SINGLE * self.broker.rate,
                    )
                ]
                if single
                else []
            ),
            Target(
                f"ingest CPU <= {INGEST_CPU_US:g} us per message (all threads, N run)",
                f"{ingest_us:.1f} us",
                ingest_us <= INGEST_CPU_US,
            ),
            Target(
                f"PostgreSQL CPU <= {POSTGRES_CPU_US:g} us per message (N run)",
                f"{postgres_us:.1f} us",
                postgres_us <= POSTGRES_CPU_US,
            ),
            Target(
                f"CivicPulse >= {TARGET_RATE:,.0f} msg/s end to end ({self._workers})",
                f"{self.full.rate:,.0f} msg/s",
                self.full.rate >= TARGET_RATE,
            ),
            Target(
                f"CivicPulse >= {TARGET_VS_NAIVE:g}x naive baseline",
                f"{ratios['CivicPulse / naive baseline']:.2f}x",
                ratios["CivicPulse / naive baseline"] >= TARGET_VS_NAIVE,
            ),
            Target(
                f"RSS flat: peak RSS(N) / peak RSS(N/4) <= {RSS_FLAT_LIMIT:g}",
                f"{ratios['peak RSS(N) / peak RSS(N/4)']:.3f}",
                ratios["peak RSS(N) / peak RSS(N/4)"] <= RSS_FLAT_LIMIT,
            ),
            Target(
                "every run stored exactly its messages, none quarantined",
                ", ".join(
                    f"{p.label}: {p.rows:,}/{p.messages:,} rows, {p.quarantined} quarantined"
                    for p in phases
                ),
                exact,
            ),
        ]

    def text(self) -> str:
        figures = self.figures()
        width = max(len(f.figure) for f in figures)
        lines = [_header(self.context), ""]
        lines.append(f"{'figure':<{width}}  {'unit':<6}  {'value':>12}")
        lines.append("-" * len(lines[-1]))
        lines += [f"{f.figure:<{width}}  {f.unit:<6}  {_number(f.value):>12}" for f in figures]
        lines += ["", "ratios"]
        lines += [f"  {name:<{width - 2}}  {value:>22.3f}" for name, value in self.ratios().items()]
        lines += ["", "targets"]
        lines += [f"  {t.verdict}  {t.target} (measured {t.measured})" for t in self.targets()]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "parameters": {"messages": self.messages, "devices": self.devices},
            "context": self.context,
            "figures": [asdict(f) for f in self.figures()],
            "ratios": self.ratios(),
            "targets": [
                {"target": t.target, "measured": t.measured, "verdict": t.verdict}
                for t in self.targets()
            ],
            "phases": {
                "broker_ceiling": {**asdict(self.broker), "rate": self.broker.rate},
                "database_ceiling": {**asdict(self.database), "rate": self.database.rate},
                **{p.label: _phase(p) for p in self._phases()},
                **{f"receive_{r.client}": {**asdict(r), "rate": r.rate} for r in self.receive},
            },
        }


def _header(context: dict[str, Any]) -> str:
    """One paragraph on where the figures come from."""
    load = context.get("load_before", ())
    overrides = context.get("ingest_env") or {}
    settings = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "defaults"
    return (
        f"machine: {context.get('cpus', '?')} CPUs, {context.get('memory_gib', '?')} GiB; "
        f"{context.get('mosquitto', 'mosquitto ?')}; PostgreSQL {context.get('postgresql', '?')}; "
        f"Python {context.get('python', '?')}\n"
        f"{context.get('storage', '')}\n"
        f"ingest settings: {settings}; load average before: " + " ".join(f"{x:.2f}" for x in load)
    )


def _phase(phase: PhaseResult) -> dict[str, Any]:
    return {**asdict(phase), "rate": phase.rate, "publish_rate": phase.publish.rate}


def _number(value: float) -> str:
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}"
