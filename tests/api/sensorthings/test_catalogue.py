"""The catalogue SensorThings derives from the profiles is stored once per process under
a version of its content; processes with other profiles answer from their own."""

from __future__ import annotations

import asyncpg

from api.sensorthings.catalogue import CatalogueCache
from api.sensorthings.sqlparams import Params
from device_profiles import ProfileRegistry
from ingest.devices import ensure_metrics
from tests.support.gateway import PROFILES


async def _metrics_seen(conn: asyncpg.Connection, cache: CatalogueCache) -> set[tuple[str, str]]:
    catalogue = await cache.get(conn)
    params = Params()
    sql = f"WITH {catalogue.cte(params)} SELECT profile, metric FROM sta_pm"
    return {(r["profile"], r["metric"]) for r in await conn.fetch(sql, *params.values)}


async def test_each_process_reads_its_own_catalogue(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        ids = await ensure_metrics(conn, {m for p in PROFILES for m in p.metrics})
        fewer = ProfileRegistry([p for p in PROFILES if p.name in ("noise", "air_quality")])
        everything = CatalogueCache(PROFILES, ids)
        some = CatalogueCache(fewer, ids)
        all_metrics = {(p.name, m) for p in PROFILES for m in p.metrics}
        assert await _metrics_seen(conn, everything) == all_metrics
        assert await _metrics_seen(conn, some) == {(p.name, m) for p in fewer for m in p.metrics}
        # A restart with the same profiles finds its version stored and adds nothing.
        again = CatalogueCache(PROFILES, ids)
        assert (await again.get(conn)).version == (await everything.get(conn)).version
        assert await _metrics_seen(conn, again) == all_metrics
        stored = await conn.fetchval("SELECT count(*) FROM sensorthings_catalogue_pm")
        assert stored == len(all_metrics) + sum(len(p.metrics) for p in fewer)
    finally:
        await conn.close()
