"""Observations operators write (POST, CreateObservations): checked against the
Datastream's profile metric the way the gateway checks device readings, stored with
their natural key, then published on the feed (MQTT extension, live updates, rules)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ingest.db import Conn
from ingest.feed import CommitFeed, Committed
from ingest.queries.sensorthings_store import NewReading, insert_readings

from ..auth import Principal
from .catalogue import Catalogue, MetricEntry
from .errors import StaError, bad_request, not_found
from .ids import observation_id, parse_datastream_id
from .timefmt import parse_instant

__all__ = ["MAX_FUTURE", "DatastreamInfo", "datastream_info", "reading_of", "store"]

MAX_FUTURE = timedelta(minutes=5)  # as the gateway's default max_future_skew_s


@dataclass(frozen=True, slots=True)
class DatastreamInfo:
    """A Datastream being written to: its device and metric spec."""

    device_key: int
    metric_id: int
    district: str | None
    entry: MetricEntry


async def datastream_info(
    conn: Conn, catalogue: Catalogue, ident: object, principal: Principal
) -> DatastreamInfo:
    """The Datastream with this id (404 when none; 403 outside the key's districts)."""
    if isinstance(ident, str) and ident.isdigit():
        ident = int(ident)
    if not isinstance(ident, int) or isinstance(ident, bool):
        raise not_found(f"no Datastream with id {ident!r}")
    device_key, metric_id = parse_datastream_id(ident)
    row = await conn.fetchrow(
        "SELECT profile, district FROM devices WHERE device_key = $1", device_key
    )
    entry = None if row is None else catalogue.entry(row["profile"], metric_id)
    if row is None or entry is None:
        raise not_found(f"no Datastream with id {ident}")
    principal.check_district(row["district"], f"Datastream {ident}")
    return DatastreamInfo(device_key, metric_id, row["district"], entry)


def reading_of(ds: DatastreamInfo, result: object, phenomenon_time: str | None) -> NewReading:
    """A reading from a result and time, checked like the gateway checks readings."""
    e = ds.entry
    if phenomenon_time is None:
        at = datetime.now(UTC)
    elif not isinstance(phenomenon_time, str):
        raise bad_request("phenomenonTime must be an ISO 8601 string")
    else:
        at = parse_instant(phenomenon_time, "phenomenonTime")
    if at > datetime.now(UTC) + MAX_FUTURE:
        raise bad_request(f"phenomenonTime {phenomenon_time} is in the future")
    if e.states is not None:
        if not isinstance(result, str) or result not in e.states:
            raise bad_request(
                f"result of {e.metric} must be one of {', '.join(e.states)}, not {result!r}"
            )
        return NewReading(ds.device_key, ds.metric_id, at, float(e.states.index(result)), result)
    if isinstance(result, bool) or not isinstance(result, int | float):
        raise bad_request(f"result of {e.metric} must be a number, not {result!r}")
    value = float(result)
    assert e.minimum is not None and e.maximum is not None
    if not e.minimum <= value <= e.maximum:
        raise bad_request(
            f"result {value:g} of {e.metric} is outside its range [{e.minimum:g}, {e.maximum:g}]"
        )
    return NewReading(ds.device_key, ds.metric_id, at, value, None)


async def store(conn: Conn, feed: CommitFeed, readings: Sequence[NewReading]) -> list[str | None]:
    """Store readings in one transaction and publish those stored; per reading None
    when stored, else why not."""
    async with conn.transaction():
        results = await insert_readings(conn, list(readings))
    stored = [r for r, why in zip(readings, results, strict=True) if why is None]
    if stored:
        feed.publish(
            Committed.from_readings(
                ((r.device_key, r.time_us, r.metric_id, r.value, r.state) for r in stored),
                time.time_ns() // 1000,
            )
        )
    return results


def created_id(r: NewReading) -> str:
    """The Observation id of a stored reading."""
    return observation_id(r.device_key, r.metric_id, r.time_us)


def check_errors(results: list[str | None]) -> None:
    """409 for a single refused reading."""
    if results and results[0] is not None:
        raise StaError(409, results[0])
