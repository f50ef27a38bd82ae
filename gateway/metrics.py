"""Prometheus metrics of the gateway, on a registry the caller owns."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["GatewayMetrics"]


class GatewayMetrics:
    """Updated once per batch from plain counters, or once per rejection."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "citygate_messages_received_total", "MQTT messages received", registry=registry
        )
        self.rejected = Counter(
            "citygate_rejected_total",
            "Rejected messages or readings, by reason code",
            ["reason"],
            registry=registry,
        )
        self.sequence_gaps = Counter(
            "citygate_sequence_gaps_total",
            "Messages missing by devices' sequence numbers (lost before the gateway)",
            registry=registry,
        )
        self.overload_dropped = Counter(
            "citygate_overload_dropped_total",
            "QoS 0 messages dropped because the pending batch was at its bound",
            registry=registry,
        )
        self.lag = Histogram(
            "citygate_publish_to_commit_seconds",
            "Device time of a message to the commit of its batch",
            buckets=(
                0.005,
                0.01,
                0.025,
                0.05,
                0.075,
                0.1,
                0.15,
                0.2,
                0.3,
                0.5,
                0.75,
                1,
                1.5,
                2.5,
                5,
                10,
                30,
                60,
            ),
            registry=registry,
        )
        self.broker_reconnects = Counter(
            "citygate_broker_reconnects_total",
            "Reconnections to the MQTT broker",
            registry=registry,
        )
        self.devices_online = Gauge(
            "citygate_devices_online", "Devices currently online", registry=registry
        )
