"""One MQTT v5 connection: a subscriber that hands each PUBLISH to a callback as it is
parsed, and acknowledges QoS 1 messages only when told to."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from .codec import (
    CONNACK,
    DISCONNECT,
    PINGREQ_PACKET,
    PINGRESP,
    PUBACK,
    PUBLISH,
    SUBACK,
    Connack,
    MqttProtocolError,
    decode_varint,
    encode_connect,
    encode_disconnect,
    encode_pubacks,
    encode_subscribe,
    parse_connack,
    parse_suback,
    reason_text,
)

log = logging.getLogger(__name__)

__all__ = ["ConnectOptions", "MqttConnectError", "MqttConnection", "PublishHandler"]

# topic, payload, packet id (0 for QoS 0), qos, dup flag
PublishHandler = Callable[[str, bytes, int, int, bool], None]


class MqttConnectError(Exception):
    """The broker could not be reached or refused the connection."""


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """How to open the session."""

    host: str
    port: int
    client_id: str
    clean_start: bool = False
    keepalive: int = 30
    session_expiry: int = 7 * 24 * 3600
    receive_maximum: int = 30_000
    username: str | None = None
    password: str | None = None
    connect_timeout: float = 10.0


class MqttConnection(asyncio.Protocol):
    """The protocol object; use :meth:`open` to create one."""

    def __init__(self, on_publish: PublishHandler) -> None:
        self._on_publish = on_publish
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self._connack: asyncio.Future[Connack] = loop.create_future()
        self._subacks: dict[int, asyncio.Future[list[int]]] = {}
        self._closed: asyncio.Future[str] = loop.create_future()
        self._next_id = 0
        self._last_pingresp = loop.time()
        self.session_present = False

    # -- life cycle -------------------------------------------------------------------
    @classmethod
    async def open(cls, options: ConnectOptions, on_publish: PublishHandler) -> MqttConnection:
        """Connect and wait for CONNACK; raises :class:`MqttConnectError` on refusal."""
        loop = asyncio.get_running_loop()
        where = f"{options.host}:{options.port}"
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(lambda: cls(on_publish), options.host, options.port),
                options.connect_timeout,
            )
        except (OSError, TimeoutError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise MqttConnectError(f"cannot reach MQTT broker at {where}: {reason}") from None
        assert proto._transport is not None
        proto._transport.write(
            encode_connect(
                options.client_id,
                clean_start=options.clean_start,
                keepalive=options.keepalive,
                session_expiry=options.session_expiry,
                receive_maximum=options.receive_maximum,
                username=options.username,
                password=options.password,
            )
        )
        try:
            connack = await asyncio.wait_for(
                asyncio.shield(proto._connack), options.connect_timeout
            )
        except (TimeoutError, ConnectionError) as exc:
            proto.abort()
            raise MqttConnectError(f"no CONNACK from {where}: {exc or 'timed out'}") from None
        if connack.reason_code >= 0x80:
            proto.abort()
            detail = f" ({connack.reason})" if connack.reason else ""
            raise MqttConnectError(
                f"MQTT broker at {where} refused the connection: "
                f"{reason_text(connack.reason_code)}{detail}"
            )
        proto.session_present = connack.session_present
        return proto

    async def subscribe(self, filters: list[str], qos: int = 1, timeout: float = 10.0) -> None:
        """Subscribe and check every filter was granted."""
        packet_id = self._packet_id()
        fut: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._subacks[packet_id] = fut
        self._write(encode_subscribe(packet_id, filters, qos))
        codes = await asyncio.wait_for(fut, timeout)
        refused = [(f, c) for f, c in zip(filters, codes, strict=False) if c >= 0x80]
        if refused:
            raise MqttConnectError(
                "subscription refused: " + ", ".join(f"{f} ({reason_text(c)})" for f, c in refused)
            )

    def ack(self, mids: list[int]) -> None:
        """Send PUBACK for these packet ids, in one write; a no-op once closed."""
        if mids and self._transport is not None and not self._transport.is_closing():
            self._transport.write(encode_pubacks(mids))

    async def keepalive(self, interval: float) -> None:
        """Ping the broker; close the connection if it stops answering."""
        loop = asyncio.get_running_loop()
        while not self._closed.done():
            await asyncio.sleep(interval / 2)
            if loop.time() - self._last_pingresp > interval * 1.5:
                log.warning("MQTT broker stopped answering pings; closing the connection")
                self.abort()
                return
            self._write(PINGREQ_PACKET)

    async def wait_closed(self) -> str:
        """Wait until the connection is gone; returns why."""
        return await asyncio.shield(self._closed)

    @property
    def closed(self) -> bool:
        """True once the connection is gone."""
        return self._closed.done()

    async def disconnect(self) -> None:
        """Polite DISCONNECT (the session stays on the broker), then close."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(encode_disconnect(0))
            self._transport.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._closed), 5.0)

    def pause_reading(self) -> None:
        """Stop taking data from the broker (the socket buffer then fills and TCP pushes
        back); used while shutting down."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()

    def abort(self) -> None:
        """Drop the connection at once."""
        if self._transport is not None:
            self._transport.abort()

    # -- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f"connection lost: {exc}" if exc else "connection closed"
        self._finish(reason)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        try:
            consumed = self._parse(buf)
        except MqttProtocolError as exc:
            log.error("MQTT protocol error from broker: %s; dropping the connection", exc)
            self._finish(f"protocol error: {exc}")
            self.abort()
            return
        if consumed:
            del buf[:consumed]

    # -- internals ----------------------------------------------------------------------
    def _parse(self, buf: bytearray) -> int:
        pos, n = 0, len(buf)
        on_publish = self._on_publish
        mv = memoryview(buf)
        try:
            while n - pos >= 2:
                first = buf[pos]
                b1 = buf[pos + 1]
                if b1 < 0x80:  # remaining length fits in one byte
                    length, start = b1, pos + 2
                elif n - pos >= 3 and buf[pos + 2] < 0x80:  # ... or in two
                    length, start = (b1 & 0x7F) | (buf[pos + 2] << 7), pos + 3
                else:
                    decoded = decode_varint(buf, pos + 1)
                    if decoded is None:
                        break
                    length, start = decoded
                end = start + length
                if end > n:
                    break
                ptype = first >> 4
                if ptype == PUBLISH:
                    tlen = (buf[start] << 8) | buf[start + 1]
                    p = start + 2 + tlen
                    topic = str(mv[start + 2 : p], "utf-8", "replace")
                    qos = (first >> 1) & 3
                    mid = 0
                    if qos:
                        mid = (buf[p] << 8) | buf[p + 1]
                        p += 2
                    plen = buf[p]
                    if plen < 0x80:
                        p += 1 + plen
                    else:
                        decoded = decode_varint(buf, p)
                        if decoded is None:
                            raise MqttProtocolError("bad property length")
                        p = decoded[0] + decoded[1]
                    on_publish(topic, bytes(mv[p:end]), mid, qos, bool(first & 0x08))
                else:
                    self._control(ptype, bytes(mv[start:end]))
                pos = end
        finally:
            mv.release()
        return pos

    def _control(self, ptype: int, body: bytes) -> None:
        if ptype == PINGRESP:
            self._last_pingresp = asyncio.get_running_loop().time()
        elif ptype == CONNACK:
            if not self._connack.done():
                self._connack.set_result(parse_connack(body))
        elif ptype == SUBACK:
            packet_id, codes = parse_suback(body)
            fut = self._subacks.pop(packet_id, None)
            if fut is not None and not fut.done():
                fut.set_result(codes)
        elif ptype == DISCONNECT:
            code = body[0] if body else 0
            log.warning("MQTT broker disconnected us: %s", reason_text(code))
            self._finish(f"broker sent DISCONNECT: {reason_text(code)}")
        elif ptype == PUBACK:
            pass  # this connection publishes nothing at QoS 1
        else:
            raise MqttProtocolError(f"unexpected packet type {ptype}")

    def _finish(self, reason: str) -> None:
        if not self._closed.done():
            self._closed.set_result(reason)
        if not self._connack.done():
            self._connack.set_exception(ConnectionError(reason))
        for fut in self._subacks.values():
            if not fut.done():
                fut.set_exception(ConnectionError(reason))
        self._subacks.clear()

    def _write(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError("MQTT connection is closed")
        self._transport.write(data)

    def _packet_id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id
