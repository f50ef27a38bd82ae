"""Stable ``@iot.id`` encodings of the entities that have no row of their own.

- Datastream: ``device_key * 100000 + metric_id`` (metric ids are smallints, below
  32768), so Datastream 300007 is metric 7 of device 3.
- Observation: ``"<datastream id>-<phenomenonTime in microseconds since 1970>"``, a string,
  because the natural key (device, metric, time) does not fit a 64-bit integer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import StaError, bad_request
from .timefmt import us_to_dt

__all__ = [
    "DATASTREAM_FACTOR",
    "ObservationKey",
    "datastream_id",
    "key_values",
    "observation_id",
    "parse_datastream_id",
    "parse_observation_id",
]

DATASTREAM_FACTOR = 100_000
_MAX_DEVICE_KEY = 2**31 - 1
_OBS = re.compile(r"^([0-9]{1,16})-(-?[0-9]{1,19})$")


@dataclass(frozen=True, slots=True)
class ObservationKey:
    """The natural key of one reading."""

    device_key: int
    metric_id: int
    time_us: int

    @property
    def datastream(self) -> int:
        """The Datastream id the reading belongs to."""
        return datastream_id(self.device_key, self.metric_id)


def datastream_id(device_key: int, metric_id: int) -> int:
    """The Datastream id of (device, metric)."""
    return device_key * DATASTREAM_FACTOR + metric_id


def parse_datastream_id(value: int) -> tuple[int, int]:
    """(device_key, metric_id) of a Datastream id; 404-worthy ids raise 400 only when
    they cannot be an id at all."""
    if value < 0:
        raise bad_request(f"{value} is not a Datastream id")
    device_key, metric_id = divmod(value, DATASTREAM_FACTOR)
    if device_key > _MAX_DEVICE_KEY or metric_id >= 2**15:
        raise bad_request(f"{value} is not a Datastream id")
    return device_key, metric_id


def observation_id(device_key: int, metric_id: int, time_us: int) -> str:
    """The Observation id of a reading."""
    return f"{datastream_id(device_key, metric_id)}-{time_us}"


def parse_observation_id(value: str) -> ObservationKey:
    """The natural key of an Observation id (400 for anything else)."""
    m = _OBS.match(value)
    if m is None:
        raise bad_request(
            f"{value!r} is not an Observation id (expected '<datastream id>-<microseconds>')"
        )
    device_key, metric_id = parse_datastream_id(int(m[1]))
    time_us = int(m[2])
    if not -(2**62) < time_us < 2**62:
        raise bad_request(f"{value!r} is not an Observation id")
    return ObservationKey(device_key, metric_id, time_us)


def key_values(entity: str, value: object) -> dict[str, object] | None:
    """The key columns of the ``entity`` whose ``@iot.id`` is ``value``; None when no
    entity can have that id."""
    if entity == "Observation":
        if not isinstance(value, str):
            return None
        try:
            k = parse_observation_id(value)
            return {
                "device_key": k.device_key,
                "metric_id": k.metric_id,
                "time": us_to_dt(k.time_us),
            }
        except StaError:
            return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isdigit() and len(value) < 19:
            value = int(value)
        else:
            return None
    if entity == "Datastream":
        try:
            device_key, metric_id = parse_datastream_id(value)
        except StaError:
            return None
        return {"device_key": device_key, "metric_id": metric_id}
    column, limit = _KEY_COLUMN[entity]
    if not 0 <= value <= limit:
        return None
    return {column: value}


_KEY_COLUMN = {
    "Thing": ("device_key", 2**31 - 1),
    "Location": ("id", 2**63 - 1),
    "HistoricalLocation": ("id", 2**63 - 1),
    "FeatureOfInterest": ("id", 2**63 - 1),
    "Sensor": ("sensor_id", 2**31 - 1),
    "ObservedProperty": ("metric_id", 2**15 - 1),
}
