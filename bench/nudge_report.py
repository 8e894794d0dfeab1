"""The nudge benchmark's table: figures, ratios and the targets, PASS or MISS."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from bench.nudge_naive import NaiveResult

MIB = 1024 * 1024
TARGET_SECONDS = 60.0
TARGET_MEMORY = 2 * 1024 * MIB
TARGET_RATIO = 20.0


@dataclass(frozen=True, slots=True)
class NudgeResults:
    households: int
    run: dict[str, Any]
    """What :mod:`bench.nudge_run` printed."""
    naive: NaiveResult
    population: dict[str, Any]
    """How the population was made (:class:`bench.nudge_population.Populated`, as stored)."""
    context: dict[str, Any] = field(default_factory=dict)
    profile: str = ""

    @property
    def ratio(self) -> float:
        return self.naive.extrapolated / float(self.run["seconds"])

    def rows(self) -> list[tuple[str, str, str]]:
        run, naive, pop = self.run, self.naive, self.population
        phases = run["phases"]
        rows = [
            ("households with consent (the run's population)", "households", f"{run['households']:,}"),
            ("  compared / withheld", "households",
             f"{run['compared']:,} / {run['households'] - run['compared']:,}"),
            (f"nudge run for {self.context.get('period', '?')}, total", "s", f"{run['seconds']:.2f}"),
            ("  households per second", "households/s", f"{run['households'] / run['seconds']:,.0f}"),
        ]  # fmt: skip
        for name, label in (
            ("read", "read (daily rollups, weather; usage derived)"),
            ("compute", "compute (peers, weather fit, insights)"),
            ("write", "write (nudges table)"),
        ):
            phase = phases[name]
            rows.append((f"  {label}", "s", f"{phase['seconds']:.2f}"))
            rows.append(("    PostgreSQL CPU in it", "s", f"{phase['postgresql_cpu']:.2f}"))
            rows.append(("    Python CPU in it (this process)", "s", f"{phase['python_cpu']:.2f}"))
        rows += [
            ("  database connections reading", "count", str(run["readers"])),
            ("peak RSS of the run's process", "MiB", f"{run['peak_rss'] / MIB:,.0f}"),
            ("  RSS before the run (imports, connection)", "MiB", f"{run['rss_before'] / MIB:,.0f}"),
            ("PostgreSQL backends' peak RSS (shared buffers touched included)", "MiB",
             f"{run['postgresql_peak_rss'] / MIB:,.0f}"),
            ("PostgreSQL backends' peak anonymous memory (their own)", "MiB",
             f"{run['postgresql_peak_anonymous'] / MIB:,.0f}"),
            (f"naive: one query + one comparison per household, {naive.sample} sampled", "ms/household",
             f"{1000 * naive.per_household:.2f}"),
            ("  of which the query", "ms/household", f"{1000 * naive.query_seconds / naive.sample:.2f}"),
            ("  of which Python", "ms/household", f"{1000 * naive.python_seconds / naive.sample:.2f}"),
            (f"naive, extrapolated to {naive.households:,} households", "s", f"{naive.extrapolated:,.0f}"),
        ]  # fmt: skip
        if pop:
            rows += [
                ("population: daily reads and weather readings, via MQTT + ingest", "readings",
                 f"{self._readings():,}"),
                ("  simulated, published and stored in", "s", f"{pop['seconds']:,.0f}"),
                ("  end to end rate", "readings/s", f"{self._readings() / pop['seconds']:,.0f}"),
                ("  simulator alone finished after", "s", f"{pop['simulate_seconds']:,.0f}"),
                ("  simulator peak RSS", "MiB", f"{pop['simulator_peak_rss'] / MIB:,.0f}"),
                ("  ingest peak RSS", "MiB", f"{pop['ingest_peak_rss'] / MIB:,.0f}"),
                ("  aggregates refreshed (TimescaleDB)", "s", f"{pop['refresh_seconds']:,.0f}"),
                ("  compression or hourly emptied, VACUUM ANALYZE", "s",
                 f"{pop['settle_seconds']:,.0f}"),
                ("  database size", "GiB", f"{pop['database_bytes'] / 1024 / MIB:,.1f}"),
            ]  # fmt: skip
        return rows

    def _readings(self) -> int:
        p = self.population.get("population", {})
        days = (date.fromisoformat(p["end"]) - date.fromisoformat(p["start"])).days
        return int(days * (p["households"] + 24 * p["weather_stations"]))

    def targets(self) -> list[tuple[bool, str]]:
        run = self.run
        return [
            (
                run["seconds"] <= TARGET_SECONDS,
                f"monthly run <= {TARGET_SECONDS:.0f} s for {self.households:,} households"
                f" (measured {run['seconds']:.1f} s)",
            ),
            (
                run["peak_rss"] < TARGET_MEMORY,
                f"peak memory of the run < 2 GiB (measured {run['peak_rss'] / MIB:,.0f} MiB)",
            ),
            (
                self.ratio >= TARGET_RATIO,
                f"CivicPulse >= {TARGET_RATIO:.0f}x the naive baseline (measured {self.ratio:.1f}x)",
            ),
        ]

    def text(self) -> str:
        rows = self.rows()
        width = max(len(r[0]) for r in rows) + 2
        lines = []
        context = self.context
        lines.append(
            f"storage: {'TimescaleDB ' + str(context['timescaledb']) if context.get('timescaledb') else 'plain PostgreSQL'}"
            f" {context.get('postgresql', '?')}; load average before: "
            + " ".join(f"{x:.2f}" for x in context.get("load_before", ()))
        )
        lines.append("")
        lines.append(f"{'figure':<{width}}{'unit':<14}{'value':>14}")
        lines.append("-" * (width + 28))
        lines += [f"{name:<{width}}{unit:<14}{value:>14}" for name, unit, value in rows]
        lines.append("")
        lines.append("ratios")
        lines.append(f"  CivicPulse / naive baseline (extrapolated){'':<10}{self.ratio:>10.1f}")
        lines.append("")
        lines.append("targets")
        lines += [f"  {'PASS' if ok else 'MISS'}  {text}" for ok, text in self.targets()]
        if self.profile:
            lines += ["", "profile of the run (py-spy, not a figure)", self.profile]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "households": self.households,
            "run": self.run,
            "naive": {**asdict(self.naive), "extrapolated": self.naive.extrapolated},
            "population": self.population,
            "context": self.context,
            "ratio": self.ratio,
            "targets": [{"pass": ok, "target": text} for ok, text in self.targets()],
            "profile": self.profile,
        }
