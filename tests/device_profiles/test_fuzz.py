"""Malformed input of many shapes: decoders and codecs may only raise DecodeError."""

from __future__ import annotations

import json
import random

import pytest

from device_profiles import FORMATS, Decoded, DecodeError, ProfileRegistry, codec_for, decode

REGISTRY = ProfileRegistry.load()
PROFILES = [None, REGISTRY.get("parking_spot"), REGISTRY.get("weather_station")]

SHAPES: list[bytes] = [
    b"",
    b"null",
    b"true",
    b"0",
    b"-1e999",
    b"1e400",
    b'"text"',
    b"[]",
    b"{}",
    b"[null]",
    b"[[]]",
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b"\x00\x01\x02",
    b"\xef\xbb\xbf{}",
    b'{"values": {"pm25": 1e309}}',
    b'{"values": {"pm25": 99999999999999999999999999999}}',
    b'{"ts": 1e309, "values": {}}',
    b'{"ts": "9999-99-99T99:99:99Z", "values": {}}',
    b'{"ts": "' + b"9" * 10000 + b'", "values": {}}',
    b'[{"bn": null}]',
    b'[{"bt": 1e308, "n": "a", "v": 1, "t": 1e308}]',
    b'[{"n": "a", "v": 1, "t": "x"}]',
    b'[{"n": {"x": 1}, "v": 1}]',
    b'[{"n": "a", "v": 1, "u": 5}]',
    b'[{"bv": true, "n": "a", "v": 1}]',
    b'{"uplink_message": null}',
    b'{"uplink_message": []}',
    b'{"uplink_message": {"frm_payload": ""}}',
    b'{"uplink_message": {"frm_payload": "AAAA", "f_cnt": 99999999999999999999}}',
    b'{"end_device_ids": {"device_id": ["x"]}, "uplink_message": {"decoded_payload": {}}}',
    b'{"uplink_message": {"decoded_payload": {}, "received_at": {}}}',
    b'{"deviceInfo": null, "object": {}}',
    b'{"deviceInfo": {"deviceName": 5}, "object": {}}',
    b'{"data": "////", "time": 12}',
    b'{"data": "AQ==", "object": null}',
]


def check(fmt: str, payload: bytes, profile: object) -> None:
    try:
        result = decode(fmt, payload, profile, now=1_764_070_000.0)  # type: ignore[arg-type]
    except DecodeError as exc:
        assert exc.reason
        # the dispatcher's last-resort net must not be what caught it: decoders check shapes
        assert exc.__cause__ is None, f"{fmt}: {exc.reason} for {payload[:80]!r}"
    else:
        assert isinstance(result, Decoded)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("payload", SHAPES, ids=range(len(SHAPES)))
def test_shapes_raise_only_decode_error(fmt: str, payload: bytes) -> None:
    for profile in PROFILES:
        check(fmt, payload, profile)


def random_json(rng: random.Random, depth: int = 0) -> object:
    pick = rng.randrange(10 if depth < 4 else 6)
    atoms: list[object] = [
        None,
        rng.choice([True, False]),
        rng.randint(-(2**70), 2**70),
        rng.uniform(-1e12, 1e15),
        rng.choice(["", "on", "AQI=", "2026-11-25T12:00:00Z", "urn:dev:ow:x:", "qg=="]),
        rng.choice([0, 1, -1, 2**28]),
    ]
    if pick < 6:
        return atoms[pick]
    keys = [
        "id", "ts", "seq", "values", "bn", "bt", "bu", "bv", "n", "t", "u", "v", "vs", "vb",
        "end_device_ids", "device_id", "uplink_message", "decoded_payload", "frm_payload",
        "f_cnt", "received_at", "deviceInfo", "deviceName", "devEui", "time", "object",
        "data", "fCnt",
    ]  # fmt: skip
    if pick < 8:
        return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randrange(5))}
    return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]


def test_random_structures() -> None:
    rng = random.Random(20261125)
    for _ in range(3000):
        payload = json.dumps(random_json(rng)).encode()
        for fmt in FORMATS:
            check(fmt, payload, rng.choice(PROFILES))


def test_random_byte_mutations_of_valid_payloads() -> None:
    rng = random.Random(7)
    valid = [
        b'{"id": "aq-1", "ts": 1764070000, "seq": 3, "values": {"pm25": 1}}',
        b'[{"bn": "urn:dev:ow:1:", "bt": 1764070000, "n": "LAeq", "v": 50, "t": -1}]',
        b'{"end_device_ids": {"device_id": "d"}, "uplink_message": {"frm_payload": "AVo="}}',
        b'{"deviceInfo": {"devEui": "01"}, "time": "2022-07-18T09:34:15Z", "data": "AVo="}',
    ]
    for _ in range(4000):
        data = bytearray(rng.choice(valid))
        for _ in range(rng.randrange(1, 4)):
            pos = rng.randrange(len(data))
            if rng.random() < 0.5:
                data[pos] = rng.randrange(256)
            else:
                del data[pos:]
                break
        for fmt in FORMATS:
            check(fmt, bytes(data), rng.choice(PROFILES))


def test_random_frames_for_codecs() -> None:
    rng = random.Random(3)
    codecs = [codec_for(p) for p in REGISTRY]
    frames = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40))) for _ in range(3000)]
    for codec in filter(None, codecs):
        for frame in frames:
            try:
                values, errors = codec.decode_partial(frame)
            except DecodeError:
                continue
            assert all(isinstance(v, float | str) for v in values.values())
            assert all(isinstance(reason, str) for _, reason in errors)
