"""Databases for tests: one migrated template per test run, a fresh copy per test."""

from __future__ import annotations

import asyncio
import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ADMIN_URL = os.environ.get(
    "CITYGATE_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RUN_ID = uuid.uuid4().hex[:8]


def url_for(name: str) -> str:
    """The URL of database ``name`` on the test server."""
    return urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{name}"))


async def admin(sql: str) -> None:
    """Run one statement on the maintenance database."""
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_from_template(template: str) -> str:
    """A new database copied from ``template``; returns its name."""
    name = f"citygate_test_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    for attempt in range(20):
        try:
            await admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            return name
        except asyncpg.ObjectInUseError:
            # The template is busy for a moment after another copy; try again.
            await asyncio.sleep(0.1 * (attempt + 1))
    raise RuntimeError(f"could not copy template database {template}")


async def drop(name: str) -> None:
    """Drop a test database, disconnecting whoever is still on it."""
    await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
