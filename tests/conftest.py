"""Shared fixtures: real PostgreSQL + TimescaleDB databases and real Mosquitto brokers,
unique per test run (databases) and per test (databases, topic prefixes)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from ingest.migrations import upgrade
from tests.support import database as db
from tests.support.broker import Broker, private_broker


@pytest.fixture(scope="session")
def template_db() -> Iterator[str]:
    """A database migrated once per test run, copied by every test that needs one."""
    name = f"citygate_test_{db.RUN_ID}_template"
    asyncio.run(db.admin(f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(upgrade(db.url_for(name)))
        yield name
    finally:
        asyncio.run(db.drop(name))


@pytest.fixture
async def database_url(template_db: str) -> AsyncIterator[str]:
    """A fresh, migrated database for one test."""
    name = await db.create_from_template(template_db)
    try:
        yield db.url_for(name)
    finally:
        await db.drop(name)


@pytest.fixture
async def empty_database_url() -> AsyncIterator[str]:
    """A fresh database with nothing in it."""
    name = f"citygate_test_{db.RUN_ID}_{uuid.uuid4().hex[:8]}"
    await db.admin(f'CREATE DATABASE "{name}"')
    try:
        yield db.url_for(name)
    finally:
        await db.drop(name)


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    """A private Mosquitto for the whole run; tests keep apart by topic prefix."""
    with private_broker() as b:
        yield b


@pytest.fixture
def topic_prefix() -> str:
    """A topic root unique to this test."""
    return f"t{uuid.uuid4().hex[:10]}"
