"""Binary codecs: Cayenne LPP vectors, layout round trips, truncation and encode errors."""

from __future__ import annotations

import pytest

from device_profiles import DecodeError, EncodeError, Profile, ProfileRegistry, codec_for
from device_profiles.codecs import CayenneCodec, LayoutCodec, build_codec


def profile(metrics: dict[str, object], codec: dict[str, object]) -> Profile:
    return Profile.model_validate(
        {
            "name": "test",
            "title": "t",
            "smart_data_model": "Device",
            "reporting_interval_s": 60,
            "metrics": metrics,
            "codec": codec,
        }
    )


NUM = {"type": "number", "unit": "CEL", "min": -40, "max": 85}


@pytest.fixture
def lpp() -> CayenneCodec:
    p = profile(
        {
            "temperature": NUM,
            "waterTemperature": NUM,
            "relativeHumidity": {"type": "number", "unit": "P1", "min": 0, "max": 100},
            "atmosphericPressure": {"type": "number", "unit": "A97", "min": 300, "max": 1100},
            "illuminance": {"type": "number", "unit": "LUX", "min": 0, "max": 65535},
            "voltage": {"type": "number", "unit": "VLT", "min": -50, "max": 300},
            "occupancy": {"type": "state", "states": ["free", "occupied"]},
            "powerState": {"type": "state", "states": ["off", "on"]},
        },
        {
            "kind": "cayenne_lpp",
            "channels": {
                "3": "temperature",
                "5": {"metric": "waterTemperature", "type": "temperature"},
                "6": "relativeHumidity",
                "7": "atmosphericPressure",
                "8": "illuminance",
                "9": "voltage",
                "10": {"metric": "occupancy", "type": "presence"},
                "11": {"metric": "powerState", "type": "digital_output"},
            },
        },
    )
    codec = build_codec(p)
    assert isinstance(codec, CayenneCodec)
    return codec


def test_cayenne_known_vectors(lpp: CayenneCodec) -> None:
    # Reference example of the Cayenne LPP documentation: two temperature sensors.
    assert lpp.decode(bytes.fromhex("03670110056700FF")) == {
        "temperature": 27.2,
        "waterTemperature": 25.5,
    }
    # humidity 0x61 = 97 -> 48.5 %, barometer 0x2774 = 10100 -> 1010.0 hPa
    assert lpp.decode(bytes.fromhex("066861077327740865012c")) == {
        "relativeHumidity": 48.5,
        "atmosphericPressure": 1010.0,
        "illuminance": 300.0,
    }
    # negative temperature and analog input: -4.1 degC, -12.34 V
    assert lpp.decode(bytes.fromhex("0367ffd70902fb2e")) == {"temperature": -4.1, "voltage": -12.34}
    # presence and digital output map to states by index
    assert lpp.decode(bytes.fromhex("0a66010b0100")) == {
        "occupancy": "occupied",
        "powerState": "off",
    }


def test_cayenne_partial_errors(lpp: CayenneCodec) -> None:
    # channel 2 is not mapped; channel 4 carries GPS (9 bytes, skipped); channel 10 index 7
    frame = bytes.fromhex("02670110" + "04880000000000000000ff" + "0a6607" + "03670110")
    values, errors = lpp.decode_partial(frame)
    assert values == {"temperature": 27.2}
    assert [m for m, _ in errors] == ["", "", "occupancy"]
    assert "channel 2 (temperature) is not mapped" in errors[0][1]
    assert "gps is not supported" in errors[1][1]
    with pytest.raises(DecodeError, match="channel 2"):
        lpp.decode(frame)
    # a channel carrying a different type than configured
    values, errors = lpp.decode_partial(bytes.fromhex("036861"))
    assert values == {} and "carries humidity, expected temperature" in errors[0][1]


@pytest.mark.parametrize(
    ("hexdata", "reason"),
    [
        ("", "empty Cayenne LPP frame"),
        ("03", "dangling byte"),
        ("036701", "truncated frame: channel 3 temperature needs 2 bytes, 1 left"),
        ("03ee0110", "unknown Cayenne LPP type 0xee on channel 3"),
        ("00" * 243, "oversize frame: 243 bytes"),
    ],
)
def test_cayenne_frame_errors(lpp: CayenneCodec, hexdata: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        lpp.decode_partial(bytes.fromhex(hexdata))


def test_cayenne_encode_round_trip(lpp: CayenneCodec) -> None:
    values: dict[str, float | str] = {
        "waterTemperature": 25.5,
        "temperature": 27.2,
        "occupancy": "occupied",
        "voltage": -12.34,
    }
    data = lpp.encode(values)
    assert data.hex() == "03670110056700ff0902fb2e0a6601"  # ordered by channel
    assert lpp.decode(data) == values


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"windSpeed": 1.0}, "without a Cayenne channel: windSpeed"),
        ({"temperature": "hot"}, "expected a number, got str"),
        ({"temperature": True}, "expected a number, got bool"),
        ({"temperature": float("nan")}, "cannot be encoded"),
        ({"voltage": 400.0}, "does not fit Cayenne analog_input"),
        ({"occupancy": "maybe"}, "not one of free, occupied"),
    ],
)
def test_cayenne_encode_errors(
    lpp: CayenneCodec, values: dict[str, float | str], reason: str
) -> None:
    with pytest.raises(EncodeError, match=reason):
        lpp.encode(values)


def test_weather_station_round_trip() -> None:
    codec = codec_for(ProfileRegistry.load().get("weather_station"))
    assert codec is not None
    values: dict[str, float | str] = {
        "temperature": -4.1,
        "relativeHumidity": 55.5,
        "atmosphericPressure": 1013.2,
        "windSpeed": 3.21,
        "precipitation": 0.2,
        "illuminance": 40000.0,
    }
    assert codec.decode(codec.encode(values)) == values


def test_layout_round_trip_waste_container() -> None:
    p = ProfileRegistry.load().get("waste_container")
    codec = codec_for(p)
    assert isinstance(codec, LayoutCodec)
    assert codec_for(p) is codec  # cached per profile
    values: dict[str, float | str] = {
        "fillingLevel": 42.5,
        "temperature": -3.7,
        "status": "burning",
        "batteryLevel": 87.0,
    }
    data = codec.encode(values)
    assert data == bytes([85, 0xFF, 0xDB, 5, 87])  # 42.5/0.5, -37 as int16 BE, index 5, 87
    assert codec.decode(data) == values


def test_layout_little_endian_float_offset() -> None:
    p = profile(
        {
            "temperature": NUM,
            "atmosphericPressure": {"type": "number", "unit": "A97", "min": 800, "max": 1100},
            "powerState": {"type": "state", "states": ["off", "on", "low"]},
        },
        {
            "kind": "layout",
            "fields": [
                {"metric": "temperature", "type": "float32", "endian": "little"},
                {"metric": "atmosphericPressure", "type": "uint16", "scale": 0.1, "offset": 500},
                {"metric": "powerState", "type": "int8"},
            ],
        },
    )
    codec = build_codec(p)
    assert isinstance(codec, LayoutCodec) and codec.size == 7
    data = codec.encode({"temperature": 21.3, "atmosphericPressure": 1013.2, "powerState": "low"})
    assert data[4:] == bytes.fromhex("140c02")  # (1013.2 - 500) / 0.1 = 5132 = 0x140c
    assert data[:4] == bytes.fromhex("6666aa41")  # 21.3 as little-endian float32
    assert codec.decode(data) == {
        "temperature": 21.3,
        "atmosphericPressure": 1013.2,
        "powerState": "low",
    }


@pytest.fixture
def parking() -> LayoutCodec:
    codec = codec_for(ProfileRegistry.load().get("parking_spot"))
    assert isinstance(codec, LayoutCodec)
    return codec


def test_layout_parking_spot(parking: LayoutCodec) -> None:
    assert parking.decode(b"\x01\x5a") == {"status": "occupied", "batteryLevel": 90.0}
    assert parking.encode({"status": "free", "batteryLevel": 12}) == b"\x00\x0c"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "truncated frame: 0 bytes, layout expects 2"),
        (b"\x01", "truncated frame: 1 bytes, layout expects 2"),
        (b"\x01\x02\x03", "oversize frame: 3 bytes, layout expects 2"),
    ],
)
def test_layout_size_errors(parking: LayoutCodec, data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        parking.decode_partial(data)


def test_layout_bad_state_index(parking: LayoutCodec) -> None:
    values, errors = parking.decode_partial(b"\x09\x50")
    assert values == {"batteryLevel": 80.0}
    assert errors == (("status", "state index 9 out of range (4 states)"),)
    with pytest.raises(DecodeError, match="status: state index 9"):
        parking.decode(b"\x09\x50")


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"status": "free"}, "missing value for 'batteryLevel'"),
        ({"status": "free", "batteryLevel": 1, "x": 1}, "not in the layout: x"),
        ({"status": "gone", "batteryLevel": 1}, "'gone' is not one of free, occupied"),
        ({"status": "free", "batteryLevel": 256}, "does not fit uint8"),
        ({"status": "free", "batteryLevel": -1}, "does not fit uint8"),
        ({"status": "free", "batteryLevel": "full"}, "expected a number, got str"),
        ({"status": "free", "batteryLevel": float("inf")}, "cannot be encoded as uint8"),
    ],
)
def test_layout_encode_errors(
    parking: LayoutCodec, values: dict[str, float | str], reason: str
) -> None:
    with pytest.raises(EncodeError, match=reason):
        parking.encode(values)
