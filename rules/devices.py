"""What the rules engine knows of devices: enough to resolve scopes (profile, id,
district, tags, location) and to name alarm subjects. Loaded from the database and
kept current by the ``citygate_devices`` notifications."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ingest.db import Conn

from .model import Scope

__all__ = ["DeviceInfo", "DeviceTable", "in_polygon", "load_devices"]


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One registered device."""

    device_key: int
    id: str
    profile: str
    district: str | None = None
    tags: tuple[str, ...] = ()
    lat: float | None = None
    lon: float | None = None
    enabled: bool = True


def in_polygon(lon: float, lat: float, polygon: Sequence[tuple[float, float]]) -> bool:
    """Ray casting: is (lon, lat) inside the polygon (lon/lat pairs, closed or not)?"""
    inside = False
    n = len(polygon)
    j = n - 1
    for i in range(n):
        xi, yi = polygon[i]
        xj, yj = polygon[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


class DeviceTable:
    """Devices by key, with numpy lookups for the per-reading paths."""

    def __init__(self, devices: Iterable[DeviceInfo]) -> None:
        self.by_key: dict[int, DeviceInfo] = {d.device_key: d for d in devices}
        self.by_id: dict[str, DeviceInfo] = {d.id: d for d in self.by_key.values()}
        keys = sorted(self.by_key)
        self.keys: npt.NDArray[np.int64] = np.asarray(keys, np.int64)
        self.lat: npt.NDArray[np.float64] = np.asarray(
            [_nan(self.by_key[k].lat) for k in keys], np.float64
        )
        self.lon: npt.NDArray[np.float64] = np.asarray(
            [_nan(self.by_key[k].lon) for k in keys], np.float64
        )

    def __len__(self) -> int:
        return len(self.by_key)

    def position(self, device_keys: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Index of each key in :attr:`keys` (keys must be known)."""
        return np.searchsorted(self.keys, device_keys).astype(np.int64)

    def matching(self, scope: Scope) -> list[DeviceInfo]:
        """The enabled devices a scope selects, in key order."""
        out = []
        ids = set(scope.devices) if scope.devices is not None else None
        districts = set(scope.districts) if scope.districts is not None else None
        tags = set(scope.tags) if scope.tags is not None else None
        for key in self.keys.tolist():
            d = self.by_key[key]
            if not d.enabled:
                continue
            if scope.profile is not None and d.profile != scope.profile:
                continue
            if ids is not None and d.id not in ids:
                continue
            if districts is not None and d.district not in districts:
                continue
            if tags is not None and not tags.intersection(d.tags):
                continue
            if scope.polygon is not None and (
                d.lat is None or d.lon is None or not in_polygon(d.lon, d.lat, scope.polygon)
            ):
                continue
            out.append(d)
        return out


def _nan(x: float | None) -> float:
    return float("nan") if x is None else x


async def load_devices(conn: Conn) -> DeviceTable:
    """Every registered device."""
    rows = await conn.fetch(
        "SELECT device_key, id, profile, district, tags, enabled, "
        "ST_Y(location) AS lat, ST_X(location) AS lon FROM devices"
    )
    return DeviceTable(
        DeviceInfo(
            r["device_key"],
            r["id"],
            r["profile"],
            r["district"],
            tuple(r["tags"] or ()),
            r["lat"],
            r["lon"],
            r["enabled"],
        )
        for r in rows
    )
