"""The ``$filter`` functions: string, date, math and spatial, each as SQL over typed
arguments. Argument SQL comes from the compiler (constants, whitelisted columns, bound
parameters); nothing here sees user text."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .errors import bad_request

__all__ = ["FUNCTIONS", "Expr", "Function", "check_wkt"]


@dataclass(frozen=True, slots=True)
class Expr:
    """Typed SQL. ``alts`` holds per-type SQL for values whose type depends on use
    (an Observation's result, a JSON property)."""

    sql: str
    kind: str
    geography: bool = False
    alts: tuple[tuple[str, str], ...] = ()

    def as_kind(self, kind: str) -> Expr | None:
        """This value as ``kind``, or None when it cannot be."""
        if self.kind == kind:
            return self
        for k, sql in self.alts:
            if k == kind:
                return Expr(sql, kind)
        return None


@dataclass(frozen=True, slots=True)
class Function:
    """A function: argument kinds, result kind and the SQL it builds."""

    args: tuple[str, ...]
    result: str
    build: Callable[[list[Expr]], str]
    optional: int = 0  # trailing arguments that may be left out


def _extract(part: str) -> Callable[[list[Expr]], str]:
    return lambda a: f"extract({part} FROM ({a[0].sql}) AT TIME ZONE 'UTC')::float8"


def _substring(a: list[Expr]) -> str:
    start = f"(({a[1].sql})::int4 + 1)"
    if len(a) == 3:
        return f"substr({a[0].sql}, {start}, ({a[2].sql})::int4)"
    return f"substr({a[0].sql}, {start})"


def _distance(a: list[Expr]) -> str:
    if any(x.geography for x in a):
        return f"ST_Distance(({a[0].sql})::geography, ({a[1].sql})::geography)"
    return f"ST_Distance({a[0].sql}, {a[1].sql})"


def _length(a: list[Expr]) -> str:
    if a[0].geography:
        return f"ST_Length(({a[0].sql})::geography)"
    return f"ST_Length({a[0].sql})"


def _spatial(fn: str) -> Function:
    return Function(("geo", "geo"), "bool", lambda a: f"{fn}({a[0].sql}, {a[1].sql})")


FUNCTIONS: dict[str, Function] = {
    # strings
    "substringof": Function(
        ("text", "text"), "bool", lambda a: f"(strpos({a[1].sql}, {a[0].sql}) > 0)"
    ),
    "contains": Function(
        ("text", "text"), "bool", lambda a: f"(strpos({a[0].sql}, {a[1].sql}) > 0)"
    ),
    "startswith": Function(
        ("text", "text"), "bool", lambda a: f"starts_with({a[0].sql}, {a[1].sql})"
    ),
    "endswith": Function(
        ("text", "text"), "bool", lambda a: f"(right({a[0].sql}, length({a[1].sql})) = {a[1].sql})"
    ),
    "length": Function(("text",), "number", lambda a: f"char_length({a[0].sql})::float8"),
    "indexof": Function(
        ("text", "text"), "number", lambda a: f"(strpos({a[0].sql}, {a[1].sql}) - 1)::float8"
    ),
    "substring": Function(("text", "number", "number"), "text", _substring, optional=1),
    "tolower": Function(("text",), "text", lambda a: f"lower({a[0].sql})"),
    "toupper": Function(("text",), "text", lambda a: f"upper({a[0].sql})"),
    "trim": Function(("text",), "text", lambda a: f"btrim({a[0].sql})"),
    "concat": Function(("text", "text"), "text", lambda a: f"({a[0].sql} || {a[1].sql})"),
    # dates and times (UTC)
    "year": Function(("time",), "number", _extract("year")),
    "month": Function(("time",), "number", _extract("month")),
    "day": Function(("time",), "number", _extract("day")),
    "hour": Function(("time",), "number", _extract("hour")),
    "minute": Function(("time",), "number", _extract("minute")),
    "second": Function(("time",), "number", lambda a: f"floor({_extract('second')(a)})"),
    "fractionalseconds": Function(
        ("time",),
        "number",
        lambda a: f"({_extract('second')(a)} - floor({_extract('second')(a)}))",
    ),
    "date": Function(("time",), "date", lambda a: f"(({a[0].sql}) AT TIME ZONE 'UTC')::date"),
    "time": Function(("time",), "tod", lambda a: f"(({a[0].sql}) AT TIME ZONE 'UTC')::time"),
    "totaloffsetminutes": Function(("time",), "number", lambda a: "0::float8"),
    "now": Function((), "time", lambda a: "now()"),
    "mindatetime": Function((), "time", lambda a: "'-infinity'::timestamptz"),
    "maxdatetime": Function((), "time", lambda a: "'infinity'::timestamptz"),
    # math
    "round": Function(("number",), "number", lambda a: f"round({a[0].sql})"),
    "floor": Function(("number",), "number", lambda a: f"floor({a[0].sql})"),
    "ceiling": Function(("number",), "number", lambda a: f"ceil({a[0].sql})"),
    # spatial (PostGIS; geography literals measure in metres)
    "geo.distance": Function(("geo", "geo"), "number", _distance),
    "geo.length": Function(("geo",), "number", _length),
    "geo.intersects": _spatial("ST_Intersects"),
    "st_equals": _spatial("ST_Equals"),
    "st_disjoint": _spatial("ST_Disjoint"),
    "st_touches": _spatial("ST_Touches"),
    "st_within": _spatial("ST_Within"),
    "st_overlaps": _spatial("ST_Overlaps"),
    "st_crosses": _spatial("ST_Crosses"),
    "st_intersects": _spatial("ST_Intersects"),
    "st_contains": _spatial("ST_Contains"),
    "st_relate": Function(
        ("geo", "geo", "text"), "bool", lambda a: f"ST_Relate({a[0].sql}, {a[1].sql}, {a[2].sql})"
    ),
}

_NUM = r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"
_COORD = rf"{_NUM}\s+{_NUM}"
_POINTS = rf"\(\s*{_COORD}(?:\s*,\s*{_COORD})*\s*\)"
_RINGS = rf"\(\s*{_POINTS}(?:\s*,\s*{_POINTS})*\s*\)"
_POLYS = rf"\(\s*{_RINGS}(?:\s*,\s*{_RINGS})*\s*\)"
_MPOINT = rf"\(\s*(?:{_COORD}|\(\s*{_COORD}\s*\))(?:\s*,\s*(?:{_COORD}|\(\s*{_COORD}\s*\)))*\s*\)"
_WKT = {
    "POINT": re.compile(rf"^\(\s*{_COORD}\s*\)$"),
    "LINESTRING": re.compile(rf"^{_POINTS}$"),
    "POLYGON": re.compile(rf"^{_RINGS}$"),
    "MULTIPOINT": re.compile(rf"^{_MPOINT}$"),
    "MULTILINESTRING": re.compile(rf"^{_RINGS}$"),
    "MULTIPOLYGON": re.compile(rf"^{_POLYS}$"),
}
_WKT_HEAD = re.compile(r"^\s*([A-Za-z]+)\s*(\(.*\))\s*$", re.DOTALL)
MAX_WKT = 20_000


def check_wkt(text: str) -> str:
    """The WKT of a 2D point, line, polygon or their multi forms; 400 for anything else
    (so that PostGIS never sees malformed input)."""
    m = _WKT_HEAD.match(text) if len(text) <= MAX_WKT else None
    kind = m[1].upper() if m else ""
    if m is None or kind not in _WKT or not _WKT[kind].match(m[2]):
        raise bad_request(
            f"geometry {text[:80]!r} is not valid 2D WKT "
            "(POINT, LINESTRING, POLYGON, MULTIPOINT, MULTILINESTRING, MULTIPOLYGON)"
        )
    if kind in ("POLYGON", "MULTIPOLYGON"):
        for ring in re.findall(rf"\(\s*({_COORD}(?:\s*,\s*{_COORD})*)\s*\)", m[2]):
            points = [tuple(map(float, p.split())) for p in ring.split(",")]
            if len(points) < 4 or points[0] != points[-1]:
                raise bad_request("polygon rings need at least 4 points and must be closed")
    return f"{kind}{m[2]}"
