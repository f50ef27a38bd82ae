"""SSRF protection: refused URLs and addresses, refused deliveries that never connect,
the explicit allow settings, and connections pinned to the checked address."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress

import pytest

from rules.actions.outbox import OutboxConfig
from rules.actions.ssrf import (
    TargetRefused,
    WebhookPolicy,
    address_refusal,
    check_webhook_url,
    resolve_target,
)
from rules.actions.webhooks import DeliveryFailed, WebhookClient, WebhookTimeouts
from tests.support.outbox import FAST, put, running_sender, wait_row
from tests.support.receiver import Receiver

DEFAULT = WebhookPolicy()


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address to refuse, not to bind
        ("::", "unspecified"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.1", "private"),  # documentation range
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a00:1", "private"),
        ("2002:7f00:1::", "loopback"),
    ],
)
def test_non_public_addresses_are_refused(address: str, reason: str) -> None:
    refusal = address_refusal(ipaddress.ip_address(address))
    assert refusal is not None and reason in refusal


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://10.0.0.5/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]:8080/", "loopback"),
        ("http://[::ffff:7f00:1]/", "loopback"),
        ("http://2130706433/", "loopback"),  # 127.0.0.1 as one number
        ("http://0x7f.1/", "loopback"),
        ("http://user:pw@hooks.example.org/", "credentials"),
        ("http://token@hooks.example.org/", "credentials"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("gopher://hooks.example.org/", "scheme 'gopher'"),
        ("hooks.example.org/x", "scheme"),
        ("http:///nohost", "no host"),
        ("http://localhost:8000/", "local machine"),
        ("http://api.localhost/", "local machine"),
        ("http://metadata/", "fully qualified"),
        ("http://hooks.example.org:99999/", "Port out of range"),
        ("http://hooks.example.org/a b", "whitespace"),
    ],
)
def test_bad_webhook_urls_are_refused_with_a_reason(url: str, reason: str) -> None:
    refusal = check_webhook_url(url, DEFAULT)
    assert refusal is not None and reason in refusal


def test_public_urls_and_explicit_allowances_pass() -> None:
    assert check_webhook_url("https://hooks.example.org/citygate?x=1", DEFAULT) is None
    assert check_webhook_url("http://93.184.216.34:8080/", DEFAULT) is None
    allow_all = WebhookPolicy.of(True)
    assert check_webhook_url("http://127.0.0.1:8080/", allow_all) is None
    assert check_webhook_url("http://localhost/", allow_all) is None
    # Credentials and schemes stay refused whatever the allowance.
    assert check_webhook_url("http://u:p@127.0.0.1/", allow_all) is not None
    assert check_webhook_url("file:///etc/passwd", allow_all) is not None
    listed = WebhookPolicy.of(False, ["10.20.0.0/16", "Hooks.Internal.City"])
    assert check_webhook_url("http://10.20.3.4/", listed) is None
    assert check_webhook_url("http://hooks.internal.city/", listed) is None
    assert check_webhook_url("http://10.21.0.1/", listed) is not None


async def test_a_name_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(TargetRefused, match=r"localhost resolves to .* loopback"):
        await resolve_target("localhost", 80, DEFAULT)

    async def mixed(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.1"]

    # One bad address in the answer refuses the whole name (no picking the good one).
    with pytest.raises(TargetRefused, match="private"):
        await resolve_target("hooks.example.org", 443, DEFAULT, mixed)


async def test_refused_targets_fail_at_once_and_are_never_called(database_url: str) -> None:
    config = dataclasses.replace(FAST, policy=WebhookPolicy())  # no allowances
    async with Receiver() as receiver:
        port = receiver.port
        targets = {
            receiver.url(): "loopback",
            f"http://localhost:{port}/hook": "local machine",
            f"http://[::1]:{port}/hook": "loopback",
            f"http://2130706433:{port}/hook": "loopback",
            f"http://u:pw@127.0.0.1:{port}/hook": "credentials",
            "file:///etc/passwd": "scheme",
        }
        ids = {}
        for url in targets:
            ids[url] = await put(database_url, "webhook", url, {"x": 1})
        async with running_sender(database_url, config):
            rows = {
                url: await wait_row(database_url, i, "failed_at IS NOT NULL")
                for url, i in ids.items()
                if i is not None
            }
            await asyncio.sleep(0.2)
    assert receiver.requests == []
    for url, r in rows.items():
        assert r["failed_at"] is not None, url
        assert r["attempts"] == 1, url  # permanent: not retried
        assert targets[url] in r["last_error"], (url, r["last_error"])


async def test_allow_private_setting_reaches_the_loopback_receiver(database_url: str) -> None:
    config = dataclasses.replace(FAST, policy=WebhookPolicy.of(True))
    async with Receiver() as receiver:
        delivery = await put(database_url, "webhook", f"http://localhost:{receiver.port}/h", {})
        assert delivery is not None
        async with running_sender(database_url, config):
            done = await wait_row(database_url, delivery, "delivered_at IS NOT NULL")
    assert done["delivered_at"] is not None
    assert len(receiver.answered) == 1


async def test_the_connection_goes_to_the_checked_address(database_url: str) -> None:
    calls: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    policy = WebhookPolicy.of(False, ["127.0.0.1/32"])
    timeouts = WebhookTimeouts(connect=2, read=5)
    client = WebhookClient(policy, None, timeouts, resolver=resolver)
    async with Receiver() as receiver, client as c:
        # A name no system resolver knows: the request can only have gone to the
        # address our resolver gave and the policy checked, resolved once.
        url = f"http://hooks.example.invalid:{receiver.port}/pinned"
        assert await c.post(url, b"{}", 42) == 200
        assert calls == ["hooks.example.invalid"]
        assert receiver.requests[0].headers["host"] == f"hooks.example.invalid:{receiver.port}"
        assert "x-citygate-signature" not in receiver.requests[0].headers  # no secret set

        refusing = WebhookClient(WebhookPolicy(), None, timeouts, resolver=resolver)
        async with refusing:
            with pytest.raises(DeliveryFailed, match="loopback") as info:
                await refusing.post(url, b"{}", 43)
        assert info.value.permanent
    assert len(receiver.requests) == 1


def test_lease_outlasts_an_attempt() -> None:
    config = OutboxConfig(total_timeout_s=10.0)
    assert config.lease_s > config.total_timeout_s
