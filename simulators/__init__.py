"""Simulated city devices for citygate: a reproducible fleet, realistic signals, every wire
format the gateway accepts, fault injection, and a load generator.

``build_fleet`` -> ``run_city`` publishes a city over MQTT; ``run_load`` measures
throughput with sequence-numbered messages that ``find_gaps`` checks.
"""

from __future__ import annotations

from .city import run_city
from .errors import SimulatorError
from .faults import FAULT_KINDS, FaultConfig
from .fleet import DEFAULT_CENTER, District, Fleet, SimDevice, build_fleet, default_districts
from .formats import Encoder
from .load import LoadResult, find_gaps, run_load
from .signals import CitySignals
from .simulation import FIRST_SEQ, CitySimulation, Outgoing
from .stats import Stats

__all__ = [
    "DEFAULT_CENTER",
    "FAULT_KINDS",
    "FIRST_SEQ",
    "CitySignals",
    "CitySimulation",
    "District",
    "Encoder",
    "FaultConfig",
    "Fleet",
    "LoadResult",
    "Outgoing",
    "SimDevice",
    "SimulatorError",
    "Stats",
    "build_fleet",
    "default_districts",
    "find_gaps",
    "run_city",
    "run_load",
]
