"""GET: resolve the path, run the page query, expand, and shape the response (entity,
collection with ``@iot.count``/``@iot.nextLink``, property, ``$value``, ``$ref``,
dataArray)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import orjson

from ingest.db import Conn

from .catalogue import Catalogue
from .errors import bad_request
from .model import ENTITIES, Entity
from .options import ExpandItem, Limits, Options, parse_options
from .paths import Resolved, resolve, verify_parent
from .select import Row, count_rows, cursor_of, fetch_children, fetch_page, time_order
from .serialize import (
    DATA_ARRAY_COMPONENTS,
    data_array,
    entity_id,
    entity_json,
    keys_of,
    prop_value,
    self_link,
)

__all__ = ["ReadContext", "read"]


@dataclass(frozen=True, slots=True)
class ReadContext:
    """What a read needs besides the request."""

    conn: Conn
    catalogue: Catalogue
    base: str  # absolute URL of the service root, e.g. https://city.example/v1.1
    limits: Limits
    count_cap: int


async def read(rc: ReadContext, path: str, query: list[tuple[str, str]]) -> object:
    """The JSON body (or a raw ``$value``, as str) for GET ``path``."""
    res = await resolve(rc.conn, rc.catalogue, path)
    opts = parse_options(query, res.entity, rc.limits)
    if res.prop is not None:
        return await _property(rc, res)
    if res.keys is not None:
        if res.ref:
            ident = entity_id(res.entity, res.keys)
            return {"@iot.selfLink": self_link(rc.base, res.entity, ident)}
        page = await fetch_page(rc.conn, rc.catalogue, res.entity, opts, keys=res.keys)
        if not page.rows:
            raise bad_request("the entity vanished while it was read")
        return (await _entities(rc, res.entity, page.rows, opts))[0]
    return await _collection(rc, res, opts, query)


async def _property(rc: ReadContext, res: Resolved) -> object:
    assert res.keys is not None and res.prop is not None
    opts = Options(select=[res.prop])
    page = await fetch_page(rc.conn, rc.catalogue, res.entity, opts, keys=res.keys)
    value = prop_value(res.entity, res.prop, page.rows[0])
    if res.value:
        return value if isinstance(value, str) else _raw(value)
    return {res.prop: value}


def _raw(value: object) -> str:
    return orjson.dumps(value).decode()


async def _collection(
    rc: ReadContext, res: Resolved, opts: Options, query: list[tuple[str, str]]
) -> dict[str, object]:
    entity = res.entity
    if opts.result_format == "dataArray" and opts.select is not None:
        for name in opts.select:
            if name not in DATA_ARRAY_COMPONENTS and name != "parameters":
                raise bad_request(f"dataArray components are properties; {name!r} is not one")
    page = await fetch_page(rc.conn, rc.catalogue, entity, opts, parent=res.parent)
    if not page.rows and res.parent is not None:
        await verify_parent(rc.conn, rc.catalogue, res.parent)  # empty, or no such parent?
    out: dict[str, object] = {}
    if opts.count:
        n = await count_rows(rc.conn, rc.catalogue, entity, opts, res.parent, rc.count_cap)
        if n is not None:
            out["@iot.count"] = n
    if page.more and page.rows:
        out["@iot.nextLink"] = _next_link(rc, res, opts, query, page.rows[-1])
    if res.ref:
        out["value"] = [
            {"@iot.selfLink": self_link(rc.base, entity, entity_id(entity, keys_of(entity, r)))}
            for r in page.rows
        ]
    elif opts.result_format == "dataArray":
        components = opts.select or list(DATA_ARRAY_COMPONENTS)
        out["value"] = data_array(entity, page.rows, rc.base, components)
    else:
        out["value"] = await _entities(rc, entity, page.rows, opts)
    return out


def _next_link(
    rc: ReadContext, res: Resolved, opts: Options, query: list[tuple[str, str]], last: Row
) -> str:
    kept = [(k, v) for k, v in query if k not in ("$skip", "$skiptoken", "$top")]
    kept.append(("$top", str(opts.top)))
    if time_order(res.entity, opts) is not None:
        kept.append(("$skiptoken", cursor_of(last)))
    else:
        kept.append(("$skip", str(opts.skip + opts.top)))
    return _url(f"{rc.base}/{'/'.join(res.trail)}{'/$ref' if res.ref else ''}", kept)


def _url(base: str, query: list[tuple[str, str]]) -> str:
    text = "&".join(f"{quote(k, safe='$')}={quote(v, safe='')}" for k, v in query)
    return f"{base}?{text}" if text else base


async def _entities(
    rc: ReadContext, entity: Entity, rows: list[Row], opts: Options
) -> list[dict[str, object]]:
    expanded: list[dict[str, object]] = [{} for _ in rows]
    for item in opts.expand:
        await _expand(rc, entity, rows, item, expanded)
    return [
        entity_json(entity, row, rc.base, opts.select, exp)
        for row, exp in zip(rows, expanded, strict=True)
    ]


async def _expand(
    rc: ReadContext,
    entity: Entity,
    rows: list[Row],
    item: ExpandItem,
    expanded: list[dict[str, object]],
) -> None:
    if not rows:
        return
    nav = entity.navs[item.nav]
    target = ENTITIES[nav.target]
    parents = [keys_of(entity, r) for r in rows]
    children, counts = await fetch_children(
        rc.conn, rc.catalogue, nav, target, parents, item.options, rc.count_cap
    )
    opts = item.options
    take = opts.top if nav.many else 1
    all_children = [c for i in range(len(rows)) for c in children.get(i, [])[:take]]
    child_json = iter(await _entities(rc, target, all_children, opts))
    for i, parent in enumerate(parents):
        mine = children.get(i, [])
        if not nav.many:
            if mine and take:
                expanded[i][nav.name] = next(child_json)
            continue
        values = [next(child_json) for _ in mine[: opts.top]]
        if opts.count and counts.get(i) is not None:
            expanded[i][f"{nav.name}@iot.count"] = counts[i]
        if len(mine) > opts.top:
            link = self_link(rc.base, entity, entity_id(entity, parent))
            query = [(k, v) for k, v in opts.raw.items() if k not in ("$skip", "$top")]
            query += [("$top", str(opts.top)), ("$skip", str(opts.skip + opts.top))]
            expanded[i][f"{nav.name}@iot.nextLink"] = _url(f"{link}/{nav.name}", query)
        expanded[i][nav.name] = values
