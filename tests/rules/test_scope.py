"""Rule scopes select the right devices: profile, ids, districts, tags (any of), polygon,
all combined; disabled devices never."""

from __future__ import annotations

from rules.definition.model import Scope
from rules.evaluation.devices import DeviceInfo, DeviceTable

TABLE = DeviceTable(
    [
        DeviceInfo(1, "aq-1", "air_quality", "North", ("school",), 48.10, 11.50),
        DeviceInfo(2, "aq-2", "air_quality", "North", ("park",), 48.20, 11.60),
        DeviceInfo(3, "aq-3", "air_quality", "South", ("school", "park"), 48.00, 11.40),
        DeviceInfo(4, "n-1", "noise", "North", ("school",), 48.11, 11.51),
        DeviceInfo(5, "aq-off", "air_quality", "North", ("school",), 48.10, 11.50, enabled=False),
        DeviceInfo(6, "aq-nowhere", "air_quality", "North", ("school",)),
    ]
)
SQUARE = ((11.45, 48.05), (11.55, 48.05), (11.55, 48.15), (11.45, 48.15))


def ids(**scope: object) -> list[str]:
    return [d.id for d in TABLE.matching(Scope.model_validate(scope))]


def test_each_filter_and_their_combination() -> None:
    assert ids(profile="air_quality") == ["aq-1", "aq-2", "aq-3", "aq-nowhere"]
    assert ids(devices=["aq-2", "n-1", "ghost"]) == ["aq-2", "n-1"]
    assert ids(districts=["South"]) == ["aq-3"]
    assert ids(tags=["park"]) == ["aq-2", "aq-3"]
    assert ids(polygon=SQUARE) == ["aq-1", "n-1"]  # devices without a location: never
    assert ids(profile="air_quality", districts=["North"], tags=["school"]) == [
        "aq-1", "aq-nowhere",
    ]  # fmt: skip
    assert ids(profile="air_quality", polygon=SQUARE) == ["aq-1"]
    assert ids(profile="parking_spot") == []
