"""The simulators' exception root."""

from __future__ import annotations

__all__ = ["SimulatorError"]


class SimulatorError(Exception):
    """A simulation cannot be set up or run (bad fleet file, unreachable broker...)."""
