"""Downlink: publish a command to a device on its command topic.

Used by the rules engine and the API (later work). Commands are rare next to telemetry,
so this uses aiomqtt, a full client, on its own connection: QoS 1, not retained (a
command should not fire again when a device reconnects days later).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import TracebackType
from typing import Self

import aiomqtt
import orjson

from device_profiles.topics import TopicScheme

from .errors import GatewayError

__all__ = ["CommandError", "CommandPublisher"]

_COMMAND_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
MAX_COMMAND_BYTES = 4096


class CommandError(GatewayError):
    """A command that cannot be sent; the message says why."""


class CommandPublisher:
    """``async with CommandPublisher(...) as p: await p.send("light-7", "dim", {...})``."""

    def __init__(
        self,
        host: str,
        port: int,
        scheme: TopicScheme,
        *,
        username: str | None = None,
        password: str | None = None,
        client_id: str = "citygate-commands",
    ) -> None:
        self._scheme = scheme
        self._client = aiomqtt.Client(
            host, port, identifier=client_id, username=username, password=password
        )

    async def __aenter__(self) -> Self:
        try:
            await self._client.__aenter__()
        except aiomqtt.MqttError as exc:
            raise CommandError(f"cannot reach the MQTT broker for commands: {exc}") from None
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._client.__aexit__(et, e, tb)

    async def send(
        self,
        device_id: str,
        command: str,
        params: Mapping[str, object] | None = None,
        *,
        command_id: str | None = None,
    ) -> bytes:
        """Publish ``{"command": ..., "params": ..., "id": ...}`` to the device's command
        topic with QoS 1; returns the payload sent."""
        if not _COMMAND_NAME.match(command):
            raise CommandError(f"invalid command name {command!r}")
        topic = self._scheme.command_topic(device_id)
        try:
            self._scheme.parse(self._scheme.status_topic(device_id))  # validates the id
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        body: dict[str, object] = {"command": command, "params": dict(params or {})}
        if command_id is not None:
            body["id"] = command_id
        try:
            payload = orjson.dumps(body)
        except TypeError as exc:
            raise CommandError(f"command parameters are not JSON: {exc}") from None
        if len(payload) > MAX_COMMAND_BYTES:
            raise CommandError(f"command of {len(payload)} bytes exceeds {MAX_COMMAND_BYTES}")
        try:
            await self._client.publish(topic, payload, qos=1, retain=False)
        except aiomqtt.MqttError as exc:
            raise CommandError(f"publishing the command failed: {exc}") from None
        return payload
