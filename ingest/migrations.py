"""Versioned SQL migrations, applied in order under an advisory lock.

Files are ``ingest/sql/NNNN_name.sql``. Each is applied in its own transaction
and recorded in ``schema_migrations`` with its checksum, so running ``upgrade`` twice,
or from two processes at once, applies every migration exactly once.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

from .db import Conn, connect
from .errors import MigrationError

log = logging.getLogger(__name__)

__all__ = ["Migration", "available_migrations", "current_version", "upgrade"]

# An arbitrary constant shared by every citygate process: "citygate" in ASCII.
_LOCK_KEY = 0x63697479_67617465 & 0x7FFF_FFFF_FFFF_FFFF
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the file's text: an applied migration must never change."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    """The migration files shipped with the package, in version order."""
    found: list[Migration] = []
    for entry in resources.files("ingest").joinpath("sql").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version: {versions}")
    return found


_HISTORY = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


async def current_version(conn: Conn) -> int:
    """The highest applied migration version (0 for an empty database)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations"))


async def upgrade(url: str) -> list[int]:
    """Apply every pending migration; returns the versions this call applied."""
    conn = await connect(url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            return await _upgrade_locked(conn)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()


async def _upgrade_locked(conn: Conn) -> list[int]:
    await conn.execute("SET client_min_messages = warning")
    await conn.execute(_HISTORY)
    rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
    applied = {int(r["version"]): str(r["checksum"]) for r in rows}
    done: list[int] = []
    for mig in available_migrations():
        if mig.version in applied:
            if applied[mig.version] != mig.checksum:
                raise MigrationError(
                    f"migration {mig.version:04d}_{mig.name} was changed after it was applied"
                )
            continue
        log.info("applying migration %04d_%s", mig.version, mig.name)
        try:
            async with conn.transaction():
                await conn.execute(mig.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    mig.version,
                    mig.name,
                    mig.checksum,
                )
        except asyncpg.PostgresError as exc:
            raise MigrationError(
                f"migration {mig.version:04d}_{mig.name} failed: {exc.sqlstate} {exc}"
            ) from exc
        done.append(mig.version)
    return done
