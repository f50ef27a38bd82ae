"""Migrations: an empty database, twice, and from two processes at once."""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg
import pytest

from ingest.errors import MigrationError
from ingest.migrations import available_migrations, current_version, upgrade

EXPECTED_TABLES = {
    "devices",
    "metrics",
    "readings",
    "latest",
    "quarantine",
    "readings_1m",
    "readings_1h",
    "rollup_state",
    "api_keys",
    "rules",
    "alarms",
    "alarm_events",
    "service_types",
    "service_requests",
    "outbox",
    "schema_migrations",
}


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def test_upgrade_empty_database_then_again(empty_database_url: str) -> None:
    versions = [m.version for m in available_migrations()]
    assert await upgrade(empty_database_url) == versions
    assert await _tables(empty_database_url) >= EXPECTED_TABLES
    # A second run applies nothing and changes nothing.
    assert await upgrade(empty_database_url) == []
    conn = await asyncpg.connect(empty_database_url)
    try:
        assert await current_version(conn) == versions[-1]
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(versions)
    finally:
        await conn.close()


async def test_upgrade_from_two_processes_at_once(empty_database_url: str) -> None:
    env = {**os.environ, "CITYGATE_DATABASE_URL": empty_database_url}
    command = [sys.executable, "-m", "citygate", "db", "upgrade", "--no-create"]
    pipe = asyncio.subprocess.PIPE
    procs = [
        await asyncio.create_subprocess_exec(*command, env=env, stdout=pipe, stderr=pipe)
        for _ in range(2)
    ]
    results = [await p.communicate() for p in procs]
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err.decode()
    outputs = sorted(out.decode() for out, _ in results)
    # Exactly one process applied the migrations; the other found them applied.
    assert outputs[0].startswith("applied migrations"), outputs
    assert outputs[1].startswith("schema is up to date"), outputs
    conn = await asyncpg.connect(empty_database_url)
    try:
        rows = await conn.fetch("SELECT version, count(*) FROM schema_migrations GROUP BY 1")
        assert all(r["count"] == 1 for r in rows)
        assert len(rows) == len(available_migrations())
    finally:
        await conn.close()


async def test_changed_migration_is_refused(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1")
    finally:
        await conn.close()
    with pytest.raises(MigrationError, match="was changed after it was applied"):
        await upgrade(database_url)
