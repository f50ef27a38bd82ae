"""What the HTTP app runs on: resources the caller owns, passed in once.

The entry point builds one :class:`ApiContext` (pool, profiles, metric catalogue, the feed
of committed readings, Prometheus registry) and one :class:`ApiConfig` from the root
settings; routes reach both through ``api.deps``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry

from device_profiles import ProfileRegistry
from ingest.feed import CommitFeed
from rules.actions.alarms import ActionSink
from rules.actions.ssrf import WebhookPolicy

__all__ = ["ApiConfig", "ApiContext", "BackgroundTask", "MetricCatalogue"]

BackgroundTask = tuple[str, Callable[[], Coroutine[Any, Any, None]]]


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """Limits and options of the HTTP API (built from the root settings)."""

    public_url: str = "http://127.0.0.1:8000"
    cors_origins: tuple[str, ...] = ("*",)
    # Per-client token bucket on the public (keyless) endpoints.
    rate_limit_per_s: float = 20.0
    rate_limit_burst: int = 100
    default_page_size: int = 100
    max_page_size: int = 1000
    # History: the most buckets (or raw readings) one query may return, and the longest range.
    max_history_points: int = 100_000
    max_range_days: int = 400
    # Memory for rendered history answers that final rollups give alone (0: none kept).
    history_cache_bytes: int = 64 * 2**20
    key_cache_s: float = 30.0
    open311_jurisdiction_id: str = "citygate"
    sta_mqtt_enabled: bool = True
    # The broker, for the parts of the API that publish (SensorThings MQTT extension).
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_username: str | None = None
    mqtt_password: str | None = None


@dataclass(frozen=True, slots=True)
class MetricCatalogue:
    """Metric name <-> the small integer id readings store."""

    by_name: dict[str, int]
    by_id: dict[int, str]

    @classmethod
    def of(cls, by_name: dict[str, int]) -> MetricCatalogue:
        """From the name -> id mapping ``ingest.devices.ensure_metrics`` returns."""
        return cls(dict(by_name), {v: k for k, v in by_name.items()})


@dataclass(slots=True)
class ApiContext:
    """Shared, long-lived resources of the HTTP app."""

    pool: asyncpg.Pool
    profiles: ProfileRegistry
    metrics: MetricCatalogue
    config: ApiConfig = field(default_factory=ApiConfig)
    feed: CommitFeed = field(default_factory=CommitFeed)
    prometheus: CollectorRegistry = field(default_factory=CollectorRegistry)
    broker_connected: Callable[[], bool] = lambda: False
    # Starts alarm actions (webhooks, service request notes) when operators clear alarms.
    alarm_actions: ActionSink | None = None
    # Which webhook targets rules may name (checked when a rule is saved).
    webhook_policy: WebhookPolicy = field(default_factory=lambda: WebhookPolicy.of(False))
    # Long-lived tasks that parts of the app need (live-update hubs, publishers); the
    # API service runs them in its task group next to the HTTP server.
    background: list[BackgroundTask] = field(default_factory=list)
