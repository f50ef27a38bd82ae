"""What SensorThings derives from the device profiles: one Sensor per profile, one
ObservedProperty per metric name, a Datastream per (device, profile metric).

Queries see this catalogue as three common table expressions (``sta_pm``, ``sta_sensors``,
``sta_props``) built from bound arrays, so every process answers from the profiles it
loaded, and the database needs no copy of them. Sensor ids are kept in
``sensorthings_sensors`` (a profile gets its id once, on first use).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from device_profiles import ProfileRegistry, get_unit
from ingest.db import Conn

from .sqlparams import Params

__all__ = [
    "CATEGORY",
    "MEASUREMENT",
    "Catalogue",
    "CatalogueCache",
    "MetricEntry",
    "observed_property_definition",
    "unit_definition",
]

MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
CATEGORY = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_CategoryObservation"


def unit_definition(code: str) -> str:
    """A URN naming a UN/CEFACT Recommendation 20 common code."""
    return f"urn:un:unece:uncefact:rec20:{code}"


def observed_property_definition(metric: str) -> str:
    """The FIWARE Smart Data Models term of a metric name."""
    return f"https://smartdatamodels.org/{metric}"


@dataclass(frozen=True, slots=True)
class MetricEntry:
    """One metric of one profile, as a Datastream template."""

    profile: str
    metric: str
    metric_id: int
    sensor_id: int
    description: str
    unit_code: str | None
    unit_name: str | None
    unit_symbol: str | None
    observation_type: str
    states: tuple[str, ...] | None
    minimum: float | None
    maximum: float | None


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Profiles, metrics and sensor ids, ready to bind into queries."""

    entries: tuple[MetricEntry, ...]
    sensors: dict[str, int]  # profile -> sensor id
    by_key: dict[tuple[str, int], MetricEntry]  # (profile, metric id) -> entry
    profiles: ProfileRegistry

    @classmethod
    def build(
        cls, profiles: ProfileRegistry, metric_ids: dict[str, int], sensors: dict[str, int]
    ) -> Catalogue:
        """From the loaded profiles, the metric catalogue and the stored sensor ids."""
        entries: list[MetricEntry] = []
        for p in profiles:
            for name, spec in p.metrics.items():
                if name not in metric_ids:
                    continue
                unit = get_unit(spec.unit) if spec.unit else None
                entries.append(
                    MetricEntry(
                        profile=p.name,
                        metric=name,
                        metric_id=metric_ids[name],
                        sensor_id=sensors[p.name],
                        description=spec.description or name,
                        unit_code=spec.unit,
                        unit_name=unit.name if unit else None,
                        unit_symbol=unit.symbol if unit else None,
                        observation_type=CATEGORY if spec.states else MEASUREMENT,
                        states=tuple(spec.states) if spec.states else None,
                        minimum=spec.min,
                        maximum=spec.max,
                    )
                )
        by_key = {(e.profile, e.metric_id): e for e in entries}
        return cls(tuple(entries), dict(sensors), by_key, profiles)

    def entry(self, profile: str, metric_id: int) -> MetricEntry | None:
        """The Datastream template of a profile's metric, if the profile has it."""
        return self.by_key.get((profile, metric_id))

    def cte(self, params: Params) -> str:
        """``sta_pm``, ``sta_sensors`` and ``sta_props`` as CTE text (values bound)."""
        e = self.entries
        pm = (
            "sta_pm AS (SELECT * FROM unnest("  # noqa: S608 - bound values
            f"{params.add([x.profile for x in e], 'text[]')}, "
            f"{params.add([x.metric for x in e], 'text[]')}, "
            f"{params.add([x.metric_id for x in e], 'int2[]')}, "
            f"{params.add([x.sensor_id for x in e], 'int4[]')}, "
            f"{params.add([x.description for x in e], 'text[]')}, "
            f"{params.add([x.observation_type for x in e], 'text[]')}, "
            f"{params.add([self._uom(x) for x in e], 'text[]')}::jsonb[], "
            f"{params.add([self._ds_props(x) for x in e], 'text[]')}::jsonb[]"
            ") AS t(profile, metric, metric_id, sensor_id, description, observation_type, "
            "uom, props))"
        )
        plist = list(self.profiles)
        sensors = (
            "sta_sensors AS (SELECT * FROM unnest("  # noqa: S608 - bound values
            f"{params.add([self.sensors[p.name] for p in plist], 'int4[]')}, "
            f"{params.add([p.name for p in plist], 'text[]')}, "
            f"{params.add([p.title for p in plist], 'text[]')}, "
            f"{params.add([p.description or p.title for p in plist], 'text[]')}, "
            f"{params.add([self._sensor_meta(p.name) for p in plist], 'text[]')}::jsonb[]"
            ") AS t(sensor_id, profile, name, description, metadata))"
        )
        props = self._props()
        op = (
            "sta_props AS (SELECT * FROM unnest("  # noqa: S608 - bound values
            f"{params.add([p[0] for p in props], 'int2[]')}, "
            f"{params.add([p[1] for p in props], 'text[]')}, "
            f"{params.add([p[2] for p in props], 'text[]')}, "
            f"{params.add([p[3] for p in props], 'text[]')}::jsonb[]"
            ") AS t(metric_id, name, description, props))"
        )
        return f"{pm}, {sensors}, {op}"

    @staticmethod
    def _uom(e: MetricEntry) -> str:
        return json.dumps(
            {
                "name": e.unit_name,
                "symbol": e.unit_symbol,
                "definition": unit_definition(e.unit_code) if e.unit_code else None,
            }
        )

    @staticmethod
    def _ds_props(e: MetricEntry) -> str:
        props: dict[str, object] = {"metric": e.metric, "profile": e.profile}
        if e.unit_code:
            props["unitCode"] = e.unit_code
        if e.states is not None:
            props["states"] = list(e.states)
        else:
            props["min"], props["max"] = e.minimum, e.maximum
        return json.dumps(props)

    def _sensor_meta(self, profile: str) -> str:
        p = self.profiles.get(profile)
        return json.dumps(
            {
                "profile": p.name,
                "smartDataModel": p.smart_data_model,
                "reportingIntervalSeconds": p.reporting_interval_s,
                "metrics": {
                    name: {
                        k: v
                        for k, v in spec.model_dump(mode="json").items()
                        if v is not None and v != ""
                    }
                    for name, spec in p.metrics.items()
                },
            }
        )

    def _props(self) -> list[tuple[int, str, str, str]]:
        seen: dict[int, list[MetricEntry]] = {}
        for e in self.entries:
            seen.setdefault(e.metric_id, []).append(e)
        out = []
        for mid, group in sorted(seen.items()):
            first = group[0]
            models = sorted({self.profiles.get(g.profile).smart_data_model for g in group})
            props = {"profiles": sorted({g.profile for g in group}), "smartDataModels": models}
            out.append((mid, first.metric, first.description, json.dumps(props)))
        return out


class CatalogueCache:
    """Builds the catalogue once per process (registering sensor ids on first use)."""

    def __init__(self, profiles: ProfileRegistry, metric_ids: dict[str, int]) -> None:
        self._profiles = profiles
        self._metric_ids = metric_ids
        self._catalogue: Catalogue | None = None
        self._lock = asyncio.Lock()

    async def get(self, conn: Conn) -> Catalogue:
        """The catalogue (one database round trip the first time)."""
        if self._catalogue is not None:
            return self._catalogue
        async with self._lock:
            if self._catalogue is None:
                names = list(self._profiles.names())
                await conn.execute(
                    "INSERT INTO sensorthings_sensors (profile) SELECT p FROM unnest($1::text[]) p "
                    "WHERE NOT EXISTS (SELECT 1 FROM sensorthings_sensors s WHERE s.profile = p) "
                    "ORDER BY p ON CONFLICT (profile) DO NOTHING",
                    names,
                )
                rows = await conn.fetch(
                    "SELECT profile, sensor_id FROM sensorthings_sensors "
                    "WHERE profile = ANY ($1::text[])",
                    names,
                )
                sensors = {str(r["profile"]): int(r["sensor_id"]) for r in rows}
                self._catalogue = Catalogue.build(self._profiles, self._metric_ids, sensors)
            return self._catalogue
