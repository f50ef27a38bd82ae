"""The simulated fleet: reproducible, realistic mix, and a device file the registry imports."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ingest.devices import load_device_file
from simulators import SimulatorError, build_fleet, default_districts
from simulators.fleet import M_PER_DEG_LAT
from simulators.mix import LORAWAN_PROFILES

from .helpers import REGISTRY


def test_same_seed_same_fleet_other_seed_other_fleet() -> None:
    a = build_fleet(REGISTRY, 300, seed=7)
    assert a == build_fleet(REGISTRY, 300, seed=7)
    assert a != build_fleet(REGISTRY, 300, seed=8)


def test_every_profile_present_with_a_city_like_mix() -> None:
    fleet = build_fleet(REGISTRY, 1000, seed=1)
    counts = fleet.counts()
    assert set(counts) == set(REGISTRY.names())
    assert sum(counts.values()) == 1000
    assert counts["parking_spot"] > counts["traffic_counter"] > counts["air_quality"]
    assert counts["streetlight"] > 5 * counts["weather_station"]
    small = build_fleet(REGISTRY, len(REGISTRY), seed=1)
    assert all(n == 1 for n in small.counts().values())
    assert sum(build_fleet(REGISTRY, 3, seed=1).counts().values()) == 3


def test_ids_unique_and_lorawan_devices_have_dev_euis() -> None:
    fleet = build_fleet(REGISTRY, 600, seed=3)
    ids = [d.id for d in fleet]
    assert len(set(ids)) == len(ids)
    assert "aq-0001" in ids and "park-0001" in ids
    euis = [d.dev_eui for d in fleet if d.lorawan]
    assert euis and len(set(euis)) == len(euis)
    for d in fleet:
        if d.lorawan:
            assert d.dev_eui is not None and len(d.dev_eui) == 16
            assert d.dev_eui == d.dev_eui.lower() and int(d.dev_eui, 16) >= 0
            assert d.application_id
            assert d.binary == (REGISTRY.get(d.profile).codec is not None)
        else:
            assert d.dev_eui is None and not d.binary
    lora_share = [d.lorawan for d in fleet if d.profile in LORAWAN_PROFILES]
    assert sum(lora_share) > 0.8 * len(lora_share)
    native = [d.fmt for d in fleet if d.profile in ("streetlight", "traffic_counter")]
    assert native.count("json") > 0.7 * len(native)


def test_devices_sit_in_their_district_with_jittered_intervals() -> None:
    fleet = build_fleet(REGISTRY, 400, seed=5)
    areas = {a.name: a for a in fleet.districts}
    assert len(areas) == 8
    for d in fleet:
        area = areas[d.district]
        north = (d.lat - area.lat) * M_PER_DEG_LAT
        east = (d.lon - area.lon) * M_PER_DEG_LAT * math.cos(math.radians(area.lat))
        assert abs(north) <= area.half_size_m + 1 and abs(east) <= area.half_size_m + 1
        nominal = REGISTRY.get(d.profile).reporting_interval_s
        assert 0.89 * nominal <= d.interval_s <= 1.11 * nominal
        assert 0 <= d.phase_s <= d.interval_s + 0.1
    assert len({d.interval_s for d in fleet}) > 50
    assert len({d.district for d in fleet}) == 8


def test_custom_centre_and_districts() -> None:
    districts = default_districts((40.4168, -3.7038))[:2]
    fleet = build_fleet(REGISTRY, 50, seed=1, districts=districts)
    assert {d.district for d in fleet} <= {"Old Town", "Riverside"}
    assert all(40.3 < d.lat < 40.5 for d in fleet)
    with pytest.raises(SimulatorError):
        build_fleet(REGISTRY, 5, districts=())


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_fleet_file_round_trip(tmp_path: Path, suffix: str) -> None:
    fleet = build_fleet(REGISTRY, 120, seed=2)
    path = tmp_path / f"fleet{suffix}"
    fleet.write(path)
    assert load_device_file(path) == fleet.records()
    by_id = {r.id: r for r in load_device_file(path)}
    lora = next(d for d in fleet if d.fmt == "chirpstack")
    assert by_id[lora.id].attributes["dev_eui"] == lora.dev_eui
    assert by_id[lora.id].district == lora.district


def test_fleet_file_needs_a_known_suffix(tmp_path: Path) -> None:
    with pytest.raises(SimulatorError):
        build_fleet(REGISTRY, 5).write(tmp_path / "fleet.txt")
