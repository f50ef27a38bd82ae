"""Payload decoders: native JSON, SenML, The Things Stack v3 and ChirpStack v4."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest

from device_profiles import FORMATS, Decoded, DecodeError, Profile, ProfileRegistry, decode

REGISTRY = ProfileRegistry.load()
PARKING = REGISTRY.get("parking_spot")
WEATHER = REGISTRY.get("weather_station")
NOISE = REGISTRY.get("noise")
NOW = 1_764_070_000.0


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# --- native JSON -------------------------------------------------------------------------


def test_json_full() -> None:
    payload = (
        b'{"id": "aq-0001", "ts": 1764070000.5, "seq": 42,'
        b' "values": {"pm25": 12.1, "powerState": "on"}}'
    )
    assert decode("json", payload, None) == Decoded(
        "aq-0001", 1764070000.5, 42, (("pm25", None, 12.1), ("powerState", None, "on")), ()
    )


def test_json_minimal_and_timestamp_forms() -> None:
    assert decode("json", b'{"values": {}}', None) == Decoded(None, None, None, (), ())
    ms = decode("json", b'{"ts": 1764070000500, "values": {"a": 1}}', None)
    assert ms.time == 1764070000.5
    rfc = decode("json", b'{"ts": "2026-11-25T12:00:00Z", "values": {"a": 1}}', None)
    assert rfc.time == epoch("2026-11-25T12:00:00")
    offset = decode("json", b'{"ts": "2026-11-25T13:00:00.250+01:00", "values": {}}', None)
    assert offset.time == epoch("2026-11-25T12:00:00") + 0.25


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"null", "top level must be an object, got null"),
        (b"[1, 2]", "top level must be an object, got array"),
        (b"42", "top level must be an object, got number"),
        (b'{"id": "x"}', "missing 'values'"),
        (b'{"values": [1]}', "'values' must be an object, got array"),
        (b'{"values": null}', "'values' must be an object, got null"),
        (b'{"ts": "yesterday", "values": {}}', "bad timestamp: 'yesterday' is not RFC 3339"),
        (b'{"ts": "2026-11-25T12:00:00", "values": {}}', "bad timestamp"),  # no offset
        (b'{"ts": "2026-13-25T12:00:00Z", "values": {}}', "bad timestamp"),
        (b'{"ts": -5, "values": {}}', "bad timestamp"),
        (b'{"ts": true, "values": {}}', "bad timestamp: boolean"),
        (b'{"ts": [], "values": {}}', "bad timestamp: expected number or RFC 3339"),
        (b'{"id": 7, "values": {}}', "id must be a string, got number"),
        (b'{"seq": -1, "values": {}}', "bad seq"),
        (b'{"seq": 1.5, "values": {}}', "bad seq"),
        (b'{"values": {}', "invalid JSON"),
        (b"\xff\xfe", "invalid JSON"),
        (b"", "invalid JSON"),
    ],
)
def test_json_malformed(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason.replace("(", r"\(").replace("[", r"\[")):
        decode("json", payload, None)


# --- SenML ---------------------------------------------------------------------------------


def test_senml_rfc8428_example_with_base_time() -> None:
    pack = [
        {
            "bn": "urn:dev:ow:10e2073a0108006:",
            "bt": 1.276020076001e09,
            "bu": "A",
            "bver": 5,
            "n": "voltage",
            "u": "V",
            "v": 120.1,
        },
        {"n": "current", "t": -5, "v": 1.2},
        {"n": "current", "t": -4, "v": 1.3},
    ]
    result = decode("senml", orjson.dumps(pack), None, now=NOW)
    assert result.device_id == "10e2073a0108006"
    assert result.time == 1.276020076001e09
    assert result.seq is None
    assert result.readings == (
        ("voltage", 1.276020076001e09, 120.1),
        ("current", 1.276020076001e09 - 5, 1.2),
        ("current", 1.276020076001e09 - 4, 1.3),
    )
    assert result.errors == ()


def test_senml_relative_times_base_value_and_plain_base_name() -> None:
    pack = [
        {"bn": "noise-7/", "bv": 50, "bu": "dB"},
        {"n": "LAeq", "v": 5.2, "t": -60},
        {"n": "LAmax", "v": 21, "t": -30},
        {"n": "LAS", "v": 60},
        {"n": "label", "vs": "calibrated"},
        {"n": "alarm", "vb": True},
    ]
    result = decode("senml", orjson.dumps(pack), NOISE, now=NOW)
    assert result.device_id == "noise-7"
    assert result.time is None
    assert result.readings == (
        ("LAeq", NOW - 60, 55.2),
        ("LAmax", NOW - 30, 71.0),
        ("LAS", None, 110.0),
        ("label", None, "calibrated"),
        ("alarm", None, True),
    )


def test_senml_record_errors_do_not_stop_the_pack() -> None:
    pack = [
        {"bn": "urn:dev:mac:0024befffe804ff1:", "bt": 1764070000},
        {"n": "LAeq", "v": 55.0},
        {"n": "LAmax"},
        {"n": "LAS", "v": "loud"},
        {"v": 3},
        {"n": "LAeq", "u": "Cel", "v": 20},
        {"n": "x", "v": 1, "vs": "a"},
        {"n": "blob", "vd": "aGk"},
    ]
    result = decode("senml", orjson.dumps(pack), NOISE, now=NOW)
    assert result.device_id == "0024befffe804ff1"
    assert result.readings == (("LAeq", 1764070000.0, 55.0),)
    assert [e[0] for e in result.errors] == ["LAmax", "LAS", "", "LAeq", "x", "blob"]
    reasons = [e[1] for e in result.errors]
    assert reasons[0] == "record 2: record has no value"
    assert reasons[1] == "record 3: v must be a number, got string"
    assert reasons[2] == "record 4: record has no name (n)"
    assert reasons[3] == "record 5: unit 'Cel' does not match profile unit 2N"
    assert "exactly one of" in reasons[4]
    assert "vd" in reasons[5]


@pytest.mark.parametrize(
    ("pack", "reason"),
    [
        ({"n": "a", "v": 1}, "SenML pack must be an array, got object"),
        ([], "empty SenML pack"),
        ([1], "SenML record 0 must be an object, got number"),
        ([{"bn": 5, "n": "a", "v": 1}], "bn must be a string"),
        ([{"bt": "now", "n": "a", "v": 1}], "bt must be a number"),
        ([{"bn": "a:", "n": "x", "v": 1}, {"bn": "b:", "n": "y", "v": 2}], "pack mixes devices"),
    ],
)
def test_senml_malformed(pack: object, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode("senml", orjson.dumps(pack), None, now=NOW)


# --- The Things Stack v3 -------------------------------------------------------------------


def tts_uplink(**uplink: object) -> dict[str, object]:
    """The uplink example of the TTS data formats page (made valid JSON)."""
    message: dict[str, object] = {
        "session_key_id": "AXA50tHUGUucuzS/bCGMNw==",
        "f_cnt": 1,
        "frm_payload": "gkHe",
        "decoded_payload": {"temperature": 1.0, "luminosity": 0.64},
        "rx_metadata": [
            {
                "gateway_ids": {"gateway_id": "gtw1", "eui": "9C5C8E00001A05C4"},
                "time": "2020-02-12T15:15:45.787Z",
                "timestamp": 2463457000,
                "rssi": -35,
                "channel_rssi": -35,
                "snr": 5,
                "uplink_token": "ChIKEAoEZ3R3MRIInFyOAAAaBcQQ6L3Vlgk=",
                "channel_index": 2,
            }
        ],
        "settings": {
            "data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 7}},
            "coding_rate": "4/6",
            "frequency": "868300000",
            "timestamp": 2463457000,
            "time": "2020-02-12T15:15:45.787Z",
        },
        "consumed_airtime": "0.056576s",
        "network_ids": {"net_id": "000013", "tenant_id": "tenant1", "cluster_id": "nam1"},
        "received_at": "2020-02-12T15:15:45.789585559Z",
    }
    message.update(uplink)
    return {
        "end_device_ids": {
            "device_id": "dev1",
            "application_ids": {"application_id": "app1"},
            "dev_eui": "0004A30B001C0530",
            "join_eui": "800000000000000C",
            "dev_addr": "00BCB929",
        },
        "correlation_ids": ["as:up:01E0WZGT6Y7657CPFPE5WEYDSQ"],
        "received_at": "2020-02-12T15:15:46.014773143Z",
        "uplink_message": {k: v for k, v in message.items() if v is not None},
    }


def test_ttn_decoded_payload() -> None:
    result = decode("ttn", orjson.dumps(tts_uplink()), None)
    assert result.device_id == "dev1"
    assert result.time == pytest.approx(epoch("2020-02-12T15:15:45.789585"), abs=1e-6)
    assert result.seq == 1
    assert result.readings == (("temperature", None, 1.0), ("luminosity", None, 0.64))


def test_ttn_frm_payload_with_cayenne_codec() -> None:
    frame = bytes.fromhex("01670110026861")  # 27.2 degC on ch1, 48.5 %RH on ch2
    body = tts_uplink(
        decoded_payload=None, frm_payload=base64.b64encode(frame).decode(), f_cnt=None
    )
    del body["uplink_message"]["received_at"]  # type: ignore[attr-defined]
    result = decode("ttn", orjson.dumps(body), WEATHER)
    assert result.readings == (("temperature", None, 27.2), ("relativeHumidity", None, 48.5))
    assert result.seq is None  # TTS omits f_cnt when it is 0; we do not guess
    assert result.time == pytest.approx(epoch("2020-02-12T15:15:46.014773"), abs=1e-6)


def test_ttn_frm_payload_codec_errors_are_partial() -> None:
    frame = bytes.fromhex("0167011009670110")  # channel 9 is not mapped
    body = tts_uplink(decoded_payload=None, frm_payload=base64.b64encode(frame).decode())
    result = decode("ttn", orjson.dumps(body), WEATHER)
    assert result.readings == (("temperature", None, 27.2),)
    assert result.errors == (("", "channel 9 (temperature) is not mapped to a metric"),)


@pytest.mark.parametrize(
    ("changes", "profile", "reason"),
    [
        (
            {"decoded_payload": None},
            None,
            "frm_payload without decoded_payload and profile has no codec",
        ),
        (
            {"decoded_payload": None},
            NOISE,
            "frm_payload without decoded_payload and profile has no codec",
        ),
        (
            {"decoded_payload": None, "frm_payload": "!!!"},
            PARKING,
            "frm_payload is not valid base64",
        ),
        (
            {"decoded_payload": None, "frm_payload": 12},
            PARKING,
            "frm_payload must be a base64 string",
        ),
        ({"decoded_payload": None}, PARKING, "oversize frame: 3 bytes, layout expects 2"),
        (
            {"decoded_payload": None, "frm_payload": None},
            None,
            "neither decoded_payload nor frm_payload",
        ),
        ({"decoded_payload": [1]}, None, "decoded_payload must be an object, got array"),
        ({"f_cnt": "1"}, None, "bad f_cnt"),
        ({"received_at": "12/02/2020"}, None, "bad received_at"),
    ],
)
def test_ttn_malformed(changes: dict[str, object], profile: Profile | None, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode("ttn", orjson.dumps(tts_uplink(**changes)), profile)


def test_ttn_not_an_uplink() -> None:
    join = {"end_device_ids": {"device_id": "dev1"}, "join_accept": {"session_key_id": "AX"}}
    with pytest.raises(DecodeError, match="missing 'uplink_message'"):
        decode("ttn", orjson.dumps(join), None)
    with pytest.raises(DecodeError, match="end_device_ids must be an object"):
        decode("ttn", b'{"end_device_ids": "dev1", "uplink_message": {}}', None)


# --- ChirpStack v4 -------------------------------------------------------------------------


def chirpstack_up(**changes: object) -> dict[str, object]:
    """The ``up`` event example of the ChirpStack v4 documentation."""
    event: dict[str, object] = {
        "deduplicationId": "3ac7e3c4-4401-4b8d-9386-a5c902f9202d",
        "time": "2022-07-18T09:34:15.775023242+00:00",
        "deviceInfo": {
            "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
            "tenantName": "ChirpStack",
            "applicationId": "17c82e96-be03-4f38-aef3-f83d48582d97",
            "applicationName": "Test application",
            "deviceProfileId": "14855bf7-d10d-4aee-b618-ebfcb64dc7ad",
            "deviceProfileName": "Test device-profile",
            "deviceName": "Test device",
            "devEui": "0101010101010101",
            "tags": {"key": "value"},
        },
        "devAddr": "00189440",
        "dr": 1,
        "fPort": 1,
        "data": "qg==",
        "rxInfo": [
            {
                "gatewayId": "0016c001f153a14c",
                "uplinkId": 4217106255,
                "rssi": -36,
                "snr": 10.5,
                "context": "E3OWOQ==",
                "metadata": {"region_name": "eu868", "region_common_name": "EU868"},
            }
        ],
        "txInfo": {
            "frequency": 867100000,
            "modulation": {
                "lora": {"bandwidth": 125000, "spreadingFactor": 11, "codeRate": "CR_4_5"}
            },
        },
    }
    event.update(changes)
    return {k: v for k, v in event.items() if v is not None}


def test_chirpstack_reference_example_is_too_short_for_parking_layout() -> None:
    with pytest.raises(DecodeError, match="truncated frame: 1 bytes, layout expects 2"):
        decode("chirpstack", orjson.dumps(chirpstack_up()), PARKING)


def test_chirpstack_data_with_layout_codec() -> None:
    body = chirpstack_up(data=base64.b64encode(b"\x01\x4b").decode(), fCnt=17)
    result = decode("chirpstack", orjson.dumps(body), PARKING)
    assert result.device_id == "0101010101010101"
    assert result.time == pytest.approx(epoch("2022-07-18T09:34:15.775023"), abs=1e-6)
    assert result.seq == 17
    assert result.readings == (("status", None, "occupied"), ("batteryLevel", None, 75.0))


def test_chirpstack_object_and_device_name_fallback() -> None:
    body = chirpstack_up(object={"fillingLevel": 40.5, "status": "ok"})
    del body["deviceInfo"]["devEui"]  # type: ignore[attr-defined]
    result = decode("chirpstack", orjson.dumps(body), None)
    assert result.device_id == "Test device"
    assert result.readings == (("fillingLevel", None, 40.5), ("status", None, "ok"))
    assert result.seq is None


@pytest.mark.parametrize(
    ("changes", "profile", "reason"),
    [
        ({}, None, "data without object and profile has no codec"),
        ({"data": None}, None, "neither object nor data"),
        ({"object": "x"}, None, "object must be an object, got string"),
        ({"deviceInfo": []}, None, "deviceInfo must be an object, got array"),
        ({"time": 5e300}, PARKING, "bad time"),
        ({"time": "2022-07-18T09:34:15+25:00"}, PARKING, "bad time"),
        ({"fCnt": True}, None, "bad fCnt"),
        ({"data": "qg"}, PARKING, "not valid base64"),
    ],
)
def test_chirpstack_malformed(
    changes: dict[str, object], profile: Profile | None, reason: str
) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode("chirpstack", orjson.dumps(chirpstack_up(**changes)), profile)


# --- all formats ---------------------------------------------------------------------------


def test_unknown_format() -> None:
    assert FORMATS == ("json", "senml", "ttn", "chirpstack")
    with pytest.raises(DecodeError, match="unknown payload format 'xml'"):
        decode("xml", b"{}", None)
