"""API keys: created hashed, roles enforced, district scope, revocation; the command line."""

from __future__ import annotations

import os
import subprocess
import sys

import asyncpg

from tests.support.api import running_api


async def test_keys_are_stored_hashed_and_roles_are_enforced(database_url: str) -> None:
    async with running_api(database_url, key_cache_s=0) as api:
        c = api.client
        # No key: 401 with a message naming the role and the header.
        r = await c.get("/api/v1/keys")
        assert r.status_code == 401
        assert "admin" in r.json()["detail"] and "X-API-Key" in r.json()["detail"]
        assert r.headers["www-authenticate"] == "Bearer"
        # A malformed or unknown key: 401.
        r = await c.get("/api/v1/keys", headers={"X-API-Key": "cg_00000000_" + "x" * 43})
        assert r.status_code == 401
        # Below the role: 403.
        r = await c.get("/api/v1/keys", headers=await api.headers("operator"))
        assert r.status_code == 403
        assert "admin" in r.json()["detail"]

        admin = await api.key("admin")
        r = await c.post(
            "/api/v1/keys",
            json={"name": "district app", "role": "viewer", "districts": ["Centre"]},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["key"].startswith(f"cg_{created['prefix']}_")
        assert created["districts"] == ["Centre"]

        conn = await asyncpg.connect(database_url)
        try:
            stored = await conn.fetchrow(
                "SELECT * FROM api_keys WHERE prefix = $1", created["prefix"]
            )
        finally:
            await conn.close()
        assert stored is not None
        assert created["key"] not in stored["key_hash"]  # never the key itself
        assert len(stored["key_hash"]) == 64

        listed = (await c.get("/api/v1/keys", headers={"X-API-Key": admin})).json()
        assert created["prefix"] in {k["prefix"] for k in listed}
        assert all("key" not in k for k in listed)

        # Revoke: the key stops working at once.
        r = await c.delete(f"/api/v1/keys/{created['prefix']}", headers={"X-API-Key": admin})
        assert r.status_code == 200 and r.json()["revoked_at"]
        r = await c.get("/api/v1/keys", headers={"X-API-Key": created["key"]})
        assert r.status_code == 401
        r = await c.delete("/api/v1/keys/ffffffff", headers={"X-API-Key": admin})
        assert r.status_code == 404


async def test_bad_key_body_gets_422_with_the_field(database_url: str) -> None:
    async with running_api(database_url) as api:
        r = await api.client.post(
            "/api/v1/keys", json={"name": "x", "role": "root"}, headers=await api.headers("admin")
        )
        assert r.status_code == 422
        assert "role" in r.json()["detail"]


def test_keys_cli_creates_lists_and_revokes(database_url: str) -> None:
    env = {**os.environ, "CITYGATE_DATABASE_URL": database_url}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "citygate", "keys", *args],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    made = run("create", "--name", "ops team", "--role", "operator", "--district", "North")
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    key = lines[1]
    prefix = key.split("_")[1]
    assert "operator key" in lines[0] and "North" in lines[0]
    listed = run("list")
    assert prefix in listed.stdout and "ops team" in listed.stdout
    assert key not in listed.stdout
    assert run("revoke", prefix).returncode == 0
    assert "revoked" in run("list").stdout
    bad = run("revoke", "nope")
    assert bad.returncode == 1 and "no API key" in bad.stderr
