"""Every wire format decodes, with the gateway's own decoders, to the values that were sent."""

from __future__ import annotations

import base64

import orjson
import pytest

from device_profiles import decode
from device_profiles.topics import TopicScheme
from simulators import CitySimulation, Fleet, Outgoing, SimDevice, build_fleet

from .helpers import NOW, REGISTRY

FLEET = build_fleet(REGISTRY, 400, seed=4)
SCHEME = TopicScheme(prefix="city/devices", ttn_prefix="tts/v3", chirpstack_prefix="cs/app")
FORMATS_PER_PROFILE = sorted({(d.profile, d.fmt) for d in FLEET})


def telemetry(sim: CitySimulation, device: SimDevice, t: float = NOW) -> Outgoing:
    return next(m for m in sim.tick(device, t, t) if m.fmt != "status")


def test_the_fleet_uses_every_format_and_both_lorawan_payload_kinds() -> None:
    fmts = {d.fmt for d in FLEET}
    assert fmts == {"json", "senml", "ttn", "chirpstack"}
    assert any(d.binary for d in FLEET) and any(d.lorawan and not d.binary for d in FLEET)


@pytest.mark.parametrize(("profile", "fmt"), FORMATS_PER_PROFILE)
def test_decodes_to_the_values_sent(profile: str, fmt: str) -> None:
    sim = CitySimulation(FLEET, SCHEME)
    devices = [d for d in FLEET if d.profile == profile and d.fmt == fmt][:3]
    spec = REGISTRY.get(profile)
    compiled = REGISTRY.compiled(profile)
    for device in devices:
        for k in range(3):
            t = NOW + k * device.interval_s
            msg = telemetry(sim, device, t)
            assert msg.values is not None and msg.fault is None
            decoded = decode(fmt, msg.payload, spec)
            assert decoded.errors == ()
            assert dict((m, v) for m, _, v in decoded.readings) == msg.values
            assert all(not hasattr(compiled.check(m, v), "code") for m, v in msg.values.items())
            assert decoded.time == pytest.approx(t, abs=1e-3)
            # ChirpStack events are attributed by DevEUI (deviceName is a free label).
            claimed = device.dev_eui if fmt == "chirpstack" else device.id
            assert decoded.device_id == claimed
            assert decoded.seq == (None if fmt == "senml" else k + 1)
            route = SCHEME.parse(msg.topic)
            assert route.kind == "telemetry" and route.fmt == fmt
            assert route.device_ref == (device.dev_eui if fmt == "chirpstack" else device.id)


def test_binary_lorawan_frames_use_the_profile_codec() -> None:
    sim = CitySimulation(FLEET, SCHEME)
    for fmt, key in (("ttn", "frm_payload"), ("chirpstack", "data")):
        device = next(d for d in FLEET if d.fmt == fmt and d.binary)
        msg = telemetry(sim, device)
        doc = orjson.loads(msg.payload)
        body = doc["uplink_message"] if fmt == "ttn" else doc
        assert "decoded_payload" not in body and "object" not in body
        codec = sim.encoder.codec(device.profile)
        assert codec is not None
        assert codec.decode(base64.b64decode(body[key])) == msg.values


def test_envelopes_look_like_the_network_servers() -> None:
    sim = CitySimulation(FLEET, SCHEME)
    tts_dev = next(d for d in FLEET if d.fmt == "ttn")
    tts = orjson.loads(telemetry(sim, tts_dev).payload)
    assert tts["end_device_ids"]["device_id"] == tts_dev.id
    assert tts["end_device_ids"]["dev_eui"] == str(tts_dev.dev_eui).upper()
    assert tts["end_device_ids"]["application_ids"]["application_id"] == tts_dev.application_id
    up = tts["uplink_message"]
    assert up["f_port"] == 2 and up["f_cnt"] == 1 and up["rx_metadata"][0]["rssi"] < 0
    assert up["received_at"].endswith("Z")
    cs_dev = next(d for d in FLEET if d.fmt == "chirpstack")
    cs = orjson.loads(telemetry(sim, cs_dev).payload)
    info = cs["deviceInfo"]
    assert info["devEui"] == cs_dev.dev_eui and info["deviceName"] == cs_dev.id
    assert info["applicationId"] == cs_dev.application_id and info["tenantId"]
    assert info["deviceProfileName"] == cs_dev.profile
    assert cs["fCnt"] == 1 and len(cs["deduplicationId"]) == 36
    senml_dev = next(d for d in FLEET if d.fmt == "senml")
    pack = orjson.loads(telemetry(sim, senml_dev).payload)
    assert pack[0]["bn"] == f"urn:dev:ow:{senml_dev.id}:" and pack[0]["bt"] > 1e9


def test_native_devices_announce_themselves_first() -> None:
    sim = CitySimulation(FLEET, SCHEME)
    native = next(d for d in FLEET if d.fmt == "json")
    first = sim.tick(native, NOW, NOW)
    assert [m.fmt for m in first] == ["status", "json"]
    assert first[0].topic == SCHEME.status_topic(native.id) and first[0].payload == b"online"
    assert [m.fmt for m in sim.tick(native, NOW + 60, NOW + 60)] == ["json"]
    lora = next(d for d in FLEET if d.lorawan)
    assert [m.fmt for m in sim.tick(lora, NOW, NOW)] == [lora.fmt]


def _first_messages(fleet: Fleet) -> list[bytes]:
    sim = CitySimulation(fleet, SCHEME)
    return [m.payload for d in fleet.devices[::7] for m in sim.tick(d, NOW, NOW)]


def test_same_seed_same_first_messages() -> None:
    assert _first_messages(build_fleet(REGISTRY, 400, seed=4)) == _first_messages(FLEET)
    assert _first_messages(build_fleet(REGISTRY, 400, seed=5)) != _first_messages(FLEET)
