"""Private Mosquitto brokers for tests: started on a free loopback port, stopped after."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"

# The broker settings citygate needs (see docs/deployment.md): QoS 1 messages are never
# dropped for a slow subscriber, and the subscriber's receive maximum sets the window.
# `user root`: when the tests run as root, mosquitto would otherwise switch to its own
# user and could not read the test's temporary files (ignored for other users).
BASE_CONFIG = """\
user root
allow_anonymous {anonymous}
max_inflight_messages 0
max_queued_messages 0
max_queued_bytes 0
persistence {persistence}
persistence_location {dir}/
autosave_interval 1
log_dest file {dir}/mosquitto.log
log_type error
log_type warning
"""


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    """Wait until something listens on ``127.0.0.1:port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class Broker:
    """A running private broker."""

    port: int
    directory: Path
    config: str
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start (or restart) the broker with its configuration and persistence."""
        conf = self.directory / "mosquitto.conf"
        conf.write_text(self.config + f"listener {self.port} 127.0.0.1\n")
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_port(self.port)

    def stop(self) -> None:
        """Stop the broker (it saves its persistence file on SIGTERM)."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    @property
    def log(self) -> str:
        """The broker's log so far."""
        path = self.directory / "mosquitto.log"
        return path.read_text() if path.exists() else ""


@contextlib.contextmanager
def private_broker(
    *, persistence: bool = False, anonymous: bool = True, extra: str = ""
) -> Iterator[Broker]:
    """A Mosquitto on a free loopback port for the duration of the block."""
    with tempfile.TemporaryDirectory(prefix="citygate-mqtt-") as tmp:
        config = BASE_CONFIG.format(
            anonymous="true" if anonymous else "false",
            persistence="true" if persistence else "false",
            dir=tmp,
        )
        broker = Broker(free_port(), Path(tmp), config + extra)
        broker.start()
        try:
            yield broker
        finally:
            broker.stop()
