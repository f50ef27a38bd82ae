"""What the rules engine knows of devices: enough to resolve scopes (profile, id,
district, tags, location) and to name alarm subjects. Loaded from the database and
kept current by the ``citygate_devices`` notifications."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ingest.db import Conn

from ..definition.model import Scope

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
    """Devices by key, with numpy columns (in key order) for scopes and the per-reading
    paths."""

    def __init__(self, devices: Iterable[DeviceInfo]) -> None:
        self.by_key: dict[int, DeviceInfo] = {d.device_key: d for d in devices}
        self.by_id: dict[str, DeviceInfo] = {d.id: d for d in self.by_key.values()}
        keys = sorted(self.by_key)
        rows = [self.by_key[k] for k in keys]
        self.keys: npt.NDArray[np.int64] = np.asarray(keys, np.int64)
        self.lat: npt.NDArray[np.float64] = np.asarray([_nan(d.lat) for d in rows], np.float64)
        self.lon: npt.NDArray[np.float64] = np.asarray([_nan(d.lon) for d in rows], np.float64)
        self.enabled: npt.NDArray[np.bool_] = np.asarray([d.enabled for d in rows], np.bool_)
        self.profile_names = sorted({d.profile for d in rows})
        self.profile: npt.NDArray[np.int64] = np.asarray(
            [self.profile_names.index(d.profile) for d in rows], np.int64
        ) if rows else np.empty(0, np.int64)  # fmt: skip
        self._districts: dict[str | None, list[int]] = {}
        self._tags: dict[str, list[int]] = {}
        for i, d in enumerate(rows):
            self._districts.setdefault(d.district, []).append(i)
            for tag in d.tags:
                self._tags.setdefault(tag, []).append(i)
        self._index = {d.id: i for i, d in enumerate(rows)}

    def __len__(self) -> int:
        return len(self.by_key)

    def position(self, device_keys: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Index of each key in :attr:`keys` (keys must be known)."""
        return np.searchsorted(self.keys, device_keys).astype(np.int64)

    def select(self, scope: Scope) -> npt.NDArray[np.int64]:
        """Positions (in :attr:`keys`) of the enabled devices a scope selects."""
        mask = self.enabled.copy()
        if scope.profile is not None:
            code = (
                self.profile_names.index(scope.profile)
                if scope.profile in self.profile_names
                else -1
            )
            mask &= self.profile == code
        for chosen in (
            None if scope.devices is None else [self._index.get(i) for i in scope.devices],
            None
            if scope.districts is None
            else [p for d in scope.districts for p in self._districts.get(d, ())],
            None if scope.tags is None else [p for t in scope.tags for p in self._tags.get(t, ())],
        ):
            if chosen is not None:
                only = np.zeros(len(mask), np.bool_)
                only[[p for p in chosen if p is not None]] = True
                mask &= only
        if scope.polygon is not None:
            inside = np.zeros(len(mask), np.bool_)
            for p in np.flatnonzero(mask).tolist():
                lat, lon = self.lat[p], self.lon[p]
                inside[p] = bool(
                    not (np.isnan(lat) or np.isnan(lon))
                    and in_polygon(float(lon), float(lat), scope.polygon)
                )
            mask &= inside
        found: npt.NDArray[np.int64] = np.flatnonzero(mask).astype(np.int64)
        return found

    def matching(self, scope: Scope) -> list[DeviceInfo]:
        """The enabled devices a scope selects, in key order."""
        return [self.by_key[int(k)] for k in self.keys[self.select(scope)].tolist()]


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
