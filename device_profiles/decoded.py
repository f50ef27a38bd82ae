"""Result of decoding one payload: what the message claims, before profile validation."""

from __future__ import annotations

from dataclasses import dataclass

Reading = tuple[str, float | None, object]  # (metric, time-or-None, raw value as found)
DecodeProblem = tuple[str, str]  # (metric or '', reason)


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded payload.

    ``readings`` are not yet validated against the profile (see CompiledProfile.check);
    ``errors`` lists entries that could not be decoded while the rest still were.
    """

    device_id: str | None
    time: float | None
    seq: int | None
    readings: tuple[Reading, ...]
    errors: tuple[DecodeProblem, ...] = ()
