"""The city's shared environment: local calendar, sun, weather and rain.

Every device of a city sees the same weather, so weather stations, air-quality stations,
water gauges and streetlights agree with each other (it rains on all of them at once).
All functions are pure in (seed, time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from ._rand import gauss, smooth, unit

DAY = 86_400.0
HOUR = 3_600.0
RAIN_SLOT = 3 * HOUR  # rain is decided per three-hour slot
RAIN_CHANCE = 0.12
RAIN_MEAN_MM_H = 2.0
_RESPONSE_SLOTS = 40  # rain older than five days no longer moves the rivers
_SALT_RAIN = 0x5241494E


def gaussian_bump(x: float, mu: float, sigma: float) -> float:
    """exp(-(x - mu)^2 / 2 sigma^2): the shape of a rush hour."""
    return math.exp(-0.5 * ((x - mu) / sigma) ** 2)


@lru_cache(maxsize=4096)
def _rain_slot(seed: int, slot: int) -> float:
    """Rain intensity (mm/h) during one three-hour slot; most slots are dry."""
    if unit(seed, _SALT_RAIN, slot) >= RAIN_CHANCE:
        return 0.0
    return -math.log(1.0 - unit(seed, _SALT_RAIN, slot, 1)) * RAIN_MEAN_MM_H


@dataclass(frozen=True, slots=True)
class Environment:
    """Calendar, sun and weather of one city."""

    seed: int
    lat: float
    utc_offset_s: float

    @classmethod
    def for_city(cls, seed: int, lat: float, lon: float) -> Environment:
        """Local time from the longitude (one hour per 15 degrees; no daylight saving)."""
        return cls(seed, lat, round(lon / 15.0) * HOUR)

    # -- calendar -------------------------------------------------------------------------
    def hour(self, t: float) -> float:
        """Local hour of day, 0 <= h < 24."""
        return ((t + self.utc_offset_s) % DAY) / HOUR

    def weekend(self, t: float) -> bool:
        """Saturday or Sunday, local time (1970-01-01 was a Thursday)."""
        return (int((t + self.utc_offset_s) // DAY) + 3) % 7 >= 5

    def season(self, t: float) -> float:
        """-1 in mid-winter, +1 in mid-summer (northern hemisphere sign flips south)."""
        day = (t / DAY) % 365.25
        value = -math.cos(2.0 * math.pi * (day - 20.0) / 365.25)
        return value if self.lat >= 0 else -value

    # -- sun ------------------------------------------------------------------------------
    def sun_elevation(self, t: float) -> float:
        """Approximate solar elevation in degrees (good to a degree or two)."""
        day = (t / DAY) % 365.25
        decl = -23.44 * math.cos(2.0 * math.pi * (day + 10.0) / 365.25)
        hour_angle = 15.0 * (self.hour(t) - 12.0)
        lat, dec, ha = (math.radians(v) for v in (self.lat, decl, hour_angle))
        s = math.sin(lat) * math.sin(dec) + math.cos(lat) * math.cos(dec) * math.cos(ha)
        return math.degrees(math.asin(max(-1.0, min(1.0, s))))

    def daylight(self, t: float) -> float:
        """0 at night, rising to 1 with the sun high; cloudier when it rains."""
        elevation = self.sun_elevation(t)
        if elevation <= 0:
            return 0.0
        clouds = 0.35 if self.rain_rate(t) > 0 else 1.0 - 0.4 * unit(self.seed, int(t // HOUR))
        return math.sin(math.radians(elevation)) * clouds

    # -- weather --------------------------------------------------------------------------
    def rain_rate(self, t: float) -> float:
        """Rain intensity in mm/h at time ``t``."""
        return _rain_slot(self.seed, int(t // RAIN_SLOT))

    def seasonal_temperature(self, t: float) -> float:
        """Daily mean air temperature for the time of year (about 1 to 21 degC)."""
        return 11.0 + 10.0 * self.season(t)

    def temperature(self, t: float) -> float:
        """Air temperature: seasonal mean, afternoon peak, weather fronts, rain cooling."""
        diurnal = (4.0 + 1.5 * self.season(t)) * math.cos(2.0 * math.pi * (self.hour(t) - 15) / 24)
        fronts = 2.5 * smooth(t, 2 * DAY, self.seed, 1)
        cooling = 2.0 * min(self.rain_rate(t), 3.0) / 3.0
        return self.seasonal_temperature(t) + diurnal + fronts - cooling

    def humidity(self, t: float) -> float:
        """Relative humidity: high at night and in rain, low on warm afternoons."""
        rh = 72.0 - 2.2 * (self.temperature(t) - self.seasonal_temperature(t))
        rh += 18.0 * min(self.rain_rate(t), 2.0) / 2.0 + 5.0 * smooth(t, 12 * HOUR, self.seed, 2)
        return max(12.0, min(100.0, rh))

    def pressure(self, t: float) -> float:
        """Sea-level pressure in hPa, falling ahead of rain."""
        raining = 4.0 if self.rain_rate(t) > 0 else 0.0
        return 1013.0 + 9.0 * smooth(t, 2.5 * DAY, self.seed, 3) - raining

    def wind(self, t: float) -> float:
        """Mean wind speed in m/s."""
        gusty = 1.5 if self.rain_rate(t) > 0 else 0.0
        return abs(3.0 + 2.2 * smooth(t, 8 * HOUR, self.seed, 4) + gusty)

    def river_response(self, t: float) -> float:
        """Rain of the last five days routed to the rivers: millimetres still 'in transit',
        peaking about eight hours after the rain and receding over a day or two."""
        now_slot = int(t // RAIN_SLOT)
        total = 0.0
        for back in range(_RESPONSE_SLOTS):
            slot = now_slot - back
            mm = _rain_slot(self.seed, slot) * (RAIN_SLOT / HOUR)
            if mm:
                age_h = (t - (slot + 0.5) * RAIN_SLOT) / HOUR
                if age_h > 0:
                    total += mm * (age_h / 8.0) * math.exp(1.0 - age_h / 8.0)
        return total

    def traffic(self, t: float) -> float:
        """Traffic intensity 0..1: two weekday rush hours, a flat weekend afternoon."""
        h = self.hour(t)
        if self.weekend(t):
            shape = 0.1 + 0.55 * gaussian_bump(h, 14.0, 3.5)
        else:
            shape = (
                0.06
                + 0.9 * gaussian_bump(h, 8.0, 1.2)
                + 0.8 * gaussian_bump(h, 17.5, 1.6)
                + 0.45 * gaussian_bump(h, 12.5, 3.0)
            )
        return min(1.0, shape)

    def activity(self, t: float) -> float:
        """Human activity 0..1: low at night, high in the day, a little lower at weekends."""
        h = self.hour(t)
        day = 1.0 / (1.0 + math.exp(-(h - 6.5) * 1.5)) - 1.0 / (1.0 + math.exp(-(h - 22.0) * 1.5))
        return max(0.0, day) * (0.85 if self.weekend(t) else 1.0)

    def noise(self, *keys: int) -> float:
        """A standard normal number keyed by the city seed (for shared randomness)."""
        return gauss(self.seed, *keys)
