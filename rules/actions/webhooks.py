"""Webhook delivery: one signed POST to a checked, pinned address, no redirects.

The body is the payload the outbox holds, as JSON. Headers (docs/webhooks.md):

- ``X-Citygate-Delivery: <outbox id>``: the same on every retry, for receiver-side dedup;
- ``X-Citygate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``
  when a secret is configured;
- ``Content-Type: application/json``, ``User-Agent: citygate-webhooks/1``.

A 2xx answer is a delivery; anything else (3xx included: redirects are never followed),
a timeout or a connection error is a failed attempt. Refusals by the SSRF policy and
malformed targets are permanent: retrying cannot help.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import httpx

from .ssrf import (
    IPAddress,
    Resolver,
    TargetRefused,
    WebhookPolicy,
    check_webhook_url,
    resolve_target,
    system_resolver,
)

log = logging.getLogger(__name__)

__all__ = ["DeliveryFailed", "WebhookClient", "WebhookTimeouts", "sign", "verify_signature"]

USER_AGENT = "citygate-webhooks/1"
SIGNATURE_HEADER = "X-Citygate-Signature"
DELIVERY_HEADER = "X-Citygate-Delivery"


class DeliveryFailed(Exception):
    """An attempt failed; ``permanent`` when retrying cannot succeed."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class WebhookTimeouts:
    """Per-attempt limits, in seconds (the total is enforced by the outbox sender)."""

    connect: float = 3.0
    read: float = 10.0


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: bytes, header: str, body: bytes, *, tolerance_s: float = 300.0, now: float | None = None
) -> bool:
    """What a receiver does: recompute the HMAC, compare in constant time, and refuse a
    timestamp older (or newer) than ``tolerance_s`` to stop replays."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).split(",v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


class WebhookClient:
    """``async with WebhookClient(...) as c: await c.post(url, body, delivery_id)``."""

    def __init__(
        self,
        policy: WebhookPolicy,
        secret: bytes | None,
        timeouts: WebhookTimeouts,
        *,
        max_connections: int = 16,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._policy = policy
        self._secret = secret
        self._resolver = resolver
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=timeouts.connect, read=timeouts.read, write=timeouts.read, pool=5.0
            ),
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment between the check and the target
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=0),
            headers={"User-Agent": USER_AGENT},
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._client.aclose()

    async def post(self, url: str, body: bytes, delivery_id: int) -> int:
        """POST ``body`` to ``url``; returns the 2xx status or raises :class:`DeliveryFailed`."""
        reason = check_webhook_url(url, self._policy)
        if reason is not None:
            raise DeliveryFailed(f"refused target: {reason}", permanent=True)
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        try:
            ip = await resolve_target(host, port, self._policy, self._resolver)
        except TargetRefused as exc:
            # A name that does not resolve may come back; a refused address will not.
            raise DeliveryFailed(f"refused target: {exc}", permanent=not exc.transient) from None
        headers = {
            "Content-Type": "application/json",
            "Host": parts.netloc.rsplit("@", 1)[-1],
            DELIVERY_HEADER: str(delivery_id),
        }
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret, int(time.time()), body)
        pinned = httpx.URL(url).copy_with(host=str(ip))
        request = self._client.build_request("POST", pinned, content=body, headers=headers)
        if parts.scheme.lower() == "https":
            # TLS to the pinned address, still verifying the certificate for the name.
            request.extensions["sni_hostname"] = host
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise DeliveryFailed(f"timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from None
        try:
            self._check_peer(response, ip)
            status = response.status_code
            if 300 <= status < 400:
                location = response.headers.get("location", "")
                raise DeliveryFailed(f"HTTP {status} redirect to {location[:200]!r} not followed")
            if not 200 <= status < 300:
                raise DeliveryFailed(f"HTTP {status} {response.reason_phrase}")
            return status
        finally:
            await response.aclose()

    def _check_peer(self, response: httpx.Response, pinned: IPAddress) -> None:
        """The connection went to the address that was checked (defence in depth)."""
        stream = response.extensions.get("network_stream")
        if stream is None:
            return
        peer = stream.get_extra_info("server_addr")
        if not peer:
            return
        try:
            connected = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
        except ValueError:
            return
        if connected != pinned:
            raise DeliveryFailed(
                f"connected to {connected}, not the checked address {pinned}", permanent=True
            )
