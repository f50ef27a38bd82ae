"""A small city for the SensorThings tests: four devices, readings at known times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ingest.batch import Batch
from ingest.db import open_pool
from ingest.devices import DeviceRecord
from tests.support.fixtures_data import add_devices, init_staging, metric_ids, writer_for
from tests.support.gateway import PROFILES

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MINUTES = 30  # aq-1 reports pm25, no2 and temperature once a minute from T0


def us(dt: datetime) -> int:
    """Microseconds since 1970."""
    return int(dt.timestamp() * 1_000_000)


@dataclass(frozen=True)
class City:
    """What was seeded: device keys and metric ids by name."""

    keys: dict[str, int]
    mids: dict[str, int]

    def ds(self, device: str, metric: str) -> int:
        """A Datastream id."""
        return self.keys[device] * 100_000 + self.mids[metric]

    def obs(self, device: str, metric: str, at: datetime) -> str:
        """An Observation id."""
        return f"{self.ds(device, metric)}-{us(at)}"


DEVICES = [
    DeviceRecord(
        id="aq-1",
        profile="air_quality",
        name="Town hall air",
        lat=52.52,
        lon=13.405,
        district="Centre",
        tags=["pilot"],
        attributes={"installer": "acme"},
    ),
    DeviceRecord(
        id="aq-2", profile="air_quality", name="Harbour air", lat=53.55, lon=9.99, district="North"
    ),
    DeviceRecord(
        id="park-1", profile="parking_spot", name="Bay 7", lat=52.53, lon=13.41, district="Centre"
    ),
    DeviceRecord(id="ws-1", profile="weather_station", name=""),
]


async def seed(url: str) -> City:
    """Register the devices and write the readings (through the real batch writer)."""
    keys = await add_devices(url, DEVICES)
    mids = await metric_ids(url, sorted({m for p in PROFILES for m in p.metrics}))
    batch = Batch()
    aq1, aq2, park = keys["aq-1"], keys["aq-2"], keys["park-1"]
    metrics = (mids["pm25"], mids["no2"], mids["temperature"])
    for i in range(MINUTES):
        t = us(T0 + timedelta(minutes=i))
        batch.add_row(t, aq1, metrics, (10.0 + i, 40.0 - i, 20.5), t)
    for i in range(3):
        t = us(T0 + timedelta(minutes=10 * i))
        batch.add_row(t, aq2, (mids["pm25"],), (100.0 + i,), t)
    states = ("free", "occupied", "free")
    for i, st in enumerate(states):
        t = us(T0 + timedelta(minutes=5 * i))
        idx = float(("free", "occupied", "closed", "unknown").index(st))
        batch.add_state_row(t, park, (mids["status"],), (idx,), (st,), t)
    async with open_pool(url, init=init_staging) as pool:
        await writer_for(pool).write(batch)
    return City(keys, mids)
