"""Rules as code: rule files with file:line errors, ``citygate rules apply|export|list|
backtest`` against a real database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from device_profiles import ProfileRegistry
from ingest.devices import DeviceRecord
from ingest.feed import CommitFeed
from rules.definition.files import EXAMPLES_DIR, load_rule_dir, load_rule_file
from rules.errors import RuleError
from tests.support.fixtures_data import add_devices
from tests.support.rules import MIN, committer

PROFILES = ProfileRegistry.load()


def test_example_rules_are_valid() -> None:
    names = {r.name for r in load_rule_dir(EXAMPLES_DIR, PROFILES)}
    assert {"waste container full", "PM2.5 episode in a district", "traffic jam"} <= names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: a\nscope: {profile: air_quality}\ncondition:\n  kind: threshold\n"
         "  metric: pm99\n  above: 1\n", ":1: rule 'a': condition.metric: unknown metric 'pm99'"),
        ("name: a\nscope: {profile: air_quality}\ncondition:\n  kind: threshold\n"
         "  metric: pm25\n  above: 1\n  for: soon\n", ":7: condition.for: bad duration 'soon'"),
        ("name: a\nscope: {}\ncondition: {kind: no_data}\n", ":2: scope: scope is empty"),
        ("name: a\nscope: {profile: air_quality\n", ": syntax error"),
        ("name: a\nscope: {profile: parking}\ncondition: {kind: no_data}\n",
         "scope.profile: unknown profile 'parking'"),
    ],
)  # fmt: skip
def test_bad_rule_file_names_file_line_and_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(RuleError) as err:
        load_rule_file(path, PROFILES)
    assert str(path) in str(err.value)
    assert expected in str(err.value), str(err.value)


def _citygate(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "citygate", "rules", *args],
        env={**os.environ, "CITYGATE_DATABASE_URL": url},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


RULE = """\
name: pm25 high
scope: {profile: air_quality}
condition: {kind: threshold, metric: pm25, above: 50, for: 10m}
"""


async def test_apply_export_prune_and_backtest_from_the_command_line(
    database_url: str, tmp_path: Path
) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "pm25.yaml").write_text(RULE)
    (rules_dir / "silent.yaml").write_text(
        "name: silent\nscope: {profile: noise}\ncondition: {kind: no_data, for: 1h}\n"
    )
    r = _citygate(database_url, "apply", str(rules_dir))
    assert r.returncode == 0, r.stderr
    assert "2 created" in r.stdout
    assert (
        "0 created, 0 updated, 2 unchanged"
        in _citygate(database_url, "apply", str(rules_dir)).stdout
    )
    (rules_dir / "pm25.yaml").write_text(RULE.replace("50", "55"))
    out = _citygate(database_url, "apply", str(rules_dir)).stdout
    assert "updated   pm25 high (version 2)" in out
    # A bad file stops the whole apply, naming the file and line; nothing changes.
    (rules_dir / "bad.yaml").write_text(RULE.replace("pm25 high", "bad").replace("pm25,", "pm99,"))
    bad = _citygate(database_url, "apply", str(rules_dir))
    assert bad.returncode == 1 and "bad.yaml:1" in bad.stderr and "pm99" in bad.stderr
    (rules_dir / "bad.yaml").unlink()
    # Export, remove one file, apply with --prune: the missing rule is deleted.
    exported = tmp_path / "exported"
    assert _citygate(database_url, "export", str(exported)).returncode == 0
    assert sorted(p.name for p in exported.iterdir()) == ["pm25-high.yaml", "silent.yaml"]
    assert "2 unchanged" in _citygate(database_url, "apply", str(exported)).stdout
    (rules_dir / "silent.yaml").unlink()
    assert "deleted   silent" in _citygate(database_url, "apply", str(rules_dir), "--prune").stdout
    listed = _citygate(database_url, "list").stdout
    assert "pm25 high" in listed and "silent" not in listed
    # Back-test a draft file over stored readings.
    keys = await add_devices(database_url, [DeviceRecord(id="aq-1", profile="air_quality")])
    t0 = time.time_ns() // 1000 - 3600 * 1_000_000
    async with committer(database_url, CommitFeed()) as c:
        await c.commit([(keys["aq-1"], t0 + i * 5 * MIN, "pm25", 80.0) for i in range(4)])
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 / 1e6 - 60))
    bt = _citygate(database_url, "backtest", str(rules_dir / "pm25.yaml"), "--from", start)
    assert bt.returncode == 0, bt.stderr
    assert "4 readings of 1 devices" in bt.stdout and "aq-1" in bt.stdout
    assert "1 alarms" in bt.stdout
    missing = _citygate(database_url, "backtest", "no such rule")
    assert missing.returncode == 1 and "no rule named 'no such rule'" in missing.stderr


def test_dry_run_checks_actions_and_names_the_file(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "bins.yaml"
    path.write_text(
        "- name: ok\n  scope: {profile: noise}\n  condition: {kind: no_data}\n"
        "- name: bins\n  scope: {profile: waste_container}\n"
        "  condition: {kind: threshold, metric: fillingLevel, above: 90}\n"
        "  actions: [{type: service_request, service_code: bin-full}]\n"
    )
    r = _citygate(database_url, "apply", str(path), "--dry-run")
    assert r.returncode == 1
    assert f"{path}:4: rule 'bins': actions.0.service_code: unknown service 'bin-full'" in r.stderr
    assert "0 rules" in _citygate(database_url, "list").stdout  # nothing stored
