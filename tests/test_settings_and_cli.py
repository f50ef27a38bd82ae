"""Settings and the command line: one-line errors that name what is wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from citygate.settings import SettingsError, load_settings


def _citygate(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "citygate", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("database_url", "mysql://localhost/x", "CITYGATE_DATABASE_URL: database URL must start"),
        ("database_url", "postgresql://:99999/x", "CITYGATE_DATABASE_URL: database URL has"),
        ("mqtt_url", "http://localhost", "CITYGATE_MQTT_URL: MQTT URL must start with mqtt://"),
        ("batch_max_messages", "0", "CITYGATE_BATCH_MAX_MESSAGES: Input should be greater"),
    ],
)
def test_bad_setting_is_one_line_naming_the_variable(field: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(**{field: value})
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_auto_provisioning_needs_a_profile() -> None:
    with pytest.raises(SettingsError, match="CITYGATE_AUTO_PROVISION_PROFILE"):
        load_settings(auto_provision=True)


def test_bad_url_from_the_environment_stops_the_cli_with_one_line() -> None:
    result = _citygate("db", "status", CITYGATE_MQTT_URL="ftp://broker")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "citygate: CITYGATE_MQTT_URL: MQTT URL must start with mqtt:// or tcp://"
    ]


def test_missing_database_server_is_one_line_naming_where() -> None:
    # Port 1 on loopback: nothing listens there.
    result = _citygate("db", "status", CITYGATE_DATABASE_URL="postgresql://postgres@127.0.0.1:1/x")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "citygate: cannot reach PostgreSQL at 127.0.0.1:1/x (CITYGATE_DATABASE_URL):"
    )


async def test_devices_import_from_csv_and_json(database_url: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "fleet.csv"
    csv_file.write_text(
        "id,profile,name,lat,lon,district,tags,attributes\n"
        'aq-1,air_quality,Main St,48.2,16.37,centre,school;busy,"{""height"": 3}"\n'
        "park-1,parking_spot,,48.21,16.38,north,,\n"
    )
    result = _citygate("devices", "import", str(csv_file), CITYGATE_DATABASE_URL=database_url)
    assert result.returncode == 0, result.stderr
    assert "imported 2 devices" in result.stdout
    json_file = tmp_path / "more.json"
    json_file.write_text(json.dumps([{"id": "aq-1", "profile": "air_quality", "enabled": False}]))
    assert (
        _citygate(
            "devices", "import", str(json_file), CITYGATE_DATABASE_URL=database_url
        ).returncode
        == 0
    )
    conn = await asyncpg.connect(database_url)
    try:
        rows = {
            r["id"]: r
            for r in await conn.fetch(
                "SELECT id, profile, district, tags, enabled, attributes::text AS a, "
                "ST_X(location) AS lon FROM devices"
            )
        }
    finally:
        await conn.close()
    assert set(rows) == {"aq-1", "park-1"}
    assert rows["aq-1"]["enabled"] is False  # updated by the second file
    assert rows["park-1"]["district"] == "north"
    assert rows["park-1"]["lon"] == pytest.approx(16.38)


async def test_bad_import_file_names_the_row_and_imports_nothing(
    database_url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "id,profile,lat\nok-1,air_quality,48\nbad id,air_quality,48\nx-2,air_quality,95\n"
    )
    result = _citygate("devices", "import", str(bad), CITYGATE_DATABASE_URL=database_url)
    assert result.returncode == 1
    assert f"{bad}:3: id:" in result.stderr
    assert f"{bad}:4: lat:" in result.stderr
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps([{"id": "t-1", "profile": "teleporter"}]))
    result = _citygate("devices", "import", str(unknown), CITYGATE_DATABASE_URL=database_url)
    assert "unknown profile(s) teleporter" in result.stderr
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM devices") == 0
    finally:
        await conn.close()
