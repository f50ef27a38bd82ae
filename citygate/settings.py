"""Root settings: one ``BaseSettings`` built once in the entry point and passed down.

Every value comes from an environment variable with the ``CITYGATE_`` prefix or from an
optional ``.env`` file; defaults point at the local services.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "SettingsError", "load_settings"]


class SettingsError(Exception):
    """A setting is invalid; the message is one line naming the variable and the problem."""


def _check_url(value: str, schemes: tuple[str, ...], what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise ValueError(f"{what} must start with {' or '.join(s + '://' for s in schemes)}")
    if not parts.hostname:
        raise ValueError(f"{what} has no host")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(f"{what} has an invalid port") from None
    return value


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?$")

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]


class Settings(BaseSettings):
    """Everything a citygate process can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="CITYGATE_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str = "postgresql://postgres@127.0.0.1:5432/citygate"
    db_pool_size: PositiveInt = 4

    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_client_id: str = "citygate-gateway"
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_session_expiry_s: PositiveInt = 7 * 24 * 3600
    mqtt_max_inflight: Annotated[int, Field(ge=1, le=65535)] = 30_000
    mqtt_shared_group: str | None = None
    topic_prefix: str = "devices"
    ttn_topic_prefix: str = "v3"
    chirpstack_topic_prefix: str = "application"

    batch_max_messages: PositiveInt = 20_000
    batch_max_delay_ms: PositiveInt = 50
    max_payload_bytes: PositiveInt = 16 * 1024
    max_future_skew_s: PositiveFloat = 300.0
    max_past_age_s: PositiveFloat = 7 * 24 * 3600.0
    auto_provision: bool = False
    auto_provision_profile: str | None = None
    profile_dirs: list[Path] = Field(default_factory=list)

    retention_readings_days: PositiveInt = 90
    retention_rollup_1m_days: PositiveInt = 400
    retention_rollup_1h_days: PositiveInt = 3650
    retention_quarantine_days: PositiveInt = 30
    maintenance_interval_s: PositiveFloat = 60.0
    rollup_lookback_s: PositiveFloat = 7200.0

    api_host: str = "127.0.0.1"
    api_port: Annotated[int, Field(ge=1, le=65535)] = 8000
    # Base of absolute links (SensorThings selfLinks, Open311 discovery); default: host:port.
    api_public_url: str | None = None
    api_cors_origins: list[str] = Field(default_factory=lambda: ["*"])
    api_rate_limit_per_s: PositiveFloat = 20.0
    api_rate_limit_burst: PositiveInt = 100
    api_max_page_size: Annotated[int, Field(ge=10, le=100_000)] = 1000
    api_max_history_points: Annotated[int, Field(ge=100)] = 100_000
    api_max_range_days: PositiveInt = 400
    api_key_cache_s: Annotated[float, Field(ge=0)] = 30.0
    # Memory (MiB) for rendered history answers of final rollups; 0 keeps none.
    api_history_cache_mb: Annotated[int, Field(ge=0, le=65536)] = 64
    open311_jurisdiction_id: str = "citygate"
    sta_mqtt_enabled: bool = True

    rules_enabled: bool = True
    rules_tick_s: PositiveFloat = 5.0
    rules_max_lookback_h: PositiveFloat = 6.0
    # Webhooks and device commands through the outbox (docs/webhooks.md).
    webhook_secret: SecretStr | None = None
    webhook_connect_timeout_s: PositiveFloat = 3.0
    webhook_timeout_s: PositiveFloat = 10.0
    webhook_max_attempts: Annotated[int, Field(ge=1, le=1000)] = 12
    webhook_backoff_base_s: PositiveFloat = 5.0
    webhook_backoff_max_s: PositiveFloat = 3600.0
    webhook_allow_private: bool = False
    webhook_allowed_hosts: list[str] = Field(default_factory=list)
    outbox_concurrency: Annotated[int, Field(ge=1, le=256)] = 8
    outbox_poll_interval_s: PositiveFloat = 1.0
    outbox_retention_days: PositiveInt = 14

    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return _check_url(value, ("postgresql", "postgres"), "database URL")

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url(cls, value: str) -> str:
        return _check_url(value, ("mqtt", "tcp"), "MQTT URL")

    @field_validator("auto_provision_profile")
    @classmethod
    def _provision(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _provision_needs_profile(self) -> Settings:
        if self.auto_provision and not self.auto_provision_profile:
            raise ValueError(
                "auto_provision needs CITYGATE_AUTO_PROVISION_PROFILE (the profile new devices get)"
            )
        return self

    @field_validator("api_public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        return _check_url(value, ("http", "https"), "public URL").rstrip("/")

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < 16:
            raise ValueError("a webhook secret needs at least 16 characters")
        return value

    @field_validator("webhook_allowed_hosts")
    @classmethod
    def _allowed_hosts(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                if not _HOST.match(entry):
                    raise ValueError(f"{entry!r} is neither a host name nor a CIDR") from None
        return value

    @property
    def public_url(self) -> str:
        """Base of absolute links the API writes."""
        return self.api_public_url or f"http://{self.api_host}:{self.api_port}"

    @property
    def mqtt_host(self) -> str:
        """Host part of ``mqtt_url``."""
        return urlsplit(self.mqtt_url).hostname or "127.0.0.1"

    @property
    def mqtt_port(self) -> int:
        """Port part of ``mqtt_url`` (1883 when absent)."""
        return urlsplit(self.mqtt_url).port or 1883


def load_settings(**overrides: object) -> Settings:
    """Build the settings once, turning validation errors into one readable line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "settings"
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"CITYGATE_{field.upper()}: {msg}") from None
