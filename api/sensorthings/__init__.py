"""OGC SensorThings API 1.1 at ``/v1.1``: devices as Things, profile metrics as
ObservedProperties and Sensors, (device, metric) as Datastreams, readings as
Observations; reads with the OData query options, operator writes, MQTT extension."""

from __future__ import annotations

from .errors import format_error
from .router import PREFIX, build_router

__all__ = ["PREFIX", "build_router", "format_error"]
