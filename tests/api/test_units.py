"""The API's pure parts: cursors, media types, validators, time windows, household aggregates,
visibility and roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.access import Access, may_see, series_access
from api.aggregates import household_buckets, monthly_from_daily
from api.caching import cache_control, etag, matches
from api.formats import CSV, GEOJSON, JSON, Table, choose, csv_bytes
from api.pagination import decode_cursor, encode_cursor
from api.problems import ApiProblem
from api.scopes import ANONYMOUS, Principal, Scope, scope_from_roles
from api.timerange import EARLIEST, LATEST, month_ceiling, resolve, shift, to_utc, window
from devices.registry import Device
from devices.types import DEVICE_TYPES
from storage.readings import FieldStats, RollupRow

NOW = datetime(2026, 11, 25, 8, 30, tzinfo=UTC)


@given(st.text(min_size=1), st.integers(), st.datetimes(timezones=st.just(UTC)))
def test_cursors_round_trip(text: str, number: int, moment: datetime) -> None:
    cursor = encode_cursor(text, number, moment)
    assert decode_cursor(cursor, str, int, datetime) == (text, number, moment)


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
def test_any_other_cursor_is_refused_cleanly(text: str) -> None:
    """Garbage is an ``invalid-cursor`` problem, never another exception."""
    outcome: object
    try:
        outcome = decode_cursor(text, str, datetime)
    except ApiProblem as problem:
        outcome = problem.kind.slug
    assert outcome == "invalid-cursor" or (
        isinstance(outcome, tuple) and isinstance(outcome[1], datetime)
    )


def test_cursor_kinds_are_checked() -> None:
    with pytest.raises(ApiProblem):
        decode_cursor(encode_cursor("a"), int)
    with pytest.raises(ApiProblem):
        decode_cursor(encode_cursor(1, 2), int)
    naive = encode_cursor("2026-11-25T08:00:00")
    with pytest.raises(ApiProblem):
        decode_cursor(naive, datetime)


def test_media_type_choice() -> None:
    assert choose(None, None, json_type=JSON, csv=True) == JSON
    assert choose("text/csv", None, json_type=JSON, csv=True) == CSV
    assert choose("text/csv;q=0.4, application/json", None, json_type=JSON, csv=True) == JSON
    assert choose("text/*", None, json_type=GEOJSON, csv=True) == CSV
    assert choose("*/*", None, json_type=GEOJSON, csv=True) == GEOJSON
    assert choose("application/json", None, json_type=GEOJSON, csv=False) == JSON
    assert choose("image/png", "csv", json_type=JSON, csv=True) == CSV  # ?format= wins
    with pytest.raises(ApiProblem):
        choose("text/csv", None, json_type=JSON, csv=False)
    with pytest.raises(ApiProblem):
        choose("application/json;q=0", None, json_type=JSON, csv=False)


def test_csv_cells() -> None:
    table = Table(
        ("a", "b", "c", "d", "e"),
        [("=1+1", -3.5, None, True, datetime(2026, 1, 1, tzinfo=UTC))],
    )
    assert (
        csv_bytes(table).decode() == "a,b,c,d,e\r\n'=1+1,-3.5,,true,2026-01-01T00:00:00+00:00\r\n"
    )


def test_validators() -> None:
    tag = etag(b"body")
    assert tag.startswith('"') and tag != etag(b"other")
    assert matches(tag, tag) and matches(f'"a", W/{tag}', tag) and matches("*", tag)
    assert not matches(None, tag) and not matches('"a"', tag)
    assert cache_control(ANONYMOUS, 60) == "public, max-age=60"
    assert cache_control(Principal(Scope.DEVELOPER, "key:1", "k"), 60) == "private, no-cache"


def test_time_ranges_never_overflow() -> None:
    assert shift(LATEST, timedelta(days=1)) == LATEST
    assert shift(EARLIEST, -timedelta(days=1)) == EARLIEST
    plus5 = timezone(timedelta(hours=5))
    assert to_utc(datetime(1, 1, 1, tzinfo=plus5)) == EARLIEST
    assert resolve(None, None, now=NOW, span=timedelta(days=1)) == (NOW - timedelta(days=1), NOW)
    start, end = resolve(datetime(1, 1, 1, tzinfo=UTC), None, now=NOW, span=timedelta(days=1))
    assert window(start, end, timedelta(days=31)) == (start + timedelta(days=31),) * 2
    assert window(NOW, NOW + timedelta(days=1), timedelta(days=31)) == (
        NOW + timedelta(days=1),
        None,
    )
    assert window(NOW, NOW, timedelta(days=31)) == (NOW, None)  # empty stays empty
    assert month_ceiling(datetime(2026, 12, 3, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
    assert month_ceiling(datetime(2026, 5, 1, tzinfo=UTC)) == datetime(2026, 5, 1, tzinfo=UTC)
    assert month_ceiling(datetime(9999, 12, 2, tzinfo=UTC)) == LATEST


def _row(device: str, day: int, total: float, n: int = 2) -> RollupRow:
    bucket = datetime(2026, 11, day, tzinfo=UTC)
    stats = FieldStats(n, total, total / n - 1, total / n + 1, total / n)
    return RollupRow(device, bucket, n, {"kwh": stats})


def test_household_totals_need_enough_homes_and_no_dominant_one() -> None:
    enough = [_row(f"m{i}", 1, 10.0) for i in range(10)]
    few = [_row(f"m{i}", 2, 10.0) for i in range(9)]
    dominated = [_row(f"m{i}", 3, 1.0) for i in range(10)] + [_row("big", 3, 100.0)]
    buckets = household_buckets(enough + few + dominated, ["kwh"])
    ok, withheld, dominant = buckets
    assert ok.stats["kwh"] == FieldStats(20, 100.0, None, None, 5.0)  # no min, no max
    assert ok.devices == 10 and ok.withheld == {}
    assert withheld.stats["kwh"] is None and withheld.withheld == {"kwh": "few_contributors"}
    assert dominant.stats["kwh"] is None and dominant.withheld == {"kwh": "dominance"}


def test_months_from_days() -> None:
    rows = [_row("aq", 1, 4.0), _row("aq", 2, 8.0), _row("aq", 30, 2.0, n=1)]
    [month] = monthly_from_daily(rows)
    assert month.bucket == datetime(2026, 11, 1, tzinfo=UTC)
    assert month.samples == 5
    assert month.stats["kwh"] == FieldStats(5, 14.0, 1.0, 5.0, 14.0 / 5)


def test_who_sees_a_home() -> None:
    meter = Device("m1", "smart_meter", attributes={"household_id": "hh-0001"})
    bay = Device("b1", "parking_bay")
    own = Principal(Scope.RESIDENT, "key:1", "k", household_id="hh-0001")
    other = Principal(Scope.RESIDENT, "key:2", "k", household_id="hh-0002")
    officer = Principal(Scope.OFFICER, "key:3", "k")
    admin = Principal(Scope.ADMIN, "key:4", "k")
    assert [may_see(p, meter, DEVICE_TYPES) for p in (ANONYMOUS, own, other, officer, admin)] == [
        False,
        True,
        False,
        True,
        True,
    ]
    assert series_access(own, meter, DEVICE_TYPES) is Access.ALLOWED
    assert series_access(other, meter, DEVICE_TYPES) is Access.HIDDEN
    assert series_access(officer, meter, DEVICE_TYPES) is Access.REFUSED
    assert series_access(admin, meter, DEVICE_TYPES) is Access.REFUSED
    assert series_access(ANONYMOUS, bay, DEVICE_TYPES) is Access.ALLOWED
    unknown = Device("x1", "retired_type")
    assert not may_see(ANONYMOUS, unknown, DEVICE_TYPES) and may_see(officer, unknown, DEVICE_TYPES)


def test_roles_map_to_the_strongest_scope() -> None:
    assert scope_from_roles(["civicpulse.developer", "civicpulse.officer"]) is Scope.OFFICER
    assert scope_from_roles(["civicpulse.admin"]) is Scope.ADMIN
    assert scope_from_roles(["civicpulse.resident", "admin", "officer"]) is None
