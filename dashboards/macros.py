"""What Grafana sends to PostgreSQL: a panel's SQL with its variables and macros expanded.

Grafana's front end replaces ``$__interval`` and the template variables (a multi-value variable
becomes a list of quoted values; "All" becomes its custom value, unquoted); its PostgreSQL data
source then expands the ``$__`` macros (``pkg/tsdb/grafana-postgresql-datasource/macros.go``).
``$__timeGroup`` is the one that depends on the data source: ``time_bucket`` when its TimescaleDB
option is on, epoch arithmetic otherwise. The tests use :func:`expand` to run every panel as
Grafana would, in both storage modes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from dashboards.model import ALL

_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^)]*)\)")
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class MacroError(ValueError):
    pass


def seconds(interval: str) -> float:
    """``'5m'`` → 300.0 (Grafana's interval syntax, units ms to w)."""
    found = re.fullmatch(r"\s*'?(\d+(?:\.\d+)?)(ms|s|m|h|d|w)'?\s*", interval)
    if found is None:
        raise MacroError(f"cannot parse interval {interval!r}")
    return float(found[1]) * _UNITS[found[2]]


def _instant(at: datetime) -> str:
    text = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return f"{text}Z"


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def _group(column: str, interval: str, timescaledb: bool) -> str:
    step = seconds(interval)
    if timescaledb:
        return f"time_bucket('{step:.3f}s',{column})"
    return f"floor(extract(epoch from {column})/{_number(step)})*{_number(step)}"


def variables(sql: str, values: Mapping[str, Sequence[str] | None], interval: str) -> str:
    """The front end's part: ``$__interval`` and template variables (``None``: All)."""

    def replace(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        if name == "__interval":
            return interval
        if name == "__interval_ms":
            return _number(seconds(interval) * 1000)
        if name.startswith("__"):
            return match[0]  # a macro: the data source's part
        if name not in values:
            raise MacroError(f"no value for variable ${name}")
        chosen = values[name]
        if chosen is None:
            return ALL
        return ",".join("'" + v.replace("'", "''") + "'" for v in chosen)

    return _VARIABLE.sub(replace, sql)


def macros(sql: str, *, start: datetime, end: datetime, timescaledb: bool) -> str:
    """The data source's part: the ``$__`` macros, as Grafana's PostgreSQL data source does."""

    def replace(match: re.Match[str]) -> str:
        name = match[1]
        args = [a.strip() for a in match[2].split(",")]
        if name == "__timeGroup" and sql[match.end() : match.end() + 1] == ",":
            name = "__timeGroupAlias"  # Grafana's pre-5.3 compatibility, kept here too
        if name == "__timeFilter":
            return f"{args[0]} BETWEEN '{_instant(start)}' AND '{_instant(end)}'"
        if name == "__timeFrom":
            return f"'{_instant(start)}'"
        if name == "__timeTo":
            return f"'{_instant(end)}'"
        if name in ("__timeGroup", "__timeGroupAlias"):
            if len(args) < 2:
                raise MacroError(f"${name} needs a column and an interval")
            group = _group(args[0], args[1], timescaledb)
            return group + (' AS "time"' if name == "__timeGroupAlias" else "")
        raise MacroError(f"unknown macro ${name}")

    return _MACRO.sub(replace, sql)


def expand(
    sql: str,
    *,
    start: datetime,
    end: datetime,
    timescaledb: bool,
    values: Mapping[str, Sequence[str] | None],
    interval: str = "1h",
) -> str:
    """A panel's SQL as the database receives it from Grafana."""
    return macros(variables(sql, values, interval), start=start, end=end, timescaledb=timescaledb)
