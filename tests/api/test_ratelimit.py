"""Rate limits: a token bucket per key, per address without one, and per address for failed
attempts; ``429`` with ``Retry-After`` when a bucket is empty."""

from __future__ import annotations

import httpx

from api import create_app
from api.ratelimit import RateLimiter, retry_after
from tests.api.city import City
from tests.api.conftest import bearer, config, serving


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_bursts_then_refills() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    assert [limiter.take("k", 60) for _ in range(60)] == [0.0] * 60  # a minute's burst
    assert limiter.take("k", 60) == 1.0  # one a second at 60 a minute
    assert limiter.wait("k", 60) == 1.0
    clock.now += 0.5
    assert limiter.take("k", 60) == 0.5
    clock.now += 0.5
    assert limiter.take("k", 60) == 0.0
    assert limiter.take("other", 60) == 0.0  # buckets are separate
    assert limiter.take("free", 0) == 0.0  # 0: no limit


def test_buckets_stay_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock, max_buckets=10)
    for i in range(25):
        limiter.take(f"ip:{i}", 60)
        clock.now += 1
    assert len(limiter._buckets) <= 10


def test_retry_after_is_whole_seconds() -> None:
    assert [retry_after(s) for s in (0.01, 1.0, 1.2, 59.9)] == ["1", "1", "2", "60"]


async def _statuses(client: httpx.AsyncClient, n: int, headers: dict[str, str]) -> list[int]:
    return [(await client.get("/v1/zones", headers=headers)).status_code for _ in range(n)]


async def test_per_key_limit(city: City) -> None:
    app = create_app(config(city.url, rate_per_minute=3, public_rate_per_minute=100))
    async with serving(app) as client:
        developer = bearer(city.keys["developer"])
        assert await _statuses(client, 3, developer) == [200, 200, 200]
        limited = await client.get("/v1/zones", headers=developer)
        assert limited.status_code == 429
        assert limited.headers["content-type"] == "application/problem+json"
        assert limited.json()["type"] == "/v1/problems/rate-limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 20
        # Another key, and the public, have buckets of their own.
        assert await _statuses(client, 3, bearer(city.keys["officer"])) == [200, 200, 200]
        assert await _statuses(client, 3, {}) == [200, 200, 200]


async def test_per_address_limit_without_a_key(city: City) -> None:
    app = create_app(config(city.url, rate_per_minute=100, public_rate_per_minute=2))
    async with serving(app) as client:
        assert await _statuses(client, 3, {}) == [200, 200, 429]
        assert (
            await client.get("/v1/zones", headers=bearer(city.keys["admin"]))
        ).status_code == 200


async def test_guessing_keys_is_slowed(city: City) -> None:
    app = create_app(config(city.url, rate_per_minute=100, public_rate_per_minute=3))
    async with serving(app) as client:
        guesses = [bearer("cpk_" + c * 43) for c in "ABCDE"]
        statuses = [(await client.get("/v1/zones", headers=g)).status_code for g in guesses]
        assert statuses == [401, 401, 401, 429, 429]
