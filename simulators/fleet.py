"""A reproducible simulated city fleet: which devices exist, where, and how they publish.

``build_fleet(profiles, n, seed)`` spreads devices over named districts laid out on a grid
around a city centre, with a profile mix like a real city's (many parking sensors,
streetlights and bins; few air-quality and weather stations) and the wire formats real
deployments use (LoRaWAN sensors through The Things Stack or ChirpStack, the rest native).
"""

from __future__ import annotations

import csv
import json
import math
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from device_profiles import ProfileRegistry
from ingest.devices import DeviceRecord

from .errors import SimulatorError
from .mix import LORAWAN_FORMATS, format_mix, id_prefix, pick, profile_mix

__all__ = [
    "DEFAULT_CENTER",
    "District",
    "Fleet",
    "SimDevice",
    "build_fleet",
    "default_districts",
]

DEFAULT_CENTER = (48.2082, 16.3738)  # a central-European old town
M_PER_DEG_LAT = 111_320.0
TTS_TENANT = "citygate"

INTERVAL_JITTER = 0.1  # each device's interval is the profile's +-10 %
# District grid: (east, north) steps of 2 km from the centre.
_GRID_STEP_M = 2000.0
_DISTRICT_GRID = (
    ("Old Town", 0, 0),
    ("Riverside", 0, -1),
    ("Harbour", 1, -1),
    ("Station", 1, 0),
    ("Parkside", 1, 1),
    ("Northgate", 0, 1),
    ("University", -1, 1),
    ("Market", -1, 0),
)


@dataclass(frozen=True, slots=True)
class District:
    """A named part of the city: a box of ``2 * half_size_m`` around its centre."""

    name: str
    lat: float
    lon: float
    half_size_m: float = 900.0


@dataclass(frozen=True, slots=True)
class SimDevice:
    """One simulated device and how it talks."""

    id: str
    profile: str
    district: str
    lat: float
    lon: float
    fmt: str  # json, senml, ttn or chirpstack
    interval_s: float  # reporting interval in simulated seconds, jittered per device
    phase_s: float  # when in its interval the device first reports
    index: int  # position in the fleet
    key: int  # per-device 63-bit random key: seeds its signals and faults
    binary: bool = False  # LoRaWAN frame encoded with the profile codec (else decoded values)
    dev_eui: str | None = None  # 16 lower-case hex digits, LoRaWAN devices only
    application_id: str | None = None  # TTS application id or ChirpStack application UUID
    name: str = ""

    @property
    def lorawan(self) -> bool:
        """The device publishes through a LoRaWAN network server."""
        return self.fmt in LORAWAN_FORMATS


@dataclass(frozen=True, slots=True)
class Fleet:
    """The devices of a simulated city (compare two fleets with ``==``)."""

    devices: tuple[SimDevice, ...]
    seed: int
    center: tuple[float, float]
    districts: tuple[District, ...]
    chirpstack_tenant_id: str
    profiles: ProfileRegistry = field(compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.devices)

    def __iter__(self) -> Iterator[SimDevice]:
        return iter(self.devices)

    def counts(self) -> dict[str, int]:
        """Number of devices per profile."""
        return dict(sorted(Counter(d.profile for d in self.devices).items()))

    def records(self) -> list[DeviceRecord]:
        """The devices as registry records (what ``citygate devices import`` takes)."""
        return [_record(d) for d in self.devices]

    def write(self, path: Path) -> None:
        """Write the fleet as a ``.csv`` or ``.json`` device file for ``devices import``."""
        path = Path(path)
        records = self.records()
        suffix = path.suffix.lower()
        if suffix == ".json":
            data = [r.model_dump(exclude_defaults=True) for r in records]
            path.write_text(json.dumps(data, indent=1) + "\n", "utf-8")
        elif suffix == ".csv":
            with path.open("w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(_CSV_COLUMNS)
                for r in records:
                    writer.writerow(_csv_row(r))
        else:
            raise SimulatorError(f"{path}: fleet file must end in .csv or .json")


_CSV_COLUMNS = ("id", "profile", "name", "lat", "lon", "district", "tags", "attributes")


def _csv_row(r: DeviceRecord) -> list[str]:
    return [
        r.id,
        r.profile,
        r.name,
        repr(r.lat),
        repr(r.lon),
        r.district or "",
        ";".join(r.tags),
        json.dumps(r.attributes, separators=(",", ":")) if r.attributes else "",
    ]


def _record(d: SimDevice) -> DeviceRecord:
    attributes: dict[str, object] = {"format": d.fmt}
    if d.dev_eui is not None:
        attributes["dev_eui"] = d.dev_eui
    if d.application_id is not None:
        attributes["application_id"] = d.application_id
    return DeviceRecord(
        id=d.id,
        profile=d.profile,
        name=d.name,
        lat=d.lat,
        lon=d.lon,
        district=d.district,
        tags=["simulated", d.fmt],
        attributes=attributes,
    )


def default_districts(center: tuple[float, float] = DEFAULT_CENTER) -> tuple[District, ...]:
    """Eight districts on a 2 km grid around ``center`` (old town in the middle)."""
    lat0, lon0 = center
    m_per_deg_lon = M_PER_DEG_LAT * math.cos(math.radians(lat0))
    return tuple(
        District(
            name,
            round(lat0 + north * _GRID_STEP_M / M_PER_DEG_LAT, 6),
            round(lon0 + east * _GRID_STEP_M / m_per_deg_lon, 6),
        )
        for name, east, north in _DISTRICT_GRID
    )


def build_fleet(
    profiles: ProfileRegistry,
    n_devices: int,
    seed: int = 1,
    *,
    center: tuple[float, float] = DEFAULT_CENTER,
    districts: Sequence[District] | None = None,
) -> Fleet:
    """Build ``n_devices`` devices over every profile of ``profiles``; same seed, same fleet."""
    if n_devices < 0:
        raise SimulatorError("n_devices must not be negative")
    names = profiles.names()
    if not names:
        raise SimulatorError("no device profiles to simulate")
    areas = tuple(districts) if districts is not None else default_districts(center)
    if not areas:
        raise SimulatorError("at least one district is needed")
    rng = np.random.default_rng([seed, 0x5117])
    tenant = str(uuid.UUID(bytes=rng.bytes(16), version=4))
    cs_apps = {n: str(uuid.UUID(bytes=rng.bytes(16), version=4)) for n in names}
    counts = profile_mix(names, n_devices)
    devices: list[SimDevice] = []
    euis: set[str] = set()
    for profile_name in names:
        profile = profiles.get(profile_name)
        mix = format_mix(profile_name, profile.default_format)
        has_codec = profile.codec is not None
        for number in range(1, counts[profile_name] + 1):
            area = areas[int(rng.integers(len(areas)))]
            m_per_deg_lon = M_PER_DEG_LAT * math.cos(math.radians(area.lat))
            north, east = rng.uniform(-area.half_size_m, area.half_size_m, 2)
            fmt = pick(rng, mix)
            interval = profile.reporting_interval_s * float(
                rng.uniform(1 - INTERVAL_JITTER, 1 + INTERVAL_JITTER)
            )
            device_id = f"{id_prefix(profile_name)}-{number:04d}"
            dev_eui = app = None
            if fmt in LORAWAN_FORMATS:
                dev_eui = _new_eui(rng, euis)
                app = f"city-{profile_name.replace('_', '-')}" if fmt == "ttn" else None
                app = app or cs_apps[profile_name]
            devices.append(
                SimDevice(
                    id=device_id,
                    profile=profile_name,
                    district=area.name,
                    lat=round(area.lat + float(north) / M_PER_DEG_LAT, 6),
                    lon=round(area.lon + float(east) / m_per_deg_lon, 6),
                    fmt=fmt,
                    interval_s=round(interval, 1),
                    phase_s=round(float(rng.uniform(0, interval)), 1),
                    index=len(devices),
                    key=int(rng.integers(2**63)),
                    binary=fmt in LORAWAN_FORMATS and has_codec,
                    dev_eui=dev_eui,
                    application_id=app,
                    name=f"{profile.title} {number} ({area.name})",
                )
            )
    return Fleet(tuple(devices), seed, center, areas, tenant, profiles)


def _new_eui(rng: np.random.Generator, seen: set[str]) -> str:
    while True:
        eui = "a84041" + rng.bytes(5).hex()  # a LoRaWAN vendor OUI, then the serial
        if eui not in seen:
            seen.add(eui)
            return eui
