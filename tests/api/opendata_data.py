"""Devices and readings the open data tests share: a few devices in two districts, numeric
and categorical readings stored by the real batch writer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.batch import Batch
from ingest.db import open_pool
from ingest.devices import DeviceRecord
from tests.support.fixtures_data import add_devices, init_staging, metric_ids, writer_for

# Two districts ~2 km apart, around a central-European old town.
DEVICES = [
    DeviceRecord(id="aq-1", profile="air_quality", district="Old Town", lat=48.2082, lon=16.3738,
                 name="Air at the square", tags=["air"]),
    DeviceRecord(id="aq-2", profile="air_quality", district="Old Town", lat=48.2100, lon=16.3700),
    DeviceRecord(id="aq-3", profile="air_quality", district="Harbour", lat=48.1900, lon=16.4000),
    DeviceRecord(id="noise-1", profile="noise", district="Harbour", lat=48.1910, lon=16.4010),
    DeviceRecord(id="park-1", profile="parking_spot", district="Old Town", lat=48.2085,
                 lon=16.3741),
    DeviceRecord(id="light-1", profile="streetlight"),  # no location, no district
]  # fmt: skip
PARKING_STATES = ("free", "occupied", "closed", "unknown")


def us(t: datetime) -> int:
    """Epoch microseconds."""
    return int(t.timestamp() * 1_000_000)


def now_minute() -> datetime:
    """Now, rounded down to the minute (so tests place readings on round times)."""
    return datetime.now(UTC).replace(second=0, microsecond=0)


async def seed(url: str) -> tuple[dict[str, int], dict[str, int]]:
    """Register ``DEVICES``; returns (device keys by id, metric ids by name)."""
    keys = await add_devices(url, DEVICES)
    mids = await metric_ids(
        url, ["pm25", "pm10", "no2", "o3", "temperature", "relativeHumidity", "status",
              "batteryLevel", "LAeq"],
    )  # fmt: skip
    return keys, mids


async def write(url: str, batch: Batch) -> None:
    """Store a batch with the real writer (readings, latest, in one transaction)."""
    async with open_pool(url, init=init_staging) as pool:
        await writer_for(pool).write(batch)


def numeric_batch(
    rows: list[tuple[datetime, int, int, float]], received: datetime | None = None
) -> Batch:
    """One row per (time, device) with the given (metric, value) readings."""
    batch = Batch()
    grouped: dict[tuple[int, int], dict[int, float]] = {}
    for t, key, mid, value in rows:
        grouped.setdefault((us(t), key), {})[mid] = value
    r = us(received or datetime.now(UTC))
    for (t_us, key), values in grouped.items():
        batch.add_row(t_us, key, tuple(values), tuple(values.values()), r)
    return batch


def parking_batch(key: int, status_mid: int, battery_mid: int,
                  readings: list[tuple[datetime, str, float]]) -> Batch:  # fmt: skip
    """Parking spot readings: (time, state, battery)."""
    batch = Batch()
    now = us(datetime.now(UTC))
    for t, state, battery in readings:
        batch.add_state_row(
            us(t), key, (status_mid, battery_mid),
            (float(PARKING_STATES.index(state)), battery), (state, None), now,
        )  # fmt: skip
    return batch


def minutes_ago(base: datetime, n: float) -> datetime:
    """``base`` minus ``n`` minutes."""
    return base - timedelta(minutes=n)
