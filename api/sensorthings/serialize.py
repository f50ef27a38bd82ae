"""Rows -> SensorThings JSON: ``@iot.id``, absolute ``@iot.selfLink``, properties,
``<Nav>@iot.navigationLink``, and the dataArray form of Observations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

import orjson

from .ids import datastream_id, observation_id
from .model import Entity
from .timefmt import dt_to_us, iso

__all__ = [
    "DATA_ARRAY_COMPONENTS",
    "data_array",
    "entity_id",
    "entity_json",
    "id_text",
    "keys_of",
    "prop_value",
    "self_link",
]

DATA_ARRAY_COMPONENTS = ("id", "phenomenonTime", "resultTime", "result")


class Row(Protocol):
    """A result row (asyncpg Record): columns by name."""

    def __getitem__(self, key: str, /) -> Any: ...


def _int(value: object) -> int:
    assert isinstance(value, int)
    return value


def keys_of(entity: Entity, row: Row) -> dict[str, object]:
    """The key columns of a row (selected as ``k_<column>``)."""
    return {c: row[f"k_{c}"] for c, _ in entity.keys}


def entity_id(entity: Entity, keys: Mapping[str, object]) -> int | str:
    """The ``@iot.id`` of the entity with these key columns."""
    name = entity.name
    if name == "Observation":
        t = keys["time"]
        assert isinstance(t, datetime)
        return observation_id(_int(keys["device_key"]), _int(keys["metric_id"]), dt_to_us(t))
    if name == "Datastream":
        return datastream_id(_int(keys["device_key"]), _int(keys["metric_id"]))
    return _int(keys[entity.keys[0][0]])


def id_text(value: int | str) -> str:
    """How an id appears in a URL: ``5`` or ``'300007-1714557600000000'``."""
    return f"'{value}'" if isinstance(value, str) else str(value)


def self_link(base: str, entity: Entity, ident: int | str) -> str:
    """The absolute URL of an entity."""
    return f"{base}/{entity.set_name}({id_text(ident)})"


# An Observation's phenomenonTime and resultTime are one value, and neighbouring pages
# share times: formatting each distinct time once saves most of the formatting.
_iso = lru_cache(maxsize=4096)(iso)


def prop_value(entity: Entity, name: str, row: Row) -> object:
    """A property's JSON value from a row."""
    if name == "id":
        return entity_id(entity, keys_of(entity, row))
    prop = entity.props[name]
    if prop.kind == "result":
        state = row["r_state"]
        return state if state is not None else row["r_value"]
    value = row[f"p_{name}"]
    if value is None:
        return None
    if prop.kind == "time":
        return _iso(value)
    if prop.kind in ("json", "geo"):
        return orjson.loads(value)
    return value


def entity_json(
    entity: Entity,
    row: Row,
    base: str,
    select: Sequence[str] | None,
    expanded: Mapping[str, object],
) -> dict[str, object]:
    """One entity as JSON; ``expanded`` holds the expanded navigation properties (and
    their ``@iot.count``/``@iot.nextLink`` annotations)."""
    ident = entity_id(entity, keys_of(entity, row))
    link = self_link(base, entity, ident)
    out: dict[str, object] = {}
    if select is None or "id" in select:
        out["@iot.id"] = ident
        out["@iot.selfLink"] = link
    for name in entity.props:
        if name == "id" or (select is not None and name not in select):
            continue
        value = prop_value(entity, name, row)
        if value is not None or name not in _OPTIONAL:
            out[name] = value
    for nav in entity.navs:
        if nav in expanded:
            continue
        if select is None or nav in select:
            out[f"{nav}@iot.navigationLink"] = f"{link}/{nav}"
    out.update(expanded)
    return out


_OPTIONAL = frozenset({"parameters", "properties", "resultQuality", "validTime"})


def data_array(
    entity: Entity, rows: Sequence[Row], base: str, components: Sequence[str]
) -> list[dict[str, object]]:
    """Observations grouped by Datastream, each group as components + dataArray."""
    groups: dict[int, list[list[object]]] = {}
    for row in rows:
        ds = datastream_id(row["k_device_key"], row["k_metric_id"])
        groups.setdefault(ds, []).append([prop_value(entity, c, row) for c in components])
    return [
        {
            "Datastream@iot.navigationLink": f"{base}/Datastreams({ds})",
            "components": list(components),
            "dataArray@iot.count": len(items),
            "dataArray": items,
        }
        for ds, items in groups.items()
    ]
