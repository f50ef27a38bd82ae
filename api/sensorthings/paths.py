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
from .ids import key_values
from .model import ENTITIES, SETS, Entity, Nav, Side, column_type
from .sqlparams import Params

__all__ = ["Parent", "Resolved", "fetch_keys", "parse_segments", "resolve"]

_SEGMENT = re.compile(r"^([A-Za-z]+)(?:\((.*)\))?$")


@dataclass(frozen=True, slots=True)
class Parent:
    """The entity a collection hangs off: its keys and the navigation property used."""

    nav: Nav
    keys: dict[str, object]


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
    row = await conn.fetchrow(sql, *params.values)
    return None if row is None else dict(row.items())


def with_catalogue(body: str, catalogue: Catalogue, params: Params) -> str:
    """Prefix the catalogue CTEs when the statement reads them."""
    if "sta_" not in body:
        return body
    return f"WITH {catalogue.cte(params)} {body}"


async def resolve(conn: Conn, catalogue: Catalogue, path: str) -> Resolved:
    """Resolve a resource path (404 for entities that do not exist)."""
    segments = parse_segments(path)
    name, ident = segments[0]
    entity = SETS.get(name)
    if entity is None:
        raise not_found(f"no entity set {name!r} (sets: {', '.join(SETS)})")
    trail = [name + (f"({_id_text(ident)})" if ident is not None else "")]
    res = Resolved(entity, trail=trail)
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
