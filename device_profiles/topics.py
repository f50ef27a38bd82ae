"""The topic scheme: which topics the gateway listens to and what each one means.

Native devices::

    {prefix}/{device_id}/telemetry            readings, in the profile's default format
    {prefix}/{device_id}/telemetry/{format}   readings in an explicit format (json, senml)
    {prefix}/{device_id}/status               "online" / "offline" (devices set it as last will)
    {prefix}/{device_id}/commands             downlink: commands to the device

LoRaWAN network servers (their own uplink topics)::

    {ttn_prefix}/{application_id}@{tenant_id}/devices/{device_id}/up     The Things Stack v3
    {chirpstack_prefix}/{application_id}/device/{dev_eui}/event/up       ChirpStack v4
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Route", "TopicError", "TopicScheme"]

TELEMETRY = "telemetry"
STATUS = "status"

_FORMATS = frozenset({"json", "senml"})
_MAX_ID = 128


class TopicError(ValueError):
    """A topic the gateway refuses; the message says why."""


@dataclass(frozen=True, slots=True)
class Route:
    """What a topic means: the kind of message, the device reference and the format."""

    kind: str  # "telemetry" or "status"
    device_ref: str  # device id (native, TTS) or DevEUI (ChirpStack)
    fmt: str | None  # None: the device profile's default format
    by_dev_eui: bool = False


def _check_id(device_id: str, topic: str) -> str:
    if not device_id:
        raise TopicError(f"empty device id in topic {topic!r}")
    if len(device_id) > _MAX_ID:
        raise TopicError(f"device id longer than {_MAX_ID} characters in topic")
    for ch in device_id:
        if ch in "+#$\x00" or ch.isspace() or not ch.isprintable():
            raise TopicError(f"forbidden character {ch!r} in device id {device_id!r}")
    return device_id


@dataclass(frozen=True, slots=True)
class TopicScheme:
    """Parses topics by the configured prefixes (each may span several levels)."""

    prefix: str = "devices"
    ttn_prefix: str = "v3"
    chirpstack_prefix: str = "application"

    def subscriptions(self, shared_group: str | None = None) -> list[str]:
        """The topic filters the gateway subscribes to (optionally as a shared group)."""
        filters = [
            f"{self.prefix}/+/{TELEMETRY}",
            f"{self.prefix}/+/{TELEMETRY}/+",
            f"{self.prefix}/+/{STATUS}",
            f"{self.ttn_prefix}/+/devices/+/up",
            f"{self.chirpstack_prefix}/+/device/+/event/up",
        ]
        if shared_group:
            return [f"$share/{shared_group}/{f}" for f in filters]
        return filters

    def telemetry_topic(self, device_id: str, fmt: str | None = None) -> str:
        """Where a native device publishes readings."""
        base = f"{self.prefix}/{device_id}/{TELEMETRY}"
        return f"{base}/{fmt}" if fmt else base

    def status_topic(self, device_id: str) -> str:
        """Where a native device's online/offline status (and last will) goes."""
        return f"{self.prefix}/{device_id}/{STATUS}"

    def command_topic(self, device_id: str) -> str:
        """Where commands to a device are published."""
        return f"{self.prefix}/{device_id}/commands"

    def parse(self, topic: str) -> Route:
        """The route of ``topic``; raises :class:`TopicError` with the reason if refused."""
        if topic.startswith("$"):
            raise TopicError(f"system topic {topic!r} is not accepted")
        if "\x00" in topic:
            raise TopicError("NUL character in topic")
        if topic.startswith(self.prefix + "/"):
            parts = topic[len(self.prefix) + 1 :].split("/")
            n = len(parts)
            if n in (2, 3):
                device_id = _check_id(parts[0], topic)
                if parts[1] == TELEMETRY:
                    if n == 3:
                        if parts[2] not in _FORMATS:
                            raise TopicError(f"unknown payload format {parts[2]!r} in topic")
                        return Route(TELEMETRY, device_id, parts[2])
                    return Route(TELEMETRY, device_id, None)
                if parts[1] == STATUS and n == 2:
                    return Route(STATUS, device_id, None)
        elif topic.startswith(self.ttn_prefix + "/"):
            parts = topic[len(self.ttn_prefix) + 1 :].split("/")
            if len(parts) == 4 and parts[1] == "devices" and parts[3] == "up":
                return Route(TELEMETRY, _check_id(parts[2], topic), "ttn")
        elif topic.startswith(self.chirpstack_prefix + "/"):
            parts = topic[len(self.chirpstack_prefix) + 1 :].split("/")
            if len(parts) == 5 and parts[1] == "device" and parts[3:] == ["event", "up"]:
                return Route(TELEMETRY, _check_id(parts[2].lower(), topic), "chirpstack", True)
        raise TopicError(f"topic {topic!r} is not part of the topic scheme")
