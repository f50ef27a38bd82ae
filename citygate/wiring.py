"""Builds each part's configuration from the root settings. No domain logic here."""

from __future__ import annotations

from datetime import timedelta

from api.context import ApiConfig
from device_profiles import ProfileRegistry
from device_profiles.topics import TopicScheme
from gateway.mqtt import ConnectOptions
from gateway.pipeline import Limits
from gateway.service import GatewayConfig
from ingest.maintenance import RetentionPolicy
from rules.actions.command_delivery import ReconnectingCommands
from rules.actions.outbox import OutboxConfig
from rules.actions.ssrf import WebhookPolicy
from rules.engine import EngineConfig

from .settings import Settings

__all__ = [
    "api_config",
    "engine_config",
    "gateway_config",
    "load_profiles",
    "outbox_commands",
    "outbox_config",
    "retention_policy",
    "topic_scheme",
]


def topic_scheme(settings: Settings) -> TopicScheme:
    """The configured topic scheme."""
    return TopicScheme(
        prefix=settings.topic_prefix,
        ttn_prefix=settings.ttn_topic_prefix,
        chirpstack_prefix=settings.chirpstack_topic_prefix,
    )


def gateway_config(settings: Settings, client_id: str | None = None) -> GatewayConfig:
    """The gateway's configuration."""
    return GatewayConfig(
        database_url=settings.database_url,
        mqtt=ConnectOptions(
            host=settings.mqtt_host,
            port=settings.mqtt_port,
            client_id=client_id or settings.mqtt_client_id,
            clean_start=False,
            session_expiry=settings.mqtt_session_expiry_s,
            receive_maximum=settings.mqtt_max_inflight,
            username=settings.mqtt_username,
            password=settings.mqtt_password,
        ),
        scheme=topic_scheme(settings),
        limits=Limits(
            max_payload_bytes=settings.max_payload_bytes,
            max_future_skew_s=settings.max_future_skew_s,
            max_past_age_s=settings.max_past_age_s,
            max_pending_messages=max(settings.mqtt_max_inflight, settings.batch_max_messages) * 2,
        ),
        shared_group=settings.mqtt_shared_group,
        batch_max_messages=settings.batch_max_messages,
        batch_max_delay_s=settings.batch_max_delay_ms / 1000,
        auto_provision_profile=settings.auto_provision_profile if settings.auto_provision else None,
    )


def retention_policy(settings: Settings) -> RetentionPolicy:
    """Per-table retention."""
    return RetentionPolicy(
        readings=timedelta(days=settings.retention_readings_days),
        rollup_1m=timedelta(days=settings.retention_rollup_1m_days),
        rollup_1h=timedelta(days=settings.retention_rollup_1h_days),
        quarantine=timedelta(days=settings.retention_quarantine_days),
    )


def load_profiles(settings: Settings) -> ProfileRegistry:
    """Built-in profiles plus the operator's profile directories."""
    return ProfileRegistry.load(settings.profile_dirs)


def api_config(settings: Settings) -> ApiConfig:
    """The HTTP API's limits and options."""
    return ApiConfig(
        public_url=settings.public_url,
        cors_origins=tuple(settings.api_cors_origins),
        rate_limit_per_s=settings.api_rate_limit_per_s,
        rate_limit_burst=settings.api_rate_limit_burst,
        max_page_size=settings.api_max_page_size,
        default_page_size=min(100, settings.api_max_page_size),
        max_history_points=settings.api_max_history_points,
        max_range_days=settings.api_max_range_days,
        history_cache_bytes=settings.api_history_cache_mb * 2**20,
        key_cache_s=settings.api_key_cache_s,
        open311_jurisdiction_id=settings.open311_jurisdiction_id,
        sta_mqtt_enabled=settings.sta_mqtt_enabled,
        mqtt_host=settings.mqtt_host,
        mqtt_port=settings.mqtt_port,
        mqtt_username=settings.mqtt_username,
        mqtt_password=settings.mqtt_password,
    )


def engine_config(settings: Settings) -> EngineConfig:
    """The rules engine's configuration."""
    return EngineConfig(
        database_url=settings.database_url,
        tick_s=settings.rules_tick_s,
        max_lookback_s=settings.rules_max_lookback_h * 3600,
    )


def outbox_config(settings: Settings) -> OutboxConfig:
    """How the outbox sender delivers webhooks and commands."""
    secret = settings.webhook_secret
    return OutboxConfig(
        webhook_secret=secret.get_secret_value().encode() if secret else None,
        policy=WebhookPolicy.of(settings.webhook_allow_private, settings.webhook_allowed_hosts),
        connect_timeout_s=settings.webhook_connect_timeout_s,
        total_timeout_s=settings.webhook_timeout_s,
        max_attempts=settings.webhook_max_attempts,
        backoff_base_s=settings.webhook_backoff_base_s,
        backoff_max_s=settings.webhook_backoff_max_s,
        concurrency=settings.outbox_concurrency,
        poll_interval_s=settings.outbox_poll_interval_s,
        retention_days=settings.outbox_retention_days,
    )


def outbox_commands(settings: Settings) -> ReconnectingCommands:
    """The MQTT publisher the outbox sends device commands with."""
    return ReconnectingCommands(
        settings.mqtt_host,
        settings.mqtt_port,
        topic_scheme(settings),
        username=settings.mqtt_username,
        password=settings.mqtt_password,
    )
