"""The hot path: one MQTT message in, accepted readings into the current batch, anything
refused into quarantine with a reason. No I/O, no database round trip per message.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from operator import le

from prometheus_client import Counter

from device_profiles import CompiledProfile, DecodeError, Rejection, decode
from device_profiles.fastpath import Envelope, native_envelope, number_plan
from device_profiles.topics import STATUS, Route, TopicError, TopicScheme
from ingest.batch import Batch, QuarantineRow

from .metrics import GatewayMetrics
from .registry import DeviceEntry, DeviceRegistry
from .status import StatusTracker, parse_status_payload

log = logging.getLogger(__name__)

__all__ = ["Limits", "Pipeline", "ProvisionRequest"]

_ROUTE_CACHE_MAX = 200_000
_PLAN_CACHE_MAX = 10_000
_NUMBER_TYPES = frozenset({float, int})

# metric ids, lower bounds, upper bounds of an all-number message of one key order
_Plan = tuple[tuple[int, ...], tuple[float, ...], tuple[float, ...]]


@dataclass(frozen=True, slots=True)
class Limits:
    """Validation limits (from settings)."""

    max_payload_bytes: int = 16 * 1024
    max_future_skew_s: float = 300.0
    max_past_age_s: float = 7 * 24 * 3600.0
    max_pending_messages: int = 50_000


# topic, payload, ack token (None for QoS 0), received time (epoch microseconds)
ProvisionRequest = tuple[str, bytes, int | None, int]


class Pipeline:
    """Identifies, decodes and validates messages into :attr:`batch`."""

    def __init__(
        self,
        scheme: TopicScheme,
        registry: DeviceRegistry,
        metric_ids: dict[str, int],
        limits: Limits,
        metrics: GatewayMetrics,
        status: StatusTracker,
        on_commit: Callable[[list[int]], None] | None = None,
        provision: Callable[[str, ProvisionRequest], bool] | None = None,
        on_full: Callable[[], None] | None = None,
        full_at: int = 0,
    ) -> None:
        self._scheme = scheme
        self._registry = registry
        self._metric_ids = metric_ids
        self._limits = limits
        self._future_us = int(limits.max_future_skew_s * 1e6)
        self._past_us = int(limits.max_past_age_s * 1e6)
        self._metrics = metrics
        self._status = status
        self._on_commit = on_commit
        self._provision = provision
        self._on_full = on_full
        self._full_at = full_at
        self._routes: dict[str, Route | TopicError] = {}
        self._seq: dict[int, int] = {}
        self._plans: dict[tuple[str, tuple[str, ...]], _Plan | None] = {}
        self._rejected: dict[str, Counter] = {}  # reason code -> child counter
        self.batch = self._new_batch()
        # Batches that reached ``full_at`` messages, waiting for the writer, oldest first.
        self._full: deque[Batch] = deque()
        self._full_messages = 0

    def _new_batch(self) -> Batch:
        batch = Batch()
        batch.on_commit = self._on_commit
        return batch

    def take(self) -> Batch:
        """Hand over the oldest full batch, else the current one (starting a new one)."""
        if self._full:
            batch = self._full.popleft()
            self._full_messages -= batch.messages
        else:
            batch, self.batch = self.batch, self._new_batch()
        self._metrics.messages.inc(batch.messages)
        return batch

    def has_full(self) -> bool:
        """Some batch is full and waiting for the writer."""
        return bool(self._full)

    def pending_messages(self) -> int:
        """Messages taken in and not yet handed to the writer."""
        return self._full_messages + self.batch.messages

    # -- the hot path -----------------------------------------------------------------
    def handle(self, topic: str, payload: bytes, token: int | None, received_us: int) -> None:
        """Process one message. ``token`` is its acknowledgement token (None: QoS 0).

        A batch that reaches ``full_at`` messages is set aside for the writer and
        ``on_full`` is called, so no commit is larger than the configured batch.
        """
        batch = self.batch
        if token is None and self.pending_messages() >= self._limits.max_pending_messages:
            # QoS 0 is not held back by the broker's in-flight window: bound it here.
            self._metrics.overload_dropped.inc()
            return
        route = self._routes.get(topic)
        if route is None:
            try:
                route = self._scheme.parse(topic)
            except TopicError as exc:
                route = exc
            if len(self._routes) >= _ROUTE_CACHE_MAX:
                self._routes.clear()
            self._routes[topic] = route
        entry: DeviceEntry | None = None
        if not isinstance(route, TopicError):
            ref = route.device_ref
            entry = self._registry.by_dev_eui(ref) if route.by_dev_eui else self._registry.get(ref)
            if (
                entry is None
                and self._provision is not None
                and route.kind != STATUS
                and self._provision(ref, (topic, payload, token, received_us))
            ):
                return  # held, unacknowledged, until the device exists; then handled again
        batch.messages += 1
        if batch.messages == self._full_at:
            # This message still goes into ``batch`` (held here); the next starts a new one.
            self._full.append(batch)
            self._full_messages += batch.messages
            self.batch = self._new_batch()
            if self._on_full is not None:
                self._on_full()
        if token is not None:
            batch.acks.append(token)
        if len(payload) > self._limits.max_payload_bytes:
            limit = self._limits.max_payload_bytes
            self._reject(
                batch, topic, entry.id if entry else None, "oversize",
                f"payload of {len(payload)} bytes exceeds the limit of {limit} bytes "
                f"(first {limit} bytes kept)",
                payload[:limit], received_us,
            )  # fmt: skip
            return
        if isinstance(route, TopicError):
            self._reject(batch, topic, None, "bad_topic", str(route), payload, received_us)
            return
        if entry is None:
            self._reject(
                batch, topic, route.device_ref[:128], "unknown_device",
                f"device {route.device_ref[:64]!r} is not registered", payload, received_us,
            )  # fmt: skip
            return
        if not entry.enabled:
            self._reject(
                batch, topic, entry.id, "device_disabled",
                f"device {entry.id!r} is disabled", payload, received_us,
            )  # fmt: skip
            return
        if route.kind == STATUS:
            self._handle_status(batch, topic, entry, payload, received_us)
            return
        self._handle_telemetry(batch, topic, route, entry, payload, received_us)

    def _handle_telemetry(
        self,
        batch: Batch,
        topic: str,
        route: Route,
        entry: DeviceEntry,
        payload: bytes,
        received_us: int,
    ) -> None:
        compiled = entry.compiled
        if compiled is None:
            self._reject(
                batch, topic, entry.id, "unknown_profile",
                f"device {entry.id!r} uses profile {entry.profile_name!r}, which this "
                "gateway does not have", payload, received_us,
            )  # fmt: skip
            return
        fmt = route.fmt or entry.default_format
        if fmt == "json":
            env = native_envelope(payload)
            if env is not None and self._fast(batch, entry, compiled, env, received_us):
                return
        try:
            decoded = decode(fmt, payload, entry.profile)
        except DecodeError as exc:
            self._reject(batch, topic, entry.id, "malformed", str(exc), payload, received_us)
            return
        claimed = decoded.device_id
        if claimed is not None and claimed != entry.id and claimed.lower() != entry.dev_eui:
            self._reject(
                batch, topic, entry.id, "id_mismatch",
                f"payload claims device {claimed[:64]!r} but was published for {entry.id!r}",
                payload, received_us,
            )  # fmt: skip
            return
        self._seen(entry, decoded.seq, received_us)

        problems: list[tuple[str, str]] | None = None
        if decoded.errors:
            problems = [("malformed", f"{m}: {r}" if m else r) for m, r in decoded.errors]
        msg_us = received_us if decoded.time is None else round(decoded.time * 1e6)
        lo = received_us - self._past_us
        hi = received_us + self._future_us
        metric_ids = self._metric_ids
        check = compiled.check
        # Accepted readings by their time: each time becomes one row.
        rows: dict[int, dict[int, tuple[float, str | None]]] = {}
        for metric, t, value in decoded.readings:
            t_us = msg_us if t is None else round(t * 1e6)
            if t_us > hi:
                reason = ("future_timestamp", f"{metric}: timestamp is in the future beyond "
                          f"the allowed skew of {self._limits.max_future_skew_s:g} s")  # fmt: skip
            elif t_us < lo:
                reason = ("stale_timestamp", f"{metric}: timestamp is older than the allowed "
                          f"{self._limits.max_past_age_s:g} s")  # fmt: skip
            else:
                result = check(metric, value)
                if type(result) is not Rejection:
                    rows.setdefault(t_us, {}).setdefault(metric_ids[metric], result)  # type: ignore[arg-type]
                    continue
                reason = (result.code, f"{metric}: {result.reason}")
            if problems is None:
                problems = []
            problems.append(reason)
        stored = bool(rows)
        for t_us, readings in rows.items():
            mids = tuple(readings)
            vals = tuple(v for v, _ in readings.values())
            states = tuple(st for _, st in readings.values())
            if any(st is not None for st in states):
                batch.add_state_row(t_us, entry.device_key, mids, vals, states, received_us)
            else:
                batch.add_row(t_us, entry.device_key, mids, vals, received_us)
        if stored:
            batch.publish_us.append(msg_us)
        if problems:
            self._reject_many(batch, topic, entry.id, problems, payload, received_us)
        elif not stored:
            self._reject(
                batch, topic, entry.id, "empty", "message carries no readings", payload,
                received_us,
            )  # fmt: skip

    def _seen(self, entry: DeviceEntry, seq: int | None, received_us: int) -> None:
        self._status.seen(entry.device_key, received_us / 1e6)
        if seq is not None:
            last = self._seq.get(entry.device_key)
            if last is not None and seq > last + 1:
                self._metrics.sequence_gaps.inc(seq - last - 1)
            if last is None or seq > last:
                self._seq[entry.device_key] = seq

    def _fast(
        self,
        batch: Batch,
        entry: DeviceEntry,
        compiled: CompiledProfile,
        env: Envelope,
        received_us: int,
    ) -> bool:
        """Store a plain all-number native message in a few C-level passes.

        Returns False, having changed nothing, for anything it does not fully accept;
        the general path then handles the message and names what is wrong.
        """
        dev, ts, seq, values = env
        if dev is not None and dev != entry.id and dev.lower() != entry.dev_eui:
            return False
        keys = tuple(values)
        if not keys:
            return False
        plan_key = (entry.profile_name, keys)
        plan = self._plans.get(plan_key, False)
        if plan is False:
            found = number_plan(compiled, keys)
            plan = (
                None
                if found is None
                else (tuple(self._metric_ids[m] for m in keys), found.lo, found.hi)
            )
            if len(self._plans) >= _PLAN_CACHE_MAX:
                self._plans.clear()
            self._plans[plan_key] = plan
        if plan is None:
            return False
        # No typing.cast here: it is a call per message (and builds a generic alias).
        mids, lo, hi = plan  # type: ignore[misc]
        vals: tuple[float, ...] = tuple(values.values())  # type: ignore[arg-type]
        if not (
            set(map(type, vals)) <= _NUMBER_TYPES
            and all(map(le, lo, vals))
            and all(map(le, vals, hi))
        ):
            return False
        t_us = received_us if ts is None else round(ts * 1e6)
        if not received_us - self._past_us <= t_us <= received_us + self._future_us:
            return False
        batch.add_row(t_us, entry.device_key, mids, vals, received_us)
        batch.publish_us.append(t_us)
        self._seen(entry, seq, received_us)
        return True

    def _handle_status(
        self, batch: Batch, topic: str, entry: DeviceEntry, payload: bytes, received_us: int
    ) -> None:
        status = parse_status_payload(payload)
        if status is None:
            self._reject(
                batch, topic, entry.id, "bad_status",
                "status payload must be 'online' or 'offline'", payload, received_us,
            )  # fmt: skip
            return
        self._status.reported(entry, status, received_us / 1e6)

    # -- rejections ---------------------------------------------------------------------
    def _count(self, code: str) -> None:
        child = self._rejected.get(code)
        if child is None:
            child = self._rejected[code] = self._metrics.rejected.labels(code)
        child.inc()

    def _reject(
        self,
        batch: Batch,
        topic: str,
        device_id: str | None,
        code: str,
        reason: str,
        payload: bytes,
        received_us: int,
    ) -> None:
        self._count(code)
        batch.quarantine.append(QuarantineRow(received_us, topic, device_id, code, reason, payload))

    def _reject_many(
        self,
        batch: Batch,
        topic: str,
        device_id: str,
        problems: list[tuple[str, str]],
        payload: bytes,
        received_us: int,
    ) -> None:
        for code, _ in problems:
            self._count(code)
        reason = "; ".join(r for _, r in problems[:20])
        if len(problems) > 20:
            reason += f"; and {len(problems) - 20} more"
        batch.quarantine.append(
            QuarantineRow(received_us, topic, device_id, problems[0][0], reason, payload)
        )
