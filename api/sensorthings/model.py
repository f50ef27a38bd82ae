"""The SensorThings entity types over citygate's tables: for each, the SQL it is read
from, its properties (as SQL over an alias), its key columns and its navigation
properties (as joins between a parent and a child alias).

Every SQL fragment here is a constant; ``{a}`` stands for the entity's alias. The names
in these tables are the whitelist that ``$filter``, ``$select``, ``$orderby`` and
``$expand`` are checked against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["ENTITIES", "SETS", "UNKNOWN", "Entity", "Nav", "Prop", "Side", "column_type"]


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: object = _Unknown()


class Side:
    """One end of a join: SQL for a column, and the value when it is known (bound)."""

    def __init__(
        self,
        alias: str,
        known: dict[str, object] | None = None,
        bind: Callable[..., str] | None = None,
    ) -> None:
        self.alias = alias
        self._known = known or {}
        self._bind = bind

    def col(self, name: str, sql_type: str = "") -> str:
        """SQL for column ``name``: ``alias.name``, or a bound value when known."""
        if name in self._known and self._bind is not None:
            return self._bind(self._known[name], sql_type or _COLUMN_TYPES[name])
        return f"{self.alias}.{name}"

    def known(self, name: str) -> object:
        """The column's value when bound, else :data:`UNKNOWN`."""
        return self._known.get(name, UNKNOWN) if self._bind is not None else UNKNOWN


_COLUMN_TYPES = {
    "device_key": "int4",
    "metric_id": "int2",
    "sensor_id": "int4",
    "id": "int8",
    "time": "timestamptz",
    "current": "bool",
    "is_first": "bool",
    "valid_until": "timestamptz",
}


def column_type(name: str) -> str:
    """The SQL type of a key or join column."""
    return _COLUMN_TYPES[name]


@dataclass(frozen=True, slots=True)
class Prop:
    """A property: ``sql`` for filtering and ordering, ``out`` for the response."""

    name: str
    sql: str
    kind: str  # number, text, time, json, geo, result
    out: str | None = None


Extra = Callable[[Side, Side], str]  # (parent, child) -> extra SQL condition


@dataclass(frozen=True, slots=True)
class Nav:
    """A navigation property: child rows match ``pairs`` (child col, parent col)."""

    name: str
    target: str
    many: bool
    pairs: tuple[tuple[str, str], ...]
    extra: Extra | None = None
    parent_cols: tuple[str, ...] = ()  # parent columns ``extra`` reads


@dataclass(frozen=True, slots=True)
class Entity:
    """An entity type."""

    name: str
    set_name: str
    source: str
    keys: tuple[tuple[str, str], ...]  # (column, SQL type): identify a row
    props: dict[str, Prop]
    navs: dict[str, Nav] = field(default_factory=dict)
    order: tuple[tuple[str, bool], ...] = ()  # default order: (column, descending)
    string_id: bool = False

    @property
    def ident(self) -> tuple[str, ...]:
        """The key columns that identify a row (the rest travel along for joins)."""
        if self.name == "Datastream":
            return ("device_key", "metric_id")
        if self.name == "Observation":
            return ("device_key", "metric_id", "time")
        return (self.keys[0][0],)

    def prop(self, name: str) -> Prop | None:
        """The property called ``name`` (``id`` included)."""
        return self.props.get(name)


def _fold_and(*parts: str) -> str:
    kept = [p for p in parts if p and p != "true"]
    return " AND ".join(kept) if kept else "true"


def _current_child(p: Side, c: Side) -> str:
    return f"{c.col('current')}"


def _current_parent(p: Side, c: Side) -> str:
    known = p.known("current")
    if known is True:
        return "true"
    if known is False:
        return "false"
    return p.col("current")


def _foi_of_observation(p: Side, c: Side) -> str:
    # c: FeatureOfInterest (a location_history row), p: Observation.
    t = p.col("time")
    return (
        f"({c.col('is_first')} OR {c.col('time')} <= {t}) "
        f"AND ({c.col('valid_until')} IS NULL OR {c.col('valid_until')} > {t})"
    )


def _observations_of_foi(p: Side, c: Side) -> str:
    # p: FeatureOfInterest, c: Observation. Folded when p is known, so that the time
    # bounds reach readings.time as plain comparisons (chunk exclusion). Parameters are
    # bound only for the parts that stay in the SQL.
    t = c.col("time")
    first = p.known("is_first")
    if first is True:
        lower = "true"
    elif first is False:
        lower = f"{t} >= {p.col('time')}"
    else:
        lower = f"({p.col('is_first')} OR {t} >= {p.col('time')})"
    until = p.known("valid_until")
    if until is None:
        upper = "true"
    elif until is UNKNOWN:
        upper = f"({p.col('valid_until')} IS NULL OR {t} < {p.col('valid_until')})"
    else:
        upper = f"{t} < {p.col('valid_until')}"
    return _fold_and(lower, upper)


def _has_readings(p: Side, c: Side) -> str:
    # ``latest`` holds every (device, metric) that has a stored reading: a Datastream
    # without one is answered from it, instead of scanning the device's whole history
    # for a metric it never reported.
    return (
        f"EXISTS (SELECT 1 FROM latest l WHERE l.device_key = {p.col('device_key')} "  # noqa: S608
        f"AND {p.col('metric_id')} = ANY (l.metric_ids))"
    )


_DEVICE_NAME = "CASE WHEN {a}.device_name = '' THEN {a}.device_id ELSE {a}.device_name END"
_LOC_SOURCE = (
    "(SELECT h.id, h.device_key, h.time, h.location, h.name, h.description, h.current, "
    "d.id AS device_id, d.name AS device_name, "
    "(SELECT min(n.time) FROM location_history n "
    " WHERE n.device_key = h.device_key AND n.time > h.time) AS valid_until, "
    "NOT EXISTS (SELECT 1 FROM location_history e "
    " WHERE e.device_key = h.device_key AND e.time < h.time) AS is_first "
    "FROM location_history h JOIN devices d ON d.device_key = h.device_key) {a}"
)
_GEOJSON = "application/geo+json"
_DK = (("device_key", "device_key"),)
_DS_OBS = (("device_key", "device_key"), ("metric_id", "metric_id"))
_LOC_KEYS = (
    ("id", "int8"),
    ("device_key", "int4"),
    ("current", "bool"),
    ("time", "timestamptz"),
    ("is_first", "bool"),
    ("valid_until", "timestamptz"),
)

THING = Entity(
    "Thing",
    "Things",
    "devices {a}",
    (("device_key", "int4"),),
    {
        "id": Prop("id", "{a}.device_key", "number"),
        "name": Prop("name", "CASE WHEN {a}.name = '' THEN {a}.id ELSE {a}.name END", "text"),
        "description": Prop(
            "description",
            "coalesce({a}.attributes->>'description', "
            "(SELECT s.name FROM sta_sensors s WHERE s.profile = {a}.profile) || ' ' || {a}.id, "
            "{a}.id)",
            "text",
        ),
        "properties": Prop(
            "properties",
            "jsonb_strip_nulls(({a}.attributes - 'description') || jsonb_build_object("
            "'deviceId', {a}.id, 'profile', {a}.profile, 'district', {a}.district, "
            "'tags', to_jsonb({a}.tags), 'status', {a}.status, 'lastSeen', {a}.last_seen, "
            "'enabled', {a}.enabled))",
            "json",
        ),
    },
    {
        "Locations": Nav("Locations", "Location", True, _DK, _current_child),
        "HistoricalLocations": Nav("HistoricalLocations", "HistoricalLocation", True, _DK),
        "Datastreams": Nav("Datastreams", "Datastream", True, _DK),
    },
    (("device_key", False),),
)

LOCATION = Entity(
    "Location",
    "Locations",
    _LOC_SOURCE,
    _LOC_KEYS,
    {
        "id": Prop("id", "{a}.id", "number"),
        "name": Prop("name", "coalesce({a}.name, " + _DEVICE_NAME + ")", "text"),
        "description": Prop(
            "description",
            "coalesce({a}.description, 'Location of device ' || {a}.device_id)",
            "text",
        ),
        "encodingType": Prop("encodingType", f"'{_GEOJSON}'::text", "text"),
        "location": Prop("location", "{a}.location", "geo", "ST_AsGeoJSON({a}.location)"),
        "properties": Prop(
            "properties",
            "jsonb_build_object('deviceId', {a}.device_id, 'since', {a}.time, "
            "'current', {a}.current)",
            "json",
        ),
    },
    {
        "Things": Nav("Things", "Thing", True, _DK, _current_parent, ("current",)),
        "HistoricalLocations": Nav(
            "HistoricalLocations", "HistoricalLocation", True, (("id", "id"),)
        ),
    },
    (("id", False),),
)

HISTORICAL_LOCATION = Entity(
    "HistoricalLocation",
    "HistoricalLocations",
    _LOC_SOURCE,
    _LOC_KEYS,
    {
        "id": Prop("id", "{a}.id", "number"),
        "time": Prop("time", "{a}.time", "time"),
    },
    {
        "Thing": Nav("Thing", "Thing", False, _DK),
        "Locations": Nav("Locations", "Location", True, (("id", "id"),)),
    },
    (("id", False),),
)

FEATURE = Entity(
    "FeatureOfInterest",
    "FeaturesOfInterest",
    _LOC_SOURCE,
    _LOC_KEYS,
    {
        "id": Prop("id", "{a}.id", "number"),
        "name": Prop("name", "coalesce({a}.name, " + _DEVICE_NAME + ")", "text"),
        "description": Prop(
            "description",
            "coalesce({a}.description, 'Surroundings of device ' || {a}.device_id)",
            "text",
        ),
        "encodingType": Prop("encodingType", f"'{_GEOJSON}'::text", "text"),
        "feature": Prop("feature", "{a}.location", "geo", "ST_AsGeoJSON({a}.location)"),
        "properties": Prop(
            "properties",
            "jsonb_strip_nulls(jsonb_build_object('deviceId', {a}.device_id, "
            "'validFrom', CASE WHEN NOT {a}.is_first THEN {a}.time END, "
            "'validUntil', {a}.valid_until))",
            "json",
        ),
    },
    {
        "Observations": Nav(
            "Observations",
            "Observation",
            True,
            _DK,
            _observations_of_foi,
            ("time", "is_first", "valid_until"),
        ),
    },
    (("id", False),),
)

SENSOR = Entity(
    "Sensor",
    "Sensors",
    "sta_sensors {a}",
    (("sensor_id", "int4"),),
    {
        "id": Prop("id", "{a}.sensor_id", "number"),
        "name": Prop("name", "{a}.name", "text"),
        "description": Prop("description", "{a}.description", "text"),
        "encodingType": Prop("encodingType", "'application/json'::text", "text"),
        "metadata": Prop("metadata", "{a}.metadata", "json"),
        "properties": Prop("properties", "jsonb_build_object('profile', {a}.profile)", "json"),
    },
    {"Datastreams": Nav("Datastreams", "Datastream", True, (("sensor_id", "sensor_id"),))},
    (("sensor_id", False),),
)

OBSERVED_PROPERTY = Entity(
    "ObservedProperty",
    "ObservedProperties",
    "sta_props {a}",
    (("metric_id", "int2"),),
    {
        "id": Prop("id", "{a}.metric_id", "number"),
        "name": Prop("name", "{a}.name", "text"),
        "definition": Prop("definition", "'https://smartdatamodels.org/' || {a}.name", "text"),
        "description": Prop("description", "{a}.description", "text"),
        "properties": Prop("properties", "{a}.props", "json"),
    },
    {"Datastreams": Nav("Datastreams", "Datastream", True, (("metric_id", "metric_id"),))},
    (("metric_id", False),),
)

DATASTREAM = Entity(
    "Datastream",
    "Datastreams",
    "(SELECT d.device_key, d.id AS device_id, d.name AS device_name, pm.* "
    "FROM devices d JOIN sta_pm pm ON pm.profile = d.profile) {a}",
    (("device_key", "int4"), ("metric_id", "int2"), ("sensor_id", "int4")),
    {
        "id": Prop("id", "({a}.device_key::int8 * 100000 + {a}.metric_id)", "number"),
        "name": Prop("name", "(" + _DEVICE_NAME + ") || ' ' || {a}.metric", "text"),
        "description": Prop("description", "{a}.description", "text"),
        "observationType": Prop("observationType", "{a}.observation_type", "text"),
        "unitOfMeasurement": Prop("unitOfMeasurement", "{a}.uom", "json"),
        "properties": Prop(
            "properties", "{a}.props || jsonb_build_object('deviceId', {a}.device_id)", "json"
        ),
    },
    {
        "Thing": Nav("Thing", "Thing", False, _DK),
        "Sensor": Nav("Sensor", "Sensor", False, (("sensor_id", "sensor_id"),)),
        "ObservedProperty": Nav(
            "ObservedProperty", "ObservedProperty", False, (("metric_id", "metric_id"),)
        ),
        "Observations": Nav("Observations", "Observation", True, _DS_OBS, _has_readings),
    },
    (("device_key", False), ("metric_id", False)),
)

OBSERVATION = Entity(
    "Observation",
    "Observations",
    "reading_values {a}",
    (("device_key", "int4"), ("metric_id", "int2"), ("time", "timestamptz")),
    {
        "id": Prop(
            "id",
            "(({a}.device_key::int8 * 100000 + {a}.metric_id)::text || '-' || "
            "((extract(epoch FROM {a}.time) * 1000000)::int8)::text)",
            "text",
        ),
        "phenomenonTime": Prop("phenomenonTime", "{a}.time", "time"),
        "resultTime": Prop("resultTime", "{a}.time", "time"),
        "result": Prop("result", "{a}.value", "result"),
        "parameters": Prop(
            "parameters", "jsonb_build_object('receivedAt', {a}.received_at)", "json"
        ),
    },
    {
        "Datastream": Nav("Datastream", "Datastream", False, _DS_OBS),
        "FeatureOfInterest": Nav(
            "FeatureOfInterest", "FeatureOfInterest", False, _DK, _foi_of_observation, ("time",)
        ),
    },
    (("time", True), ("device_key", True), ("metric_id", True)),
    string_id=True,
)

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        THING,
        LOCATION,
        HISTORICAL_LOCATION,
        DATASTREAM,
        SENSOR,
        OBSERVED_PROPERTY,
        OBSERVATION,
        FEATURE,
    )
}
SETS: dict[str, Entity] = {e.set_name: e for e in ENTITIES.values()}
