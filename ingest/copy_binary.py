"""PostgreSQL binary COPY encoding of reading rows, vectorised with numpy.

A reading row is ``(time, device_key, metric_id, value, state, received_at)``. Rows
without a state (nearly all) have a fixed size and are encoded as one numpy structured
array; the few rows with a state string are appended with ``struct``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

__all__ = ["PG_EPOCH_US", "encode_readings"]

# Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01).
PG_EPOCH_US = 946_684_800_000_000

_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_TRAILER = struct.pack("!h", -1)

_ROW = np.dtype(
    [
        ("nfields", ">i2"),
        ("l_time", ">i4"),
        ("time", ">i8"),
        ("l_dev", ">i4"),
        ("dev", ">i4"),
        ("l_met", ">i4"),
        ("met", ">i2"),
        ("l_val", ">i4"),
        ("val", ">f8"),
        ("l_state", ">i4"),
        ("l_recv", ">i4"),
        ("recv", ">i8"),
    ]
)
_STATE_ROW = struct.Struct("!hiqiiihidi")
_RECV = struct.Struct("!iq")


def encode_readings(
    time_us: Sequence[int],
    device_key: Sequence[int],
    metric_id: Sequence[int],
    value: Sequence[float],
    received_us: Sequence[int],
    states: dict[int, str] | None = None,
) -> bytes:
    """Binary COPY data for reading rows (times are Unix epoch microseconds).

    ``states`` maps a row index to its state name; those rows get a text ``state``.
    """
    n = len(time_us)
    rows = np.empty(n, dtype=_ROW)
    rows["nfields"] = 6
    rows["l_time"] = 8
    rows["time"] = np.asarray(time_us, dtype=np.int64) - PG_EPOCH_US
    rows["l_dev"] = 4
    rows["dev"] = device_key
    rows["l_met"] = 2
    rows["met"] = metric_id
    rows["l_val"] = 8
    rows["val"] = value
    rows["l_state"] = -1
    rows["l_recv"] = 8
    rows["recv"] = np.asarray(received_us, dtype=np.int64) - PG_EPOCH_US
    if not states:
        return b"".join((_HEADER, rows.tobytes(), _TRAILER))
    keep = np.ones(n, dtype=bool)
    keep[list(states)] = False
    parts = [_HEADER, rows[keep].tobytes()]
    for i, state in states.items():
        raw = state.encode()
        parts.append(
            _STATE_ROW.pack(
                6,
                8,
                time_us[i] - PG_EPOCH_US,
                4,
                device_key[i],
                2,
                metric_id[i],
                8,
                value[i],
                len(raw),
            )
        )
        parts.append(raw)
        parts.append(_RECV.pack(8, received_us[i] - PG_EPOCH_US))
    parts.append(_TRAILER)
    return b"".join(parts)
