"""The city's message generator, without any I/O: given a device and the time, what it sends.

``CitySimulation.tick(device, sim_t, wall_t)`` returns the messages of one report: the
reading (perhaps broken by a fault), any extra fault messages, status changes and, after an
outage, the backfilled readings. Values follow the simulated time ``sim_t``; timestamps are
the wall-clock ``wall_t`` (plus the device's clock skew), so a gateway accepts them even
when the simulation runs faster than real time.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass, field

from device_profiles.topics import TopicScheme

from ._rand import hash_keys, unit
from .faults import VALUE_FAULTS, FaultConfig, corrupt_json, mutate_values, pad_document
from .fleet import Fleet, SimDevice
from .formats import Encoder, dumps
from .signals import CitySignals, Values

__all__ = ["FIRST_SEQ", "CitySimulation", "Outgoing"]

FIRST_SEQ = 1  # sequence numbers (json seq, f_cnt, fCnt) start here
HISTORY = 32  # messages a device remembers for replays
BACKLOG = 256  # readings a device buffers while offline (the oldest are lost beyond)
ANCIENT = (946_684_800.0, 1_262_304_000.0)  # 2000 .. 2010
FUTURE = (86_400.0, 5 * 365 * 86_400.0)  # a day .. five years ahead


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One MQTT message to publish."""

    topic: str
    payload: bytes
    device_id: str
    fmt: str  # json, senml, ttn, chirpstack; "status" for online/offline
    seq: int | None = None  # None for status messages and SenML
    fault: str | None = None  # fault kind, "backfill", or None for a clean message
    values: Values | None = None  # what a clean reading carries (None for broken ones)
    ts: float | None = None


@dataclass(slots=True)
class _DeviceState:
    seq: int = FIRST_SEQ - 1
    announced: bool = False
    offline_until: float | None = None
    history: deque[Outgoing] = field(default_factory=lambda: deque(maxlen=HISTORY))
    backlog: deque[tuple[float, float, int]] = field(default_factory=lambda: deque(maxlen=BACKLOG))


class CitySimulation:
    """Per-device sequence numbers, fault state and message building for a fleet."""

    __slots__ = ("_encoder", "_faults", "_fleet", "_kinds", "_peers", "_seed", "_signals", "_state")

    def __init__(
        self,
        fleet: Fleet,
        scheme: TopicScheme | None = None,
        faults: FaultConfig | None = None,
        seed: int | None = None,
    ) -> None:
        self._fleet = fleet
        self._seed = fleet.seed if seed is None else seed
        self._signals = CitySignals(fleet, self._seed)
        self._encoder = Encoder(fleet, scheme or TopicScheme())
        self._faults = faults or FaultConfig()
        self._state = [_DeviceState() for _ in fleet.devices]
        self._kinds = {p.name: {m: s.type for m, s in p.metrics.items()} for p in fleet.profiles}
        self._peers: dict[str, list[SimDevice]] = {}
        for d in fleet.devices:
            self._peers.setdefault(d.fmt, []).append(d)

    @property
    def encoder(self) -> Encoder:
        """The encoder (topics, codecs) messages are built with."""
        return self._encoder

    @property
    def signals(self) -> CitySignals:
        """The signal models readings come from."""
        return self._signals

    def skew(self, device: SimDevice) -> float:
        """The device's fixed clock offset in seconds (0 for most devices)."""
        return self._faults.skew_of(self._seed, device.key)

    def status(self, device: SimDevice, online: bool) -> Outgoing:
        """An ``online``/``offline`` status message of a native device."""
        payload = b"online" if online else b"offline"
        topic = self._encoder.status_topic(device)
        return Outgoing(topic, payload, device.id, "status", fault=None if online else "offline")

    def tick(self, device: SimDevice, sim_t: float, wall_t: float) -> list[Outgoing]:
        """The messages of one report of ``device`` (possibly none while it is offline)."""
        st = self._state[device.index]
        faults = self._faults
        native = not device.lorawan
        out: list[Outgoing] = []
        if st.offline_until is not None:
            st.seq += 1
            if sim_t < st.offline_until:
                st.backlog.append((sim_t, wall_t, st.seq))
                return out
            st.offline_until = None
            if native:
                out.append(self.status(device, True))
            for b_sim, b_wall, b_seq in st.backlog:
                out.append(self._reading(device, b_sim, b_wall, b_seq, None, "backfill"))
            st.backlog.clear()
        else:
            st.seq += 1
        if native and not st.announced:
            st.announced = True
            if not out:
                out.append(self.status(device, True))
        keys = (self._seed, device.key, st.seq)
        kind = faults.pick_replacing(*keys) if faults.enabled else None
        msg = self._reading(device, sim_t, wall_t, st.seq, kind, kind)
        out.append(msg)
        if faults.enabled:
            for extra in faults.extras(*keys):
                fault_msg = self._extra(device, st, msg, extra, sim_t, wall_t)
                if fault_msg is not None:
                    out.append(fault_msg)
            if faults.goes_offline(*keys):
                low, high = faults.offline_reports
                reports = low + int(unit(*keys, 0x0FE) * (high - low + 1))
                st.offline_until = sim_t + reports * device.interval_s - 1e-6
                if native:
                    out.append(self.status(device, False))
        st.history.append(msg)
        return out

    def _reading(
        self,
        device: SimDevice,
        sim_t: float,
        wall_t: float,
        seq: int,
        kind: str | None,
        label: str | None,
    ) -> Outgoing:
        """One reading, broken by the replacing fault ``kind`` if any."""
        values = self._signals.values(device, sim_t)
        skew = self.skew(device)
        ts = wall_t + skew
        u = unit(self._seed, device.key, seq, 0xAB)
        if label is None and skew:
            label = "clock_skew"
        if kind in VALUE_FAULTS:
            assert kind is not None
            broken = mutate_values(kind, values, dict(self._kinds[device.profile]), u)
            doc = self._encoder.document(device, broken, ts, seq, binary=False)
            payload = dumps(doc, allow_nan=kind == "nan")
            return self._out(device, payload, seq, label, None, ts)
        if kind == "future_timestamp":
            ts = wall_t + FUTURE[0] + (FUTURE[1] - FUTURE[0]) * u
        elif kind == "ancient_timestamp":
            ts = ANCIENT[0] + (ANCIENT[1] - ANCIENT[0]) * u
        doc = self._encoder.document(device, values, ts, seq)
        if kind == "oversize":
            pad_document(doc)
        payload = dumps(doc)
        if kind == "malformed_json":
            payload = corrupt_json(payload, u)
        clean = kind is None
        return self._out(device, payload, seq, label, values if clean else None, ts)

    def _out(
        self,
        device: SimDevice,
        payload: bytes,
        seq: int,
        fault: str | None,
        values: Values | None,
        ts: float,
    ) -> Outgoing:
        shown_seq = None if device.fmt == "senml" else seq
        topic = self._encoder.topic(device)
        return Outgoing(topic, payload, device.id, device.fmt, shown_seq, fault, values, ts)

    def _extra(
        self,
        device: SimDevice,
        st: _DeviceState,
        msg: Outgoing,
        kind: str,
        sim_t: float,
        wall_t: float,
    ) -> Outgoing | None:
        u = unit(self._seed, device.key, st.seq, 0xEE, len(kind))
        if kind == "duplicate":
            return dataclasses.replace(msg, fault=kind, values=None)
        if kind == "replay":
            if not st.history:
                return None
            old = st.history[int(u * len(st.history))]
            return dataclasses.replace(old, fault=kind, values=None)
        if kind == "unknown_device":
            number = 9000 + int(u * 1000)
            ghost_eui = f"{hash_keys(self._seed, number):016x}"
            ghost = dataclasses.replace(
                device, id=f"ghost-{number:04d}", dev_eui=ghost_eui if device.dev_eui else None
            )
            topic, payload = self._encoder.encode(ghost, self._signals.values(device, sim_t),
                                                  wall_t, st.seq)  # fmt: skip
            return Outgoing(topic, payload, ghost.id, ghost.fmt, None, kind)
        # wrong_topic: this device's clean payload on a peer's topic (same format).
        peers = self._peers.get(device.fmt, [])
        if len(peers) < 2:
            return None
        other = peers[int(u * len(peers))]
        if other.id == device.id:
            other = peers[(peers.index(other) + 1) % len(peers)]
        _topic, payload = self._encoder.encode(
            device, self._signals.values(device, sim_t), wall_t + self.skew(device), st.seq
        )
        return Outgoing(self._encoder.topic(other), payload, device.id, device.fmt, None, kind)
