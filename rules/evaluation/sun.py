"""Where the sun is: daylight or night at a device's location and time, for conditions
like "a streetlight on in daylight". NOAA's solar position approximation (accurate to a
fraction of a degree, plenty for sunrise/sunset), vectorised with numpy."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["SUNRISE_ELEVATION", "is_daylight", "solar_elevation"]

F64 = npt.NDArray[np.float64]
# The sun's centre is 0.833 degrees below the horizon at sunrise and sunset (refraction
# and the sun's radius).
SUNRISE_ELEVATION = -0.833


def solar_elevation(t_us: npt.NDArray[np.int64], lat: F64, lon: F64) -> F64:
    """Elevation of the sun's centre in degrees above the horizon."""
    jd = t_us / 86_400e6 + 2_440_587.5
    jc = (jd - 2_451_545.0) / 36_525.0
    l0 = np.radians((280.46646 + jc * (36_000.76983 + jc * 0.0003032)) % 360)
    m = np.radians(357.52911 + jc * (35_999.05029 - 0.0001537 * jc))
    e = 0.016708634 - jc * (0.000042037 + 0.0000001267 * jc)
    c = np.radians(
        np.sin(m) * (1.914602 - jc * (0.004817 + 0.000014 * jc))
        + np.sin(2 * m) * (0.019993 - 0.000101 * jc)
        + np.sin(3 * m) * 0.000289
    )
    true_long = l0 + c
    omega = np.radians(125.04 - 1934.136 * jc)
    app_long = true_long - np.radians(0.00569 + 0.00478 * np.sin(omega))
    obliq = np.radians(
        23
        + (26 + (21.448 - jc * (46.815 + jc * (0.00059 - jc * 0.001813))) / 60) / 60
        + 0.00256 * np.cos(omega)
    )
    decl = np.arcsin(np.sin(obliq) * np.sin(app_long))
    y = np.tan(obliq / 2) ** 2
    eq_time = 4 * np.degrees(
        y * np.sin(2 * l0)
        - 2 * e * np.sin(m)
        + 4 * e * y * np.sin(m) * np.cos(2 * l0)
        - 0.5 * y * y * np.sin(4 * l0)
        - 1.25 * e * e * np.sin(2 * m)
    )
    minutes = (t_us / 60e6) % 1440  # UTC minutes of the day
    true_solar = (minutes + eq_time + 4 * lon) % 1440
    hour_angle = np.radians(np.where(true_solar < 0, true_solar / 4 + 180, true_solar / 4 - 180))
    phi = np.radians(lat)
    cos_zenith = np.sin(phi) * np.sin(decl) + np.cos(phi) * np.cos(decl) * np.cos(hour_angle)
    result: F64 = 90 - np.degrees(np.arccos(np.clip(cos_zenith, -1, 1)))
    return result


def is_daylight(t_us: npt.NDArray[np.int64], lat: F64, lon: F64) -> npt.NDArray[np.bool_]:
    """True where the sun is above the horizon (NaN positions give False)."""
    elev = solar_elevation(t_us, lat, lon)
    return np.asarray(elev > SUNRISE_ELEVATION)
