"""PostgreSQL binary COPY encoding of ``readings`` rows, vectorised with numpy.

A row is ``(time, device_key, metric_ids smallint[], vals float8[], states text[],
received_at)``. Rows of a :class:`~ingest.batch.RowGroup` all hold ``n`` readings and no
states, so they have one fixed size: each group becomes one numpy structured array. Rows
with states (few) are packed with ``struct``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

import numpy as np

from .batch import RowGroup, StateRow
from .latest import LatestRow

__all__ = ["HEADER", "PG_EPOCH_US", "TRAILER", "encode_fixed", "encode_latest", "encode_rows"]

# Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01).
PG_EPOCH_US = 946_684_800_000_000
HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
TRAILER = struct.pack("!h", -1)

_INT2_OID, _FLOAT8_OID, _TEXT_OID = 21, 701, 25
_NFIELDS = 6


def _array_header(elem: str) -> list[tuple[str, str]]:
    return [
        (f"{elem}_len", ">i4"),
        (f"{elem}_ndim", ">i4"),
        (f"{elem}_hasnull", ">i4"),
        (f"{elem}_oid", ">i4"),
        (f"{elem}_dim", ">i4"),
        (f"{elem}_lbound", ">i4"),
    ]


_FIELDS: dict[str, str] = {"i4": ">i4", "ts": ">i8"}
_DTYPES: dict[tuple[tuple[str, ...], int], np.dtype[np.void]] = {}


def _dtype(layout: tuple[str, ...], n: int) -> np.dtype[np.void]:
    """A fixed-size row: scalar columns (``i4``/``ts``), ``m``/``v`` arrays, ``null``s."""
    dt = _DTYPES.get((layout, n))
    if dt is None:
        fields: list[tuple[str, str] | tuple[str, list[tuple[str, str]], tuple[int]]]
        fields = [("nfields", ">i2")]
        for i, kind in enumerate(layout):
            if kind in _FIELDS:
                fields += [(f"l{i}", ">i4"), (f"c{i}", _FIELDS[kind])]
            elif kind == "null":
                fields.append((f"l{i}", ">i4"))
            else:
                elem = ">i2" if kind == "m" else ">f8"
                fields += _array_header(f"a{i}")
                fields.append((f"c{i}", [("len", ">i4"), ("val", elem)], (n,)))
        dt = np.dtype(fields)
        _DTYPES[(layout, n)] = dt
    return dt


def encode_fixed(layout: tuple[str, ...], n: int, columns: list[object]) -> bytes:
    """Rows of one fixed size: ``columns[i]`` holds column ``i``'s values (None for nulls).

    Timestamps (``ts``) are Unix epoch microseconds; ``m`` is a smallint[] and ``v`` a
    float8[] of ``n`` elements per row.
    """
    count = len(next(c for c in columns if c is not None))  # type: ignore[arg-type]
    rows = np.empty(count, dtype=_dtype(layout, n))
    rows["nfields"] = len(layout)
    for i, (kind, data) in enumerate(zip(layout, columns, strict=True)):
        if kind == "null":
            rows[f"l{i}"] = -1
        elif kind == "i4":
            rows[f"l{i}"] = 4
            rows[f"c{i}"] = data
        elif kind == "ts":
            rows[f"l{i}"] = 8
            rows[f"c{i}"] = np.asarray(data, dtype=np.int64) - PG_EPOCH_US
        else:
            oid, size = (_INT2_OID, 2) if kind == "m" else (_FLOAT8_OID, 8)
            rows[f"a{i}_len"] = 20 + n * (4 + size)
            rows[f"a{i}_ndim"] = 1
            rows[f"a{i}_hasnull"] = 0
            rows[f"a{i}_oid"] = oid
            rows[f"a{i}_dim"] = n
            rows[f"a{i}_lbound"] = 1
            rows[f"c{i}"]["len"] = size
            rows[f"c{i}"]["val"] = data
    return rows.tobytes()


# readings: time, device_key, metric_ids, vals, states (NULL), received_at
_READINGS = ("ts", "i4", "m", "v", "null", "ts")


def _encode_group(g: RowGroup) -> bytes:
    return encode_fixed(
        _READINGS, g.n, [g.time_us, g.device_key, g.metric_ids, g.values, None, g.received_us]
    )


_ROW_START = struct.Struct("!hiqii")
_ARR_HEAD = struct.Struct("!iiiiii")
_I8 = struct.Struct("!iq")


def _encode_state_row(row: StateRow) -> bytes:
    time_us, dev, mids, vals, states, recv = row
    n = len(mids)
    parts = [_ROW_START.pack(_NFIELDS, 8, time_us - PG_EPOCH_US, 4, dev)]
    parts.append(_ARR_HEAD.pack(20 + 6 * n, 1, 0, _INT2_OID, n, 1))
    parts.append(struct.pack(f"!{'ih' * n}", *[x for m in mids for x in (2, m)]))
    parts.append(_ARR_HEAD.pack(20 + 12 * n, 1, 0, _FLOAT8_OID, n, 1))
    parts.append(struct.pack(f"!{'id' * n}", *[x for v in vals for x in (8, v)]))
    body = bytearray()
    for s in states:
        if s is None:
            body += b"\xff\xff\xff\xff"
        else:
            raw = s.encode()
            body += struct.pack("!i", len(raw)) + raw
    has_null = 1 if any(s is None for s in states) else 0
    parts.append(_ARR_HEAD.pack(20 + len(body), 1, has_null, _TEXT_OID, n, 1))
    parts.append(bytes(body))
    parts.append(_I8.pack(8, recv - PG_EPOCH_US))
    return b"".join(parts)


def encode_rows(groups: Iterable[RowGroup], state_rows: Iterable[StateRow]) -> bytes:
    """The binary COPY stream (header, rows, trailer) for a batch's rows."""
    parts = [HEADER]
    parts.extend(_encode_group(g) for g in groups if len(g))
    parts.extend(_encode_state_row(r) for r in state_rows)
    parts.append(TRAILER)
    return b"".join(parts)


_TIMESTAMPTZ_OID = 1184


def _array(oid: int, elems: list[bytes | None]) -> bytes:
    has_null = any(e is None for e in elems)
    body = b"".join(
        b"\xff\xff\xff\xff" if e is None else struct.pack("!i", len(e)) + e for e in elems
    )
    return struct.pack("!iiiii", 1, int(has_null), oid, len(elems), 1) + body


def _field(data: bytes | None) -> bytes:
    return b"\xff\xff\xff\xff" if data is None else struct.pack("!i", len(data)) + data


# latest: device_key, time, received_at, metric_ids, vals, states, times
_LATEST = ("i4", "ts", "ts", "m", "v", "null", "null")


def encode_latest(rows: Iterable[LatestRow]) -> bytes:
    """The binary COPY stream for ``latest`` rows (common rows vectorised by size)."""
    simple: dict[int, list[LatestRow]] = {}
    parts = [HEADER]
    for row in rows:
        if row.states is None and row.times_us is None:
            simple.setdefault(len(row.metric_ids), []).append(row)
            continue
        fields = [
            struct.pack("!i", row.device_key),
            struct.pack("!q", row.time_us - PG_EPOCH_US),
            struct.pack("!q", row.received_us - PG_EPOCH_US),
            _array(_INT2_OID, [struct.pack("!h", m) for m in row.metric_ids]),
            _array(_FLOAT8_OID, [struct.pack("!d", v) for v in row.values]),
            None
            if row.states is None
            else _array(_TEXT_OID, [None if s is None else s.encode() for s in row.states]),
            None
            if row.times_us is None
            else _array(
                _TIMESTAMPTZ_OID, [struct.pack("!q", t - PG_EPOCH_US) for t in row.times_us]
            ),
        ]
        parts.append(struct.pack("!h", len(fields)) + b"".join(_field(f) for f in fields))
    for n, group in simple.items():
        parts.append(
            encode_fixed(
                _LATEST,
                n,
                [
                    [r.device_key for r in group],
                    [r.time_us for r in group],
                    [r.received_us for r in group],
                    [r.metric_ids for r in group],
                    [r.values for r in group],
                    None,
                    None,
                ],
            )
        )
    parts.append(TRAILER)
    return b"".join(parts)
