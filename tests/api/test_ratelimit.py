"""Rate limiting of keyless clients: 429 with Retry-After, per client IP, API keys and
health endpoints exempt, bounded memory."""

from __future__ import annotations

import httpx

from api.ratelimit import TokenBuckets
from tests.support.api import running_api


async def test_keyless_clients_get_429_with_retry_after(database_url: str) -> None:
    async with running_api(database_url, rate_limit_per_s=0.5, rate_limit_burst=3) as api:
        c = api.client
        codes = [(await c.get("/api/v1/profiles")).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        r = await c.get("/api/v1/devices")
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) in (1, 2)
        assert "0.5 requests a second" in r.json()["detail"]
        assert "API key" in r.json()["detail"]
        # CORS still applies to the refusal, so browser apps can read Retry-After.
        r = await c.get("/api/v1/devices", headers={"Origin": "https://app.example"})
        assert r.status_code == 429 and r.headers["access-control-allow-origin"] == "*"
        # Health, readiness and metrics are never limited.
        for path in ("/healthz", "/readyz", "/metrics") * 3:
            assert (await c.get(path)).status_code == 200
        # A valid key is not limited; a made-up key that looks valid is.
        key = await api.key("viewer")
        for _ in range(8):
            assert (await c.get("/api/v1/profiles", headers={"X-API-Key": key})).status_code == 200
        fake = "cg_0badf00d_" + "x" * 43
        r = await c.get("/api/v1/profiles", headers={"Authorization": f"Bearer {fake}"})
        assert r.status_code == 429
        # Another client address has its own bucket.
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(base_url=api.base, transport=transport) as other:
            assert (await other.get("/api/v1/profiles")).status_code == 200
        metric = (await c.get("/metrics")).text
        assert "citygate_api_rate_limited_total" in metric


def test_token_buckets_refill_and_stay_bounded() -> None:
    b = TokenBuckets(rate=2.0, burst=2, max_clients=100)
    assert b.take("a", now=0.0) == 0.0
    assert b.take("a", now=0.0) == 0.0
    assert b.take("a", now=0.0) == 0.5  # the next token is due in half a second
    assert b.take("a", now=0.5) == 0.0  # refilled
    for i in range(1000):
        b.take(f"10.0.{i // 250}.{i % 250}", now=1.0)
    assert len(b) == 100  # at most max_clients, least recently used forgotten
    # Buckets idle long enough to be full again are forgotten (they would start full).
    b.take("late", now=100.0)
    assert len(b) == 1
