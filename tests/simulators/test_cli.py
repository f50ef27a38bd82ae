"""The ``citygate simulate`` command-line hooks."""

from __future__ import annotations

import argparse
import uuid
from pathlib import Path

import pytest

from ingest.devices import load_device_file
from simulators import FaultConfig, SimulatorError
from simulators.cli import add_parser, broker_address, fault_config, main
from tests.support.broker import private_broker


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="citygate")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["simulate", *argv])


def test_parser_defaults_and_flags() -> None:
    city = parse("city", "--devices", "50", "--speed", "60", "--fault", "nan=0.1")
    assert (city.simulate_command, city.devices, city.speed, city.seed) == ("city", 50, 60.0, 1)
    assert city.mqtt_url is None and city.fault == ["nan=0.1"]
    load = parse("load", "--count", "10", "--qos", "0", "--processes", "2")
    assert (load.count, load.qos, load.processes, load.rate) == (10, 0, 2, 1000.0)
    with pytest.raises(SystemExit):
        parse("load", "--qos", "2", "--count", "1")
    with pytest.raises(SystemExit):
        parse("load")  # needs --count or --duration


def test_helpers() -> None:
    assert broker_address("mqtt://broker.example:1884") == ("broker.example", 1884)
    assert broker_address(None) == ("127.0.0.1", 1883)
    with pytest.raises(SimulatorError):
        broker_address("http://x")
    assert fault_config(0.01, ["replay=0.3"]) == FaultConfig.uniform(0.01).with_rates(
        {"replay": 0.3}
    )
    with pytest.raises(SimulatorError):
        fault_config(0.5, [])
    with pytest.raises(SimulatorError):
        fault_config(0.0, ["gremlins=1"])


async def test_write_fleet_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "city.csv"
    assert await main(parse("city", "--devices", "30", "--write-fleet", str(path),
                            "--write-only")) == 0  # fmt: skip
    assert len(load_device_file(path)) == 30
    assert "wrote 30 devices" in capsys.readouterr().out


async def test_load_command(capsys: pytest.CaptureFixture[str]) -> None:
    with private_broker() as broker:
        args = parse("load", "--count", "300", "--rate", "0", "--devices", "5",
                     "--mqtt-url", f"mqtt://127.0.0.1:{broker.port}",
                     "--topic-prefix", f"t{uuid.uuid4().hex[:8]}")  # fmt: skip
        assert await main(args) == 0
    assert "sent 300 messages" in capsys.readouterr().out


async def test_errors_become_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert await main(parse("city", "--fault-rate", "0.9", "--devices", "5")) == 1
    assert "too high" in capsys.readouterr().err
