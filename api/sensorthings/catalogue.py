"""What SensorThings derives from the device profiles: one Sensor per profile, one
ObservedProperty per metric name, a Datastream per (device, profile metric).

Queries see this catalogue as three common table expressions (``sta_pm``, ``sta_sensors``,
``sta_props``) over ``sensorthings_catalogue_*``, where each process stores its catalogue
on first use under a version hashed from its content: every process answers from the
profiles it loaded, by binding one value. Sensor ids are kept in ``sensorthings_sensors``
(a profile gets its id once, on first use).
"""

from __future__ import annotations

import asyncio
import hashlib
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


# One catalogue table: its CTE name, its columns, and per column the values with their
# SQL array type and the cast applied after binding. Stored once per process in
# ``sensorthings_catalogue_*`` (ingest/sql/0010), read back by version.
_Column = tuple[str, list[object], str, str]
_JSONB = "::jsonb[]"


@dataclass(frozen=True, slots=True)
class _CteTemplate:
    name: str
    columns: tuple[_Column, ...]

    @property
    def table(self) -> str:
        return "sensorthings_catalogue_" + self.name.removeprefix("sta_")

    def sql(self, params: Params, version: str) -> str:
        names = ", ".join(c for c, _, _, _ in self.columns)
        return (
            f"{self.name} AS (SELECT {names} FROM {self.table} "  # noqa: S608 - constant names, bound value
            f"WHERE version = {params.add(version, 'text')})"
        )

    async def store(self, conn: Conn, version: str) -> None:
        params = Params()
        v = params.add(version, "text")
        arrays = ", ".join(f"{params.add(x, t)}{cast}" for _, x, t, cast in self.columns)
        names = ", ".join(c for c, _, _, _ in self.columns)
        await conn.execute(
            f"INSERT INTO {self.table} (version, {names}) "  # noqa: S608 - constant names, bound values
            f"SELECT {v}, * FROM unnest({arrays}) ON CONFLICT DO NOTHING",
            *params.values,
        )


def _version(templates: tuple[_CteTemplate, ...]) -> str:
    digest = hashlib.sha256()
    for t in templates:
        digest.update(repr((t.name, t.columns)).encode())
    return digest.hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Profiles, metrics and sensor ids, ready to bind into queries."""

    entries: tuple[MetricEntry, ...]
    sensors: dict[str, int]  # profile -> sensor id
    by_key: dict[tuple[str, int], MetricEntry]  # (profile, metric id) -> entry
    profiles: ProfileRegistry
    # The catalogue tables, built once: the profiles do not change while a process runs.
    templates: tuple[_CteTemplate, ...] = ()
    version: str = ""  # under which :meth:`store` keeps them

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
        templates = _templates(tuple(entries), sensors, profiles)
        return cls(tuple(entries), dict(sensors), by_key, profiles, templates, _version(templates))

    def entry(self, profile: str, metric_id: int) -> MetricEntry | None:
        """The Datastream template of a profile's metric, if the profile has it."""
        return self.by_key.get((profile, metric_id))

    def cte(self, params: Params, body: str | None = None) -> str:
        """``sta_pm``, ``sta_sensors`` and ``sta_props`` as CTE text (reading this
        process's stored version); only those ``body`` names when it is given."""
        return ", ".join(
            t.sql(params, self.version) for t in self.templates if body is None or t.name in body
        )

    async def store(self, conn: Conn) -> None:
        """Store the catalogue under its version (nothing when it is there already)."""
        async with conn.transaction():
            for t in self.templates:
                await t.store(conn, self.version)


def _templates(
    e: tuple[MetricEntry, ...], sensors: dict[str, int], profiles: ProfileRegistry
) -> tuple[_CteTemplate, ...]:
    plist = list(profiles)
    props = _props(e, profiles)
    return (
        _CteTemplate(
            "sta_pm",
            (
                ("profile", [x.profile for x in e], "text[]", ""),
                ("metric", [x.metric for x in e], "text[]", ""),
                ("metric_id", [x.metric_id for x in e], "int2[]", ""),
                ("sensor_id", [x.sensor_id for x in e], "int4[]", ""),
                ("description", [x.description for x in e], "text[]", ""),
                ("observation_type", [x.observation_type for x in e], "text[]", ""),
                ("uom", [_uom(x) for x in e], "text[]", _JSONB),
                ("props", [_ds_props(x) for x in e], "text[]", _JSONB),
            ),
        ),
        _CteTemplate(
            "sta_sensors",
            (
                ("sensor_id", [sensors[p.name] for p in plist], "int4[]", ""),
                ("profile", [p.name for p in plist], "text[]", ""),
                ("name", [p.title for p in plist], "text[]", ""),
                ("description", [p.description or p.title for p in plist], "text[]", ""),
                ("metadata", [_sensor_meta(profiles, p.name) for p in plist], "text[]", _JSONB),
            ),
        ),
        _CteTemplate(
            "sta_props",
            (
                ("metric_id", [p[0] for p in props], "int2[]", ""),
                ("name", [p[1] for p in props], "text[]", ""),
                ("description", [p[2] for p in props], "text[]", ""),
                ("props", [p[3] for p in props], "text[]", _JSONB),
            ),
        ),
    )


def _uom(e: MetricEntry) -> str:
    return json.dumps(
        {
            "name": e.unit_name,
            "symbol": e.unit_symbol,
            "definition": unit_definition(e.unit_code) if e.unit_code else None,
        }
    )


def _ds_props(e: MetricEntry) -> str:
    props: dict[str, object] = {"metric": e.metric, "profile": e.profile}
    if e.unit_code:
        props["unitCode"] = e.unit_code
    if e.states is not None:
        props["states"] = list(e.states)
    else:
        props["min"], props["max"] = e.minimum, e.maximum
    return json.dumps(props)


def _sensor_meta(profiles: ProfileRegistry, profile: str) -> str:
    p = profiles.get(profile)
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


def _props(
    entries: tuple[MetricEntry, ...], profiles: ProfileRegistry
) -> list[tuple[int, str, str, str]]:
    seen: dict[int, list[MetricEntry]] = {}
    for e in entries:
        seen.setdefault(e.metric_id, []).append(e)
    out = []
    for mid, group in sorted(seen.items()):
        first = group[0]
        models = sorted({profiles.get(g.profile).smart_data_model for g in group})
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
                catalogue = Catalogue.build(self._profiles, self._metric_ids, sensors)
                await catalogue.store(conn)
                self._catalogue = catalogue
            return self._catalogue
