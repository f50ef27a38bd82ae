"""Webhooks through the outbox, against a real HTTP receiver on loopback: delivered once
after the receiver comes back, signed, no redirects, timeouts retried, restarts survived."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest
from prometheus_client import CollectorRegistry

from rules.actions.outbox import OutboxError
from rules.actions.webhooks import verify_signature
from tests.support.outbox import FAST, SECRET, put, row, running_sender, wait_row
from tests.support.receiver import Receiver

PAYLOAD = {"event": "alarm.raised", "alarm": {"id": 7, "severity": "major"}, "note": "héllo"}


def _metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_receiver_down_then_up_gets_it_once_and_signed(database_url: str) -> None:
    receiver = Receiver()  # its port is chosen, nothing listens yet
    registry = CollectorRegistry()
    delivery = await put(database_url, "webhook", receiver.url(), PAYLOAD)
    assert delivery is not None
    async with running_sender(database_url, registry=registry):
        failed = await wait_row(database_url, delivery, "attempts >= 2")
        assert failed["delivered_at"] is None
        assert failed["last_error"]  # connection refused, recorded
        async with receiver:
            done = await wait_row(database_url, delivery, "delivered_at IS NOT NULL")
            assert done["delivered_at"] is not None and done["last_error"] is None
            await asyncio.sleep(0.3)  # a chance for a wrong second delivery to show up
        assert (
            _metric(registry, "citygate_outbox_deliveries_total", kind="webhook", outcome="retry")
            >= 1
        )
        assert _metric(
            registry, "citygate_outbox_deliveries_total", kind="webhook", outcome="delivered"
        ) == 1  # fmt: skip

    assert len(receiver.requests) == 1
    got = receiver.requests[0]
    assert got.method == "POST" and got.path == "/hook"
    assert got.headers["x-citygate-delivery"] == str(delivery)
    assert got.headers["content-type"] == "application/json"
    assert json.loads(got.body) == PAYLOAD
    signature = got.headers["x-citygate-signature"]
    assert verify_signature(SECRET, signature, got.body)
    assert not verify_signature(b"another-secret-0123456789", signature, got.body)
    assert not verify_signature(SECRET, signature, got.body + b" ")


async def test_a_redirect_is_a_failure_and_not_followed(database_url: str) -> None:
    async with Receiver() as elsewhere, Receiver(status=302) as receiver:
        receiver.headers["Location"] = elsewhere.url("/stolen")
        config = dataclasses.replace(FAST, max_attempts=2)
        delivery = await put(database_url, "webhook", receiver.url(), PAYLOAD)
        assert delivery is not None
        async with running_sender(database_url, config):
            failed = await wait_row(database_url, delivery, "failed_at IS NOT NULL")
    assert failed["delivered_at"] is None and failed["attempts"] == 2
    assert "302 redirect" in failed["last_error"] and "not followed" in failed["last_error"]
    assert len(receiver.requests) == 2
    assert elsewhere.requests == []


async def test_a_timeout_is_a_failed_attempt_then_retried(database_url: str) -> None:
    config = dataclasses.replace(FAST, total_timeout_s=0.5)
    registry = CollectorRegistry()
    async with Receiver(delay=60) as receiver:
        delivery = await put(database_url, "webhook", receiver.url(), PAYLOAD)
        assert delivery is not None
        async with running_sender(database_url, config, registry=registry):
            slow = await wait_row(database_url, delivery, "last_error IS NOT NULL")
            assert "timed out" in slow["last_error"] and slow["delivered_at"] is None
            receiver.delay = 0
            done = await wait_row(database_url, delivery, "delivered_at IS NOT NULL")
    assert done["attempts"] >= 2
    assert len(receiver.answered) == 1
    assert {r.headers["x-citygate-delivery"] for r in receiver.requests} == {str(delivery)}
    assert _metric(
        registry, "citygate_outbox_deliveries_total", kind="webhook", outcome="retry"
    ) >= 1  # fmt: skip


async def test_stopping_mid_delivery_then_restarting_delivers_once(database_url: str) -> None:
    async with Receiver(delay=60) as receiver:
        delivery = await put(database_url, "webhook", receiver.url(), PAYLOAD)
        assert delivery is not None
        async with running_sender(database_url):
            await receiver.wait_requests(1)  # the first attempt is in flight, hanging
        # Stopped mid-delivery: the row is given back, due now, the attempt not counted.
        given_back = await row(database_url, delivery)
        assert given_back["delivered_at"] is None and given_back["attempts"] == 0
        receiver.delay = 0
        async with running_sender(database_url):  # a new process, as after a restart
            done = await wait_row(database_url, delivery, "delivered_at IS NOT NULL")
            await asyncio.sleep(0.3)
    assert done["attempts"] == 1
    assert len(receiver.answered) == 1
    # Every attempt carries the same delivery id: a receiver that saw the interrupted one
    # deduplicates by it.
    assert {r.headers["x-citygate-delivery"] for r in receiver.requests} == {str(delivery)}


async def test_a_slow_receiver_does_not_hold_up_other_deliveries(database_url: str) -> None:
    config = dataclasses.replace(FAST, total_timeout_s=60.0)
    async with Receiver(delay=60) as slow, Receiver() as fast:
        stuck = await put(database_url, "webhook", slow.url(), {"n": 0})
        assert stuck is not None
        quick = [await put(database_url, "webhook", fast.url(), {"n": i}) for i in range(1, 6)]
        async with running_sender(database_url, config):
            answered = await fast.wait_answered(5)
            assert len(answered) == 5
            assert (await row(database_url, stuck))["delivered_at"] is None
    assert sorted(json.loads(r.body)["n"] for r in answered) == [1, 2, 3, 4, 5]
    assert all(q is not None for q in quick)


async def test_two_senders_deliver_each_row_once(database_url: str) -> None:
    async with Receiver() as receiver:
        ids = [await put(database_url, "webhook", receiver.url(), {"n": i}) for i in range(30)]
        async with running_sender(database_url), running_sender(database_url):
            answered = await receiver.wait_answered(30)
            await asyncio.sleep(0.3)
    assert len(answered) == 30 == len(receiver.requests)
    assert sorted(int(r.headers["x-citygate-delivery"]) for r in answered) == sorted(
        i for i in ids if i is not None
    )


async def test_dedup_key_enqueues_once_and_bad_rows_are_refused(database_url: str) -> None:
    first = await put(database_url, "webhook", "https://hooks.example.org/a", {}, "alarm:7:raised")
    again = await put(database_url, "webhook", "https://hooks.example.org/a", {}, "alarm:7:raised")
    assert first is not None and again is None
    with pytest.raises(OutboxError, match="unknown outbox kind"):
        await put(database_url, "email", "x", {})  # type: ignore[arg-type]
    with pytest.raises(OutboxError, match="not JSON"):
        await put(database_url, "webhook", "https://hooks.example.org/a", {"x": object()})
    with pytest.raises(OutboxError, match="invalid command name"):
        await put(database_url, "command", "light-1", {"command": "dim now"})
