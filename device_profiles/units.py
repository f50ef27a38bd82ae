"""UN/CEFACT Recommendation 20 common codes used by citygate profiles.

Profiles name units by their common code (``GQ``, ``CEL``...); the schema rejects any code
that is not in this table, so a typo cannot reach the database or the open data API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Unit:
    """One unit of measure: UN/CEFACT common code, display symbol and English name."""

    code: str
    symbol: str
    name: str


_TABLE = (
    Unit("GQ", "µg/m³", "microgram per cubic metre"),
    Unit("59", "ppm", "part per million"),
    Unit("61", "ppb", "part per billion"),
    Unit("CEL", "°C", "degree Celsius"),
    Unit("P1", "%", "percent"),
    Unit("C62", "1", "one"),
    Unit("2N", "dB", "decibel"),
    Unit("MTR", "m", "metre"),
    Unit("CMT", "cm", "centimetre"),
    Unit("MMT", "mm", "millimetre"),
    Unit("MTS", "m/s", "metre per second"),
    Unit("KMH", "km/h", "kilometre per hour"),
    Unit("A97", "hPa", "hectopascal"),
    Unit("LUX", "lx", "lux"),
    Unit("WTT", "W", "watt"),
    Unit("KWH", "kW·h", "kilowatt hour"),
    Unit("VLT", "V", "volt"),
    Unit("AMP", "A", "ampere"),
    Unit("DD", "°", "degree (angle)"),
    Unit("MQS", "m³/s", "cubic metre per second"),
    Unit("SEC", "s", "second"),
)

UNITS: Mapping[str, Unit] = MappingProxyType({u.code: u for u in _TABLE})


def get_unit(code: str) -> Unit:
    """Return the unit for a UN/CEFACT common code; KeyError if citygate does not know it."""
    return UNITS[code]
