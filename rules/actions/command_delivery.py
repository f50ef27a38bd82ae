"""Device commands for the outbox: a publisher that survives the broker going away.

:class:`gateway.downlink.CommandPublisher` holds one MQTT connection; when the broker
drops it, every later publish fails. The outbox retries failed commands, so here the
connection is opened on first use and, after a failure, closed and opened again on the
next attempt.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from types import TracebackType
from typing import Protocol, Self

import aiomqtt

from device_profiles.topics import TopicScheme
from gateway.downlink import CommandError, CommandPublisher

log = logging.getLogger(__name__)

__all__ = ["CommandSink", "ReconnectingCommands"]


class CommandSink(Protocol):
    """Something that publishes a command to a device (QoS 1) or raises CommandError."""

    async def send(
        self,
        device_id: str,
        command: str,
        params: Mapping[str, object] | None = None,
        *,
        command_id: str | None = None,
    ) -> bytes:
        """Publish the command; returns the payload sent."""
        ...


class ReconnectingCommands:
    """``async with ReconnectingCommands(host, port, scheme) as c: await c.send(...)``."""

    def __init__(
        self,
        host: str,
        port: int,
        scheme: TopicScheme,
        *,
        username: str | None = None,
        password: str | None = None,
        client_id: str | None = None,
    ) -> None:
        self._args = (host, port, scheme)
        self._username = username
        self._password = password
        # A unique id: two citygate processes must not take over each other's connection.
        self._client_id = client_id or f"citygate-outbox-{secrets.token_hex(4)}"
        self._publisher: CommandPublisher | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close()

    async def send(
        self,
        device_id: str,
        command: str,
        params: Mapping[str, object] | None = None,
        *,
        command_id: str | None = None,
    ) -> bytes:
        """Publish with QoS 1 (connecting first if needed); on a broker failure the
        connection is dropped so the next call opens a fresh one."""
        if self._publisher is None:
            publisher = CommandPublisher(
                *self._args,
                username=self._username,
                password=self._password,
                client_id=self._client_id,
            )
            await publisher.__aenter__()  # raises CommandError when the broker is away
            self._publisher = publisher
        try:
            return await self._publisher.send(device_id, command, params, command_id=command_id)
        except CommandError:
            await self._close()
            raise

    async def _close(self) -> None:
        publisher, self._publisher = self._publisher, None
        if publisher is None:
            return
        try:
            await publisher.__aexit__(None, None, None)
        except aiomqtt.MqttError as exc:
            log.debug("closing the command connection: %s", exc)
