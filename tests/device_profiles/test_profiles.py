"""Built-in profiles, the registry and profile file error reporting."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_profiles import (
    BUILTIN_DIR,
    UNITS,
    ProfileError,
    ProfileFileError,
    ProfileRegistry,
    UnknownProfileError,
    load_profile_file,
)
from device_profiles.codec_spec import CayenneCodecSpec, LayoutCodecSpec

EXPECTED = {
    "air_quality",
    "noise",
    "parking_spot",
    "waste_container",
    "streetlight",
    "traffic_counter",
    "water_level",
    "weather_station",
}

NOISE = """\
name: noise
title: Operator noise meter
smart_data_model: NoiseLevelObserved
reporting_interval_s: 30
metrics:
  LAeq:
    type: number
    unit: 2N
    min: 30
    max: 130
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_profiles_load() -> None:
    registry = ProfileRegistry.load()
    assert set(registry.names()) >= EXPECTED
    assert len(registry) == len(list(BUILTIN_DIR.glob("*.yaml")))
    assert [p.name for p in registry] == sorted(registry.names())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builtin_profile_is_sound(name: str) -> None:
    profile = ProfileRegistry.load().get(name)
    assert profile.metrics
    assert profile.reporting_interval_s > 0
    for metric, spec in profile.metrics.items():
        if spec.type == "number":
            assert spec.unit in UNITS, metric
            assert spec.min is not None and spec.max is not None and spec.min < spec.max
        else:
            assert spec.states and len(set(spec.states)) == len(spec.states)


def test_air_quality_is_the_benchmark_payload() -> None:
    profile = ProfileRegistry.load().get("air_quality")
    assert list(profile.metrics) == ["pm25", "pm10", "no2", "o3", "temperature", "relativeHumidity"]
    assert profile.metrics["pm25"].unit == "GQ"
    assert profile.smart_data_model == "AirQualityObserved"


def test_state_metrics_and_codecs_of_lorawan_profiles() -> None:
    registry = ProfileRegistry.load()
    assert registry.get("parking_spot").metrics["status"].states == (
        "free",
        "occupied",
        "closed",
        "unknown",
    )
    assert "burning" in (registry.get("waste_container").metrics["status"].states or ())
    assert registry.get("streetlight").metrics["powerState"].states == (
        "off",
        "on",
        "low",
        "bootingUp",
    )
    assert isinstance(registry.get("parking_spot").codec, LayoutCodecSpec)
    assert isinstance(registry.get("waste_container").codec, LayoutCodecSpec)
    assert isinstance(registry.get("weather_station").codec, CayenneCodecSpec)


def test_registry_lookup() -> None:
    registry = ProfileRegistry.load()
    assert "noise" in registry
    assert "nope" not in registry
    with pytest.raises(UnknownProfileError, match="unknown profile 'nope'") as info:
        registry.get("nope")
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, ProfileError)
    assert registry.compiled("noise").name == "noise"
    with pytest.raises(UnknownProfileError):
        registry.compiled("nope")


def test_operator_directory_overrides_and_adds(tmp_path: Path) -> None:
    write(tmp_path, "noise.yaml", NOISE)
    write(tmp_path, "bench_noise.yml", NOISE.replace("name: noise", "name: bench_noise"))
    # JSON profile
    write(
        tmp_path,
        "counter.json",
        '{"name": "counter", "title": "t", "smart_data_model": "Device",'
        ' "reporting_interval_s": 60,'
        ' "metrics": {"intensity": {"type": "number", "unit": "C62", "min": 0, "max": 10}}}',
    )
    write(tmp_path, "README.txt", "not a profile")
    registry = ProfileRegistry.load([tmp_path])
    assert registry.get("noise").reporting_interval_s == 30
    assert list(registry.get("noise").metrics) == ["LAeq"]
    assert registry.source("noise") == tmp_path / "noise.yaml"
    assert "counter" in registry
    assert "bench_noise" in registry
    assert "air_quality" in registry  # built-ins are still there
    # later directories win over earlier ones
    later = tmp_path / "later"
    later.mkdir()
    write(later, "noise.yml", NOISE.replace("reporting_interval_s: 30", "reporting_interval_s: 5"))
    assert ProfileRegistry.load([tmp_path, later]).get("noise").reporting_interval_s == 5


def test_operator_directory_errors(tmp_path: Path) -> None:
    with pytest.raises(ProfileFileError, match="profile directory not found"):
        ProfileRegistry.load([tmp_path / "missing"])
    write(tmp_path, "noise.yaml", NOISE)
    write(tmp_path, "noise.yml", NOISE)
    with pytest.raises(ProfileFileError, match="also defined by"):
        ProfileRegistry.load([tmp_path])


def test_schema_error_names_file_line_and_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "noise.yaml", NOISE.replace("min: 30", "min: loud"))
    with pytest.raises(ProfileFileError) as info:
        load_profile_file(path)
    assert str(info.value) == f"{path}:9: metrics.LAeq.min: Input should be a valid number"
    assert info.value.line == 9


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "noise.yaml", NOISE.replace("max: 130", "max: [130"))
    with pytest.raises(ProfileFileError) as info:
        load_profile_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}:")
    assert "YAML syntax error" in message
    assert info.value.line is not None and info.value.line >= 10


def test_json_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "x.json", '{\n "name": "x",\n "title": \n}')
    with pytest.raises(ProfileFileError, match=r"x\.json:4: invalid JSON"):
        load_profile_file(path)


@pytest.mark.parametrize(
    ("old", "new", "line", "problem"),
    [
        ("unit: 2N", "unit: DB", 8, "metrics.LAeq.unit: unknown unit code 'DB'"),
        ("max: 130", "max: 10", 6, "metrics.LAeq: 'min' (30) must be below 'max' (10)"),
        ("reporting_interval_s: 30", "reporting_interval_s: -1", 4, "reporting_interval_s:"),
        ("title: Operator noise meter\n", "", 1, "title: Field required"),
        (
            "    min: 30\n",
            "    min: 30\n    colour: red\n",
            10,
            "metrics.LAeq.colour: Extra inputs",
        ),
        ("type: number", "type: state", 6, "metrics.LAeq: 'unit', 'min' and 'max' are not"),
        ("name: noise", "name: Noise", 1, "name: String should match pattern"),
        ("name: noise", "name: other", 1, "name: 'other' does not match file name 'noise'"),
        ("    min: 30\n", "    min: 30\n    min: 31\n", 10, "duplicate key 'min'"),
    ],
)
def test_schema_problems(tmp_path: Path, old: str, new: str, line: int, problem: str) -> None:
    assert old in NOISE
    path = write(tmp_path, "noise.yaml", NOISE.replace(old, new))
    with pytest.raises(ProfileFileError) as info:
        load_profile_file(path)
    assert str(info.value).startswith(f"{path}:{line}: {problem}"), str(info.value)


def test_unquoted_on_off_states_get_a_hint(tmp_path: Path) -> None:
    text = NOISE + "  powerState:\n    type: state\n    states: [on, off]\n"
    path = write(tmp_path, "noise.yaml", text)
    with pytest.raises(ProfileFileError, match=r"noise\.yaml:13: metrics\.powerState\.states\.0"):
        load_profile_file(path)
    with pytest.raises(ProfileFileError, match="quote the value"):
        load_profile_file(path)


CODEC_BASE = """\
name: bin
title: t
smart_data_model: ParkingSpot
reporting_interval_s: 60
metrics:
  status:
    type: state
    states: [free, occupied]
  batteryLevel:
    type: number
    unit: P1
    min: 0
    max: 100
  flow:
    type: number
    unit: MQS
    min: 0
    max: 10000
codec:
"""


@pytest.mark.parametrize(
    ("codec", "problem"),
    [
        (
            "  kind: layout\n  fields:\n    - {metric: nope, type: uint8}\n",
            "codec refers to unknown metric 'nope'",
        ),
        (
            "  kind: layout\n  fields:\n    - {metric: batteryLevel, type: int8, scale: 0.5}\n",
            "layout field int8 for 'batteryLevel' carries [-64, 63.5]",
        ),
        (
            "  kind: layout\n  fields:\n    - {metric: status, type: uint8, scale: 2}\n",
            "is a state: use an integer type",
        ),
        (
            "  kind: layout\n  fields:\n    - {metric: status, type: uint8}\n"
            "    - {metric: status, type: uint8}\n",
            "more than once",
        ),
        (
            "  kind: cayenne_lpp\n  channels:\n    1: {metric: status, type: temperature}\n",
            "needs a digital type",
        ),
        (
            "  kind: cayenne_lpp\n  channels:\n    1: flow\n",
            "channel 1 (analog_input) for 'flow' carries [-327.68, 327.67]",
        ),
        ("  kind: protobuf\n", "codec: Input tag 'protobuf' found using 'kind'"),
    ],
)
def test_codec_problems(tmp_path: Path, codec: str, problem: str) -> None:
    path = write(tmp_path, "bin.yaml", CODEC_BASE + codec)
    with pytest.raises(ProfileFileError) as info:
        load_profile_file(path)
    assert f"{path}:19: " in str(info.value)
    assert problem in str(info.value)


def test_empty_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ProfileFileError, match="file is empty"):
        load_profile_file(write(tmp_path, "a.yaml", "# nothing\n"))
    with pytest.raises(ProfileFileError, match="top level must be a mapping"):
        load_profile_file(write(tmp_path, "b.yaml", "- 1\n- 2\n"))
    with pytest.raises(ProfileFileError, match="cannot read file"):
        load_profile_file(tmp_path / "missing.yaml")
