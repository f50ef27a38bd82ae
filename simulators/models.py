"""Per-profile signal models for the built-in profiles.

Each model maps (device context, epoch time) to raw readings; ``CitySignals`` clips and
rounds them. Per-device constants come from ``ctx.param(n, lo, hi)`` with a distinct ``n``
per parameter, so adding a parameter does not change the others.
"""

from __future__ import annotations

import math

from ._rand import unit
from .environment import DAY, HOUR, gaussian_bump
from .signals import DeviceContext, Model, Values

__all__ = ["MODELS"]


def air_quality(ctx: DeviceContext, t: float) -> Values:
    """NO2 follows the rush hours, PM peaks morning and evening (more with winter heating),
    ozone builds up on sunny afternoons, rain washes particles out; sensors drift slowly."""
    env = ctx.env
    traffic = env.traffic(t) * ctx.busy()
    winter = max(0.0, -env.season(t))
    h = env.hour(t)
    washout = 0.6 if env.rain_rate(t) > 0 else 1.0
    drift = 1.0 + ctx.param(1, -0.0002, 0.0004) * ctx.days(t)  # electrochemical cell ageing
    no2 = ctx.param(2, 12.0, 28.0) + 55.0 * traffic + 6.0 * ctx.smooth(t, 6 * HOUR, 3)
    no2 = max(0.0, no2 * drift + 2.5 * ctx.gauss(t, 4))
    heating = 1.0 + 2.0 * winter * (gaussian_bump(h, 8.0, 2.0) + gaussian_bump(h, 20.0, 3.0))
    pm25 = (ctx.param(5, 4.0, 9.0) + 7.0 * traffic) * heating
    pm25 = max(0.5, pm25 * washout + 3.0 * abs(ctx.smooth(t, DAY, 6)) + 0.8 * ctx.gauss(t, 7))
    pm10 = pm25 * ctx.param(8, 1.4, 1.9) + 2.0 + 1.2 * abs(ctx.gauss(t, 9))
    o3 = 18.0 + 75.0 * env.daylight(t) * (1.0 + 0.5 * env.season(t)) - 0.35 * no2
    o3 = max(1.0, o3 + 4.0 * ctx.smooth(t, 4 * HOUR, 10) + 1.5 * ctx.gauss(t, 11))
    return {
        "pm25": pm25,
        "pm10": pm10,
        "no2": no2,
        "o3": o3,
        "temperature": env.temperature(t) + ctx.param(12, 0.3, 1.5) + 0.2 * ctx.gauss(t, 13),
        "relativeHumidity": env.humidity(t) - 2.0 + 1.0 * ctx.gauss(t, 14),
    }


def noise(ctx: DeviceContext, t: float) -> Values:
    """Louder by day and in rush hours, quiet at night; occasional loud events."""
    env = ctx.env
    night = ctx.param(1, 40.0, 48.0)
    day = ctx.param(2, 56.0, 64.0) + 3.0 * (ctx.busy() - 0.5)
    laeq = night + (day - night) * env.activity(t) + 4.0 * env.traffic(t) * ctx.busy()
    laeq += 1.5 * ctx.smooth(t, 2 * HOUR, 3) + 1.2 * ctx.gauss(t, 4)
    event = 18.0 if ctx.chance(0.03, 5, int(t // 60)) else 0.0  # a siren or a motorbike
    lamax = laeq + 7.0 + 4.0 * abs(ctx.gauss(t, 6)) + event
    return {"LAeq": laeq, "LAmax": lamax, "LAS": laeq + 2.0 * ctx.gauss(t, 7)}


def parking_spot(ctx: DeviceContext, t: float) -> Values:
    """Turnover: the spot's state is redrawn every 20-60 min against a daily occupancy
    curve (busy districts fill by day, residential streets by night); street cleaning
    closes it now and then."""
    env = ctx.env
    slot_len = ctx.param(1, 1200.0, 3600.0)
    slot = int((t + ctx.param(2, 0.0, slot_len)) // slot_len)
    slot_t = slot * slot_len
    busy = ctx.busy() == 1.0
    p = 0.2 + 0.7 * env.activity(slot_t) if busy else 0.85 - 0.4 * env.activity(slot_t)
    day = int((t + env.utc_offset_s) // DAY)
    if ctx.chance(0.002, 3, slot):
        status = "unknown"
    elif ctx.chance(0.02, 4, day) and 6.0 <= env.hour(t) < 9.0:
        status = "closed"
    else:
        status = "occupied" if ctx.chance(p, 5, slot) else "free"
    return {"status": status, "batteryLevel": ctx.battery(t)}


def streetlight(ctx: DeviceContext, t: float) -> Values:
    """On from dusk to dawn, dimmed to about half in the small hours; power follows the
    dimming level; the energy meter only grows."""
    env = ctx.env
    rated = ctx.param(1, 40.0, 150.0)
    dark = env.sun_elevation(t) < -2.0
    h = env.hour(t)
    failed = ctx.chance(0.003, 2, int(t // DAY))
    if not dark or failed:
        state, level = "off", 0.0
    elif ctx.chance(0.01, 3, int(t // 600)):
        state, level = "bootingUp", 0.0
    elif h >= 23.5 or h < 5.0:
        state, level = "low", ctx.param(4, 40.0, 60.0)
    else:
        state, level = "on", 100.0
    power = rated * level / 100.0 * (1.0 + 0.02 * ctx.gauss(t, 5)) if level else 0.4
    hours_on_per_day = 11.5
    lifetime = ctx.param(6, 50.0, 2500.0) + rated / 1000.0 * hours_on_per_day * ctx.days(t)
    voltage = 230.0 + 3.0 * ctx.smooth(t, HOUR, 7) + 0.8 * ctx.gauss(t, 8)
    return {
        "powerState": state,
        "illuminanceLevel": level,
        "powerConsumption": power,
        "lifetimePowerConsumption": lifetime,
        "voltage": voltage,
    }


def traffic_counter(ctx: DeviceContext, t: float) -> Values:
    """Counts follow the rush hours; speed drops and occupancy rises with congestion;
    more lorries (longer vehicles) at night."""
    env = ctx.env
    shape = env.traffic(t)
    capacity = ctx.param(1, 60.0, 180.0) * ctx.device.interval_s / 300.0
    mean = capacity * shape * (1.0 + 0.08 * ctx.smooth(t, 3 * HOUR, 2))
    intensity = max(0.0, mean + math.sqrt(max(mean, 1.0)) * ctx.gauss(t, 3))
    congestion = shape**2
    speed = ctx.param(4, 38.0, 62.0) * (1.0 - 0.55 * congestion) + 2.0 * ctx.gauss(t, 5)
    length = 4.6 + 2.2 * (1.0 - env.activity(t)) * 0.5 + 0.3 * ctx.gauss(t, 6)
    occupancy = min(95.0, 100.0 * intensity / max(capacity, 1.0) * (0.25 + 0.5 * congestion))
    if intensity < 0.5:  # nothing passed: no speed or length to report
        speed, length, occupancy = 0.0, 0.0, 0.0
    return {
        "intensity": intensity,
        "averageVehicleSpeed": max(5.0, speed) if speed else 0.0,
        "occupancy": occupancy,
        "averageVehicleLength": length,
    }


def waste_container(ctx: DeviceContext, t: float) -> Values:
    """The bin fills at its own pace (faster in busy districts) and is emptied on a
    collection round every few days: fillingLevel then drops to near zero."""
    env = ctx.env
    every = DAY * (2, 3, 4, 7)[int(ctx.param(1, 0.0, 4.0))]
    phase = math.floor(ctx.param(2, 0.0, every / DAY)) * DAY + ctx.param(3, 6.0, 10.0) * HOUR
    since = (t - phase) % every
    rate = ctx.param(4, 12.0, 30.0) * (0.6 + 0.6 * ctx.busy())  # percent per day
    fill = ctx.param(5, 1.0, 5.0) + rate * since / DAY + 1.0 * ctx.gauss(t, 6)
    temperature = env.temperature(t) + 2.0 + 3.0 * env.daylight(t) + 0.3 * ctx.gauss(t, 7)
    hour_slot = int(t // HOUR)
    status = "ok"
    if ctx.chance(0.0005, 8, int(t // DAY)):
        status, temperature = "burning", 70.0 + 40.0 * unit(ctx.key, 9, hour_slot)
    elif ctx.chance(0.002, 10, hour_slot):
        status = "moved"
    elif ctx.chance(0.02, 11, hour_slot):
        status = "lidOpen"
    return {
        "fillingLevel": min(100.0, fill),
        "temperature": temperature,
        "status": status,
        "batteryLevel": ctx.battery(t),
    }


def water_level(ctx: DeviceContext, t: float) -> Values:
    """The river rises some hours after rain and recedes over a day or two; spring is
    higher than autumn; discharge follows a power-law rating curve of the stage."""
    env = ctx.env
    base = ctx.param(1, 0.8, 2.5)
    response = ctx.param(2, 0.02, 0.06) * env.river_response(t)
    seasonal = 0.25 * math.cos(2.0 * math.pi * ((t / DAY) % 365.25 - 100.0) / 365.25)
    height = base + response + seasonal + 0.05 * ctx.smooth(t, DAY, 3) + 0.005 * ctx.gauss(t, 4)
    zero = 0.2
    flow = ctx.param(5, 20.0, 60.0) * max(0.0, height - zero) ** 1.6
    return {"height": height, "flow": flow, "batteryLevel": ctx.battery(t)}


def weather_station(ctx: DeviceContext, t: float) -> Values:
    """The city's weather at the station, with its microclimate and exposure."""
    env = ctx.env
    rain_mm = env.rain_rate(t) * ctx.device.interval_s / HOUR * ctx.param(1, 0.8, 1.2)
    lux = 110_000.0 * env.daylight(t) * ctx.param(2, 0.7, 1.0)
    return {
        "temperature": env.temperature(t) + ctx.param(3, -0.8, 0.8) + 0.15 * ctx.gauss(t, 4),
        "relativeHumidity": env.humidity(t) + 1.5 * ctx.gauss(t, 5),
        "atmosphericPressure": env.pressure(t) - ctx.param(6, 0.0, 6.0) + 0.2 * ctx.gauss(t, 7),
        "windSpeed": env.wind(t) * ctx.param(8, 0.6, 1.4) + 0.3 * abs(ctx.gauss(t, 9)),
        "precipitation": rain_mm,
        "illuminance": min(65_535.0, lux),
    }


MODELS: dict[str, Model] = {
    "air_quality": air_quality,
    "noise": noise,
    "parking_spot": parking_spot,
    "streetlight": streetlight,
    "traffic_counter": traffic_counter,
    "waste_container": waste_container,
    "water_level": water_level,
    "weather_station": weather_station,
}
