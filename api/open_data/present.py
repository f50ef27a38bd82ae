"""Stored rows -> the JSON and GeoJSON (RFC 7946) the open data API sends.

Built as plain dicts and serialised with orjson (times in UTC with ``Z``); the shapes are
those of ``api.open_data.models``. GeoJSON positions are ``[lon, lat]``; a device without
a location is a Feature with a null geometry (RFC 7946 section 3.2).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import orjson

from device_profiles import UNITS, Profile
from ingest.queries.open_data import DeviceInfo, DeviceLatest

__all__ = [
    "GEOJSON_COLLECTION_SCHEMA",
    "GEOJSON_FEATURE_SCHEMA",
    "device_admin_dict",
    "device_dict",
    "dumps",
    "feature",
    "feature_collection",
    "latest_dict",
    "profile_dict",
]

_OPTS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def dumps(data: object) -> bytes:
    """JSON bytes (UTC times with ``Z``)."""
    return orjson.dumps(data, option=_OPTS)


def device_dict(d: DeviceInfo) -> dict[str, Any]:
    """A device as ``DevicePublic``."""
    return {
        "id": d.id, "name": d.name, "profile": d.profile, "district": d.district,
        "lon": d.lon, "lat": d.lat, "tags": list(d.tags), "status": d.status,
        "last_seen": d.last_seen, "enabled": d.enabled,
    }  # fmt: skip


def device_admin_dict(d: DeviceInfo) -> dict[str, Any]:
    """A device as ``DeviceAdmin``."""
    return {
        **device_dict(d),
        "credentials_ref": d.credentials_ref,
        "attributes": orjson.loads(d.attributes),
        "created_at": d.created_at,
        "updated_at": d.updated_at,
    }


def feature(props: dict[str, Any], feature_id: str) -> dict[str, Any]:
    """A GeoJSON Feature from a dict with ``lon``/``lat`` (moved into the geometry)."""
    props = dict(props)
    lon, lat = props.pop("lon"), props.pop("lat")
    geometry = None if lon is None or lat is None else {"type": "Point", "coordinates": [lon, lat]}
    return {"type": "Feature", "id": feature_id, "geometry": geometry, "properties": props}


def feature_collection(
    features: list[dict[str, Any]], matched: int | None = None, next_url: str | None = None
) -> dict[str, Any]:
    """A FeatureCollection; ``numberMatched``/``links`` are foreign members (as in OGC API
    Features) for paging."""
    out: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    out["numberMatched"] = len(features) if matched is None else matched
    out["numberReturned"] = len(features)
    out["links"] = [] if next_url is None else [
        {"rel": "next", "href": next_url, "type": "application/geo+json"}
    ]  # fmt: skip
    return out


def latest_dict(
    row: DeviceLatest, names: Mapping[int, str], wanted: Collection[int] | None = None
) -> dict[str, Any]:
    """A device's latest readings as ``DeviceLatestPublic`` (only ``wanted`` metric ids)."""
    readings: dict[str, dict[str, Any]] = {}
    for i, mid in enumerate(row.metric_ids):
        if wanted is not None and mid not in wanted:
            continue
        name = names.get(mid)
        if name is None:
            continue
        reading: dict[str, Any] = {
            "value": row.values[i],
            "time": row.times[i] if row.times is not None else row.time,
        }
        state = row.states[i] if row.states is not None else None
        if state is not None:
            reading["state"] = state
        readings[name] = reading
    return {
        "id": row.id, "profile": row.profile, "district": row.district, "lon": row.lon,
        "lat": row.lat, "time": row.time, "readings": readings,
    }  # fmt: skip


def profile_dict(p: Profile) -> dict[str, Any]:
    """A profile as ``ProfilePublic``."""
    metrics = []
    for name, m in p.metrics.items():
        unit = UNITS.get(m.unit) if m.unit else None
        metrics.append(
            {
                "name": name,
                "type": m.type,
                "unit": m.unit,
                "unit_symbol": unit.symbol if unit else None,
                "unit_name": unit.name if unit else None,
                "min": m.min,
                "max": m.max,
                "states": list(m.states) if m.states is not None else None,
                "description": m.description,
            }
        )
    return {
        "name": p.name, "title": p.title, "description": p.description,
        "smart_data_model": p.smart_data_model,
        "reporting_interval_s": p.reporting_interval_s, "metrics": metrics,
    }  # fmt: skip


_POINT = {
    "type": "object",
    "required": ["type", "coordinates"],
    "properties": {
        "type": {"const": "Point"},
        "coordinates": {
            "type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 3,
        },
    },
}  # fmt: skip
GEOJSON_FEATURE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "geometry", "properties"],
    "properties": {
        "type": {"const": "Feature"},
        "id": {"type": "string"},
        "geometry": {"anyOf": [_POINT, {"type": "null"}]},
        "properties": {"type": "object"},
    },
}
GEOJSON_COLLECTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"const": "FeatureCollection"},
        "features": {"type": "array", "items": GEOJSON_FEATURE_SCHEMA},
        "numberMatched": {"type": "integer"},
        "numberReturned": {"type": "integer"},
        "links": {"type": "array", "items": {"type": "object"}},
    },
}
