"""SQL of bucketed history queries: the buckets of one metric over some devices, merged
from the rollups and raw readings, as rows or as a JSON array built by PostgreSQL.

Only constant fragments and whitelisted names go into the text; every value is bound:
``$1`` device keys, ``$2`` metric id, ``$3`` bucket width, ``$4`` bucket origin,
``$5``/``$6`` the range, ``$7``/``$8`` the part the rollups answer, ``$9`` a
categorical metric's states. Statements are built once per shape and kept.
"""

from __future__ import annotations

from functools import cache

__all__ = ["ROLLUP_GRAIN_S", "bucketed_sql", "points_sql"]

# The rollup tables and the width of their buckets.
ROLLUP_GRAIN_S = {"readings_1m": 60, "readings_1h": 3600}

# Raw readings of [lo, hi) as partial aggregates per reading. Two raw branches (the
# range's head and tail, not one OR) so that each is one index range scan with chunk
# exclusion.
_RAW = """
    SELECT time_bucket($3::interval, r.time, $4::timestamptz) AS b, r.device_key AS dk,
           1::bigint AS n, v AS s, v AS lo, v AS hi, v AS la, r.time AS lt
    FROM readings r
    CROSS JOIN LATERAL (SELECT r.vals[array_position(r.metric_ids, $2::smallint)] AS v) x
    WHERE r.device_key = ANY($1::int[]) AND r.metric_ids @> ARRAY[$2::smallint]
      AND r.time >= {lo} AND r.time < {hi}
"""
_HEAD = _RAW.format(lo="$5", hi="$7")
_TAIL = _RAW.format(lo="$8", hi="$6")
_ROLLUP_WHERE = """
    WHERE u.device_key = ANY($1::int[]) AND u.metric_id = $2::smallint
      AND u.bucket >= $7 AND u.bucket < $8
"""
_MERGE = (
    "sum(n)::bigint AS count, sum(s) AS sum, min(lo) AS min, max(hi) AS max, last(la, lt) AS last"
)
# How many devices a bucket holds: a sort per bucket, so only when it is asked for.
_DEVICES = ", count(DISTINCT dk)::int AS devices"


@cache
def bucketed_sql(table: str, *, devices: bool, flat: bool) -> str:
    """Columns ``b, count, sum, min, max, last`` (and ``devices``) per bucket holding
    readings, in no particular order.

    ``flat``: one device and buckets as wide as the table's own. Then every rollup row
    is a bucket of the answer as it is, and only the raw edges need grouping: no
    aggregation over the day's 1,440 rollup rows, which was most of the query's cost.
    """
    if table not in ROLLUP_GRAIN_S:
        raise ValueError(f"not a rollup table: {table!r}")
    if flat:
        dev = ", 1 AS devices" if devices else ""  # one device: no count(DISTINCT) needed
        merge = _MERGE + dev
        return (
            "SELECT u.bucket AS b, u.count::bigint AS count, u.sum, u.min, u.max, u.last"  # noqa: S608 - constant text
            f"{dev} FROM {table} u {_ROLLUP_WHERE}"
            f" UNION ALL SELECT b, {merge} FROM ({_HEAD}) h GROUP BY b"
            f" UNION ALL SELECT b, {merge} FROM ({_TAIL}) t GROUP BY b"
        )
    return f"""
WITH parts AS (
    SELECT time_bucket($3::interval, u.bucket, $4::timestamptz) AS b, u.device_key AS dk,
           u.count::bigint AS n, u.sum AS s, u.min AS lo, u.max AS hi, u.last AS la,
           u.last_time AS lt
    FROM {table} u {_ROLLUP_WHERE}
    UNION ALL {_HEAD}
    UNION ALL {_TAIL}
)
SELECT b, {_MERGE}{_DEVICES if devices else ""} FROM parts GROUP BY b
"""  # noqa: S608 - constant text


# JSON of the points, concatenated by PostgreSQL: the text of a day of 1-minute buckets
# in one value, with no per-row work in Python. (string_agg of text pieces costs about
# half of json_agg over rows, which looks up every column's output function per row.)
_TIME = """to_char(b AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""
_VALUES = {
    "count": "count::text",
    "devices": "devices::text",
    "avg": "coalesce((sum / count)::text, 'null')",
    "min": "coalesce(min::text, 'null')",
    "max": "coalesce(max::text, 'null')",
    "last": "coalesce(last::text, 'null')",
}
# A state's index -> its name as a JSON string; an unknown index stays a number.
_LAST_STATE = "coalesce(to_json(($9::text[])[last::int + 1])::text, last::text, 'null')"


@cache
def points_sql(table: str, aggregates: tuple[str, ...], states: bool, flat: bool) -> str:
    """One text value: the JSON array of points (``time`` and ``aggregates``), oldest
    first; ``last`` as a state name when ``states`` ($9) is bound."""
    unknown = set(aggregates) - set(_VALUES)
    if unknown:
        raise ValueError(f"unknown aggregates {sorted(unknown)}")
    pieces = [f"""'{{"time":"' || {_TIME} || '"'"""]
    for a in aggregates:
        value = _LAST_STATE if a == "last" and states else _VALUES[a]
        pieces.append(f"""',"{a}":' || {value}""")
    item = " || ".join([*pieces, "'}'"])
    inner = bucketed_sql(table, devices="devices" in aggregates, flat=flat)
    return (
        f"SELECT '[' || coalesce(string_agg({item}, ',' ORDER BY b), '') || ']' "  # noqa: S608 - constant text
        f"FROM ({inner}) q"
    )
