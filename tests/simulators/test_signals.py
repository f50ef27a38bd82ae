"""Signal models: valid for the profile, deterministic, and shaped like a real city."""

from __future__ import annotations

import numpy as np
import pytest

from device_profiles import Rejection
from simulators import CitySignals, Fleet, SimDevice, build_fleet
from simulators.environment import DAY, HOUR

from .helpers import NOW, REGISTRY

FLEET = build_fleet(REGISTRY, 240, seed=11)
SIGNALS = CitySignals(FLEET)


def first(profile: str, fleet: Fleet = FLEET) -> SimDevice:
    return next(d for d in fleet if d.profile == profile)


def num(value: float | str) -> float:
    assert isinstance(value, float)
    return value


def local_noon(t: float) -> float:
    """The next 12:00 local time after ``t``."""
    env = SIGNALS.env
    return t + ((12.0 - env.hour(t)) % 24.0) * HOUR


def test_every_profile_has_a_model_and_every_value_is_valid() -> None:
    times = NOW + np.arange(0, 14 * DAY, 5 * HOUR + 17 * 60)  # two weeks, all hours
    seen: set[str] = set()
    for device in FLEET:
        compiled = REGISTRY.compiled(device.profile)
        for t in times[device.index % 7 :: 3]:
            values = SIGNALS.values(device, float(t))
            assert list(values) == list(REGISTRY.get(device.profile).metrics)
            for metric, value in values.items():
                result = compiled.check(metric, value)
                assert not isinstance(result, Rejection), (device.id, metric, value, result)
        seen.add(device.profile)
    assert seen == set(REGISTRY.names())


def test_deterministic_given_seed_and_time() -> None:
    device = first("air_quality")
    again = CitySignals(build_fleet(REGISTRY, 240, seed=11))
    assert SIGNALS.values(device, NOW) == again.values(device, NOW)
    other = CitySignals(FLEET, seed=12)
    assert any(SIGNALS.values(device, NOW + i * 300) != other.values(device, NOW + i * 300)
               for i in range(5))  # fmt: skip
    a, b = SIGNALS.values(device, NOW), SIGNALS.values(device, NOW + 300)
    assert a != b  # noise moves the readings


def _daily_mean(device: SimDevice, metric: str, hours: list[float], days: int = 10) -> float:
    base = local_noon(NOW) - 12 * HOUR
    vals = [
        float(SIGNALS.values(device, base + d * DAY + h * HOUR)[metric])
        for d in range(days)
        for h in hours
    ]
    return sum(vals) / len(vals)


def test_traffic_and_no2_peak_in_rush_hours() -> None:
    counter = first("traffic_counter")
    assert _daily_mean(counter, "intensity", [8.0, 17.5]) > 3 * _daily_mean(
        counter, "intensity", [3.0]
    )
    station = first("air_quality")
    assert _daily_mean(station, "no2", [8.0]) > _daily_mean(station, "no2", [3.0]) + 10


def test_noise_louder_by_day() -> None:
    meter = first("noise")
    assert _daily_mean(meter, "LAeq", [14.0]) > _daily_mean(meter, "LAeq", [3.0]) + 8


def test_streetlights_on_at_night_dimmed_late_off_by_day() -> None:
    light = first("streetlight")
    noon = local_noon(NOW)
    day_states = {SIGNALS.values(light, noon + d * DAY)["powerState"] for d in range(5)}
    late = [SIGNALS.values(light, noon + d * DAY + 14 * HOUR) for d in range(5)]  # 02:00
    evening = [SIGNALS.values(light, noon + d * DAY + 8 * HOUR) for d in range(5)]  # 20:00
    assert day_states == {"off"}
    assert sum(v["powerState"] == "low" for v in late) >= 4
    assert sum(v["powerState"] == "on" for v in evening) >= 4
    on = next(v for v in evening if v["powerState"] == "on")
    dim = next(v for v in late if v["powerState"] == "low")
    assert num(on["powerConsumption"]) > num(dim["powerConsumption"]) > 0.4
    meters = [SIGNALS.values(light, noon + h * HOUR)["lifetimePowerConsumption"] for h in range(48)]
    assert meters == sorted(meters)


def test_bins_fill_then_get_emptied() -> None:
    bin_ = first("waste_container")
    levels = [float(SIGNALS.values(bin_, NOW + h * HOUR)["fillingLevel"]) for h in range(24 * 15)]
    drops = [i for i in range(1, len(levels)) if levels[i] < levels[i - 1] - 15]
    assert len(drops) >= 2  # collected at least twice in fifteen days
    i = drops[0]
    assert levels[i] < 10 and max(levels[:i]) > 20


def test_parking_spots_turn_over_and_batteries_drain() -> None:
    spots = [d for d in FLEET if d.profile == "parking_spot"][:10]
    states = {SIGNALS.values(s, NOW + k * 900)["status"] for s in spots for k in range(96)}
    assert {"free", "occupied"} <= states
    changes = sum(
        SIGNALS.values(spots[0], NOW + k * 900)["status"]
        != SIGNALS.values(spots[0], NOW + (k + 1) * 900)["status"]
        for k in range(96)
    )
    assert changes >= 4
    year = [float(SIGNALS.values(spots[0], NOW + m * 30 * DAY)["batteryLevel"]) for m in range(12)]
    assert year[-1] < year[0]


def test_rivers_rise_after_rain() -> None:
    gauge = first("water_level")
    env = SIGNALS.env
    t = NOW
    while not env.rain_rate(t) > 1.0:  # the next decent shower
        t += 3 * HOUR
    before = float(SIGNALS.values(gauge, t - 3 * HOUR)["height"])
    after = max(float(SIGNALS.values(gauge, t + h * HOUR)["height"]) for h in range(4, 16))
    assert after > before
    station = first("weather_station")
    assert num(SIGNALS.values(station, t + 600)["precipitation"]) > 0


@pytest.mark.parametrize("profile", REGISTRY.names())
def test_series_helper(profile: str) -> None:
    device = first(profile)
    series = SIGNALS.series(device, NOW + np.arange(0, DAY, HOUR))
    assert set(series) == set(REGISTRY.get(profile).metrics)
    assert all(len(v) == 24 for v in series.values())
