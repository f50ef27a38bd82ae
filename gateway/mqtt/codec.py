"""Encoding and decoding of the MQTT v5 packets the gateway's subscriber uses."""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "CONNACK",
    "DISCONNECT",
    "PINGREQ_PACKET",
    "PINGRESP",
    "PUBACK",
    "PUBLISH",
    "SUBACK",
    "Connack",
    "MqttProtocolError",
    "encode_connect",
    "encode_disconnect",
    "encode_pubacks",
    "encode_subscribe",
    "encode_varint",
    "parse_connack",
    "parse_suback",
]

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 12, 13, 14

PINGREQ_PACKET = b"\xc0\x00"

# Property identifiers (MQTT v5 section 2.2.2.2).
_SESSION_EXPIRY = 0x11
_RECEIVE_MAXIMUM = 0x21
_MAXIMUM_PACKET_SIZE = 0x27
_REASON_STRING = 0x1F

_U16 = struct.Struct("!H")


class MqttProtocolError(Exception):
    """The peer sent something this client cannot accept."""


def encode_varint(n: int) -> bytes:
    """MQTT variable byte integer."""
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _str(s: str) -> bytes:
    raw = s.encode()
    return _U16.pack(len(raw)) + raw


def _bin(b: bytes) -> bytes:
    return _U16.pack(len(b)) + b


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + encode_varint(len(body)) + body


def encode_connect(
    client_id: str,
    *,
    clean_start: bool,
    keepalive: int,
    session_expiry: int,
    receive_maximum: int,
    maximum_packet_size: int = 0,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    """A CONNECT packet (MQTT 5). ``maximum_packet_size`` 0 sets no limit: a broker drops
    larger messages silently, so the gateway takes them and quarantines them itself."""
    flags = 0x02 if clean_start else 0
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    props = (
        bytes([_SESSION_EXPIRY])
        + struct.pack("!I", session_expiry)
        + bytes([_RECEIVE_MAXIMUM])
        + _U16.pack(receive_maximum)
    )
    if maximum_packet_size:
        props += bytes([_MAXIMUM_PACKET_SIZE]) + struct.pack("!I", maximum_packet_size)
    body = _str("MQTT") + bytes([5, flags]) + _U16.pack(keepalive)
    body += encode_varint(len(props)) + props + _str(client_id)
    if username is not None:
        body += _str(username)
    if password is not None:
        body += _bin(password.encode())
    return _packet(CONNECT << 4, body)


def encode_subscribe(packet_id: int, filters: list[str], qos: int) -> bytes:
    """A SUBSCRIBE packet; retained messages are not sent again on re-subscribe."""
    body = _U16.pack(packet_id) + b"\x00"
    for f in filters:
        # options: maximum QoS, Retain Handling 1 (send retained only on a new subscription)
        body += _str(f) + bytes([qos | 0x10])
    return _packet((SUBSCRIBE << 4) | 0x02, body)


def encode_pubacks(mids: list[int]) -> bytes:
    """PUBACKs (success, no properties) for many packet ids, as one buffer."""
    return b"".join([b"\x40\x02" + _U16.pack(m) for m in mids])


def encode_disconnect(reason: int = 0) -> bytes:
    """A DISCONNECT packet with a reason code."""
    return bytes([DISCONNECT << 4, 1, reason])


@dataclass(frozen=True, slots=True)
class Connack:
    """What the broker answered to CONNECT."""

    session_present: bool
    reason_code: int
    reason: str | None


_CONNACK_REASONS = {
    0x80: "unspecified error",
    0x81: "malformed packet",
    0x82: "protocol error",
    0x84: "unsupported protocol version",
    0x85: "client identifier not valid",
    0x86: "bad user name or password",
    0x87: "not authorized",
    0x88: "server unavailable",
    0x89: "server busy",
    0x8A: "banned",
    0x8C: "bad authentication method",
    0x95: "packet too large",
    0x97: "quota exceeded",
    0x9F: "connection rate exceeded",
}


def reason_text(code: int) -> str:
    """A readable name for a CONNACK/DISCONNECT reason code."""
    return _CONNACK_REASONS.get(code, f"reason code 0x{code:02x}")


def decode_varint(buf: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """(value, next position), or None if ``buf`` ends inside the integer."""
    mult, value = 1, 0
    for i in range(4):
        if pos + i >= len(buf):
            return None
        byte = buf[pos + i]
        value += (byte & 0x7F) * mult
        if not byte & 0x80:
            return value, pos + i + 1
        mult *= 128
    raise MqttProtocolError("malformed variable byte integer")


def _properties(body: bytes, pos: int) -> tuple[dict[int, object], int]:
    decoded = decode_varint(body, pos)
    if decoded is None:
        raise MqttProtocolError("truncated properties")
    length, pos = decoded
    end = pos + length
    props: dict[int, object] = {}
    while pos < end:
        ident = body[pos]
        pos += 1
        if ident in (0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A):
            props[ident] = body[pos]
            pos += 1
        elif ident in (0x13, 0x21, 0x22, 0x23):
            props[ident] = _U16.unpack_from(body, pos)[0]
            pos += 2
        elif ident in (0x02, 0x11, 0x18, 0x27):
            props[ident] = struct.unpack_from("!I", body, pos)[0]
            pos += 4
        elif ident == 0x0B:
            v = decode_varint(body, pos)
            if v is None:
                raise MqttProtocolError("truncated property")
            props[ident], pos = v
        elif ident in (0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F, 0x09, 0x16):
            n = _U16.unpack_from(body, pos)[0]
            props[ident] = bytes(body[pos + 2 : pos + 2 + n])
            pos += 2 + n
        elif ident == 0x26:
            for _ in range(2):
                n = _U16.unpack_from(body, pos)[0]
                pos += 2 + n
        else:
            raise MqttProtocolError(f"unknown property 0x{ident:02x}")
    return props, end


def parse_connack(body: bytes) -> Connack:
    """Decode a CONNACK body."""
    if len(body) < 2:
        raise MqttProtocolError("short CONNACK")
    reason: str | None = None
    if len(body) > 2:
        props, _ = _properties(body, 2)
        raw = props.get(_REASON_STRING)
        if isinstance(raw, bytes):
            reason = raw.decode(errors="replace")
    return Connack(session_present=bool(body[0] & 1), reason_code=body[1], reason=reason)


def parse_suback(body: bytes) -> tuple[int, list[int]]:
    """(packet id, reason codes) of a SUBACK body."""
    packet_id = _U16.unpack_from(body, 0)[0]
    _, pos = _properties(body, 2)
    return packet_id, list(body[pos:])
