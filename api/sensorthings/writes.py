"""Operator writes: create, update and delete Things, Locations and Observations, and
``CreateObservations``. Sensors, ObservedProperties, Datastreams, HistoricalLocations
and FeaturesOfInterest derive from profiles and locations and are read-only."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from ingest.db import Conn
from ingest.devices import DEVICE_ID_PATTERN
from ingest.queries.sensorthings_devices import (
    DeviceFields,
    create_device,
    delete_device,
    delete_location,
    locate_device,
    update_device,
    update_location,
)
from ingest.queries.sensorthings_store import delete_reading, update_reading

from ..auth import Principal
from ..context import ApiContext
from .bodies import (
    READ_ONLY_THING_PROPERTIES,
    CreateObservationsItem,
    LocationBody,
    ObservationBody,
    Ref,
    ThingBody,
    parse_body,
    point_of,
)
from .catalogue import Catalogue
from .errors import StaError, bad_request, not_found
from .ids import parse_observation_id
from .observations_in import check_errors, created_id, datastream_info, reading_of, store
from .paths import parse_segments
from .timefmt import us_to_dt

__all__ = ["Writes"]

MAX_CREATE_OBSERVATIONS = 10_000
_ID = re.compile(DEVICE_ID_PATTERN)
_READ_ONLY = {
    "Sensors": "Sensors are device profiles",
    "ObservedProperties": "ObservedProperties are the metrics of device profiles",
    "Datastreams": "Datastreams are the metrics of a Thing's profile",
    "HistoricalLocations": "HistoricalLocations are recorded when a Thing moves",
    "FeaturesOfInterest": "FeaturesOfInterest are the locations of Things",
}


def _refuse(name: str, method: str) -> StaError:
    if name in _READ_ONLY:
        return StaError(405, f"{method} {name}: read-only here: {_READ_ONLY[name]}")
    return StaError(405, f"{method} is not supported on this path")


class Writes:
    """Write handlers; each returns (status, the new or changed entity's path or None)."""

    def __init__(self, ctx: ApiContext, conn: Conn, catalogue: Catalogue, who: Principal) -> None:
        self.ctx, self.conn, self.catalogue, self.who = ctx, conn, catalogue, who

    async def post(self, path: str, body: object) -> tuple[int, str | list[str] | None]:
        """POST: create."""
        segs = parse_segments(path)
        names = [s[0] for s in segs]
        if names == ["Things"] and segs[0][1] is None:
            return 201, await self._create_thing(parse_body(ThingBody, body, "Thing"))
        if names == ["Locations"] and segs[0][1] is None:
            loc = parse_body(LocationBody, body, "Location")
            if not loc.Things or len(loc.Things) != 1:
                raise bad_request(
                    'a Location needs exactly one Thing: {"Things": [{"@iot.id": n}]}'
                )
            return 201, await self._locate(await self._thing(loc.Things[0].id), loc)
        if names == ["Things", "Locations"] and segs[0][1] is not None and segs[1][1] is None:
            loc = parse_body(LocationBody, body, "Location")
            return 201, await self._locate(await self._thing(segs[0][1]), loc)
        if names == ["Observations"] and segs[0][1] is None:
            obs = parse_body(ObservationBody, body, "Observation")
            if obs.Datastream is None:
                raise bad_request('an Observation needs its Datastream: {"@iot.id": n}')
            return 201, await self._create_observation(obs.Datastream.id, obs)
        if (
            names == ["Datastreams", "Observations"]
            and segs[0][1] is not None
            and segs[1][1] is None
        ):
            obs = parse_body(ObservationBody, body, "Observation")
            if obs.Datastream is not None and str(obs.Datastream.id) != str(segs[0][1]):
                raise bad_request("the Datastream in the body differs from the one in the path")
            return 201, await self._create_observation(segs[0][1], obs)
        if names == ["CreateObservations"]:
            return 201, await self._create_observations(body)
        raise _refuse(names[-1], "POST")

    async def patch(self, path: str, body: object) -> str:
        """PATCH: update; returns the entity's path."""
        segs = parse_segments(path)
        if len(segs) != 1 or segs[0][1] is None:
            raise _refuse(segs[-1][0], "PATCH")
        name, ident = segs[0]
        if name == "Things":
            key = await self._thing(ident)
            await self._update_thing(key, parse_body(ThingBody, body, "Thing"))
            return f"Things({key})"
        if name == "Locations":
            loc = parse_body(LocationBody, body, "Location")
            if loc.Things is not None:
                raise bad_request("a Location's Thing cannot change; post a new Location")
            lid = await self._location(ident)
            point = point_of(loc) if loc.location is not None else None
            async with self.conn.transaction():
                await update_location(self.conn, lid, point, loc.name, loc.description)
            return f"Locations({lid})"
        if name == "Observations":
            obs = parse_body(ObservationBody, body, "Observation")
            return await self._update_observation(str(ident), obs)
        raise _refuse(name, "PATCH")

    async def delete(self, path: str) -> None:
        """DELETE."""
        segs = parse_segments(path)
        if len(segs) != 1 or segs[0][1] is None:
            raise _refuse(segs[-1][0], "DELETE")
        name, ident = segs[0]
        if name == "Things":
            key = await self._thing(ident)
            async with self.conn.transaction():
                await delete_device(self.conn, key)
        elif name == "Locations":
            lid = await self._location(ident)
            async with self.conn.transaction():
                await delete_location(self.conn, lid)
        elif name == "Observations":
            k = parse_observation_id(str(ident))
            ds = await datastream_info(self.conn, self.catalogue, k.datastream, self.who)
            async with self.conn.transaction():
                found = await delete_reading(
                    self.conn, ds.device_key, ds.metric_id, us_to_dt(k.time_us)
                )
            if not found:
                raise not_found(f"no Observation with id '{ident}'")
        else:
            raise _refuse(name, "DELETE")

    # -- Things and Locations -------------------------------------------------------
    async def _thing(self, ident: object) -> int:
        if isinstance(ident, str) and ident.isdigit():
            ident = int(ident)
        row = None
        if isinstance(ident, int) and not isinstance(ident, bool) and 0 <= ident < 2**31:
            row = await self.conn.fetchrow(
                "SELECT device_key, id, district FROM devices WHERE device_key = $1", ident
            )
        if row is None:
            raise not_found(f"no Thing with id {ident!r}")
        self.who.check_district(row["district"], f"Thing {ident} ({row['id']})")
        return int(row["device_key"])

    async def _location(self, ident: object) -> int:
        row = None
        if isinstance(ident, int) and not isinstance(ident, bool) and 0 <= ident < 2**63:
            row = await self.conn.fetchrow(
                "SELECT h.id, d.district, d.id AS device_id FROM location_history h "
                "JOIN devices d USING (device_key) WHERE h.id = $1",
                ident,
            )
        if row is None:
            raise not_found(f"no Location with id {ident!r}")
        self.who.check_district(row["district"], f"Location {ident} (device {row['device_id']})")
        return int(row["id"])

    def _fields(self, thing: ThingBody, creating: bool) -> tuple[DeviceFields, str | None]:
        props = dict(thing.properties or {})
        for key in READ_ONLY_THING_PROPERTIES:
            props.pop(key, None)
        profile = props.pop("profile", None)
        if creating and profile is None:
            raise bad_request("a Thing needs properties.profile, the name of its device profile")
        if profile is not None and profile not in self.ctx.profiles:
            known = ", ".join(self.ctx.profiles.names())
            raise bad_request(f"unknown profile {profile!r} (known: {known})")
        device_id = props.pop("deviceId", None)
        if device_id is not None and not (isinstance(device_id, str) and _ID.match(device_id)):
            raise bad_request("properties.deviceId: letters, digits and ._:- (at most 128)")
        tags = props.pop("tags", None)
        if tags is not None and not (
            isinstance(tags, list) and all(isinstance(t, str) for t in tags)
        ):
            raise bad_request("properties.tags must be a list of strings")
        enabled = props.pop("enabled", None)
        if enabled is not None and not isinstance(enabled, bool):
            raise bad_request("properties.enabled must be true or false")
        set_district = "district" in props
        district = props.pop("district", None)
        if district is not None and not isinstance(district, str):
            raise bad_request("properties.district must be a string")
        if set_district or creating:
            self.who.check_district(district, "the Thing")
        attributes: dict[str, Any] | None = (
            props if thing.properties is not None or creating else None
        )
        if thing.description is not None:
            attributes = {**(attributes or {}), "description": thing.description}
        fields = DeviceFields(
            name=thing.name, profile=profile, district=district, tags=tags, enabled=enabled,
            attributes=attributes, set_district=set_district,
        )  # fmt: skip
        return fields, device_id

    async def _create_thing(self, thing: ThingBody) -> str:
        fields, device_id = self._fields(thing, creating=True)
        device_id = device_id or f"sta-{uuid.uuid4().hex[:12]}"
        async with self.conn.transaction():
            key = await create_device(self.conn, device_id, fields)
            if key is None:
                raise StaError(409, f"a device with id {device_id!r} exists already")
            for loc in thing.Locations or []:
                await self._place(key, loc)
        return f"Things({key})"

    async def _update_thing(self, key: int, thing: ThingBody) -> None:
        fields, device_id = self._fields(thing, creating=False)
        current = await self.conn.fetchval("SELECT id FROM devices WHERE device_key = $1", key)
        if device_id is not None and device_id != current:
            raise bad_request("properties.deviceId cannot change")
        if fields.attributes is not None and thing.properties is None:
            old = await self.conn.fetchval(
                "SELECT attributes::text FROM devices WHERE device_key = $1", key
            )
            fields = _with_attributes(fields, {**_json(old), **fields.attributes})
        async with self.conn.transaction():
            await update_device(self.conn, key, fields)
            for loc in thing.Locations or []:
                await self._place(key, loc)

    async def _place(self, key: int, loc: LocationBody | Ref) -> int:
        if isinstance(loc, Ref):
            row = await self.conn.fetchrow(
                "SELECT ST_X(location) AS lon, ST_Y(location) AS lat FROM location_history "
                "WHERE id = $1",
                loc.id if isinstance(loc.id, int) else -1,
            )
            if row is None:
                raise not_found(f"no Location with id {loc.id!r}")
            return await locate_device(self.conn, key, row["lon"], row["lat"], None, None)
        lon, lat = point_of(loc)
        return await locate_device(self.conn, key, lon, lat, loc.name, loc.description)

    async def _locate(self, key: int, loc: LocationBody) -> str:
        async with self.conn.transaction():
            lid = await self._place(key, loc)
        return f"Locations({lid})"

    # -- Observations --------------------------------------------------------------
    async def _create_observation(self, ds_id: object, obs: ObservationBody) -> str:
        ds = await datastream_info(self.conn, self.catalogue, ds_id, self.who)
        await self._check_foi(ds.device_key, obs.FeatureOfInterest)
        reading = reading_of(ds, obs.result, obs.phenomenonTime)
        check_errors(await store(self.conn, self.ctx.feed, [reading]))
        return f"Observations('{created_id(reading)}')"

    async def _check_foi(self, device_key: int, foi: Ref | None) -> None:
        if foi is None:
            return
        owner = await self.conn.fetchval(
            "SELECT device_key FROM location_history WHERE id = $1",
            foi.id if isinstance(foi.id, int) else -1,
        )
        if owner != device_key:
            raise bad_request(
                f"FeatureOfInterest {foi.id!r} is not a location of this Datastream's Thing"
            )

    async def _update_observation(self, ident: str, obs: ObservationBody) -> str:
        k = parse_observation_id(ident)
        if obs.Datastream is not None or obs.FeatureOfInterest is not None:
            raise bad_request("an Observation's Datastream and FeatureOfInterest cannot change")
        if obs.phenomenonTime is not None:
            raise bad_request("phenomenonTime is part of the Observation's id; post a new one")
        ds = await datastream_info(self.conn, self.catalogue, k.datastream, self.who)
        reading = reading_of(ds, obs.result, us_to_dt(k.time_us).isoformat())
        async with self.conn.transaction():
            found = await update_reading(
                self.conn, ds.device_key, ds.metric_id, reading.time, reading.value, reading.state
            )
        if not found:
            raise not_found(f"no Observation with id '{ident}'")
        return f"Observations('{ident}')"

    async def _create_observations(self, body: object) -> list[str]:
        items = body if isinstance(body, list) else [body]
        parsed = [parse_body(CreateObservationsItem, item, "CreateObservations") for item in items]
        total = sum(len(p.dataArray) for p in parsed)
        if total > MAX_CREATE_OBSERVATIONS:
            raise bad_request(
                f"CreateObservations takes at most {MAX_CREATE_OBSERVATIONS} observations"
            )
        outcome: list[str] = []
        pending = []
        for item in parsed:
            ds = await datastream_info(self.conn, self.catalogue, item.Datastream.id, self.who)
            comps = item.components
            unknown = set(comps) - {
                "phenomenonTime",
                "resultTime",
                "result",
                "FeatureOfInterest/id",
            }
            if unknown or "result" not in comps:
                raise bad_request(
                    "components: result is required; allowed: phenomenonTime, resultTime, "
                    f"result, FeatureOfInterest/id (not {sorted(unknown)})"
                )
            for values in item.dataArray:
                if len(values) != len(comps):
                    outcome.append("error: a dataArray entry does not match the components")
                    continue
                row = dict(zip(comps, values, strict=True))
                try:
                    foi = row.get("FeatureOfInterest/id")
                    await self._check_foi(
                        ds.device_key, None if foi is None else Ref.model_validate({"@iot.id": foi})
                    )
                    reading = reading_of(ds, row["result"], row.get("phenomenonTime"))
                except StaError as exc:
                    outcome.append(f"error: {exc.message}")
                    continue
                outcome.append("")
                pending.append((len(outcome) - 1, reading))
        results = await store(self.conn, self.ctx.feed, [r for _, r in pending])
        base = self.ctx.config.public_url.rstrip("/") + "/v1.1"
        for (i, reading), why in zip(pending, results, strict=True):
            outcome[i] = f"error: {why}" if why else f"{base}/Observations('{created_id(reading)}')"
        return outcome


def _with_attributes(fields: DeviceFields, attributes: dict[str, Any]) -> DeviceFields:
    return DeviceFields(
        fields.name, fields.profile, fields.district, fields.tags, fields.enabled, attributes,
        fields.set_district,
    )  # fmt: skip


def _json(text: str | None) -> dict[str, Any]:
    value = json.loads(text) if text else {}
    return value if isinstance(value, dict) else {}
