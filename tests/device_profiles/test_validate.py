"""CompiledProfile.check: accepted readings and every rejection code."""

from __future__ import annotations

import pytest

from device_profiles import REJECTION_CODES, CompiledProfile, ProfileRegistry, Rejection


@pytest.fixture(scope="module")
def air() -> CompiledProfile:
    return CompiledProfile.from_profile(ProfileRegistry.load().get("air_quality"))


@pytest.fixture(scope="module")
def light() -> CompiledProfile:
    return CompiledProfile.from_profile(ProfileRegistry.load().get("streetlight"))


def test_accepts_numbers_in_range(air: CompiledProfile) -> None:
    assert air.check("pm25", 12.1) == (12.1, None)
    assert air.check("pm25", 0) == (0.0, None)
    assert air.check("pm25", 1000) == (1000.0, None)  # bounds are inclusive
    assert air.check("temperature", -12.5) == (-12.5, None)
    result = air.check("pm10", 7)
    assert isinstance(result, tuple) and type(result[0]) is float


def test_accepts_states_as_index(light: CompiledProfile) -> None:
    assert light.check("powerState", "off") == (0.0, "off")
    assert light.check("powerState", "on") == (1.0, "on")
    assert light.check("powerState", "bootingUp") == (3.0, "bootingUp")


@pytest.mark.parametrize(
    ("metric", "value", "code", "reason"),
    [
        ("x", 1.0, "unknown_metric", "unknown metric 'x' for profile 'air_quality'"),
        ("pm25", "12", "wrong_type", "wrong type: expected number, got str"),
        ("pm25", True, "wrong_type", "wrong type: expected number, got bool"),
        ("pm25", None, "wrong_type", "wrong type: expected number, got NoneType"),
        ("pm25", [1], "wrong_type", "wrong type: expected number, got list"),
        ("pm25", float("nan"), "nan", "NaN is not a valid value"),
        ("pm25", float("inf"), "infinity", "Infinity is not a valid value"),
        ("pm25", float("-inf"), "infinity", "-Infinity is not a valid value"),
        (
            "pm25",
            1123.4,
            "out_of_range",
            "value 1123.4 outside valid range [0, 1000] for pm25 (GQ)",
        ),
        ("pm25", -0.5, "out_of_range", "value -0.5 outside valid range [0, 1000] for pm25 (GQ)"),
        ("relativeHumidity", 101, "out_of_range", "value 101 outside valid range [0, 100]"),
        ("pm25", 10**400, "out_of_range", "value 10000000000000000000000000000"),
    ],
)
def test_number_rejections(
    air: CompiledProfile, metric: str, value: object, code: str, reason: str
) -> None:
    result = air.check(metric, value)
    assert isinstance(result, Rejection)
    assert result.code == code
    assert result.reason.startswith(reason), result.reason
    assert code in REJECTION_CODES


def test_state_rejections(light: CompiledProfile) -> None:
    result = light.check("powerState", "dim")
    assert result == Rejection(
        "unknown_state",
        "unknown state 'dim' for powerState (expected one of off, on, low, bootingUp)",
    )
    result = light.check("powerState", 1)
    assert result == Rejection("wrong_type", "wrong type: expected state string, got int")
    result = light.check("powerState", True)
    assert isinstance(result, Rejection) and result.code == "wrong_type"


def test_long_values_are_shortened(light: CompiledProfile) -> None:
    result = light.check("powerState", "x" * 10_000)
    assert isinstance(result, Rejection) and len(result.reason) < 120


def test_float_subclasses_are_numbers(air: CompiledProfile) -> None:
    class MyFloat(float):
        pass

    assert air.check("pm25", MyFloat(3.5)) == (3.5, None)


def test_metric_names_follow_profile(air: CompiledProfile) -> None:
    assert air.metric_names == ("pm25", "pm10", "no2", "o3", "temperature", "relativeHumidity")
