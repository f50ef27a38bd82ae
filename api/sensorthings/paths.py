"""Resource paths: ``Things(1)/Datastreams``, ``Observations('300007-1714557600000000')/
Datastream/Thing/name/$value``, ``Datastreams(300007)/Observations/$ref``.

A path is resolved one segment at a time. Each entity addressed on the way is looked up
(404 when it does not exist) and its key columns become bound values for the next step,
so ``Datastreams(300007)/Observations`` queries ``readings`` by device and metric.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.db import Conn

from .catalogue import Catalogue
from .errors import bad_request, not_found
from .filter_sql import join_sql
from .ids import datastream_id, key_values
from .model import ENTITIES, SETS, Entity, Nav, Side, column_type
from .sqlparams import READ_TIMEOUT_S, Params

__all__ = [
    "Parent",
    "Resolved",
    "fetch_keys",
    "parent_exists",
    "parse_segments",
    "resolve",
    "verify_parent",
]

_SEGMENT = re.compile(r"^([A-Za-z]+)(?:\((.*)\))?$")


@dataclass(frozen=True, slots=True)
class Parent:
    """The entity a collection hangs off: its keys and the navigation property used.
    ``unverified``: the parent entity, not looked up yet (its keys come from its id);
    the collection's query checks that it exists (see :func:`parent_exists`)."""

    nav: Nav
    keys: dict[str, object]
    unverified: Entity | None = None


@dataclass(slots=True)
class Resolved:
    """What a path addresses."""

    entity: Entity
    keys: dict[str, object] | None = None  # one entity (by id or to-one navigation)
    parent: Parent | None = None  # a collection under an entity
    prop: str | None = None  # a property of ``keys``'s entity
    value: bool = False  # ``/$value``
    ref: bool = False  # ``/$ref``
    trail: list[str] = field(default_factory=list)  # the path segments, for links


def parse_segments(path: str) -> list[tuple[str, object | None]]:
    """(name, id or None) per segment."""
    out: list[tuple[str, object | None]] = []
    for seg in path.strip("/").split("/"):
        if seg in ("$ref", "$value"):
            out.append((seg, None))
            continue
        m = _SEGMENT.match(seg)
        if m is None:
            raise bad_request(f"{seg!r} is not a valid path segment")
        out.append((m[1], None if m[2] is None else _id_literal(m[2])))
    return out


def _id_literal(text: str) -> object:
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if text.isdigit() and len(text) < 19:
        return int(text)
    raise bad_request(f"{text!r} is not an id (a number, or a string in single quotes)")


def _id_text(value: object) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)


async def fetch_keys(
    conn: Conn,
    catalogue: Catalogue,
    entity: Entity,
    keys: dict[str, object] | None,
    parent: Parent | None,
) -> dict[str, object] | None:
    """The key columns of the one row matching ``keys`` (and related to ``parent``)."""
    params = Params()
    where = []
    if keys is not None:
        where += [f"a.{c} = {params.add(v, column_type(c))}" for c, v in keys.items()]
    if parent is not None:
        where.append(join_sql(parent.nav, Side("p", parent.keys, params.add), Side("a")))
    cols = ", ".join(f"a.{c}" for c, _ in entity.keys)
    cond = " AND ".join(where) or "true"
    # Whitelisted names and constant fragments only; values are bound.
    body = f"SELECT {cols} FROM {entity.source.format(a='a')} WHERE {cond} LIMIT 1"  # noqa: S608
    sql = with_catalogue(body, catalogue, params)
    row = await conn.fetchrow(sql, *params.values, timeout=READ_TIMEOUT_S)
    return None if row is None else dict(row.items())


def with_catalogue(body: str, catalogue: Catalogue, params: Params) -> str:
    """Prefix the catalogue CTEs when the statement reads them."""
    if "sta_" not in body:
        return body
    return f"WITH {catalogue.cte(params, body)} {body}"


async def resolve(conn: Conn, catalogue: Catalogue, path: str) -> Resolved:
    """Resolve a resource path (404 for entities that do not exist)."""
    segments = parse_segments(path)
    name, ident = segments[0]
    entity = SETS.get(name)
    if entity is None:
        raise not_found(f"no entity set {name!r} (sets: {', '.join(SETS)})")
    trail = [name + (f"({_id_text(ident)})" if ident is not None else "")]
    res = Resolved(entity, trail=trail)
    deferred = _deferrable(entity, ident, segments)
    if deferred is not None:
        # ``Datastreams(1)/Observations``: the collection's own query checks that the
        # Datastream exists, a round trip less (the page is most of the request).
        to_many, keys = deferred
        res.trail.append(segments[1][0])
        res.ref = len(segments) == 3
        res.entity, res.parent = ENTITIES[to_many.target], Parent(to_many, keys, entity)
        return res
    if ident is not None:
        res.keys = await _lookup(conn, catalogue, entity, ident, None)
    for i, (name, ident) in enumerate(segments[1:], start=1):
        last = i == len(segments) - 1
        if name == "$ref":
            if not last or res.prop is not None:
                raise bad_request("$ref must end a path to an entity or a collection")
            res.ref = True
            continue
        if name == "$value":
            if not last or res.prop is None:
                raise bad_request("$value must follow a property")
            res.value = True
            continue
        if res.keys is None or res.prop is not None:
            raise bad_request(f"{'/'.join(res.trail)} cannot be followed by {name!r}")
        current = res.entity
        nav = current.navs.get(name)
        if nav is None:
            if name in current.props and ident is None:
                res.prop = name
                res.trail.append(name)
                continue
            raise not_found(f"{current.name} has no property or navigation {name!r}")
        target = ENTITIES[nav.target]
        parent = Parent(nav, res.keys)
        res.trail.append(name + (f"({_id_text(ident)})" if ident is not None else ""))
        if ident is not None and not nav.many:
            raise bad_request(f"{name} is a single entity; it takes no id")
        if ident is None and nav.many:
            res.entity, res.keys, res.parent = target, None, parent
            continue
        res.entity, res.parent = target, None
        res.keys = await _lookup(conn, catalogue, target, ident, parent)
    return res


def _deferrable(
    entity: Entity, ident: object | None, segments: list[tuple[str, object | None]]
) -> tuple[Nav, dict[str, object]] | None:
    """For ``Set(id)/Collection`` (or ``.../$ref``) whose join needs only the columns the
    id gives: the navigation and those keys; else None (the entity is looked up)."""
    if ident is None or len(segments) not in (2, 3):
        return None
    name, child_ident = segments[1]
    if len(segments) == 3 and segments[2][0] != "$ref":
        return None
    nav = entity.navs.get(name)
    keys = key_values(entity.name, ident)
    if nav is None or not nav.many or child_ident is not None or keys is None:
        return None
    needed = _ParentColumns()
    join_sql(nav, needed, Side("c"))
    return (nav, keys) if needed.names <= keys.keys() else None


class _ParentColumns(Side):
    """A join's parent side that records which columns the join reads."""

    def __init__(self) -> None:
        super().__init__("p")
        self.names: set[str] = set()

    def col(self, name: str, sql_type: str = "") -> str:
        self.names.add(name)
        return super().col(name, sql_type)

    def known(self, name: str) -> object:
        self.names.add(name)
        return super().known(name)


def parent_exists(parent: Parent, params: Params) -> str | None:
    """For a parent not looked up yet: the condition that its row exists."""
    entity = parent.unverified
    if entity is None:
        return None
    cond = " AND ".join(f"v.{c} = {params.add(v, column_type(c))}" for c, v in parent.keys.items())
    return f"EXISTS (SELECT 1 FROM {entity.source.format(a='v')} WHERE {cond})"  # noqa: S608 - whitelisted names, bound values


async def verify_parent(conn: Conn, catalogue: Catalogue, parent: Parent) -> None:
    """404 unless the unverified parent exists (asked when its collection came back
    empty, to tell an empty collection from a missing entity)."""
    entity = parent.unverified
    if entity is not None and await fetch_keys(conn, catalogue, entity, parent.keys, None) is None:
        ident = _id_text(_entity_id_of(entity, parent.keys))
        raise not_found(f"no {entity.name} with id {ident}")


def _entity_id_of(entity: Entity, keys: dict[str, object]) -> object:
    """The ``@iot.id`` of the entity with ``keys`` (as its id gave them)."""
    if entity.name == "Datastream":
        device_key, metric_id = keys["device_key"], keys["metric_id"]
        assert isinstance(device_key, int) and isinstance(metric_id, int)
        return datastream_id(device_key, metric_id)
    return next(iter(keys.values()))


async def _lookup(
    conn: Conn, catalogue: Catalogue, entity: Entity, ident: object, parent: Parent | None
) -> dict[str, object]:
    keys = None if ident is None else key_values(entity.name, ident)
    if ident is not None and keys is None:
        raise not_found(f"no {entity.name} with id {_id_text(ident)}")
    found = await fetch_keys(conn, catalogue, entity, keys, parent)
    if found is None:
        what = f"with id {_id_text(ident)}" if ident is not None else "here"
        raise not_found(f"no {entity.name} {what}")
    return found
