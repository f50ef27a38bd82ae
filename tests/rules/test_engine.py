"""The rules engine against the real database: alarms raised and cleared from committed
readings, no duplicates on redelivery or restart, back-test equal to live, escalation."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import asyncpg

from device_profiles import ProfileRegistry
from ingest.devices import DeviceRecord
from ingest.feed import CommitFeed
from rules.actions.alarms import clear_alarm
from rules.backtest import backtest
from rules.store import get_rule
from tests.support.fixtures_data import add_devices
from tests.support.rules import MIN, committer, drained, running_engine, store_rule

PROFILES = ProfileRegistry.load()

PM25_RULE = """
name: pm25 high
severity: major
scope: {profile: air_quality}
condition: {kind: threshold, metric: pm25, above: 50, for: 10m, clear: 40}
"""


async def _alarms(url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(
            "SELECT subject, active, count, raised_at, cleared_at, details, severity "
            "FROM alarms ORDER BY raised_at, subject"
        )
    finally:
        await conn.close()


async def _events(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return [r["kind"] for r in await conn.fetch("SELECT kind FROM alarm_events ORDER BY id")]
    finally:
        await conn.close()


def _now_us() -> int:
    return (time.time_ns() // 1000) - 3 * 3600 * 1_000_000  # three hours ago, whole minutes


async def test_alarm_raised_cleared_and_redelivery_counts_nothing(database_url: str) -> None:
    keys = await add_devices(
        database_url,
        [DeviceRecord(id=f"aq-{i}", profile="air_quality", district="Centre") for i in range(3)],
    )
    await store_rule(database_url, PM25_RULE)
    feed = CommitFeed()
    t0 = _now_us()
    async with running_engine(database_url, feed) as engine, committer(database_url, feed) as c:
        rows = [(keys["aq-1"], t0 + i * 5 * MIN, "pm25", v) for i, v in enumerate([60, 60, 60])]
        await c.commit(rows)
        await drained(engine)
        alarms = await _alarms(database_url)
        assert [(a["subject"], a["active"], a["count"]) for a in alarms] == [("aq-1", True, 1)]
        assert alarms[0]["raised_at"] == datetime.fromtimestamp((t0 + 10 * MIN) / 1e6, UTC)
        # The same messages again: stored once, evaluated once, nothing new.
        await c.commit(rows)
        await drained(engine)
        assert [(a["subject"], a["count"]) for a in await _alarms(database_url)] == [("aq-1", 1)]
        # Hysteresis: 45 keeps it, 35 clears it.
        await c.commit([(keys["aq-1"], t0 + 15 * MIN, "pm25", 45)])
        await c.commit([(keys["aq-1"], t0 + 20 * MIN, "pm25", 35)])
        await drained(engine)
    alarms = await _alarms(database_url)
    assert [(a["subject"], a["active"]) for a in alarms] == [("aq-1", False)]
    assert alarms[0]["cleared_at"] == datetime.fromtimestamp((t0 + 20 * MIN) / 1e6, UTC)
    assert await _events(database_url) == ["raised", "cleared"]


async def test_restart_mid_condition_neither_loses_nor_duplicates(database_url: str) -> None:
    keys = await add_devices(database_url, [DeviceRecord(id="aq-1", profile="air_quality")])
    await store_rule(database_url, PM25_RULE)
    t0 = _now_us()
    feed = CommitFeed()
    # First life: the condition holds for 5 of its 10 minutes.
    async with running_engine(database_url, feed) as engine, committer(database_url, feed) as c:
        await c.commit([(keys["aq-1"], t0, "pm25", 70), (keys["aq-1"], t0 + 5 * MIN, "pm25", 70)])
        await drained(engine)
    assert await _alarms(database_url) == []
    # Second life: state is rebuilt from history; the third reading completes the 10 min.
    feed = CommitFeed()
    async with running_engine(database_url, feed) as engine, committer(database_url, feed) as c:
        await c.commit([(keys["aq-1"], t0 + 10 * MIN, "pm25", 70)])
        await drained(engine)
    alarms = await _alarms(database_url)
    assert [(a["subject"], a["active"], a["count"]) for a in alarms] == [("aq-1", True, 1)]
    # Third life with the alarm active: more high readings raise nothing new, and the
    # clear still comes.
    feed = CommitFeed()
    async with running_engine(database_url, feed) as engine, committer(database_url, feed) as c:
        await c.commit([(keys["aq-1"], t0 + 15 * MIN, "pm25", 80)])
        await drained(engine)
        assert [(a["active"], a["count"]) for a in await _alarms(database_url)] == [(True, 1)]
        await c.commit([(keys["aq-1"], t0 + 20 * MIN, "pm25", 10)])
        await drained(engine)
    assert [(a["active"], a["count"]) for a in await _alarms(database_url)] == [(False, 1)]
    assert await _events(database_url) == ["raised", "cleared"]


async def test_missed_while_down_is_written_on_restart(database_url: str) -> None:
    keys = await add_devices(database_url, [DeviceRecord(id="aq-1", profile="air_quality")])
    await store_rule(database_url, PM25_RULE)
    t0 = _now_us()
    # Readings committed while no engine ran (e.g. it crashed before writing the alarm).
    silent = CommitFeed()
    async with committer(database_url, silent) as c:
        await c.commit([(keys["aq-1"], t0 + i * 5 * MIN, "pm25", 90) for i in range(4)])
    async with running_engine(database_url, CommitFeed()) as engine:
        await drained(engine)
    alarms = await _alarms(database_url)
    assert [(a["subject"], a["active"], a["count"]) for a in alarms] == [("aq-1", True, 1)]
    assert alarms[0]["raised_at"] == datetime.fromtimestamp((t0 + 10 * MIN) / 1e6, UTC)


async def test_backtest_equals_live(database_url: str) -> None:
    keys = await add_devices(
        database_url,
        [DeviceRecord(id=f"n-{i}", profile="noise", district="Old Town") for i in range(5)],
    )
    record = await store_rule(
        database_url,
        """
name: loud
scope: {profile: noise}
condition: {kind: window, metric: LAeq, agg: avg, window: 20m, above: 70, clear: 65}
""",
    )
    t0 = _now_us()
    feed = CommitFeed()
    async with running_engine(database_url, feed) as engine, committer(database_url, feed) as c:
        for step in range(36):  # three hours of 5-minute readings, batches of devices
            t = t0 + step * 5 * MIN
            rows = []
            for i in range(5):
                loud = (step // (6 + i)) % 2 == 1
                rows.append((keys[f"n-{i}"], t, "LAeq", 80.0 - i if loud else 55.0 + i))
            await c.commit(rows)
        await drained(engine)
    live = [
        (a["subject"], a["raised_at"], a["cleared_at"], a["count"])
        for a in await _alarms(database_url)
    ]
    assert len(live) >= 5
    conn = await asyncpg.connect(database_url)
    try:
        metric_ids = {r["name"]: r["metric_id"] for r in await conn.fetch("SELECT * FROM metrics")}
        stored = await get_rule(conn, record.id)
        assert stored is not None
        result = await backtest(
            conn, stored.rule, datetime.fromtimestamp(t0 / 1e6, UTC) - timedelta(minutes=1),
            datetime.fromtimestamp(t0 / 1e6, UTC) + timedelta(hours=4), PROFILES, metric_ids,
        )  # fmt: skip
    finally:
        await conn.close()
    tested = sorted((a.subject, a.raised_at, a.cleared_at, a.count) for a in result.alarms)
    assert tested == sorted(live)
    assert result.readings == 36 * 5
    assert await _alarms(database_url) != [] and len(await _alarms(database_url)) == len(live)


async def test_escalation_raises_severity_once(database_url: str) -> None:
    keys = await add_devices(database_url, [DeviceRecord(id="wc-1", profile="waste_container")])
    await store_rule(
        database_url,
        """
name: fire
severity: major
scope: {profile: waste_container}
condition: {kind: state, metric: status, in: [burning]}
escalation: {after: 1s, severity: critical}
""",
    )
    feed = CommitFeed()
    burning = float(PROFILES.get("waste_container").metrics["status"].states.index("burning"))  # type: ignore[union-attr]
    async with running_engine(database_url, feed) as engine, committer(database_url, feed) as c:
        await c.commit([(keys["wc-1"], time.time_ns() // 1000 - 2_000_000, "status", burning)])
        await drained(engine)
        for _ in range(100):
            alarms = await _alarms(database_url)
            if alarms and alarms[0]["severity"] == "critical":
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # more timer passes: escalated once only
    assert [(a["severity"], a["active"]) for a in await _alarms(database_url)] == [
        ("critical", True)
    ]
    assert await _events(database_url) == ["raised", "escalated"]


async def test_rule_change_is_followed_live(database_url: str) -> None:
    keys = await add_devices(database_url, [DeviceRecord(id="aq-1", profile="air_quality")])
    feed = CommitFeed()
    t0 = _now_us()
    async with running_engine(database_url, feed) as engine, committer(database_url, feed) as c:
        await c.commit([(keys["aq-1"], t0, "pm25", 70)])
        # A rule created while the engine runs: rebuilt from history (the reading above)
        # and evaluated from then on.
        await store_rule(database_url, PM25_RULE.replace("for: 10m", "for: 5m"))
        for _ in range(100):
            if engine.evaluator is not None and engine.evaluator.compiled.n_slots:
                break
            await asyncio.sleep(0.05)
        await c.commit([(keys["aq-1"], t0 + 5 * MIN, "pm25", 70)])
        await drained(engine)
    assert [(a["subject"], a["active"]) for a in await _alarms(database_url)] == [("aq-1", True)]


async def test_restart_does_not_raise_again_what_an_operator_cleared(database_url: str) -> None:
    keys = await add_devices(database_url, [DeviceRecord(id="wc-1", profile="waste_container")])
    await store_rule(
        database_url,
        "name: full\nscope: {profile: waste_container}\n"
        "condition: {kind: threshold, metric: fillingLevel, above: 80}\n",
    )
    t0 = _now_us()
    feed = CommitFeed()
    async with running_engine(database_url, feed) as engine, committer(database_url, feed) as c:
        await c.commit([(keys["wc-1"], t0, "fillingLevel", 90.0)])
        await drained(engine)
    conn = await asyncpg.connect(database_url)
    try:
        alarm_id = await conn.fetchval("SELECT id FROM alarms")
        await clear_alarm(conn, alarm_id, "key:test (ops)", "emptied soon", None, None)
    finally:
        await conn.close()
    # The bin stays full; the engine restarts long after the raise (the rebuild window
    # starts after it): the condition never cleared, so no new alarm.
    feed = CommitFeed()
    async with committer(database_url, feed) as c:
        await c.commit([(keys["wc-1"], t0 + i * 10 * MIN, "fillingLevel", 95.0) for i in (3, 6)])
    async with running_engine(database_url, feed) as engine, committer(database_url, feed) as c:
        await c.commit([(keys["wc-1"], t0 + 70 * MIN, "fillingLevel", 97.0)])
        await drained(engine)
        assert [(a["active"]) for a in await _alarms(database_url)] == [False]
        # Emptied, then full again: that is a new alarm.
        await c.commit([(keys["wc-1"], t0 + 80 * MIN, "fillingLevel", 5.0)])
        await c.commit([(keys["wc-1"], t0 + 90 * MIN, "fillingLevel", 85.0)])
        await drained(engine)
    assert [(a["active"]) for a in await _alarms(database_url)] == [False, True]
