"""A raw-socket MQTT 3.1.1 publisher for load mode: frames are built with one bytes
concatenation and written in batches, acknowledgements are counted by a reader thread.

paho-mqtt costs about 100 µs of CPU per QoS 1 message here, so load-mode publishers on
the same two cores as the broker, the gateway and PostgreSQL would measure themselves.
This one costs a few microseconds; it speaks only CONNECT, PUBLISH, PUBACK, PINGREQ and
DISCONNECT, which is all a load generator needs. It has the same interface as
:class:`simulators.publisher.Publisher` (blocking use).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from types import TracebackType
from typing import Self

from .errors import SimulatorError

__all__ = ["RawPublisher"]

_FLUSH_BYTES = 32 * 1024
_FLUSH_AFTER = 0.002  # seconds: at low rates every message goes out at once


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _str(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("!H", len(raw)) + raw


class RawPublisher:
    """One connection that publishes, with a bound on unacknowledged messages."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        max_outstanding: int = 10_000,
        keepalive: int = 60,
        connect_timeout: float = 10.0,
    ) -> None:
        if max_outstanding >= 65535:
            raise ValueError("max_outstanding must stay below the packet id space")
        self.host, self.port, self.client_id = host, port, client_id
        self.max_outstanding = max_outstanding
        self._keepalive = keepalive
        self._timeout = connect_timeout
        self.published = 0
        self.completed = 0
        self.failed = 0
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._buf: list[bytes] = []
        self._buffered = 0
        self._last_flush = time.perf_counter()
        self._mid = 0
        self._acked = threading.Condition()
        self._topics: dict[str, bytes] = {}
        self._closed = False

    def __enter__(self) -> Self:
        sock = socket.create_connection((self.host, self.port), self._timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = _str("MQTT") + bytes([4, 0x02]) + struct.pack("!H", self._keepalive)
        body += _str(self.client_id)
        sock.sendall(b"\x10" + _varint(len(body)) + body)
        connack = sock.recv(4)
        if len(connack) < 4 or connack[0] != 0x20 or connack[3] != 0:
            sock.close()
            raise SimulatorError(f"broker at {self.host}:{self.port} refused the connection")
        sock.settimeout(None)
        self._sock = sock
        self._reader = threading.Thread(target=self._read, name="rawpub-reader", daemon=True)
        self._reader.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def outstanding(self) -> int:
        """Published but not acknowledged yet."""
        return self.published - self.completed

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Queue one message; written in batches of about 32 KiB (or after 2 ms)."""
        t = self._topics.get(topic)
        if t is None:
            t = self._topics[topic] = _str(topic)
        if qos:
            self._mid = self._mid % 65535 + 1
            body = t + struct.pack("!H", self._mid) + payload
            frame = b"\x32" + _varint(len(body)) + body
        else:
            body = t + payload
            frame = b"\x30" + _varint(len(body)) + body
            self.completed += 1
        self.published += 1
        self._buf.append(frame)
        self._buffered += len(frame)
        now = time.perf_counter()
        if self._buffered >= _FLUSH_BYTES or now - self._last_flush >= _FLUSH_AFTER:
            self._flush(now)

    def _flush(self, now: float | None = None) -> None:
        if self._buf and self._sock is not None:
            try:
                self._sock.sendall(b"".join(self._buf))
            except OSError as exc:
                self.failed += len(self._buf)
                raise SimulatorError(f"publishing failed: {exc}") from None
            self._buf.clear()
            self._buffered = 0
        self._last_flush = now if now is not None else time.perf_counter()

    def wait_room(self, timeout: float = 30.0) -> None:
        """Block until fewer than ``max_outstanding`` messages await acknowledgement."""
        self._flush()
        deadline = time.monotonic() + timeout
        with self._acked:
            while self.outstanding >= self.max_outstanding and not self._closed:
                if not self._acked.wait(max(0.0, deadline - time.monotonic())):
                    raise SimulatorError("broker stopped acknowledging")

    def drain(self, timeout: float) -> bool:
        """Wait until every message is acknowledged; False on timeout."""
        self._flush()
        deadline = time.monotonic() + timeout
        with self._acked:
            while self.outstanding and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._acked.wait(left)
        return not self.outstanding

    def _read(self) -> None:
        sock = self._sock
        assert sock is not None
        pending = b""
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                with self._acked:
                    self._closed = True
                    self._acked.notify_all()
                return
            pending += data
            acks, pos, n = 0, 0, len(pending)
            while n - pos >= 2:
                size = 2 + pending[pos + 1]  # PUBACK/PINGRESP: remaining length < 128
                if n - pos < size:
                    break
                if pending[pos] >> 4 == 4:
                    acks += 1
                pos += size
            pending = pending[pos:]
            if acks:
                with self._acked:
                    self.completed += acks
                    self._acked.notify_all()

    def close(self) -> None:
        """Flush, say DISCONNECT and close."""
        if self._sock is None:
            return
        try:
            self._flush()
            self._sock.sendall(b"\xe0\x00")
        except (OSError, SimulatorError):
            pass
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        if self._reader is not None:
            self._reader.join(5)
        self._sock = None
